"""Reading span (and resource) attributes: the one set of readers every translate module uses."""

from __future__ import annotations

from typing import Any, Mapping, Optional

Attributes = Mapping[str, Any]

#: Default cut for text read with :func:`text_of` (the longest real values, S3 keys and
#: ARNs, stay well under it; X-Ray documents no limit for the fields it fills).
MAX_VALUE_LENGTH = 1024


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


def as_int(value: object, maximum: int) -> Optional[int]:
    """An int in 0..``maximum`` from an int, integral float or decimal string; else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        number = value
    elif isinstance(value, float):
        if not value.is_integer():  # also NaN and infinities
            return None
        number = int(value)
    elif isinstance(value, str):
        text = value.strip()
        # isascii: "²".isdigit() is true but int("²") raises.
        if not (0 < len(text) <= 20 and text.isascii() and text.isdigit()):
            return None
        number = int(text)
    else:
        return None
    return number if 0 <= number <= maximum else None


def nonempty_str(value: object) -> Optional[str]:
    """``value`` if it is a non-empty ``str``, else ``None``."""
    return value if isinstance(value, str) and value else None


def text_of(attrs: Attributes, *keys: str, limit: int = MAX_VALUE_LENGTH) -> Optional[str]:
    """The first non-empty ``str`` value among ``keys``, :func:`bounded_text`; else ``None``."""
    for key in keys:
        value = attrs.get(key)
        if isinstance(value, str) and value:
            if len(value) <= limit and value.isascii():
                return value
            return bounded_text(value, limit)
    return None


def bounded_text(value: str, limit: int = MAX_VALUE_LENGTH) -> str:
    """``value`` cut to ``limit`` code points, with lone surrogates replaced (strict JSON)."""
    text = value if len(value) <= limit else value[:limit]
    if not text.isascii():
        text = text.encode("utf-8", "replace").decode("utf-8")
    return text
