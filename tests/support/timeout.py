"""A time limit for every test, without a plugin dependency (loaded by tests/conftest.py).

Each test (setup, call and teardown) gets ``DEFAULT_SECONDS``, or what its
``@pytest.mark.timeout(seconds)`` says. When the limit passes, the stacks of all threads
are written to stderr and the test fails where the main thread was (``SIGALRM``). If the
main thread cannot run Python code to notice (stuck inside C), the whole run is ended
``_GRACE_SECONDS`` later by :func:`faulthandler.dump_traceback_later`, so a runaway test
fails the run in minutes instead of hanging it or filling the machine.

POSIX only (``SIGALRM``); elsewhere, and when pytest-timeout is installed, this does nothing.
"""

from __future__ import annotations

import faulthandler
import os
import signal
import sys
from types import FrameType
from typing import Any, Generator, Optional

import pytest

DEFAULT_SECONDS = 300.0
_GRACE_SECONDS = 30.0
_STDERR_FD = pytest.StashKey[int]()


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"timeout(seconds): fail the test when it runs longer (default {DEFAULT_SECONDS:.0f} s)",
    )
    if _enabled(config):
        # The real stderr, kept now: while a test runs, fd 2 is pytest's capture file.
        config.stash[_STDERR_FD] = os.dup(sys.stderr.fileno())


def pytest_unconfigure(config: pytest.Config) -> None:
    fd = config.stash.get(_STDERR_FD, None)
    if fd is not None:
        os.close(fd)
        del config.stash[_STDERR_FD]


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item) -> Generator[None, Any, None]:
    fd = item.config.stash.get(_STDERR_FD, None)
    if fd is None:
        yield
        return
    marker = item.get_closest_marker("timeout")
    seconds = float(marker.args[0]) if marker is not None else DEFAULT_SECONDS

    def on_alarm(signum: int, frame: Optional[FrameType]) -> None:
        os.write(fd, f"\n+++ {item.nodeid}: over its {seconds:.0f} s limit +++\n".encode())
        faulthandler.dump_traceback(file=fd, all_threads=True)
        pytest.fail(f"over the time limit of {seconds:.0f} s (tests/support/timeout.py)")

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    faulthandler.dump_traceback_later(seconds + _GRACE_SECONDS, exit=True, file=fd)
    try:
        yield
    finally:
        faulthandler.cancel_dump_traceback_later()
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _enabled(config: pytest.Config) -> bool:
    return hasattr(signal, "setitimer") and not config.pluginmanager.hasplugin("timeout")
