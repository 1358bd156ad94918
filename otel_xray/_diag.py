"""Counters and rate-limited logging shared by every stage of the pipeline.

Telemetry code must never flood the host application's logs: a broken daemon address or a
full queue can fail thousands of times a second. Every problem is therefore *counted* every
time and *logged* at most once per interval per kind, with the number of repeats since the
last line.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections import Counter
from typing import Any, Dict

LOG_INTERVAL_SECONDS = 60.0


class Counters:
    """Thread-safe named counters; ``snapshot()`` returns a plain dict copy."""

    __slots__ = ("_counts", "_lock")

    def __init__(self) -> None:
        self._counts: Counter[str] = Counter()
        self._lock = threading.Lock()

    def add(self, name: str, amount: int = 1) -> None:
        with self._lock:
            self._counts[name] += amount

    def get(self, name: str) -> int:
        return self._counts.get(name, 0)

    def snapshot(self) -> Dict[str, int]:
        with self._lock:
            return dict(self._counts)


class RateLimitedLog:
    """Logs each distinct ``kind`` of problem at most once per ``interval`` seconds.

    Suppressed repeats are counted and reported on the next line of the same kind, so the
    log says how often a problem really happened.
    """

    __slots__ = ("_interval", "_last", "_lock", "_logger", "_suppressed")

    def __init__(self, logger: logging.Logger, interval: float = LOG_INTERVAL_SECONDS) -> None:
        self._logger = logger
        self._interval = interval
        self._last: Dict[str, float] = {}
        self._suppressed: Counter[str] = Counter()
        self._lock = threading.Lock()

    def log(self, level: int, kind: str, msg: str, *args: Any, exc_info: bool = False) -> None:
        now = time.monotonic()
        with self._lock:
            last = self._last.get(kind)
            if last is not None and now - last < self._interval:
                self._suppressed[kind] += 1
                return
            self._last[kind] = now
            repeats = self._suppressed.pop(kind, 0)
        if repeats:
            msg += " (%d similar messages suppressed in the last %.0f s)"
            args = (*args, repeats, self._interval)
        # A broken log handler must not break export.
        with contextlib.suppress(Exception):
            self._logger.log(level, msg, *args, exc_info=exc_info)

    def warning(self, kind: str, msg: str, *args: Any, exc_info: bool = False) -> None:
        self.log(logging.WARNING, kind, msg, *args, exc_info=exc_info)

    def error(self, kind: str, msg: str, *args: Any, exc_info: bool = False) -> None:
        self.log(logging.ERROR, kind, msg, *args, exc_info=exc_info)

    def debug(self, kind: str, msg: str, *args: Any) -> None:
        self.log(logging.DEBUG, kind, msg, *args)
