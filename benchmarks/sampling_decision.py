"""What one sampling decision costs: XRayRemoteSampler vs ParentBased(ALWAYS_ON) and ADOT.

(A standalone script, not a scenario of ``benchmarks/run.py``.)

Run ``python benchmarks/sampling_decision.py``. Every sampler decides the same server spans
(HTTP attributes as the WSGI/Flask instrumentations set them when a request starts) in the
same process; the remote samplers get the same rules from an in-process ``otel-xray
listen`` sampling server on 127.0.0.1, and are measured once their rules have arrived.
ADOT's ``AwsXRayRemoteSampler`` is measured when ``aws-opentelemetry-distro`` is
installed (``benchmarks/.peers/bin/python benchmarks/sampling_decision.py``, the environment
``benchmarks/run.py`` makes), else its row says n/a. Wall-clock figures on a shared machine
are noisy: read the ratios, which come from the same run.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import sys
import time
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence, Tuple

if __package__ in (None, ""):  # run as a script: make the checkout importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace.sampling import ALWAYS_ON, Decision, ParentBased, Sampler
from opentelemetry.trace import SpanKind
from opentelemetry.util.types import AttributeValue

from otel_xray.cli.sampling_server import SamplingServer
from otel_xray.sampling import XRayRemoteSampler

RESOURCE = Resource.create({"service.name": "checkout"})

#: A small console setup: two specific rules, then Default (rate 1: every span is sampled
#: by a rule, the path that also tags the span with the rule name).
RULES: List[Dict[str, Any]] = [
    {"SamplingRule": {
        "RuleName": name, "RuleARN": "", "ResourceARN": "*", "Priority": priority,
        "FixedRate": rate, "ReservoirSize": 0, "ServiceName": "*", "ServiceType": "*",
        "Host": "*", "HTTPMethod": method, "URLPath": path, "Version": 1, "Attributes": {},
    }}
    for name, priority, rate, method, path in (
        ("health-checks", 1, 0.0, "GET", "/health*"),
        ("api-writes", 2, 0.1, "POST", "/api/*"),
        ("Default", 10000, 1.0, "*", "*"),
    )
]

#: Attributes of a server span at start (new HTTP semantic conventions).
ATTRIBUTES: Dict[str, AttributeValue] = {
    "http.request.method": "GET",
    "url.path": "/api/orders/42",
    "url.scheme": "http",
    "server.address": "shop.example.com",
    "server.port": 8080,
    "network.protocol.version": "1.1",
    "user_agent.original": "bench/1.0",
    "client.address": "10.0.0.7",
}

Decide = Callable[[int], Any]


def deciders(endpoint: str) -> Iterator[Tuple[str, Optional[Sampler]]]:
    yield "ParentBased(ALWAYS_ON)", ParentBased(ALWAYS_ON)
    ours = XRayRemoteSampler(RESOURCE, endpoint)
    _wait(lambda: ours.rules.fetched_at is not None, "XRayRemoteSampler's rules")
    yield "otel-xray XRayRemoteSampler", ours
    ours.close()
    yield "ADOT AwsXRayRemoteSampler", _adot_sampler(endpoint)


def _adot_sampler(endpoint: str) -> Optional[Sampler]:
    try:
        from amazon.opentelemetry.distro.sampler.aws_xray_remote_sampler import (  # type: ignore[import-not-found, unused-ignore]
            AwsXRayRemoteSampler,
        )
    except ImportError:
        return None
    sampler: Sampler = AwsXRayRemoteSampler(RESOURCE, endpoint=endpoint)
    # Its rules arrive from a timer thread: wait until a span is decided by them.
    inner = getattr(sampler, "_root", None)
    root = getattr(inner, "_root", None)
    cache = getattr(root, "_AwsXRayRemoteSampler__rule_cache", None)
    if cache is not None:
        _wait(lambda: not cache.expired(), "ADOT's rules")
    return sampler


def _wait(condition: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting for {what}")
        time.sleep(0.01)


def time_decisions(sampler: Sampler, spans: int, repeats: int) -> Tuple[float, float]:
    """Best CPU nanoseconds per decision over ``repeats`` runs, and the sampled share."""
    trace_ids = [(0x5759E988 << 96) | ((i * 0x9E3779B97F4A7C15) & ((1 << 64) - 1))
                 for i in range(spans)]
    should_sample = sampler.should_sample
    server = SpanKind.SERVER
    best = float("inf")
    sampled = 0
    for _ in range(repeats):
        gc.disable()
        start = time.process_time_ns()
        results = [should_sample(None, trace_id, "GET /api/orders/{id}", server, ATTRIBUTES)
                   for trace_id in trace_ids]
        elapsed = time.process_time_ns() - start
        gc.enable()
        best = min(best, elapsed / spans)
        sampled = sum(1 for result in results if result.decision is Decision.RECORD_AND_SAMPLE)
    return best, sampled / spans


def run(spans: int, repeats: int) -> List[Tuple[str, Optional[float], Optional[float]]]:
    server = SamplingServer(("127.0.0.1", 0), RULES)
    server.start()
    rows: List[Tuple[str, Optional[float], Optional[float]]] = []
    try:
        for name, sampler in deciders(f"http://{server.address}"):
            if sampler is None:
                rows.append((name, None, None))
                continue
            cost, share = time_decisions(sampler, spans, repeats)
            rows.append((name, cost, share))
    finally:
        server.close()
    return rows


def report(rows: Sequence[Tuple[str, Optional[float], Optional[float]]]) -> str:
    baseline = rows[0][1]
    ours = next(cost for name, cost, _ in rows if name.startswith("otel-xray"))
    lines = [f"{'sampler':32} {'ns/decision':>12} {'sampled':>8} {'vs ParentBased':>15} "
             f"{'vs otel-xray':>13}"]
    for name, cost, share in rows:
        if cost is None or share is None or baseline is None or ours is None:
            lines.append(f"{name:32} {'n/a':>12} {'n/a':>8} {'n/a':>15} {'n/a':>13}  "
                         "(not installed: run with benchmarks/.peers/bin/python)")
            continue
        lines.append(f"{name:32} {cost:12.0f} {share:8.0%} {cost / baseline:14.2f}x "
                     f"{cost / ours:12.2f}x")
    return "\n".join(lines)


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--spans", type=int, default=50_000, help="decisions per run")
    parser.add_argument("--repeats", type=int, default=5, help="runs; the best one counts")
    args = parser.parse_args(argv)
    with contextlib.redirect_stderr(sys.stderr):
        rows = run(args.spans, args.repeats)
    print(f"Python {sys.version.split()[0]}; {args.spans} server spans per run, best of "
          f"{args.repeats}; CPU time per should_sample():")
    print(report(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
