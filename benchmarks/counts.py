"""Per-span counts that do not depend on the machine's load: instructions, cache misses and
mispredicted branches of our exporter and processor and of the peers they are compared with.

The timed scenarios (``run.py``) swing up to 2x between runs on a shared machine. These
counts do not: valgrind's cachegrind simulates the CPU (one level-1 cache per kind, one
last-level cache, a branch predictor), so the same code on the same spans gives the same
counts to within a few per span. What they leave out is what the kernel does (the UDP sends)
and how fast the real CPU is. Each variant runs twice, each time in a fresh interpreter with
``PYTHONHASHSEED=0``: once making the spans only, once making and sending them; the
difference divided by the spans sent is the cost per span.

    python3 benchmarks/counts.py                     # every variant (needs valgrind; minutes)
    python3 benchmarks/counts.py exporter floor      # some variants
    python3 benchmarks/counts.py --traces 200        # fewer spans (coarser)

Like ``run.py``, it runs in the benchmark environment (``benchmarks/.peers``, where ADOT is
installed), or in this interpreter with ``--here``.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import gc
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Callable, Dict, List, NamedTuple, Optional, Sequence, Tuple

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent

#: The variants, by name: what each sends.
VARIANTS = {
    "exporter": "XRaySpanExporter, batches of 512",
    "processor": "XRaySpanProcessor: on_end 1,000 spans at a time, then force_flush (all "
                 "threads: its worker and on_end)",
    "processor_on_end": "XRaySpanProcessor.on_end alone (what the application thread pays)",
    "floor": "touch floor, batches of 512",
    "adot": "ADOT OTLPUdpSpanExporter, batches of 10",
}
#: Traces exported by default (10 spans each), after 50 traces of warm-up.
TRACES = 500
_WARM_TRACES = 50
_EVENTS = ("Ir", "I1mr", "ILmr", "Dr", "D1mr", "DLmr", "Dw", "D1mw", "DLmw", "Bc", "Bcm",
           "Bi", "Bim")


class Counts(NamedTuple):
    """Per-span counts of one variant."""

    instructions: float
    l1_misses: float  # instruction + data, reads and writes
    ll_misses: float
    mispredicted: float  # conditional + indirect branches

    @property
    def estimated_cycles(self) -> float:
        """KCachegrind's cycle estimate: Ir + 10 x (L1 misses + mispredicted) + 100 x LL misses."""
        return self.instructions + 10 * (self.l1_misses + self.mispredicted) + 100 * self.ll_misses


def counts_per_span(setup: Dict[str, int], run: Dict[str, int], spans: int) -> Counts:
    """The per-span difference between a run that sent ``spans`` spans and its set-up."""

    def per_span(*events: str) -> float:
        return sum(run[e] - setup[e] for e in events) / spans

    return Counts(
        per_span("Ir"),
        per_span("I1mr", "D1mr", "D1mw"),
        per_span("ILmr", "DLmr", "DLmw"),
        per_span("Bcm", "Bim"),
    )


def read_summary(text: str) -> Dict[str, int]:
    """The totals of a cachegrind output file (its ``events:`` and ``summary:`` lines)."""
    events: List[str] = []
    for line in text.splitlines():
        if line.startswith("events:"):
            events = line.split()[1:]
        elif line.startswith("summary:"):
            return dict(zip(events, map(int, line.split()[1:])))
    raise ValueError("not a cachegrind output file: no summary line")


# -- what runs under valgrind ----------------------------------------------------------------


class Sender(NamedTuple):
    """How a variant sends finished spans, and how it finishes what it was given so far."""

    send: Callable[[List[ReadableSpan]], None]
    settle: Callable[[], None]
    """Called before the measured sending, in both runs alike: a processor whose export is
    deferred exports what it holds now, so that its worker, which wakes at the latest after
    a minute (and a run under valgrind lasts longer), has nothing left to do while
    ``on_end`` alone is measured."""


def _nothing() -> None:
    pass


def _sender(variant: str, address: str) -> Sender:
    """How ``variant`` sends a list of finished spans."""
    from benchmarks import ours
    from benchmarks.peers import ADOT_BATCH, BSP_BATCH, Peers, TouchFloorExporter
    from benchmarks.setups import export_in_batches, hand_over

    if variant in ("exporter", "floor", "adot"):
        exporter: Optional[SpanExporter]
        if variant == "exporter":
            exporter, size = ours.exporter(address), BSP_BATCH
        elif variant == "floor":
            exporter, size = TouchFloorExporter(address), BSP_BATCH
        else:
            exporter, size = Peers.load().adot_exporter(address), ADOT_BATCH
        if exporter is None:
            raise SystemExit("ADOT (aws-opentelemetry-distro) is not installed here")
        chosen = exporter
        return Sender(lambda spans: export_in_batches(chosen, spans, size), _nothing)
    if variant == "processor":
        processor = ours.processor(address)
        return Sender(lambda spans: hand_over(processor, spans), _nothing)
    if variant == "processor_on_end":
        deferred = ours.processor(address, deferred=True)

        def on_end_only(spans: List[ReadableSpan]) -> None:
            for span in spans:
                deferred.on_end(span)

        def export_held() -> None:
            deferred.force_flush()

        return Sender(on_end_only, export_held)
    raise SystemExit(f"unknown variant {variant!r}; there are: {', '.join(VARIANTS)}")


