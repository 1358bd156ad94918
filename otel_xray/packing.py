"""Pack translated spans into X-Ray documents: nest local trees, split and trim to fit.

A *document root* (see :func:`~otel_xray.translate.segment.is_document_root`) and its local
descendants, down to the next root, become ONE document whose ``subsegments`` nest
recursively, children in start-time order. Every document stays within
``max_document_bytes`` and ``MAX_NESTING_DEPTH`` levels:

- each span body is encoded once (:func:`encode_span`); a body that is too big on its own
  is trimmed, least important content first, and the trim is recorded in
  ``metadata.otel_xray`` -- a span is never dropped for size;
- nested sizes are computed arithmetically from the encoded bodies, bottom-up; where a
  subtree does not fit, its largest child subtrees are detached into standalone subsegment
  documents (``type``, ``trace_id``, ``parent_id``) until it fits;
- the documents are spliced from the encoded bodies: orjson's compact output of a dict with
  ``subsegments`` appended is the body without its closing brace, then
  ``,"subsegments":[``, the children joined by ``,``, and ``]}``.

The exporter and the processor use :func:`pack_translated_documents`: a tree that fits one
document as it is (the usual case) is nested as dicts and encoded by a single
``orjson.dumps`` -- the same bytes the splicing gives, about a third of the cost -- and
only the other trees take the path above.

Everything here is pure (no I/O, no threads) and iterative (the fast path recurses at most
``MAX_NESTING_DEPTH`` levels), so that trees of any depth or width pack without deep
recursion.
"""

from __future__ import annotations

import collections
import logging
import operator
from typing import (
    Any,
    Callable,
    Deque,
    Dict,
    Iterable,
    List,
    NamedTuple,
    Optional,
    Sequence,
    Tuple,
    Union,
)

import orjson

from ._diag import Counters
from .emit.protocol import DEFAULT_MAX_DOCUMENT_BYTES
from .translate.errors import link_propagated
from .translate.segment import Translated

_log = logging.getLogger("otel_xray.packing")

#: X-Ray indexes at most 50 annotations per trace; a packed document keeps the first 50 in
#: breadth-first order and moves the rest (deepest/last first) into ``metadata.default``.
MAX_ANNOTATIONS_PER_DOCUMENT = 50
#: Subsegment levels nested below a document's top before a subtree is sent on its own.
#: JSON parsers bound nesting (each level is an object in an array), so a 2,000-deep chain
#: of spans becomes several documents rather than one unparseable one.
MAX_NESTING_DEPTH = 64
#: The smallest ``max_document_bytes`` accepted: the last-resort trim must always fit.
MIN_DOCUMENT_BYTES = 8192
#: Metadata namespace that records what was trimmed from a span that was too big.
TRIM_NAMESPACE = "otel_xray"
#: Metadata namespace that receives annotations over the per-document limit.
ANNOTATION_OVERFLOW_NAMESPACE = "default"
#: Written by the translator into ``metadata.default``: span events, and how many were left out.
EVENTS_KEY = "otel.events"
EVENTS_DROPPED_KEY = "otel.events_dropped"
LINKS_DROPPED_KEY = "otel.links_dropped"
#: Appended to a string that trimming cut short.
TRUNCATION_MARKER = "...[truncated]"

_OPEN = b',"subsegments":['
_CLOSE = b"]}"
_COMMA = b","
# Standalone prefixes: spliced in front of the encoded body without its opening brace.
_SEGMENT = '{"trace_id":"%s",'
_SEGMENT_WITH_PARENT = '{"trace_id":"%s","parent_id":"%s",'
_SUBSEGMENT = '{"trace_id":"%s","type":"subsegment","parent_id":"%s",'
_SEGMENT_LEN = len(_SEGMENT) - 2
_SEGMENT_WITH_PARENT_LEN = len(_SEGMENT_WITH_PARENT) - 4
_SUBSEGMENT_LEN = len(_SUBSEGMENT) - 4

# Trimming: strings in metadata are cut to this many code points before values are dropped,
# other long strings to _SHORT_STRING, and the last resort keeps only _ESSENTIAL_KEYS.
_KEEP_STRING = 1024
_SHORT_STRING = 256
_ESSENTIAL_STRING = 128
_NAME_LIMIT = 200
_MARKER_RESERVE = 200
_ESSENTIAL_KEYS = (
    "name", "id", "start_time", "end_time", "in_progress", "namespace",
    "error", "throttle", "fault", "origin", "http",
)
_SANITIZE_DEPTH = 100
_INT_MIN = -(1 << 63)
_INT_MAX = (1 << 64) - 1


