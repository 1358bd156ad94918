"""Document names: which attribute names a (sub)segment, and cleaning it for X-Ray.

STUB: the full priority list and cleaning rules are to be implemented (issue 2).
"""

from __future__ import annotations

import re
from typing import FrozenSet

from opentelemetry.sdk.trace import ReadableSpan

from ._attrs import Attributes

#: Attribute keys consumed by naming (not repeated in metadata).
MAPPED_KEYS: FrozenSet[str] = frozenset()

MAX_NAME_LENGTH = 200
_INVALID = re.compile(r"[^\w\s.:/%&#=+\\\-@]")


def clean_name(text: str) -> str:
    """Remove characters X-Ray rejects in names and cut to 200 code points; never empty."""
    cleaned = _INVALID.sub("", text)[:MAX_NAME_LENGTH]
    return cleaned or "unknown"


def document_name(span: ReadableSpan, attrs: Attributes, is_root: bool) -> str:
    """The name of the span's (sub)segment."""
    if is_root and span.resource is not None:
        service = span.resource.attributes.get("service.name")
        if isinstance(service, str) and service:
            return clean_name(service)
    return clean_name(span.name or "")
