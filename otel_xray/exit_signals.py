"""Flush on SIGTERM: ``configure(flush_on_exit_signals=True)``.

A process stopped by ``SIGTERM`` (a container stop, a deploy, Ctrl-C's cousin) dies at
once by default: Python's exit handlers -- including the SDK's shutdown, which flushes the
span processors -- never run, and the traces of the last requests are lost. With this
opt-in the handler flushes the tracer provider first (at most :data:`FLUSH_TIMEOUT`
seconds), then hands the signal on: to the handler the application had installed, or to
the signal's default action, so the process still ends as it would have.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
from types import FrameType
from typing import Any, Callable, Dict, Optional, Union

__all__ = ["FLUSH_TIMEOUT", "flush_on_signals"]

_log = logging.getLogger("otel_xray.exit_signals")

#: The longest a signal waits for the flush, in seconds.
FLUSH_TIMEOUT = 5.0

_SIGNALS = tuple(
    sig for sig in (getattr(signal, "SIGTERM", None), getattr(signal, "SIGHUP", None)) if sig
)

_Handler = Union[Callable[[int, Optional[FrameType]], Any], int, None]
# The handlers we replaced, by signal: installing twice must not chain to ourselves.
_previous: Dict[int, _Handler] = {}


def flush_on_signals(provider: Any, timeout: float = FLUSH_TIMEOUT) -> bool:
    """Install the flushing handler for SIGTERM and SIGHUP; ``False`` when it cannot be
    (not in the main thread, or a platform without these signals), which is logged."""
    if threading.current_thread() is not threading.main_thread():
        _log.warning(
            "flush_on_exit_signals needs configure() to run in the main thread (Python "
            "installs signal handlers only there); traces may be lost on SIGTERM"
        )
        return False
    if not _SIGNALS:
        return False

    def handle(signum: int, frame: Optional[FrameType]) -> None:
        _flush(provider, timeout)
        _chain(signum, frame)

    for sig in _SIGNALS:
        current = signal.getsignal(sig)
        if not getattr(current, "_otel_xray_flush", False):
            _previous[sig] = current
        handle._otel_xray_flush = True  # type: ignore[attr-defined]
        signal.signal(sig, handle)
    return True


def _flush(provider: Any, timeout: float) -> None:
    # In another thread: the signal may have interrupted the main thread while it held a
    # lock the flush needs, and waiting for it here would hang the process for ever.
    flusher = threading.Thread(
        target=_force_flush, args=(provider, timeout), name="otel-xray-exit-flush", daemon=True
    )
    flusher.start()
    flusher.join(timeout)


def _force_flush(provider: Any, timeout: float) -> None:
    try:
        provider.force_flush(int(timeout * 1000))
    except Exception:
        _log.debug("flush on exit signal failed", exc_info=True)


def _chain(signum: int, frame: Optional[FrameType]) -> None:
    previous = _previous.get(signum, signal.SIG_DFL)
    if callable(previous):
        previous(signum, frame)
    elif previous == signal.SIG_IGN:
        return
    else:  # the default action (or a handler Python cannot name): end as the signal would
        signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)
