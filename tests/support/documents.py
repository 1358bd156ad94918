"""Hand-made X-Ray documents for the tests of ``otel-xray listen`` and its checks."""

from __future__ import annotations

from typing import Any, Dict

import orjson

from otel_xray.emit.protocol import HEADER

TRACE_ID = "1-5759e988-bd862e3fe1be46a994272793"


def segment(**fields: Any) -> Dict[str, Any]:
    """A minimal valid segment (``checkout``, 250 ms), ``fields`` added or replaced."""
    doc: Dict[str, Any] = {
        "name": "checkout",
        "id": "53995c3f42cd8ad8",
        "trace_id": TRACE_ID,
        "start_time": 1700000000.0,
        "end_time": 1700000000.25,
    }
    doc.update(fields)
    return doc


def subsegment(**fields: Any) -> Dict[str, Any]:
    """A minimal valid standalone subsegment under :func:`segment`."""
    doc = segment(id="0f910026178b71eb", type="subsegment", parent_id="53995c3f42cd8ad8")
    doc.update(fields)
    return doc


def without(doc: Dict[str, Any], *keys: str) -> Dict[str, Any]:
    return {k: v for k, v in doc.items() if k not in keys}


def datagram(doc: Any) -> bytes:
    """The daemon datagram carrying ``doc`` (a dict, or a body already encoded)."""
    return HEADER + (doc if isinstance(doc, bytes) else orjson.dumps(doc))


def nested(depth: int) -> bytes:
    """A valid segment whose subsegments are nested ``depth`` levels deep, encoded.

    Built as text: ``orjson.dumps`` refuses to write more than 255 levels.
    """
    head = orjson.dumps(segment())[:-1]
    levels = b"".join(
        b',"subsegments":[{"name":"level %d","id":"%016x",' % (level, level + 1)
        + b'"start_time":1700000000.1,"end_time":1700000000.2'
        for level in range(depth)
    )
    return head + levels + b"}]" * depth + b"}"
