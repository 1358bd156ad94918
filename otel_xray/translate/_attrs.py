"""Small helpers for reading span attributes, shared by the translate modules."""

from __future__ import annotations

from typing import Any, Mapping, Optional

Attributes = Mapping[str, Any]


def first(attrs: Attributes, *keys: str) -> Any:
    """The value of the first key present with a non-empty value, else ``None``."""
    for key in keys:
        value = attrs.get(key)
        if value is not None and value != "":
            return value
    return None


def first_str(attrs: Attributes, *keys: str) -> Optional[str]:
    """Like :func:`first`, but only a ``str`` value counts (anything else is skipped)."""
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


def truncate(text: str, limit: int) -> str:
    """Cut ``text`` to at most ``limit`` code points."""
    return text if len(text) <= limit else text[:limit]
