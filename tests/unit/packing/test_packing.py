"""Packing: local span trees nest into one document; too-big trees split, too-big spans trim."""

from __future__ import annotations

import traceback
from typing import Any, Dict, List, Optional, Sequence

import orjson
import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import SpanKind

from otel_xray import TranslateOptions
from otel_xray._diag import Counters
from otel_xray.packing import (
    MAX_ANNOTATIONS_PER_DOCUMENT,
    MAX_NESTING_DEPTH,
    MIN_DOCUMENT_BYTES,
    TRIM_NAMESPACE,
    encode_document,
    encode_span,
    pack,
    pack_documents,
    pack_translated,
    pack_translated_documents,
)
from otel_xray.translate.segment import Translated, standalone, translate_span
from tests.support.helpers import MAX_DOCUMENT_BYTES, REMOTE_SPAN_ID, SpanRecorder, remote_context
from tests.support.packing import (
    all_pieces,
    assert_each_span_once_under_its_parent,
    assert_single_encoding_matches_splicing,
    assert_valid_packed,
    depth,
    span_id,
)

OPTIONS = TranslateOptions(lambda_mode=False)


def _translate(
    spans: Sequence[ReadableSpan], options: TranslateOptions = OPTIONS
) -> List[Translated]:
    return [translate_span(span, options) for span in spans]


def _pack(
    spans: Sequence[ReadableSpan],
    options: TranslateOptions = OPTIONS,
    counters: Optional[Counters] = None,
) -> List[Dict[str, Any]]:
    raw = pack_translated(_translate(spans, options), counters=counters)
    return [assert_valid_packed(document) for document in raw]


def _child(tracer: trace.Tracer, name: str, parent: trace.Span, **kwargs: Any) -> trace.Span:
    return tracer.start_span(name, context=trace.set_span_in_context(parent), **kwargs)


def _fan(recorder: SpanRecorder, children: int, attribute_bytes: int = 0) -> List[ReadableSpan]:
    """A SERVER root with ``children`` direct children, each carrying some attribute text."""
    tracer = recorder.tracer
    root = tracer.start_span("root", kind=SpanKind.SERVER)
    for index in range(children):
        _child(tracer, f"child-{index}", root, attributes={"payload": "x" * attribute_bytes}).end()
    root.end()
    return recorder.spans()


def _chain(recorder: SpanRecorder, length: int, attribute_bytes: int = 0) -> List[ReadableSpan]:
    """A root and ``length - 1`` descendants, each the child of the previous one."""
    tracer = recorder.tracer
    opened = [tracer.start_span("level-0", kind=SpanKind.SERVER)]
    for level in range(1, length):
        opened.append(
            _child(tracer, f"level-{level}", opened[-1], attributes={"p": "y" * attribute_bytes})
        )
    for span in reversed(opened):
        span.end()
    return recorder.spans()


# --- nesting --------------------------------------------------------------------------------


def test_local_tree_becomes_one_document_with_nested_subsegments(recorder: SpanRecorder) -> None:
    tracer = recorder.tracer
    root = tracer.start_span("root", kind=SpanKind.SERVER)
    child = _child(tracer, "child", root)
    _child(tracer, "grandchild", child).end()
    child.end()
    root.end()
    spans = recorder.spans()

    documents = _pack(spans)

    assert len(documents) == 1
    (document,) = documents
    assert "type" not in document
    names = [piece["name"] for piece in all_pieces(documents)]
    assert names == ["test-service", "child", "grandchild"]
    assert_each_span_once_under_its_parent(spans, documents)


def test_nested_subsegments_carry_no_standalone_fields(recorder: SpanRecorder) -> None:
    documents = _pack(_fan(recorder, 3))
    for piece in documents[0]["subsegments"]:
        assert not {"type", "trace_id", "parent_id"} & set(piece)


def test_children_are_ordered_by_start_time_not_end_time(recorder: SpanRecorder) -> None:
    tracer = recorder.tracer
    root = tracer.start_span("root", kind=SpanKind.SERVER)
    first = _child(tracer, "first", root)
    second = _child(tracer, "second", root)
    second.end()  # ends (and arrives) before "first"
    first.end()
    root.end()

    (document,) = _pack(recorder.spans())

    assert [child["name"] for child in document["subsegments"]] == ["first", "second"]


def test_spliced_document_equals_the_nested_dict_encoded_whole(recorder: SpanRecorder) -> None:
    spans = _fan(recorder, 4, attribute_bytes=10)
    items = {item.span_id: item for item in _translate(spans)}
    root = next(item for item in items.values() if item.is_root)
    expected = standalone(root)
    expected["subsegments"] = sorted(
        (item.body for item in items.values() if not item.is_root),
        key=lambda body: body["start_time"],
    )

    (raw,) = pack_translated(items.values())

    assert orjson.loads(raw) == expected
    assert len(raw) == len(orjson.dumps(expected))