class EncodedSpan:
    """One span's document body encoded once, with what packing needs to place it.

    Make it with :func:`encode_span`. ``body`` is the compact JSON of the body (no
    ``trace_id``/``type``/``parent_id``); it always fits ``max_document_bytes`` on its own,
    standalone prefix included.
    """

    __slots__ = (
        "annotations", "as_segment", "body", "is_root", "parent_id", "prefix_len", "span_id",
        "start_time", "trace_id",
    )

    def __init__(
        self,
        trace_id: str,
        span_id: str,
        parent_id: Optional[str],
        is_root: bool,
        as_segment: bool,
        start_time: float,
        body: bytes,
        annotations: int,
    ) -> None:
        self.trace_id = trace_id
        self.span_id = span_id
        self.parent_id = parent_id
        self.is_root = is_root
        self.as_segment = as_segment
        self.start_time = start_time
        self.body = body
        self.annotations = annotations
        # len(self.prefix()) without building it: the ids are ASCII hex.
        if as_segment:
            if parent_id is None:
                self.prefix_len = _SEGMENT_LEN + len(trace_id)
            else:
                self.prefix_len = _SEGMENT_WITH_PARENT_LEN + len(trace_id) + len(parent_id)
        else:
            self.prefix_len = _SUBSEGMENT_LEN + len(trace_id) + len(parent_id or "None")

    def prefix(self) -> bytes:
        """The standalone document's first bytes, up to and including the comma after the
        fields only a standalone document carries."""
        if self.as_segment:
            if self.parent_id is None:
                return (_SEGMENT % self.trace_id).encode()
            return (_SEGMENT_WITH_PARENT % (self.trace_id, self.parent_id)).encode()
        return (_SUBSEGMENT % (self.trace_id, self.parent_id)).encode()

    def standalone(self) -> bytes:
        """This span alone as a complete document."""
        return self.prefix() + self.body[1:]

    def __repr__(self) -> str:
        return f"EncodedSpan({self.span_id}, parent={self.parent_id}, {len(self.body)} bytes)"


class Packed(NamedTuple):
    """One document ready to send, and how many spans it carries."""

    document: bytes
    spans: int


def encode_span(
    item: Translated,
    *,
    max_document_bytes: int = DEFAULT_MAX_DOCUMENT_BYTES,
    counters: Optional[Counters] = None,
) -> EncodedSpan:
    """Encode one translated span, trimming its body if it cannot fit a document alone.

    Raises only when the body cannot be encoded at all (the caller counts that span as
    a translate error).
    """
    if max_document_bytes < MIN_DOCUMENT_BYTES:
        _check_limit(max_document_bytes)
    body = item.body
    if "subsegments" in body:  # packing owns this key: it splices the nested children in
        body = {key: value for key, value in body.items() if key != "subsegments"}
    start = body.get("start_time")
    if type(start) is not float:
        start = float(start) if isinstance(start, (int, float)) else 0.0
    annotations = body.get("annotations")
    try:
        encoded = orjson.dumps(body, default=_json_default)
    except orjson.JSONEncodeError:
        encoded = _dumps(body)
    # A subsegment needs a parent_id; without one the span can only stand as a segment.
    as_segment = item.as_segment or item.parent_id is None
    span = EncodedSpan(
        item.trace_id, item.span_id, item.parent_id, item.is_root, as_segment, start,
        encoded, len(annotations) if isinstance(annotations, dict) else 0,
    )
    if len(encoded) <= 2:
        raise ValueError(f"span {item.span_id} has an empty document body")
    if len(encoded) <= max_document_bytes - span.prefix_len + 1:  # _fit_alone's own test
        return span
    return _fit_alone(span, max_document_bytes, counters)


def pack(
    spans: Iterable[EncodedSpan],
    *,
    max_document_bytes: int = DEFAULT_MAX_DOCUMENT_BYTES,
    counters: Optional[Counters] = None,
) -> List[bytes]:
    """Pack encoded spans into documents; see :func:`pack_documents`."""
    return [packed.document for packed in pack_documents(
        spans, max_document_bytes=max_document_bytes, counters=counters
    )]


def pack_translated(
    items: Iterable[Translated],
    *,
    max_document_bytes: int = DEFAULT_MAX_DOCUMENT_BYTES,
    counters: Optional[Counters] = None,
) -> List[bytes]:
    """Encode and pack translated spans (:func:`encode_span` then :func:`pack`)."""
    encoded = [
        encode_span(item, max_document_bytes=max_document_bytes, counters=counters)
        for item in items
    ]
    return pack(encoded, max_document_bytes=max_document_bytes, counters=counters)


