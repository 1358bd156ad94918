"""Join X-Ray documents into traces: segments, nested and standalone subsegments.

Documents of one trace arrive separately and in any order. :class:`TraceAssembler` groups
them by ``trace_id`` and hands a trace back once no document arrived for it for a while;
:meth:`Trace.roots` joins the documents into one tree by ``parent_id`` (a standalone
subsegment under its parent, a downstream service's segment under the caller's
subsegment).

A document that arrives after its trace was handed back (say the caller's segment, seconds
after the downstream service's) joins that trace again, which is handed back once more,
complete: the assembler remembers finished traces for a while.

Everything here takes any JSON value without raising, at any nesting depth.
"""

from __future__ import annotations

import collections
import math
from dataclasses import dataclass, field
from typing import Any, Dict, Iterable, Iterator, List, Optional, Set, Tuple

from .validate import Note, check_trace, show

#: How long a finished trace is remembered, so a late document re-opens it.
REMEMBER_SECONDS = 60.0
#: At most this many finished traces are remembered (the oldest are forgotten first).
MAX_REMEMBERED = 10_000


@dataclass
class Node:
    """One segment or subsegment in a trace tree."""

    doc: Dict[str, Any]
    """The (sub)segment's own fields (its ``subsegments`` are :attr:`children`)."""
    is_segment: bool
    parent_id: Optional[str]
    """The id this node hangs under: the enclosing document's, or its ``parent_id``."""
    children: List[Node] = field(default_factory=list)
    orphan: bool = False
    """A top-level node whose ``parent_id`` names nothing received in this trace."""

    @property
    def id(self) -> str:
        return _text(self.doc.get("id"), "")

    @property
    def name(self) -> str:
        return _text(self.doc.get("name"), "?")

    @property
    def namespace(self) -> str:
        value = self.doc.get("namespace")
        return value if isinstance(value, str) else ""

    @property
    def start(self) -> float:
        return _number(self.doc.get("start_time"))

    @property
    def end(self) -> Optional[float]:
        """``None`` while in progress."""
        value = self.doc.get("end_time")
        return _number(value) if value is not None else None

    @property
    def http_status(self) -> Optional[int]:
        http = self.doc.get("http")
        response = http.get("response") if isinstance(http, dict) else None
        status = response.get("status") if isinstance(response, dict) else None
        if isinstance(status, bool) or not isinstance(status, (int, float)):
            return None
        return int(status) if math.isfinite(status) else None

    def flag(self, name: str) -> bool:
        """``error``, ``throttle`` or ``fault``."""
        return self.doc.get(name) is True

    @property
    def exception(self) -> Optional[str]:
        """``"Type: message"`` of the first recorded exception, if any."""
        cause = self.doc.get("cause")
        exceptions = cause.get("exceptions") if isinstance(cause, dict) else None
        if not isinstance(exceptions, list) or not exceptions:
            return None
        first = exceptions[0]
        if not isinstance(first, dict):
            return None
        kind, message = _text(first.get("type"), ""), _text(first.get("message"), "")
        return f"{kind}: {message}" if kind and message else (kind or message) or None


@dataclass
class Trace:
    """The documents received for one trace id."""

    trace_id: str
    documents: List[Dict[str, Any]] = field(default_factory=list)
    size: int = 0
    """Total bytes of the documents."""
    last_seen: float = 0.0
    received: int = 0
    """Documents received, including in-progress ones a later document replaced."""
    reported: int = 0
    """:attr:`received` when the trace was last reported (0: never); :meth:`mark_reported`."""
    warned: int = 0
    """How many of the trace's warnings a listener has counted already."""
    notes: Dict[Note, int] = field(default_factory=dict)
    """What lies outside the documented format (X-Ray accepts it): documents per note."""
    _positions: Dict[str, int] = field(default_factory=dict, init=False, repr=False)

    def add(
        self, document: Dict[str, Any], size: int, now: float, notes: Iterable[Note] = ()
    ) -> None:
        """Add a document; a complete one replaces an in-progress one with the same id.

        X-Ray does the same: a segment sent with ``"in_progress": true`` is replaced when
        the complete segment arrives. A stale in-progress document after the complete one
        is dropped; two complete documents with one id are both kept (and warned about).
        """
        self.size += size
        self.last_seen = now
        self.received += 1
        for note in notes:
            self.notes[note] = self.notes.get(note, 0) + 1
        doc_id = document.get("id")
        position = self._positions.get(doc_id) if isinstance(doc_id, str) else None
        if position is not None:
            if self.documents[position].get("in_progress") is True:
                self.documents[position] = document
                return
            if document.get("in_progress") is True:
                return
        if isinstance(doc_id, str):
            self._positions.setdefault(doc_id, len(self.documents))
        self.documents.append(document)

    def mark_reported(self) -> None:
        """Remember that everything received so far has been reported."""
        self.reported = self.received

    @property
    def late_documents(self) -> int:
        """Documents received since the trace was last reported (0 if it never was)."""
        return self.received - self.reported if self.reported else 0

    def roots(self) -> List[Node]:
        """The trace as trees, each list of children ordered by start time."""
        top: List[Node] = []
        by_id: Dict[str, Node] = {}
        for document in self.documents:
            node = _tree(document, by_id, is_segment=document.get("type") != "subsegment")
            raw_parent = document.get("parent_id")
            node.parent_id = raw_parent if isinstance(raw_parent, str) else None
            top.append(node)
        roots: List[Node] = []
        for node in top:
            parent = by_id.get(node.parent_id) if node.parent_id else None
            if parent is None or parent is node or _is_below(parent, node):
                node.orphan = node.parent_id is not None
                roots.append(node)
            else:
                parent.children.append(node)
        for node in by_id.values():
            node.children.sort(key=lambda n: n.start)
        roots.sort(key=lambda n: n.start)
        return roots

    def walk(self) -> Iterator[Tuple[int, Node]]:
        """``(depth, node)`` for every node, depth first in display order."""
        seen: Set[int] = set()
        pending: List[Tuple[int, Node]] = [(0, root) for root in reversed(self.roots())]
        while pending:
            depth, node = pending.pop()
            if id(node) in seen:
                continue
            seen.add(id(node))
            yield depth, node
            pending.extend((depth + 1, child) for child in reversed(node.children))

    def warnings(self) -> List[str]:
        """What X-Ray would silently ignore or lose in this trace."""
        warnings = check_trace(self.documents, self.size)
        ids: Dict[str, int] = {}
        for _, node in self.walk():
            ids[node.id] = ids.get(node.id, 0) + 1
        duplicates = sorted(i for i, n in ids.items() if n > 1)
        if duplicates:
            warnings.append(f"ids used more than once in the trace: {', '.join(duplicates)}")
        return warnings


