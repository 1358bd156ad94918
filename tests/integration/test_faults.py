"""Fault injection: whatever breaks around the pipeline, the application neither sees an
exception nor waits, timeouts are honoured, and every span is accounted for exactly.

The faults are real where the machine can make them: a daemon port with nothing behind it
(ECONNREFUSED), a resolver that fails (a real function raising ``socket.gaierror``), a
datagram over the UDP limit (EMSGSIZE from the kernel), an HTTP server on 127.0.0.1 that
throttles, fails, talks garbage or hangs, ``os.fork`` with threads running. Emitters that
raise, block or answer nonsense are user code written against the public protocol.
"""

from __future__ import annotations

import logging
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Mapping, Tuple

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import SpanExportResult
from opentelemetry.trace import SpanContext, SpanKind, TraceFlags

from otel_xray import ApiEmitter, UdpEmitter, XRaySpanExporter, XRaySpanProcessor
from tests.support.faults import (
    HANG,
    BlockingEmitter,
    CountingEmitter,
    FaultyXRay,
    Load,
    OversizeEveryOther,
    RaisingEmitter,
    ResultEmitter,
    UserEmitter,
    assert_reconciled,
    dropped,
    run_load,
    unused_udp_address,
    wait_received,
    wait_until,
)
from tests.support.helpers import SpanRecorder, assert_valid_document, walk
from tests.support.pipeline import OPTIONS
from tests.support.udp import UdpListener

FLUSH_MILLIS = int(HANG * 1000)
ENV_MAX_QUEUE_SIZE = "OTEL_EXPORTER_XRAY_MAX_QUEUE_SIZE"
ENV_SCHEDULE_DELAY_MILLIS = "OTEL_EXPORTER_XRAY_SCHEDULE_DELAY_MILLIS"
ENV_MAX_EXPORT_BATCH_SIZE = "OTEL_EXPORTER_XRAY_MAX_EXPORT_BATCH_SIZE"
#: How much longer than its timeout a call may take before it counts as not honouring it
#: (generous: the machine is shared; a call that waits for the emitter takes far longer).
SLACK = 3.0


def _provider(processor: SpanProcessor) -> TracerProvider:
    provider = TracerProvider()
    provider.add_span_processor(processor)
    return provider


_made: List[XRaySpanProcessor] = []


@pytest.fixture(autouse=True)
def _shut_down_afterwards() -> Iterator[None]:
    """Every processor a test made is shut down, even when the test failed half-way: no
    worker thread outlives its test (a later test may fork)."""
    yield
    while _made:
        _made.pop().shutdown()


def _processor(emitter: Any, **settings: Any) -> Tuple[XRaySpanProcessor, TracerProvider]:
    processor = XRaySpanProcessor(emitter, options=OPTIONS, **settings)
    _made.append(processor)
    return processor, _provider(processor)


def _fake_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    # Fake ones (never real): without any, botocore fails before reaching the server.
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing", "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)


# --- the daemon: absent, appearing later, name resolution ----------------------------------------


def test_daemon_appearing_later_gets_the_spans_ended_after_it_started() -> None:
    address, port = unused_udp_address()
    processor, provider = _processor(UdpEmitter(address, reresolve_interval=0))
    absent = run_load(provider, processor.force_flush, threads=4, traces=5)

    daemon = UdpListener(port=port)
    try:
        present = run_load(provider, processor.force_flush, threads=4, traces=5)
        ids = wait_received(daemon, present.sampled)
    finally:
        daemon.close()

    stats = processor.stats()
    assert_reconciled(stats)
    assert dropped(stats) == {"send_failed": absent.sampled}
    assert stats["spans_sent"] == len(ids) == present.sampled
    processor.shutdown()


