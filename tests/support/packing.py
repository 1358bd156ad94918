"""Checks for packed documents: validity in linear time, and where each span landed.

``tests.support.helpers.assert_valid_document`` validates a whole document against the schema, but
the schema's ``unevaluatedProperties`` on embedded subsegments makes jsonschema's work
double with every level of nesting. :func:`assert_valid_packed` therefore checks the
document's bytes (size, strict JSON) as a whole and runs ``assert_valid_document`` on
each (sub)segment separately: the same rules, linear in the size of the tree.
"""

from __future__ import annotations

import json
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple

from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import SpanKind

from otel_xray import TranslateOptions
from otel_xray._diag import Counters
from otel_xray.packing import Packed, pack
from otel_xray.packing.fit import encode_split, encode_whole
from otel_xray.packing.tree import build
from otel_xray.translate import Translated
from otel_xray.translate.segment import translate_span
from tests.support.helpers import (
    MAX_DOCUMENT_BYTES,
    SpanRecorder,
    assert_valid_document,
    reject_json_constant,
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


def assert_single_encoding_matches_splicing(items: List[Translated], limit: int) -> List[Packed]:
    """Assert that every tree of ``items`` encoded whole (one ``orjson.dumps``) gives the
    bytes of its span-by-span encoding spliced together, with nothing detached, trimmed or
    moved; return ``pack(items)``."""
    forest = build(items)
    for top in forest.tops:
        whole = encode_whole(forest, top, limit)
        if whole is None:
            continue
        detached: List[Any] = []
        counters = Counters()
        assert encode_split(forest, top, limit, detached, counters) == whole
        assert detached == [] and counters.snapshot() == {}
    return pack(items, max_document_bytes=limit)


# --- batches for packing tests ------------------------------------------------------


OPTIONS = TranslateOptions(lambda_mode=False)



def translate_all(
    spans: Sequence[ReadableSpan], options: TranslateOptions = OPTIONS
) -> List[Translated]:
    return [translate_span(span, options) for span in spans]


def pack_spans(
    spans: Sequence[ReadableSpan],
    options: TranslateOptions = OPTIONS,
    counters: Optional[Counters] = None,
) -> List[Dict[str, Any]]:
    packed = pack(translate_all(spans, options), counters=counters)
    return [assert_valid_packed(item.document) for item in packed]


def child_span(tracer: trace.Tracer, name: str, parent: trace.Span, **kwargs: Any) -> trace.Span:
    return tracer.start_span(name, context=trace.set_span_in_context(parent), **kwargs)


def fan(recorder: SpanRecorder, children: int, attribute_bytes: int = 0) -> List[ReadableSpan]:
    """A SERVER root with ``children`` direct children, each carrying some attribute text."""
    tracer = recorder.tracer
    root = tracer.start_span("root", kind=SpanKind.SERVER)
    for index in range(children):
        attributes = {"payload": "x" * attribute_bytes}
        child_span(tracer, f"child-{index}", root, attributes=attributes).end()
    root.end()
    return recorder.spans()


def chain(recorder: SpanRecorder, length: int, attribute_bytes: int = 0) -> List[ReadableSpan]:
    """A root and ``length - 1`` descendants, each the child of the previous one."""
    tracer = recorder.tracer
    opened = [tracer.start_span("level-0", kind=SpanKind.SERVER)]
    for level in range(1, length):
        attributes = {"p": "y" * attribute_bytes}
        opened.append(child_span(tracer, f"level-{level}", opened[-1], attributes=attributes))
    for span in reversed(opened):
        span.end()
    return recorder.spans()



def made_item(span_id: str, parent_id: Optional[str], **body: Any) -> Translated:
    fields = {"name": f"span-{span_id[-1]}", "id": span_id, "start_time": 1.0, "end_time": 2.0}
    fields.update(body)
    return Translated(fields, "1-5759e988-bd862e3fe1be46a994272793", span_id, parent_id,
                      False, False)


def made_root(span_id: str, **body: Any) -> Translated:
    return made_item(span_id, None, **body)._replace(is_root=True, as_segment=True)


def made_tree(children: int, **child_body: Any) -> List[Translated]:
    items = [made_root("0000000000000001")]
    for index in range(children):
        body: Dict[str, Any] = {"start_time": float(children - index)}
        body.update(child_body)
        items.append(made_item(f"{index + 2:016x}", "0000000000000001", **body))
    return items


def made_chain(length: int) -> List[Translated]:
    items = [made_root("0000000000000001")]
    items.extend(made_item(f"{index:016x}", f"{index - 1:016x}") for index in range(2, length + 1))
    return items


