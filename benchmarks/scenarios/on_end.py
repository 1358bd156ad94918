"""Application-thread CPU of ``on_end`` alone, on finished spans.

What a processor itself costs the application thread, without span creation and without
another thread freeing the spans: fresh finished spans per pass (made outside the clock) go
through ``on_end`` of ``BatchSpanProcessor`` + no-op exporter and of ``XRaySpanProcessor``,
both with queues large enough and exports deferred, so their workers stay idle.
"""

from __future__ import annotations

from typing import Dict, Tuple

from opentelemetry.sdk.trace import SpanProcessor

from benchmarks.context import Context, ScenarioResult, add_timing, new_result
from benchmarks.setups import make_setups
from benchmarks.timing import Pass, clock, interleaved
from benchmarks.workload import SPANS_PER_TRACE, finished_spans

ORDER = 40

SETUPS = ("bsp_noop_deferred", "xray_processor_deferred")


def measure(ctx: Context) -> ScenarioResult:
    result = new_result("application-thread CPU of on_end alone")
    setups = make_setups(SETUPS, ctx, result["missing"])
    traces = ctx.size.traces

    def on_end(processor: SpanProcessor) -> Pass:
        def run() -> Tuple[float, float]:
            spans = finished_spans(traces)
            with clock() as t:
                for span in spans:
                    processor.on_end(span)
            return t[0], t[1]

        return run

    passes: Dict[str, Pass] = {key: on_end(setup.processors[0])
                               for key, setup in setups.items()}
    for key, cpu_wall in interleaved(ctx.size.reps, passes).items():
        add_timing(result, key, setups[key].label, traces * SPANS_PER_TRACE, cpu_wall)
        setups[key].shutdown()
    return result
