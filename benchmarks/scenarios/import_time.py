"""Import time: what ``import otel_xray`` adds to an application that uses the OTel SDK.

Each run is a fresh interpreter (``sys.executable``) that imports
``opentelemetry.sdk.trace`` first (the baseline every OpenTelemetry application pays), then
``otel_xray``, then the names a set-up uses (``configure``, ``XRaySpanProcessor``,
``UdpEmitter``: the package loads its modules lazily). The CPU time of each step
(``time.process_time``) is read in the child; the median over the runs is kept, after one
discarded run that warms the file cache.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
from typing import Dict, List

from benchmarks.context import Context, ScenarioResult, add_figure, new_result

ORDER = 1  # first: no other scenario's load on the machine yet

_CHILD = """
import json, time
clock = time.process_time
t0 = clock()
import opentelemetry.sdk.trace
t1 = clock()
import otel_xray
t2 = clock()
from otel_xray import configure, XRaySpanProcessor, UdpEmitter
t3 = clock()
print(json.dumps({"sdk": t1 - t0, "otel_xray": t2 - t1, "setup_names": t3 - t2}))
"""

STEPS = {
    "sdk": "import opentelemetry.sdk.trace (the baseline)",
    "otel_xray": "import otel_xray, after the SDK",
    "setup_names": "then from otel_xray import configure, XRaySpanProcessor, UdpEmitter",
}


def _one_run() -> Dict[str, float]:
    out = subprocess.run([sys.executable, "-c", _CHILD], capture_output=True, text=True,
                         check=True)
    parsed: Dict[str, float] = json.loads(out.stdout)
    return parsed


def measure(ctx: Context) -> ScenarioResult:
    result = new_result("import time (fresh interpreters, CPU ms, median)")
    _one_run()
    runs: List[Dict[str, float]] = [_one_run() for _ in range(ctx.size.import_runs)]
    note = f"median of {len(runs)} fresh interpreters"
    for key, label in STEPS.items():
        add_figure(result, key, label, statistics.median(r[key] for r in runs) * 1000, "ms",
                   note)
    add_figure(result, "total", "import otel_xray + the set-up names, after the SDK",
               statistics.median(r["otel_xray"] + r["setup_names"] for r in runs) * 1000, "ms",
               note)
    return result
