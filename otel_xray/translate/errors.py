"""``error``/``throttle``/``fault`` flags and the ``cause`` block from exception events.

Each ``exception`` span event becomes one X-Ray exception, plus one per exception in its
Python chain (``raise … from …`` and "during handling"), parsed from
``exception.stacktrace`` by :func:`parse_python_traceback`. An exception's ``cause`` is
the id of the exception that caused it (X-Ray's meaning, as in the Collector and the
X-Ray Java SDK): the recorded exception comes first, its cause next, and so on.
"""

from __future__ import annotations

import logging
import os
import re
from types import MappingProxyType
from typing import (
    Any,
    Dict,
    FrozenSet,
    List,
    Mapping,
    NamedTuple,
    Optional,
    Protocol,
    Sequence,
    Tuple,
)

from opentelemetry.sdk.trace import Event
from opentelemetry.semconv.attributes.exception_attributes import (
    EXCEPTION_MESSAGE,
    EXCEPTION_STACKTRACE,
    EXCEPTION_TYPE,
)
from opentelemetry.trace import Status, StatusCode

from .._diag import RateLimitedLog
from ..config import TranslateOptions

_log = logging.getLogger("otel_xray.translate.errors")
_limited_log = RateLimitedLog(_log)


def _new_limited_log() -> None:
    """A child process gets its own rate-limited log: another thread of the parent may
    have held the old one's lock at ``os.fork()``, and nothing would ever release it."""
    global _limited_log
    _limited_log = RateLimitedLog(_log)


if hasattr(os, "register_at_fork"):  # POSIX
    os.register_at_fork(after_in_child=_new_limited_log)

#: Errors read no span attributes (exceptions live in events), so none are consumed.
MAPPED_KEYS: FrozenSet[str] = frozenset()

EXCEPTION_EVENT = "exception"
#: Only the end of a longer stacktrace is parsed: it holds the recorded exception and
#: its innermost frames. Bounds the work for a megabyte-sized attribute.
MAX_STACKTRACE_CHARS = 64 * 1024
#: Exception events turned into exceptions per span (the most recent ones).
MAX_EXCEPTION_EVENTS = 10
#: Exceptions kept per chain: the recorded one and its nearest causes.
MAX_CHAINED = 10
MAX_MESSAGE_LENGTH = 2048
MAX_TEXT_LENGTH = 1024
"""Cut for ``type``, frame ``path`` and ``label``."""

_TRACEBACK_HEADERS = frozenset({
    "Traceback (most recent call last):",
    "Exception Group Traceback (most recent call last):",
})
_SEPARATORS = {
    "The above exception was the direct cause of the following exception:": "cause",
    "During handling of the above exception, another exception occurred:": "context",
}
_FRAME = re.compile(r'[ \t]*File "(?P<path>.*)", line (?P<line>\w*)(?:, in (?P<label>.*))?')
_REPEATED = re.compile(r"[ \t]*\[Previous line repeated (?P<count>\d{1,9}) more times?\]")
_EXCEPTION_LINE = re.compile(r"(?P<type>[^\W\d][\w.<>]*)(?:: ?(?P<message>.*))?")
_START, _FRAMES, _MESSAGE = 0, 1, 2


class StackFrame(NamedTuple):
    """One frame of a parsed traceback."""

    path: str
    line: Optional[int]
    label: Optional[str]
    """The function name; ``None`` for frames without one (e.g. a ``SyntaxError``'s)."""


class ParsedException(NamedTuple):
    """One exception of a parsed traceback chain."""

    type: Optional[str]
    """As printed (``module.Name``); ``None`` when the text had no exception line."""
    message: Optional[str]
    """The rest of the exception line plus any following lines (notes included)."""
    frames: Tuple[StackFrame, ...]
    """Innermost first, at most ``max_frames``."""
    truncated: int
    """Frames left out beyond ``max_frames`` (frames Python printed as "[Previous line
    repeated N more times]" are counted as the N frames they stand for)."""
    link: Optional[str]
    """How the *next* exception of the list relates to this one: ``"cause"`` (it is this
    one's ``__cause__``, ``raise … from``), ``"context"`` (``__context__``: this one was
    raised while handling it) or ``None`` (last, or the relation is unknown)."""


