"""Application-thread CPU per span, flood: one thread creates and ends spans non-stop.

``time.thread_time`` of the thread that records the traces, per span, for each set-up:
no processor; ``BatchSpanProcessor`` + no-op exporter (the peer of the target);
``XRaySpanProcessor``; both again with their export deferred to a flush after the pass (what
``on_end`` and holding the spans cost the thread without a busy worker competing for the GIL
and the caches); ``BatchSpanProcessor`` with real exporters (``XRaySpanExporter``, ADOT) for
the same competition. Every pass records new traces; each is followed by a flush outside
the clocks, and the spans a set-up dropped for a full queue are noted.
"""

from __future__ import annotations

from typing import Dict, Tuple

from opentelemetry.sdk.trace import TracerProvider

from benchmarks.context import Context, ScenarioResult, add_timing, new_result
from benchmarks.setups import lost_note, make_setups
from benchmarks.timing import Pass, clock, interleaved
from benchmarks.workload import SPANS_PER_TRACE, record_trace

ORDER = 20

SETUPS = ("none", "bsp_noop", "xray_processor", "bsp_noop_deferred", "xray_processor_deferred",
          "bsp_xray_exporter", "bsp_adot")


def measure(ctx: Context) -> ScenarioResult:
    result = new_result("application-thread CPU per span, flood")
    setups = make_setups(SETUPS, ctx, result["missing"])
    providers = {key: setup.provider() for key, setup in setups.items()}
    traces = ctx.size.traces

    def flood(provider: TracerProvider) -> Pass:
        tracer = provider.get_tracer("bench")

        def run() -> Tuple[float, float]:
            with clock() as t:
                for i in range(traces):
                    record_trace(tracer, i)
            provider.force_flush()  # this set-up's background work ends before the next
            return t[0], t[1]

        return run

    passes: Dict[str, Pass] = {key: flood(provider) for key, provider in providers.items()}
    spans = traces * SPANS_PER_TRACE
    for key, cpu_wall in interleaved(ctx.size.reps, passes).items():
        providers[key].force_flush()
        notes = lost_note(setups[key], spans * ctx.size.reps)
        add_timing(result, key, setups[key].label, spans, cpu_wall, notes)
        providers[key].shutdown()
    return result
