"""error/throttle/fault flags, the Python traceback parser, and the ``cause`` block."""

from __future__ import annotations

import contextlib
import os
import re
import sys
import traceback
from typing import Any, Callable, Dict, List, Optional, Tuple

import pytest
from hypothesis import given
from hypothesis import strategies as st
from opentelemetry.trace import SpanKind, Status, StatusCode

from otel_xray import TranslateOptions
from otel_xray.translate import to_document
from otel_xray.translate.errors import (
    MAX_CHAINED,
    MAX_MESSAGE_LENGTH,
    ParsedException,
    parse_python_traceback,
)
from tests.support.helpers import SpanRecorder, assert_valid_document

OPTIONS = TranslateOptions(lambda_mode=False)
HEX16 = re.compile(r"^[0-9a-f]{16}$")
Frame = Tuple[str, Optional[int], Optional[str]]


# --- helpers: real exceptions and what the interpreter knows about their frames -----------


def catch(function: Callable[[], Any]) -> BaseException:
    try:
        function()
    except BaseException as exc:
        return exc
    raise AssertionError("nothing was raised")


def formatted(exc: BaseException) -> str:
    """What the OTel SDK stores as ``exception.stacktrace``."""
    return "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))


def real_frames(exc: BaseException) -> List[Frame]:
    """The exception's frames, innermost first, from the traceback objects themselves."""
    summary = traceback.extract_tb(exc.__traceback__)
    return [(f.filename, f.lineno, f.name) for f in reversed(summary)]


def parsed_frames(parsed: ParsedException) -> List[Frame]:
    return [(f.path, f.line, f.label) for f in parsed.frames]


def doc_frames(exception: Dict[str, Any]) -> List[Frame]:
    return [(f["path"], f.get("line"), f.get("label")) for f in exception.get("stack", ())]


def fail_inner() -> None:
    raise ValueError("inner, with a comma")


def fail_with_cause() -> None:
    try:
        fail_inner()
    except ValueError as exc:
        raise KeyError("outer") from exc


def fail_during_handling() -> None:
    try:
        fail_inner()
    except ValueError:
        {}["missing"]


def fail_three_levels() -> None:
    try:
        fail_with_cause()
    except KeyError:
        raise RuntimeError("third")  # noqa: B904 (a "during handling" chain on purpose)


def recurse(depth: int) -> None:
    if depth == 0:
        raise RecursionError("bottom")
    recurse(depth - 1)


class OrderError(Exception):
    pass


# --- error / throttle / fault -------------------------------------------------------------

ERROR = Status(StatusCode.ERROR, "failed")
OK = Status(StatusCode.OK)


@pytest.mark.parametrize(
    ("http_status", "span_status", "expected"),
    [
        pytest.param(200, None, {}, id="2xx-no-flags"),
        pytest.param(302, None, {}, id="3xx-no-flags"),
        pytest.param(400, None, {"error": True}, id="400-error"),
        pytest.param(404, None, {"error": True}, id="404-error"),
        pytest.param("404", None, {"error": True}, id="status-string-error"),
        pytest.param(429, None, {"error": True, "throttle": True}, id="429-error-and-throttle"),
        pytest.param(499, None, {"error": True}, id="499-error"),
        pytest.param(500, None, {"fault": True}, id="500-fault"),
        pytest.param(599, None, {"fault": True}, id="599-fault"),
        pytest.param(503, OK, {"fault": True}, id="5xx-fault-despite-ok-status"),
        pytest.param(404, ERROR, {"error": True}, id="4xx-error-not-fault-with-error-status"),
        pytest.param(200, ERROR, {"fault": True}, id="2xx-with-error-status-fault"),
        pytest.param(600, ERROR, {"fault": True}, id="non-http-status-uses-span-status"),
        pytest.param(None, ERROR, {"fault": True}, id="error-status-fault"),
        pytest.param(None, OK, {}, id="ok-status-no-flags"),
        pytest.param(None, None, {}, id="unset-status-no-flags"),
    ],
)
def test_error_flags(
    recorder: SpanRecorder,
    http_status: Any,
    span_status: Optional[Status],
    expected: Dict[str, bool],
) -> None:
    attributes = {} if http_status is None else {"http.status_code": http_status}
    span = recorder.span("op", kind=SpanKind.SERVER, attributes=attributes, status=span_status)
    doc = assert_valid_document(to_document(span, OPTIONS))
    assert {k: doc[k] for k in ("error", "throttle", "fault") if k in doc} == expected


