"""Fitting one tree into documents of at most ``max_document_bytes``.

A tree has two outcomes (:func:`fit_tree` tries the first, then takes the second):

- :func:`encode_whole`: the tree fits one document as it is (the usual case): the bodies
  are nested as dicts under the top's standalone fields and encoded by ONE
  ``orjson.dumps``;
- :func:`encode_split`: each span body is encoded once (and trimmed if it cannot fit a
  document on its own, see :mod:`.trim`), annotations over the per-document limit move
  into metadata, nested sizes are computed bottom-up from the encoded bodies, and where a
  subtree does not fit (or nests deeper than :data:`MAX_NESTING_DEPTH`) its largest child
  subtrees are detached into standalone subsegment documents until it fits. The
  documents are spliced from the encoded bodies: orjson's compact output of a dict with
  ``subsegments`` appended is the body without its closing brace, then
  ``,"subsegments":[``, the children joined by ``,``, and ``]}``.

The first outcome is taken only when the second would give the same bytes (no span to
trim or detach, at most :data:`~otel_xray.translate.limits.MAX_ANNOTATIONS` annotations,
no body carrying a field the splicing owns), so which one ran never shows in the output.
"""

from __future__ import annotations

import collections
from typing import Any, Deque, Dict, List, NamedTuple, Optional, Union

import orjson

from .._diag import Counters
from ..translate.limits import MAX_ANNOTATIONS
from ..translate.segment import Translated
from ..translate.values import json_safe
from .encode import dumps
from .tree import Forest
from .trim import demote_annotations, trim

#: Subsegment levels nested below a document's top before a subtree is sent on its own.
#: JSON parsers bound nesting (each level is an object in an array), so a 2,000-deep chain
#: of spans becomes several documents rather than one unparseable one.
MAX_NESTING_DEPTH = 64

_OPEN = b',"subsegments":['
_CLOSE = b"]}"
_COMMA = b","
#: Bytes of a standalone subsegment's fields, ids not counted.
_SUBSEGMENT_FIELDS_LEN = len(orjson.dumps({"trace_id": "", "type": "subsegment", "parent_id": ""}))


class Packed(NamedTuple):
    """One document ready to send, and how many spans it carries."""

    document: bytes
    spans: int


class Node:
    """One span of a tree encoded span by span: its encoded body and what fitting learns."""

    __slots__ = ("annotations", "body", "children", "height", "item", "room", "size")

    def __init__(self, item: Translated, limit: int, counters: Optional[Counters]) -> None:
        self.item = item
        self.children: List[Node] = []
        self.size = 0
        self.height = 0
        body = item.body
        if "subsegments" in body:  # the splicing owns this key: it puts the children there
            body = {key: value for key, value in body.items() if key != "subsegments"}
        annotations = body.get("annotations")
        self.annotations = len(annotations) if isinstance(annotations, dict) else 0
        #: The most body bytes a standalone document of this span leaves room for.
        self.room = limit - len(_prefix(item)) + 1
        self.body = dumps(body)
        if len(self.body) > self.room:
            self.body, self.annotations = trim(self.body, self.room, counters)

    def __repr__(self) -> str:
        return f"Node({self.item.span_id}, parent={self.item.parent_id}, {len(self.body)} bytes)"


def fit_tree(
    forest: Forest, top: Translated, limit: int, detached: List[Node],
    counters: Optional[Counters],
) -> Packed:
    """The document topped by span ``top`` of ``forest``; subtrees that had to be detached
    are appended to ``detached`` for :func:`splice`.

    ``counters`` receives ``spans_trimmed`` and ``annotations_moved``.
    """
    whole = encode_whole(forest, top, limit)
    if whole is not None:
        return whole
    return encode_split(forest, top, limit, detached, counters)


def encode_split(
    forest: Forest, top: Translated, limit: int, detached: List[Node],
    counters: Optional[Counters],
) -> Packed:
    """The tree encoded span by span: the second outcome of :func:`fit_tree`."""
    order = _encode(forest, top, limit, counters)
    annotations = 0
    for node in order:
        annotations += node.annotations
    if annotations > MAX_ANNOTATIONS:
        _cap_annotations(order[0], counters)
    _fit_sizes(order, detached)
    return splice(order[0])


def splice(top: Node) -> Packed:
    """The standalone document of ``top`` and its nested subtree, from the encoded bodies."""
    body = top.body
    parts: List[bytes] = [_prefix(top.item)]
    count = 1
    if not top.children:
        parts.append(body[1:])
        return Packed(b"".join(parts), count)
    parts.append(body[1:-1])
    parts.append(_OPEN)
    stack: List[Union[bytes, Node]] = [_CLOSE]
    _push_children(stack, top.children)
    while stack:
        item = stack.pop()
        if isinstance(item, bytes):
            parts.append(item)
            continue
        count += 1
        body = item.body
        if not item.children:
            parts.append(body)
            continue
        parts.append(body[:-1])
        parts.append(_OPEN)
        stack.append(_CLOSE)
        _push_children(stack, item.children)
    return Packed(b"".join(parts), count)


def _standalone(item: Translated) -> Dict[str, Any]:
    """The fields a span carries only when it tops a document, in their order.

    A subsegment needs a ``parent_id``; without one the span can only stand as a segment.
    """
    parent_id = item.parent_id
    if item.as_segment or parent_id is None:
        if parent_id is None:
            return {"trace_id": item.trace_id}
        return {"trace_id": item.trace_id, "parent_id": parent_id}
    return {"trace_id": item.trace_id, "type": "subsegment", "parent_id": parent_id}