class _Block:
    """A traceback block while parsing (frames outermost first, as printed)."""

    __slots__ = ("counts", "frames", "link", "message_lines", "type")

    def __init__(self, link: Optional[str]) -> None:
        self.link = link
        self.frames: List[StackFrame] = []
        # How often each frame occurred: Python prints a run of identical frames (a
        # recursion) as 3 frames and "[Previous line repeated N more times]".
        self.counts: List[int] = []
        self.type: Optional[str] = None
        self.message_lines: List[str] = []

    def innermost(self, max_frames: int) -> Tuple[Tuple[StackFrame, ...], int]:
        """Up to ``max_frames`` frames, innermost first, and the number left out."""
        kept: List[StackFrame] = []
        for frame, count in zip(reversed(self.frames), reversed(self.counts)):
            room = max_frames - len(kept)
            if room <= 0:
                break
            kept.extend([frame] * min(count, room))
        return tuple(kept), sum(self.counts) - len(kept)


def parse_python_traceback(text: object, max_frames: int = 50) -> List[ParsedException]:
    """Parse Python's ``traceback.format_exception`` text into its chain of exceptions.

    Returns the *last* printed exception (the one raised, i.e. recorded) first, followed
    by its cause or context, and so on. Frames are innermost first, source lines and
    3.11+ caret lines (``^^^``/``~~~``) are skipped, and paths or labels may contain
    commas and quotes (a line that splits several ways gives the path the longest
    match: a path can hold any text, a function name hardly ``", line ``). Of an
    exception group only the group itself is kept (its ``| ``-prefixed sub-exceptions
    are skipped). Text that is not a Python traceback (Java, Go, garbage) yields at
    most a frameless entry; nothing ever raises.
    Only the last :data:`MAX_STACKTRACE_CHARS` characters are read.
    """
    if not isinstance(text, str) or not text:
        return []
    max_frames = max(1, max_frames)
    if len(text) > MAX_STACKTRACE_CHARS:
        lines = text[-MAX_STACKTRACE_CHARS:].split("\n")[1:]  # drop the partial first line
    else:
        lines = text.split("\n")
    blocks = _parse_blocks(lines)
    parsed: List[ParsedException] = []
    oldest_kept = max(0, len(blocks) - MAX_CHAINED)
    for index in range(len(blocks) - 1, oldest_kept - 1, -1):
        block = blocks[index]
        frames, truncated = block.innermost(max_frames)
        message = "\n".join(block.message_lines).rstrip("\n") or None
        # The link points at the block printed before this one, if that one is kept.
        link = block.link if index > oldest_kept else None
        parsed.append(ParsedException(block.type, message, frames, truncated, link))
    return parsed


def _parse_blocks(lines: List[str]) -> List[_Block]:
    """The traceback blocks of ``lines``, in printed order (the raised exception last)."""
    blocks: List[_Block] = []
    block: Optional[_Block] = None
    state = _START
    link: Optional[str] = None
    in_group = False
    previous_blank = True
    for raw in lines:
        line = raw[:-1] if raw.endswith("\r") else raw
        if in_group:
            if line.startswith(("  | ", "  + ")) or line == "  |":
                line = line[4:]
            elif line.startswith(("  +-", "    ")):
                continue  # the group's sub-exceptions: borders and their own tracebacks
            else:
                in_group = False
        elif state == _START and line.startswith(("  | ", "  + ")):
            in_group = True
            line = line[4:]
        stripped = line.strip()
        separator = _SEPARATORS.get(stripped)
        if separator is not None and (state != _MESSAGE or previous_blank):
            block, state, link = None, _START, separator
        elif stripped in _TRACEBACK_HEADERS and state != _MESSAGE:
            block = _Block(link if state == _START else None)
            blocks.append(block)
            state, link = _FRAMES, None
        elif state == _MESSAGE:
            if block is not None:
                block.message_lines.append(line)
        elif 'File "' in line and (frame := _frame(line)) is not None:
            if block is None:
                block = _Block(link)
                blocks.append(block)
                link = None
            block.frames.append(frame)
            block.counts.append(1)
            state = _FRAMES
        elif not line or line[0] in " \t":
            repeated = _REPEATED.fullmatch(line) if "[Previous line" in line else None
            if repeated is not None and block is not None and block.counts:
                block.counts[-1] += int(repeated.group("count"))
            # else: a source line, a caret line or a blank line
        else:
            if block is None:
                block = _Block(link)
                blocks.append(block)
                link = None
            _exception_line(block, line)
            state = _MESSAGE
        previous_blank = not stripped
    return blocks


def _frame(line: str) -> Optional[StackFrame]:
    match = _FRAME.fullmatch(line)
    if match is None:
        return None
    number = match.group("line")
    line_no = int(number) if number.isascii() and number.isdigit() and len(number) <= 10 else None
    return StackFrame(match.group("path"), line_no, match.group("label"))


