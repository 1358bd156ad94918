"""Packing: too-big trees split into documents that fit; at most 50 annotations per
document; the whole-tree encoding gives the bytes of splicing."""

from __future__ import annotations

from typing import Any, List

import orjson
import pytest
from opentelemetry.trace import SpanKind

from otel_xray import TranslateOptions
from otel_xray._diag import Counters
from otel_xray.packing import MAX_NESTING_DEPTH, MIN_DOCUMENT_BYTES, pack
from otel_xray.translate.limits import MAX_ANNOTATIONS
from otel_xray.translate.segment import Translated
from tests.support.helpers import (
    MAX_DOCUMENT_BYTES,
    SpanRecorder,
    walk,
)
from tests.support.packing import (
    assert_each_span_once_under_its_parent,
    assert_single_encoding_matches_splicing,
    chain,
    child_span,
    depth,
    fan,
    made_chain,
    made_item,
    made_root,
    made_tree,
    pack_spans,
)

# --- splitting --------------------------------------------------------------------------------


def test_thousand_child_tree_splits_into_documents_that_each_fit(recorder: SpanRecorder) -> None:
    spans = fan(recorder, 1000, attribute_bytes=200)
    counters = Counters()

    documents = pack_spans(spans, counters=counters)

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
        child_span(tracer, name, root, attributes={"a": "z" * first, "b": "z" * second}).end()
    root.end()

    documents = pack_spans(recorder.spans())

    assert len(documents) == 2
    assert [child["name"] for child in documents[0]["subsegments"]] == ["medium", "small", "tiny"]
    assert documents[1]["name"] == "big" and documents[1]["type"] == "subsegment"


def test_split_keeps_grandchildren_with_their_parent_when_it_fits(recorder: SpanRecorder) -> None:
    tracer = recorder.tracer
    root = tracer.start_span("root", kind=SpanKind.SERVER)
    for branch in range(3):
        child = child_span(tracer, f"branch-{branch}", root)
        for leaf in range(40):
            child_span(tracer, f"leaf-{branch}-{leaf}", child, attributes={"p": "q" * 500}).end()
        child.end()
    root.end()
    spans = recorder.spans()

    documents = pack_spans(spans)

    assert_each_span_once_under_its_parent(spans, documents)
    # ~21 kB per branch: a branch and its leaves stay together.
    for document in documents[1:]:
        assert document["name"].startswith("branch-")
        assert len(document["subsegments"]) == 40


def test_two_thousand_deep_chain_packs_without_recursion(recorder: SpanRecorder) -> None:
    spans = chain(recorder, 2000, attribute_bytes=20)

    documents = pack_spans(spans)

    assert_each_span_once_under_its_parent(spans, documents)
    assert all(depth(doc) <= MAX_NESTING_DEPTH for doc in documents)
    assert len(documents) == -(-2000 // (MAX_NESTING_DEPTH + 1))


def test_deep_chain_of_big_spans_splits_by_size_and_depth(recorder: SpanRecorder) -> None:
    spans = chain(recorder, 300, attribute_bytes=2000)

    documents = pack_spans(spans)

    assert_each_span_once_under_its_parent(spans, documents)
    assert 10 <= len(documents) <= 15  # ~600 kB in documents of up to 64 kB




# --- annotations per document -----------------------------------------------------------------


def test_at_most_fifty_annotations_per_document_the_rest_move_to_metadata(
    recorder: SpanRecorder,
) -> None:
    options = TranslateOptions(lambda_mode=False, indexed_attributes=("a", "b", "c"))
    tracer = recorder.tracer
    root = tracer.start_span("root", kind=SpanKind.SERVER, attributes={"a": 0, "b": 0, "c": 0})
    for index in range(1, 30):
        attributes = {"a": index, "b": index, "c": index}
        child_span(tracer, f"child-{index}", root, attributes=attributes).end()
    root.end()
    counters = Counters()

    (document,) = pack_spans(recorder.spans(), options, counters)

    pieces = list(walk(document))
    annotations = sum(len(piece.get("annotations", {})) for piece in pieces)
    assert annotations == MAX_ANNOTATIONS
    assert counters.get("annotations_moved") == 30 * 3 - MAX_ANNOTATIONS
    assert document["annotations"] == {"a": 0, "b": 0, "c": 0}
    last = document["subsegments"][-1]
    assert "annotations" not in last
    assert last["metadata"]["default"] == {"a": 29, "b": 29, "c": 29}




# --- whole-tree encoding: the same documents as splicing -----------------------------------


_OTHER_TRACE = "1-5759e988-00000000000000000000000f"
_WHOLE_TREE_CASES = {
    "tree that fits": made_tree(9, annotations={"a": 1}),
    "tree just under the limit": made_tree(6, metadata={"default": {"p": "x" * 9000}}),
    "tree over the limit": made_tree(12, metadata={"default": {"p": "x" * 9000}}),
    "child too big alone": made_tree(2, metadata={"default": {"p": "x" * 70_000}}),
    "over 50 annotations": made_tree(6, annotations={f"k{i}": i for i in range(12)}),
    "chain at the nesting limit": made_chain(MAX_NESTING_DEPTH + 1),
    "chain past the nesting limit": made_chain(MAX_NESTING_DEPTH + 3),
    "children with equal start times": made_tree(5, start_time=1.0),
    "odd start times": [
        *made_tree(3, start_time="soon"),
        made_item("00000000000000aa", "0000000000000001", start_time=True),
    ],
    "values orjson cannot encode": made_tree(2, metadata={"default": {1: "x", "big": 1 << 70}}),
    "body carrying subsegments": [
        made_root("0000000000000001", subsegments=[{"x": 1}]), *made_tree(2)[1:]
    ],
    "top body carrying a standalone field": [
        made_root("0000000000000001", type="x"), *made_tree(1)[1:]
    ],
    "duplicate span ids": [*made_tree(2), made_item("0000000000000002", "0000000000000001")],
    "parent cycle": [
        *made_tree(1),
        made_item("000000000000000a", "000000000000000b"),
        made_item("000000000000000b", "000000000000000a"),
    ],
    "several traces and orphans": [
        *made_tree(3),
        made_item("00000000000000f1", "00000000000000ee")._replace(trace_id=_OTHER_TRACE),
        made_item("00000000000000f2", "00000000000000f1")._replace(trace_id=_OTHER_TRACE),
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
    items = [*made_tree(3), made_item("0000000000000009", "0000000000000002")]
    before = [dict(item.body) for item in items]

    pack(items)

    assert [item.body for item in items] == before


def test_a_span_that_cannot_be_encoded_is_reported_and_the_rest_are_packed() -> None:
    items = made_tree(2)
    broken = Translated({}, items[0].trace_id, "00000000000000bb", "0000000000000001",
                        False, False)
    failed: List[Any] = []

    packed = pack([*items, broken], failed=failed)

    assert [item for item, _ in failed] == [broken]
    assert packed == pack(items)
