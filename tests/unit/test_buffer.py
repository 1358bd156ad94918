"""TraceBuffer: the hold-until-the-root-ends policy, with the time passed in (no sleeps)."""

from __future__ import annotations

from typing import List, NamedTuple, Optional, Tuple

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from otel_xray.buffer import Entry, TraceBuffer

TRACE = "1-5759e988-bd862e3fe1be46a994272793"
OTHER_TRACE = "1-5759e988-00000000000000000000beef"


class Span(NamedTuple):
    """What the tests hold: enough to tell the released spans apart."""

    trace_id: str
    span_id: str


def item(span_id: str, parent: Optional[str] = None, *, root: bool = False,
         trace: str = TRACE) -> Entry[Span]:
    return (span_id, parent, root or parent is None, Span(trace, span_id))


def ids(items: List[Span]) -> List[str]:
    return [entry.span_id for entry in items]


def buffer(max_spans: int = 100, orphan_timeout: float = 30.0) -> TraceBuffer[Span]:
    return TraceBuffer(max_spans=max_spans, orphan_timeout=orphan_timeout)


def test_children_wait_for_their_root_and_leave_with_it() -> None:
    held = buffer()
    assert held.add(TRACE, [item("c1", "a")], 0.0) == []
    assert held.add(TRACE, [item("a", "r")], 0.0) == []
    assert ids(held.add(TRACE, [item("r", root=True)], 1.0)) == ["r", "a", "c1"]
    assert len(held) == 0


def test_a_child_of_a_sent_span_goes_at_once() -> None:
    held = buffer()
    held.add(TRACE, [item("r", root=True)], 0.0)
    assert ids(held.add(TRACE, [item("late", "r")], 5.0)) == ["late"]


def test_a_late_child_brings_its_own_held_descendants() -> None:
    held = buffer()
    held.add(TRACE, [item("r", root=True)], 0.0)
    assert held.add(TRACE, [item("grandchild", "late")], 1.0) == []
    assert ids(held.add(TRACE, [item("late", "r")], 2.0)) == ["late", "grandchild"]


def test_equal_span_ids_in_different_traces_are_both_kept() -> None:
    held = buffer()
    held.add(TRACE, [item("same", "p")], 0.0)
    held.add(OTHER_TRACE, [item("same", "p", trace=OTHER_TRACE)], 0.0)
    assert len(held) == 2
    released = held.add(TRACE, [item("p", root=True)], 1.0)
    assert [(entry.trace_id, entry.span_id) for entry in released] == [
        (TRACE, "p"), (TRACE, "same")
    ]
    assert len(held) == 1


def test_a_span_id_seen_twice_in_one_trace_is_sent_not_overwritten() -> None:
    held = buffer()
    held.add(TRACE, [item("dup", "p")], 0.0)
    assert ids(held.add(TRACE, [item("dup", "p")], 0.0)) == ["dup"]
    assert len(held) == 1


def test_orphans_leave_after_the_timeout_with_their_descendants() -> None:
    held = buffer(orphan_timeout=10.0)
    held.add(TRACE, [item("child", "never-ends")], 0.0)
    held.add(TRACE, [item("grandchild", "child")], 1.0)
    assert held.expire(9.9) == []
    assert ids(held.expire(10.0)) == ["child", "grandchild"]
    assert held.released_early["orphan_timeout"] == 2


def test_the_oldest_leave_early_when_the_buffer_is_full() -> None:
    held = buffer(max_spans=2)
    held.add(TRACE, [item("a", "x")], 0.0)
    held.add(TRACE, [item("b", "y")], 1.0)
    assert ids(held.add(TRACE, [item("c", "z")], 2.0)) == ["a"]
    assert held.released_early["buffer_full"] == 1
    assert len(held) == 2


def test_flush_releases_everything_nested_where_it_can() -> None:
    held = buffer()
    held.add(TRACE, [item("leaf", "mid")], 0.0)
    held.add(TRACE, [item("mid", "top")], 0.0)
    held.add(TRACE, [item("other", "elsewhere")], 0.0)
    assert ids(held.flush()) == ["mid", "leaf", "other"]
    assert held.released_early["flush"] == 3
    assert len(held) == 0


def test_parent_links_in_a_cycle_still_release_every_span() -> None:
    held = buffer()
    held.add(TRACE, [item("a", "b")], 0.0)
    held.add(TRACE, [item("b", "a")], 0.0)
    assert sorted(ids(held.flush())) == ["a", "b"]


def test_sent_ids_are_forgotten_in_bounded_generations() -> None:
    held = buffer()
    for index in range(40_000):
        held.add(TRACE, [item(f"r{index}", root=True)], 0.0)
    # The most recent roots are still known: their late children go at once.
    assert ids(held.add(TRACE, [item("late", "r39999")], 1.0)) == ["late"]
    # The oldest are forgotten: a late child waits (and leaves as an orphan later).
    assert held.add(TRACE, [item("very-late", "r0")], 1.0) == []


