"""Render a trace as a text waterfall: one line per (sub)segment, a time bar scaled to the trace.

::

    Trace 1-6761f0a2-5c1b9e8d7f3a2b4c6d8e0f12  2 segments, 6 subsegments, 41.3 ms
      frontend                      41.3 ms |██████████████████████████████| 200
        ↳ user alice · annotations order_id=7 · metadata default: cart
        127.0.0.1:8001     remote   35.0 ms |  ████████████████████████    | 200
          orders                    33.1 ms |  ███████████████████████     | 200

A (sub)segment with a ``user``, annotations or metadata gets a second, dimmed line that
names them (annotation values too, metadata only by key). Under the waterfall, ``!``
lines warn about what X-Ray would lose, ``~`` lines note what is outside the documented
format but accepted.
"""

from __future__ import annotations

import math
import os
from typing import IO, Any, Dict, List, Optional, Tuple

import orjson

from .assemble import Node, Trace
from .validate import show

BAR_WIDTH = 30
_MAX_LABEL = 48
_MIN_LABEL = 16
_MAX_DETAIL = 60
_MAX_DATA = 110

_RESET = "\033[0m"
_STYLES = {
    "bold": "\033[1m",
    "dim": "\033[2m",
    "red": "\033[31m",
    "yellow": "\033[33m",
    "magenta": "\033[35m",
    "cyan": "\033[36m",
    "green": "\033[32m",
}


def use_color(stream: IO[str]) -> bool:
    """Colour only for a terminal, and never when ``NO_COLOR`` is set (https://no-color.org)."""
    if os.environ.get("NO_COLOR"):
        return False
    isatty = getattr(stream, "isatty", None)
    try:
        return bool(isatty and isatty())
    except (ValueError, OSError):  # a closed or odd stream
        return False


def can_draw_blocks(stream: IO[str]) -> bool:
    """Whether the stream's encoding can show the block characters of the time bar."""
    encoding = getattr(stream, "encoding", None) or "ascii"
    try:
        "█·↳".encode(encoding)
    except (UnicodeEncodeError, LookupError):
        return False
    return True


class Style:
    """Text decoration: ANSI colours, or nothing at all."""

    def __init__(self, color: bool = False, blocks: bool = True) -> None:
        self.color = color
        self.fill = "█" if blocks else "="
        self.empty = " "
        self.ellipsis = "…" if blocks else "~"
        self.separator = " · " if blocks else " | "
        self.data_mark = "↳ " if blocks else "> "

    def __call__(self, text: str, *styles: str) -> str:
        if not self.color or not styles or not text:
            return text
        return "".join(_STYLES[s] for s in styles) + text + _RESET


def format_duration(seconds: Optional[float]) -> str:
    """``0.42 ms``, ``12.3 ms``, ``1.25 s``; ``in progress`` without an end."""
    if seconds is None:
        return "in progress"
    millis = max(seconds, 0.0) * 1000
    if millis < 10:
        return f"{millis:.2f} ms"
    if millis < 1000:
        return f"{millis:.1f} ms"
    return f"{millis / 1000:.2f} s"


def render(
    trace: Trace,
    style: Optional[Style] = None,
    *,
    warnings: Optional[List[str]] = None,
    bar_width: int = BAR_WIDTH,
) -> str:
    """The waterfall of ``trace`` as text (lines joined by newlines, no trailing newline).

    ``warnings`` are printed under it; by default the trace's own :meth:`Trace.warnings`.
    """
    style = style or Style()
    rows = list(trace.walk())
    start, end = _bounds([node for _, node in rows])
    total = end - start
    segments = sum(1 for _, n in rows if n.is_segment)
    header = (
        f"Trace {trace.trace_id}  {_plural(segments, 'segment')}, "
        f"{_plural(len(rows) - segments, 'subsegment')}, {format_duration(total)}"
    )
    if trace.late_documents:
        header += (f"  (again: {_plural(trace.late_documents, 'more document')} arrived "
                   f"after it was printed)")
    lines = [style(header, "bold")]
    label_width = min(
        max([_MIN_LABEL] + [2 * depth + len(node.name) for depth, node in rows]), _MAX_LABEL
    )
    for depth, node in rows:
        lines.append(_line(node, depth, start, total, label_width, bar_width, style))
        data = _data(node.doc, style.separator)
        if data:
            text = style.data_mark + _cut(data, _MAX_DATA, style.ellipsis)
            lines.append("  " * (depth + 2) + style(text, "dim"))
    for warning in trace.warnings() if warnings is None else warnings:
        lines.append(style(f"  ! {warning}", "yellow"))
    for note in note_lines(trace):
        lines.append(style(f"  ~ {note}", "dim"))
    return "\n".join(lines)


def note_lines(trace: Trace) -> List[str]:
    """The trace's notes, one line per reason: ``reason: field (documents), field``."""
    by_reason: Dict[str, List[str]] = {}
    for note, count in trace.notes.items():
        label = note.field if count == 1 else f"{note.field} ({count})"
        by_reason.setdefault(note.reason, []).append(label)
    return [f"{reason}: {', '.join(labels)}" for reason, labels in by_reason.items()]


