"""XRayPropagator / XRayLambdaPropagator: what is read, what is written, what never happens."""

from __future__ import annotations

from typing import Any, Dict, List, Optional

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.instrumentation.wsgi import wsgi_getter
from opentelemetry.propagators.textmap import Getter
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags, TraceState
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from otel_xray.propagation import (
    LAMBDA_TRACE_ENV,
    MAX_HEADER_CHARS,
    TRACE_HEADER,
    TraceHeader,
    XRayLambdaPropagator,
    XRayPropagator,
    continued_trace_id,
    format_trace_header,
    link_displaced_parent,
    parse_trace_header,
    root_only_decision,
    sampling_undecided,
)
from tests.support.helpers import SpanRecorder

ROOT = "1-5759e988-bd862e3fe1be46a994272793"
TRACE_ID = 0x5759E988BD862E3FE1BE46A994272793
PARENT = "53995c3f42cd8ad8"
PARENT_ID = 0x53995C3F42CD8AD8
HEADER = f"Root={ROOT};Parent={PARENT};Sampled=1"

PROPAGATOR = XRayPropagator()


def extracted(header: Optional[str], context: Optional[Context] = None) -> SpanContext:
    carrier = {} if header is None else {TRACE_HEADER: header}
    ctx = PROPAGATOR.extract(carrier, context)
    return trace.get_current_span(ctx).get_span_context()


def injected(ctx: Context) -> Optional[str]:
    carrier: Dict[str, str] = {}
    PROPAGATOR.inject(carrier, ctx)
    return carrier.get(TRACE_HEADER)


def context_with(span_context: SpanContext, base: Optional[Context] = None) -> Context:
    return trace.set_span_in_context(NonRecordingSpan(span_context), base)


def local_span(trace_id: int = TRACE_ID, span_id: int = 0x1122334455667788, sampled: bool = True):
    return SpanContext(
        trace_id, span_id, is_remote=False,
        trace_flags=TraceFlags(TraceFlags.SAMPLED if sampled else 0),
    )


# --- extract: layout is tolerated ------------------------------------------------------

@pytest.mark.parametrize(
    "header",
    [
        pytest.param(HEADER, id="canonical"),
        pytest.param(f"Sampled=1;Parent={PARENT};Root={ROOT}", id="any-order"),
        pytest.param(f"  Root = {ROOT} ;\tParent= {PARENT}  ; Sampled =1 ", id="whitespace"),
        pytest.param(f"root={ROOT};PARENT={PARENT};sAmPlEd=1", id="keys-any-case"),
        pytest.param(f"Root={ROOT};;Parent={PARENT};Sampled=1", id="empty-part"),
        pytest.param(f"Root={ROOT};Parent={PARENT};Sampled=1;", id="trailing-semicolon"),
        pytest.param(f";Root={ROOT};Parent={PARENT};Sampled=1", id="leading-semicolon"),
        pytest.param(f"Root={ROOT};junk;Parent={PARENT};Sampled=1", id="part-without-equals"),
        pytest.param(f"Self=1-67891233-abcdef012345678912345678;{HEADER}", id="alb-self"),
        pytest.param(f"{HEADER};Foo=bar=baz", id="value-split-on-first-equals"),
        pytest.param(f"{HEADER};Foo=", id="other-pair-empty-value"),
        pytest.param(f"Root=1-5759E988-BD862E3FE1BE46A994272793;Parent={PARENT.upper()};Sampled=1",
                     id="uppercase-hex"),
    ],
)
def test_extract_tolerates_layout(header: str) -> None:
    assert extracted(header) == SpanContext(
        TRACE_ID, PARENT_ID, is_remote=True, trace_flags=TraceFlags(TraceFlags.SAMPLED)
    )


@pytest.mark.parametrize(("flag", "sampled"), [("1", True), ("0", False)])
def test_extract_sets_the_sampled_flag(flag: str, sampled: bool) -> None:
    span_context = extracted(f"Root={ROOT};Parent={PARENT};Sampled={flag}")
    assert span_context.trace_flags.sampled is sampled
    assert span_context.is_remote


