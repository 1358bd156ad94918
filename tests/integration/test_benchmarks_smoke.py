"""The benchmark harness runs end to end in a tiny mode, so that it cannot rot.

No timing is asserted (machines are noisy): only that every section produces its figures
and that the datagrams our pipeline sent during the benchmark are valid and complete.
ADOT (aws-opentelemetry-distro) is not part of the test extra: its rows are "n/a" here.
"""

from __future__ import annotations

import pytest

from benchmarks import harness
from benchmarks.workload import SPANS_PER_TRACE, finished_spans, record_trace


@pytest.fixture(scope="module")
def results() -> harness.Results:
    return harness.run(harness.TINY, sink_in_thread=True)


def test_workload_records_ten_span_traces() -> None:
    spans = finished_spans(2)
    assert len(spans) == 2 * SPANS_PER_TRACE
    assert sum(1 for s in spans if s.parent is None) == 2
    assert callable(record_trace)


def test_every_section_measures_ours_and_the_peers(results: harness.Results) -> None:
    names = set(results.measures)
    assert "export: XRaySpanProcessor worker thread" in names
    assert f"export: XRaySpanExporter, batches of {harness.BSP_BATCH}" in names
    assert "app thread: XRaySpanProcessor" in names
    assert "app thread: BatchSpanProcessor + no-op exporter" in names
    assert "end to end: XRaySpanProcessor + UdpEmitter" in names
    assert "end to end: aws-xray-sdk recorder + its UDP emitter" in names
    assert harness.PACED + "XRaySpanProcessor" in names
    assert all(m.spans > 0 and m.cpu >= 0 for m in results.measures.values())
    assert results.memory


def test_datagrams_of_our_pipeline_are_valid_and_complete(results: harness.Results) -> None:
    assert results.problems == []
    ours = [d for d in results.datagrams if d[0] == "XRaySpanProcessor"]
    assert ours and ours[0][1] > 0


def test_table_renders_every_target(results: harness.Results) -> None:
    table = harness.render(results, elapsed=1.0)
    assert "| measure | otel-xray | peer | ratio | target | met |" in table
    assert "app-thread CPU per span" in table
    assert "datagrams per 10-span trace" in table
