"""Checks for packed documents: validity in linear time, and where each span landed.

``tests.support.helpers.assert_valid_document`` validates a whole document against the schema, but
the schema's ``unevaluatedProperties`` on embedded subsegments makes jsonschema's work
double with every level of nesting. :func:`assert_valid_packed` therefore checks the
document's bytes (size, strict JSON) as a whole and runs ``assert_valid_document`` on
each (sub)segment separately: the same rules, linear in the size of the tree.
"""

from __future__ import annotations

import json
from typing import Any, Dict, Iterable, List, Optional, Tuple

from opentelemetry.sdk.trace import ReadableSpan

from otel_xray._diag import Counters
from otel_xray.packing import Packed, encode_span, pack_documents, pack_translated_documents
from otel_xray.translate import Translated
from tests.support.helpers import (
    MAX_DOCUMENT_BYTES,
    assert_valid_document,
    reject_json_constant,
    walk,
)

#: Nesting shallow enough for the whole-document schema check to stay fast.
_WHOLE_CHECK_DEPTH = 3


def assert_valid_packed(raw: bytes, limit: int = MAX_DOCUMENT_BYTES) -> Dict[str, Any]:
    """Assert one packed document is valid; return it parsed."""
    assert len(raw) <= limit, f"document of {len(raw)} bytes over the limit {limit}"
    document = json.loads(raw, parse_constant=reject_json_constant)
    assert isinstance(document, dict)
    if depth(document) <= _WHOLE_CHECK_DEPTH:
        assert_valid_document(raw)
    trace_id = document.get("trace_id")
    stack: List[Tuple[Dict[str, Any], Optional[str]]] = [(document, None)]
    while stack:
        piece, parent_id = stack.pop()
        children = piece.get("subsegments", None)
        if children is None:
            children = []
        else:
            assert isinstance(children, list) and children, "subsegments: a non-empty list"
        flat = {key: value for key, value in piece.items() if key != "subsegments"}
        if parent_id is not None:  # embedded: check it as the standalone it could be
            flat.update(type="subsegment", trace_id=trace_id, parent_id=parent_id)
        assert_valid_document(flat)
        stack.extend((child, piece["id"]) for child in children)
    return document


def depth(document: Dict[str, Any]) -> int:
    """Levels of nested subsegments below the document's top (0: none)."""
    deepest = 0
    stack = [(document, 0)]
    while stack:
        piece, level = stack.pop()
        deepest = max(deepest, level)
        stack.extend((child, level + 1) for child in piece.get("subsegments", ()))
    return deepest


def placement(documents: Iterable[Dict[str, Any]]) -> Dict[str, Optional[str]]:
    """Span id -> the id it sits under: its container, or a top's ``parent_id``.

    Fails when any id appears twice.
    """
    placed: Dict[str, Optional[str]] = {}
    for document in documents:
        stack: List[Tuple[Dict[str, Any], Optional[str]]] = [
            (document, document.get("parent_id"))
        ]
        while stack:
            piece, parent_id = stack.pop()
            assert piece["id"] not in placed, f"span {piece['id']} sent twice"
            placed[piece["id"]] = parent_id
            stack.extend((child, piece["id"]) for child in piece.get("subsegments", ()))
    return placed


def span_id(span: ReadableSpan) -> str:
    assert span.context is not None
    return f"{span.context.span_id:016x}"


def parent_id(span: ReadableSpan) -> Optional[str]:
    return None if span.parent is None else f"{span.parent.span_id:016x}"


def assert_each_span_once_under_its_parent(
    spans: Iterable[ReadableSpan], documents: Iterable[Dict[str, Any]]
) -> None:
    """Every span arrived exactly once, nested in or pointing at its real parent."""
    placed = placement(documents)
    expected = {span_id(span): parent_id(span) for span in spans}
    assert set(placed) == set(expected), (
        f"missing {sorted(set(expected) - set(placed))[:5]}, "
        f"unexpected {sorted(set(placed) - set(expected))[:5]}"
    )
    wrong = {sid: (placed[sid], want) for sid, want in expected.items() if placed[sid] != want}
    assert not wrong, f"spans under the wrong parent (got, want): {list(wrong.items())[:5]}"


def all_pieces(documents: Iterable[Dict[str, Any]]) -> List[Dict[str, Any]]:
    """Every (sub)segment of every document (tests.support.helpers.walk on each)."""
    return [piece for document in documents for piece in walk(document)]



def assert_single_encoding_matches_splicing(items: List[Translated], limit: int) -> List[Packed]:
    """Pack ``items`` both ways (one ``orjson.dumps`` per tree, and span-by-span encoding
    spliced together); assert the same bytes and the same counters; return the documents."""
    expected_counters, counters = Counters(), Counters()
    expected = pack_documents(
        [encode_span(item, max_document_bytes=limit, counters=expected_counters)
         for item in items],
        max_document_bytes=limit, counters=expected_counters,
    )
    packed = pack_translated_documents(items, max_document_bytes=limit, counters=counters)
    assert packed == expected
    assert counters.snapshot() == expected_counters.snapshot()
    return packed
