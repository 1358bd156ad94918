"""``import otel_xray`` stays cheap: it is Lambda cold-start time."""

from __future__ import annotations

import subprocess
import sys


def test_importing_the_package_loads_no_exporter_machinery() -> None:
    code = (
        "import sys, otel_xray; "
        "print(sorted(m for m in sys.modules if m.startswith('otel_xray')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded = eval(out.stdout)  # a list of module names printed by the child
    for heavy in ("otel_xray.processor", "otel_xray.pipeline", "otel_xray.emit.api",
                  "otel_xray.cli", "otel_xray.bootstrap"):
        assert heavy not in loaded
