"""Trace-id conversion between OpenTelemetry and X-Ray, and an X-Ray-friendly id generator."""

from __future__ import annotations

import random
import re
import time

from opentelemetry.sdk.trace.id_generator import IdGenerator

from .propagation import continued_trace_id

__all__ = [
    "XRayIdGenerator",
    "format_span_id",
    "from_xray_trace_id",
    "to_xray_trace_id",
]

_MAX_TRACE_ID = (1 << 128) - 1
_XRAY_TRACE_ID = re.compile(r"1-([0-9a-fA-F]{8})-([0-9a-fA-F]{24})\Z")


def to_xray_trace_id(trace_id: int) -> str:
    """Format a 128-bit OpenTelemetry trace id as an X-Ray trace id.

    ``1-`` + the first 8 hex digits + ``-`` + the remaining 24. Any 128-bit id converts:
    X-Ray accepts ids whose first 32 bits are not a timestamp (W3C random ids) since 2023.

    >>> to_xray_trace_id(0x5759e988bd862e3fe1be46a994272793)
    '1-5759e988-bd862e3fe1be46a994272793'
    """
    if not 0 < trace_id <= _MAX_TRACE_ID:
        raise ValueError(f"trace id must be a non-zero 128-bit integer, got {trace_id!r}")
    hex32 = f"{trace_id:032x}"
    return f"1-{hex32[:8]}-{hex32[8:]}"


def from_xray_trace_id(xray_trace_id: str) -> int:
    """Parse an X-Ray trace id (``1-8hex-24hex``) into the 128-bit OpenTelemetry trace id.

    Raises ``ValueError`` naming the expected form on anything else (wrong version, wrong
    lengths, non-hex digits, the all-zero id).
    """
    match = _XRAY_TRACE_ID.match(xray_trace_id) if isinstance(xray_trace_id, str) else None
    if match is None:
        raise ValueError(
            f"not an X-Ray trace id: {xray_trace_id!r}; expected '1-' + 8 hex digits + '-' + "
            "24 hex digits, e.g. '1-5759e988-bd862e3fe1be46a994272793'"
        )
    value = int(match.group(1) + match.group(2), 16)
    if value == 0:
        raise ValueError(f"not an X-Ray trace id: {xray_trace_id!r} is all zeros")
    return value


def format_span_id(span_id: int) -> str:
    """16 lowercase hex digits, the X-Ray form of a 64-bit span id."""
    return f"{span_id:016x}"


class XRayIdGenerator(IdGenerator):
    """Trace ids whose first 32 bits are the current epoch second, the rest random.

    X-Ray sorts and ages traces by that timestamp; span ids are random 64-bit values.
    Registered as the ``otel_xray`` entry point of ``opentelemetry_id_generator``, so
    ``OTEL_PYTHON_ID_GENERATOR=otel_xray`` selects it.
    """

    def generate_span_id(self) -> int:
        span_id = random.getrandbits(64)
        while span_id == 0:
            span_id = random.getrandbits(64)
        return span_id

    def generate_trace_id(self) -> int:
        # A header with Root but no Parent (what a load balancer sends) left its trace id in
        # the current context: the request continues that trace as a new segment.
        continued = continued_trace_id()
        if continued is not None:
            return continued
        return (int(time.time()) << 96) | random.getrandbits(96)

    def is_trace_id_random(self) -> bool:
        # Only the low 96 bits are random; W3C's "random" trace flag promises the low 56 bits.
        return True