# --- the traceback parser, on real tracebacks ----------------------------------------------


def test_frames_are_innermost_first_and_match_the_interpreter() -> None:
    exc = catch(fail_inner)
    (parsed,) = parse_python_traceback(formatted(exc))
    assert parsed.type == "ValueError"
    assert parsed.message == "inner, with a comma"
    assert parsed_frames(parsed) == real_frames(exc)
    assert parsed_frames(parsed)[0][2] == "fail_inner"
    assert parsed.truncated == 0 and parsed.link is None


def test_source_and_caret_lines_are_ignored() -> None:
    def index_error() -> None:
        values = [1]
        values.append(values[0] + values[1] * 2)

    exc = catch(index_error)
    text = formatted(exc)
    if sys.version_info >= (3, 11):
        assert "^" in text or "~" in text
    (parsed,) = parse_python_traceback(text)
    assert parsed_frames(parsed) == real_frames(exc)


WEIRD_PATH = '/srv/app, v2/"quoted", line 9, in x/module.py'


def test_path_with_commas_and_quotes() -> None:
    namespace: Dict[str, Any] = {}
    exec(compile("def weird():\n    raise ValueError('w')\n", WEIRD_PATH, "exec"), namespace)
    exc = catch(namespace["weird"])
    (parsed,) = parse_python_traceback(formatted(exc))
    assert parsed_frames(parsed)[0] == (WEIRD_PATH, 2, "weird")
    assert parsed_frames(parsed) == real_frames(exc)


def test_label_with_commas_and_quotes() -> None:
    def odd() -> None:
        raise ValueError("odd")

    odd.__code__ = odd.__code__.replace(co_name='odd, "name" <x>')
    exc = catch(odd)
    (parsed,) = parse_python_traceback(formatted(exc))
    assert parsed_frames(parsed)[0][2] == 'odd, "name" <x>'
    assert parsed_frames(parsed) == real_frames(exc)


def test_raise_from_chain_gives_linked_cause() -> None:
    exc = catch(fail_with_cause)
    outer, inner = parse_python_traceback(formatted(exc))
    assert (outer.type, outer.message, outer.link) == ("KeyError", "'outer'", "cause")
    assert parsed_frames(outer) == real_frames(exc)
    assert exc.__cause__ is not None
    assert (inner.type, inner.message, inner.link) == ("ValueError", "inner, with a comma", None)
    assert parsed_frames(inner) == real_frames(exc.__cause__)


def test_during_handling_chain_gives_linked_context() -> None:
    exc = catch(fail_during_handling)
    outer, inner = parse_python_traceback(formatted(exc))
    assert (outer.type, outer.message, outer.link) == ("KeyError", "'missing'", "context")
    assert parsed_frames(outer) == real_frames(exc)
    assert exc.__context__ is not None
    assert (inner.type, inner.link) == ("ValueError", None)
    assert parsed_frames(inner) == real_frames(exc.__context__)


def test_three_level_chain_keeps_order_and_links() -> None:
    exc = catch(fail_three_levels)
    parsed = parse_python_traceback(formatted(exc))
    assert [(p.type, p.link) for p in parsed] == [
        ("RuntimeError", "context"), ("KeyError", "cause"), ("ValueError", None)
    ]
    assert parsed_frames(parsed[0]) == real_frames(exc)


def test_chained_exception_without_traceback_has_no_frames() -> None:
    def raise_from_unraised() -> None:
        raise KeyError("k") from ValueError("never raised")

    outer, inner = parse_python_traceback(formatted(catch(raise_from_unraised)))
    assert outer.link == "cause"
    assert (inner.type, inner.message, inner.frames) == ("ValueError", "never raised", ())


def test_multiline_message_and_notes_are_kept() -> None:
    def noted() -> None:
        try:
            error = ValueError("first line\nsecond line")
            if hasattr(error, "add_note"):
                error.add_note("a note")
            raise error
        except ValueError as exc:
            raise KeyError("k") from exc

    _, inner = parse_python_traceback(formatted(catch(noted)))
    expected = "first line\nsecond line" + ("\na note" if sys.version_info >= (3, 11) else "")
    assert inner.message == expected