def _exception_line(block: _Block, line: str) -> None:
    match = _EXCEPTION_LINE.fullmatch(line)
    if match is None:  # not "Type: message": keep the whole line as the message
        block.message_lines.append(line)
        return
    block.type = match.group("type")
    message = match.group("message")
    if message is not None:
        block.message_lines.append(message)


_THROTTLED: Mapping[str, bool] = MappingProxyType({"error": True, "throttle": True})
_ERROR: Mapping[str, bool] = MappingProxyType({"error": True})
_FAULT: Mapping[str, bool] = MappingProxyType({"fault": True})
_NO_FLAGS: Mapping[str, bool] = MappingProxyType({})


def error_flags(status: Optional[int], span_status: Optional[Status]) -> Mapping[str, bool]:
    """4xx → error (429 also throttle), 5xx → fault, else span status ERROR → fault.

    ``status`` is the HTTP response status (:func:`~otel_xray.translate.http.status_code`).
    Returns a read-only mapping to merge into the document.
    """
    if status is not None:
        if status == 429:
            return _THROTTLED
        if 400 <= status <= 499:
            return _ERROR
        if 500 <= status <= 599:
            return _FAULT
    if span_status is not None and span_status.status_code is StatusCode.ERROR:
        return _FAULT
    return _NO_FLAGS


def cause_of(
    events: Sequence[Event],
    status: Optional[Status],
    *,
    remote: bool,
    options: TranslateOptions,
) -> Optional[Dict[str, Any]]:
    """The ``cause`` field from a span's exception ``events`` (or its ERROR ``status``
    description).

    ``remote`` marks every exception as coming from a downstream call (CLIENT/PRODUCER
    spans). ``None`` when the span recorded no exception and has no ERROR description,
    and when its exceptions could not be parsed (logged, rate-limited: the span is still
    sent, without ``cause``).
    """
    try:
        exceptions = _exceptions(events, status, remote, options.max_stack_frames)
    except Exception:  # a parser bug must never cost the span
        _limited_log.warning(
            "cause_failed", "could not translate the exceptions of a span", exc_info=True
        )
        return None
    if not exceptions:
        return None
    cause: Dict[str, Any] = {}
    directory = _working_directory()
    if directory:
        cause["working_directory"] = directory
    cause["exceptions"] = exceptions
    return cause


def _exceptions(
    events: Sequence[Event], status: Optional[Status], remote: bool, max_frames: int
) -> List[Dict[str, Any]]:
    events = [event for event in events if event.name == EXCEPTION_EVENT]
    exceptions: List[Dict[str, Any]] = []
    for event in events[-MAX_EXCEPTION_EVENTS:]:
        exceptions.extend(_event_exceptions(event.attributes or {}, remote, max_frames))
    if exceptions:
        return exceptions
    if status is not None and status.status_code is StatusCode.ERROR and status.description:
        return [_exception(None, _text(status.description), (), 0, remote)]
    return []


def _event_exceptions(attrs: Any, remote: bool, max_frames: int) -> List[Dict[str, Any]]:
    """The exception of one event, followed by the exceptions of its chain, linked."""
    chain = parse_python_traceback(attrs.get(EXCEPTION_STACKTRACE), max_frames)
    head = chain[0] if chain else ParsedException(None, None, (), 0, None)
    # The event's own type/message describe the recorded exception best.
    type_name = _text(attrs.get(EXCEPTION_TYPE)) or head.type
    message = _text(attrs.get(EXCEPTION_MESSAGE))
    if message is None:
        message = head.message
    entries = [_exception(type_name, message, head.frames, head.truncated, remote)]
    for parsed in chain[1:]:
        entries.append(
            _exception(parsed.type, parsed.message, parsed.frames, parsed.truncated, remote)
        )
    for index, parsed in enumerate(chain[: len(entries) - 1]):
        if parsed.link is not None:
            entries[index]["cause"] = entries[index + 1]["id"]
    return entries


class _Item(Protocol):
    @property
    def body(self) -> Dict[str, Any]: ...
    @property
    def span_id(self) -> str: ...


