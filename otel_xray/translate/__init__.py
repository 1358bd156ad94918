"""Pure translation of OpenTelemetry spans into X-Ray segment documents."""

from .segment import Document, Translated, standalone, translate, translate_span

__all__ = ["Document", "Translated", "standalone", "translate", "translate_span"]
