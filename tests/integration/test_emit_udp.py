"""UdpEmitter and the daemon protocol, over real UDP sockets on loopback."""

from __future__ import annotations

import os
import socket
import sys
import threading
import time
from typing import Any, Callable, List, Tuple

import orjson
import pytest

from otel_xray import TranslateOptions
from otel_xray.emit import Emitter
from otel_xray.emit.address import ENV_DAEMON_ADDRESS
from otel_xray.emit.protocol import (
    DEFAULT_MAX_DOCUMENT_BYTES,
    HEADER,
    MAX_UDP_PAYLOAD,
    encode_datagram,
    split_datagram,
)
from otel_xray.emit.udp import UdpEmitter
from otel_xray.translate import to_document
from tests.support.helpers import SpanRecorder, make_documents
from tests.support.udp import UdpListener

OPTIONS = TranslateOptions(lambda_mode=False)
TIMEOUT = 10.0


def document_of_size(recorder: SpanRecorder, size: int) -> bytes:
    """A translated document padded (with metadata) to exactly ``size`` bytes."""
    doc = to_document(recorder.span("big"), OPTIONS)
    doc.setdefault("metadata", {})["padding"] = {"x": ""}
    base = len(orjson.dumps(doc))
    doc["metadata"]["padding"]["x"] = "p" * (size - base)
    encoded = orjson.dumps(doc)
    assert len(encoded) == size
    return encoded


