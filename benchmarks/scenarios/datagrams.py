"""Datagrams per trace and bytes per span on the wire, every datagram parsed and checked.

The same fresh traces go through each sender; the sink keeps every datagram, which is
parsed as the X-Ray daemon does (header line, JSON body). For otel-xray and the touch floor
every span id must arrive exactly once; for aws-xray-sdk (its own ids) the number of
(sub)segments must match; ADOT's OTLP protobuf is not parsed. ADOT with
``BatchSpanProcessor``'s default batch of 512 is computed, not sent: its one datagram is
over the UDP limit.
"""

from __future__ import annotations

from typing import Callable, Optional, Sequence, Set

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter

from benchmarks import ours
from benchmarks.checks import check, span_ids
from benchmarks.context import Context, ScenarioResult, add_figure, new_result
from benchmarks.peers import (
    ADOT_BATCH,
    ADOT_MISSING,
    BSP_BATCH,
    HEADER,
    MAX_UDP_PAYLOAD,
    XRAY_SDK_MISSING,
    TouchFloorExporter,
)
from benchmarks.setups import export_in_batches, hand_over
from benchmarks.workload import SPANS_PER_TRACE, finished_spans, record_xray_sdk_trace

ORDER = 5

#: How the datagrams of a sender are checked.
IDS, COUNT, NONE = "every span id exactly once", "(sub)segments counted", "not parsed"


def measure(ctx: Context) -> ScenarioResult:
    result = new_result("datagrams per trace and bytes per span")
    traces = ctx.size.check_traces
    spans = finished_spans(traces)
    ids = span_ids(spans)
    address = ctx.sink.address

    def record(key: str, label: str, send: Callable[[], None], how: str = IDS) -> None:
        ctx.sink.reset()
        ctx.sink.keep()
        send()
        ctx.sink.settle()
        datagrams = ctx.sink.take()
        expected: Optional[Set[str]] = ids if how == IDS else None
        arrival = check(datagrams, expected, len(spans))
        if how == NONE:  # not our format: only the sizes count
            arrival.problems = []
            verdict = NONE
        else:
            ctx.inspect(key, datagrams)
            result["problems"].extend(f"{label}: {p}" for p in arrival.problems)
            verdict = "; ".join(arrival.problems) or f"{how}; header + JSON valid"
        _figures(result, key, label, arrival.datagrams / traces, arrival.size / len(spans),
                 arrival.largest, verdict)

    processor = ours.processor(address)
    record("xray_processor", "XRaySpanProcessor", lambda: hand_over(processor, spans))
    processor.shutdown()
    for size in (BSP_BATCH, ADOT_BATCH):
        _record_exporter(record, f"xray_exporter_{size}",
                         f"XRaySpanExporter, batches of {size}", ours.exporter(address),
                         spans, size)
    _record_exporter(record, f"touch_floor_{BSP_BATCH}", f"touch floor, batches of {BSP_BATCH}",
                     TouchFloorExporter(address), spans, BSP_BATCH)
    adot = ctx.peers.adot_exporter(address)
    if adot is None:
        result["missing"].append(ADOT_MISSING)
    else:
        _record_exporter(record, f"adot_{ADOT_BATCH}",
                         f"ADOT OTLPUdpSpanExporter, batches of {ADOT_BATCH}", adot, spans,
                         ADOT_BATCH, how=NONE)
        _adot_one_big_batch(ctx, result, spans)
    recorder = ctx.peers.xray_sdk_recorder(address)
    if recorder is None:
        result["missing"].append(XRAY_SDK_MISSING)
    else:
        def via_xray_sdk() -> None:
            for i in range(traces):
                record_xray_sdk_trace(recorder, i)

        record("xray_sdk", "aws-xray-sdk", via_xray_sdk, how=COUNT)
    return result


def _record_exporter(record: Callable[..., None], key: str, label: str, exporter: SpanExporter,
                     spans: Sequence[ReadableSpan], size: int, how: str = IDS) -> None:
    record(key, label, lambda: export_in_batches(exporter, spans, size), how)
    exporter.shutdown()


def _figures(result: ScenarioResult, key: str, label: str, per_trace: float, per_span: float,
             largest: int, verdict: str) -> None:
    add_figure(result, f"{key}.datagrams_per_trace",
               f"{label}: datagrams per {SPANS_PER_TRACE}-span trace", per_trace, "", verdict)
    add_figure(result, f"{key}.bytes_per_span", f"{label}: bytes per span on the wire",
               per_span, "B")
    add_figure(result, f"{key}.largest", f"{label}: largest datagram", largest, "B")


def _adot_one_big_batch(ctx: Context, result: ScenarioResult,
                        spans: Sequence[ReadableSpan]) -> None:
    """The size of ADOT's one datagram for a batch of 512 (computed as it would send it)."""
    if ctx.peers.encode_spans is None:
        return
    batch = spans[:BSP_BATCH]
    body = ctx.peers.encode_spans(batch).SerializeToString()
    size = len(HEADER) + 3 + (len(body) + 2) // 3 * 4  # header + "T1S" + base64
    verdict = (f"over the {MAX_UDP_PAYLOAD:,}-byte UDP limit: EMSGSIZE, whole batch lost"
               if size > MAX_UDP_PAYLOAD else "fits")
    _figures(result, f"adot_{len(batch)}_computed",
             f"ADOT OTLPUdpSpanExporter, one batch of {len(batch)} (computed, not sent)",
             SPANS_PER_TRACE / len(batch), size / len(batch), size, verdict)