def test_extract_last_occurrence_of_a_repeated_key_wins() -> None:
    other = "1-00000001-000000000000000000000002"
    assert extracted(f"Root={other};{HEADER}").trace_id == TRACE_ID


# --- extract: values are strict ---------------------------------------------------------

@pytest.mark.parametrize(
    "header",
    [
        pytest.param("", id="empty"),
        pytest.param("garbage", id="garbage"),
        pytest.param(f"Parent={PARENT};Sampled=1", id="no-root"),
        pytest.param(f"Root=2-5759e988-bd862e3fe1be46a994272793;Parent={PARENT}", id="version-2"),
        pytest.param(f"Root=1-5759e98-bd862e3fe1be46a994272793;Parent={PARENT}", id="root-short"),
        pytest.param(f"Root=1-5759e988-bd862e3fe1be46a9942727930;Parent={PARENT}", id="root-long"),
        pytest.param(f"Root=1-5759e988bd862e3fe1be46a994272793;Parent={PARENT}", id="root-no-dash"),
        pytest.param(f"Root=1-5759e98g-bd862e3fe1be46a994272793;Parent={PARENT}", id="root-nonhex"),
        pytest.param(f"Root=1-+759e988-bd862e3fe1be46a994272793;Parent={PARENT}", id="root-sign"),
        pytest.param(f"Root=1-5759_988-bd862e3fe1be46a994272793;Parent={PARENT}",
                     id="root-underscore"),
        pytest.param(f"Root=1-00000000-000000000000000000000000;Parent={PARENT}", id="root-zero"),
        pytest.param(f"Root={ROOT};Parent=53995c3f42cd8ad", id="parent-short"),
        pytest.param(f"Root={ROOT};Parent=53995c3f42cd8ad80", id="parent-long"),
        pytest.param(f"Root={ROOT};Parent=0x995c3f42cd8ad8", id="parent-0x"),
        pytest.param(f"Root={ROOT};Parent=5399_c3f42cd8ad8", id="parent-underscore"),
        pytest.param(f"Root={ROOT};Parent=abcdefghijklmnop", id="parent-nonhex"),
        pytest.param(f"Root={ROOT};Parent=0000000000000000", id="parent-zero"),
        pytest.param(f"Root={ROOT};Parent=\u0665\u0663995c3f42cd8ad", id="parent-unicode-digits"),
        pytest.param(f"Root={ROOT};Parent={PARENT};Sampled=", id="sampled-empty"),
        pytest.param(f"Root={ROOT};Parent={PARENT};Sampled=2", id="sampled-2"),
        pytest.param(f"Root={ROOT};Parent={PARENT};Sampled=11", id="sampled-11"),
        pytest.param(f"Root={ROOT};Parent={PARENT};Sampled=true", id="sampled-word"),
        pytest.param(f"Root={ROOT};Parent={PARENT};Sampled=1\r\nX-Evil: 1", id="crlf-in-value"),
        pytest.param(f"Root=1-00000001-000000000000000000000002;Root=bad;Parent={PARENT}",
                     id="one-bad-occurrence"),
    ],
)
def test_extract_ignores_malformed_header_entirely(header: str) -> None:
    incoming = Context({"k": "v"})
    ctx = PROPAGATOR.extract({TRACE_HEADER: header}, incoming)
    assert ctx == incoming


def test_extract_without_context_and_without_header_gives_empty_context() -> None:
    assert PROPAGATOR.extract({}) == Context()


def test_extract_keeps_a_valid_context_when_the_header_is_malformed() -> None:
    parent = SpanContext(1, 2, is_remote=True)
    incoming = context_with(parent)
    ctx = PROPAGATOR.extract({TRACE_HEADER: "Root=junk"}, incoming)
    assert trace.get_current_span(ctx).get_span_context() == parent