def pack_documents(
    spans: Iterable[EncodedSpan],
    *,
    max_document_bytes: int = DEFAULT_MAX_DOCUMENT_BYTES,
    counters: Optional[Counters] = None,
) -> List[Packed]:
    """Group spans into local trees and encode each tree as few documents as fit.

    A span nests under its parent when the parent is among ``spans`` (same trace) and the
    span is not a document root; every other span tops a document of its own: a root as
    its kind (segment, or subsegment on Lambda), any other span as a standalone
    subsegment under its ``parent_id``, its nested descendants included. Every document
    is at most ``max_document_bytes`` long and nests at most :data:`MAX_NESTING_DEPTH`
    levels; every span appears in exactly one document.

    ``counters`` (optional) receives ``documents_split`` (subtrees detached to fit),
    ``spans_trimmed`` and ``annotations_moved``.
    """
    _check_limit(max_document_bytes)
    nodes = [_Node(span) for span in spans]
    if not nodes:
        return []
    orders = _build_trees(nodes)
    detached: List[_Node] = []
    for order in orders:
        top = order[0]
        total = 0
        for node in order:
            total += node.span.annotations
        if total > MAX_ANNOTATIONS_PER_DOCUMENT:
            _cap_annotations(top, max_document_bytes, counters)
        _fit_tree(order, max_document_bytes, detached, counters)
    if detached and counters is not None:
        counters.add("documents_split", len(detached))
    documents = [_assemble(order[0]) for order in orders]
    documents.extend(_assemble(node) for node in detached)
    return documents


def pack_translated_documents(
    items: Sequence[Translated],
    *,
    max_document_bytes: int = DEFAULT_MAX_DOCUMENT_BYTES,
    counters: Optional[Counters] = None,
    failed: Optional[List[Tuple[Translated, Exception]]] = None,
) -> List[Packed]:
    """:func:`encode_span` each item, then :func:`pack_documents` -- the same documents,
    in the same order -- but faster for the usual tree.

    A tree that fits one document (at most 50 annotations, not too deep, no standalone
    field inside a body) is nested as dicts and encoded by ONE ``orjson.dumps``; any
    other tree goes through the encode, split and trim path. An item that cannot be
    encoded at all is left out and appended to ``failed`` with its error (the caller
    counts it as a translate error).
    """
    _check_limit(max_document_bytes)
    if not items:
        return []
    trees = _build_item_trees(items)
    if trees is None:  # duplicate span ids: only the general path handles them
        return _pack_encoded(items, max_document_bytes, counters, failed)
    tops, kids = trees
    link_propagated(tops, kids)
    # The general path counts into a scratch first: it may have to restart from scratch.
    scratch: Optional[Counters] = None
    documents: List[Packed] = []
    detached: List[_Node] = []
    try:
        for top in tops:
            packed = _nest_whole(top, kids, max_document_bytes)
            if packed is None:
                if scratch is None:
                    scratch = Counters()
                packed = _pack_tree(top, kids, max_document_bytes, detached, scratch)
            documents.append(packed)
    except _EncodeFailed:
        return _pack_encoded(items, max_document_bytes, counters, failed)
    if detached and scratch is not None:  # only the general path detaches
        scratch.add("documents_split", len(detached))
        documents.extend(_assemble(node) for node in detached)
    if sum(packed.spans for packed in documents) != len(items):
        # Parent links that form a cycle (only hand-made spans can) left spans out.
        return _pack_encoded(items, max_document_bytes, counters, failed)
    if counters is not None and scratch is not None:
        for name, amount in scratch.snapshot().items():
            counters.add(name, amount)
    return documents


def encode_document(document: Dict[str, Any]) -> bytes:
    """Compact strict JSON of any document dict (never NaN, surrogates or non-str keys)."""
    return _dumps(document)


# --- trees ------------------------------------------------------------------------------


class _Node:
    __slots__ = ("children", "height", "seen", "size", "span")

    def __init__(self, span: EncodedSpan) -> None:
        self.span = span
        self.children: List[_Node] = []
        self.size = 0
        self.height = 0
        self.seen = False


_start_time = operator.attrgetter("span.start_time")


def _size(node: _Node) -> int:
    return node.size


