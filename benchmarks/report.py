"""Turn the raw results of ``benchmarks/run.py --json`` into the report: ratios and targets.

Usage::

    python -m benchmarks.report results.json            # print the report
    python -m benchmarks.report results.json --readme   # and write it into benchmarks/README.md

Every ratio is computed from figures of one run (the peers measured in the same process).
A run can be re-reported, or the targets changed, without running it again.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

from benchmarks.context import ScenarioResult
from benchmarks.peers import ADOT_BATCH, ADOT_BIG_BATCH, BSP_BATCH

#: (scenario, kind, key): kind "rate" (spans per CPU second of a timing), "cost" (CPU µs
#: per span of a timing) or "figure" (the value of a figure).
Ref = Tuple[str, str, str]


@dataclass(frozen=True)
class Row:
    """One line of the summary: ours, a peer, their ratio, and the target if there is one.

    ``target`` applies to the ratio, or with ``on_value`` to our value itself;
    ``higher`` tells which way is better.
    """

    label: str
    ours: Ref
    peer: Optional[Ref] = None
    target: Optional[float] = None
    higher: bool = False
    on_value: bool = False


def _rate(scenario: str, key: str) -> Ref:
    return scenario, "rate", key


def _cost(scenario: str, key: str) -> Ref:
    return scenario, "cost", key


def _fig(scenario: str, key: str) -> Ref:
    return scenario, "figure", key


_EXPORTER = _rate("export", f"xray_exporter_{BSP_BATCH}")
_EXPORTER_SMALL = _rate("export", f"xray_exporter_{ADOT_BATCH}")
_WORKER = _rate("export", "xray_processor_worker")
_FLOOR = _rate("export", f"touch_floor_{BSP_BATCH}")
_FLOOR_WORKER = _rate("export", f"touch_floor_worker_{BSP_BATCH}")
_ADOT = _rate("export", f"adot_{ADOT_BATCH}")

#: The summary, in order.
ROWS: Sequence[Row] = (
    Row(f"export throughput: XRaySpanExporter (batches of {BSP_BATCH}) vs the touch floor",
        _EXPORTER, _FLOOR, 0.5, higher=True),
    Row("export throughput: XRaySpanProcessor worker vs the touch floor",
        _WORKER, _FLOOR, 0.5, higher=True),
    Row("export throughput: XRaySpanProcessor worker vs the touch floor in a background "
        "thread (both read spans another thread made)",
        _WORKER, _FLOOR_WORKER, 0.5, higher=True),
    Row(f"export throughput: XRaySpanExporter (batches of {BSP_BATCH}) vs ADOT "
        f"(batches of {ADOT_BATCH})", _EXPORTER, _ADOT, 4.0, higher=True),
    Row(f"export throughput: XRaySpanProcessor worker vs ADOT (batches of {ADOT_BATCH})",
        _WORKER, _ADOT, 4.0, higher=True),
    Row(f"export throughput: XRaySpanExporter vs ADOT, both in batches of {ADOT_BATCH}",
        _EXPORTER_SMALL, _ADOT, 4.0, higher=True),
    Row(f"export throughput: XRaySpanExporter (batches of {BSP_BATCH}) vs ADOT with batches "
        f"of {ADOT_BIG_BATCH} (its best case that fits a datagram)",
        _EXPORTER, _rate("export", f"adot_{ADOT_BIG_BATCH}"), higher=True),
    Row("app-thread CPU per span, flood (one thread creating spans non-stop): "
        "XRaySpanProcessor vs BatchSpanProcessor + no-op",
        _cost("app_flood", "xray_processor"), _cost("app_flood", "bsp_noop"), 1.1),
    Row("app-thread CPU per span, paced (1 ms of I/O wait between traces): "
        "XRaySpanProcessor vs BatchSpanProcessor + no-op",
        _cost("app_paced", "xray_processor"), _cost("app_paced", "bsp_noop"), 1.1),
    Row("app-thread CPU per span, both exporting only on a flush after the pass (no busy "
        "worker): XRaySpanProcessor vs BatchSpanProcessor + no-op",
        _cost("app_flood", "xray_processor_deferred"), _cost("app_flood", "bsp_noop_deferred"),
        1.1),
    Row("app-thread CPU per span, flood: XRaySpanProcessor vs BatchSpanProcessor + "
        "XRaySpanExporter (the same export work in the background)",
        _cost("app_flood", "xray_processor"), _cost("app_flood", "bsp_xray_exporter")),
    Row("app-thread CPU per span, flood: XRaySpanProcessor vs no processor",
        _cost("app_flood", "xray_processor"), _cost("app_flood", "none")),
    Row("app-thread CPU of on_end alone: XRaySpanProcessor vs BatchSpanProcessor",
        _cost("on_end", "xray_processor_deferred"), _cost("on_end", "bsp_noop_deferred")),
    Row("end-to-end CPU per span: XRaySpanProcessor vs aws-xray-sdk",
        _cost("end_to_end", "xray_processor"), _cost("end_to_end", "xray_sdk")),
    Row("end-to-end CPU per span: XRaySpanProcessor vs BatchSpanProcessor + ADOT",
        _cost("end_to_end", "xray_processor"), _cost("end_to_end", "bsp_adot")),
    Row("datagrams per 10-span trace: XRaySpanProcessor vs aws-xray-sdk",
        _fig("datagrams", "xray_processor.datagrams_per_trace"),
        _fig("datagrams", "xray_sdk.datagrams_per_trace"), 1.0, on_value=True),
    Row(f"bytes per span on the wire: XRaySpanProcessor vs ADOT (batches of {ADOT_BATCH})",
        _fig("datagrams", "xray_processor.bytes_per_span"),
        _fig("datagrams", f"adot_{ADOT_BATCH}.bytes_per_span")),
    Row("bytes per span on the wire: XRaySpanProcessor vs aws-xray-sdk",
        _fig("datagrams", "xray_processor.bytes_per_span"),
        _fig("datagrams", "xray_sdk.bytes_per_span")),
    Row("peak RSS through XRaySpanProcessor: all spans vs the first tenth",
        _fig("memory", "peak"), _fig("memory", "peak_early")),
    Row("RSS growth per span after the first tenth (flat: no per-span retention)",
        _fig("memory", "growth_per_span"), None, 10.0, on_value=True),
    Row("import otel_xray, after opentelemetry.sdk.trace, vs importing opentelemetry.sdk.trace",
        _fig("import_time", "otel_xray"), _fig("import_time", "sdk"), 20.0, on_value=True),
    Row("import otel_xray and configure/XRaySpanProcessor/UdpEmitter (what a set-up loads), "
        "after opentelemetry.sdk.trace, vs importing opentelemetry.sdk.trace",
        _fig("import_time", "total"), _fig("import_time", "sdk")),
)

Raw = Dict[str, Any]


def _value(raw: Raw, ref: Ref) -> Optional[float]:
    scenario, kind, key = ref
    result: Optional[ScenarioResult] = raw["scenarios"].get(scenario)
    if result is None:
        return None
    if kind == "figure":
        figure = result["figures"].get(key)
        return None if figure is None else figure["value"]
    timing = result["timings"].get(key)
    if timing is None or timing["spans"] <= 0:
        return None
    if kind == "rate":
        return timing["spans"] / timing["cpu_s"] if timing["cpu_s"] > 0 else None
    return timing["cpu_s"] / timing["spans"] * 1e6


def _unit(raw: Raw, ref: Ref) -> str:
    scenario, kind, key = ref
    if kind == "rate":
        return "spans/s"
    if kind == "cost":
        return "µs/span"
    return str(raw["scenarios"][scenario]["figures"][key]["unit"])


def _show(raw: Raw, ref: Optional[Ref]) -> str:
    if ref is None:
        return ""
    value = _value(raw, ref)
    if value is None:
        return "n/a"
    unit = _unit(raw, ref)
    if ref[1] == "rate":
        return f"{value:,.0f} {unit}"
    return f"{value:,.2f} {unit}".rstrip() if value < 100 else f"{value:,.1f} {unit}".rstrip()


def summary_line(raw: Raw, row: Row) -> Tuple[str, str, str, str, str, str]:
    """(measure, ours, peer, ratio, target, met) of ``row``."""
    ours = _value(raw, row.ours)
    peer = None if row.peer is None else _value(raw, row.peer)
    ratio = ours / peer if ours is not None and peer else None
    ratio_text = "" if row.peer is None else ("n/a" if ratio is None else f"{ratio:.2f}x")
    if row.target is None:
        return (row.label, _show(raw, row.ours), _show(raw, row.peer), ratio_text,
                "(higher is better)" if row.higher else "(lower is better)", "")
    op = "≥" if row.higher else "≤"
    judged = ours if row.on_value else ratio
    if row.on_value:
        target = f"{op} {row.target:g} {_unit(raw, row.ours) if ours is not None else ''}"
    else:
        target = f"{op} {row.target:g}x"
    if judged is None:
        met = "n/a"
    else:
        ok = judged >= row.target if row.higher else judged <= row.target + 1e-9
        met = "**yes**" if ok else "**no**"
    return (row.label, _show(raw, row.ours), _show(raw, row.peer), ratio_text,
            target.rstrip(), met)


def render(raw: Raw) -> str:
    """The report of ``raw`` (what ``benchmarks/run.py --json`` wrote), as Markdown."""
    meta = raw["meta"]
    load = " → ".join(f"{x:.1f}" for x in meta["load"])
    versions = ", ".join(f"{k} {v}" for k, v in meta["versions"].items())
    out = [
        f"otel-xray benchmarks ({meta['size']} run, {meta['elapsed_s']:.0f} s, load average "
        f"{load}): {meta['started']}; {meta['cpus']} CPUs ({meta['cpu_model']}), Python "
        f"{meta['python']}; {versions}",
        "",
        "| measure | otel-xray | peer | ratio | target | met |",
        "|---|---|---|---|---|---|",
    ]
    out.extend("| " + " | ".join(summary_line(raw, row)) + " |" for row in ROWS)
    out += ["", "Raw figures (median of the passes; CPU = the measured thread's CPU, or the "
            "whole process's for end to end):"]
    problems: List[str] = []
    missing: List[str] = []
    for name, result in raw["scenarios"].items():
        out += ["", f"**{name}**: {result['title']}", ""]
        if result["timings"]:
            out += ["| variant | spans | CPU µs/span | wall µs/span | spans per CPU s | notes |",
                    "|---|---:|---:|---:|---:|---|"]
            for t in result["timings"].values():
                spans = max(t["spans"], 1)
                rate = f"{t['spans'] / t['cpu_s']:,.0f}" if t["cpu_s"] > 0 else "n/a"
                out.append(f"| {t['label']} | {t['spans']:,} | {t['cpu_s'] / spans * 1e6:.2f} | "
                           f"{t['wall_s'] / spans * 1e6:.2f} | {rate} | "
                           f"{'; '.join(t['notes'])} |")
        if result["figures"]:
            if result["timings"]:
                out.append("")
            out += ["| figure | value | note |", "|---|---:|---|"]
            for f in result["figures"].values():
                out.append(f"| {f['label']} | {_number(f['value'], f['unit'])} | {f['note']} |")
        problems.extend(result["problems"])
        missing.extend(m for m in result["missing"] if m not in missing)
    out.extend(f"\nPROBLEM: {problem}" for problem in problems)
    out.extend(f"\nnot measured (not installed here): {m}" for m in missing)
    return "\n".join(out)


def _number(value: float, unit: str) -> str:
    text = f"{value:,.0f}" if value == int(value) or abs(value) >= 1000 else f"{value:,.2f}"
    return f"{text} {unit}".rstrip()


README = Path(__file__).with_name("README.md")
_START = "<!-- results:start (written by benchmarks/report.py --readme) -->"
_END = "<!-- results:end -->"


def write_readme(report: str, readme: Path = README) -> None:
    """Replace what stands between the results markers of ``readme`` with ``report``."""
    text = readme.read_text()
    head, sep, rest = text.partition(_START)
    _, sep2, tail = rest.partition(_END)
    if not sep or not sep2:
        raise SystemExit(f"{readme} has no results markers ({_START} ... {_END})")
    readme.write_text(f"{head}{_START}\n{report}\n{_END}{tail}")


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.report", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("results", type=Path, help="raw results (benchmarks/run.py --json)")
    parser.add_argument("--readme", action="store_true",
                        help="also write the report into benchmarks/README.md")
    args = parser.parse_args(argv)
    report = render(json.loads(args.results.read_text()))
    print(report)
    if args.readme:
        write_readme(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
