"""End-to-end CPU per span: from creating the spans to the datagrams sent.

``time.process_time`` (every thread of the process) while one thread records traces and
the set-up ships them (a flush every 100 traces, under every queue's limit): no processor
(span creation alone), ``XRaySpanProcessor``, ``BatchSpanProcessor`` + ``XRaySpanExporter``,
``BatchSpanProcessor(batch 10)`` + ADOT, and the native ``aws-xray-sdk`` recording the same
trace shape with its own UDP emitter.
"""

from __future__ import annotations

import time
from typing import Any, Dict, List, Tuple

from opentelemetry.sdk.trace import TracerProvider

from benchmarks.context import Context, ScenarioResult, add_timing, new_result
from benchmarks.peers import XRAY_SDK_MISSING
from benchmarks.setups import lost_note, make_setups
from benchmarks.timing import Pass, clock, interleaved
from benchmarks.workload import SPANS_PER_TRACE, record_trace, record_xray_sdk_trace

ORDER = 50

SETUPS = ("none", "xray_processor", "bsp_xray_exporter", "bsp_adot")
#: Traces between two flushes: 1,000 spans.
FLUSH_EVERY = 100
XRAY_SDK = "xray_sdk"


def measure(ctx: Context) -> ScenarioResult:
    result = new_result("end-to-end CPU per span (all threads of the process)")
    setups = make_setups(SETUPS, ctx, result["missing"])
    providers = {key: setup.provider() for key, setup in setups.items()}
    traces = ctx.size.traces
    sink = ctx.sink

    def otel(provider: TracerProvider) -> Pass:
        tracer = provider.get_tracer("bench")

        def run() -> Tuple[float, float]:
            sink.reset()
            with clock(time.process_time) as t:
                for start in range(0, traces, FLUSH_EVERY):
                    for i in range(start, min(start + FLUSH_EVERY, traces)):
                        record_trace(tracer, i)
                    provider.force_flush()
            sink.settle()
            return t[0], t[1]

        return run

    def xray_sdk(recorder: Any) -> Pass:
        def run() -> Tuple[float, float]:
            sink.reset()
            with clock(time.process_time) as t:
                for i in range(traces):
                    record_xray_sdk_trace(recorder, i)
            sink.settle()
            return t[0], t[1]

        return run

    passes: Dict[str, Pass] = {key: otel(provider) for key, provider in providers.items()}
    labels = {key: setup.label for key, setup in setups.items()}
    recorder = ctx.peers.xray_sdk_recorder(sink.address)
    if recorder is None:
        result["missing"].append(XRAY_SDK_MISSING)
    else:
        passes[XRAY_SDK] = xray_sdk(recorder)
        labels[XRAY_SDK] = "aws-xray-sdk recorder + its UDP emitter"
    spans = traces * SPANS_PER_TRACE
    for key, cpu_wall in interleaved(ctx.size.reps, passes).items():
        notes: List[str] = []
        if key in setups:
            providers[key].force_flush()
            notes = lost_note(setups[key], spans * ctx.size.reps)
            providers[key].shutdown()
        add_timing(result, key, labels[key], spans, cpu_wall, notes)
    return result