def _build_trees(nodes: List[_Node]) -> List[List[_Node]]:
    """Link each node under its parent; return each tree's nodes in pre-order."""
    index: Dict[str, _Node] = {node.span.span_id: node for node in nodes}
    tops: List[_Node] = []
    for node in nodes:
        span = node.span
        parent = None
        if not span.is_root and span.parent_id is not None:
            parent = index.get(span.parent_id)
        if parent is None or parent is node or parent.span.trace_id != span.trace_id:
            tops.append(node)
        else:
            parent.children.append(node)
    orders = [_preorder(top) for top in tops]
    if sum(len(order) for order in orders) < len(nodes):
        # Parent links that form a cycle (only a hand-made span can do that): break each
        # cycle at its first node so that no span is lost.
        for node in nodes:
            if not node.seen:
                parent_id = node.span.parent_id
                if parent_id is not None and parent_id in index:
                    siblings = index[parent_id].children
                    if node in siblings:
                        siblings.remove(node)
                orders.append(_preorder(node))
    return orders


def _preorder(top: _Node) -> List[_Node]:
    order: List[_Node] = []
    stack = [top]
    while stack:
        node = stack.pop()
        node.seen = True
        order.append(node)
        kids = node.children
        if kids:
            if len(kids) > 1:
                kids.sort(key=_start_time)
            stack.extend(kids)
    return order


def _cap_annotations(top: _Node, limit: int, counters: Optional[Counters]) -> None:
    """Keep the first 50 annotations breadth-first; move the rest into metadata."""
    budget = MAX_ANNOTATIONS_PER_DOCUMENT
    queue: Deque[_Node] = collections.deque([top])
    while queue:
        node = queue.popleft()
        count = node.span.annotations
        if count:
            if count <= budget:
                budget -= count
            else:
                node.span = _demote_annotations(node.span, budget, limit, counters)
                budget = 0
        queue.extend(node.children)


def _fit_tree(
    order: List[_Node], limit: int, detached: List[_Node], counters: Optional[Counters]
) -> None:
    """Bottom-up: make every subtree fit standalone, detaching its largest children."""
    for node in reversed(order):
        span = node.span
        room = limit - span.prefix_len + 1
        if len(span.body) > room:  # packed with a smaller limit than it was encoded for
            span = node.span = _fit_alone(span, limit, counters)
        kids = node.children
        if not kids:
            node.size = len(span.body)
            node.height = 0
            continue
        height = nested = 0
        for kid in kids:
            if kid.height > height:
                height = kid.height
            nested += kid.size
        if height >= MAX_NESTING_DEPTH:
            kept: List[_Node] = []
            for kid in kids:
                (detached if kid.height >= MAX_NESTING_DEPTH else kept).append(kid)
            kids = node.children = kept
            nested = sum(kid.size for kid in kids)
            height = max((kid.height for kid in kids), default=0)
        count = len(kids)
        body_len = len(span.body)
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


def _assemble(top: _Node) -> Packed:
    """Splice the standalone document of ``top`` and its nested subtree."""
    body = top.span.body
    parts: List[bytes] = [top.span.prefix()]
    count = 1
    if not top.children:
        parts.append(body[1:])
        return Packed(b"".join(parts), count)
    parts.append(body[1:-1])
    parts.append(_OPEN)
    stack: List[Union[bytes, _Node]] = [_CLOSE]
    _push_children(stack, top.children)
    while stack:
        item = stack.pop()
        if isinstance(item, bytes):
            parts.append(item)
            continue
        count += 1
        body = item.span.body
        if not item.children:
            parts.append(body)
            continue
        parts.append(body[:-1])
        parts.append(_OPEN)
        stack.append(_CLOSE)
        _push_children(stack, item.children)
    return Packed(b"".join(parts), count)


def _push_children(stack: List[Union[bytes, _Node]], kids: List[_Node]) -> None:
    for index in range(len(kids) - 1, -1, -1):
        stack.append(kids[index])
        if index:
            stack.append(_COMMA)


# --- whole trees from translated items ----------------------------------------------------


class _EncodeFailed(Exception):
    pass


_Kids = Dict[str, List[Translated]]


def _start_of(item: Translated) -> float:
    start = item.body.get("start_time")
    if type(start) is float:
        return start
    return float(start) if isinstance(start, (int, float)) else 0.0  # as encode_span


