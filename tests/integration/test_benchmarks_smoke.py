"""Every benchmark scenario runs end to end in tiny mode, so that none can rot.

No timing is asserted (machines are noisy): only that each scenario produces its figures
without problems, that the datagrams our senders produced during the benchmark are valid
X-Ray documents, every span exactly once, and that the report reads what the run wrote.
ADOT (aws-opentelemetry-distro) is not part of the test extra: its rows are "n/a" here.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict, List, Sequence, Tuple

import pytest

from benchmarks import report, run
from benchmarks.peers import HEADER
from tests.support.helpers import assert_valid_document

ROOT = Path(__file__).resolve().parents[2]
SCENARIOS = list(run.discover())

Tiny = Tuple[Dict[str, Any], Dict[str, List[bytes]]]


@pytest.fixture(scope="module")
def tiny() -> Tiny:
    """Every scenario in tiny mode: the raw results, and the datagrams the checks saw."""
    kept: Dict[str, List[bytes]] = {}

    def inspect(variant: str, datagrams: Sequence[bytes]) -> None:
        kept[variant] = list(datagrams)

    return run.run("tiny", sink_in_thread=True, inspect=inspect), kept


def test_every_scenario_module_is_found() -> None:
    assert {"export", "app_flood", "app_paced", "on_end", "end_to_end", "datagrams",
            "memory", "import_time"} <= set(SCENARIOS)


@pytest.mark.parametrize("name", SCENARIOS)
def test_scenario_produces_figures_without_problems(tiny: Tiny, name: str) -> None:
    result = tiny[0]["scenarios"][name]
    assert result["problems"] == []
    assert result["timings"] or result["figures"]
    for timing in result["timings"].values():
        assert timing["spans"] > 0
        assert timing["cpu_s"] >= 0
        assert timing["wall_s"] > 0


def test_datagrams_of_our_senders_are_valid_xray_documents(tiny: Tiny) -> None:
    ours = {variant: datagrams for variant, datagrams in tiny[1].items()
            if variant.startswith("xray_") and variant != "xray_sdk"}
    assert {"xray_processor", "xray_exporter_512", "xray_exporter_10"} <= set(ours)
    for datagrams in ours.values():
        assert datagrams
        for datagram in datagrams:
            head, _, body = datagram.partition(b"\n")
            assert head + b"\n" == HEADER
            assert_valid_document(body)


def test_every_summary_row_without_adot_has_figures(tiny: Tiny) -> None:
    raw = json.loads(json.dumps(tiny[0]))  # what --json writes
    for row in report.ROWS:
        refs = [row.ours] + ([row.peer] if row.peer else [])
        if any("adot" in ref[2] for ref in refs):
            continue
        measure, ours, peer, ratio, _, met = report.summary_line(raw, row)
        assert "n/a" not in (ours, peer, ratio, met), measure


def test_run_writes_json_that_the_report_renders(tmp_path: Path) -> None:
    out = tmp_path / "raw.json"
    subprocess.run([sys.executable, "benchmarks/run.py", "--here", "--tiny", "on_end",
                    "--json", str(out)], cwd=ROOT, check=True, capture_output=True)
    assert list(json.loads(out.read_text())["scenarios"]) == ["on_end"]
    rendered = subprocess.run([sys.executable, "-m", "benchmarks.report", str(out)], cwd=ROOT,
                              check=True, capture_output=True, text=True).stdout
    assert "| measure | otel-xray | peer | ratio | target | met |" in rendered
    assert "app-thread CPU of on_end alone" in rendered


def test_our_deferred_setup_uses_limits_in_range() -> None:
    # Out of range, a limit falls back to its default (logged once per process): the
    # "deferred" processor would export on its own, not on the flush the report describes.
    from benchmarks import ours
    from otel_xray import processor

    settings = {setting.name: setting for setting in (
        processor.MAX_QUEUE_SIZE, processor.MAX_EXPORT_BATCH_SIZE,
        processor.SCHEDULE_DELAY_MILLIS)}
    for name, value in ours.DEFERRED.items():
        setting = settings[name]
        assert setting.minimum <= value <= setting.maximum, name