def test_extract_reads_only_a_bounded_prefix_of_a_huge_header() -> None:
    huge = HEADER + ";Foo=" + "x" * 5_000_000
    assert extracted(huge).span_id == PARENT_ID
    assert PROPAGATOR.stats().get("header_truncated", 0) >= 1


def test_extract_drops_a_part_cut_at_the_bound() -> None:
    # Parent starts inside the bound but ends after it: it must not be half read.
    padding = "Foo=" + "x" * (MAX_HEADER_CHARS - len("Foo=") - len(f";Root={ROOT};Parent=53"))
    header = f"{padding};Root={ROOT};Parent={PARENT};Sampled=1"
    assert len(header.split(";Parent=")[0]) + len(";Parent=53") == MAX_HEADER_CHARS
    parsed = parse_trace_header(header)
    assert parsed is not None and parsed.parent_id is None  # cut Parent dropped, not parsed


@pytest.mark.parametrize(
    "carrier",
    [
        pytest.param({"x-amzn-trace-id": HEADER}, id="lowercase"),
        pytest.param({"X-AMZN-TRACE-ID": HEADER}, id="uppercase"),
        pytest.param({"x-Amzn-Trace-ID": HEADER}, id="mixed"),
    ],
)
def test_extract_finds_the_header_name_in_any_case(carrier: Dict[str, str]) -> None:
    ctx = PROPAGATOR.extract(carrier)
    assert trace.get_current_span(ctx).get_span_context().span_id == PARENT_ID


def test_extract_reads_a_wsgi_environ() -> None:
    environ = {"HTTP_X_AMZN_TRACE_ID": HEADER, "REQUEST_METHOD": "GET"}
    ctx = PROPAGATOR.extract(environ, getter=wsgi_getter)
    assert trace.get_current_span(ctx).get_span_context().trace_id == TRACE_ID


class _ListCarrierGetter(Getter[List[tuple]]):
    """A carrier of (name, value) pairs, like raw ASGI/HTTP-2 headers."""

    def get(self, carrier: List[tuple], key: str) -> Optional[List[str]]:
        values = [value for name, value in carrier if name == key]
        return values or None

    def keys(self, carrier: List[tuple]) -> List[str]:
        return [name for name, _ in carrier]


def test_extract_finds_the_header_through_a_custom_getters_keys() -> None:
    carrier = [("host", "example.com"), ("x-amzn-trace-id", HEADER)]
    ctx = PROPAGATOR.extract(carrier, getter=_ListCarrierGetter())
    assert trace.get_current_span(ctx).get_span_context().span_id == PARENT_ID


def test_extract_ignores_a_repeated_header() -> None:
    carrier = [("X-Amzn-Trace-Id", HEADER), ("X-Amzn-Trace-Id", HEADER)]
    ctx = PROPAGATOR.extract(carrier, Context(), getter=_ListCarrierGetter())
    assert ctx == Context()


class _BrokenGetter(Getter[Any]):
    def get(self, carrier: Any, key: str) -> Optional[List[str]]:
        raise RuntimeError("broken carrier")

    def keys(self, carrier: Any) -> List[str]:
        raise RuntimeError("broken carrier")


def test_extract_never_raises_on_a_broken_carrier() -> None:
    assert PROPAGATOR.extract(object(), getter=_BrokenGetter()) == Context()


@pytest.mark.parametrize("value", [None, 42, b"Root=1", ["a", "b"], [None], [""]])
def test_extract_ignores_values_that_are_not_one_string(value: Any) -> None:
    assert PROPAGATOR.extract({TRACE_HEADER: value}) == Context()


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=300))
def test_extract_never_raises_on_any_text(header: str) -> None:
    ctx = PROPAGATOR.extract({TRACE_HEADER: header})
    span_context = trace.get_current_span(ctx).get_span_context()
    assert span_context == trace.INVALID_SPAN_CONTEXT or span_context.is_valid