def test_dns_failure_drops_as_send_failed_until_the_name_resolves_again() -> None:
    daemon = UdpListener()
    resolvable = threading.Event()

    def getaddrinfo(host: str, port: int, *args: Any) -> List[Tuple[Any, ...]]:
        if not resolvable.is_set():
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return socket.getaddrinfo("127.0.0.1", port, *args)

    emitter = UdpEmitter(
        f"xray-daemon.invalid:{daemon.port}", reresolve_interval=0, getaddrinfo=getaddrinfo
    )
    processor, provider = _processor(emitter)
    try:
        failing = run_load(provider, processor.force_flush, threads=4, traces=5)
        resolvable.set()
        working = run_load(provider, processor.force_flush, threads=4, traces=5)
        ids = wait_received(daemon, working.sampled)
    finally:
        daemon.close()

    stats = processor.stats()
    assert_reconciled(stats)
    assert dropped(stats) == {"send_failed": failing.sampled}
    assert stats["emitter.send_errors.dns"] > 0
    assert stats["spans_sent"] == len(ids) == working.sampled
    processor.shutdown()


# --- transports that deliver part of a batch ------------------------------------------------------


def _uneven_traces(provider: TracerProvider) -> int:
    """Traces of 1 to 12 spans, so that documents carry different span counts; returns
    how many spans ended."""
    tracer = provider.get_tracer("uneven")
    ended = 0
    for size in (1, 12, 2, 9, 3, 7, 1, 11, 4, 5):
        root = tracer.start_span(f"root-{size}", kind=SpanKind.SERVER)
        for index in range(size - 1):
            tracer.start_span(f"child-{index}", context=trace.set_span_in_context(root)).end()
        root.end()
        ended += size
    return ended


@pytest.mark.parametrize(
    "make_emitter",
    [OversizeEveryOther, lambda listener: CountingEmitter(listener, limit=3)],
    ids=["EMSGSIZE-per-document-flags", "int-result-first-n-delivered"],
)
def test_partly_delivered_batch_counts_exactly_the_spans_that_arrived(
    udp_listener: UdpListener, make_emitter: Callable[[UdpListener], UserEmitter]
) -> None:
    emitter = make_emitter(udp_listener)
    processor, provider = _processor(emitter, schedule_delay_millis=60_000)
    ended = _uneven_traces(provider)
    assert processor.force_flush(FLUSH_MILLIS)

    stats = processor.stats()
    ids = wait_received(udp_listener, stats["spans_sent"])
    assert_reconciled(stats)
    assert stats["spans_received"] == ended
    assert 0 < stats["spans_sent"] < ended
    assert stats["spans_sent"] == len(ids)  # counted per document, not estimated
    assert dropped(stats) == {"send_failed": ended - len(ids)}
    assert stats["documents_sent"] == len(udp_listener.datagrams)
    assert stats["documents_failed"] == emitter.offered - len(udp_listener.datagrams) > 0
    processor.shutdown()


def test_exporter_fails_an_export_that_a_refused_datagram_belonged_to(
    udp_listener: UdpListener,
) -> None:
    emitter = OversizeEveryOther(udp_listener)
    exporter = XRaySpanExporter(emitter, options=OPTIONS)
    recorder = SpanRecorder()
    ended = _uneven_traces(recorder.provider)

    assert exporter.export(recorder.spans()) is SpanExportResult.FAILURE

    stats = exporter.stats()
    ids = wait_received(udp_listener, stats["spans_sent"])
    assert_reconciled(stats, processor=False)
    assert stats["spans_sent"] == len(ids) < ended
    assert dropped(stats) == {"send_failed": ended - len(ids)}
    assert stats["documents_failed"] == len(emitter.refused) > 0


@pytest.mark.parametrize("result", [None, {"sent": 1}, object()], ids=["None", "dict", "object"])
def test_emitter_answering_nonsense_drops_as_invalid_emitter_result_and_logs(
    caplog: pytest.LogCaptureFixture, result: Any
) -> None:
    processor, provider = _processor(ResultEmitter(result))
    load = Load(provider, threads=2, traces=3)
    with caplog.at_level(logging.WARNING, logger="otel_xray"):
        load.run()
        assert processor.force_flush(FLUSH_MILLIS)

    stats = processor.stats()
    assert not load.errors
    assert_reconciled(stats)
    assert dropped(stats) == {"invalid_emitter_result": load.sampled}
    assert stats["spans_sent"] == 0
    assert any(r.name.startswith("otel_xray") for r in caplog.records)
    processor.shutdown()


