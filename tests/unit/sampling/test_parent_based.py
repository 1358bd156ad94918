"""XRayParentBased: "no decision" parents are decided like new traces; decisions are kept."""

from __future__ import annotations

from typing import Optional

import pytest
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.sampling import (
    ALWAYS_OFF,
    ALWAYS_ON,
    Decision,
    ParentBased,
    Sampler,
    TraceIdRatioBased,
)
from opentelemetry.trace import NonRecordingSpan, SpanContext, SpanKind, TraceFlags, TraceState

from otel_xray.ids import XRayIdGenerator
from otel_xray.propagation import TRACE_HEADER, XRayPropagator
from otel_xray.sampling import XRayParentBased

ROOT = "1-5759e988-bd862e3fe1be46a994272793"
TRACE_ID = 0x5759E988BD862E3FE1BE46A994272793
PARENT = "53995c3f42cd8ad8"
PARENT_ID = 0x53995C3F42CD8AD8


def server_span(sampler: Sampler, header: Optional[str]) -> trace.Span:
    """Start (and end) the span a server instrumentation starts for a request with ``header``."""
    provider = TracerProvider(sampler=sampler, id_generator=XRayIdGenerator())
    carrier = {} if header is None else {TRACE_HEADER: header}
    ctx = XRayPropagator().extract(carrier)
    token = otel_context.attach(ctx)  # as the server instrumentations do
    try:
        span = provider.get_tracer("test").start_span("request", ctx, kind=SpanKind.SERVER)
        span.end()
    finally:
        otel_context.detach(token)
    return span


def decision(sampler: Sampler, header: Optional[str]) -> bool:
    return server_span(sampler, header).get_span_context().trace_flags.sampled


@pytest.mark.parametrize(
    "header",
    [
        pytest.param(f"Root={ROOT};Parent={PARENT};Sampled=?", id="question-mark"),
        pytest.param(f"Root={ROOT};Parent={PARENT}", id="missing"),
    ],
)
@pytest.mark.parametrize(("root", "sampled"), [(ALWAYS_ON, True), (ALWAYS_OFF, False)])
def test_no_decision_is_decided_by_the_root_sampler(
    header: str, root: Sampler, sampled: bool
) -> None:
    assert decision(XRayParentBased(root), header) is sampled


def test_no_decision_keeps_the_incoming_trace_and_parent() -> None:
    span = server_span(XRayParentBased(), f"Root={ROOT};Parent={PARENT};Sampled=?")
    assert span.get_span_context().trace_id == TRACE_ID
    assert span.parent is not None and span.parent.span_id == PARENT_ID  # type: ignore[attr-defined]
    assert span.is_recording() is False  # ended
    assert span.get_span_context().trace_flags.sampled


@pytest.mark.parametrize(
    ("flag", "root", "sampled"),
    [
        pytest.param("0", ALWAYS_ON, False, id="sampled-0-wins-over-root-on"),
        pytest.param("1", ALWAYS_OFF, True, id="sampled-1-wins-over-root-off"),
    ],
)
def test_an_incoming_decision_always_wins(flag: str, root: Sampler, sampled: bool) -> None:
    header = f"Root={ROOT};Parent={PARENT};Sampled={flag}"
    assert decision(XRayParentBased(root), header) is sampled


def test_plain_parent_based_drops_an_undecided_request() -> None:
    """The problem XRayParentBased exists for."""
    assert decision(ParentBased(ALWAYS_ON), f"Root={ROOT};Parent={PARENT};Sampled=?") is False


@pytest.mark.parametrize("rate", [0.25, 0.5, 0.75])
def test_no_decision_with_a_ratio_root_decides_on_the_incoming_trace_id(rate: float) -> None:
    ratio = TraceIdRatioBased(rate)
    sampler = XRayParentBased(ratio)
    for low in range(40):
        trace_id = (0x5759E988 << 96) | (low * 0x0123456789ABCDEF0123)
        xray_root = f"1-{trace_id >> 96:08x}-{trace_id & ((1 << 96) - 1):024x}"
        header = f"Root={xray_root};Parent={PARENT};Sampled=?"
        expected = ratio.should_sample(None, trace_id, "request").decision.is_sampled()
        assert decision(sampler, header) is expected


