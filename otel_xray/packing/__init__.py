"""Pack translated spans into X-Ray documents: nest local trees, split and trim to fit.

A *document root* (see :func:`~otel_xray.translate.segment.is_document_root`) and its local
descendants, down to the next root, become ONE document whose ``subsegments`` nest
recursively, children in start-time order. Every document stays within
``max_document_bytes`` and :data:`MAX_NESTING_DEPTH` levels, and carries at most
:data:`~otel_xray.translate.limits.MAX_ANNOTATIONS` annotations. The steps, one module each:

- :mod:`.tree` links the spans into trees once (parent attachment, start-time order,
  cycles broken);
- :mod:`.fit` turns each tree into documents: the whole tree encoded by one
  ``orjson.dumps`` when it fits (the usual case), else span bodies encoded once, spliced,
  and the largest subtrees detached into standalone subsegment documents;
- :mod:`.trim` cuts a span too big for a document on its own, least important content
  first, recording the trim in ``metadata.otel_xray`` -- a span is never dropped for size;
- :mod:`.encode` is the orjson encoding with its safety net for values orjson refuses.

Everything here is pure (no I/O, no threads) and iterative (the whole-tree encoding
recurses at most :data:`MAX_NESTING_DEPTH` levels), so that trees of any depth or width
pack without deep recursion.
"""

from __future__ import annotations

import operator
from typing import List, Optional, Sequence, Tuple

from .._diag import Counters
from ..emit.protocol import DEFAULT_MAX_DOCUMENT_BYTES
from ..translate.errors import link_propagated
from ..translate.segment import Translated
from .fit import MAX_NESTING_DEPTH, Node, Packed, fit_tree, splice
from .tree import build, cycle_tops
from .trim import TRIM_NAMESPACE

_BODY = operator.attrgetter("body")

#: The smallest ``max_document_bytes`` accepted: the last-resort trim must always fit.
MIN_DOCUMENT_BYTES = 8192


def pack(
    items: Sequence[Translated],
    *,
    max_document_bytes: int = DEFAULT_MAX_DOCUMENT_BYTES,
    counters: Optional[Counters] = None,
    failed: Optional[List[Tuple[Translated, Exception]]] = None,
) -> List[Packed]:
    """Group translated spans into local trees and encode each tree as few documents as fit.

    A span nests under its parent when the parent is among ``items`` (same trace) and the
    span is not a document root; every other span tops a document of its own: a root as
    its kind (segment, or subsegment on Lambda), any other span as a standalone
    subsegment under its ``parent_id``, its nested descendants included. One document per
    tree, in the order of the tops in ``items``, then the detached subtrees. Every
    document is at most ``max_document_bytes`` long and nests at most
    :data:`MAX_NESTING_DEPTH` levels; every span appears in exactly one document.

    A span whose body is empty cannot be sent: it is left out (its children top their own
    documents) and appended to ``failed`` with the error, for the caller to count.
    ``counters`` (optional) receives ``documents_split`` (subtrees detached to fit),
    ``spans_trimmed`` and ``annotations_moved``. Raises ``ValueError`` when
    ``max_document_bytes`` is below :data:`MIN_DOCUMENT_BYTES`.
    """
    if max_document_bytes < MIN_DOCUMENT_BYTES:
        raise ValueError(
            f"max_document_bytes must be at least {MIN_DOCUMENT_BYTES}, got {max_document_bytes}"
        )
    if not items:
        return []
    if min(map(len, map(_BODY, items))) < 2:  # perhaps a body with nothing to send
        items = _without_empty(items, failed)
    forest = build(items)
    if any("cause" in body for body in map(_BODY, items)):  # most batches carry no error
        link_propagated(forest.tops, forest.children)
    detached: List[Node] = []
    documents: List[Packed] = []
    spans = 0
    for top in forest.tops:
        packed = fit_tree(forest, top, max_document_bytes, detached, counters)
        documents.append(packed)
        spans += packed.spans
    spliced = [splice(node) for node in detached] if detached else []
    for packed in spliced:
        spans += packed.spans
    if spans < len(items):  # parent links that form a cycle left spans out
        more: List[Node] = []
        for top in cycle_tops(forest):
            documents.append(fit_tree(forest, top, max_document_bytes, more, counters))
        spliced.extend(splice(node) for node in more)
        detached.extend(more)
    if detached:
        if counters is not None:
            counters.add("documents_split", len(detached))
        documents.extend(spliced)
    return documents


def _has_fields(item: Translated) -> bool:
    """The body has a field to send (``subsegments`` is packing's own)."""
    body = item.body
    return bool(body) and (len(body) > 1 or "subsegments" not in body)


def _without_empty(
    items: Sequence[Translated], failed: Optional[List[Tuple[Translated, Exception]]]
) -> List[Translated]:
    kept: List[Translated] = []
    for item in items:
        if _has_fields(item):
            kept.append(item)
        elif failed is not None:
            failed.append((item, ValueError(f"span {item.span_id} has an empty document body")))
    return kept


__all__ = ["MAX_NESTING_DEPTH", "MIN_DOCUMENT_BYTES", "TRIM_NAMESPACE", "Packed", "pack"]