def test_emitter_raising_everywhere_drops_as_send_failed_and_never_reaches_the_app() -> None:
    emitter = RaisingEmitter()
    processor, provider = _processor(emitter)
    load = Load(provider, threads=4, traces=3)

    load.run()
    assert processor.force_flush(FLUSH_MILLIS)
    stats = processor.stats()  # the emitter's stats() raises too
    processor.shutdown()  # and its close()

    assert not load.errors
    assert emitter.calls > 0
    assert_reconciled(stats)
    assert dropped(stats) == {"send_failed": load.sampled}
    assert_reconciled(processor.stats())


# --- the X-Ray API misbehaving -----------------------------------------------------------------


@pytest.mark.parametrize("mode", ["throttle", "error", "unavailable", "garbage"])
def test_api_failure_drops_as_send_failed_and_never_reaches_the_app(
    monkeypatch: pytest.MonkeyPatch, faulty_xray: Callable[[str], FaultyXRay], mode: str
) -> None:
    _fake_credentials(monkeypatch)
    server = faulty_xray(mode)
    processor, provider = _processor(ApiEmitter(endpoint_url=server.url, region="us-east-1"))
    load = run_load(provider, processor.force_flush, threads=2, traces=3)

    stats = processor.stats()
    assert server.requests, "the emitter never reached the test server"
    assert_reconciled(stats)
    assert stats["spans_sent"] == 0
    assert dropped(stats) == {"send_failed": load.sampled}
    assert stats["documents_failed"] > 0 and stats["emitter.send_errors"] > 0
    if mode == "throttle":
        assert stats["emitter.send_errors.ThrottledException"] > 0
    processor.shutdown()


def test_api_that_works_gets_exactly_the_spans_counted_as_sent(
    monkeypatch: pytest.MonkeyPatch, faulty_xray: Callable[[str], FaultyXRay]
) -> None:
    _fake_credentials(monkeypatch)
    server = faulty_xray("ok")
    processor, provider = _processor(ApiEmitter(endpoint_url=server.url, region="us-east-1"))
    load = Load(provider, threads=2, traces=3)

    load.run()
    assert processor.force_flush(FLUSH_MILLIS)

    stats = processor.stats()
    documents = server.documents()
    for document in documents:
        assert_valid_document(document)
    ids = [node["id"] for document in documents for node in walk(document)]
    assert_reconciled(stats)
    assert stats["spans_sent"] == len(ids) == len(set(ids)) == load.sampled
    processor.shutdown()


def test_api_hanging_does_not_hold_shutdown_past_its_timeout(
    monkeypatch: pytest.MonkeyPatch, faulty_xray: Callable[[str], FaultyXRay]
) -> None:
    _fake_credentials(monkeypatch)
    server = faulty_xray("hang")
    processor, provider = _processor(
        ApiEmitter(endpoint_url=server.url, region="us-east-1"), shutdown_timeout_millis=500
    )
    load = Load(provider, threads=2, traces=3)
    load.run()
    processor.force_flush(100)  # starts the call that hangs
    assert wait_until(lambda: bool(server.requests))

    started = time.monotonic()
    processor.shutdown()
    elapsed = time.monotonic() - started

    assert not load.errors
    assert elapsed < 0.5 + SLACK
    assert_reconciled(processor.stats())
    server.unhang.set()


# --- an emitter that blocks ------------------------------------------------------------------


def test_application_threads_never_wait_for_a_blocked_emitter() -> None:
    emitter = BlockingEmitter()
    processor, provider = _processor(emitter, max_queue_size=256, shutdown_timeout_millis=500)
    tracer = provider.get_tracer("app")
    tracer.start_span("first").end()
    processor.force_flush(10)
    assert emitter.entered.wait(HANG), "the worker never called the emitter"

    load = Load(provider, threads=4, traces=25)  # 1,000 spans ended while it is blocked
    load.run()

    assert not emitter.returned.is_set(), "the emitter was released before the load ended"
    assert not load.errors
    emitter.release.set()
    assert processor.force_flush(FLUSH_MILLIS)
    stats = processor.stats()
    assert_reconciled(stats)
    assert stats["spans_received"] == load.created + 1
    assert stats["spans_dropped.queue_full"] > 0
    processor.shutdown()


