"""The one bounded cache every translate module remembers its results in.

Translation runs for every exported span, and much of its work repeats: the same
resource, the same attribute key sets, the same names, the same trace. Each such result
is kept in a :class:`BoundedCache`, a ``dict`` that empties itself when it is full.

No locks, on purpose: reads are ``dict.get`` and writes a single ``dict`` assignment or
``clear()``, each atomic under the GIL, so threads may share a cache freely and a child
process created by ``os.fork()`` while another thread was using one can never deadlock on
it. The price is that a few racing writers may leave a cache a few entries over its size
until the next write empties it. Every reader shares the values: they are never changed
after they were put, other than completed lazily with what any thread would compute alike
(a caller that needs a private copy makes one).
"""

from __future__ import annotations

from typing import Callable, Dict, Generic, Optional, TypeVar

_K = TypeVar("_K")
_V = TypeVar("_V")


class BoundedCache(Generic[_K, _V]):
    """A mapping of at most about ``max_size`` entries, emptied whole when it is full.

    Read with :attr:`get` (the underlying ``dict``'s own ``get``: a lookup costs what a dict
    lookup costs); write with :meth:`put`. Clearing instead of evicting one entry at a time
    keeps every write a single atomic operation; the working sets cached here (resources,
    key sets, names) are far smaller than the sizes, so a clear is rare and refills quickly.
    """

    __slots__ = ("_entries", "get", "max_size")

    def __init__(self, max_size: int) -> None:
        if max_size < 1:
            raise ValueError(f"max_size must be at least 1, not {max_size}")
        self.max_size = max_size
        self._entries: Dict[_K, _V] = {}
        self.get: Callable[[_K], Optional[_V]] = self._entries.get
        """The value remembered for a key, or ``None``."""

    def put(self, key: _K, value: _V) -> _V:
        """Remember ``value`` under ``key`` (emptying the cache first when full); returns it."""
        entries = self._entries
        if len(entries) >= self.max_size:
            entries.clear()
        entries[key] = value
        return value

    def __len__(self) -> int:
        return len(self._entries)
