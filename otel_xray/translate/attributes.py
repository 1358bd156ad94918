"""Annotations, metadata, ``user``, span events and links; making any value JSON-safe.

STUB: to be implemented (issue 2).
"""

from __future__ import annotations

from typing import Any, Dict, FrozenSet

from opentelemetry.sdk.trace import ReadableSpan

from ..config import TranslateOptions
from ._attrs import Attributes

MAPPED_KEYS: FrozenSet[str] = frozenset()


def apply(
    body: Dict[str, Any],
    span: ReadableSpan,
    attrs: Attributes,
    options: TranslateOptions,
    *,
    exclude: FrozenSet[str],
    is_segment: bool,
) -> None:
    """Add ``annotations``, ``metadata``, ``user`` and ``links`` to ``body``.

    ``is_segment``: the span is sent as a segment (``user`` is a segment-only field).
    ``exclude`` holds the keys other concerns already mapped; they are not repeated in
    ``metadata.default``.
    """
    metadata = {k: v for k, v in attrs.items() if k not in exclude}
    if metadata:
        body["metadata"] = {"default": metadata}


def to_json_value(value: Any) -> Any:
    """Any attribute value as something strict JSON can carry (NaN, bytes, huge strings…)."""
    return value
