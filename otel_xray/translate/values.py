"""Making any value JSON-safe: strict JSON that orjson can encode, nothing raises.

Two bounds, one conversion:

- :func:`to_json_value` (every attribute value the translator emits): text, items and
  depth are bounded (:mod:`~otel_xray.translate.limits`);
- :func:`json_safe` (packing's safety net for a document orjson refused): only what
  strict JSON cannot carry is converted, sizes are kept; nesting is cut at
  :data:`SAFE_DEPTH` levels.

Both make ints beyond 64 bits decimal text, NaN and ±Infinity the strings ``"NaN"``,
``"Infinity"``, ``"-Infinity"``, replace lone surrogates by U+FFFD, turn bytes into UTF-8
text (or ``"base64:"`` + base64 when they are not UTF-8), sequences and sets into lists,
mappings into dicts with string keys, and any other object into its ``str()`` (its type
name in angle brackets when ``str()`` raises).
"""

from __future__ import annotations

import base64
import math
import re
import sys
from collections.abc import Mapping, Sequence
from typing import Any, Dict, List, Tuple

from .limits import (
    INT_MAX,
    INT_MIN,
    MAX_DEPTH,
    MAX_ITEMS,
    MAX_KEY_LENGTH,
    MAX_STRING_LENGTH,
    TRUNCATION_MARKER,
)

#: Nesting kept by :func:`json_safe` (JSON parsers bound it); deeper containers become
#: :data:`~otel_xray.translate.limits.TRUNCATION_MARKER`.
SAFE_DEPTH = 100

_SURROGATE = re.compile("[\ud800-\udfff]")


def to_json_value(value: Any) -> Any:
    """Any attribute value as something strict JSON (and orjson) can carry.

    ``None``, bool, and int within 64 bits pass; other ints become decimal text. NaN and
    ±Infinity become the strings ``"NaN"``, ``"Infinity"``, ``"-Infinity"``. Text is cut
    to :data:`MAX_STRING_LENGTH` code points (plus :data:`TRUNCATION_MARKER`), lone
    surrogates become U+FFFD. Bytes become UTF-8 text when they are valid UTF-8, else
    ``"base64:"`` + base64. Sequences become lists, mappings dicts with string keys, both
    bounded by :data:`MAX_ITEMS`, :data:`MAX_DEPTH` and one text budget per value. Any
    other object becomes its ``str()``. Never raises.
    """
    cls = type(value)
    # Fast paths: the common attribute types, already JSON-safe.
    if cls is str:
        if len(value) <= MAX_STRING_LENGTH and value.isascii():
            return value
        return clean_text(value, MAX_STRING_LENGTH)
    if cls is bool or value is None:
        return value
    if cls is int:
        return value if INT_MIN <= value <= INT_MAX else _int_text(value)
    if cls is float:
        return value if math.isfinite(value) else _non_finite(value)
    if cls is tuple and _is_plain_tuple(value):
        return list(value)
    try:
        return _convert(value, 0, _Budget(MAX_STRING_LENGTH, MAX_ITEMS, MAX_DEPTH, MAX_KEY_LENGTH))
    except Exception:  # a hostile __iter__/items() must not break export
        return f"<{_type_name(value)}>"


def json_safe(value: Any) -> Any:
    """``value`` with everything strict JSON cannot carry converted as :func:`to_json_value`
    does, but without its size bounds: text, keys and items are kept whole, and only
    containers nested deeper than :data:`SAFE_DEPTH` are cut. Never raises.

    Also orjson's ``default`` hook: it receives the objects orjson cannot encode itself.
    """
    try:
        return _convert(value, 0, _Budget(sys.maxsize, sys.maxsize, SAFE_DEPTH, sys.maxsize))
    except Exception:
        return f"<{_type_name(value)}>"


def metadata_key(key: str) -> str:
    """An attribute key as a metadata key: kept as it is, only cut to 1024 code points and
    with lone surrogates replaced (orjson refuses them)."""
    if len(key) <= MAX_KEY_LENGTH and key.isascii():
        return key
    return clean_text(key, MAX_KEY_LENGTH, marker="")