def _build_item_trees(items: Sequence[Translated]) -> Optional[Tuple[List[Translated], _Kids]]:
    """The tops of :func:`_build_trees` over ``items`` and each span's children by span
    id, in start-time order; ``None`` when span ids repeat."""
    index: Dict[str, Translated] = {item.span_id: item for item in items}
    if len(index) != len(items):
        return None
    tops: List[Translated] = []
    kids: _Kids = {}
    for item in items:
        parent_id = item.parent_id
        if item.is_root or parent_id is None:
            tops.append(item)
            continue
        parent = index.get(parent_id)
        if parent is None or parent is item or parent.trace_id != item.trace_id:
            tops.append(item)
        else:
            siblings = kids.get(parent_id)
            if siblings is None:
                kids[parent_id] = [item]
            else:
                siblings.append(item)
    for siblings in kids.values():
        if len(siblings) > 1:
            siblings.sort(key=_start_of)  # stable, as _preorder sorts
    return tops, kids


def _nest_whole(top: Translated, kids: _Kids, limit: int) -> Optional[Packed]:
    """The tree as one document encoded once, or ``None`` when it needs the general path.

    The result is byte for byte what :func:`pack_documents` splices: shallow copies of the
    bodies with ``subsegments`` appended, the top's standalone fields first. It is used
    only when no span of the tree could be trimmed or detached there: every nested
    subtree also fits standalone (the document is at most ``limit`` minus the longest
    standalone prefix a nested span could get).
    """
    body = top.body
    if not body or "subsegments" in body or "trace_id" in body or "type" in body or (
        "parent_id" in body
    ):
        return None
    trace_id = top.trace_id
    parent_id = top.parent_id
    if top.as_segment or parent_id is None:
        if parent_id is None:
            doc = {"trace_id": trace_id, **body}
        else:
            doc = {"trace_id": trace_id, "parent_id": parent_id, **body}
    else:
        doc = {"trace_id": trace_id, "type": "subsegment", "parent_id": parent_id, **body}
    annotations = body.get("annotations")
    state = [len(annotations) if isinstance(annotations, dict) else 0, 1, 0]
    children = kids.get(top.span_id)
    if children is not None and not _nest_children(doc, top.span_id, children, kids, 1, state):
        return None
    total, count, longest_parent = state
    if total > MAX_ANNOTATIONS_PER_DOCUMENT:
        return None
    try:
        document = orjson.dumps(doc, default=_json_default)
    except orjson.JSONEncodeError:
        return None
    room = limit
    if count > 1:
        room -= _SUBSEGMENT_LEN + len(trace_id) + longest_parent - 1
    if len(document) > room:
        return None
    return Packed(document, count)


def _nest_children(
    doc: Dict[str, Any], span_id: str, children: List[Translated], kids: _Kids, depth: int,
    state: List[int],
) -> bool:
    """Append copies of ``children`` (and theirs) to ``doc``; ``state`` accumulates
    [annotations, spans, longest parent id]. Recursive: the depth is bounded here."""
    if depth >= MAX_NESTING_DEPTH:
        return False
    if len(span_id) > state[2]:
        state[2] = len(span_id)
    nested: List[Dict[str, Any]] = []
    doc["subsegments"] = nested
    for child in children:
        body = child.body
        if not body or "subsegments" in body:
            return False
        annotations = body.get("annotations")
        if annotations and isinstance(annotations, dict):
            state[0] += len(annotations)
        grandchildren = kids.get(child.span_id)
        if grandchildren is None:
            nested.append(body)  # a leaf is encoded as it is: no copy needed
            continue
        copy = body.copy()
        nested.append(copy)
        if not _nest_children(copy, child.span_id, grandchildren, kids, depth + 1, state):
            return False
    state[1] += len(children)
    return True


def _pack_tree(
    top: Translated, kids: _Kids, limit: int, detached: List[_Node], counters: Counters
) -> Packed:
    """One tree through the general path: encode, cap annotations, fit, splice."""
    root = _Node(_encode_or_fail(top, limit, counters))
    order: List[_Node] = []
    # The same pre-order as _preorder (last child first): _fit_tree detaches in its reverse.
    stack: List[Tuple[Translated, _Node]] = [(top, root)]
    while stack:
        item, node = stack.pop()
        node.seen = True
        order.append(node)
        for kid in kids.get(item.span_id, ()):
            child = _Node(_encode_or_fail(kid, limit, counters))
            node.children.append(child)
            stack.append((kid, child))
    total = 0
    for node in order:
        total += node.span.annotations
    if total > MAX_ANNOTATIONS_PER_DOCUMENT:
        _cap_annotations(order[0], limit, counters)
    _fit_tree(order, limit, detached, counters)
    return _assemble(order[0])