def test_span_whose_parent_is_not_in_the_batch_is_a_standalone_subsegment_with_its_children(
    recorder: SpanRecorder,
) -> None:
    tracer = recorder.tracer
    root = tracer.start_span("root", kind=SpanKind.SERVER)
    late = _child(tracer, "late", root)
    _child(tracer, "late-child", late).end()
    late.end()
    root.end()
    batch = [span for span in recorder.spans() if span.name != "root"]

    (document,) = _pack(batch)

    assert document["type"] == "subsegment"
    assert document["parent_id"] == span_id(recorder.spans()[-1])
    assert [child["name"] for child in document["subsegments"]] == ["late-child"]


def test_server_span_under_a_local_parent_tops_its_own_document(recorder: SpanRecorder) -> None:
    tracer = recorder.tracer
    root = tracer.start_span("root", kind=SpanKind.SERVER)
    client = _child(tracer, "client", root, kind=SpanKind.CLIENT)
    server = _child(tracer, "server", client, kind=SpanKind.SERVER)
    _child(tracer, "handler", server).end()
    server.end()
    client.end()
    root.end()
    spans = recorder.spans()

    documents = _pack(spans)

    assert len(documents) == 2
    inner = next(doc for doc in documents if doc["parent_id" if "parent_id" in doc else "id"]
                 == span_id(spans[2]))
    assert "type" not in inner and inner["subsegments"][0]["name"] == "handler"
    assert_each_span_once_under_its_parent(spans, documents)


def test_root_with_remote_parent_nests_its_children(recorder: SpanRecorder) -> None:
    tracer = recorder.tracer
    root = tracer.start_span(
        "incoming", kind=SpanKind.SERVER,
        context=trace.set_span_in_context(trace.NonRecordingSpan(remote_context())),
    )
    _child(tracer, "work", root).end()
    root.end()

    (document,) = _pack(recorder.spans())

    assert "type" not in document
    assert document["parent_id"] == f"{REMOTE_SPAN_ID:016x}"
    assert document["subsegments"][0]["name"] == "work"


def test_on_lambda_a_root_with_remote_parent_is_a_subsegment_that_nests_children(
    recorder: SpanRecorder,
) -> None:
    tracer = recorder.tracer
    handler = tracer.start_span(
        "handler", kind=SpanKind.SERVER,
        context=trace.set_span_in_context(trace.NonRecordingSpan(remote_context())),
    )
    _child(tracer, "work", handler).end()
    handler.end()

    (document,) = _pack(recorder.spans(), TranslateOptions(lambda_mode=True))

    assert document["type"] == "subsegment"
    assert document["parent_id"] == f"{REMOTE_SPAN_ID:016x}"
    assert document["subsegments"][0]["name"] == "work"


def test_spans_of_several_traces_pack_into_one_document_per_trace(recorder: SpanRecorder) -> None:
    for _ in range(3):
        _fan(recorder, 2)
    spans = recorder.spans()
    documents = _pack(spans)
    assert len(documents) == 3
    assert len({doc["trace_id"] for doc in documents}) == 3
    assert_each_span_once_under_its_parent(spans, documents)


def test_empty_batch_packs_to_nothing() -> None:
    assert pack([]) == []


# --- splitting --------------------------------------------------------------------------------


def test_thousand_child_tree_splits_into_documents_that_each_fit(recorder: SpanRecorder) -> None:
    spans = _fan(recorder, 1000, attribute_bytes=200)
    counters = Counters()

    documents = _pack(spans, counters=counters)

    assert_each_span_once_under_its_parent(spans, documents)
    total = sum(len(orjson.dumps(doc)) for doc in documents)
    assert total > MAX_DOCUMENT_BYTES
    # Each detached child is its own document: the root's keeps as many as fit.
    assert len(documents[0]["subsegments"]) > 150
    assert counters.get("documents_split") == len(documents) - 1
    for document in documents[1:]:
        assert document["type"] == "subsegment" and document["parent_id"] == documents[0]["id"]


