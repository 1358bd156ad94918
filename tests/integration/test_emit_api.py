"""ApiEmitter against moto's X-Ray API (server mode on 127.0.0.1)."""

from __future__ import annotations

import socket
from typing import Any, Dict, List

import botocore.session
import orjson
import pytest
from botocore.config import Config

from otel_xray import TranslateOptions
from otel_xray.emit import Emitter
from otel_xray.emit.api import ApiEmitter
from tests.support.helpers import SpanRecorder, make_documents

OPTIONS = TranslateOptions(lambda_mode=False)


def xray_client(endpoint_url: str, attempts: int = 1) -> Any:
    return botocore.session.get_session().create_client(
        "xray",
        region_name="us-east-1",
        endpoint_url=endpoint_url,
        config=Config(retries={"total_max_attempts": attempts}, connect_timeout=2),
    )


def count_calls(client: Any) -> List[int]:
    """Record the number of documents in each PutTraceSegments call (botocore event hook)."""
    sizes: List[int] = []

    def record(params: Dict[str, Any], **_: Any) -> None:
        sizes.append(len(params["TraceSegmentDocuments"]))

    client.meta.events.register("provide-client-params.xray.PutTraceSegments", record)
    return sizes


def stored_documents(moto_server: str, documents: List[bytes]) -> List[Dict[str, Any]]:
    """The documents moto stored for the traces of ``documents`` (via BatchGetTraces)."""
    trace_ids = sorted({orjson.loads(d)["trace_id"] for d in documents})
    client = xray_client(moto_server)
    stored: List[Dict[str, Any]] = []
    for start in range(0, len(trace_ids), 5):  # BatchGetTraces takes at most 5 ids
        response = client.batch_get_traces(TraceIds=trace_ids[start : start + 5])
        for trace in response["Traces"]:
            stored.extend(orjson.loads(s["Document"]) for s in trace["Segments"])
    return stored


def closed_tcp_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def test_api_emitter_is_an_emitter_with_the_64_kb_document_limit(moto_server: str) -> None:
    emitter = ApiEmitter(endpoint_url=moto_server, region="us-east-1")
    assert isinstance(emitter, Emitter)
    assert emitter.max_document_bytes == 64_000
    emitter.close()


def test_documents_arrive_in_xray(moto_server: str, recorder: SpanRecorder) -> None:
    documents = make_documents(recorder, 3)
    emitter = ApiEmitter(endpoint_url=moto_server, region="us-east-1")
    assert sum(emitter.send(documents)) == 3
    stored = stored_documents(moto_server, documents)
    assert sorted(stored, key=lambda d: d["id"]) == sorted(
        (orjson.loads(d) for d in documents), key=lambda d: d["id"]
    )
    assert emitter.stats()["documents_sent"] == 3
    assert emitter.stats()["bytes_sent"] == sum(len(d) for d in documents)
    emitter.close()


def test_region_comes_from_the_environment(
    moto_server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_REGION", "eu-west-3")
    emitter = ApiEmitter(endpoint_url=moto_server)
    assert "eu-west-3" in repr(emitter)
    emitter.close()


def test_missing_region_is_a_clear_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    for name in ("AWS_REGION", "AWS_DEFAULT_REGION"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    with pytest.raises(ValueError, match="needs an AWS region"):
        ApiEmitter()


def test_120_documents_go_in_three_calls_of_at_most_50(
    moto_server: str, recorder: SpanRecorder
) -> None:
    client = xray_client(moto_server)
    calls = count_calls(client)
    documents = make_documents(recorder, 120)
    emitter = ApiEmitter(client)
    assert sum(emitter.send(documents)) == 120
    assert calls == [50, 50, 20]
    assert len(stored_documents(moto_server, documents)) == 120
    assert emitter.stats()["api_calls"] == 3


def test_unprocessed_documents_are_counted_with_their_error_codes(
    moto_server: str, recorder: SpanRecorder, caplog: pytest.LogCaptureFixture
) -> None:
    [good] = make_documents(recorder, 1)
    missing_name = orjson.loads(good)
    del missing_name["name"]  # deliberately invalid: X-Ray must reject it
    missing_name["id"] = "0123456789abcdef"
    emitter = ApiEmitter(xray_client(moto_server))
    sent = emitter.send([good, orjson.dumps(missing_name), b"not json"])
    stats = emitter.stats()
    assert sent == [True, False, False]
    assert stats["documents_sent"] == 1
    assert stats["send_errors.unprocessed"] == 2
    assert stats["unprocessed.MissingParam"] == 1
    assert stats["unprocessed.JSONFormatError"] == 1
    assert "X-Ray rejected 2 document(s)" in caplog.text and "MissingParam" in caplog.text


def test_api_error_is_counted_by_code_not_raised(moto_server: str) -> None:
    # moto answers 500 InternalFailure to a body that is JSON but not an object.
    emitter = ApiEmitter(xray_client(moto_server))
    assert sum(emitter.send([b"5", b"6"])) == 0
    stats = emitter.stats()
    assert stats["send_errors"] == 2
    assert stats["send_errors.InternalFailure"] == 2


def test_connection_error_is_counted_not_raised(recorder: SpanRecorder) -> None:
    emitter = ApiEmitter(xray_client(f"http://127.0.0.1:{closed_tcp_port()}"))
    assert sum(emitter.send(make_documents(recorder, 2))) == 0
    assert emitter.stats()["send_errors.EndpointConnectionError"] == 2


def test_oversize_document_is_not_sent_but_counted(
    moto_server: str, recorder: SpanRecorder
) -> None:
    client = xray_client(moto_server)
    calls = count_calls(client)
    [small] = make_documents(recorder, 1)
    emitter = ApiEmitter(client)
    assert sum(emitter.send([b'{"x":"' + b"a" * 70_000 + b'"}', small])) == 1
    assert calls == [1]
    assert emitter.stats()["oversize_dropped"] == 1


def test_close_is_idempotent_and_later_sends_are_counted(
    moto_server: str, recorder: SpanRecorder
) -> None:
    emitter = ApiEmitter(xray_client(moto_server))
    emitter.close()
    emitter.close()
    assert sum(emitter.send(make_documents(recorder, 2))) == 0
    assert emitter.stats()["send_errors.closed"] == 2