def test_force_flush_with_a_blocked_emitter_returns_false_within_its_timeout() -> None:
    emitter = BlockingEmitter()
    processor, provider = _processor(emitter, shutdown_timeout_millis=500)
    provider.get_tracer("app").start_span("held").end()
    processor.force_flush(10)
    assert emitter.entered.wait(HANG)

    started = time.monotonic()
    flushed = processor.force_flush(200)
    elapsed = time.monotonic() - started

    assert flushed is False
    assert elapsed < 0.2 + SLACK
    emitter.release.set()
    processor.shutdown()


def test_shutdown_with_a_blocked_emitter_returns_within_its_timeout_and_stays_reconciled() -> None:
    emitter = BlockingEmitter()
    processor, provider = _processor(emitter, shutdown_timeout_millis=500)
    load = Load(provider, threads=2, traces=5)
    load.run()
    processor.force_flush(10)
    assert emitter.entered.wait(HANG)

    started = time.monotonic()
    processor.shutdown()
    elapsed = time.monotonic() - started
    at_shutdown = processor.stats()

    assert elapsed < 0.5 + SLACK
    assert_reconciled(at_shutdown)
    assert at_shutdown["spans_received"] == load.created

    emitter.release.set()  # the transport comes back after shutdown gave up on it
    assert emitter.returned.wait(HANG)
    assert wait_until(lambda: _reconciles(processor.stats()), timeout=5.0)
    later = processor.stats()
    assert_reconciled(later)  # the late answer is counted once, not on top of a drop
    assert later["spans_received"] == load.created


def _reconciles(stats: Dict[str, int]) -> bool:
    try:
        assert_reconciled(stats)
    except AssertionError:
        return False
    return True


# --- spans that cannot be translated -------------------------------------------------------------


BAD_SPAN_ID = 0x0BAD0BAD0BAD0BAD


class _Unreadable(Mapping[str, Any]):
    """Attributes that raise on every read: a broken user-made mapping."""

    def __getitem__(self, key: str) -> Any:
        raise RuntimeError("these attributes cannot be read")

    def __iter__(self) -> Iterator[str]:
        raise RuntimeError("these attributes cannot be read")

    def __len__(self) -> int:
        raise RuntimeError("these attributes cannot be read")


def _badly_built_child(root: trace.Span) -> ReadableSpan:
    """A span a user built by hand, whose attributes raise when translation reads them."""
    parent = root.get_span_context()
    context = SpanContext(parent.trace_id, BAD_SPAN_ID, False, TraceFlags(TraceFlags.SAMPLED))
    return ReadableSpan(
        name="built-badly", context=context, parent=parent, start_time=1, end_time=2,
        attributes=_Unreadable(),  # type: ignore[arg-type]
    )


def test_span_that_fails_translation_is_dropped_alone_and_its_trace_still_sent(
    udp_listener: UdpListener,
) -> None:
    processor, provider = _processor(UdpEmitter(udp_listener.address))
    tracer = provider.get_tracer("app")
    root = tracer.start_span("root", kind=SpanKind.SERVER)
    for index in range(4):
        tracer.start_span(f"child-{index}", context=trace.set_span_in_context(root)).end()
    processor.on_end(_badly_built_child(root))
    root.end()
    assert processor.force_flush(FLUSH_MILLIS)

    stats = processor.stats()
    ids = wait_received(udp_listener, 5)
    assert_reconciled(stats)
    assert dropped(stats) == {"translate_error": 1}
    assert stats["spans_sent"] == len(ids) == 5
    assert f"{BAD_SPAN_ID:016x}" not in ids
    processor.shutdown()


def test_exporter_sends_the_rest_of_a_batch_holding_an_untranslatable_span(
    udp_listener: UdpListener,
) -> None:
    exporter = XRaySpanExporter(UdpEmitter(udp_listener.address), options=OPTIONS)
    recorder = SpanRecorder()
    root = recorder.tracer.start_span("root", kind=SpanKind.SERVER)
    recorder.tracer.start_span("child", context=trace.set_span_in_context(root)).end()
    root.end()
    batch = [*recorder.spans(), _badly_built_child(root)]

    assert exporter.export(batch) is SpanExportResult.FAILURE

    stats = exporter.stats()
    assert_reconciled(stats, processor=False)
    assert dropped(stats) == {"translate_error": 1}
    assert stats["spans_sent"] == len(wait_received(udp_listener, 2)) == 2