def test_largest_subtree_is_detached_first(recorder: SpanRecorder) -> None:
    tracer = recorder.tracer
    root = tracer.start_span("root", kind=SpanKind.SERVER)
    sizes = {"big": (20_000, 20_000), "medium": (25_000, 0), "small": (5_000, 0), "tiny": (10, 0)}
    for name, (first, second) in sizes.items():
        _child(tracer, name, root, attributes={"a": "z" * first, "b": "z" * second}).end()
    root.end()

    documents = _pack(recorder.spans())

    assert len(documents) == 2
    assert [child["name"] for child in documents[0]["subsegments"]] == ["medium", "small", "tiny"]
    assert documents[1]["name"] == "big" and documents[1]["type"] == "subsegment"


def test_split_keeps_grandchildren_with_their_parent_when_it_fits(recorder: SpanRecorder) -> None:
    tracer = recorder.tracer
    root = tracer.start_span("root", kind=SpanKind.SERVER)
    for branch in range(3):
        child = _child(tracer, f"branch-{branch}", root)
        for leaf in range(40):
            _child(tracer, f"leaf-{branch}-{leaf}", child, attributes={"p": "q" * 500}).end()
        child.end()
    root.end()
    spans = recorder.spans()

    documents = _pack(spans)

    assert_each_span_once_under_its_parent(spans, documents)
    # ~21 kB per branch: a branch and its leaves stay together.
    for document in documents[1:]:
        assert document["name"].startswith("branch-")
        assert len(document["subsegments"]) == 40


def test_two_thousand_deep_chain_packs_without_recursion(recorder: SpanRecorder) -> None:
    spans = _chain(recorder, 2000, attribute_bytes=20)

    documents = _pack(spans)

    assert_each_span_once_under_its_parent(spans, documents)
    assert all(depth(doc) <= MAX_NESTING_DEPTH for doc in documents)
    assert len(documents) == -(-2000 // (MAX_NESTING_DEPTH + 1))


def test_deep_chain_of_big_spans_splits_by_size_and_depth(recorder: SpanRecorder) -> None:
    spans = _chain(recorder, 300, attribute_bytes=2000)

    documents = _pack(spans)

    assert_each_span_once_under_its_parent(spans, documents)
    assert 10 <= len(documents) <= 15  # ~600 kB in documents of up to 64 kB


# --- trimming ---------------------------------------------------------------------------------


def _huge_span(recorder: SpanRecorder, **kwargs: Any) -> ReadableSpan:
    attributes = {f"attr.{index}": f"{index}:" + "v" * 30_000 for index in range(100)}
    return recorder.span("huge", parent="local", attributes=attributes, **kwargs)


def test_span_with_megabytes_of_attributes_is_trimmed_not_dropped(recorder: SpanRecorder) -> None:
    span = _huge_span(recorder)
    counters = Counters()

    (document,) = _pack([span], counters=counters)

    assert document["id"] == span_id(span)
    marker = document["metadata"][TRIM_NAMESPACE]
    assert marker["trimmed"] == ["metadata"]
    assert marker["original_bytes"] > 3_000_000
    assert counters.get("spans_trimmed") == 1


def test_trimming_cuts_metadata_strings_before_dropping_values(recorder: SpanRecorder) -> None:
    span = recorder.span("big", parent="local", attributes={"one": "w" * 100_000, "small": "s"})

    (document,) = _pack([span])

    default = document["metadata"]["default"]
    assert default["small"] == "s"
    assert default["one"].startswith("www") and default["one"].endswith("...[truncated]")


def _deep_recursion(levels: int) -> None:
    if levels:
        _deep_recursion(levels - 1)
    raise RuntimeError("bottom of a very deep stack " + "m" * 200)


def test_huge_exception_stack_is_cut_with_truncated_counting_the_frames_left_out(
    recorder: SpanRecorder,
) -> None:
    try:
        _deep_recursion(900)
    except RuntimeError as exc:
        text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    stacktrace = text.replace('File "', 'File "' + "/very/long/path" * 20 + "/")
    span = recorder.span(
        "failing", parent="local",
        events=[("exception", {"exception.type": "RuntimeError", "exception.message": "boom",
                               "exception.stacktrace": stacktrace})] * 3,
    )
    options = TranslateOptions(lambda_mode=False, max_stack_frames=100_000)
    full = translate_span(span, options).body["cause"]["exceptions"][0]

    (document,) = _pack([span], options)

    exception = document["cause"]["exceptions"][0]
    assert "stack_frames" in document["metadata"][TRIM_NAMESPACE]["trimmed"]
    kept = len(exception.get("stack", []))
    assert kept < len(full["stack"])
    assert exception["truncated"] == full.get("truncated", 0) + len(full["stack"]) - kept


def test_annotations_are_trimmed_last(recorder: SpanRecorder) -> None:
    options = TranslateOptions(lambda_mode=False, indexed_attributes=("team",))
    attributes: Dict[str, Any] = {"team": "payments"}
    attributes.update({f"attr.{index}": "v" * 20_000 for index in range(10)})
    span = recorder.span("big", parent="local", attributes=attributes)

    (document,) = _pack([span], options)

    assert document["annotations"] == {"team": "payments"}


@pytest.mark.parametrize("events", [0, 1], ids=["no-events", "with-events"])
def test_trimmed_document_is_valid_and_fits(recorder: SpanRecorder, events: int) -> None:
    span = _huge_span(
        recorder, events=[("note", {"text": "e" * 30_000})] * 30 * events
    )
    (document,) = _pack([span])
    assert document["name"] == "huge"


def test_trim_marker_lists_what_was_trimmed_in_order(recorder: SpanRecorder) -> None:
    span = recorder.span(
        "events", parent="local", events=[("note", {"text": "e" * 30_000})] * 30,
    )
    (document,) = _pack([span])
    default = document["metadata"]["default"]
    assert document["metadata"][TRIM_NAMESPACE]["trimmed"] == ["events"]
    assert default["otel.events_dropped"] + len(default.get("otel.events", [])) == 30


# --- annotations per document -----------------------------------------------------------------


def test_at_most_fifty_annotations_per_document_the_rest_move_to_metadata(
    recorder: SpanRecorder,
) -> None:
    options = TranslateOptions(lambda_mode=False, indexed_attributes=("a", "b", "c"))
    tracer = recorder.tracer
    root = tracer.start_span("root", kind=SpanKind.SERVER, attributes={"a": 0, "b": 0, "c": 0})
    for index in range(1, 30):
        attributes = {"a": index, "b": index, "c": index}
        _child(tracer, f"child-{index}", root, attributes=attributes).end()
    root.end()
    counters = Counters()

    (document,) = _pack(recorder.spans(), options, counters)

    pieces = all_pieces([document])
    annotations = sum(len(piece.get("annotations", {})) for piece in pieces)
    assert annotations == MAX_ANNOTATIONS_PER_DOCUMENT
    assert counters.get("annotations_moved") == 30 * 3 - MAX_ANNOTATIONS_PER_DOCUMENT
    assert document["annotations"] == {"a": 0, "b": 0, "c": 0}
    last = document["subsegments"][-1]
    assert "annotations" not in last
    assert last["metadata"]["default"] == {"a": 29, "b": 29, "c": 29}


# --- encoding safety net ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [2**80, "lone \ud800 surrogate", {1: "int key"}, b"\xff bytes", {"nested": [{"x": 2**90}]},
     float("nan")],
    ids=["huge-int", "surrogate", "int-key", "bytes", "nested-huge-int", "nan"],
)
def test_encode_document_always_produces_strict_json(value: Any) -> None:
    document = {
        "name": "n", "id": "0123456789abcdef", "trace_id": "1-5759e988-bd862e3fe1be46a994272793",
        "start_time": 1.0, "end_time": 2.0, "metadata": {"default": {"v": value}},
    }
    assert_valid_packed(encode_document(document))


