"""The hold-until-the-root-ends policy of :class:`~otel_xray.processor.XRaySpanProcessor`.

X-Ray shows a trace best when each local span tree arrives as one document, but spans end
children first. :class:`TraceBuffer` holds each finished span whose parent is still running
and releases it with its parent, so that the packer can nest the whole tree:

- a document root (no parent, a remote parent, a SERVER/CONSUMER span) is released at
  once, with every buffered descendant;
- a span whose parent was already released goes at once, as a standalone subsegment under
  it (with its own buffered descendants);
- a buffered span whose root does not end within ``orphan_timeout`` seconds, or the oldest
  ones when more than ``max_spans`` are held, or all of them on :meth:`flush`, are released
  as standalone subsegments (nested among themselves where they can be). Nothing is ever
  dropped here.

Pure: no threads, no I/O, no clock -- the caller passes the time. Spans are keyed by
``(trace id, span id)``, so equal span ids in different traces never collide. One thread
at a time.
"""

from __future__ import annotations

import collections
from typing import Dict, Iterable, List, Optional, Set, Tuple

from .translate.segment import Translated

__all__ = ["TraceBuffer"]

_Key = Tuple[str, str]  # (trace id, span id)

# Ids of released spans are remembered in two generations of this many (bounded memory):
# a child that ends after its parent was released finds it there.
_SENT_GENERATION = 16_384


class TraceBuffer:
    """Finished spans waiting for the root of their local tree.

    ``max_spans``: the most spans held; beyond it the oldest are released early.
    ``orphan_timeout``: seconds a span waits for its root before :meth:`expire` releases it.

    :attr:`released_early` counts spans released before their root ended, by reason
    (``orphan_timeout``, ``buffer_full``, ``flush``).
    """

    def __init__(self, *, max_spans: int, orphan_timeout: float) -> None:
        self.max_spans = max_spans
        self.orphan_timeout = orphan_timeout
        self.released_early: Dict[str, int] = {"orphan_timeout": 0, "buffer_full": 0, "flush": 0}
        # Oldest first: (the span, when it was added).
        self._pending: collections.OrderedDict[_Key, Tuple[Translated, float]] = (
            collections.OrderedDict()
        )
        self._children: Dict[_Key, List[_Key]] = {}
        self._sent: Set[_Key] = set()
        self._sent_before: Set[_Key] = set()

    def __len__(self) -> int:
        return len(self._pending)

    def add(self, item: Translated, now: float) -> List[Translated]:
        """Take a finished span; return the spans ready to send now (possibly none)."""
        return self.add_all((item,), now)

    def add_all(
        self,
        items: Iterable[Translated],
        now: float,
        failed: Optional[List[Tuple[Translated, Exception]]] = None,
    ) -> List[Translated]:
        """Take finished spans, in the order they ended; return the spans ready to send now.

        A span this buffer fails on (a bug) is not held: it goes to ``failed`` with the
        error, for the caller to count (without ``failed``, the error is raised).
        """
        ready: List[Translated] = []
        pending, children, max_spans = self._pending, self._children, self.max_spans
        for item in items:
            try:
                trace_id = item.trace_id
                parent = item.parent_id
                key = (trace_id, item.span_id)
                parent_key = (trace_id, parent) if parent is not None else None
                if (
                    item.is_root
                    or parent_key is None
                    or parent_key in self._sent  # both generations: _release swaps them
                    or parent_key in self._sent_before
                    or key in pending  # a span id seen twice: never overwrite (and lose) one
                ):
                    self._release(key, item, ready)
                    continue
                pending[key] = (item, now)
                siblings = children.get(parent_key)
                if siblings is None:
                    children[parent_key] = [key]
                else:
                    siblings.append(key)
                if len(pending) > max_spans:
                    self.released_early["buffer_full"] += self._release_oldest(ready)
            except Exception as exc:
                if failed is None:
                    raise
                failed.append((item, exc))
        return ready

    def expire(self, now: float) -> List[Translated]:
        """Release the spans that waited longer than ``orphan_timeout`` for their root."""
        ready: List[Translated] = []
        pending = self._pending
        cutoff = now - self.orphan_timeout
        released = 0
        while pending and next(iter(pending.values()))[1] <= cutoff:
            released += self._release_oldest(ready)
        self.released_early["orphan_timeout"] += released
        return ready

    def flush(self) -> List[Translated]:
        """Release every held span."""
        ready: List[Translated] = []
        released = 0
        while self._pending:
            released += self._release_oldest(ready)
        self.released_early["flush"] += released
        return ready

    def _release(self, key: _Key, item: Translated, ready: List[Translated]) -> None:
        """Make ``item`` and its buffered descendants ready; remember their ids as sent."""
        ready.append(item)
        sent = self._sent
        sent.add(key)
        children = self._children
        kids = children.pop(key, None) if children else None
        if kids:
            pending = self._pending
            stack = [kids]
            while stack:
                for kid in stack.pop():
                    held = pending.pop(kid, None)
                    if held is not None:
                        ready.append(held[0])
                        sent.add(kid)
                        grandchildren = children.pop(kid, None)
                        if grandchildren:
                            stack.append(grandchildren)
        if len(sent) >= _SENT_GENERATION:
            # Forget the generation before the previous one. (A released subtree may
            # overshoot the generation by its size, at most max_spans.)
            self._sent_before = sent
            self._sent = set()

    def _release_oldest(self, ready: List[Translated]) -> int:
        """Release the held subtree that contains the oldest held span; return its size."""
        pending = self._pending
        key = next(iter(pending))
        for _ in range(len(pending)):  # bounded: parent links may form a cycle
            parent = pending[key][0].parent_id
            parent_key: Optional[_Key] = (key[0], parent) if parent is not None else None
            if parent_key is None or parent_key == key or parent_key not in pending:
                break
            key = parent_key
        item = pending.pop(key)[0]
        if item.parent_id is not None:
            parent_key = (key[0], item.parent_id)
            siblings = self._children.get(parent_key)
            if siblings is not None:
                siblings.remove(key)
                if not siblings:
                    del self._children[parent_key]
        before = len(ready)
        self._release(key, item, ready)
        return len(ready) - before