def test_extract_keeps_the_trace_state_an_earlier_propagator_found() -> None:
    state = TraceState([("vendor", "value")])
    earlier = context_with(SpanContext(1, 2, is_remote=True, trace_state=state))
    assert extracted(HEADER, earlier).trace_state == state


# --- Sampled=? and missing Sampled: "no decision" ---------------------------------------

@pytest.mark.parametrize(
    "header",
    [
        pytest.param(f"Root={ROOT};Parent={PARENT};Sampled=?", id="question-mark"),
        pytest.param(f"Root={ROOT};Parent={PARENT}", id="missing"),
    ],
)
def test_extract_marks_no_decision_on_an_unsampled_remote_parent(header: str) -> None:
    ctx = PROPAGATOR.extract({TRACE_HEADER: header})
    span_context = trace.get_current_span(ctx).get_span_context()
    assert span_context == SpanContext(TRACE_ID, PARENT_ID, is_remote=True)
    assert sampling_undecided(ctx)


@pytest.mark.parametrize("flag", ["0", "1"])
def test_extract_with_a_decision_is_not_marked_undecided(flag: str) -> None:
    assert not sampling_undecided(
        PROPAGATOR.extract({TRACE_HEADER: f"Root={ROOT};Parent={PARENT};Sampled={flag}"})
    )


def test_no_decision_marker_applies_only_to_the_extracted_parent() -> None:
    ctx = PROPAGATOR.extract({TRACE_HEADER: f"Root={ROOT};Parent={PARENT};Sampled=?"})
    # A local child span in the same context is decided: the marker does not stick to it.
    child = context_with(local_span(), ctx)
    assert not sampling_undecided(child)


def test_undecided_parent_is_written_back_as_question_mark_when_passed_through() -> None:
    ctx = PROPAGATOR.extract({TRACE_HEADER: f"Root={ROOT};Parent={PARENT};Sampled=?"})
    assert injected(ctx) == f"Root={ROOT};Parent={PARENT};Sampled=?"


# --- Root without Parent (load balancers) ----------------------------------------------

def test_root_without_parent_yields_no_parent_span_but_keeps_the_trace_id() -> None:
    alb_header = f"Self=1-67891233-abcdef012345678912345678;Root={ROOT}"
    ctx = PROPAGATOR.extract({TRACE_HEADER: alb_header})
    assert not trace.get_current_span(ctx).get_span_context().is_valid
    assert continued_trace_id(ctx) == TRACE_ID
    assert root_only_decision(ctx) == TraceHeader(TRACE_ID, None, None)


def test_root_without_parent_keeps_its_sampling_decision() -> None:
    ctx = PROPAGATOR.extract({TRACE_HEADER: f"Root={ROOT};Sampled=0"})
    assert root_only_decision(ctx) == TraceHeader(TRACE_ID, None, False)


def test_continued_trace_id_is_none_once_a_span_is_current() -> None:
    ctx = PROPAGATOR.extract({TRACE_HEADER: f"Root={ROOT}"})
    assert continued_trace_id(context_with(local_span(), ctx)) is None


def test_continued_trace_id_reads_the_current_context_by_default() -> None:
    token = otel_context.attach(PROPAGATOR.extract({TRACE_HEADER: f"Root={ROOT}"}))
    try:
        assert continued_trace_id() == TRACE_ID
    finally:
        otel_context.detach(token)
    assert continued_trace_id() is None


# --- Lineage, Self, other pairs ---------------------------------------------------------

LINEAGE = "a87bd80c:1|68fd508a:5"


def test_lineage_is_carried_and_written_back_unchanged() -> None:
    ctx = PROPAGATOR.extract({TRACE_HEADER: f"{HEADER};Lineage={LINEAGE}"})
    child = context_with(local_span(), ctx)
    assert injected(child) == (
        f"Root={ROOT};Parent=1122334455667788;Sampled=1;Lineage={LINEAGE}"
    )


