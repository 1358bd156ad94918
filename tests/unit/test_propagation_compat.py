"""Agreement with the contrib ``opentelemetry-propagator-aws-xray`` and ``aws-xray-sdk``.

The header corpus of the contrib package's own tests is reused as tables. Every header the
contrib propagator accepts with well-formed values gives the same span context here; the
cases where the two deliberately differ are listed (and documented in docs/propagation.md).
"""

from __future__ import annotations

from typing import Dict

import pytest
from aws_xray_sdk.core.models.trace_header import TraceHeader as SdkTraceHeader
from hypothesis import given, settings
from hypothesis import strategies as st
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.propagators.aws import AwsXRayLambdaPropagator, AwsXRayPropagator
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags

from otel_xray.ids import to_xray_trace_id
from otel_xray.propagation import (
    LAMBDA_TRACE_ENV,
    TRACE_HEADER,
    TraceHeader,
    XRayLambdaPropagator,
    XRayPropagator,
    parse_trace_header,
)

OURS = XRayPropagator()
CONTRIB = AwsXRayPropagator()

ROOT = "1-8a3c60f7-d188f8fa79d48a391a778fa6"
PARENT = "53995c3f42cd8ad8"
TRACE_ID = 0x8A3C60F7D188F8FA79D48A391A778FA6
PARENT_ID = 0x53995C3F42CD8AD8


def span_context_of(propagator: AwsXRayPropagator | XRayPropagator, header: str) -> SpanContext:
    ctx = propagator.extract({TRACE_HEADER: header}, Context())
    return trace.get_current_span(ctx).get_span_context()


def injected(propagator: AwsXRayPropagator | XRayPropagator, span_context: SpanContext) -> str:
    carrier: Dict[str, str] = {}
    propagator.inject(carrier, trace.set_span_in_context(NonRecordingSpan(span_context)))
    return carrier[TRACE_HEADER]


# The headers the contrib package's tests accept (test_aws_xray_propagator.py and
# test_aws_xray_lambda_propagator.py).
CONTRIB_ACCEPTED = {
    "not-sampled": f"Root={ROOT};Parent={PARENT};Sampled=0",
    "sampled": f"Root={ROOT};Parent={PARENT};Sampled=1",
    "different-order": f"Sampled=0;Parent={PARENT};Root={ROOT}",
    "additional-fields": f"Root={ROOT};Parent={PARENT};Sampled=0;Foo=Bar",
    "extra-whitespace": f"  Root  =  {ROOT}  ;  Parent  =  {PARENT}  ;  Sampled  =  0   ",
    "lambda-env": f"Root=1-00000001-d188f8fa79d48a391a778fa6;Parent={PARENT};Sampled=1;Foo=Bar",
    "lambda-link-env": "Root=1-00000002-240000000000000000000002;Parent=1600000000000002;"
    "Sampled=1;Foo=Bar",
    "lambda-link-carrier": "Root=1-00000001-240000000000000000000001;Parent=1600000000000001;"
    "Sampled=1",
    # Beyond their tests, also accepted by both:
    "no-sampled": f"Root={ROOT};Parent={PARENT}",
    "uppercase-hex": f"Root={ROOT.upper()};Parent={PARENT.upper()};Sampled=1",
    "lineage": f"Root={ROOT};Parent={PARENT};Sampled=1;Lineage=a87bd80c:1|68fd508a:5",
    "self": f"Self=1-67891233-abcdef012345678912345678;Root={ROOT};Parent={PARENT};Sampled=1",
    "repeated-key-last-wins": f"Root={ROOT};Parent=1111111111111111;Parent={PARENT};Sampled=1",
    "tabs-and-newlines": f"Root={ROOT}\t;\nParent={PARENT};Sampled=1\n",
    "unicode-space": f"Root={ROOT}\u00a0;Parent={PARENT};Sampled=1",
}

