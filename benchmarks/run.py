#!/usr/bin/env python3
"""Run the otel-xray benchmarks against their peers, all in one process, and report.

Usage::

    python benchmarks/run.py                    # every scenario, full size
    python benchmarks/run.py export datagrams   # some scenarios (--list shows them)
    python benchmarks/run.py --quick            # smaller sizes (sanity check)
    python benchmarks/run.py --tiny             # a few hundred spans (the smoke test)
    python benchmarks/run.py --json raw.json    # also keep the raw results
    python benchmarks/run.py --readme           # write the report into benchmarks/README.md
    python -m benchmarks.report raw.json        # report a kept run again

ADOT (``aws-opentelemetry-distro``) pins the OpenTelemetry SDK to an exact version, so the
peers (the ``bench`` extra) live in their own virtual environment, ``benchmarks/.peers``:
made on the first run, reinstalled when ``pyproject.toml`` changes, and the script re-runs
itself there. ``--python PATH`` runs in another interpreter that has them instead;
``--here`` in the current one (peers that are not installed are reported as missing).

A scenario is a module of ``benchmarks/scenarios/`` (or of ``benchmarks/`` itself) with a
function ``measure(ctx: Context) -> ScenarioResult`` (see ``benchmarks/context.py``) and
optionally ``ORDER`` (smaller runs first); it is found by that function, named after its
module.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib
import json
import logging
import os
import pkgutil
import platform
import subprocess
import sys
import time
import traceback
from pathlib import Path
from types import ModuleType
from typing import Any, Callable, Dict, List, Optional, Sequence

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
VENV = HERE / ".peers"
_MARKER = VENV / "otel-xray-bench-requirements.txt"
#: Modules of benchmarks/ that are never scenarios, even with a ``measure``.
_NOT_SCENARIOS = {"run", "report", "counts"}
#: Distributions whose versions head the report.
_VERSIONS = ("otel-xray", "opentelemetry-sdk", "orjson", "aws-opentelemetry-distro",
             "protobuf", "aws-xray-sdk")


# -- where to run ----------------------------------------------------------------------


def _venv_python() -> Path:
    return VENV / "bin" / "python"


def peers_python() -> Path:
    """Create benchmarks/.peers with otel-xray[bench] (editable) unless up to date."""
    project = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    wanted = f"# pyproject {project}\n-e {ROOT}[bench]\n"
    if _MARKER.exists() and _MARKER.read_text() == wanted and _venv_python().exists():
        return _venv_python()
    print(f"setting up the benchmark environment in {VENV} ...", file=sys.stderr)
    VENV.mkdir(parents=True, exist_ok=True)
    log = VENV / "install.log"
    with open(log, "w") as out:
        try:
            if not _venv_python().exists():
                subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True,
                               stdout=out, stderr=subprocess.STDOUT)
            subprocess.run([str(_venv_python()), "-m", "pip", "install",
                            "--disable-pip-version-check", "-e", f"{ROOT}[bench]"],
                           check=True, stdout=out, stderr=subprocess.STDOUT)
        except subprocess.CalledProcessError:
            sys.exit(f"installing the benchmark environment failed; see {log}, or run with "
                     "--here (peers missing) or --python PATH (an interpreter that has them)")
    _MARKER.write_text(wanted)
    return _venv_python()


def _reexec(python: Path, argv: Sequence[str]) -> None:
    """Run this script again with ``python``, marking the run so it does not loop."""
    os.environ["OTEL_XRAY_BENCH_REEXEC"] = "1"
    os.execv(str(python), [str(python), str(Path(__file__).resolve()), *argv])


# -- scenarios -------------------------------------------------------------------------


def discover() -> Dict[str, ModuleType]:
    """Every scenario module by name, in the order they run."""
    found: Dict[str, ModuleType] = {}
    for package, path in (("benchmarks.scenarios", HERE / "scenarios"), ("benchmarks", HERE)):
        for info in pkgutil.iter_modules([str(path)]):
            if info.ispkg or info.name.startswith("_") or info.name in _NOT_SCENARIOS:
                continue
            module = importlib.import_module(f"{package}.{info.name}")
            if callable(getattr(module, "measure", None)):
                found.setdefault(info.name, module)
    return dict(sorted(found.items(), key=lambda item: (getattr(item[1], "ORDER", 50), item[0])))


def _failed(name: str) -> Dict[str, Any]:
    return {"title": name, "timings": {}, "figures": {}, "missing": [],
            "problems": [f"{name}: the scenario failed:\n{traceback.format_exc()}"]}


def run(size_name: str, names: Optional[Sequence[str]] = None, *, sink_in_thread: bool = False,
        inspect: Optional[Callable[[str, Sequence[bytes]], None]] = None,
        log: Callable[[str], None] = lambda line: None) -> Dict[str, Any]:
    """Run the scenarios ``names`` (default: all) at ``size_name``; return the raw results.

    ``sink_in_thread`` drains datagrams in a thread instead of a child process (for tests:
    the figures are then not comparable); ``inspect`` sees every batch of datagrams a
    scenario checked. The result is JSON-able: :func:`benchmarks.report.render` reports it.
    """
    from benchmarks.context import SIZES, Context
    from benchmarks.peers import Peers
    from benchmarks.sink import UdpSink

    scenarios = discover()
    unknown = [n for n in names or () if n not in scenarios]
    if unknown:
        raise SystemExit(f"unknown scenario(s) {', '.join(unknown)}; there are: "
                         f"{', '.join(scenarios)}")
    chosen = [n for n in scenarios if not names or n in names]
    started = time.perf_counter()
    load = [_load()]
    sink = UdpSink(in_thread=sink_in_thread)  # a process sink forks: before any thread
    results: Dict[str, Any] = {}
    try:
        ctx = Context(SIZES[size_name], sink, Peers.load())
        if inspect is not None:
            ctx = Context(ctx.size, sink, ctx.peers, inspect)
        for name in chosen:
            log(f"{name} ...")
            try:
                results[name] = scenarios[name].measure(ctx)
            except Exception:
                results[name] = _failed(name)
    finally:
        sink.close()
    load.append(_load())
    return {"meta": _meta(size_name, time.perf_counter() - started, load),
            "scenarios": results}


# -- the environment -------------------------------------------------------------------


def _meta(size: str, elapsed: float, load: List[float]) -> Dict[str, Any]:
    return {
        "size": size,
        "started": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(time.time() - elapsed)),
        "elapsed_s": elapsed,
        "load": load,
        "cpus": os.cpu_count(),
        "cpu_model": _cpu_model(),
        "python": platform.python_version(),
        "versions": {dist: _version(dist) for dist in _VERSIONS},
    }


def _version(dist: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(dist)
    except PackageNotFoundError:
        return "not installed"


def _load() -> float:
    try:
        return os.getloadavg()[0]
    except OSError:
        return float("nan")


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.machine()


# -- command line ----------------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="benchmarks/run.py", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("scenarios", nargs="*", help="run only these (default: all)")
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true", help="smaller sizes (sanity check)")
    size.add_argument("--tiny", action="store_true", help="a few hundred spans (smoke test)")
    parser.add_argument("--json", type=Path, metavar="OUT", help="write the raw results here")
    parser.add_argument("--readme", action="store_true",
                        help="write the report into benchmarks/README.md")
    parser.add_argument("--list", action="store_true", help="list the scenarios and exit")
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--here", action="store_true",
                       help="run in this interpreter (peers not installed are missing)")
    where.add_argument("--python", type=Path, metavar="PATH",
                       help="run in this interpreter (one that has otel-xray[bench])")
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = _parser().parse_args(argv)
    if not os.environ.get("OTEL_XRAY_BENCH_REEXEC") and not args.here and not args.list:
        _reexec(args.python or peers_python(), argv)
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    if args.list:
        for name, module in discover().items():
            print(f"{name}: {(module.__doc__ or '').strip().splitlines()[0]}")
        return 0
    from benchmarks import report

    # Rate-limited warnings of the code under test must not pollute the report.
    logging.basicConfig(level=logging.ERROR)
    size = "tiny" if args.tiny else "quick" if args.quick else "full"
    raw = run(size, args.scenarios or None,
              log=lambda line: print(line, file=sys.stderr, flush=True))
    if args.json:
        args.json.write_text(json.dumps(raw, indent=1))
    text = report.render(raw)
    print(text)
    if args.readme:
        report.write_readme(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