def _tree(doc: Dict[str, Any], by_id: Dict[str, Node], *, is_segment: bool) -> Node:
    """The node of ``doc`` with its embedded subsegments below it (an explicit stack)."""
    root = _node(doc, by_id, None, is_segment=is_segment)
    pending = [(root, doc)]
    while pending:
        node, raw = pending.pop()
        children = raw.get("subsegments")
        if not isinstance(children, list):
            continue
        for child in children:
            if isinstance(child, dict):
                sub = _node(child, by_id, node.id, is_segment=False)
                node.children.append(sub)
                pending.append((sub, child))
    return root


def _node(
    doc: Dict[str, Any], by_id: Dict[str, Node], parent_id: Optional[str], *, is_segment: bool
) -> Node:
    node = Node({k: v for k, v in doc.items() if k != "subsegments"}, is_segment, parent_id)
    by_id.setdefault(node.id, node)
    return node


def _is_below(candidate: Node, ancestor: Node) -> bool:
    """Whether ``candidate`` is ``ancestor`` itself or nested inside it (a cycle guard)."""
    stack = [ancestor]
    while stack:
        current = stack.pop()
        if current is candidate:
            return True
        stack.extend(current.children)
    return False


def _number(value: Any) -> float:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        number = float(value)
        if math.isfinite(number):
            return number
    return 0.0


def _text(value: Any, default: str) -> str:
    """A string field as is; a missing one as ``default``; anything else shortened."""
    if isinstance(value, str):
        return value
    return default if value is None else show(value)


class TraceAssembler:
    """Collects documents by trace id; a trace is done when it has been quiet a while.

    Finished traces are remembered for ``remember`` seconds (at most ``max_remembered``
    of them): a document for one of them re-opens it, and it is handed back again.
    """

    def __init__(
        self, remember: float = REMEMBER_SECONDS, max_remembered: int = MAX_REMEMBERED
    ) -> None:
        self._traces: Dict[str, Trace] = {}
        self._finished: collections.OrderedDict[str, Trace] = collections.OrderedDict()
        self._remember = remember
        self._max_remembered = max_remembered

    def add(
        self, document: Dict[str, Any], size: int, now: float, notes: Iterable[Note] = ()
    ) -> Trace:
        """Add a (valid) document received at ``now`` (monotonic seconds)."""
        trace_id = _text(document.get("trace_id"), "")
        trace = self._traces.get(trace_id)
        if trace is None:
            trace = self._finished.pop(trace_id, None) or Trace(trace_id)
            self._traces[trace_id] = trace
        trace.add(document, size, now, notes)
        return trace

    def pop_quiet(self, now: float, quiet_after: float) -> List[Trace]:
        """Remove and return the traces with no document for ``quiet_after`` seconds."""
        done = [t for t in self._traces.values() if now - t.last_seen >= quiet_after]
        self._finish(done)
        while self._finished:
            oldest = next(iter(self._finished.values()))
            if now - oldest.last_seen < self._remember:
                break
            self._finished.popitem(last=False)
        return sorted(done, key=_trace_start)

    def pop_all(self) -> List[Trace]:
        """Remove and return every pending trace, oldest first."""
        done = sorted(self._traces.values(), key=_trace_start)
        self._finish(done)
        return done

    def _finish(self, traces: List[Trace]) -> None:
        for trace in traces:
            del self._traces[trace.trace_id]
            self._finished[trace.trace_id] = trace
        while len(self._finished) > self._max_remembered:
            self._finished.popitem(last=False)

    def __len__(self) -> int:
        """Traces waiting to be handed back."""
        return len(self._traces)


def _trace_start(trace: Trace) -> float:
    starts = [_number(d.get("start_time")) for d in trace.documents]
    return min(starts) if starts else 0.0


__all__ = ["MAX_REMEMBERED", "REMEMBER_SECONDS", "Node", "Trace", "TraceAssembler"]
