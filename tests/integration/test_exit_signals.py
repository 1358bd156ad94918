"""``configure(flush_on_exit_signals=True)``: a SIGTERM right after a request loses nothing.

Each test runs a real process (tests/integration/apps/sigterm_app.py) that ends a traced
request and then waits; the test sends SIGTERM as soon as the request is done, before the
processor's schedule delay would have sent anything.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import List

import pytest

from tests.support.udp import UdpListener

pytestmark = pytest.mark.skipif(not hasattr(signal, "SIGTERM") or os.name != "posix",
                                reason="POSIX signals")

REPO = Path(__file__).resolve().parents[2]


def _run_and_terminate(listener: UdpListener, *args: str) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "AWS_", "_X_"))}
    env["OTEL_EXPORTER_XRAY_SCHEDULE_DELAY_MILLIS"] = "60000"
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.integration.apps.sigterm_app", listener.address, *args],
        cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    assert line.strip() == "request done", line + (process.stderr.read() if process.stderr else "")
    process.send_signal(signal.SIGTERM)
    process.wait(timeout=30)
    return process


def _names(listener: UdpListener) -> List[str]:
    (document,) = listener.wait_for(1)
    return [document["name"], *(sub["name"] for sub in document.get("subsegments", []))]


def test_sigterm_after_a_request_sends_its_trace_then_ends_the_process(
    udp_listener: UdpListener,
) -> None:
    process = _run_and_terminate(udp_listener, "flush")
    assert _names(udp_listener) == ["sigterm-app", "work"]
    assert process.returncode == -signal.SIGTERM


def test_sigterm_flush_chains_to_the_applications_own_handler(
    udp_listener: UdpListener,
) -> None:
    process = _run_and_terminate(udp_listener, "flush", "own-handler")
    assert _names(udp_listener) == ["sigterm-app", "work"]
    assert process.returncode == 3
    assert process.stdout is not None and "own handler" in process.stdout.read()
