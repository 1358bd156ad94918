"""Fixtures shared by every test; the helpers behind them live in ``tests/support``.

Tests under ``tests/integration`` (subprocesses, moto, real sockets, external tools) are
marked ``integration``: ``pytest -m "not integration"`` runs the fast unit tests alone.
"""

from __future__ import annotations

from pathlib import Path
from typing import List

import pytest

from tests.support.daemon_tcp import daemon_tcp
from tests.support.faults import faulty_xray
from tests.support.helpers import SpanRecorder
from tests.support.moto import moto_server
from tests.support.otel import fresh_otel
from tests.support.pipeline import pipeline
from tests.support.udp import udp_listener, udp_listener_v6

__all__ = [
    "daemon_tcp", "faulty_xray", "fresh_otel", "moto_server", "pipeline", "udp_listener",
    "udp_listener_v6",
]

_INTEGRATION = Path(__file__).resolve().parent / "integration"


@pytest.fixture
def recorder() -> SpanRecorder:
    """A real SDK tracer whose finished spans stay in memory."""
    return SpanRecorder()


def pytest_collection_modifyitems(items: List[pytest.Item]) -> None:
    for item in items:
        if _INTEGRATION in Path(str(item.fspath)).resolve().parents:
            item.add_marker(pytest.mark.integration)
