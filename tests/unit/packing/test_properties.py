"""Packing invariants over random span forests: every span exactly once, under its parent,
in documents that fit, nest boundedly and carry at most 50 annotations."""

from __future__ import annotations

from typing import Any, Dict, List, Optional

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from otel_xray.packing import MAX_NESTING_DEPTH, MIN_DOCUMENT_BYTES, pack
from otel_xray.translate.limits import MAX_ANNOTATIONS
from otel_xray.translate.segment import Translated
from tests.support.helpers import walk
from tests.support.packing import (
    assert_single_encoding_matches_splicing,
    assert_valid_packed,
    depth,
    placement,
)

TRACE_ID = "1-5759e988-bd862e3fe1be46a994272793"
OUTSIDE_PARENT = "00000000000000ff"  # a parent span that is not in the batch


@st.composite
def forests(draw: Any) -> List[Translated]:
    """Spans whose parent is an earlier span, a span outside the batch, or none."""
    count = draw(st.integers(1, 80))
    chain = draw(st.booleans())  # deep chains stress the nesting limit
    items: List[Translated] = []
    for index in range(count):
        span_id = f"{index + 1:016x}"
        if chain:
            parent: Optional[str] = items[-1].span_id if items else None
        else:
            choice = draw(st.integers(-2, index - 1))
            parent = None if choice == -2 else OUTSIDE_PARENT if choice == -1 else (
                items[choice].span_id
            )
        is_root = parent is None or draw(st.integers(0, 9)) == 0  # SERVER under a local span
        body: Dict[str, Any] = {
            "name": f"span-{index}",
            "id": span_id,
            "start_time": draw(st.floats(1e9, 1e9 + 100)),
            "end_time": 1e9 + 200,
        }
        payload = draw(st.sampled_from([0, 10, 500, 3000, 20_000]))
        if payload:
            body["metadata"] = {"default": {"payload": "x" * payload}}
        annotations = draw(st.integers(0, 6))
        if annotations:
            body["annotations"] = {f"a{k}": k for k in range(annotations)}
        items.append(Translated(body, TRACE_ID, span_id, parent, is_root, is_root))
    return items


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(forests())
def test_every_span_packs_exactly_once_under_its_parent_in_documents_that_fit(
    items: List[Translated],
) -> None:
    limit = MIN_DOCUMENT_BYTES
    packed = pack(items, max_document_bytes=limit)

    documents = [assert_valid_packed(item.document, limit) for item in packed]
    assert sum(item.spans for item in packed) == len(items)
    assert placement(documents) == {item.span_id: item.parent_id for item in items}
    for document in documents:
        assert depth(document) <= MAX_NESTING_DEPTH
        annotations = sum(len(piece.get("annotations", {})) for piece in walk(document))
        assert annotations <= MAX_ANNOTATIONS
    roots = {item.span_id for item in items if item.is_root}
    for document in documents:
        assert ("type" in document) == (document["id"] not in roots)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(forests(), st.sampled_from([MIN_DOCUMENT_BYTES, 20_000, 64_000]), st.randoms())
def test_whole_tree_encoding_produces_the_same_documents_and_counts_as_splicing(
    items: List[Translated], limit: int, rng: Any
) -> None:
    rng.shuffle(items)
    assert_single_encoding_matches_splicing(items, limit)
