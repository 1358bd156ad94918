"""Export throughput: spans per CPU second from finished spans to datagrams sent.

Every pass gets fresh spans (made outside the clocks), cut into batches as
``BatchSpanProcessor`` would, through ``XRaySpanExporter.export`` (batches of 512, BSP's
default, and of 10), the touch floor (batches of 512) and ADOT's ``OTLPUdpSpanExporter``
(batches of 10, ADOT's own setting, and 100). CPU is the calling thread's. The
``XRaySpanProcessor`` gets the spans with ``on_end``, 1,000 at a time, each chunk followed by
``force_flush`` (nothing dropped for overflow); only the CPU of the threads it started (its
worker) is counted.
"""

from __future__ import annotations

import threading
from typing import Callable, Dict, List, NamedTuple, Tuple

from opentelemetry.sdk.trace import SpanProcessor
from opentelemetry.sdk.trace.export import SpanExporter

from benchmarks import ours
from benchmarks.context import Context, ScenarioResult, add_timing, new_result
from benchmarks.peers import (
    ADOT_BATCH,
    ADOT_BIG_BATCH,
    ADOT_MISSING,
    BSP_BATCH,
    TouchFloorExporter,
    TouchFloorWorker,
)
from benchmarks.setups import export_in_batches, hand_over
from benchmarks.timing import NewThreadsCpu, Pass, clock, interleaved
from benchmarks.workload import SPANS_PER_TRACE, finished_spans

ORDER = 10


def measure(ctx: Context) -> ScenarioResult:
    result = new_result("export throughput (spans per CPU second of the exporting thread)")
    sink = ctx.sink
    traces = ctx.size.traces
    exporters: Dict[str, Tuple[str, SpanExporter, int]] = {
        f"xray_exporter_{BSP_BATCH}": (
            f"XRaySpanExporter, batches of {BSP_BATCH}", ours.exporter(sink.address), BSP_BATCH),
        f"xray_exporter_{ADOT_BATCH}": (
            f"XRaySpanExporter, batches of {ADOT_BATCH}", ours.exporter(sink.address),
            ADOT_BATCH),
        f"touch_floor_{BSP_BATCH}": (
            f"touch floor (ids, times, attributes; nest; one dumps + send per trace), "
            f"batches of {BSP_BATCH}", TouchFloorExporter(sink.address), BSP_BATCH),
    }
    for size in (ADOT_BATCH, ADOT_BIG_BATCH):
        adot = ctx.peers.adot_exporter(sink.address)
        if adot is not None:
            exporters[f"adot_{size}"] = (f"ADOT OTLPUdpSpanExporter, batches of {size}", adot,
                                         size)
    if ctx.peers.adot is None:
        result["missing"].append(ADOT_MISSING)

    def exporter_pass(exporter: SpanExporter, size: int) -> Pass:
        def run() -> Tuple[float, float]:
            spans = finished_spans(traces)
            sink.reset()
            with clock() as t:
                export_in_batches(exporter, spans, size)
            sink.settle()
            return t[0], t[1]

        return run

    passes: Dict[str, Pass] = {key: exporter_pass(exporter, size)
                               for key, (_, exporter, size) in exporters.items()}
    labels = {key: label for key, (label, _, _) in exporters.items()}
    workers = {
        "xray_processor_worker": _worker_pass(
            ctx, "XRaySpanProcessor worker thread", lambda: ours.processor(sink.address),
            ours.dropped, _not_floor_thread),
        f"touch_floor_worker_{BSP_BATCH}": _worker_pass(
            ctx, f"touch floor in a background thread (TouchFloorWorker), batches of {BSP_BATCH}",
            lambda: TouchFloorWorker(sink.address), lambda _: 0, _floor_thread),
    }
    for key, worker in workers.items():
        passes[key] = worker.run
        labels[key] = worker.label
    for key, cpu_wall in interleaved(ctx.size.reps, passes).items():
        notes = workers[key].notes() if key in workers else []
        add_timing(result, key, labels[key], traces * SPANS_PER_TRACE, cpu_wall, notes)
    for _, exporter, _ in exporters.values():
        exporter.shutdown()
    for worker in workers.values():
        worker.stop()
    return result


class _Worker(NamedTuple):
    """A processor's worker measured: its label, its pass, its notes, how to stop it."""

    label: str
    run: Pass
    notes: Callable[[], List[str]]
    stop: Callable[[], None]


def _floor_thread(thread: threading.Thread) -> bool:
    return thread.name == TouchFloorWorker.THREAD


def _not_floor_thread(thread: threading.Thread) -> bool:
    return not _floor_thread(thread)


def _worker_pass(
    ctx: Context, label: str, make: Callable[[], SpanProcessor],
    lost: Callable[[SpanProcessor], int], select: Callable[[threading.Thread], bool],
) -> _Worker:
    """A processor fed finished spans; the CPU of the threads it started that ``select``
    accepts (each worker's own, when two are alive)."""
    threads = NewThreadsCpu(select)
    processor = make()

    def run() -> Tuple[float, float]:
        spans = finished_spans(ctx.size.traces)
        ctx.sink.reset()
        before = threads.sample()
        with clock() as t:
            hand_over(processor, spans, between=threads.sample)  # notice a lazy worker
        used = threads.used_since(before)
        ctx.sink.settle()
        return used, t[1]

    def notes() -> List[str]:
        out = [f"{threads.count} processor thread(s)"]
        if threads.count == 0:
            out.append("no worker thread found: CPU is 0")
        dropped = lost(processor)
        if dropped:
            out.append(f"{dropped:,} spans dropped")
        return out

    return _Worker(label, run, notes, processor.shutdown)