# The headers the contrib package's tests reject (two of them are concatenated in their
# table by a missing comma; kept as they are).
CONTRIB_REJECTED = {
    "invalid-trace-id": f"Root=1-12345678-abcdefghijklmnopqrstuvwx;Parent={PARENT};Sampled=0",
    "invalid-size-trace-id": f"Root={ROOT}00;Parent={PARENT};Sampled=0",
    "invalid-span-id": f"Root={ROOT};Parent=abcdefghijklmnop;Sampled=0",
    "invalid-size-span-id+no-sampled-flag": f"Root={ROOT};Parent={PARENT}00;Sampled=0"
    f"Root={ROOT};Parent={PARENT};Sampled=",
    "invalid-size-sampled": f"Root={ROOT};Parent={PARENT};Sampled=011",
    "non-numeric-sampled": f"Root={ROOT};Parent={PARENT};Sampled=a",
    "empty": "",
}


@pytest.mark.parametrize("header", CONTRIB_ACCEPTED.values(), ids=CONTRIB_ACCEPTED.keys())
def test_same_span_context_as_contrib_on_headers_it_accepts(header: str) -> None:
    theirs = span_context_of(CONTRIB, header)
    assert theirs.is_valid
    assert span_context_of(OURS, header) == theirs


@pytest.mark.parametrize("header", CONTRIB_REJECTED.values(), ids=CONTRIB_REJECTED.keys())
def test_both_reject_the_headers_contrib_rejects(header: str) -> None:
    incoming = Context({"k1": "v1"})
    assert CONTRIB.extract({TRACE_HEADER: header}, incoming) == incoming
    assert OURS.extract({TRACE_HEADER: header}, incoming) == incoming


@pytest.mark.parametrize("sampled", [False, True])
def test_inject_writes_what_contrib_writes(sampled: bool) -> None:
    span_context = SpanContext(
        TRACE_ID, PARENT_ID, is_remote=True, trace_flags=TraceFlags(int(sampled))
    )
    assert injected(OURS, span_context) == injected(CONTRIB, span_context)
    assert OURS.fields == CONTRIB.fields


@st.composite
def xray_headers(draw: st.DrawFn) -> str:
    """Headers of well-formed values in any order, spacing and with extra pairs."""
    trace_id = draw(st.integers(min_value=1, max_value=(1 << 128) - 1))
    span_id = draw(st.integers(min_value=1, max_value=(1 << 64) - 1))
    hex32 = f"{trace_id:032x}"
    upper = draw(st.booleans())
    root = f"1-{hex32[:8]}-{hex32[8:]}"
    parent = f"{span_id:016x}"
    if upper:
        root, parent = root.upper(), parent.upper()
    pairs = [("Root", root), ("Parent", parent)]
    sampled = draw(st.sampled_from([None, "0", "1"]))
    if sampled is not None:
        pairs.append(("Sampled", sampled))
    extras = draw(st.lists(st.sampled_from(
        [("Foo", "Bar"), ("Lineage", "a87bd80c:1"), ("Self", "1-67891233-abcdef0123456789abcdef01")]
    ), max_size=3))
    pairs = draw(st.permutations(pairs + extras))
    space = st.sampled_from(["", " ", "  ", "\t"])
    return ";".join(
        f"{draw(space)}{key}{draw(space)}={draw(space)}{value}{draw(space)}" for key, value in pairs
    )


@settings(max_examples=300, deadline=None)
@given(xray_headers())
def test_generated_headers_agree_with_contrib(header: str) -> None:
    theirs = span_context_of(CONTRIB, header)
    assert theirs.is_valid
    assert span_context_of(OURS, header) == theirs


@settings(max_examples=200, deadline=None)
@given(
    st.integers(min_value=1, max_value=(1 << 128) - 1),
    st.integers(min_value=1, max_value=(1 << 64) - 1),
    st.booleans(),
)
def test_round_trip_with_contrib_both_ways(trace_id: int, span_id: int, sampled: bool) -> None:
    span_context = SpanContext(trace_id, span_id, is_remote=True, trace_flags=TraceFlags(sampled))
    assert span_context_of(CONTRIB, injected(OURS, span_context)) == span_context
    assert span_context_of(OURS, injected(CONTRIB, span_context)) == span_context


# --- deliberate differences ---------------------------------------------------------------