def _encode_or_fail(item: Translated, limit: int, counters: Counters) -> EncodedSpan:
    try:
        return encode_span(item, max_document_bytes=limit, counters=counters)
    except Exception as exc:
        raise _EncodeFailed() from exc


def _pack_encoded(
    items: Sequence[Translated],
    limit: int,
    counters: Optional[Counters],
    failed: Optional[List[Tuple[Translated, Exception]]],
) -> List[Packed]:
    encoded: List[EncodedSpan] = []
    for item in items:
        try:
            encoded.append(encode_span(item, max_document_bytes=limit, counters=counters))
        except Exception as exc:
            if failed is not None:
                failed.append((item, exc))
    return pack_documents(encoded, max_document_bytes=limit, counters=counters)


# --- one span too big: trimming ----------------------------------------------------------


def _check_limit(limit: int) -> None:
    if limit < MIN_DOCUMENT_BYTES:
        raise ValueError(
            f"max_document_bytes must be at least {MIN_DOCUMENT_BYTES}, got {limit}"
        )


def _fit_alone(span: EncodedSpan, limit: int, counters: Optional[Counters]) -> EncodedSpan:
    budget = limit - span.prefix_len + 1
    if len(span.body) <= budget:
        return span
    doc = orjson.loads(span.body)
    body = _trim(doc, len(span.body), budget)
    if counters is not None:
        counters.add("spans_trimmed")
    annotations = doc.get("annotations")
    return _replace_body(span, body, len(annotations) if isinstance(annotations, dict) else 0)


def _replace_body(span: EncodedSpan, body: bytes, annotations: int) -> EncodedSpan:
    return EncodedSpan(
        span.trace_id, span.span_id, span.parent_id, span.is_root, span.as_segment,
        span.start_time, body, annotations,
    )


_Step = Callable[[Dict[str, Any], int], bool]


def _trim(doc: Dict[str, Any], original: int, budget: int) -> bytes:
    """Cut ``doc`` down to ``budget`` encoded bytes, least important content first.

    Each step only runs while the document is still too big; what ran is listed in
    ``metadata.otel_xray.trimmed`` with the original size.
    """
    trimmed: List[str] = []
    body = b""
    size = original
    for name, step in _TRIM_STEPS:
        if step(doc, size - budget + _MARKER_RESERVE):
            trimmed.append(name)
            _mark_trimmed(doc, trimmed, original)
            body = _dumps(doc)
            size = len(body)
            if size <= budget:
                return body
    # Unreachable with limit >= MIN_DOCUMENT_BYTES: the last step keeps a few short fields.
    raise ValueError(f"span cannot be trimmed to {budget} bytes")


def _mark_trimmed(doc: Dict[str, Any], trimmed: List[str], original: int) -> None:
    metadata = doc.get("metadata")
    if not isinstance(metadata, dict):
        metadata = doc["metadata"] = {}
    metadata[TRIM_NAMESPACE] = {"trimmed": list(trimmed), "original_bytes": original}


def _trim_metadata(doc: Dict[str, Any], over: int) -> bool:
    """Cut the largest metadata strings, then drop the largest values (events kept)."""
    metadata = doc.get("metadata")
    if not isinstance(metadata, dict):
        return False
    entries: List[Tuple[int, Dict[str, Any], str]] = []
    for namespace, values in metadata.items():
        if namespace == TRIM_NAMESPACE or not isinstance(values, dict):
            continue
        for key, value in values.items():
            if namespace == ANNOTATION_OVERFLOW_NAMESPACE and key in (
                EVENTS_KEY, EVENTS_DROPPED_KEY, LINKS_DROPPED_KEY
            ):
                continue
            entries.append((len(_dumps(value)), values, key))
    if not entries:
        return False
    entries.sort(key=lambda entry: entry[0], reverse=True)
    # First cut long strings (largest first), keeping the start of each...
    for index, (size, values, key) in enumerate(entries):
        value = values[key]
        if over <= 0:
            break
        if isinstance(value, str) and len(value) > _KEEP_STRING:
            keep = max(_KEEP_STRING, len(value) - over - len(TRUNCATION_MARKER))
            cut = value[:keep] + TRUNCATION_MARKER
            values[key] = cut
            new_size = len(_dumps(cut))
            over -= size - new_size
            entries[index] = (new_size, values, key)
    # ...then drop whole values, largest first.
    if over > 0:
        entries.sort(key=lambda entry: entry[0], reverse=True)
        for size, values, key in entries:
            if over <= 0:
                break
            del values[key]
            over -= size + len(_dumps(key)) + 2
    for namespace in [ns for ns, values in metadata.items() if values == {}]:
        del metadata[namespace]
    return True