def test_frame_cap_keeps_innermost_and_counts_the_rest() -> None:
    exc = catch(lambda: recurse(30))
    frames = real_frames(exc)
    (parsed,) = parse_python_traceback(formatted(exc), max_frames=5)
    assert parsed_frames(parsed) == frames[:5]
    assert parsed.truncated == len(frames) - 5


def test_repeated_frames_are_restored() -> None:
    exc = catch(lambda: recurse(30))
    assert "[Previous line repeated" in formatted(exc)
    (parsed,) = parse_python_traceback(formatted(exc), max_frames=1000)
    assert parsed_frames(parsed) == real_frames(exc)
    assert parsed.truncated == 0


def test_syntax_error_frame_has_no_label() -> None:
    exc = catch(lambda: compile("a b", "broken.py", "exec"))
    (parsed,) = parse_python_traceback(formatted(exc))
    assert parsed.type == "SyntaxError"
    assert parsed_frames(parsed)[0] == ("broken.py", 1, None)


@pytest.mark.skipif(sys.version_info < (3, 11), reason="exception groups are Python 3.11+")
def test_exception_group_keeps_the_group_and_skips_sub_exceptions() -> None:
    def group() -> None:
        raise ExceptionGroup("many", [ValueError("a"), TypeError("b")])  # noqa: F821

    exc = catch(group)
    (parsed,) = parse_python_traceback(formatted(exc))
    assert (parsed.type, parsed.message) == ("ExceptionGroup", "many (2 sub-exceptions)")
    assert parsed_frames(parsed) == real_frames(exc)


@pytest.mark.skipif(sys.version_info < (3, 11), reason="exception groups are Python 3.11+")
def test_exception_groups_in_a_chain() -> None:
    def nested() -> None:
        try:
            raise ExceptionGroup("inner", [ValueError("a")])  # noqa: F821
        except Exception as exc:
            raise ExceptionGroup("outer", [exc, KeyError("b")]) from exc  # noqa: F821

    exc = catch(nested)
    outer, inner = parse_python_traceback(formatted(exc))
    assert (outer.type, outer.message, outer.link) == (
        "ExceptionGroup", "outer (2 sub-exceptions)", "cause"
    )
    assert parsed_frames(outer) == real_frames(exc)
    assert (inner.type, inner.message) == ("ExceptionGroup", "inner (1 sub-exception)")


@pytest.mark.skipif(sys.version_info < (3, 11), reason="exception groups are Python 3.11+")
def test_exception_group_never_raised() -> None:
    text = formatted(ExceptionGroup("loose", [ValueError("a")]))  # noqa: F821
    (parsed,) = parse_python_traceback(text)
    assert (parsed.type, parsed.message, parsed.frames) == (
        "ExceptionGroup", "loose (1 sub-exception)", ()
    )


def test_long_chain_keeps_the_most_recent_exceptions() -> None:
    def chain(depth: int) -> None:
        if depth == 0:
            raise ValueError("0")
        try:
            chain(depth - 1)
        except ValueError as exc:
            raise ValueError(str(depth)) from exc

    parsed = parse_python_traceback(formatted(catch(lambda: chain(MAX_CHAINED + 5))))
    assert len(parsed) == MAX_CHAINED
    assert [p.message for p in parsed] == [str(MAX_CHAINED + 5 - i) for i in range(MAX_CHAINED)]
    assert parsed[-1].link is None and all(p.link == "cause" for p in parsed[:-1])


def test_windows_line_endings() -> None:
    exc = catch(fail_with_cause)
    outer, inner = parse_python_traceback(formatted(exc).replace("\n", "\r\n"))
    assert (outer.type, outer.message, outer.link) == ("KeyError", "'outer'", "cause")
    assert parsed_frames(inner) == real_frames(exc.__cause__)  # type: ignore[arg-type]


def test_only_the_tail_of_a_huge_stacktrace_is_read() -> None:
    def huge_cause() -> None:
        try:
            raise ValueError("x" * 3_000_000)
        except ValueError as exc:
            raise KeyError("end") from exc

    exc = catch(huge_cause)
    parsed = parse_python_traceback(formatted(exc))
    assert parsed[0].type == "KeyError"
    assert parsed_frames(parsed[0]) == real_frames(exc)


