"""The ``http`` block: request method/url/user agent/client ip, response status/length.

STUB: both semantic-convention generations and URL rebuilding are to be implemented.
"""

from __future__ import annotations

from typing import Any, Dict, FrozenSet, Optional

from opentelemetry.trace import SpanKind

from ._attrs import Attributes, first_int, first_str

MAPPED_KEYS: FrozenSet[str] = frozenset(
    {"http.method", "http.request.method", "http.url", "url.full", "http.status_code",
     "http.response.status_code"}
)


def status_code(attrs: Attributes) -> Optional[int]:
    """The HTTP response status of the span, from either convention generation."""
    return first_int(attrs, "http.response.status_code", "http.status_code")


def http_block(attrs: Attributes, kind: SpanKind, *, is_segment: bool) -> Optional[Dict[str, Any]]:
    """The ``http`` field, or ``None`` when the span carries no HTTP information."""
    request: Dict[str, Any] = {}
    method = first_str(attrs, "http.request.method", "http.method")
    if method:
        request["method"] = method
    url = first_str(attrs, "url.full", "http.url")
    if url:
        request["url"] = url
    response: Dict[str, Any] = {}
    status = status_code(attrs)
    if status is not None:
        response["status"] = status
    block: Dict[str, Any] = {}
    if request:
        block["request"] = request
    if response:
        block["response"] = response
    return block or None