#: Headers we accept that the contrib propagator rejects (or reads as "no context").
WE_ACCEPT_CONTRIB_REJECTS = {
    "sampled-question-mark": f"Root={ROOT};Parent={PARENT};Sampled=?",
    "lowercase-keys": f"root={ROOT};parent={PARENT};sampled=1",
    "trailing-semicolon": f"Root={ROOT};Parent={PARENT};Sampled=1;",
    "empty-part": f"Root={ROOT};;Parent={PARENT};Sampled=1",
    "part-without-equals": f"Root={ROOT};junk;Parent={PARENT};Sampled=1",
    "equals-in-extra-value": f"Root={ROOT};Parent={PARENT};Sampled=1;Foo=a=b",
}


@pytest.mark.parametrize(
    "header", WE_ACCEPT_CONTRIB_REJECTS.values(), ids=WE_ACCEPT_CONTRIB_REJECTS.keys()
)
def test_difference_we_accept_what_contrib_rejects(header: str) -> None:
    assert not span_context_of(CONTRIB, header).is_valid
    ours = span_context_of(OURS, header)
    assert (ours.trace_id, ours.span_id) == (TRACE_ID, PARENT_ID)


def test_difference_root_without_parent_continues_the_trace_here_only() -> None:
    # Neither yields a parent span; only we keep the Root for the next root span.
    header = f"Self=1-67891233-abcdef012345678912345678;Root={ROOT}"
    assert CONTRIB.extract({TRACE_HEADER: header}, Context()) == Context()
    assert parse_trace_header(header) == TraceHeader(TRACE_ID, None, None)


#: Malformed values that contrib's int(value, 16) lets through; we validate strictly.
CONTRIB_ACCEPTS_WE_REJECT = {
    "parent-0x-prefix": f"Root={ROOT};Parent=0x995c3f42cd8ad8;Sampled=1",
    "parent-underscore": f"Root={ROOT};Parent=5399_c3f42cd8ad8;Sampled=1",
    "parent-plus-sign": f"Root={ROOT};Parent=+3995c3f42cd8ad8;Sampled=1",
    "parent-non-ascii-digits": f"Root={ROOT};Parent=\u0665\u0663995c3f42cd8ad8;Sampled=1",
    "root-plus-sign": f"Root=1-+a3c60f7-d188f8fa79d48a391a778fa6;Parent={PARENT};Sampled=1",
    "root-underscore": f"Root=1-8a3c_0f7-d188f8fa79d48a391a778fa6;Parent={PARENT};Sampled=1",
}


@pytest.mark.parametrize(
    "header", CONTRIB_ACCEPTS_WE_REJECT.values(), ids=CONTRIB_ACCEPTS_WE_REJECT.keys()
)
def test_difference_contrib_accepts_malformed_ids_we_reject(header: str) -> None:
    assert span_context_of(CONTRIB, header).is_valid
    assert not span_context_of(OURS, header).is_valid


