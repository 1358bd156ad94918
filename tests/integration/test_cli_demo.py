"""``otel-xray demo``: the README's first command, run as a user would and read like one."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Dict, List

import pytest

from otel_xray.cli.demo import ORDERS

ROOT = Path(__file__).resolve().parents[2]
TIMEOUT_SECONDS = 60


def _environment() -> Dict[str, str]:
    env = dict(os.environ)
    # The demo must not need (or touch) AWS configuration or credentials.
    for name in list(env):
        if name.startswith("AWS_"):
            del env[name]
    env["AWS_CONFIG_FILE"] = os.devnull
    env["AWS_SHARED_CREDENTIALS_FILE"] = os.devnull
    env.pop("NO_COLOR", None)
    return env


def _run(argv: List[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, cwd=ROOT, env=_environment(), capture_output=True, text=True,
                          timeout=TIMEOUT_SECONDS)


@pytest.fixture(scope="module")
def demo() -> subprocess.CompletedProcess[str]:
    """One run of ``otel-xray demo`` (the console script when installed)."""
    script = shutil.which("otel-xray", path=str(Path(sys.executable).parent))
    argv = [script] if script else [sys.executable, "-m", "otel_xray"]
    return _run([*argv, "demo"])


def _waterfalls(output: str) -> List[str]:
    """Each trace's block of lines, from its ``Trace`` header to the blank line after it."""
    return [block for block in output.split("\n\n") if block.startswith("Trace 1-")]


def test_demo_exits_0(demo: subprocess.CompletedProcess[str]) -> None:
    assert demo.returncode == 0, demo.stdout + demo.stderr


def test_demo_prints_one_waterfall_per_request(demo: subprocess.CompletedProcess[str]) -> None:
    assert len(_waterfalls(demo.stdout)) == len(ORDERS)


def test_demo_summary_has_every_trace_and_no_problems(
    demo: subprocess.CompletedProcess[str],
) -> None:
    summary = demo.stdout.strip().splitlines()[-1]
    assert re.fullmatch(
        rf"otel-xray demo: {len(ORDERS)} traces, \d+ documents, 0 problems, 0 warnings", summary
    ), summary
    assert "REJECTED" not in demo.stdout


def test_demo_traces_cross_both_services(demo: subprocess.CompletedProcess[str]) -> None:
    for block in _waterfalls(demo.stdout):
        assert "2 segments" in block.splitlines()[0]
        names = [line.split()[0] for line in block.splitlines()[1:] if line.startswith("  ")]
        assert names[0] == "demo-frontend" and "demo-orders" in names


def test_demo_trace_shows_database_and_aws_calls(
    demo: subprocess.CompletedProcess[str],
) -> None:
    ok = _waterfalls(demo.stdout)[0]
    assert re.search(r"^\s+DynamoDB\s+aws\s", ok, re.MULTILINE)
    assert "SELECT" in ok or "sqlite" in ok or "shop.db" in ok


def test_demo_failing_request_is_marked_as_a_fault(
    demo: subprocess.CompletedProcess[str],
) -> None:
    failed = [b for b in _waterfalls(demo.stdout) if " fault" in b]
    assert len(failed) == 1
    assert "LookupError: no product '999'" in failed[0]
    assert "GET /checkout/999 -> 502" in demo.stdout


def test_demo_output_is_plain_text_when_not_a_terminal(
    demo: subprocess.CompletedProcess[str],
) -> None:
    assert "\033[" not in demo.stdout


def test_demo_json_prints_documents(tmp_path: Path) -> None:
    result = _run([sys.executable, "-m", "otel_xray", "demo", "--json"])
    assert result.returncode == 0, result.stderr
    documents = [line for line in result.stdout.splitlines() if line.startswith("{")]
    assert documents and len(documents) == len(result.stdout.splitlines())
    assert f"{len(ORDERS)} traces" in result.stderr