def clean_text(text: str, limit: int, marker: str = TRUNCATION_MARKER) -> str:
    """Cut ``text`` to ``limit`` code points (adding ``marker``); lone surrogates → U+FFFD.

    Cutting never splits a character: Python strings are code points, and a lone
    surrogate at the cut is replaced like any other.
    """
    if len(text) > limit:
        text = text[:limit] + marker
    if not text.isascii() and _SURROGATE.search(text):
        text = _SURROGATE.sub("\ufffd", text)
    return text


class _Budget:
    """The bounds of one conversion, and the code points of text it may still emit."""

    __slots__ = ("depth", "items", "keys", "left", "text")

    def __init__(self, text: int, items: int, depth: int, keys: int) -> None:
        self.text = self.left = text
        self.items = items
        self.depth = depth
        self.keys = keys


def _convert(value: Any, depth: int, budget: _Budget) -> Any:
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str):
        return _budget_text(value, budget)
    if isinstance(value, int):
        return int(value) if INT_MIN <= value <= INT_MAX else _int_text(value)
    if isinstance(value, float):
        return float(value) if math.isfinite(value) else _non_finite(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        head = bytes(value[: 4 * budget.text + 4])
        return _budget_text(_bytes_text(head, len(value), budget.text), budget)
    if isinstance(value, Mapping):
        if depth >= budget.depth:
            return TRUNCATION_MARKER
        out: Dict[str, Any] = {}
        for index, (key, item) in enumerate(value.items()):
            if index >= budget.items or budget.left <= 0:
                out[TRUNCATION_MARKER] = len(value) - index
                break
            budget.left -= 1
            if not isinstance(key, str):
                key = _text(key)
            if len(key) > budget.keys or not key.isascii():
                key = clean_text(key, budget.keys, marker="")
            out[key] = _convert(item, depth + 1, budget)
        return out
    if isinstance(value, (Sequence, set, frozenset)):
        if depth >= budget.depth:
            return TRUNCATION_MARKER
        items: List[Any] = []
        for index, item in enumerate(value):
            if index >= budget.items or budget.left <= 0:
                items.append(TRUNCATION_MARKER)
                break
            budget.left -= 1
            items.append(_convert(item, depth + 1, budget))
        return items
    return _budget_text(_text(value), budget)


def _text(value: Any) -> str:
    """``str(value)``, or the type name in angle brackets when that raises."""
    try:
        return str(value)
    except Exception:
        return f"<{_type_name(value)}>"


def _is_plain_tuple(value: Tuple[Any, ...]) -> bool:
    """A tuple of scalars that are JSON-safe as they are (the SDK's usual sequence)."""
    if len(value) > MAX_ITEMS:
        return False
    text_left = MAX_STRING_LENGTH
    for item in value:
        cls = type(item)
        if cls is str:
            text_left -= len(item)
            if text_left < 0 or not item.isascii():
                return False
        elif cls is float:
            if not math.isfinite(item):
                return False
        elif cls is int:
            if not INT_MIN <= item <= INT_MAX:
                return False
        elif cls is not bool and item is not None:
            return False
    return True


def _budget_text(text: str, budget: _Budget) -> str:
    limit = max(budget.left, 0)
    budget.left -= len(text)
    return clean_text(text, limit)


def _bytes_text(head: bytes, total: int, limit: int) -> str:
    """Valid UTF-8 → its text; anything else → ``"base64:..."`` of at most ``limit`` code
    points.

    ``head`` is the start of a ``total``-byte value, cut to at most 4 bytes per code point
    kept; a character split by that cut does not make the value binary.
    """
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if len(head) < total and exc.start >= len(head) - 3:
            try:
                return head[: exc.start].decode("utf-8") + TRUNCATION_MARKER
            except UnicodeDecodeError:
                pass
    else:
        return text + TRUNCATION_MARKER if len(head) < total else text
    raw = head[: limit // 4 * 3]
    text = "base64:" + base64.b64encode(raw).decode("ascii")
    return text + TRUNCATION_MARKER if len(raw) < total else text


def _int_text(value: int) -> str:
    """Decimal text of an int too big for orjson (hex when too big for ``str()``)."""
    try:
        return clean_text(str(value), MAX_STRING_LENGTH)
    except ValueError:  # Python 3.11+ limits int→str conversion to 4300 digits
        return clean_text(hex(value), MAX_STRING_LENGTH)


def _non_finite(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    return "Infinity" if value > 0 else "-Infinity"


def _type_name(value: Any) -> str:
    try:
        return type(value).__name__
    except Exception:
        return "object"
