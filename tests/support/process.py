"""Run a function in a forked child that can never outlive its test or run pytest on.

A forked child is a copy of the whole pytest process: if it returned from the test instead
of exiting, it would go on running the rest of the suite beside its parent. The child made
here always leaves through ``os._exit``, dies by itself when it overruns (``SIGALRM`` at its
default action), and is killed by the parent when it does not finish in time.
"""

from __future__ import annotations

import os
import signal
import sys
import time
import traceback
import warnings
from typing import Callable

import pytest

_POLL_SECONDS = 0.01


def run_forked(child: Callable[[], bool], timeout: float) -> int:
    """Fork; the child runs ``child`` and exits 0 when it returned true, else 1 (2 if it
    raised, with the traceback on stderr). Return the child's exit code.

    Fails the test (after killing the child) when the child has not exited within
    ``timeout`` seconds.
    """
    sys.stdout.flush()
    sys.stderr.flush()
    with warnings.catch_warnings():  # 3.12+ warns about forking a process with threads
        warnings.simplefilter("ignore", DeprecationWarning)
        pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child
        code = 2
        try:
            signal.signal(signal.SIGALRM, signal.SIG_DFL)
            signal.alarm(max(1, int(timeout) + 1))
            code = 0 if child() else 1
        except BaseException:
            traceback.print_exc()
        finally:
            os._exit(code)
    return _wait(pid, timeout)


def _wait(pid: int, timeout: float) -> int:
    deadline = time.monotonic() + timeout
    try:
        while True:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                return os.waitstatus_to_exitcode(status)
            if time.monotonic() >= deadline:
                break
            time.sleep(_POLL_SECONDS)
    except BaseException:
        _kill(pid)  # the test is failing (or timed out): leave no child behind
        raise
    _kill(pid)
    pytest.fail(f"the forked child {pid} did not exit within {timeout} s; it was killed")


def _kill(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    except (ChildProcessError, ProcessLookupError):
        pass
