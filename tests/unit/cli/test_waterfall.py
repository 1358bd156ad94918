"""Trace assembly (documents joined by parent_id) and the waterfall view of a trace."""

from __future__ import annotations

import io
import re
from typing import Any, Dict, List

import orjson
import pytest

from otel_xray.cli.assemble import Trace, TraceAssembler
from otel_xray.cli.validate import NATIVE, UNKNOWN, Note
from otel_xray.cli.waterfall import Style, can_draw_blocks, format_duration, render, use_color
from tests.support.documents import nested

TRACE_ID = "1-5759e988-bd862e3fe1be46a994272793"
T0 = 1700000000.0
ANSI = re.compile(r"\033\[[0-9;]*m")


def doc(name: str, id_: str, start: float, end: float, **fields: Any) -> Dict[str, Any]:
    """A (sub)segment starting ``start`` and ending ``end`` seconds after T0."""
    document: Dict[str, Any] = {
        "name": name, "id": id_ * (16 // len(id_)), "start_time": T0 + start,
        "end_time": T0 + end,
    }
    document.update(fields)
    return document


def top(name: str, id_: str, start: float, end: float, **fields: Any) -> Dict[str, Any]:
    return doc(name, id_, start, end, **{"trace_id": TRACE_ID, **fields})


def standalone(
    name: str, id_: str, parent: str, start: float, end: float, **fields: Any
) -> Dict[str, Any]:
    return top(name, id_, start, end, type="subsegment", parent_id=parent * 16, **fields)


def trace_of(*documents: Dict[str, Any]) -> Trace:
    trace = Trace(TRACE_ID)
    for document in documents:
        trace.add(document, 100, 0.0)
    return trace


def outline(trace: Trace) -> List[str]:
    return [f"{'  ' * depth}{node.name}" for depth, node in trace.walk()]


def lines(trace: Trace, **kwargs: Any) -> List[str]:
    return render(trace, Style(color=False), **kwargs).splitlines()


# --- assembly ------------------------------------------------------------------------------


def test_nested_subsegments_keep_their_nesting() -> None:
    trace = trace_of(top("api", "a", 0, 1, subsegments=[
        doc("db", "b", 0.1, 0.5, subsegments=[doc("query", "c", 0.2, 0.3)]),
    ]))
    assert outline(trace) == ["api", "  db", "    query"]


def test_standalone_subsegment_joins_its_parent_by_parent_id() -> None:
    trace = trace_of(
        standalone("late", "c", "b", 0.6, 0.9),
        top("api", "a", 0, 1, subsegments=[doc("work", "b", 0.1, 0.9)]),
    )
    assert outline(trace) == ["api", "  work", "    late"]


def test_downstream_segment_nests_under_the_callers_subsegment() -> None:
    trace = trace_of(
        top("orders", "d", 0.2, 0.8, parent_id="b" * 16),
        top("frontend", "a", 0, 1, subsegments=[doc("orders", "b", 0.1, 0.9,
                                                     namespace="remote")]),
    )
    assert outline(trace) == ["frontend", "  orders", "    orders"]
    assert [node.is_segment for _, node in trace.walk()] == [True, False, True]


def test_children_are_ordered_by_start_time() -> None:
    trace = trace_of(top("api", "a", 0, 1, subsegments=[
        doc("third", "3", 0.5, 0.6), doc("first", "1", 0.1, 0.2), doc("second", "2", 0.3, 0.4),
    ]))
    assert outline(trace) == ["api", "  first", "  second", "  third"]


def test_subsegment_whose_parent_never_arrived_is_shown_as_an_orphan_root() -> None:
    # e.g. on Lambda: the parent is the segment the Lambda service records itself.
    trace = trace_of(standalone("handler", "c", "f", 0, 1))
    ((depth, node),) = list(trace.walk())
    assert depth == 0 and node.orphan
    assert "(parent ffffffffffffffff not received)" in lines(trace)[1]


def test_parent_cycle_does_not_hang() -> None:
    trace = trace_of(standalone("a", "a", "b", 0, 1), standalone("b", "b", "a", 0, 1))
    assert sorted(name.strip() for name in outline(trace)) == ["a", "b"]


def test_duplicate_ids_are_warned_about() -> None:
    trace = trace_of(top("api", "a", 0, 1), top("again", "a", 0, 1))
    assert any("ids used more than once" in w for w in trace.warnings())


def test_assembler_releases_a_trace_only_after_it_was_quiet() -> None:
    assembler = TraceAssembler()
    assembler.add(top("api", "a", 0, 1), 100, now=10.0)
    assembler.add(top("other", "b", 0, 1, trace_id="1-00000000-000000000000000000000001"),
                  100, now=10.5)
    assert assembler.pop_quiet(now=10.9, quiet_after=1.0) == []
    (done,) = assembler.pop_quiet(now=11.0, quiet_after=1.0)
    assert done.trace_id == TRACE_ID and len(assembler) == 1
    assert [t.trace_id for t in assembler.pop_all()] == ["1-00000000-000000000000000000000001"]
    assert len(assembler) == 0


def test_assembler_groups_documents_by_trace_id_and_sums_sizes() -> None:
    assembler = TraceAssembler()
    assembler.add(top("api", "a", 0, 1), 300, now=0.0)
    assembler.add(standalone("child", "b", "a", 0, 1), 200, now=0.0)
    (trace,) = assembler.pop_all()
    assert len(trace.documents) == 2 and trace.size == 500


def test_assembler_reopens_a_finished_trace_for_a_late_document() -> None:
    # Issue 10.12: the caller's segment arrives after the downstream segment was printed.
    assembler = TraceAssembler()
    assembler.add(top("orders", "d", 0.2, 0.8, parent_id="b" * 16), 100, now=0.0)
    (first,) = assembler.pop_quiet(now=1.0, quiet_after=1.0)
    assert [node.orphan for _, node in first.walk()] == [True]
    first.mark_reported()
    assembler.add(top("frontend", "a", 0, 1, subsegments=[doc("orders", "b", 0.1, 0.9)]),
                  100, now=5.0)
    (again,) = assembler.pop_quiet(now=6.0, quiet_after=1.0)
    assert again is first and again.late_documents == 1
    assert outline(again) == ["frontend", "  orders", "    orders"]
    assert not any(node.orphan for _, node in again.walk())


def test_assembler_forgets_finished_traces_after_a_while() -> None:
    assembler = TraceAssembler(remember=60.0)
    assembler.add(top("api", "a", 0, 1), 100, now=0.0)
    (first,) = assembler.pop_quiet(now=1.0, quiet_after=1.0)
    assert assembler.pop_quiet(now=61.0, quiet_after=1.0) == []
    assembler.add(top("late", "b", 0, 1), 100, now=62.0)
    (fresh,) = assembler.pop_all()
    assert fresh is not first and outline(fresh) == ["late"]


def test_assembler_remembers_a_bounded_number_of_finished_traces() -> None:
    assembler = TraceAssembler(max_remembered=1)
    for index in range(2):
        trace_id = f"1-00000000-{index:024x}"
        assembler.add(top("api", "a", 0, 1, trace_id=trace_id), 100, now=0.0)
    first, second = assembler.pop_all()
    assembler.add(top("late", "b", 0, 1, trace_id=first.trace_id), 100, now=1.0)
    assembler.add(top("late", "b", 0, 1, trace_id=second.trace_id), 100, now=1.0)
    reopened = {t.trace_id: t for t in assembler.pop_all()}
    assert reopened[first.trace_id] is not first and reopened[second.trace_id] is second


def test_complete_document_replaces_its_in_progress_one() -> None:
    open_segment = {**top("api", "a", 0, 1), "in_progress": True}
    del open_segment["end_time"]
    trace = trace_of(open_segment, top("api", "a", 0, 1))
    ((_, node),) = list(trace.walk())
    assert node.end == T0 + 1 and trace.warnings() == []


def test_in_progress_document_after_the_complete_one_is_dropped() -> None:
    open_segment = {**top("api", "a", 0, 1), "in_progress": True}
    del open_segment["end_time"]
    trace = trace_of(top("api", "a", 0, 1), open_segment)
    assert len(trace.documents) == 1 and trace.documents[0]["end_time"] == T0 + 1


def test_deeply_nested_subsegments_are_walked_without_recursion_error() -> None:
    # Issue 9.7: assembling and drawing recursed once per level.
    trace = Trace(TRACE_ID)
    trace.add(orjson.loads(nested(500)), 100, 0.0)
    rows = list(trace.walk())
    assert len(rows) == 501 and rows[-1][0] == 500
    assert len(lines(trace)) == 502


# --- rendering -----------------------------------------------------------------------------


def sample_trace() -> Trace:
    return trace_of(
        top("frontend", "a", 0.0, 1.0, http={"response": {"status": 502}}, fault=True,
            subsegments=[doc("orders", "b", 0.1, 0.9, namespace="remote", fault=True,
                             http={"response": {"status": 500}})]),
        top("orders", "d", 0.2, 0.8, parent_id="b" * 16, fault=True,
            http={"response": {"status": 500}},
            cause={"exceptions": [{"id": "e" * 16, "type": "KeyError",
                                   "message": "'no order 7'"}]},
            subsegments=[doc("DynamoDB", "c", 0.3, 0.4, namespace="aws",
                             error=True, throttle=True, http={"response": {"status": 429}})]),
    )


def test_header_names_the_trace_its_size_and_duration() -> None:
    assert lines(sample_trace())[0] == (
        f"Trace {TRACE_ID}  2 segments, 2 subsegments, 1.00 s"
    )


def test_one_line_per_segment_indented_by_depth() -> None:
    rows = lines(sample_trace())[1:]
    names = [re.match(r"\s*(\S+)", row).group(1) for row in rows]  # type: ignore[union-attr]
    indents = [len(row) - len(row.lstrip()) for row in rows]
    assert names == ["frontend", "orders", "orders", "DynamoDB"]
    assert indents == [2, 4, 6, 8]


def test_line_shows_namespace_duration_status_and_marks() -> None:
    rows = lines(sample_trace())
    assert re.search(r"orders\s+remote\s+800.0 ms \|.*\| 500 fault$", rows[2])
    assert re.search(r"DynamoDB\s+aws\s+100.0 ms \|.*\| 429 error throttle$", rows[4])
    assert rows[3].endswith("500 fault KeyError: 'no order 7'")


def test_time_bar_is_scaled_to_the_trace() -> None:
    rows = lines(sample_trace(), bar_width=10)[1:]
    bars = [re.search(r"\|(.*)\|", row).group(1) for row in rows]  # type: ignore[union-attr]
    assert bars == ["██████████", " ████████ ", "  ██████  ", "   █      "]


def test_in_progress_segment_bar_runs_to_the_end_of_the_trace() -> None:
    trace = trace_of(top("api", "a", 0, 1, subsegments=[
        {"name": "open", "id": "b" * 16, "start_time": T0 + 0.5, "in_progress": True},
    ]))
    row = lines(trace, bar_width=10)[2]
    assert "in progress |     █████|" in row


def test_zero_length_trace_still_draws_bars() -> None:
    row = lines(trace_of(top("api", "a", 0, 0)), bar_width=4)[1]
    assert "0.00 ms |████|" in row


def test_long_names_are_cut() -> None:
    row = lines(trace_of(top("n" * 120, "a", 0, 1)))[1]
    assert "n" * 47 + "…" in row and "n" * 49 not in row


def test_trace_warnings_are_printed_under_the_waterfall() -> None:
    trace = trace_of(top("api", "a", 0, 1, annotations={f"k{i}": i for i in range(50)}),
                     standalone("x", "b", "a", 0, 1, annotations={"one": 1}))
    assert "51 annotations in the trace" in lines(trace)[-1]


def test_plain_style_has_no_escape_codes() -> None:
    assert "\033[" not in render(sample_trace(), Style(color=False))


def test_colour_style_marks_faults_in_red() -> None:
    text = render(sample_trace(), Style(color=True))
    assert "\033[31m\033[1mfault\033[0m" in text
    assert ANSI.sub("", text) == render(sample_trace(), Style(color=False))


def test_ascii_terminal_gets_ascii_bars() -> None:
    text = render(sample_trace(), Style(color=False, blocks=False), bar_width=10)
    assert "|==========|" in text and "█" not in text


class FakeTerminal(io.StringIO):
    def __init__(self, tty: bool, encoding: str = "utf-8") -> None:
        super().__init__()
        self._tty = tty
        self._encoding = encoding

    def isatty(self) -> bool:
        return self._tty

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return self._encoding


@pytest.mark.parametrize(
    "tty, no_color, expected",
    [(True, None, True), (True, "1", False), (False, None, False)],
    ids=["terminal", "terminal-with-NO_COLOR", "pipe"],
)
def test_colour_only_on_a_terminal_without_no_color(
    monkeypatch: pytest.MonkeyPatch, tty: bool, no_color: Any, expected: bool
) -> None:
    monkeypatch.delenv("NO_COLOR", raising=False)
    if no_color is not None:
        monkeypatch.setenv("NO_COLOR", no_color)
    assert use_color(FakeTerminal(tty)) is expected


@pytest.mark.parametrize("encoding, expected", [("utf-8", True), ("ascii", False),
                                                ("latin-1", False)])
def test_block_characters_only_where_the_encoding_has_them(
    encoding: str, expected: bool
) -> None:
    assert can_draw_blocks(FakeTerminal(False, encoding)) is expected


@pytest.mark.parametrize(
    "seconds, text",
    [(0.00042, "0.42 ms"), (0.0123, "12.3 ms"), (0.9999, "999.9 ms"), (1.25, "1.25 s"),
     (None, "in progress"), (-1.0, "0.00 ms")],
    ids=["sub-ms", "ms", "just-under-1s", "seconds", "in-progress", "negative"],
)
def test_duration_format(seconds: Any, text: str) -> None:
    assert format_duration(seconds) == text


def test_user_annotations_and_metadata_keys_are_shown_under_the_line() -> None:
    trace = trace_of(top("api", "a", 0, 1, user="alice",
                         annotations={"order_id": 7, "tier": "gold", "paid": True},
                         metadata={"default": {"cart": [1], "total": 3}, "debug": {}}))
    assert lines(trace)[2] == (
        '    ↳ user alice · annotations order_id=7 tier="gold" paid=true'
        " · metadata default: cart, total; debug: (empty)"
    )


def test_data_line_is_indented_under_its_node_and_cut() -> None:
    trace = trace_of(top("api", "a", 0, 1, subsegments=[
        doc("work", "b", 0.1, 0.5, annotations={f"key{i}": "v" * 20 for i in range(20)}),
    ]))
    row = lines(trace)[3]
    assert row.startswith("      ↳ annotations key0=") and row.endswith("…")
    assert len(row) == 6 + 2 + 110


def test_node_without_user_annotations_or_metadata_has_no_data_line() -> None:
    assert len(lines(trace_of(top("api", "a", 0, 1)))) == 2


def test_ascii_terminal_gets_an_ascii_separator() -> None:
    trace = trace_of(top("api", "a", 0, 1, user="alice", annotations={"k": 1}))
    text = render(trace, Style(color=False, blocks=False))
    assert "\n    > user alice | annotations k=1" in text


def test_notes_are_summed_up_under_the_waterfall_one_line_per_reason() -> None:
    trace = Trace(TRACE_ID)
    native = Note("in_progress false next to end_time", NATIVE)
    trace.add(top("api", "a", 0, 1), 100, 0.0, [native, Note("color", UNKNOWN)])
    trace.add(standalone("x", "b", "a", 0, 1), 100, 0.0, [native])
    assert lines(trace)[-2:] == [
        f"  ~ {NATIVE}: in_progress false next to end_time (2)",
        f"  ~ {UNKNOWN}: color",
    ]


def test_a_time_far_outside_the_trace_is_drawn_at_its_edge() -> None:
    # (start - T0) / 0.25 s * width overflows a float: the bar stops at the edge instead.
    far = top("far", "b", 1.5e306, 0.25)
    trace = trace_of(top("root", "a", 0.0, 0.25), far)

    drawn = lines(trace)

    assert any("far" in line for line in drawn)