def test_lambda_environment_wins_over_a_carrier_of_another_trace_as_in_contrib(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Both Lambda propagators let the environment override the carrier's header."""
    monkeypatch.setenv(LAMBDA_TRACE_ENV, "Root=1-00000002-240000000000000000000002;"
                       "Parent=1600000000000002;Sampled=1")
    carrier = {TRACE_HEADER: f"Root={ROOT};Parent={PARENT};Sampled=1"}
    theirs = AwsXRayLambdaPropagator().extract(carrier, Context())
    ours = XRayLambdaPropagator().extract(carrier, Context())
    assert trace.get_current_span(theirs).get_span_context().span_id == 0x1600000000000002
    assert trace.get_current_span(ours).get_span_context().span_id == 0x1600000000000002


@pytest.mark.parametrize(
    "env",
    [
        "Root=1-00000001-d188f8fa79d48a391a778fa6;Parent=53995c3f42cd8ad8;Sampled=1;Foo=Bar",
        "Root=1-00000002-240000000000000000000002;Parent=1600000000000002;Sampled=0",
    ],
)
def test_lambda_agrees_with_contrib_when_the_carrier_is_empty(
    monkeypatch: pytest.MonkeyPatch, env: str
) -> None:
    monkeypatch.setenv(LAMBDA_TRACE_ENV, env)
    theirs = AwsXRayLambdaPropagator().extract({}, Context())
    ours = XRayLambdaPropagator().extract({}, Context())
    assert trace.get_current_span(ours).get_span_context() == (
        trace.get_current_span(theirs).get_span_context()
    )


# --- aws-xray-sdk's TraceHeader -------------------------------------------------------------

SDK_HEADERS = {
    "sampled": f"Root={ROOT};Parent={PARENT};Sampled=1",
    "not-sampled": f"Root={ROOT};Parent={PARENT};Sampled=0",
    "question-mark": f"Root={ROOT};Parent={PARENT};Sampled=?",
    "no-sampled": f"Root={ROOT};Parent={PARENT}",
    "root-only": f"Root={ROOT}",
    "root-only-sampled": f"Root={ROOT};Sampled=1",
    "lineage": f"Root={ROOT};Parent={PARENT};Sampled=1;Lineage=a87bd80c:1|68fd508a:5",
    "self": f"Self=1-67891233-abcdef012345678912345678;Root={ROOT};Parent={PARENT};Sampled=0",
}

_SDK_SAMPLED = {1: True, 0: False, "?": None, None: None}


@pytest.mark.parametrize("header", SDK_HEADERS.values(), ids=SDK_HEADERS.keys())
def test_same_values_as_the_sdk_trace_header(header: str) -> None:
    sdk = SdkTraceHeader.from_header_str(header)
    ours = parse_trace_header(header)
    assert ours is not None
    assert to_xray_trace_id(ours.trace_id) == sdk.root
    assert (f"{ours.parent_id:016x}" if ours.parent_id else None) == sdk.parent
    assert ours.sampled == _SDK_SAMPLED[sdk.sampled]
    assert ours.lineage == (sdk.data or {}).get("Lineage")


@pytest.mark.parametrize(
    "header",
    [h for name, h in SDK_HEADERS.items() if "root-only" not in name],
    ids=[n for n in SDK_HEADERS if "root-only" not in n],
)
def test_round_trip_through_the_sdk_trace_header(header: str) -> None:
    sdk_written = SdkTraceHeader.from_header_str(header).to_header_str()
    carrier: Dict[str, str] = {}
    OURS.inject(carrier, OURS.extract({TRACE_HEADER: sdk_written}))
    if "Sampled" not in sdk_written:
        sdk_written += ";Sampled=?"  # we always write a Sampled; "?" is "no decision"
    assert carrier[TRACE_HEADER] == sdk_written
    again = SdkTraceHeader.from_header_str(carrier[TRACE_HEADER])
    first = SdkTraceHeader.from_header_str(header)
    assert (again.root, again.parent, again.data) == (first.root, first.parent, first.data)


@pytest.mark.parametrize("sampled", [0, 1])
def test_the_sdk_reads_what_we_inject(sampled: int) -> None:
    span_context = SpanContext(TRACE_ID, PARENT_ID, False, trace_flags=TraceFlags(sampled))
    sdk = SdkTraceHeader.from_header_str(injected(OURS, span_context))
    assert (sdk.root, sdk.parent, sdk.sampled) == (ROOT, PARENT, sampled)


@pytest.mark.parametrize(
    "header",
    [
        pytest.param(f"Root={ROOT}; Parent={PARENT}", id="space-after-semicolon"),
        pytest.param(f"root={ROOT};parent={PARENT};sampled=1", id="lowercase-keys"),
        pytest.param(f"Root={ROOT};Parent={PARENT};Sampled=1;", id="trailing-semicolon"),
    ],
)
def test_difference_sdk_trace_header_loses_the_parent_on_loose_layout(header: str) -> None:
    assert SdkTraceHeader.from_header_str(header).parent is None
    ours = parse_trace_header(header)
    assert ours is not None and ours.parent_id == PARENT_ID


def test_difference_sdk_trace_header_forwards_other_pairs_we_do_not() -> None:
    header = f"Root={ROOT};Parent={PARENT};Sampled=1;Foo=Bar"
    assert SdkTraceHeader.from_header_str(header).to_header_str().endswith(";Foo=Bar")
    carrier: Dict[str, str] = {}
    OURS.inject(carrier, OURS.extract({TRACE_HEADER: header}))
    assert carrier[TRACE_HEADER] == f"Root={ROOT};Parent={PARENT};Sampled=1"
