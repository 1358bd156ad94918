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
) -> None:
    """Add ``annotations``, ``metadata``, ``user`` and ``links`` to ``body``.

    ``exclude`` holds the keys other concerns already mapped; they are not repeated in
    ``metadata.default``.
    """
    metadata = {k: v for k, v in attrs.items() if k not in exclude}
    if metadata:
        body["metadata"] = {"default": metadata}