def _trim_strings(doc: Dict[str, Any], over: int) -> bool:
    """Cut every string longer than 256 code points outside metadata and annotations."""
    changed = False
    stack: List[Any] = [
        value for key, value in doc.items()
        if key not in ("metadata", "annotations", "name", "id")
    ]
    if isinstance(doc.get("name"), str) and len(doc["name"]) > _NAME_LIMIT:
        doc["name"] = doc["name"][:_NAME_LIMIT]
        changed = True
    while stack:
        container = stack.pop()
        if isinstance(container, dict):
            items: Iterable[Tuple[Any, Any]] = list(container.items())
        elif isinstance(container, list):
            items = list(enumerate(container))
        else:
            continue
        for key, value in items:
            if isinstance(value, str):
                if len(value) > _SHORT_STRING:
                    container[key] = value[:_SHORT_STRING] + TRUNCATION_MARKER
                    changed = True
            elif isinstance(value, (dict, list)):
                stack.append(value)
    return changed


def _trim_events(doc: Dict[str, Any], over: int) -> bool:
    """Drop span events kept in metadata, last first, and count them as dropped."""
    default = _metadata_namespace(doc, ANNOTATION_OVERFLOW_NAMESPACE)
    events = default.get(EVENTS_KEY) if default is not None else None
    if default is None or not isinstance(events, list) or not events:
        return False
    dropped = _drop_last(events, over)
    if len(events) == 0:
        del default[EVENTS_KEY]
    previous = default.get(EVENTS_DROPPED_KEY)
    default[EVENTS_DROPPED_KEY] = dropped + (previous if isinstance(previous, int) else 0)
    return True


def _trim_links(doc: Dict[str, Any], over: int) -> bool:
    """Drop span links, last first, and count them in ``metadata.default``."""
    links = doc.get("links")
    if not isinstance(links, list) or not links:
        return False
    dropped = _drop_last(links, over)
    if len(links) == 0:
        del doc["links"]
    default = _metadata_namespace(doc, ANNOTATION_OVERFLOW_NAMESPACE, create=True)
    assert default is not None
    previous = default.get(LINKS_DROPPED_KEY)
    default[LINKS_DROPPED_KEY] = dropped + (previous if isinstance(previous, int) else 0)
    return True


def _trim_stack_frames(doc: Dict[str, Any], over: int) -> bool:
    """Halve every exception's stack (outermost frames go) until it fits, counting the
    frames left out in ``truncated``; then drop all but the first exception."""
    cause = doc.get("cause")
    exceptions = cause.get("exceptions") if isinstance(cause, dict) else None
    if not isinstance(exceptions, list) or not exceptions:
        return False
    assert isinstance(cause, dict)
    stacks = [
        (exc, [len(_dumps(frame)) + 1 for frame in exc["stack"]])
        for exc in exceptions
        if isinstance(exc, dict) and isinstance(exc.get("stack"), list) and exc["stack"]
    ]
    keep = max((len(sizes) for _, sizes in stacks), default=0)
    while over > 0 and keep > 0:
        keep //= 2
        for exc, sizes in stacks:
            removed = len(exc["stack"]) - keep
            if removed <= 0:
                continue
            over -= sum(sizes[keep : len(exc["stack"])])
            del exc["stack"][keep:]
            previous = exc.get("truncated")
            exc["truncated"] = removed + (previous if isinstance(previous, int) else 0)
    for exc, _ in stacks:
        if not exc["stack"]:
            del exc["stack"]
    if over > 0:
        del exceptions[1:]
        paths = cause.get("paths")
        if isinstance(paths, list):
            del paths[16:]
    return True


def _trim_annotations(doc: Dict[str, Any], over: int) -> bool:
    """Drop the largest annotations until the document fits."""
    annotations = doc.get("annotations")
    if not isinstance(annotations, dict) or not annotations:
        return False
    sizes = sorted(
        ((len(_dumps(key)) + len(_dumps(value)) + 2, key) for key, value in annotations.items()),
        reverse=True,
    )
    for size, key in sizes:
        if over <= 0:
            break
        del annotations[key]
        over -= size
    if len(annotations) == 0:
        del doc["annotations"]
    return True