def test_a_batch_is_held_and_released_as_one_span_at_a_time_would_be() -> None:
    batch = [item("c1", "a"), item("a", "r"), item("other", "elsewhere"),
             item("r", root=True), item("late", "r")]
    one_by_one = buffer()
    expected = [entry for single in batch for entry in one_by_one.add(TRACE, [single], 0.0)]

    together = buffer()

    assert ids(together.add(TRACE, batch, 0.0)) == ids(expected) == ["r", "a", "c1", "late"]
    assert len(together) == len(one_by_one) == 1


def test_a_trace_that_arrives_with_its_root_is_released_whole_without_being_held() -> None:
    held = buffer()
    released = held.add(TRACE, [item("c1", "a"), item("a", "r"), item("r", root=True)], 0.0)
    assert sorted(ids(released)) == ["a", "c1", "r"]
    assert held.released_early == {"orphan_timeout": 0, "buffer_full": 0, "flush": 0}
    assert len(held) == 0


def test_spans_released_whole_are_remembered_for_their_late_children() -> None:
    held = buffer()
    held.add(TRACE, [item("a", "r"), item("r", root=True)], 0.0)
    assert ids(held.add(TRACE, [item("late", "a")], 1.0)) == ["late"]


def test_spans_whose_parents_were_released_go_together_at_once() -> None:
    held = buffer()
    held.add(TRACE, [item("r", root=True)], 0.0)
    assert sorted(ids(held.add(TRACE, [item("gc", "late"), item("late", "r")], 1.0))) == [
        "gc", "late"
    ]


def test_a_held_span_leaves_with_its_parent_arriving_later_with_the_root() -> None:
    held = buffer()
    held.add(TRACE, [item("c1", "a")], 0.0)
    released = held.add(TRACE, [item("a", "r"), item("r", root=True)], 1.0)
    assert sorted(ids(released)) == ["a", "c1", "r"]
    assert len(held) == 0


def test_spans_that_wait_for_a_held_span_are_held_under_it() -> None:
    held = buffer()
    held.add(TRACE, [item("a", "r")], 0.0)
    assert held.add(TRACE, [item("c1", "a"), item("c2", "c1")], 1.0) == []
    assert ids(held.add(TRACE, [item("r", root=True)], 2.0)) == ["r", "a", "c1", "c2"]


def test_a_batch_without_the_parent_of_one_span_holds_that_span() -> None:
    held = buffer()
    assert ids(held.add(TRACE, [item("r", root=True), item("x", "running")], 0.0)) == ["r"]
    assert len(held) == 1


def test_no_spans_release_nothing() -> None:
    held = buffer()
    held.add(TRACE, [item("c1", "a")], 0.0)
    assert held.add(TRACE, [], 1.0) == []
    assert len(held) == 1


def test_spans_whose_parent_links_form_a_cycle_among_them_leave_at_once() -> None:
    # Only hand-made spans can: held one by one they could only wait for the timeout.
    released = buffer().add(TRACE, [item("a", "b"), item("b", "a")], 0.0)
    assert sorted(ids(released)) == ["a", "b"]


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_batches_release_what_one_span_at_a_time_releases(data: st.DataObject) -> None:
    # Spans of one trace; each one's parent was made before it (no cycles), or is a span
    # that never ends here, or none; they end in any order, handed over in any batches.
    count = data.draw(st.integers(1, 12))
    spans = []
    for index in range(count):
        parent = data.draw(st.sampled_from([None, "running", *map(str, range(index))]))
        spans.append(item(str(index), parent, root=data.draw(st.booleans())))
    ended = data.draw(st.permutations(spans))
    cuts = sorted(data.draw(st.sets(st.integers(1, count), max_size=count)) | {count})
    one_by_one, together = buffer(), buffer()
    released_one: List[str] = []
    released_together: List[str] = []
    start = 0
    for cut in cuts:
        for single in ended[start:cut]:
            released_one += ids(one_by_one.add(TRACE, [single], 0.0))
        released_together += ids(together.add(TRACE, ended[start:cut], 0.0))
        start = cut
        assert sorted(released_together) == sorted(released_one)
        assert len(together) == len(one_by_one)
    assert sorted(ids(together.flush())) == sorted(ids(one_by_one.flush()))


def test_a_span_the_buffer_fails_on_is_reported_and_the_others_go_on() -> None:
    broken: Entry[Span] = (["x"], "p", False, Span(TRACE, "x"))
    failed: List[Tuple[Span, Exception]] = []
    held = buffer()

    released = held.add(TRACE, [item("c", "r"), broken, item("r", root=True)], 0.0, failed)

    assert ids(released) == ["r", "c"]
    assert [(entry.span_id, type(error)) for entry, error in failed] == [("x", TypeError)]


def test_without_a_failed_list_the_error_is_raised() -> None:
    broken: Entry[Span] = (["x"], "p", False, Span(TRACE, "x"))
    with pytest.raises(TypeError):
        buffer().add(TRACE, [broken], 0.0)
