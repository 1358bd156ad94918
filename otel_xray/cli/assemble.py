"""Join X-Ray documents into traces: segments, nested and standalone subsegments.

Documents of one trace arrive separately and in any order. :class:`TraceAssembler` groups
them by ``trace_id`` and hands a trace back once no document arrived for it for a while;
:meth:`Trace.roots` joins the documents into one tree by ``parent_id`` (a standalone
subsegment under its parent, a downstream service's segment under the caller's
subsegment).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Dict, Iterator, List, Optional, Set

from .validate import check_trace


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
        return str(self.doc.get("id", ""))

    @property
    def name(self) -> str:
        return str(self.doc.get("name", "?"))

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
        return int(status) if isinstance(status, (int, float)) else None

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
        kind, message = first.get("type") or "", first.get("message") or ""
        return f"{kind}: {message}" if kind and message else str(kind or message) or None


@dataclass
class Trace:
    """The documents received for one trace id."""

    trace_id: str
    documents: List[Dict[str, Any]] = field(default_factory=list)
    size: int = 0
    """Total bytes of the documents."""
    last_seen: float = 0.0

    def add(self, document: Dict[str, Any], size: int, now: float) -> None:
        self.documents.append(document)
        self.size += size
        self.last_seen = now

    def roots(self) -> List[Node]:
        """The trace as trees, each list of children ordered by start time."""
        top: List[Node] = []
        by_id: Dict[str, Node] = {}
        for document in self.documents:
            node = _node(document, by_id, None, is_segment=document.get("type") != "subsegment")
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

    def walk(self) -> Iterator[tuple[int, Node]]:
        """``(depth, node)`` for every node, depth first in display order."""
        seen: Set[int] = set()

        def visit(node: Node, depth: int) -> Iterator[tuple[int, Node]]:
            if id(node) in seen:
                return
            seen.add(id(node))
            yield depth, node
            for child in node.children:
                yield from visit(child, depth + 1)

        for root in self.roots():
            yield from visit(root, 0)

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

    @property
    def segment_count(self) -> int:
        return sum(1 for _, node in self.walk() if node.is_segment)

    @property
    def node_count(self) -> int:
        return sum(1 for _ in self.walk())


def _node(
    doc: Dict[str, Any], by_id: Dict[str, Node], parent_id: Optional[str], *, is_segment: bool
) -> Node:
    own = {k: v for k, v in doc.items() if k != "subsegments"}
    node = Node(own, is_segment, parent_id)
    by_id.setdefault(node.id, node)
    children = doc.get("subsegments")
    if isinstance(children, list):
        for child in children:
            if isinstance(child, dict):
                node.children.append(_node(child, by_id, node.id, is_segment=False))
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


class TraceAssembler:
    """Collects documents by trace id; a trace is done when it has been quiet a while."""

    def __init__(self) -> None:
        self._traces: Dict[str, Trace] = {}

    def add(self, document: Dict[str, Any], size: int, now: float) -> Trace:
        """Add a (valid) document received at ``now`` (monotonic seconds)."""
        trace_id = str(document.get("trace_id", ""))
        trace = self._traces.get(trace_id)
        if trace is None:
            trace = self._traces[trace_id] = Trace(trace_id)
        trace.add(document, size, now)
        return trace

    def pop_quiet(self, now: float, quiet_after: float) -> List[Trace]:
        """Remove and return the traces with no document for ``quiet_after`` seconds."""
        done = [t for t in self._traces.values() if now - t.last_seen >= quiet_after]
        for trace in done:
            del self._traces[trace.trace_id]
        return sorted(done, key=_trace_start)

    def pop_all(self) -> List[Trace]:
        """Remove and return every pending trace, oldest first."""
        done = sorted(self._traces.values(), key=_trace_start)
        self._traces.clear()
        return done

    def __len__(self) -> int:
        return len(self._traces)


def _trace_start(trace: Trace) -> float:
    starts = [_number(d.get("start_time")) for d in trace.documents]
    return min(starts) if starts else 0.0


__all__ = ["Node", "Trace", "TraceAssembler"]
