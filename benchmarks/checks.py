"""What arrived at the sink, parsed as the X-Ray daemon does, and checked for completeness."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, Iterator, List, Optional, Sequence, Set

import orjson
from opentelemetry.sdk.trace import ReadableSpan

from benchmarks.peers import HEADER, MAX_UDP_PAYLOAD


def span_ids(spans: Sequence[ReadableSpan]) -> Set[str]:
    """The spans' ids as X-Ray writes them (16 hex digits)."""
    return {f"{s.context.span_id:016x}" for s in spans if s.context is not None}


def _ids(document: Dict[str, Any]) -> Iterator[str]:
    if "id" in document:
        yield str(document["id"])
    for child in document.get("subsegments", ()):
        yield from _ids(child)


@dataclass
class Arrival:
    """The datagrams of one sender, what they held and what is wrong with them."""

    datagrams: int = 0
    size: int = 0  # bytes, headers included
    largest: int = 0
    pieces: int = 0  # (sub)segments, or spans for the touch floor
    problems: List[str] = field(default_factory=list)


def check(datagrams: Sequence[bytes], expected_ids: Optional[Set[str]],
          expected_pieces: int) -> Arrival:
    """Parse ``datagrams`` (header line + JSON) and check that nothing is lost or repeated.

    With ``expected_ids`` every id must arrive exactly once; without (a peer that makes its
    own ids) only the number of (sub)segments is checked against ``expected_pieces``.
    """
    out = Arrival(datagrams=len(datagrams), size=sum(len(d) for d in datagrams),
                  largest=max((len(d) for d in datagrams), default=0))
    seen: Dict[str, int] = {}
    for data in datagrams:
        if len(data) > MAX_UDP_PAYLOAD:
            out.problems.append(f"datagram of {len(data)} bytes")
        head, sep, body = data.partition(b"\n")
        if not sep or head + sep != HEADER:
            out.problems.append(f"bad header {head[:60]!r}")
            continue
        try:
            document = orjson.loads(body)
        except orjson.JSONDecodeError as error:
            out.problems.append(f"invalid JSON: {error}")
            continue
        for span_id in _ids(document):
            seen[span_id] = seen.get(span_id, 0) + 1
    out.pieces = sum(seen.values())
    if expected_ids is None:
        if out.pieces != expected_pieces:
            out.problems.append(f"{out.pieces} (sub)segments arrived, {expected_pieces} expected")
        return out
    missing = expected_ids - seen.keys()
    if missing:
        out.problems.append(f"{len(missing)} span ids never arrived")
    repeated = [k for k, v in seen.items() if v > 1]
    if repeated:
        out.problems.append(f"{len(repeated)} span ids arrived more than once")
    unknown = seen.keys() - expected_ids
    if unknown:
        out.problems.append(f"{len(unknown)} unknown ids arrived")
    return out
