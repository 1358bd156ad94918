from __future__ import annotations

import pytest

from tests.helpers import SpanRecorder


@pytest.fixture
def recorder() -> SpanRecorder:
    """A real SDK tracer whose finished spans stay in memory."""
    return SpanRecorder()