def closed_port() -> int:
    """A loopback UDP port nobody listens on (just released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def eventually(condition: Callable[[], bool], action: Callable[[], Any]) -> None:
    """Repeat ``action`` until ``condition`` holds (a generous timeout only avoids hangs)."""
    deadline = time.monotonic() + TIMEOUT
    while not condition():
        assert time.monotonic() < deadline, "condition not reached"
        action()
        time.sleep(0.01)


class Resolver:
    """Stands in for socket.getaddrinfo: answers from a script, counts calls."""

    def __init__(self, *answers: Any) -> None:
        self.answers = list(answers)
        self.calls = 0

    def __call__(self, host: str, port: int, *args: Any) -> List[Tuple[Any, ...]]:
        self.calls += 1
        answer = self.answers[min(self.calls, len(self.answers)) - 1]
        if isinstance(answer, BaseException):
            raise answer
        return [(socket.AF_INET, socket.SOCK_DGRAM, 17, "", ("127.0.0.1", answer))]


# -- the protocol ------------------------------------------------------------------


def test_header_is_the_daemons_header_line() -> None:
    assert HEADER == b'{"format":"json","version":1}\n'


def test_limits_keep_a_document_and_its_header_in_one_datagram() -> None:
    assert MAX_UDP_PAYLOAD == 65507
    assert len(HEADER) + DEFAULT_MAX_DOCUMENT_BYTES <= MAX_UDP_PAYLOAD


def test_encode_datagram_is_header_then_document() -> None:
    assert encode_datagram(b'{"id":"a"}') == b'{"format":"json","version":1}\n{"id":"a"}'


ACCEPTED = [
    (b'{"format":"json","version":1}\n{"a":1}', b'{"a":1}'),
    (b'{"format":"JSON","version":1}\n{"a":1}', b'{"a":1}'),
    (b'{"version": 1, "format": "Json"}\n{"a":1}', b'{"a":1}'),
    (b'{"format":"json","version":1}\n{"a":"x\\ny"}\n', b'{"a":"x\\ny"}\n'),
]


@pytest.mark.parametrize(("datagram", "body"), ACCEPTED, ids=["canonical", "upper", "spaced",
                                                              "newline-in-body"])
def test_split_datagram_accepts_what_the_daemon_accepts(datagram: bytes, body: bytes) -> None:
    assert split_datagram(datagram)[1] == body


REJECTED = [
    (b'{"format":"json","version":1}', "no newline"),
    (b"{}", "no newline"),
    (b"not json\n{}", "not valid JSON"),
    (b"[1]\n{}", "not a JSON object"),
    (b'{"version":1}\n{}', "format must be 'json'"),
    (b'{"format":"xml","version":1}\n{}', "format must be 'json'"),
    (b'{"format":"json"}\n{}', "version must be 1"),
    (b'{"format":"json","version":2}\n{}', "version must be 1"),
    (b'{"format":"json","version":"1"}\n{}', "version must be 1"),
    (b'{"format":"json","version":1.0}\n{}', "version must be 1"),
    (b'{"format":"json","version":true}\n{}', "version must be 1"),
    (b'\xff\xfe\n{}', "not valid JSON"),
]


@pytest.mark.parametrize(("datagram", "reason"), REJECTED,
                         ids=[f"{i}-{r.split()[0]}" for i, (_, r) in enumerate(REJECTED)])
def test_split_datagram_rejects_with_reason(datagram: bytes, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        split_datagram(datagram)


def test_test_listener_keeps_what_the_daemon_would_reject(udp_listener: UdpListener) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as raw:
        for datagram in (b"no header", HEADER + b'{"id":NaN}', HEADER + b"[]",
                         HEADER + b'{"id":"a","subsegments":[{"id":"b"}]}'):
            raw.sendto(datagram, ("127.0.0.1", udp_listener.port))
    udp_listener.wait_for(1)
    eventually(lambda: len(udp_listener.datagrams) == 4, lambda: None)
    assert udp_listener.span_ids() == ["a", "b"]
    assert [e.split(" (")[0] for e in udp_listener.errors] == [
        "no newline: a datagram must be a header line followed by a document",
        "non-standard JSON constant NaN in body",
        "body is not a JSON object: b'[]'",
    ]


# -- sending -----------------------------------------------------------------------


def test_udp_emitter_is_an_emitter_with_the_64_kb_document_limit() -> None:
    emitter = UdpEmitter("127.0.0.1:2000")
    assert isinstance(emitter, Emitter)
    assert emitter.max_document_bytes == 64_000
    emitter.close()


def test_datagram_is_header_line_plus_document_byte_exact(
    udp_listener: UdpListener, recorder: SpanRecorder
) -> None:
    [document] = make_documents(recorder, 1)
    emitter = UdpEmitter(udp_listener.address)
    emitter.send([document])
    udp_listener.wait_for(1)
    assert udp_listener.datagrams == [b'{"format":"json","version":1}\n' + document]
    emitter.close()


def test_each_document_goes_in_its_own_datagram(
    udp_listener: UdpListener, recorder: SpanRecorder
) -> None:
    documents = make_documents(recorder, 5)
    emitter = UdpEmitter(udp_listener.address)
    assert sum(emitter.send(documents)) == 5
    received = udp_listener.wait_for(5)
    assert sorted(udp_listener.datagrams) == sorted(HEADER + d for d in documents)
    assert sorted(d["id"] for d in received) == sorted(orjson.loads(d)["id"] for d in documents)
    assert udp_listener.errors == []
    emitter.close()


def test_stats_count_documents_and_datagram_bytes(
    udp_listener: UdpListener, recorder: SpanRecorder
) -> None:
    documents = make_documents(recorder, 3)
    emitter = UdpEmitter(udp_listener.address)
    emitter.send(documents)
    stats = emitter.stats()
    assert stats["documents_sent"] == 3
    assert stats["bytes_sent"] == sum(len(HEADER) + len(d) for d in documents)
    assert stats["send_errors"] == 0 and stats["oversize_dropped"] == 0
    emitter.close()


def test_sends_to_an_ipv6_daemon(udp_listener_v6: UdpListener, recorder: SpanRecorder) -> None:
    emitter = UdpEmitter(udp_listener_v6.address)
    emitter.send(make_documents(recorder, 1))
    assert len(udp_listener_v6.wait_for(1)) == 1
    emitter.close()


def test_resolves_a_host_name(udp_listener: UdpListener, recorder: SpanRecorder) -> None:
    emitter = UdpEmitter(f"localhost:{udp_listener.port}")
    emitter.send(make_documents(recorder, 1))
    assert len(udp_listener.wait_for(1)) == 1
    emitter.close()


def test_sends_to_the_udp_half_of_the_double_form(
    udp_listener: UdpListener, recorder: SpanRecorder
) -> None:
    emitter = UdpEmitter(f"tcp:127.0.0.1:{closed_port()} udp:127.0.0.1:{udp_listener.port}")
    emitter.send(make_documents(recorder, 1))
    assert len(udp_listener.wait_for(1)) == 1
    emitter.close()


def test_address_comes_from_the_environment_without_argument(
    udp_listener: UdpListener, recorder: SpanRecorder, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ENV_DAEMON_ADDRESS, udp_listener.address)
    emitter = UdpEmitter()
    emitter.send(make_documents(recorder, 1))
    assert len(udp_listener.wait_for(1)) == 1
    emitter.close()


def test_explicit_address_wins_over_the_environment(
    udp_listener: UdpListener, recorder: SpanRecorder, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ENV_DAEMON_ADDRESS, f"127.0.0.1:{closed_port()}")
    emitter = UdpEmitter(udp_listener.address)
    emitter.send(make_documents(recorder, 1))
    assert len(udp_listener.wait_for(1)) == 1
    emitter.close()


def test_default_address_is_localhost_2000(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV_DAEMON_ADDRESS, raising=False)
    assert UdpEmitter().address == "127.0.0.1:2000"


def test_document_filling_a_whole_datagram_is_sent(
    udp_listener: UdpListener, recorder: SpanRecorder
) -> None:
    # Over the 64 kB document promise on purpose (so not schema-checked): the emitter
    # itself refuses only what cannot travel in one datagram.
    document = document_of_size(recorder, MAX_UDP_PAYLOAD - len(HEADER))
    emitter = UdpEmitter(udp_listener.address)
    assert sum(emitter.send([document])) == 1
    udp_listener.wait_for(1)
    assert len(udp_listener.datagrams[0]) == MAX_UDP_PAYLOAD
    emitter.close()


def test_document_too_big_for_a_datagram_is_not_sent_but_counted(
    udp_listener: UdpListener, recorder: SpanRecorder, caplog: pytest.LogCaptureFixture
) -> None:
    oversize = document_of_size(recorder, MAX_UDP_PAYLOAD - len(HEADER) + 1)
    [small] = make_documents(recorder, 1)
    emitter = UdpEmitter(udp_listener.address)
    assert sum(emitter.send([oversize, small])) == 1
    udp_listener.wait_for(1)
    assert udp_listener.datagrams == [HEADER + small]
    assert emitter.stats()["oversize_dropped"] == 1
    assert "bug: a document of 65478 bytes" in caplog.text
    emitter.close()


def test_no_daemon_listening_is_counted_not_raised(recorder: SpanRecorder) -> None:
    emitter = UdpEmitter(f"127.0.0.1:{closed_port()}")
    documents = make_documents(recorder, 1)
    eventually(lambda: emitter.stats().get("send_errors.ECONNREFUSED", 0) > 0,
               lambda: emitter.send(documents))
    assert emitter.stats()["send_errors"] > 0
    emitter.close()


def test_sending_resumes_when_the_daemon_comes_back(recorder: SpanRecorder) -> None:
    port = closed_port()
    emitter = UdpEmitter(f"127.0.0.1:{port}", reresolve_interval=0)
    documents = make_documents(recorder, 2)
    eventually(lambda: emitter.stats().get("send_errors.ECONNREFUSED", 0) > 0,
               lambda: emitter.send(documents[:1]))
    daemon = UdpListener(port=port)
    try:
        # The first send after the refusal already arrives: the refusal was for an earlier
        # datagram, and the emitter retries the one it was reported on.
        assert sum(emitter.send(documents[1:])) == 1
        [received] = daemon.wait_for(1)
        assert received["id"] == orjson.loads(documents[1])["id"]
    finally:
        daemon.close()
        emitter.close()


def test_address_is_resolved_once_not_per_datagram(
    udp_listener: UdpListener, recorder: SpanRecorder
) -> None:
    resolver = Resolver(udp_listener.port)
    emitter = UdpEmitter("daemon.test:2000", getaddrinfo=resolver)
    for document in make_documents(recorder, 3):
        emitter.send([document, document])
    udp_listener.wait_for(6)
    assert resolver.calls == 1
    emitter.close()


def test_dns_failure_is_counted_and_resolved_again_on_a_later_send(
    udp_listener: UdpListener, recorder: SpanRecorder
) -> None:
    resolver = Resolver(socket.gaierror(socket.EAI_AGAIN, "temporary failure"),
                        udp_listener.port)
    emitter = UdpEmitter("daemon.test:2000", reresolve_interval=0, getaddrinfo=resolver)
    documents = make_documents(recorder, 2)
    assert sum(emitter.send(documents[:1])) == 0
    assert emitter.stats()["send_errors.dns"] == 1
    assert sum(emitter.send(documents[1:])) == 1
    assert udp_listener.wait_for(1)[0]["id"] == orjson.loads(documents[1])["id"]
    emitter.close()


def test_refused_send_makes_the_emitter_resolve_the_address_again(
    udp_listener: UdpListener, recorder: SpanRecorder
) -> None:
    # The daemon moved: the name first points at a closed port, then at the new daemon.
    resolver = Resolver(closed_port(), udp_listener.port)
    emitter = UdpEmitter("daemon.test:2000", reresolve_interval=0, getaddrinfo=resolver)
    documents = make_documents(recorder, 1)
    eventually(lambda: len(udp_listener.documents) > 0, lambda: emitter.send(documents))
    assert resolver.calls == 2
    assert emitter.stats()["send_errors.ECONNREFUSED"] >= 1
    emitter.close()


def test_resolving_again_is_rate_limited(recorder: SpanRecorder) -> None:
    resolver = Resolver(socket.gaierror(socket.EAI_NONAME, "unknown"))
    emitter = UdpEmitter("daemon.test:2000", reresolve_interval=3600, getaddrinfo=resolver)
    for document in make_documents(recorder, 3):
        assert sum(emitter.send([document])) == 0
    assert resolver.calls == 1
    assert emitter.stats()["send_errors.dns"] == 3
    emitter.close()


def test_socket_whose_descriptor_was_replaced_is_reopened(
    udp_listener: UdpListener, recorder: SpanRecorder
) -> None:
    # As when a library closes or redirects "all" descriptors: the socket's descriptor
    # now refers to /dev/null (a private attribute is read only to find the descriptor).
    first, second = make_documents(recorder, 2)
    emitter = UdpEmitter(udp_listener.address)
    emitter.send([first])
    with open(os.devnull, "rb") as devnull:
        os.dup2(devnull.fileno(), emitter._sock.fileno())  # type: ignore[union-attr]
    assert sum(emitter.send([second])) == 1
    assert [d["id"] for d in udp_listener.wait_for(2)] == _ids([first, second])
    assert emitter.stats()["socket_reopened"] == 1
    emitter.close()


def test_close_is_idempotent() -> None:
    emitter = UdpEmitter("127.0.0.1:2000")
    emitter.close()
    emitter.close()


def test_send_after_close_is_counted_not_raised(recorder: SpanRecorder) -> None:
    emitter = UdpEmitter("127.0.0.1:2000")
    emitter.close()
    assert sum(emitter.send(make_documents(recorder, 2))) == 0
    assert emitter.stats()["send_errors.closed"] == 2


def test_close_from_another_thread_while_sending_does_not_raise(
    udp_listener: UdpListener, recorder: SpanRecorder
) -> None:
    emitter = UdpEmitter(udp_listener.address)
    documents = make_documents(recorder, 10)
    failures: List[BaseException] = []

    def keep_sending() -> None:
        try:
            while emitter.stats().get("send_errors.closed", 0) == 0:
                emitter.send(documents)
        except BaseException as exc:  # pragma: no cover - the assertion reports it
            failures.append(exc)

    sender = threading.Thread(target=keep_sending)
    sender.start()
    udp_listener.wait_for(1)
    emitter.close()
    sender.join(TIMEOUT)
    assert not sender.is_alive() and failures == []


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_forked_child_sends_from_its_own_socket(
    udp_listener: UdpListener, recorder: SpanRecorder
) -> None:
    parent_doc, child_doc, parent_again = make_documents(recorder, 3)
    emitter = UdpEmitter(udp_listener.address)
    emitter.send([parent_doc])
    udp_listener.wait_for(1)
    pid = _fork_and_run(lambda: sum(emitter.send([child_doc])) == 1)
    _, status = os.waitpid(pid, 0)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0
    udp_listener.wait_for(2)
    emitter.send([parent_again])
    udp_listener.wait_for(3)
    by_id = {d["id"]: s for d, s in zip(udp_listener.documents, udp_listener.sources)}
    parent_source = by_id[orjson.loads(parent_doc)["id"]]
    assert by_id[orjson.loads(child_doc)["id"]] != parent_source
    assert by_id[orjson.loads(parent_again)["id"]] == parent_source
    emitter.close()


def _fork_and_run(child: Callable[[], bool]) -> int:
    """Fork; the child runs ``child`` and exits 0 if it returned true (never returns)."""
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child
        code = 1
        try:
            code = 0 if child() else 1
        finally:
            os._exit(code)
    return pid



def _ids(documents: List[bytes]) -> List[str]:
    return [orjson.loads(d)["id"] for d in documents]
