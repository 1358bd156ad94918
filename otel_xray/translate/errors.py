"""``error``/``throttle``/``fault`` flags and the ``cause`` block from exception events.

STUB: the Python traceback parser and chained exceptions are to be implemented.
"""

from __future__ import annotations

from typing import Any, Dict, FrozenSet, Optional

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import Status, StatusCode

from ..config import TranslateOptions

MAPPED_KEYS: FrozenSet[str] = frozenset()


def error_flags(status: Optional[int], span_status: Optional[Status]) -> Dict[str, bool]:
    """4xx → error (429 also throttle), 5xx → fault, else span status ERROR → fault."""
    if status is not None:
        if status == 429:
            return {"error": True, "throttle": True}
        if 400 <= status <= 499:
            return {"error": True}
        if 500 <= status <= 599:
            return {"fault": True}
    if span_status is not None and span_status.status_code is StatusCode.ERROR:
        return {"fault": True}
    return {}


def cause_block(
    span: ReadableSpan, *, remote: bool, options: TranslateOptions
) -> Optional[Dict[str, Any]]:
    """The ``cause`` field from the span's exception events (or its status description)."""
    return None
