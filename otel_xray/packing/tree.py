"""The tree model: translated spans linked under their parents, children by start time.

Built once per batch by :func:`build`; :mod:`.fit` turns each tree into documents.
"""

from __future__ import annotations

from typing import Dict, List, NamedTuple, Sequence, Set

from ..translate.segment import Translated


class Forest(NamedTuple):
    """The trees of one batch."""

    tops: List[Translated]
    """The span topping each tree, in batch order."""
    children: Dict[str, List[Translated]]
    """Each parent's children by its span id, in start-time order (ties: batch order)."""
    items: Sequence[Translated]
    """The batch (see :func:`build` for repeated span ids)."""


def _start_time(item: Translated) -> float:
    """The span's ``start_time`` as a float (0.0 when it is not a number)."""
    start = item.body.get("start_time")
    if type(start) is float:
        return start
    return float(start) if isinstance(start, (int, float)) else 0.0


def build(items: Sequence[Translated]) -> Forest:
    """Link each span under its parent.

    A span nests under its parent when the parent is among ``items`` (the last one with
    that span id), in the same trace, and the span is not a document root; every other
    span tops a tree. Parent links that form a cycle are not resolved here (see
    :func:`cycle_tops`).
    """
    index: Dict[str, Translated] = {item.span_id: item for item in items}
    if len(index) != len(items):
        items = _unshadowed(items, index)
    tops: List[Translated] = []
    children: Dict[str, List[Translated]] = {}
    for item in items:
        parent_id = item.parent_id
        if item.is_root or parent_id is None:
            tops.append(item)
            continue
        parent = index.get(parent_id)
        if parent is None or parent is item or parent.trace_id != item.trace_id:
            tops.append(item)
        else:
            siblings = children.get(parent_id)
            if siblings is None:
                children[parent_id] = [item]
            else:
                siblings.append(item)
    for siblings in children.values():
        if len(siblings) > 1:
            siblings.sort(key=_start_time)  # stable
    return Forest(tops, children, items)


def cycle_tops(forest: Forest) -> List[Translated]:
    """Tops for the spans no tree reaches: their parent links form a cycle (only hand-made
    spans can). Each cycle is broken at its first span in batch order, which leaves its
    parent's children and tops a tree of its own; no span is lost."""
    children = forest.children
    seen: Set[int] = set()
    _mark(forest.tops, children, seen)
    tops: List[Translated] = []
    for item in forest.items:
        if id(item) in seen:
            continue
        key = item.parent_id
        siblings = children.get(key) if key is not None else None
        if siblings is not None and item in siblings:
            siblings.remove(item)
            if not siblings:
                del children[key]  # type: ignore[arg-type]
        tops.append(item)
        _mark([item], children, seen)
    return tops


def _mark(tops: List[Translated], children: Dict[str, List[Translated]], seen: Set[int]) -> None:
    stack = list(tops)
    while stack:
        item = stack.pop()
        seen.add(id(item))
        stack.extend(children.get(item.span_id, ()))


def _unshadowed(
    items: Sequence[Translated], index: Dict[str, Translated]
) -> List[Translated]:
    """Children attach to the last span with their parent's id: every earlier span with
    that id (or an earlier occurrence of the same item) gets a private key instead, so
    that it is never taken for their parent. The key never shows in a document."""
    last = {id(item): position for position, item in enumerate(items)}
    result: List[Translated] = []
    for position, item in enumerate(items):
        if index[item.span_id] is not item or last[id(item)] != position:
            item = item._replace(span_id=f"{item.span_id}#{position}")
        result.append(item)
    return result
