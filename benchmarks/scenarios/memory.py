"""Peak memory while 1,000,000 spans go through ``XRaySpanProcessor``, in a fresh process.

The measurement runs in a child interpreter (this module run with ``-m``) that sends to the
run's sink, so that neither the other scenarios' garbage nor their peers count. Its thread
creates traces as fast as it can but waits whenever more than 1,000 spans are
queued, so that every span is *sent*, not dropped: memory must stay flat because the
processor releases what it sent. RSS (``/proc/self/statm``) is read every 1,000 spans; the
peak over the first 100,000 spans is compared with the peak over all of them.
"""

from __future__ import annotations

import gc
import json
import logging
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import List

from benchmarks import ours
from benchmarks.context import SIZES, Context, ScenarioResult, Size, add_figure, new_result
from benchmarks.workload import SPANS_PER_TRACE, make_provider, record_trace

ORDER = 90

MB = 2**20
#: Spans queued above which the recording thread waits for the worker.
MAX_QUEUED = 1000


def _rss_bytes() -> int:
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def measure(ctx: Context) -> ScenarioResult:
    root = Path(__file__).resolve().parents[2]
    child = subprocess.run(
        [sys.executable, "-m", "benchmarks.scenarios.memory", ctx.size.name, ctx.sink.address],
        cwd=root, capture_output=True, text=True)
    if child.returncode != 0:
        raise RuntimeError(f"the memory child process failed:\n{child.stderr}")
    result: ScenarioResult = json.loads(child.stdout)
    return result


def _measure_here(size: Size, address: str) -> ScenarioResult:
    """The measurement itself, in the child process."""
    result = new_result(f"memory: {size.memory_spans:,} spans through XRaySpanProcessor")
    processor = ours.processor(address)
    provider = make_provider(processor)
    tracer = provider.get_tracer("bench")
    gc.collect()
    base = _rss_bytes()
    peak_early = peak = base
    traces = size.memory_spans // SPANS_PER_TRACE
    checkpoint = size.memory_checkpoint // SPANS_PER_TRACE
    tenth = max(traces // 10, 1)
    trajectory: List[str] = []
    waited = 0.0
    t0 = time.perf_counter()
    for i in range(traces):
        record_trace(tracer, i)
        if i % 100 == 99:
            peak = max(peak, _rss_bytes())
            if i < checkpoint:
                peak_early = peak
            w0 = time.perf_counter()
            while ours.queued(processor) > MAX_QUEUED:
                time.sleep(0.0005)
            waited += time.perf_counter() - w0
        if i % tenth == tenth - 1:
            trajectory.append(f"{_rss_bytes() / MB:.0f}")
    provider.force_flush()
    wall = time.perf_counter() - t0
    peak = max(peak, _rss_bytes())
    sent, lost = ours.sent(processor), ours.dropped(processor)
    provider.shutdown()
    later = size.memory_spans - size.memory_checkpoint
    growth = peak - peak_early
    if lost or sent != size.memory_spans:
        result["problems"].append(f"memory: {sent:,} spans sent, {lost:,} dropped, of "
                                  f"{size.memory_spans:,}")
    add_figure(result, "rss_before", "RSS before", base / MB, "MB")
    add_figure(result, "peak_early", f"peak RSS, first {size.memory_checkpoint:,} spans",
               peak_early / MB, "MB")
    add_figure(result, "peak", f"peak RSS, all {size.memory_spans:,} spans", peak / MB, "MB",
               "RSS (MB) after each tenth: " + ", ".join(trajectory))
    add_figure(result, "growth_per_span", "growth after the checkpoint, per later span",
               growth / later if later else 0.0, "B", f"{growth / MB:+.1f} MB")
    add_figure(result, "spans_sent", "spans sent", sent)
    add_figure(result, "spans_dropped", "spans dropped", lost)
    add_figure(result, "wall", "wall time", wall, "s",
               f"{size.memory_spans / wall:,.0f} spans/s created and sent; "
               f"{waited:.1f} s waiting for the queue")
    return result


if __name__ == "__main__":
    logging.basicConfig(level=logging.ERROR)
    print(json.dumps(_measure_here(SIZES[sys.argv[1]], sys.argv[2])))
