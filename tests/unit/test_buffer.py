"""TraceBuffer: the hold-until-the-root-ends policy, with the time passed in (no sleeps)."""

from __future__ import annotations

from typing import List, NamedTuple, Optional, Tuple

import pytest

from otel_xray.buffer import Entry, TraceBuffer

TRACE = "1-5759e988-bd862e3fe1be46a994272793"
OTHER_TRACE = "1-5759e988-00000000000000000000beef"


class Span(NamedTuple):
    """What the tests hold: enough to tell the released spans apart."""

    trace_id: str
    span_id: str


def item(span_id: str, parent: Optional[str] = None, *, root: bool = False,
         trace: str = TRACE) -> Entry[Span]:
    return ((trace, span_id), (trace, parent) if parent is not None else None,
            root or parent is None, Span(trace, span_id))


def ids(items: List[Span]) -> List[str]:
    return [entry.span_id for entry in items]


def buffer(max_spans: int = 100, orphan_timeout: float = 30.0) -> TraceBuffer[Span]:
    return TraceBuffer(max_spans=max_spans, orphan_timeout=orphan_timeout)


def test_children_wait_for_their_root_and_leave_with_it() -> None:
    held = buffer()
    assert held.add(item("c1", "a"), 0.0) == []
    assert held.add(item("a", "r"), 0.0) == []
    assert ids(held.add(item("r", root=True), 1.0)) == ["r", "a", "c1"]
    assert len(held) == 0


def test_a_child_of_a_sent_span_goes_at_once() -> None:
    held = buffer()
    held.add(item("r", root=True), 0.0)
    assert ids(held.add(item("late", "r"), 5.0)) == ["late"]


def test_a_late_child_brings_its_own_held_descendants() -> None:
    held = buffer()
    held.add(item("r", root=True), 0.0)
    assert held.add(item("grandchild", "late"), 1.0) == []
    assert ids(held.add(item("late", "r"), 2.0)) == ["late", "grandchild"]


def test_equal_span_ids_in_different_traces_are_both_kept() -> None:
    held = buffer()
    held.add(item("same", "p"), 0.0)
    held.add(item("same", "p", trace=OTHER_TRACE), 0.0)
    assert len(held) == 2
    released = held.add(item("p", root=True), 1.0)
    assert [(entry.trace_id, entry.span_id) for entry in released] == [
        (TRACE, "p"), (TRACE, "same")
    ]
    assert len(held) == 1


def test_a_span_id_seen_twice_in_one_trace_is_sent_not_overwritten() -> None:
    held = buffer()
    held.add(item("dup", "p"), 0.0)
    assert ids(held.add(item("dup", "p"), 0.0)) == ["dup"]
    assert len(held) == 1


def test_orphans_leave_after_the_timeout_with_their_descendants() -> None:
    held = buffer(orphan_timeout=10.0)
    held.add(item("child", "never-ends"), 0.0)
    held.add(item("grandchild", "child"), 1.0)
    assert held.expire(9.9) == []
    assert ids(held.expire(10.0)) == ["child", "grandchild"]
    assert held.released_early["orphan_timeout"] == 2


def test_the_oldest_leave_early_when_the_buffer_is_full() -> None:
    held = buffer(max_spans=2)
    held.add(item("a", "x"), 0.0)
    held.add(item("b", "y"), 1.0)
    assert ids(held.add(item("c", "z"), 2.0)) == ["a"]
    assert held.released_early["buffer_full"] == 1
    assert len(held) == 2


def test_flush_releases_everything_nested_where_it_can() -> None:
    held = buffer()
    held.add(item("leaf", "mid"), 0.0)
    held.add(item("mid", "top"), 0.0)
    held.add(item("other", "elsewhere"), 0.0)
    assert ids(held.flush()) == ["mid", "leaf", "other"]
    assert held.released_early["flush"] == 3
    assert len(held) == 0


def test_parent_links_in_a_cycle_still_release_every_span() -> None:
    held = buffer()
    held.add(item("a", "b"), 0.0)
    held.add(item("b", "a"), 0.0)
    assert sorted(ids(held.flush())) == ["a", "b"]


def test_sent_ids_are_forgotten_in_bounded_generations() -> None:
    held = buffer()
    for index in range(40_000):
        held.add(item(f"r{index}", root=True), 0.0)
    # The most recent roots are still known: their late children go at once.
    assert ids(held.add(item("late", "r39999"), 1.0)) == ["late"]
    # The oldest are forgotten: a late child waits (and leaves as an orphan later).
    assert held.add(item("very-late", "r0"), 1.0) == []


def test_a_batch_is_held_and_released_as_one_span_at_a_time_would_be() -> None:
    batch = [item("c1", "a"), item("a", "r"), item("other", "elsewhere"),
             item("r", root=True), item("late", "r")]
    one_by_one = buffer()
    expected = [entry for single in batch for entry in one_by_one.add(single, 0.0)]

    together = buffer()

    assert ids(together.add_all(batch, 0.0)) == ids(expected) == ["r", "a", "c1", "late"]
    assert len(together) == len(one_by_one) == 1


def test_a_span_the_buffer_fails_on_is_reported_and_the_others_go_on() -> None:
    broken: Entry[Span] = (([TRACE], "x"), (TRACE, "p"), False, Span(TRACE, "x"))
    failed: List[Tuple[Span, Exception]] = []
    held = buffer()

    released = held.add_all([item("c", "r"), broken, item("r", root=True)], 0.0, failed)

    assert ids(released) == ["r", "c"]
    assert [(entry.span_id, type(error)) for entry, error in failed] == [("x", TypeError)]


def test_without_a_failed_list_the_error_is_raised() -> None:
    broken: Entry[Span] = (([TRACE], "x"), (TRACE, "p"), False, Span(TRACE, "x"))
    with pytest.raises(TypeError):
        buffer().add_all([broken], 0.0)