FOREIGN_TEXTS = {
    "java": (
        "java.lang.IllegalStateException: state is not legal\n"
        "\tat io.example.Thing.run(Thing.java:626)\n"
        "\tat java.base/jdk.internal.reflect.NativeMethodAccessorImpl.invoke0(Native Method)\n"
        "Caused by: java.lang.IllegalArgumentException: bad argument\n"
        "\tat io.example.Other.go(Other.java:12)\n"
    ),
    "go": "goroutine 1 [running]:\nmain.main()\n\t/tmp/x.go:5 +0x1d\nexit status 2\n",
    "javascript": (
        "Error: boom\n    at f (/srv/app.js:1:7)\n    at Object.<anonymous> (/srv/app.js:3:1)\n"
    ),
    "dotnet": "System.Exception: boom\n   at App.Main() in C:\\app\\Program.cs:line 12\n",
    "garbage": "\x00\x01 ☃ }{ \"File \", line , in \n  File \"\n\t\t\n",
    "separators-only": (
        "The above exception was the direct cause of the following exception:\n\n"
        "During handling of the above exception, another exception occurred:\n"
    ),
    "headers-only": "Traceback (most recent call last):\nTraceback (most recent call last):\n",
    "group-borders-only": "  +-+---- 1 ----\n    | \n  +----\n  |\n  + \n",
    "huge-line": "x" * 5_000_000,
    "many-lines": "y\n" * 1_000_000,
    "empty": "",
}


@pytest.mark.parametrize("text", list(FOREIGN_TEXTS.values()), ids=list(FOREIGN_TEXTS))
def test_non_python_text_gives_no_frames_and_never_raises(text: str) -> None:
    parsed = parse_python_traceback(text)
    assert len(parsed) <= MAX_CHAINED
    assert all(p.frames == () for p in parsed)


@pytest.mark.parametrize(
    "value", [None, 42, 1.5, True, b"Traceback", ["a", "b"]], ids=repr
)
def test_non_text_values_give_nothing(value: Any) -> None:
    assert parse_python_traceback(value) == []


TRACEBACK_PIECES = [
    "Traceback (most recent call last):", "Exception Group Traceback (most recent call last):",
    '  File "/a, b.py", line 3, in f', '  File "x", line 9', '  File "y", line None, in g',
    '    source()', "    ^^^^^", "    ~~^^~", "  [Previous line repeated 5 more times]",
    "ValueError: v", "KeyError", "", "  | ",
    "  + Exception Group Traceback (most recent call last):",
    "  +-+---------------- 1 ----------------", "    | TypeError: t", "  | ValueError: g",
    "The above exception was the direct cause of the following exception:",
    "During handling of the above exception, another exception occurred:",
]


@given(
    st.lists(st.one_of(st.sampled_from(TRACEBACK_PIECES), st.text(max_size=40)), max_size=60),
    st.integers(min_value=1, max_value=5),
)
def test_any_traceback_like_text_parses_consistently(pieces: List[str], max_frames: int) -> None:
    parsed = parse_python_traceback("\n".join(pieces), max_frames)
    assert len(parsed) <= MAX_CHAINED
    for p in parsed:
        assert len(p.frames) <= max_frames and p.truncated >= 0
    assert all(p.link is None for p in parsed[-1:])


# --- the cause block ------------------------------------------------------------------------


def exceptions_of(doc: Dict[str, Any]) -> List[Dict[str, Any]]:
    exceptions: List[Dict[str, Any]] = doc["cause"]["exceptions"]
    return exceptions


def test_recorded_exception_becomes_the_cause(recorder: SpanRecorder) -> None:
    exc = catch(fail_inner)
    doc = assert_valid_document(to_document(recorder.span("op", exception=exc), OPTIONS))
    assert doc["cause"]["working_directory"] == os.getcwd()
    (exception,) = exceptions_of(doc)
    assert HEX16.match(exception["id"])
    assert exception["type"] == "ValueError"
    assert exception["message"] == "inner, with a comma"
    assert doc_frames(exception) == real_frames(exc)
    assert "remote" not in exception and "cause" not in exception and "truncated" not in exception


def test_exception_type_is_the_recorded_qualified_name(recorder: SpanRecorder) -> None:
    def fail() -> None:
        raise OrderError("no stock")

    doc = assert_valid_document(to_document(recorder.span("op", exception=catch(fail)), OPTIONS))
    assert exceptions_of(doc)[0]["type"] == f"{__name__}.OrderError"


