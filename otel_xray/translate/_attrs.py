"""Small helpers for reading span attributes, shared by the translate modules."""

from __future__ import annotations

from typing import Any, Mapping, Optional

Attributes = Mapping[str, Any]


def first_str(attrs: Attributes, *keys: str) -> Optional[str]:
    """The first non-empty ``str`` value among ``keys`` (values of other types are skipped)."""
    for key in keys:
        value = attrs.get(key)
        if isinstance(value, str) and value:
            return value
    return None


def first_int(attrs: Attributes, *keys: str) -> Optional[int]:
    """The first value that is an integer or an integral string (``"200"``); bools excluded."""
    for key in keys:
        value = attrs.get(key)
        if isinstance(value, bool) or value is None:
            continue
        if isinstance(value, int):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, str):
            text = value.strip()
            # isascii: "²".isdigit() is true but int("²") raises.
            if text.isascii() and text.isdigit():
                return int(text)
    return None


def nonempty_str(value: object) -> Optional[str]:
    """``value`` if it is a non-empty ``str``, else ``None``."""
    return value if isinstance(value, str) and value else None