def _trim_to_essentials(doc: Dict[str, Any], over: int) -> bool:
    """Last resort: the identity, times, flags and a short ``http`` block only."""
    kept = {key: doc[key] for key in _ESSENTIAL_KEYS if key in doc}
    name = kept.get("name")
    if isinstance(name, str):
        kept["name"] = name[:_NAME_LIMIT]
    http = kept.get("http")
    if isinstance(http, dict):
        kept["http"] = {
            part: {
                key: value[:_ESSENTIAL_STRING] if isinstance(value, str) else value
                for key, value in fields.items()
                if not isinstance(value, (dict, list))
            }
            for part, fields in http.items()
            if isinstance(fields, dict)
        }
    else:
        kept.pop("http", None)
    for key in ("origin", "namespace"):
        if isinstance(kept.get(key), str):
            kept[key] = kept[key][:_ESSENTIAL_STRING]
    doc.clear()
    doc.update(kept)
    return True


_TRIM_STEPS: Tuple[Tuple[str, _Step], ...] = (
    ("metadata", _trim_metadata),
    ("strings", _trim_strings),
    ("events", _trim_events),
    ("links", _trim_links),
    ("stack_frames", _trim_stack_frames),
    ("annotations", _trim_annotations),
    ("all", _trim_to_essentials),
)


def _drop_last(items: List[Any], over: int) -> int:
    """Remove items from the end until ``over`` bytes are saved; return how many."""
    dropped = 0
    while items and over > 0:
        over -= len(_dumps(items.pop())) + 1
        dropped += 1
    return dropped


def _metadata_namespace(
    doc: Dict[str, Any], namespace: str, *, create: bool = False
) -> Optional[Dict[str, Any]]:
    metadata = doc.get("metadata")
    if not isinstance(metadata, dict):
        if not create:
            return None
        metadata = doc["metadata"] = {}
    values = metadata.get(namespace)
    if not isinstance(values, dict):
        if not create:
            return None
        values = metadata[namespace] = {}
    return values


# --- annotations over the per-document limit ----------------------------------------------


def _demote_annotations(
    span: EncodedSpan, keep: int, limit: int, counters: Optional[Counters]
) -> EncodedSpan:
    """Keep the first ``keep`` annotations of ``span``; move the rest into metadata."""
    doc = orjson.loads(span.body)
    annotations = doc.get("annotations")
    if not isinstance(annotations, dict):
        return span
    items = list(annotations.items())
    if keep:
        doc["annotations"] = dict(items[:keep])
    else:
        del doc["annotations"]
    default = _metadata_namespace(doc, ANNOTATION_OVERFLOW_NAMESPACE, create=True)
    assert default is not None
    for key, value in items[keep:]:
        default.setdefault(key, value)
    if counters is not None:
        counters.add("annotations_moved", len(items) - keep)
    return _fit_alone(_replace_body(span, _dumps(doc), keep), limit, counters)


# --- encoding -----------------------------------------------------------------------------


def _dumps(value: Any) -> bytes:
    try:
        return orjson.dumps(value, default=_json_default)
    except orjson.JSONEncodeError:
        # Values the translator should have made safe (huge ints, surrogates, non-str
        # keys, deep nesting): convert them rather than lose the span.
        return orjson.dumps(_sanitize(value, 0), default=_json_default)


def _json_default(value: Any) -> Any:
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).decode("utf-8", "replace")
    if isinstance(value, (set, frozenset)):
        return list(value)
    return str(value)


def _sanitize(value: Any, depth: int) -> Any:
    if isinstance(value, str):
        return value.encode("utf-8", "replace").decode("utf-8")
    if isinstance(value, bool) or value is None or isinstance(value, float):
        return value
    if isinstance(value, int):
        return value if _INT_MIN <= value <= _INT_MAX else str(value)
    if depth >= _SANITIZE_DEPTH:
        return TRUNCATION_MARKER
    if isinstance(value, dict):
        return {
            _sanitize(key if isinstance(key, str) else str(key), depth): _sanitize(item, depth + 1)
            for key, item in value.items()
        }
    if isinstance(value, (list, tuple)):
        return [_sanitize(item, depth + 1) for item in value]
    return _sanitize(_json_default(value), depth)


__all__ = [
    "ANNOTATION_OVERFLOW_NAMESPACE",
    "MAX_ANNOTATIONS_PER_DOCUMENT",
    "MAX_NESTING_DEPTH",
    "MIN_DOCUMENT_BYTES",
    "TRIM_NAMESPACE",
    "EncodedSpan",
    "Packed",
    "encode_document",
    "encode_span",
    "pack",
    "pack_documents",
    "pack_translated",
    "pack_translated_documents",
]
