"""The one bounded cache every translate module remembers its results in.

Translation runs for every exported span, and much of its work repeats: the same
resource, the same attribute key sets, the same names, the same trace. Each such result
is kept in a :class:`BoundedCache`, a plain ``dict`` that empties itself when it is full.

No locks, on purpose: reads are ``dict.get`` and writes a single ``dict`` assignment or
``clear()``, each atomic under the GIL, so threads may share a cache freely and a child
process created by ``os.fork()`` while another thread was using one can never deadlock on
it. The price is that a few racing writers may leave a cache a few entries over its size
until the next write empties it. Values must therefore be immutable or never changed
after they were put (a caller that needs a private copy makes one).
"""

from __future__ import annotations

from typing import Dict, TypeVar

_K = TypeVar("_K")
_V = TypeVar("_V")


class BoundedCache(Dict[_K, _V]):
    """A ``dict`` of at most about ``max_size`` entries, emptied whole when it is full.

    Read it as a dict (``cache.get(key)``: the fastest lookup Python has); write through
    :meth:`put`. Clearing instead of evicting one entry at a time keeps every write a
    single atomic operation; the working sets cached here (resources, key sets, names) are
    far smaller than the sizes, so a clear is rare and refills quickly.
    """

    __slots__ = ("max_size",)

    def __init__(self, max_size: int) -> None:
        super().__init__()
        if max_size < 1:
            raise ValueError(f"max_size must be at least 1, not {max_size}")
        self.max_size = max_size

    def put(self, key: _K, value: _V) -> _V:
        """Remember ``value`` under ``key`` (emptying the cache first when full); returns it."""
        if len(self) >= self.max_size:
            self.clear()
        self[key] = value
        return value
