"""No datagram breaks ``otel-xray listen``: any bytes, any JSON, any document shape.

Whatever arrives, the checks, the assembler and the waterfall return; they never raise
(issue 9.7: ``"origin": [1]`` raised ``TypeError``, deep nesting ``RecursionError``).
"""

from __future__ import annotations

from typing import Any, Dict

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from otel_xray.cli.assemble import TraceAssembler
from otel_xray.cli.listen import check_datagram
from otel_xray.cli.validate import check_document
from otel_xray.cli.waterfall import Style, render
from otel_xray.emit.protocol import HEADER
from tests.support.documents import segment

_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**64 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30)
    | st.sampled_from(["subsegment", "aws", "remote", "local", "AWS::EC2::Instance",
                       "0f910026178b71eb", "1-5759e988-bd862e3fe1be46a994272793"])
)
JSON = st.recursive(
    _SCALARS,
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=20,
)
_FIELDS = [
    "name", "id", "trace_id", "parent_id", "type", "start_time", "end_time", "in_progress",
    "error", "throttle", "fault", "cause", "http", "aws", "sql", "annotations", "metadata",
    "links", "precursor_ids", "namespace", "origin", "service", "user", "resource_arn",
]
#: Documents near the real shape, each field replaced by any JSON, subsegments included.
DOCUMENTS = st.recursive(
    st.dictionaries(st.sampled_from(_FIELDS), JSON, max_size=8).map(
        lambda fields: {**segment(), **fields}
    ),
    lambda children: st.builds(
        lambda doc, subs: {**doc, "subsegments": subs},
        st.dictionaries(st.sampled_from(_FIELDS), JSON, max_size=4).map(
            lambda fields: {**segment(), **fields}
        ),
        st.lists(children | JSON, max_size=3),
    ),
    max_leaves=6,
)


def show_everything(*documents: Dict[str, Any]) -> None:
    """Assemble, warn about and draw the documents, as the listener does."""
    assembler = TraceAssembler()
    for document in documents:
        assembler.add(document, 100, 0.0, check_document(orjson.dumps(document)).notes)
    for trace in assembler.pop_all():
        trace.warnings()
        render(trace, Style(color=True))
        render(trace, Style(blocks=False))


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_any_bytes_are_checked_without_raising(data: bytes) -> None:
    check_datagram(data)
    check_datagram(HEADER + data)


@settings(max_examples=150, deadline=None)
@given(JSON)
def test_any_json_value_is_checked_without_raising(value: Any) -> None:
    report = check_datagram(HEADER + orjson.dumps(value))
    if report.document is not None:
        show_everything(report.document)


@settings(max_examples=150, deadline=None)
@given(st.lists(DOCUMENTS, min_size=1, max_size=3))
def test_any_document_shape_is_checked_assembled_and_drawn_without_raising(
    documents: Any,
) -> None:
    for document in documents:
        check_document(orjson.dumps(document))
    show_everything(*documents)
