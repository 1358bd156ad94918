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

Spans are handed over a trace at a time (:meth:`TraceBuffer.add`), so that the usual case
costs a few set operations per trace rather than holding and releasing span after span:
when none of a trace's new spans has to wait (each one's parent is among them, was
released, or is none) and no held span waits for one of them, they are all released
together at once. (Spans whose parent links form a cycle among themselves, which only
hand-made spans can, leave that way too instead of waiting for the timeout.)

Pure: no threads, no I/O, no clock -- the caller passes the time. It holds whatever the
caller gives it (the processor: translated spans), by trace id and span id, so that equal
span ids in different traces never collide. One thread at a time.
"""

from __future__ import annotations

import collections
import itertools
import operator
from typing import Dict, Generic, Hashable, List, Optional, Sequence, Set, Tuple, TypeVar

__all__ = ["Entry", "TraceBuffer"]

T = TypeVar("T")
_Key = Tuple[Hashable, Hashable]  # (trace id, span id)

#: What :meth:`TraceBuffer.add` takes for one finished span of a trace: its span id, its
#: parent's span id (``None`` without a parent), whether it is a document root, and what
#: to hold.
Entry = Tuple[Hashable, Optional[Hashable], bool, T]

# Keys of released spans are remembered in two generations of this many (bounded memory):
# a child that ends after its parent was released finds it there.
_SENT_GENERATION = 16_384


class TraceBuffer(Generic[T]):
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
        # Oldest first: key -> (what is held, its parent's key, when it was added).
        self._pending: collections.OrderedDict[_Key, Tuple[T, Optional[_Key], float]] = (
            collections.OrderedDict()
        )
        self._children: Dict[_Key, List[_Key]] = {}
        self._sent: Set[_Key] = set()
        self._sent_before: Set[_Key] = set()

    def __len__(self) -> int:
        return len(self._pending)

    def add(
        self,
        trace_id: Hashable,
        entries: Sequence[Entry[T]],
        now: float,
        failed: Optional[List[Tuple[T, Exception]]] = None,
    ) -> List[T]:
        """Take finished spans of the trace ``trace_id``, in the order they ended; return
        what is ready to send now (possibly nothing).

        A span this buffer fails on (a bug) is not held: it goes to ``failed`` with the
        error, for the caller to count (without ``failed``, the error is raised).
        """
        ready: List[T] = []
        if not entries:
            return ready
        try:
            if self._release_whole(trace_id, entries, ready):
                return ready
        except Exception:  # the spans are taken one by one below, and errors told
            pass
        pending, children, max_spans = self._pending, self._children, self.max_spans
        for span_id, parent_id, is_root, value in entries:
            try:
                key = (trace_id, span_id)
                parent_key = None if parent_id is None else (trace_id, parent_id)
                if (
                    is_root
                    or parent_key is None
                    or parent_key in self._sent  # both generations: _release swaps them
                    or parent_key in self._sent_before
                    or key in pending  # a span id seen twice: never overwrite (and lose) one
                ):
                    self._release(key, value, ready)
                    continue
                pending[key] = (value, parent_key, now)
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
                failed.append((value, exc))
        return ready

    def _release_whole(
        self, trace_id: Hashable, entries: Sequence[Entry[T]], ready: List[T]
    ) -> bool:
        """Release ``entries`` together, and say so, when none of them has to wait: the
        parent of each is among them, already released, or none (a root); and no held span
        waits for one of them. The usual case (a trace whose spans the processor took all
        at once), decided with set operations instead of holding span after span."""
        span_ids, parent_ids, roots, values = zip(*entries)
        keys = list(zip(itertools.repeat(trace_id), span_ids))
        children = self._children
        if children and any(map(children.__contains__, keys)):
            return False
        waiting = set(itertools.compress(parent_ids, map(operator.not_, roots)))
        waiting.difference_update(span_ids)
        waiting.discard(None)
        for parent_id in waiting:
            parent_key = (trace_id, parent_id)
            if parent_key not in self._sent and parent_key not in self._sent_before:
                return False
        self._sent.update(keys)
        self._start_generation()
        ready.extend(values)
        return True

    def expire(self, now: float) -> List[T]:
        """Release the spans that waited longer than ``orphan_timeout`` for their root."""
        ready: List[T] = []
        pending = self._pending
        cutoff = now - self.orphan_timeout
        released = 0
        while pending and next(iter(pending.values()))[2] <= cutoff:
            released += self._release_oldest(ready)
        self.released_early["orphan_timeout"] += released
        return ready

    def flush(self) -> List[T]:
        """Release every held span."""
        ready: List[T] = []
        released = 0
        while self._pending:
            released += self._release_oldest(ready)
        self.released_early["flush"] += released
        return ready

    def _release(self, key: _Key, value: T, ready: List[T]) -> None:
        """Make ``value`` and its buffered descendants ready; remember their keys as sent."""
        ready.append(value)
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
        self._start_generation()

    def _start_generation(self) -> None:
        if len(self._sent) >= _SENT_GENERATION:
            # Forget the generation before the previous one. (What is released at once may
            # overshoot the generation by its size: at most max_spans, or one take.)
            self._sent_before = self._sent
            self._sent = set()

    def _release_oldest(self, ready: List[T]) -> int:
        """Release the held subtree that contains the oldest held span; return its size."""
        pending = self._pending
        key = next(iter(pending))
        for _ in range(len(pending)):  # bounded: parent links may form a cycle
            parent_key = pending[key][1]
            if parent_key is None or parent_key == key or parent_key not in pending:
                break
            key = parent_key
        value, parent_key, _ = pending.pop(key)
        if parent_key is not None:
            siblings = self._children.get(parent_key)
            if siblings is not None:
                siblings.remove(key)
                if not siblings:
                    del self._children[parent_key]
        before = len(ready)
        self._release(key, value, ready)
        return len(ready) - before