def test_raise_from_chain_links_exception_to_its_cause(recorder: SpanRecorder) -> None:
    exc = catch(fail_with_cause)
    doc = assert_valid_document(to_document(recorder.span("op", exception=exc), OPTIONS))
    outer, inner = exceptions_of(doc)
    assert outer["type"] == "KeyError" and inner["type"] == "ValueError"
    assert outer["cause"] == inner["id"] and "cause" not in inner
    assert doc_frames(outer) == real_frames(exc)
    assert doc_frames(inner) == real_frames(exc.__cause__)  # type: ignore[arg-type]


def test_during_handling_chain_links_exception_to_its_context(recorder: SpanRecorder) -> None:
    exc = catch(fail_during_handling)
    doc = assert_valid_document(to_document(recorder.span("op", exception=exc), OPTIONS))
    outer, inner = exceptions_of(doc)
    assert (outer["type"], outer["message"]) == ("KeyError", "'missing'")
    assert (inner["type"], inner["message"]) == ("ValueError", "inner, with a comma")
    assert outer["cause"] == inner["id"]
    assert doc_frames(outer) == real_frames(exc)
    assert doc_frames(inner) == real_frames(exc.__context__)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kind", "remote"),
    [
        pytest.param(SpanKind.CLIENT, True, id="client-remote"),
        pytest.param(SpanKind.PRODUCER, True, id="producer-remote"),
        pytest.param(SpanKind.SERVER, False, id="server-local"),
        pytest.param(SpanKind.CONSUMER, False, id="consumer-local"),
        pytest.param(SpanKind.INTERNAL, False, id="internal-local"),
    ],
)
def test_remote_marks_every_exception_of_outgoing_calls(
    recorder: SpanRecorder, kind: SpanKind, remote: bool
) -> None:
    span = recorder.span("op", kind=kind, parent="local", exception=catch(fail_with_cause))
    doc = assert_valid_document(to_document(span, OPTIONS))
    assert [e.get("remote", False) for e in exceptions_of(doc)] == [remote, remote]


def test_error_description_without_exception_event_gives_cause(recorder: SpanRecorder) -> None:
    span = recorder.span("op", status=Status(StatusCode.ERROR, "connection reset"))
    doc = assert_valid_document(to_document(span, OPTIONS))
    (exception,) = exceptions_of(doc)
    assert exception["message"] == "connection reset" and "stack" not in exception
    assert doc["fault"] is True


def test_error_status_without_description_has_no_cause(recorder: SpanRecorder) -> None:
    span = recorder.span("op", status=Status(StatusCode.ERROR))
    doc = assert_valid_document(to_document(span, OPTIONS))
    assert doc["fault"] is True and "cause" not in doc


def test_span_without_exception_or_error_has_no_cause(recorder: SpanRecorder) -> None:
    span = recorder.span("op", events=[("retry", {"attempt": 1})])
    assert "cause" not in assert_valid_document(to_document(span, OPTIONS))


def test_every_exception_event_becomes_an_exception(recorder: SpanRecorder) -> None:
    events = [
        ("exception", {"exception.type": "First", "exception.message": "one"}),
        ("log", {"message": "not an exception"}),
        ("exception", {"exception.type": "Second", "exception.message": "two"}),
    ]
    doc = assert_valid_document(to_document(recorder.span("op", events=events), OPTIONS))
    assert [(e["type"], e["message"]) for e in exceptions_of(doc)] == [
        ("First", "one"), ("Second", "two")
    ]


def test_exception_event_wins_over_error_description(recorder: SpanRecorder) -> None:
    span = recorder.span("op", exception=catch(fail_inner), status=Status(StatusCode.ERROR, "x"))
    doc = assert_valid_document(to_document(span, OPTIONS))
    assert [e["type"] for e in exceptions_of(doc)] == ["ValueError"]


def test_frame_cap_comes_from_options(recorder: SpanRecorder) -> None:
    exc = catch(lambda: recurse(10))
    options = TranslateOptions(lambda_mode=False, max_stack_frames=3)
    doc = assert_valid_document(to_document(recorder.span("op", exception=exc), options))
    (exception,) = exceptions_of(doc)
    assert doc_frames(exception) == real_frames(exc)[:3]
    assert exception["truncated"] == len(real_frames(exc)) - 3