def _data(doc: Dict[str, Any], separator: str) -> str:
    """What a migrating user checks: ``user``, annotations with values, metadata keys."""
    parts: List[str] = []
    user = doc.get("user")
    if user is not None:
        parts.append(f"user {user if isinstance(user, str) else show(user)}")
    annotations = doc.get("annotations")
    if isinstance(annotations, dict) and annotations:
        parts.append("annotations " + " ".join(
            f"{key}={_value(value)}" for key, value in annotations.items()
        ))
    metadata = doc.get("metadata")
    if isinstance(metadata, dict) and metadata:
        parts.append("metadata " + "; ".join(
            f"{namespace}: {_keys(values)}" for namespace, values in metadata.items()
        ))
    return separator.join(parts)


def _keys(values: Any) -> str:
    if not isinstance(values, dict):
        return show(values)
    return ", ".join(values) if values else "(empty)"


def _value(value: Any) -> str:
    """A scalar as JSON (``"42"``, ``7``, ``true``), anything else shortened."""
    if isinstance(value, (str, int, float, bool)):
        try:
            return orjson.dumps(value).decode()
        except orjson.JSONEncodeError:  # an integer beyond 64 bits
            pass
    return show(value)


def _line(
    node: Node, depth: int, start: float, total: float, label_width: int, bar_width: int,
    style: Style,
) -> str:
    label = _cut("  " * depth + node.name, label_width, style.ellipsis)
    namespace = node.namespace
    end = node.end
    duration = format_duration(None if end is None else end - node.start)
    bar = _bar(node, start, total, bar_width, style)
    status = node.http_status
    parts = [
        "  " + style(f"{label:<{label_width}}", *(("bold",) if node.is_segment else ())),
        style(f"{namespace:<6}", "dim"),
        f"{duration:>11}",
        f"|{bar}|",
        _status(status, style),
    ]
    marks = _marks(node, style)
    if marks:
        parts.append(marks)
    detail = _detail(node.doc)
    if detail:
        parts.append(style(_cut(detail, _MAX_DETAIL, style.ellipsis), "dim"))
    return " ".join(parts).rstrip()


def _detail(doc: Dict[str, Any]) -> str:
    """What the (sub)segment did: the AWS operation, the SQL query, or the HTTP request."""
    aws, sql, http = doc.get("aws"), doc.get("sql"), doc.get("http")
    if isinstance(aws, dict) and isinstance(aws.get("operation"), str):
        target = next((aws[k] for k in ("table_name", "bucket_name", "queue_url")
                       if isinstance(aws.get(k), str)), "")
        return f"{aws['operation']} {target}".strip()
    if isinstance(sql, dict) and isinstance(sql.get("sanitized_query"), str):
        return " ".join(sql["sanitized_query"].split())
    request = http.get("request") if isinstance(http, dict) else None
    if isinstance(request, dict):
        method, url = request.get("method"), request.get("url")
        return " ".join(str(v) for v in (method, url) if isinstance(v, str))
    return ""


def _bar(node: Node, start: float, total: float, width: int, style: Style) -> str:
    node_end = node.end if node.end is not None else start + total
    if total <= 0:
        first, last = 0, width
    else:
        first = math.floor(_fraction(node.start - start, total) * width + 1e-9)
        last = math.ceil(_fraction(node_end - start, total) * width - 1e-9)
        first = min(max(first, 0), width - 1)
        last = min(max(last, first + 1), width)
    colour = "red" if node.flag("fault") else "yellow" if node.flag("error") else (
        "green" if node.is_segment else "cyan"
    )
    return (
        style.empty * first
        + style(style.fill * (last - first), colour)
        + style.empty * (width - last)
    )


def _fraction(offset: float, total: float) -> float:
    """Where ``offset`` seconds fall in ``total`` seconds, within 0..1 (a time far outside
    the trace, which a document may carry, would otherwise overflow a bar position)."""
    # Times are epoch floats: round to microseconds so 0.1 s of 1 s is 1/10 exactly.
    fraction = round(offset, 6) / total
    if not fraction >= 0.0:  # also NaN
        return 0.0
    return min(fraction, 1.0)


def _status(status: Optional[int], style: Style) -> str:
    if status is None:
        return "   "
    text = f"{status:>3}"
    if status >= 500:
        return style(text, "red")
    if status >= 400:
        return style(text, "yellow")
    return text


def _marks(node: Node, style: Style) -> str:
    marks: List[str] = []
    if node.flag("fault"):
        marks.append(style("fault", "red", "bold"))
    if node.flag("error"):
        marks.append(style("error", "yellow", "bold"))
    if node.flag("throttle"):
        marks.append(style("throttle", "magenta", "bold"))
    exception = node.exception
    if exception:
        marks.append(style(_cut(exception, 60, style.ellipsis), "red"))
    if node.orphan:
        marks.append(style(f"(parent {node.parent_id} not received)", "dim"))
    return " ".join(marks)


def _bounds(nodes: List[Node]) -> Tuple[float, float]:
    if not nodes:
        return 0.0, 0.0
    start = min(n.start for n in nodes)
    ends = [n.end for n in nodes if n.end is not None]
    end = max([*ends, start])
    return start, end


def _cut(text: str, width: int, ellipsis: str) -> str:
    return text if len(text) <= width else text[: width - 1] + ellipsis


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


__all__ = ["Style", "can_draw_blocks", "format_duration", "render", "use_color"]