def test_lineage_key_is_matched_case_insensitively() -> None:
    ctx = PROPAGATOR.extract({TRACE_HEADER: f"{HEADER};lineage={LINEAGE}"})
    assert injected(ctx) is not None and injected(ctx).endswith(f";Lineage={LINEAGE}")


def test_lineage_is_not_written_into_another_trace() -> None:
    ctx = PROPAGATOR.extract({TRACE_HEADER: f"{HEADER};Lineage={LINEAGE}"})
    other_trace = context_with(local_span(trace_id=0x1234), ctx)
    assert "Lineage" not in (injected(other_trace) or "")


@pytest.mark.parametrize(
    "lineage",
    [
        pytest.param("a" * 257, id="too-long"),
        pytest.param("a,b", id="comma"),
        pytest.param('a"b', id="quote"),
        pytest.param("a\\b", id="backslash"),
        pytest.param("l\u00e9", id="non-ascii"),
        pytest.param("a b", id="inner-space"),
        pytest.param("a\x00b", id="control"),
    ],
)
def test_unsafe_lineage_is_dropped_but_the_context_kept(lineage: str) -> None:
    ctx = PROPAGATOR.extract({TRACE_HEADER: f"{HEADER};Lineage={lineage}"})
    assert trace.get_current_span(ctx).get_span_context().span_id == PARENT_ID
    assert injected(ctx) == HEADER


def test_self_and_other_pairs_are_not_forwarded() -> None:
    ctx = PROPAGATOR.extract(
        {TRACE_HEADER: f"Self=1-67891233-abcdef012345678912345678;{HEADER};Foo=bar;Lineage=x:1"}
    )
    assert injected(ctx) == f"{HEADER};Lineage=x:1"


# --- inject ---------------------------------------------------------------------------

@pytest.mark.parametrize(("sampled", "flag"), [(True, "1"), (False, "0")])
def test_inject_writes_root_current_span_id_and_sampled(sampled: bool, flag: str) -> None:
    ctx = context_with(local_span(sampled=sampled))
    assert injected(ctx) == f"Root={ROOT};Parent=1122334455667788;Sampled={flag}"


def test_inject_uses_the_current_context_by_default() -> None:
    token = otel_context.attach(context_with(local_span()))
    try:
        carrier: Dict[str, str] = {}
        PROPAGATOR.inject(carrier)
    finally:
        otel_context.detach(token)
    assert carrier[TRACE_HEADER].startswith(f"Root={ROOT};Parent=1122334455667788")


def test_inject_writes_nothing_without_a_valid_span() -> None:
    carrier: Dict[str, str] = {}
    PROPAGATOR.inject(carrier, Context())
    assert carrier == {}


def test_inject_writes_nothing_for_a_root_only_context() -> None:
    assert injected(PROPAGATOR.extract({TRACE_HEADER: f"Root={ROOT}"})) is None


def test_fields_name_the_one_header_inject_writes() -> None:
    carrier: Dict[str, str] = {}
    PROPAGATOR.inject(carrier, context_with(local_span()))
    assert set(carrier) == PROPAGATOR.fields == {TRACE_HEADER}


@settings(max_examples=200, deadline=None)
@given(
    st.text(alphabet=st.characters(min_codepoint=0, max_codepoint=0x2FF), max_size=80),
    st.booleans(),
)
def test_inject_never_writes_a_line_break_or_an_extra_pair(lineage: str, sampled: bool) -> None:
    header = f"Root={ROOT};Parent={PARENT};Sampled={int(sampled)};Lineage={lineage}"
    ctx = PROPAGATOR.extract({TRACE_HEADER: header})
    out = injected(context_with(local_span(sampled=sampled), ctx))
    assert out is not None
    assert "\r" not in out and "\n" not in out
    keys = [part.split("=", 1)[0] for part in out.split(";")]
    assert keys in (["Root", "Parent", "Sampled"], ["Root", "Parent", "Sampled", "Lineage"])


def test_extract_then_inject_round_trips() -> None:
    header = f"Root={ROOT};Parent={PARENT};Sampled=0;Lineage={LINEAGE}"
    assert injected(PROPAGATOR.extract({TRACE_HEADER: header})) == header


