"""Keys and limits shared by translation and packing, each declared once here."""

from __future__ import annotations

#: The metadata namespace of plain attributes; packing also moves annotations over the
#: per-document limit here.
DEFAULT_NAMESPACE = "default"
#: Keys in ``metadata.default`` for non-exception span events and what was left out.
EVENTS_KEY = "otel.events"
EVENTS_DROPPED_KEY = "otel.events_dropped"
LINKS_DROPPED_KEY = "otel.links_dropped"

#: X-Ray indexes at most 50 annotations: per span when translating, per document when packing.
MAX_ANNOTATIONS = 50

#: Per attribute value: code points of text (summed over a nested value), then cut.
MAX_STRING_LENGTH = 32 * 1024
#: Metadata keys (attribute keys, mapping keys) are cut to this many code points.
MAX_KEY_LENGTH = 1024
#: Items kept per sequence or mapping, and nesting depth kept, inside one value.
MAX_ITEMS = 1000
MAX_DEPTH = 8

#: Appended where something was cut (strings, sequences) or replaces what was too deep.
TRUNCATION_MARKER = "...[truncated]"

#: The integers orjson can encode (signed and unsigned 64 bits); others become text.
INT_MIN = -(1 << 63)
INT_MAX = (1 << 64) - 1
