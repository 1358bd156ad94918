"""Application-thread CPU per span, paced: the thread waits 1 ms on "I/O" between traces.

Most services spend their time waiting (database, HTTP): between two traces the thread
sleeps 1 ms, releasing the GIL, and the exporting thread works then. Only the creation and
ending of the spans is timed (``time.thread_time``).
"""

from __future__ import annotations

import time
from typing import Dict, Tuple

from opentelemetry.sdk.trace import TracerProvider

from benchmarks.context import Context, ScenarioResult, add_timing, new_result
from benchmarks.setups import lost_note, make_setups
from benchmarks.timing import Pass, interleaved
from benchmarks.workload import SPANS_PER_TRACE, record_trace

ORDER = 30

SETUPS = ("none", "bsp_noop", "xray_processor", "bsp_xray_exporter")
#: The wait between traces.
PACE_SECONDS = 0.001


def measure(ctx: Context) -> ScenarioResult:
    result = new_result("application-thread CPU per span, paced (1 ms sleep between traces)")
    setups = make_setups(SETUPS, ctx, result["missing"])
    providers = {key: setup.provider() for key, setup in setups.items()}
    traces = max(ctx.size.traces // 4, 5)

    def paced(provider: TracerProvider) -> Pass:
        tracer = provider.get_tracer("bench")

        def run() -> Tuple[float, float]:
            cpu = wall = 0.0
            for i in range(traces):
                time.sleep(PACE_SECONDS)
                c0, w0 = time.thread_time(), time.perf_counter()
                record_trace(tracer, i)
                cpu += time.thread_time() - c0
                wall += time.perf_counter() - w0
            provider.force_flush()
            return cpu, wall

        return run

    passes: Dict[str, Pass] = {key: paced(provider) for key, provider in providers.items()}
    spans = traces * SPANS_PER_TRACE
    for key, cpu_wall in interleaved(ctx.size.reps, passes).items():
        notes = lost_note(setups[key], spans * ctx.size.reps)
        add_timing(result, key, setups[key].label, spans, cpu_wall, notes)
        providers[key].shutdown()
    return result