# --- fork and shutdown under load ----------------------------------------------------------------


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_fork_while_threads_end_spans_neither_deadlocks_nor_loses_count(
    udp_listener: UdpListener,
) -> None:
    processor, provider = _processor(UdpEmitter(udp_listener.address))
    tracer = provider.get_tracer("app")
    stop = threading.Event()
    errors: List[BaseException] = []
    ended = [0] * 4

    def busy(slot: int) -> None:
        try:
            while not stop.is_set():
                root = tracer.start_span("parent-busy", kind=SpanKind.SERVER)
                for _ in range(9):
                    tracer.start_span("work", context=trace.set_span_in_context(root)).end()
                root.end()
                ended[slot] += 10
                time.sleep(0.005)  # a steady load the test daemon can read without loss
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=busy, args=(n,), daemon=True) for n in range(4)]
    for thread in threads:
        thread.start()
    assert wait_until(lambda: sum(ended) > 200)

    pid = os.fork()
    if pid == 0:  # the child: its own spans, its own counters; leave at once
        code = 1
        try:
            before = processor.stats()
            for _ in range(20):
                tracer.start_span("from-the-child").end()
            flushed = processor.force_flush(10_000)
            stats = processor.stats()
            code = 2 if not flushed else 3 if not _reconciles(stats) else 0
            if code == 0 and stats["spans_sent"] - before["spans_sent"] != 20:
                code = 4
        finally:
            os._exit(code)

    status = _wait_child(pid, timeout=HANG)
    stop.set()
    for thread in threads:
        thread.join(HANG)
    assert processor.force_flush(FLUSH_MILLIS)

    assert status == 0, f"the forked child exited with {status} (1 raised, 2 flush timed " \
        "out, 3 counters off, 4 spans missing)"
    assert not errors
    stats = processor.stats()
    assert_reconciled(stats)
    assert stats["spans_received"] == sum(ended)
    ids = wait_received(udp_listener, stats["spans_sent"] + 20)
    assert len(ids) == stats["spans_sent"] + 20  # the child's 20 arrived too
    processor.shutdown()


def _wait_child(pid: int, timeout: float) -> int:
    """The child's exit code; kills it and fails the test when it hangs (a deadlock)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        time.sleep(0.02)
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    pytest.fail(f"the forked child did not exit within {timeout} s: deadlocked after fork")


def test_shutdown_while_threads_end_spans_raises_nothing_and_counts_everything(
    udp_listener: UdpListener,
) -> None:
    processor, provider = _processor(
        UdpEmitter(udp_listener.address), shutdown_timeout_millis=2000
    )
    load = Load(provider, threads=4, traces=50)
    runner = threading.Thread(target=load.run, daemon=True)
    runner.start()
    assert wait_until(lambda: processor.stats()["spans_received"] > 100)

    started = time.monotonic()
    processor.shutdown()
    elapsed = time.monotonic() - started
    runner.join(HANG)

    assert not runner.is_alive()
    assert not load.errors
    assert elapsed < 2 + SLACK
    stats = processor.stats()
    assert_reconciled(stats)
    assert stats["spans_received"] == load.created
    assert stats["spans_queued"] == stats["spans_buffered"] == 0
    assert set(dropped(stats)) <= {"shutdown", "queue_full"}
    assert len(wait_received(udp_listener, stats["spans_sent"])) == stats["spans_sent"]


# --- the process exiting ----------------------------------------------------------------------

_APP = """
import sys
from opentelemetry import trace
from opentelemetry.sdk.trace.sampling import ALWAYS_ON
import otel_xray
otel_xray.configure("exiting", daemon_address=sys.argv[1], sampler=ALWAYS_ON)
tracer = trace.get_tracer("app")
for index in range(5):
    tracer.start_span(f"span-{index}").end()