def drive(variant: str, traces: int, send: bool) -> None:
    """Make ``traces`` traces of finished spans and, if ``send``, send them as ``variant``
    does (after a warm-up).

    Under valgrind the caller ends the process at once afterwards (``os._exit``): tearing
    the interpreter down frees the spans in one run and not in the other (a processor that
    still holds them), which would count as the variant's cost.
    """
    from benchmarks import workload

    random.seed(0)  # the same span ids every run: dict and set probes as in the other run
    sink = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sink.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
    sink.bind(("127.0.0.1", 0))
    sender = _sender(variant, f"127.0.0.1:{sink.getsockname()[1]}")
    sender.send(workload.finished_spans(_WARM_TRACES))
    spans = workload.finished_spans(traces)
    sender.settle()
    # The heap made so far is not the measured code's to sweep; and under valgrind (~50x
    # slower) the GIL must change hands as rarely as it does natively.
    gc.collect()
    gc.freeze()
    sys.setswitchinterval(2.0)
    if send:
        sender.send(spans)
    sink.close()


# -- running valgrind --------------------------------------------------------------------------


def _cachegrind(python: str, variant: str, traces: int, send: bool) -> Dict[str, int]:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "cachegrind.out"
        env = {**os.environ, "PYTHONHASHSEED": "0", "PYTHONPATH": str(ROOT)}
        subprocess.run(
            ["valgrind", "--tool=cachegrind", "--cache-sim=yes", "--branch-sim=yes",
             f"--cachegrind-out-file={out}", python, "-m", "benchmarks.counts", "--drive",
             variant, "--traces", str(traces), *(["--send"] if send else [])],
            check=True, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )
        return read_summary(out.read_text())


def count(python: str, variant: str, traces: int) -> Counts:
    """The per-span counts of ``variant`` (two valgrind runs of ``python``)."""
    from benchmarks.workload import SPANS_PER_TRACE

    setup = _cachegrind(python, variant, traces, send=False)
    run = _cachegrind(python, variant, traces, send=True)
    return counts_per_span(setup, run, traces * SPANS_PER_TRACE)


def render(results: Dict[str, Counts]) -> str:
    """The counts as a markdown table, with ratios to the touch floor where it was counted."""
    floor = results.get("floor")
    lines = [
        "| variant | instructions | L1 misses | LL misses | mispredicted branches "
        "| est. cycles | est. cycles vs the floor |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name, counts in results.items():
        ratio = f"{counts.estimated_cycles / floor.estimated_cycles:.2f}x" if floor else "n/a"
        lines.append(
            f"| {VARIANTS[name]} | {counts.instructions:,.0f} | {counts.l1_misses:,.0f} "
            f"| {counts.ll_misses:,.1f} | {counts.mispredicted:,.0f} "
            f"| {counts.estimated_cycles:,.0f} | {ratio} |"
        )
    lines.append("")
    lines.append("Per span. est. cycles: instructions + 10 x (L1 misses + mispredicted branches) "
                 "+ 100 x LL misses (KCachegrind's estimate).")
    targets = _targets(results)
    if targets:
        lines += ["", "| throughput, by estimated cycles | ratio | target |", "|---|---:|---|"]
        lines += [f"| {label} | {ratio:.2f}x | {target} |" for label, ratio, target in targets]
    return "\n".join(lines) + "\n"


def _targets(results: Dict[str, Counts]) -> List[Tuple[str, float, str]]:
    """Issue 8's throughput targets, as the estimated cycles put them: a sender's throughput
    is the inverse of its cycles per span. The worker's cycles are the processor's (every
    thread) less ``on_end``'s (the application thread's)."""
    cycles = {name: counts.estimated_cycles for name, counts in results.items()}
    if "processor" in cycles and "processor_on_end" in cycles:
        cycles["worker"] = cycles["processor"] - cycles["processor_on_end"]
    rows = []
    for ours, label in (("exporter", "XRaySpanExporter"), ("worker", "XRaySpanProcessor worker")):
        for peer, peer_label, target in (("floor", "the touch floor", ">= 0.5x"),
                                         ("adot", "ADOT", ">= 4x")):
            if ours in cycles and peer in cycles:
                rows.append((f"{label} vs {peer_label}", cycles[peer] / cycles[ours], target))
    return rows


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="benchmarks/counts.py", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("variants", nargs="*", metavar="VARIANT",
                        help=f"count only these (default: all): {', '.join(VARIANTS)}")
    parser.add_argument("--traces", type=int, default=TRACES, help="traces sent per variant")
    parser.add_argument("--here", action="store_true",
                        help="run in this interpreter (peers not installed are left out)")
    parser.add_argument("--drive", choices=list(VARIANTS), help=argparse.SUPPRESS)
    parser.add_argument("--send", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.drive:
        drive(args.drive, args.traces, args.send)
        sys.stdout.flush()
        os._exit(0)
    unknown = [name for name in args.variants if name not in VARIANTS]
    if unknown:
        parser.error(f"unknown variant(s) {', '.join(unknown)}; there are: {', '.join(VARIANTS)}")
    if shutil.which("valgrind") is None:
        raise SystemExit("valgrind is not installed (e.g. apt-get install valgrind)")
    python = sys.executable
    if not args.here:
        from benchmarks.run import peers_python

        python = str(peers_python())
    variants = list(args.variants or VARIANTS)
    with concurrent.futures.ThreadPoolExecutor(os.cpu_count() or 1) as pool:
        futures = {name: pool.submit(count, python, name, args.traces) for name in variants}
        results = {}
        for name, future in futures.items():
            try:
                results[name] = future.result()
            except subprocess.CalledProcessError as exc:
                print(f"{name}: failed:\n{exc.stderr.decode(errors='replace')[-2000:]}",
                      file=sys.stderr)
    print(render(results))
    return 0


if __name__ == "__main__":
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    sys.exit(main())
