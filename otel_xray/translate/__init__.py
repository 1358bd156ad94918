"""Pure translation of OpenTelemetry spans into X-Ray segment documents.

:func:`to_document` translates one span into the document it would be sent as on its own;
:func:`~otel_xray.translate.segment.translate_span` is the pipeline's entry point (a body
the packer can nest). Each concern lives in its own module: ``names``, ``http``, ``aws``,
``sql``, ``errors``, ``attributes``, ``resource``, assembled by ``segment``.
"""

from __future__ import annotations

import copy
from typing import Optional

from opentelemetry.sdk.trace import ReadableSpan

from ..config import TranslateOptions
from .segment import Document, Translated, standalone, translate_span

__all__ = ["Document", "Translated", "standalone", "to_document", "translate_span"]


def to_document(span: ReadableSpan, options: Optional[TranslateOptions] = None) -> Document:
    """Translate one span into the X-Ray document it would be sent as on its own.

    A document root (no parent, a remote parent, or kind SERVER/CONSUMER) becomes a
    segment; any other span a standalone subsegment carrying ``type``, ``trace_id`` and
    ``parent_id``. ``options`` default to :meth:`TranslateOptions.from_env` (read once).
    Use :class:`~otel_xray.XRaySpanProcessor` to nest whole span trees. The document is
    the caller's own: changing it changes no other span's document.
    """
    # A deep copy: translated bodies share their values with other spans' (see Translated).
    return copy.deepcopy(standalone(translate_span(span, options or _default_options())))


_DEFAULT: Optional[TranslateOptions] = None


def _default_options() -> TranslateOptions:
    global _DEFAULT
    if _DEFAULT is None:
        _DEFAULT = TranslateOptions.from_env()
    return _DEFAULT
