"""The X-Ray daemon's UDP protocol: one datagram = a header line + one JSON document.

The daemon splits each datagram at the first newline, checks that the header is JSON with
``"format": "json"`` (case-insensitive) and ``"version": 1``, and forwards the body unparsed
to PutTraceSegments. It neither validates nor splits bodies, so a sender must keep every
document under the API's 64 kB limit and every datagram under the UDP payload limit.
"""

from __future__ import annotations

import json
from typing import Any, Dict, Tuple

#: The header line the daemon expects before every document.
HEADER = b'{"format":"json","version":1}\n'

#: The largest UDP payload over IPv4 (65,535 - 8 byte UDP header - 20 byte IP header).
MAX_UDP_PAYLOAD = 65507

#: Documents stay under the API's 64 kB limit, which also keeps HEADER + document under
#: :data:`MAX_UDP_PAYLOAD`.
DEFAULT_MAX_DOCUMENT_BYTES = 64_000


def encode_datagram(document: bytes) -> bytes:
    """Return the datagram that carries one encoded document: ``HEADER + document``."""
    return HEADER + document


def split_datagram(data: bytes) -> Tuple[Dict[str, Any], bytes]:
    """Split a datagram into its parsed header and its (unparsed) body, as the daemon does.

    Raises ``ValueError`` with the reason when the daemon would reject the datagram: no
    newline, a header that is not a JSON object, a format other than ``json``, or a version
    other than 1.
    """
    newline = data.find(b"\n")
    if newline < 0:
        raise ValueError("no newline: a datagram must be a header line followed by a document")
    raw_header, body = data[:newline], data[newline + 1 :]
    try:
        header = json.loads(raw_header)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValueError(f"header is not valid JSON: {raw_header[:100]!r} ({exc})") from None
    if not isinstance(header, dict):
        raise ValueError(f"header is not a JSON object: {raw_header[:100]!r}")
    fmt = header.get("format")
    if not isinstance(fmt, str) or fmt.lower() != "json":
        raise ValueError(f"header format must be 'json', got {fmt!r}")
    version = header.get("version")
    # The daemon decodes the version into an integer: 1.0 or true would not do.
    if type(version) is not int or version != 1:
        raise ValueError(f"header version must be 1, got {version!r}")
    return header, body


__all__ = [
    "DEFAULT_MAX_DOCUMENT_BYTES",
    "HEADER",
    "MAX_UDP_PAYLOAD",
    "encode_datagram",
    "split_datagram",
]