def test_exception_ids_are_unique(recorder: SpanRecorder) -> None:
    span = recorder.span("op", exception=catch(fail_three_levels))
    ids = [e["id"] for e in exceptions_of(assert_valid_document(to_document(span, OPTIONS)))]
    assert len(ids) == 3 == len(set(ids))
    assert all(HEX16.match(i) for i in ids)


@pytest.mark.parametrize(
    "attributes",
    [
        pytest.param({"exception.type": 5, "exception.message": 1.5}, id="numbers"),
        pytest.param({"exception.type": True, "exception.stacktrace": False}, id="bools"),
        pytest.param({"exception.message": ["a", "b"], "exception.stacktrace": [1, 2]},
                     id="sequences"),
        pytest.param({"exception.message": b"bytes \xe2\x98\x83"}, id="bytes"),
        pytest.param({"exception.type": "", "exception.message": ""}, id="empty-strings"),
        pytest.param({}, id="no-attributes"),
        pytest.param({"exception.message": "x" * 1_000_000}, id="huge-message"),
        pytest.param({"exception.stacktrace": "Traceback\n" * 500_000}, id="huge-stacktrace"),
        pytest.param({"exception.message": "bad \udcff surrogate",
                      "exception.stacktrace": 'Traceback (most recent call last):\n'
                                              '  File "/srv/\udcfe.py", line 1, in f\n'
                                              'ValueError: x\n'},
                     id="lone-surrogates"),
    ],
)
def test_odd_exception_attributes_give_a_valid_cause(
    recorder: SpanRecorder, attributes: Dict[str, Any]
) -> None:
    span = recorder.span("op", events=[("exception", attributes)])
    doc = assert_valid_document(to_document(span, OPTIONS))
    (exception, *_) = exceptions_of(doc)
    assert HEX16.match(exception["id"])
    assert len(exception.get("message", "")) <= MAX_MESSAGE_LENGTH


# --- an exception that propagated out of a child span is recorded once -------------------


def _propagated(recorder: SpanRecorder, chained: bool) -> Dict[str, Dict[str, Any]]:
    """Bodies by span name of 'route' > 'call', where 'call' raised and 'route' let it
    through (or chained another exception onto it); linked as packing links them."""
    from otel_xray.translate.errors import link_propagated
    from otel_xray.translate.segment import translate_span

    def call() -> None:
        with recorder.tracer.start_as_current_span("call", kind=SpanKind.CLIENT):
            raise KeyError("no such table")

    with contextlib.suppress(KeyError, RuntimeError), \
            recorder.tracer.start_as_current_span("route", kind=SpanKind.SERVER):
        if chained:
            try:
                call()
            except KeyError as error:
                raise RuntimeError("lookup failed") from error
        else:
            call()
    items = {span.name: translate_span(span, OPTIONS) for span in recorder.spans()}
    link_propagated([items["route"]], {items["route"].span_id: [items["call"]]})
    return {name: item.body for name, item in items.items()}


def test_propagated_exception_is_the_childs_id(recorder: SpanRecorder) -> None:
    bodies = _propagated(recorder, chained=False)
    (recorded,) = bodies["call"]["cause"]["exceptions"]
    assert recorded["remote"] is True
    assert bodies["route"]["cause"] == recorded["id"]
    assert bodies["route"]["fault"] is True


def test_chained_exception_points_at_the_childs_id(recorder: SpanRecorder) -> None:
    bodies = _propagated(recorder, chained=True)
    (recorded,) = bodies["call"]["cause"]["exceptions"]
    (own,) = bodies["route"]["cause"]["exceptions"]
    assert own["type"] == "RuntimeError"
    assert own["cause"] == recorded["id"]


def test_other_exception_in_parent_is_kept(recorder: SpanRecorder) -> None:
    from otel_xray.translate.errors import link_propagated
    from otel_xray.translate.segment import translate_span

    with contextlib.suppress(ValueError), \
            recorder.tracer.start_as_current_span("route", kind=SpanKind.SERVER):
        with contextlib.suppress(KeyError), recorder.tracer.start_as_current_span("call"):
            raise KeyError("handled")
        raise ValueError("another")
    items = {span.name: translate_span(span, OPTIONS) for span in recorder.spans()}
    link_propagated([items["route"]], {items["route"].span_id: [items["call"]]})
    (own,) = items["route"].body["cause"]["exceptions"]
    assert own["type"] == "ValueError"