def test_no_decision_keeps_the_w3c_trace_state() -> None:
    state = TraceState([("vendor", "v")])
    earlier = trace.set_span_in_context(
        NonRecordingSpan(SpanContext(1, 2, is_remote=True, trace_state=state))
    )
    ctx = XRayPropagator().extract({TRACE_HEADER: f"Root={ROOT};Parent={PARENT}"}, earlier)
    result = XRayParentBased().should_sample(ctx, TRACE_ID, "request")
    assert result.decision is Decision.RECORD_AND_SAMPLE
    assert result.trace_state == state


def test_local_children_follow_the_decision_made_for_the_undecided_parent() -> None:
    provider = TracerProvider(sampler=XRayParentBased(ALWAYS_ON))
    tracer = provider.get_tracer("test")
    ctx = XRayPropagator().extract({TRACE_HEADER: f"Root={ROOT};Parent={PARENT};Sampled=?"})
    with tracer.start_as_current_span("request", ctx, kind=SpanKind.SERVER) as server, \
            tracer.start_as_current_span("child") as child:
        pass
    assert server.get_span_context().trace_flags.sampled
    assert child.get_span_context().trace_flags.sampled


def test_new_traces_are_decided_by_the_root_sampler() -> None:
    assert decision(XRayParentBased(ALWAYS_ON), None) is True
    assert decision(XRayParentBased(ALWAYS_OFF), None) is False


def test_local_parent_decisions_are_followed() -> None:
    sampler = XRayParentBased(ALWAYS_OFF)
    sampled_parent = trace.set_span_in_context(
        NonRecordingSpan(SpanContext(TRACE_ID, 1, False, TraceFlags(TraceFlags.SAMPLED)))
    )
    assert sampler.should_sample(sampled_parent, TRACE_ID, "child").decision.is_sampled()


@pytest.mark.parametrize(
    ("flag", "root", "sampled"),
    [
        pytest.param("0", ALWAYS_ON, False, id="sampled-0"),
        pytest.param("1", ALWAYS_OFF, True, id="sampled-1"),
        pytest.param("?", ALWAYS_OFF, False, id="question-mark-asks-root-off"),
        pytest.param("?", ALWAYS_ON, True, id="question-mark-asks-root-on"),
    ],
)
def test_root_only_header_decision_applies_to_the_span_continuing_its_trace(
    flag: str, root: Sampler, sampled: bool
) -> None:
    ctx = XRayPropagator().extract({TRACE_HEADER: f"Root={ROOT};Sampled={flag}"})
    result = XRayParentBased(root).should_sample(ctx, TRACE_ID, "request")
    assert result.decision.is_sampled() is sampled


def test_root_only_header_decision_does_not_apply_to_another_trace() -> None:
    ctx = XRayPropagator().extract({TRACE_HEADER: f"Root={ROOT};Sampled=0"})
    assert XRayParentBased(ALWAYS_ON).should_sample(ctx, 1234, "other").decision.is_sampled()


def test_root_only_header_continues_its_trace_as_a_new_segment() -> None:
    """An ALB's ``Root`` without ``Parent``: the server span takes that trace id, no parent."""
    span = server_span(XRayParentBased(), f"Self=1-67891233-abcdef012345678912345678;Root={ROOT}")
    assert span.get_span_context().trace_id == TRACE_ID
    assert span.parent is None  # type: ignore[attr-defined]


def test_description_names_the_root_sampler() -> None:
    assert XRayParentBased(ALWAYS_OFF).get_description() == "XRayParentBased{root:AlwaysOffSampler}"


def test_sampler_reads_the_current_context_when_given_none() -> None:
    ctx = XRayPropagator().extract({TRACE_HEADER: f"Root={ROOT};Parent={PARENT};Sampled=?"})
    token = otel_context.attach(ctx)
    try:
        result = XRayParentBased(ALWAYS_ON).should_sample(None, TRACE_ID, "request")
    finally:
        otel_context.detach(token)
    assert result.decision.is_sampled()
