"""CPU clocks and interleaved passes.

Other processes share the machine, so CPU time is the primary figure, taken per thread
where that isolates the cost: ``time.thread_time`` of the calling thread, the CPU clock of
the threads a processor started (:class:`NewThreadsCpu`), or ``time.process_time`` where
background threads are part of the cost.
"""

from __future__ import annotations

import contextlib
import gc
import statistics
import threading
import time
from typing import Callable, Dict, Iterator, List, Tuple

#: One timed pass: returns (CPU seconds, wall seconds). Work that must not be timed
#: (making fresh spans, waiting for the sink) happens inside it, outside the clocks.
Pass = Callable[[], Tuple[float, float]]


@contextlib.contextmanager
def clock(cpu: Callable[[], float] = time.thread_time) -> Iterator[List[float]]:
    """Yields a list that holds [CPU seconds, wall seconds] of the block once it ends."""
    out: List[float] = []
    c0, w0 = cpu(), time.perf_counter()
    yield out
    out.extend((cpu() - c0, time.perf_counter() - w0))


def interleaved(reps: int, passes: Dict[str, Pass]) -> Dict[str, Tuple[float, float]]:
    """Median (CPU, wall) of each pass, the passes interleaved rep by rep.

    Interleaving, with the order reversed every other rep, spreads any drift in the
    machine's load over every variant alike.
    """
    samples: Dict[str, List[Tuple[float, float]]] = {name: [] for name in passes}
    names = list(passes)
    for rep in range(reps):
        for name in names if rep % 2 == 0 else reversed(names):
            gc.collect()
            samples[name].append(passes[name]())
    return {
        name: (statistics.median(c for c, _ in runs), statistics.median(w for _, w in runs))
        for name, runs in samples.items()
    }


def _thread_cpu_clock(thread: threading.Thread) -> Callable[[], float]:
    """A function returning the CPU seconds ``thread`` has used so far (Linux/macOS)."""
    ident = thread.ident
    if ident is None or not hasattr(time, "pthread_getcpuclockid"):
        return lambda: 0.0
    cid = time.pthread_getcpuclockid(ident)
    return lambda: time.clock_gettime(cid)


class NewThreadsCpu:
    """CPU seconds of the threads started after this object was made (a processor's worker),
    of those that ``select`` accepts.

    Call :meth:`sample` now and then so that a thread started lazily is noticed.
    """

    def __init__(self, select: Callable[[threading.Thread], bool] = lambda thread: True) -> None:
        self._before = {t.ident for t in threading.enumerate()}
        self._select = select
        self._clocks: Dict[int, Callable[[], float]] = {}

    @property
    def count(self) -> int:
        return len(self._clocks)

    def sample(self) -> Dict[int, float]:
        for thread in threading.enumerate():
            ident = thread.ident
            if (
                ident is not None and ident not in self._before and ident not in self._clocks
                and self._select(thread)
            ):
                self._clocks[ident] = _thread_cpu_clock(thread)
        out: Dict[int, float] = {}
        for ident, read in self._clocks.items():
            with contextlib.suppress(OSError):  # the thread ended
                out[ident] = read()
        return out

    def used_since(self, start: Dict[int, float]) -> float:
        now = self.sample()
        return sum(value - start.get(ident, 0.0) for ident, value in now.items())