def test_document_limit_below_the_minimum_is_rejected(recorder: SpanRecorder) -> None:
    item = translate_span(recorder.span("s"), OPTIONS)
    with pytest.raises(ValueError, match="max_document_bytes"):
        encode_span(item, max_document_bytes=MIN_DOCUMENT_BYTES - 1)


def test_smaller_limit_is_honoured(recorder: SpanRecorder) -> None:
    spans = _fan(recorder, 200, attribute_bytes=100)
    limit = MIN_DOCUMENT_BYTES
    raw = pack_documents(
        [encode_span(item, max_document_bytes=limit) for item in _translate(spans)],
        max_document_bytes=limit,
    )
    documents = [assert_valid_packed(packed.document, limit) for packed in raw]
    assert sum(packed.spans for packed in raw) == len(spans)
    assert_each_span_once_under_its_parent(spans, documents)


# --- hand-made input ----------------------------------------------------------------------


def _item(span_id: str, parent_id: Optional[str], **body: Any) -> Translated:
    fields = {"name": f"span-{span_id[-1]}", "id": span_id, "start_time": 1.0, "end_time": 2.0}
    fields.update(body)
    return Translated(fields, "1-5759e988-bd862e3fe1be46a994272793", span_id, parent_id,
                      False, False)


def test_spans_whose_parents_form_a_cycle_are_each_sent_once() -> None:
    items = [
        _item("000000000000000a", "000000000000000b"),
        _item("000000000000000b", "000000000000000a"),
        _item("000000000000000c", "000000000000000c"),
    ]
    documents = [assert_valid_packed(raw) for raw in pack_translated(items)]
    assert sorted(piece["id"] for piece in all_pieces(documents)) == [
        "000000000000000a", "000000000000000b", "000000000000000c"
    ]