# --- parse / format functions ---------------------------------------------------------

def test_parse_trace_header_returns_values() -> None:
    assert parse_trace_header(f"{HEADER};Lineage=x:1") == TraceHeader(
        TRACE_ID, PARENT_ID, True, "x:1"
    )


@pytest.mark.parametrize("value", [None, 1, b"Root=1"])
def test_parse_trace_header_returns_none_for_non_strings(value: Any) -> None:
    assert parse_trace_header(value) is None


def test_format_trace_header_writes_question_mark_for_no_decision() -> None:
    assert format_trace_header(TRACE_ID, PARENT_ID, None) == (
        f"Root={ROOT};Parent={PARENT};Sampled=?"
    )


@pytest.mark.parametrize(
    ("trace_id", "parent_id", "lineage"),
    [
        pytest.param(0, PARENT_ID, None, id="zero-trace"),
        pytest.param(1 << 128, PARENT_ID, None, id="big-trace"),
        pytest.param(TRACE_ID, 0, None, id="zero-parent"),
        pytest.param(TRACE_ID, 1 << 64, None, id="big-parent"),
        pytest.param(TRACE_ID, PARENT_ID, "a;Root=x", id="lineage-semicolon"),
        pytest.param(TRACE_ID, PARENT_ID, "a\r\nX: y", id="lineage-crlf"),
    ],
)
def test_format_trace_header_refuses_unsafe_values(
    trace_id: int, parent_id: int, lineage: Optional[str]
) -> None:
    with pytest.raises(ValueError):
        format_trace_header(trace_id, parent_id, True, lineage)


# --- composite with W3C trace context ---------------------------------------------------

def test_xray_header_wins_over_traceparent_when_listed_after_it() -> None:
    carrier = {
        "traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        TRACE_HEADER: HEADER,
    }
    ctx = TraceContextTextMapPropagator().extract(carrier)
    ctx = PROPAGATOR.extract(carrier, ctx)
    assert trace.get_current_span(ctx).get_span_context().trace_id == TRACE_ID


