"""What every scenario receives (:class:`Context`) and returns (:class:`ScenarioResult`).

A scenario is a module with ``measure(ctx: Context) -> ScenarioResult`` (see
``benchmarks/run.py`` for how scenarios are found). It returns raw measurements only, as
plain JSON-able data: ``benchmarks/report.py`` computes the ratios against the peers and
checks the targets, so a run can be re-reported without being re-run.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Dict, List, Sequence, Tuple, TypedDict

from benchmarks.peers import Peers
from benchmarks.sink import UdpSink


@dataclass(frozen=True)
class Size:
    """How big one run is."""

    name: str
    traces: int  # traces per timed pass (x10 spans)
    reps: int  # timed passes per variant (the median is kept)
    check_traces: int  # traces whose datagrams are all parsed and checked
    memory_spans: int  # spans through the processor for the memory figure
    memory_checkpoint: int  # spans after which the first peak is read
    import_runs: int  # fresh interpreters per import-time figure (the median is kept)


FULL = Size("full", traces=2000, reps=5, check_traces=500, memory_spans=1_000_000,
            memory_checkpoint=100_000, import_runs=9)
QUICK = Size("quick", traces=500, reps=3, check_traces=200, memory_spans=200_000,
             memory_checkpoint=20_000, import_runs=5)
TINY = Size("tiny", traces=30, reps=1, check_traces=30, memory_spans=1_000,
            memory_checkpoint=200, import_runs=1)
SIZES = {size.name: size for size in (FULL, QUICK, TINY)}


def _ignore(variant: str, datagrams: Sequence[bytes]) -> None:
    pass


@dataclass(frozen=True)
class Context:
    """What a scenario may use: the sizes, the UDP sink every sender points at, the peers.

    ``inspect`` is called with every batch of datagrams a scenario kept and checked (the
    smoke test validates them against the X-Ray schema).
    """

    size: Size
    sink: UdpSink
    peers: Peers
    inspect: Callable[[str, Sequence[bytes]], None] = field(default=_ignore)


class Timing(TypedDict):
    """One timed variant: medians over the passes of CPU and wall seconds for ``spans``."""

    label: str
    spans: int
    cpu_s: float
    wall_s: float
    notes: List[str]


class Figure(TypedDict):
    """One figure that is not a timing (datagrams per trace, MB, ms ...)."""

    label: str
    value: float
    unit: str
    note: str


class ScenarioResult(TypedDict):
    """The raw measurements of one scenario."""

    title: str
    timings: Dict[str, Timing]
    figures: Dict[str, Figure]
    problems: List[str]  # something measured is wrong (lost spans, invalid datagrams)
    missing: List[str]  # a peer that is not installed here


def new_result(title: str) -> ScenarioResult:
    return ScenarioResult(title=title, timings={}, figures={}, problems=[], missing=[])


def add_timing(result: ScenarioResult, key: str, label: str, spans: int,
               cpu_wall: Tuple[float, float], notes: Sequence[str] = ()) -> None:
    result["timings"][key] = Timing(label=label, spans=spans, cpu_s=cpu_wall[0],
                                    wall_s=cpu_wall[1], notes=list(notes))


def add_figure(result: ScenarioResult, key: str, label: str, value: float, unit: str = "",
               note: str = "") -> None:
    result["figures"][key] = Figure(label=label, value=float(value), unit=unit, note=note)