def test_a_subsegments_key_in_a_body_is_replaced_by_the_packed_children() -> None:
    parent = _item("000000000000000a", "00000000000000ff", subsegments=[{"bogus": True}])
    child = _item("000000000000000b", "000000000000000a")
    (document,) = [assert_valid_packed(raw) for raw in pack_translated([parent, child])]
    assert [piece["id"] for piece in document["subsegments"]] == ["000000000000000b"]


# --- whole-tree encoding: the same documents as splicing -----------------------------------


def _root(span_id: str, **body: Any) -> Translated:
    return _item(span_id, None, **body)._replace(is_root=True, as_segment=True)


def _tree(children: int, **child_body: Any) -> List[Translated]:
    items = [_root("0000000000000001")]
    for index in range(children):
        body: Dict[str, Any] = {"start_time": float(children - index)}
        body.update(child_body)
        items.append(_item(f"{index + 2:016x}", "0000000000000001", **body))
    return items


def _chain_items(length: int) -> List[Translated]:
    items = [_root("0000000000000001")]
    items.extend(_item(f"{index:016x}", f"{index - 1:016x}") for index in range(2, length + 1))
    return items


_OTHER_TRACE = "1-5759e988-00000000000000000000000f"
_WHOLE_TREE_CASES = {
    "tree that fits": _tree(9, annotations={"a": 1}),
    "tree just under the limit": _tree(6, metadata={"default": {"p": "x" * 9000}}),
    "tree over the limit": _tree(12, metadata={"default": {"p": "x" * 9000}}),
    "child too big alone": _tree(2, metadata={"default": {"p": "x" * 70_000}}),
    "over 50 annotations": _tree(6, annotations={f"k{i}": i for i in range(12)}),
    "chain at the nesting limit": _chain_items(MAX_NESTING_DEPTH + 1),
    "chain past the nesting limit": _chain_items(MAX_NESTING_DEPTH + 3),
    "children with equal start times": _tree(5, start_time=1.0),
    "odd start times": [
        *_tree(3, start_time="soon"),
        _item("00000000000000aa", "0000000000000001", start_time=True),
    ],
    "values orjson cannot encode": _tree(2, metadata={"default": {1: "x", "big": 1 << 70}}),
    "body carrying subsegments": [
        _root("0000000000000001", subsegments=[{"x": 1}]), *_tree(2)[1:]
    ],
    "top body carrying a standalone field": [_root("0000000000000001", type="x"), *_tree(1)[1:]],
    "duplicate span ids": [*_tree(2), _item("0000000000000002", "0000000000000001")],
    "parent cycle": [
        *_tree(1),
        _item("000000000000000a", "000000000000000b"),
        _item("000000000000000b", "000000000000000a"),
    ],
    "several traces and orphans": [
        *_tree(3),
        _item("00000000000000f1", "00000000000000ee")._replace(trace_id=_OTHER_TRACE),
        _item("00000000000000f2", "00000000000000f1")._replace(trace_id=_OTHER_TRACE),
    ],
}


@pytest.mark.parametrize("limit", [MIN_DOCUMENT_BYTES, 64_000], ids=["8k", "64k"])
@pytest.mark.parametrize(
    "items", list(_WHOLE_TREE_CASES.values()), ids=list(_WHOLE_TREE_CASES)
)
def test_whole_tree_encoding_gives_the_bytes_and_counts_of_splicing(
    items: List[Translated], limit: int
) -> None:
    packed = assert_single_encoding_matches_splicing(items, limit)
    for document in packed:  # strict JSON that fits (some inputs here are not valid X-Ray)
        assert len(document.document) <= limit
        assert isinstance(orjson.loads(document.document), dict)


def test_whole_tree_encoding_leaves_the_translated_bodies_unchanged() -> None:
    items = [*_tree(3), _item("0000000000000009", "0000000000000002")]
    before = [dict(item.body) for item in items]

    pack_translated_documents(items)

    assert [item.body for item in items] == before


def test_a_span_that_cannot_be_encoded_is_reported_and_the_rest_are_packed() -> None:
    items = _tree(2)
    broken = Translated({}, items[0].trace_id, "00000000000000bb", "0000000000000001",
                        False, False)
    failed: List[Any] = []

    packed = pack_translated_documents([*items, broken], failed=failed)

    assert [item for item, _ in failed] == [broken]
    assert packed == pack_documents([encode_span(item) for item in items])