print("ready", flush=True)
"""


def test_spans_ended_just_before_a_normal_exit_are_sent(udp_listener: UdpListener) -> None:
    """(SIGTERM with ``flush_on_exit_signals``: tests/integration/test_exit_signals.py.)"""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "AWS_", "_X_"))}
    # The worker would not wake by itself before the exit: only the exit path sends.
    env[ENV_SCHEDULE_DELAY_MILLIS] = "60000"
    process = subprocess.Popen(
        [sys.executable, "-c", _APP, udp_listener.address],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True,
    )
    try:
        assert process.stdout is not None
        if process.stdout.readline().strip() != "ready":
            pytest.fail(f"the application did not start: {process.communicate(timeout=HANG)[1]}")
        process.wait(HANG)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    udp_listener.wait_for(5, timeout=HANG)
    assert len(wait_received(udp_listener, 5)) == 5  # and each a valid document


# --- settings out of range ---------------------------------------------------------------------

HUGE = "99999999999999999999917"


# "Logged once" is once per process for each variable and value: a value another test sets
# first would not be logged here, so these values are this file's own.
@pytest.mark.parametrize(
    ("variable", "value"),
    [
        (ENV_MAX_QUEUE_SIZE, HUGE),
        (ENV_MAX_QUEUE_SIZE, "-5071"),
        (ENV_SCHEDULE_DELAY_MILLIS, "9223372036854717"),
        (ENV_SCHEDULE_DELAY_MILLIS, "lots-of-millis"),
        (ENV_MAX_EXPORT_BATCH_SIZE, HUGE),
        (ENV_MAX_EXPORT_BATCH_SIZE, "1.5071"),
        ("OTEL_EXPORTER_XRAY_MAX_BUFFERED_SPANS", "-5071"),
        ("OTEL_EXPORTER_XRAY_ORPHAN_TIMEOUT_MILLIS", HUGE),
        ("OTEL_EXPORTER_XRAY_SHUTDOWN_TIMEOUT_MILLIS", "forever-5071"),
    ],
)
def test_out_of_range_environment_setting_is_logged_once_and_the_default_used(
    udp_listener: UdpListener, monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture, variable: str, value: str,
) -> None:
    monkeypatch.setenv(variable, value)
    with caplog.at_level(logging.WARNING, logger="otel_xray"):
        processor, provider = _processor(UdpEmitter(udp_listener.address))
        for _ in range(3):
            provider.get_tracer("app").start_span("after-a-bad-setting").end()
        # No flush: the default schedule delay (500 ms) sends them; a huge one would not.
        udp_listener.wait_for(3, timeout=HANG)

    logged = [r.getMessage() for r in caplog.records if variable in r.getMessage()]
    assert len(logged) == 1, [r.getMessage() for r in caplog.records]
    assert_reconciled(processor.stats())
    processor.shutdown()


@pytest.mark.parametrize(
    ("setting", "value"),
    [
        ("max_queue_size", 10**23),
        ("max_queue_size", True),
        ("schedule_delay_millis", 9223372036854775),
        ("max_export_batch_size", -5071),
        ("max_buffered_spans", "lots-of-spans"),
        ("orphan_timeout_millis", 1.5071),
        ("shutdown_timeout_millis", -5071),
    ],
)
def test_out_of_range_constructor_setting_is_logged_once_and_the_default_used(
    udp_listener: UdpListener, caplog: pytest.LogCaptureFixture, setting: str, value: Any
) -> None:
    with caplog.at_level(logging.WARNING, logger="otel_xray"):
        processor, provider = _processor(UdpEmitter(udp_listener.address), **{setting: value})
        for _ in range(3):
            provider.get_tracer("app").start_span("after-a-bad-setting").end()
        udp_listener.wait_for(3, timeout=HANG)  # no flush: the default delay sends them

    logged = [r.getMessage() for r in caplog.records if setting in r.getMessage()]
    assert len(logged) == 1, caplog.text
    assert_reconciled(processor.stats())
    processor.shutdown()


# --- docs/guarantees.md names these tests ---------------------------------------------------------


def test_every_test_that_docs_guarantees_names_exists() -> None:
    root = Path(__file__).resolve().parents[2]
    text = (root / "docs" / "guarantees.md").read_text()
    named = set(re.findall(r"`(test_\w+\.py)::(test_\w+)(?:\[[^\]]*\])?`", text))
    assert len(named) > 20
    missing = [
        f"{file}::{name}" for file, name in sorted(named)
        if f"def {name}(" not in (root / "tests" / "integration" / file).read_text()
    ]
    assert not missing
