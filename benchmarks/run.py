#!/usr/bin/env python3
"""Run every otel-xray benchmark in one process and print one table.

Usage::

    python benchmarks/run.py            # full run (a few minutes on 2 cores)
    python benchmarks/run.py --quick    # smaller sizes, about a minute
    python benchmarks/run.py --here     # use the current interpreter (peers that are not
                                        # installed are shown as "n/a")

Without ``--here`` the script creates (once) a dedicated virtual environment in
``benchmarks/.peers/`` holding otel-xray (editable) and the peers it is compared with, then
re-runs itself inside it, so every ratio comes from the same process and the same run.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
VENV = HERE / ".peers"
MARKER = VENV / "otel-xray-bench-requirements.txt"

#: The peers. aws-opentelemetry-distro pins OpenTelemetry exactly (0.21.0 pins the SDK to
#: 1.44.0 and the instrumentations to 0.65b0); otel-xray accepts any SDK >= 1.27, so the
#: whole benchmark runs on ADOT's pinned OpenTelemetry version.
PEER_REQUIREMENTS = [
    "aws-opentelemetry-distro==0.21.0",
    "aws-xray-sdk==2.15.0",
]


def _venv_python() -> Path:
    return VENV / "bin" / "python"


def _in_peers_venv() -> bool:
    return Path(sys.prefix).resolve() == VENV.resolve()


def _ensure_venv() -> None:
    """Create benchmarks/.peers and install otel-xray + peers unless already up to date."""
    # pyproject's hash is part of the marker: a new dependency of otel-xray reinstalls.
    project = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    wanted = "\n".join([f"# pyproject {project}", f"-e {ROOT}", *PEER_REQUIREMENTS]) + "\n"
    if MARKER.exists() and MARKER.read_text() == wanted and _venv_python().exists():
        return
    print(f"setting up the benchmark environment in {VENV} ...", file=sys.stderr)
    VENV.mkdir(parents=True, exist_ok=True)
    log = VENV / "install.log"
    with open(log, "w") as out:
        try:
            if not _venv_python().exists():
                subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True,
                               stdout=out, stderr=subprocess.STDOUT)
            pip = [str(_venv_python()), "-m", "pip", "install", "--disable-pip-version-check"]
            subprocess.run([*pip, "-e", str(ROOT), *PEER_REQUIREMENTS], check=True,
                           stdout=out, stderr=subprocess.STDOUT)
        except subprocess.CalledProcessError:
            sys.exit(f"installing the benchmark environment failed; see {log}")
    MARKER.write_text(wanted)


def main() -> int:
    args = sys.argv[1:]
    if "--here" not in args and not _in_peers_venv():
        _ensure_venv()
        python = str(_venv_python())
        os.execv(python, [python, str(Path(__file__).resolve()), *args])
    sys.path.insert(0, str(ROOT))
    from benchmarks.harness import main as harness_main

    return harness_main([a for a in args if a != "--here"])


if __name__ == "__main__":
    sys.exit(main())