def _prefix(item: Translated) -> bytes:
    """The standalone document's first bytes, up to and including the comma after the
    fields only a standalone document carries."""
    return orjson.dumps(_standalone(item))[:-1] + _COMMA


# --- the whole tree in one document ---------------------------------------------------------


def encode_whole(forest: Forest, item: Translated, limit: int) -> Optional[Packed]:
    """The tree as one document encoded once, or ``None`` when it must be encoded span by
    span.

    The result is byte for byte what :func:`splice` gives: shallow copies of the bodies
    with ``subsegments`` appended, the top's standalone fields first. Taken only when no
    span could be trimmed or detached there: the document is at most ``limit`` minus the
    longest standalone prefix a nested span could get, so every nested subtree also fits.
    """
    body = item.body
    if "subsegments" in body or "trace_id" in body or "type" in body or "parent_id" in body:
        return None  # a field the splicing owns: it would repeat it
    doc = _standalone(item)
    doc.update(body)
    annotations = body.get("annotations")
    # [annotations, spans, longest parent span id]
    state = [len(annotations) if isinstance(annotations, dict) else 0, 1, 0]
    children = forest.children.get(item.span_id)
    if children is not None and not _nest(doc, item.span_id, children, forest.children, 1, state):
        return None
    total, count, longest_parent = state
    if total > MAX_ANNOTATIONS:
        return None
    try:
        document = orjson.dumps(doc, default=json_safe)
    except orjson.JSONEncodeError:
        return None
    room = limit
    if count > 1:
        room -= _SUBSEGMENT_FIELDS_LEN + len(item.trace_id) + longest_parent - 1
    if len(document) > room:
        return None
    return Packed(document, count)


def _nest(
    doc: Dict[str, Any], span_id: str, children: List[Translated],
    kids: Dict[str, List[Translated]], depth: int, state: List[int],
) -> bool:
    """Append copies of the bodies of ``children`` (and theirs) to ``doc``; ``state``
    accumulates [annotations, spans, longest parent span id]. Recursive: the depth is
    bounded here."""
    if depth >= MAX_NESTING_DEPTH:
        return False
    if len(span_id) > state[2]:
        state[2] = len(span_id)
    nested: List[Dict[str, Any]] = []
    doc["subsegments"] = nested
    for item in children:
        body = item.body
        if "subsegments" in body:
            return False
        annotations = body.get("annotations")
        if annotations and isinstance(annotations, dict):
            state[0] += len(annotations)
        grandchildren = kids.get(item.span_id)
        if grandchildren is None:
            nested.append(body)  # a leaf is encoded as it is: no copy needed
            continue
        copy = body.copy()
        nested.append(copy)
        if not _nest(copy, item.span_id, grandchildren, kids, depth + 1, state):
            return False
    state[1] += len(children)
    return True


# --- span by span: encode, cap annotations, detach, splice ----------------------------------


def _encode(
    forest: Forest, top: Translated, limit: int, counters: Optional[Counters]
) -> List[Node]:
    """The tree of ``top`` as encoded nodes in pre-order, the last child's subtree first
    (so that its reverse visits every node after its children, first child first)."""
    kids = forest.children
    root = Node(top, limit, counters)
    order: List[Node] = []
    stack = [root]
    while stack:
        node = stack.pop()
        order.append(node)
        for kid in kids.get(node.item.span_id, ()):
            child = Node(kid, limit, counters)
            node.children.append(child)
            stack.append(child)
    return order


def _cap_annotations(top: Node, counters: Optional[Counters]) -> None:
    """Keep the first annotations, breadth-first, up to the per-document limit; move the
    rest into metadata."""
    budget = MAX_ANNOTATIONS
    queue: Deque[Node] = collections.deque([top])
    while queue:
        node = queue.popleft()
        count = node.annotations
        if count:
            if count <= budget:
                budget -= count
            else:
                body = demote_annotations(node.body, budget, counters)
                if body is not None:
                    node.body, node.annotations = body, budget
                    if len(body) > node.room:
                        node.body, node.annotations = trim(body, node.room, counters)
                budget = 0
        queue.extend(node.children)


def _size(node: Node) -> int:
    return node.size


def _fit_sizes(order: List[Node], detached: List[Node]) -> None:
    """Bottom-up: make every subtree fit standalone, detaching its largest children."""
    for node in reversed(order):
        kids = node.children
        if not kids:
            node.size = len(node.body)
            node.height = 0
            continue
        room = node.room
        height = nested = 0
        for kid in kids:
            if kid.height > height:
                height = kid.height
            nested += kid.size
        if height >= MAX_NESTING_DEPTH:
            kept: List[Node] = []
            for kid in kids:
                (detached if kid.height >= MAX_NESTING_DEPTH else kept).append(kid)
            kids = node.children = kept
            nested = sum(kid.size for kid in kids)
            height = max((kid.height for kid in kids), default=0)
        count = len(kids)
        body_len = len(node.body)
        nested += count
        if count and body_len + len(_OPEN) + nested > room:
            gone = set()
            for kid in sorted(kids, key=_size, reverse=True):
                gone.add(id(kid))
                detached.append(kid)
                nested -= kid.size + 1
                count -= 1
                if body_len + len(_OPEN) + nested <= room:
                    break
            kids = node.children = [kid for kid in kids if id(kid) not in gone]
            height = max((kid.height for kid in kids), default=0)
        if kids:
            node.size = body_len + len(_OPEN) + nested
            node.height = 1 + height
        else:
            node.size = body_len
            node.height = 0


def _push_children(stack: List[Union[bytes, Node]], kids: List[Node]) -> None:
    for index in range(len(kids) - 1, -1, -1):
        stack.append(kids[index])
        if index:
            stack.append(_COMMA)