def test_traceparent_survives_a_missing_xray_header() -> None:
    carrier = {"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}
    ctx = PROPAGATOR.extract(carrier, TraceContextTextMapPropagator().extract(carrier))
    assert trace.get_current_span(ctx).get_span_context().span_id == 0xB7AD6B7169203331


# --- XRayLambdaPropagator ---------------------------------------------------------------

LAMBDA = XRayLambdaPropagator()
ENV_ROOT = "1-00000002-240000000000000000000002"
ENV_HEADER = f"Root={ENV_ROOT};Parent=1600000000000002;Sampled=1"


def lambda_extracted(carrier: Dict[str, str], context: Optional[Context] = None) -> SpanContext:
    return trace.get_current_span(LAMBDA.extract(carrier, context)).get_span_context()


def test_lambda_uses_the_environment_when_the_carrier_has_nothing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(LAMBDA_TRACE_ENV, ENV_HEADER)
    span_context = lambda_extracted({})
    assert (span_context.trace_id, span_context.span_id) == (
        0x00000002240000000000000000000002, 0x1600000000000002,
    )
    assert span_context.trace_flags.sampled


def test_lambda_reads_the_environment_on_every_call(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(LAMBDA_TRACE_ENV, ENV_HEADER)
    first = lambda_extracted({})
    monkeypatch.setenv(LAMBDA_TRACE_ENV, f"Root={ROOT};Parent={PARENT};Sampled=0")
    second = lambda_extracted({})
    assert first.span_id == 0x1600000000000002 and second.span_id == PARENT_ID
    assert not second.trace_flags.sampled


def test_lambda_prefers_the_environment_over_a_carrier_parent_of_another_trace(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(LAMBDA_TRACE_ENV, ENV_HEADER)
    span_context = lambda_extracted({TRACE_HEADER: HEADER})
    assert (span_context.trace_id, span_context.span_id) == (
        0x00000002240000000000000000000002, 0x1600000000000002,
    )


def _handler_links(context: Context) -> List[SpanContext]:
    recorder = SpanRecorder()
    span = recorder.tracer.start_span("handler", context, kind=trace.SpanKind.SERVER)
    link_displaced_parent(span, context)
    child = recorder.tracer.start_span("child", trace.set_span_in_context(span, context))
    link_displaced_parent(child, trace.set_span_in_context(span, context))
    child.end()
    span.end()
    assert not recorder.spans()[0].links  # the child: no link
    return [link.context for link in recorder.spans()[1].links]


def test_lambda_links_the_handler_to_the_events_parent_of_another_trace(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(LAMBDA_TRACE_ENV, ENV_HEADER)
    (linked,) = _handler_links(LAMBDA.extract({TRACE_HEADER: HEADER}))
    assert (linked.trace_id, linked.span_id) == (TRACE_ID, PARENT_ID)


def test_lambda_links_an_earlier_propagators_parent_of_another_trace(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(LAMBDA_TRACE_ENV, ENV_HEADER)
    earlier = context_with(SpanContext(1, 2, is_remote=True))
    assert lambda_extracted({}, earlier).span_id == 0x1600000000000002
    (linked,) = _handler_links(LAMBDA.extract({}, earlier))
    assert (linked.trace_id, linked.span_id) == (1, 2)


def test_lambda_adds_no_link_for_the_same_trace(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(LAMBDA_TRACE_ENV, ENV_HEADER)
    carrier = {TRACE_HEADER: f"Root={ENV_ROOT};Parent={PARENT};Sampled=1"}
    assert _handler_links(LAMBDA.extract(carrier)) == []


def test_lambda_prefers_the_environment_for_the_same_trace(monkeypatch: pytest.MonkeyPatch) -> None:
    # Lambda's own segment sits between the caller (carrier) and the function's work.
    monkeypatch.setenv(LAMBDA_TRACE_ENV, ENV_HEADER)
    carrier = {TRACE_HEADER: f"Root={ENV_ROOT};Parent={PARENT};Sampled=1"}
    assert lambda_extracted(carrier).span_id == 0x1600000000000002


def test_lambda_without_environment_behaves_like_the_plain_propagator(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(LAMBDA_TRACE_ENV, raising=False)
    assert lambda_extracted({}) == trace.INVALID_SPAN_CONTEXT
    assert lambda_extracted({TRACE_HEADER: HEADER}).span_id == PARENT_ID


def test_lambda_ignores_a_malformed_environment_value(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(LAMBDA_TRACE_ENV, "Root=nonsense")
    assert LAMBDA.extract({}, Context({"k": "v"})) == Context({"k": "v"})


def test_lambda_carries_the_environments_lineage(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(LAMBDA_TRACE_ENV, f"{ENV_HEADER};Lineage=10:abcdef12:1")
    ctx = LAMBDA.extract({})
    child = context_with(local_span(trace_id=0x00000002240000000000000000000002), ctx)
    assert injected(child).endswith(";Lineage=10:abcdef12:1")  # type: ignore[union-attr]


# --- entry points -----------------------------------------------------------------------

@pytest.mark.parametrize(
    ("name", "cls"),
    [("otel_xray", XRayPropagator), ("otel_xray_lambda", XRayLambdaPropagator)],
)
def test_propagator_entry_points_resolve(name: str, cls: type) -> None:
    from opentelemetry.util._importlib_metadata import entry_points

    (entry_point,) = entry_points(group="opentelemetry_propagator", name=name)
    assert entry_point.load() is cls


def test_id_generator_entry_point_resolves() -> None:
    from opentelemetry.util._importlib_metadata import entry_points

    from otel_xray.ids import XRayIdGenerator

    (entry_point,) = entry_points(group="opentelemetry_id_generator", name="otel_xray")
    assert entry_point.load() is XRayIdGenerator
