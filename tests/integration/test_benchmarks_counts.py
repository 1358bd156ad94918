"""benchmarks/counts.py: the variants it runs under valgrind work, and its arithmetic is right.

Valgrind itself is not run here (minutes per variant); the drivers run as valgrind would
start them, in a subprocess, and the counts are computed from cachegrind's own file format.
"""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks import counts, run
from benchmarks.peers import Peers

ROOT = Path(__file__).resolve().parents[2]

# The header and summary lines of a cachegrind output file (--cache-sim=yes --branch-sim=yes).
SETUP = """desc: I1 cache: 32768 B, 64 B, 8-way associative
cmd: python -m benchmarks.counts --drive floor --traces 500
events: Ir I1mr ILmr Dr D1mr DLmr Dw D1mw DLmw Bc Bcm Bi Bim
fl=???
summary: 1000000 100 10 400000 300 20 200000 50 5 90000 7000 20000 3000
"""
RUN = SETUP.replace(
    "summary: 1000000 100 10 400000 300 20 200000 50 5 90000 7000 20000 3000",
    "summary: 1500000 300 10 500000 400 40 300000 150 5 99000 8000 21000 4000",
)


@pytest.mark.parametrize("variant", [v for v in counts.VARIANTS if v != "adot"])
def test_each_variant_runs_as_valgrind_starts_it(variant: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.counts", "--drive", variant, "--traces", "3",
         "--send"],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 0, done.stderr


def test_the_on_end_variant_exports_what_it_holds_before_on_end_is_measured() -> None:
    # Its worker wakes once a minute at the latest: spans left queued before the measured
    # on_end calls would be exported during them in one run and not in the other.
    from benchmarks import workload

    sink = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sink.bind(("127.0.0.1", 0))
    sink.settimeout(10)
    try:
        sender = counts._sender("processor_on_end", f"127.0.0.1:{sink.getsockname()[1]}")
        sender.send(workload.finished_spans(2))
        sender.settle()
        received = [sink.recv(65536), sink.recv(65536)]  # one document per trace
    finally:
        sink.close()
    assert all(datagram.startswith(b'{"format":"json","version":1}\n') for datagram in received)


def test_the_adot_variant_runs_where_adot_is_installed() -> None:
    if Peers.load().adot is None:
        pytest.skip("aws-opentelemetry-distro is not installed (the benchmark environment has it)")
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.counts", "--drive", "adot", "--traces", "3", "--send"],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 0, done.stderr


def test_read_summary_reads_the_events_by_name() -> None:
    summary = counts.read_summary(SETUP)
    assert summary["Ir"] == 1_000_000
    assert summary["Bim"] == 3000


def test_read_summary_rejects_a_file_without_a_summary() -> None:
    with pytest.raises(ValueError, match="no summary"):
        counts.read_summary("events: Ir\n")


def test_counts_per_span_are_the_run_minus_the_setup_per_span() -> None:
    per_span = counts.counts_per_span(counts.read_summary(SETUP), counts.read_summary(RUN), 100)
    assert per_span == counts.Counts(
        instructions=5000.0,  # 500,000 more instructions over 100 spans
        l1_misses=(200 + 100 + 100) / 100,  # I1mr + D1mr + D1mw
        ll_misses=(0 + 20 + 0) / 100,  # ILmr + DLmr + DLmw
        mispredicted=(1000 + 1000) / 100,  # Bcm + Bim
    )
    assert per_span.estimated_cycles == 5000 + 10 * (4 + 20) + 100 * 0.2


def test_the_table_compares_each_variant_with_the_floor() -> None:
    floor = counts.Counts(1000.0, 10.0, 0.0, 10.0)  # 1,200 estimated cycles
    table = counts.render({"floor": floor, "exporter": floor._replace(instructions=2200.0)})
    assert "| touch floor, batches of 512 | 1,000 |" in table
    assert "| XRaySpanExporter, batches of 512 | 2,200 | 10 | 0.0 | 10 | 2,400 | 2.00x |" in table
    assert "| XRaySpanExporter vs the touch floor | 0.50x | >= 0.5x |" in table


def test_an_unknown_variant_is_refused_with_the_known_ones() -> None:
    done = subprocess.run(
        [sys.executable, "benchmarks/counts.py", "--here", "nonsense"],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 2
    assert "unknown variant(s) nonsense; there are: exporter" in done.stderr


def test_counts_is_not_taken_for_a_scenario() -> None:
    assert "counts" not in run.discover()


def test_the_targets_compare_throughput_the_worker_without_on_end() -> None:
    table = counts.render({
        "floor": counts.Counts(1000.0, 0.0, 0.0, 0.0),
        "adot": counts.Counts(10000.0, 0.0, 0.0, 0.0),
        "processor": counts.Counts(2600.0, 0.0, 0.0, 0.0),
        "processor_on_end": counts.Counts(100.0, 0.0, 0.0, 0.0),  # the worker: 2,500
    })
    assert "| XRaySpanProcessor worker vs the touch floor | 0.40x | >= 0.5x |" in table
    assert "| XRaySpanProcessor worker vs ADOT | 4.00x | >= 4x |" in table
    assert "XRaySpanExporter vs" not in table  # not counted