def link_propagated(tops: Sequence[_Item], kids: Mapping[str, Sequence[_Item]]) -> None:
    """Record an exception that propagated out of a child span once, as the X-Ray SDKs do.

    An exception raised in a call (a downstream AWS error) is recorded by the call's span
    and again, with more frames, by every span it passes through. Where an ancestor's
    exception is the same exception (same type, message and innermost frame; the latest
    such child wins), the ancestor's ``cause`` becomes the id of the child's
    exception (``"cause": "<id>"``, the X-Ray form for "the cause is that exception");
    where it only ends the ancestor's chain (``raise Other(...) from error``), the
    ancestor keeps its own exceptions and the one before points at the child's id.
    Works on the bodies of one batch in place; ``kids`` maps span ids to children.
    """
    if not kids:  # nothing nested, nothing propagated
        return
    stack: List[Tuple[_Item, bool]] = [(top, False) for top in tops]
    while stack:  # post-order: children are linked before their parents
        item, children_done = stack.pop()
        children = kids.get(item.span_id, ())
        if not children_done and children:
            stack.append((item, True))
            stack.extend((child, False) for child in children)
            continue
        cause = item.body.get("cause")
        if not (children and isinstance(cause, dict)):
            continue
        exceptions = cause.get("exceptions")
        if not isinstance(exceptions, list):
            continue
        for child in reversed(children):
            if _link_to_child(item.body, exceptions, _recorded(child.body, kids, child)):
                break


def _recorded(
    body: Mapping[str, Any], kids: Mapping[str, Sequence[_Item]], item: _Item
) -> List[Dict[str, Any]]:
    """The exceptions a (linked) child stands for: its own, or those its id cause names."""
    cause = body.get("cause")
    if isinstance(cause, dict):
        exceptions = cause.get("exceptions")
        return exceptions if isinstance(exceptions, list) else []
    if isinstance(cause, str):  # linked already: find the exception it names below it
        for child in kids.get(item.span_id, ()):
            for exception in _recorded(child.body, kids, child):
                if exception.get("id") == cause:
                    return [exception]
    return []


def _link_to_child(
    body: Dict[str, Any], exceptions: List[Dict[str, Any]], recorded: List[Dict[str, Any]]
) -> bool:
    for index, exception in enumerate(exceptions):
        for theirs in recorded:
            if _same_exception(exception, theirs):
                if index == 0:
                    body["cause"] = theirs["id"]
                else:
                    exceptions[index - 1]["cause"] = theirs["id"]
                    del exceptions[index:]
                return True
    return False


def _same_exception(ours: Mapping[str, Any], theirs: Mapping[str, Any]) -> bool:
    """The same exception seen further out: same type, message and innermost frame (where
    it was raised). The outer frames differ: each span's record includes the frames of
    the context manager that recorded it."""
    if ours.get("type") != theirs.get("type") or ours.get("message") != theirs.get("message"):
        return False
    our_stack: Any = ours.get("stack")
    their_stack: Any = theirs.get("stack")
    return bool(our_stack and their_stack) and bool(our_stack[0] == their_stack[0])


def _exception(
    type_name: Optional[str],
    message: Optional[str],
    frames: Tuple[StackFrame, ...],
    truncated: int,
    remote: bool,
) -> Dict[str, Any]:
    exception: Dict[str, Any] = {"id": os.urandom(8).hex()}
    if type_name:
        exception["type"] = _safe(type_name, MAX_TEXT_LENGTH)
    if message:
        exception["message"] = _safe(message, MAX_MESSAGE_LENGTH)
    if remote:
        exception["remote"] = True
    if frames:
        exception["stack"] = [_stack_frame(frame) for frame in frames]
    if truncated:
        exception["truncated"] = truncated
    return exception


def _stack_frame(frame: StackFrame) -> Dict[str, Any]:
    entry: Dict[str, Any] = {"path": _safe(frame.path, MAX_TEXT_LENGTH)}
    if frame.line is not None:
        entry["line"] = frame.line
    if frame.label is not None:
        entry["label"] = _safe(frame.label, MAX_TEXT_LENGTH)
    return entry


def _text(value: object) -> Optional[str]:
    """Any attribute value as text (``None`` stays ``None``)."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bytes):
        return value[: MAX_MESSAGE_LENGTH * 4].decode("utf-8", "replace")
    if isinstance(value, (list, tuple)):
        return ", ".join(str(item) for item in value[:100])
    return str(value)


def _safe(text: str, limit: int) -> str:
    """Cut to ``limit`` code points; lone surrogates (undecodable file names) become ``?``."""
    if len(text) > limit:
        text = text[:limit]
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            text = text.encode("utf-8", "replace").decode("utf-8")
    return text


_CWD_UNSET = "\0"
_cwd: str = _CWD_UNSET


def _working_directory() -> Optional[str]:
    """The process's working directory, read once (it rarely changes, and costs a syscall)."""
    global _cwd
    if _cwd == _CWD_UNSET:
        try:
            _cwd = _safe(os.getcwd(), MAX_TEXT_LENGTH)
        except OSError:  # the directory was deleted
            _cwd = ""
    return _cwd or None
