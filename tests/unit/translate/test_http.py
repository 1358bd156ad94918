"""The ``http`` block: both semconv generations, URL rebuilding, limits, real instrumentations."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Dict, Iterator, Optional

import pytest
import requests
from flask import Flask
from opentelemetry.instrumentation._semconv import (
    _OpenTelemetrySemanticConventionStability,
    _OpenTelemetryStabilitySignalType,
    _StabilityMode,
)
from opentelemetry.instrumentation.flask import FlaskInstrumentor
from opentelemetry.instrumentation.requests import RequestsInstrumentor
from opentelemetry.trace import SpanKind

from otel_xray import TranslateOptions
from otel_xray.translate import to_document
from otel_xray.translate.http import (
    BLOCK_KEYS,
    MAPPED_KEYS,
    forwarded_client,
    status_code,
    strip_query,
    strip_userinfo,
)
from tests.support.helpers import SpanRecorder, assert_valid_document

OPTIONS = TranslateOptions(lambda_mode=False)
SERVER = SpanKind.SERVER
CLIENT = SpanKind.CLIENT
LONG = "x" * 300

# (id, kind, attributes, expected http block). SERVER spans without a parent become
# segments; CLIENT spans get a local parent and become subsegments.
CASES = [
    # --- both generations of the basic keys
    ("old-client-keys", CLIENT,
     {"http.method": "GET", "http.url": "https://api.example.com/a?b=1", "http.status_code": 200},
     {"request": {"method": "GET", "url": "https://api.example.com/a"},
      "response": {"status": 200}}),
    ("stable-client-keys", CLIENT,
     {"http.request.method": "POST", "url.full": "https://api.example.com/a",
      "http.response.status_code": 201},
     {"request": {"method": "POST", "url": "https://api.example.com/a"},
      "response": {"status": 201}}),
    ("stable-keys-win-over-old", CLIENT,
     {"http.request.method": "PUT", "http.method": "GET", "url.full": "http://new/",
      "http.url": "http://old/", "http.response.status_code": 204, "http.status_code": 200},
     {"request": {"method": "PUT", "url": "http://new/"}, "response": {"status": 204}}),
    ("other-method-uses-original", CLIENT,
     {"http.request.method": "_OTHER", "http.request.method_original": "PURGE"},
     {"request": {"method": "PURGE"}}),
    # --- user-info never sent
    ("user-info-stripped-from-url-full", CLIENT,
     {"url.full": "https://user:secret@api.example.com/a?b=c"},
     {"request": {"url": "https://api.example.com/a"}}),
    ("user-info-stripped-from-http-url", CLIENT,
     {"http.url": "http://REDACTED:REDACTED@api.example.com"},
     {"request": {"url": "http://api.example.com"}}),
    ("at-sign-in-path-kept", CLIENT, {"url.full": "https://h/users/a@b.c?x=@"},
     {"request": {"url": "https://h/users/a@b.c"}}),
    # --- URL rebuilt on the server side
    ("server-old-parts-with-host-header-port", SERVER,
     {"http.method": "GET", "http.scheme": "http", "http.host": "shop.example.com:8080",
      "net.host.port": 8080, "http.target": "/cart?id=3"},
     {"request": {"method": "GET", "url": "http://shop.example.com:8080/cart"}}),
    ("server-host-header-without-port-gets-no-socket-port", SERVER,
     {"http.method": "GET", "http.scheme": "https", "http.host": "shop.example.com",
      "net.host.port": 8000, "http.target": "/"},
     {"request": {"method": "GET", "url": "https://shop.example.com/"}}),
    ("server-stable-parts", SERVER,
     {"http.request.method": "GET", "url.scheme": "https", "server.address": "api.example.com",
      "server.port": 8443, "url.path": "/a", "url.query": "b=1"},
     {"request": {"method": "GET", "url": "https://api.example.com:8443/a"}}),
    ("server-address-with-port-from-wsgi", SERVER,
     {"http.request.method": "GET", "url.scheme": "http", "server.address": "127.0.0.1:5000",
      "server.port": 5000, "url.path": "/"},
     {"request": {"method": "GET", "url": "http://127.0.0.1:5000/"}}),
    ("server-name-key", SERVER,
     {"http.method": "GET", "http.server_name": "srv.local", "net.host.port": 81,
      "http.target": "/x"},
     {"request": {"method": "GET", "url": "http://srv.local:81/x"}}),
    ("server-net-host-name", SERVER,
     {"http.method": "GET", "net.host.name": "srv.local", "http.target": "/x"},
     {"request": {"method": "GET", "url": "http://srv.local/x"}}),
    ("default-http-port-omitted", SERVER,
     {"http.method": "GET", "url.scheme": "http", "server.address": "h", "server.port": 80},
     {"request": {"method": "GET", "url": "http://h/"}}),
    ("default-https-port-omitted", SERVER,
     {"http.method": "GET", "url.scheme": "https", "server.address": "h", "server.port": 443},
     {"request": {"method": "GET", "url": "https://h/"}}),
    ("port-443-without-scheme-means-https", SERVER,
     {"http.method": "GET", "server.address": "h", "server.port": "443"},
     {"request": {"method": "GET", "url": "https://h/"}}),
    ("relative-target-gets-slash", SERVER,
     {"http.method": "GET", "http.host": "h", "http.target": "x?y"},
     {"request": {"method": "GET", "url": "http://h/x"}}),
    ("absolute-form-target-used-as-url", SERVER,
     {"http.method": "GET", "http.host": "proxy", "http.target": "http://u:p@origin/x"},
     {"request": {"method": "GET", "url": "http://origin/x"}}),
    ("user-info-in-host-key-dropped", CLIENT,
     {"http.method": "GET", "net.peer.name": "u:secret@h", "net.peer.port": 81},
     {"request": {"method": "GET", "url": "http://h:81/"}}),
    ("no-host-no-url", SERVER, {"http.method": "GET", "http.target": "/x"},
     {"request": {"method": "GET"}}),
    # --- URL rebuilt on the client side
    ("client-old-parts", CLIENT,
     {"http.method": "GET", "http.scheme": "https", "net.peer.name": "api.example.com",
      "net.peer.port": 8443, "http.target": "/v1"},
     {"request": {"method": "GET", "url": "https://api.example.com:8443/v1"}}),
    ("client-server-port-used", CLIENT,
     {"http.request.method": "GET", "url.scheme": "http", "server.address": "svc",
      "server.port": 9000, "url.path": "/q"},
     {"request": {"method": "GET", "url": "http://svc:9000/q"}}),
    ("client-net-peer-ip-as-host", CLIENT,
     {"http.method": "GET", "net.peer.ip": "10.1.2.3", "net.peer.port": 8080},
     {"request": {"method": "GET", "url": "http://10.1.2.3:8080/"}}),
    ("client-ignores-server-side-host-keys", CLIENT,
     {"http.method": "GET", "net.host.name": "me", "http.server_name": "me"},
     {"request": {"method": "GET"}}),
    # --- IPv6
    ("ipv6-host-bracketed", SERVER,
     {"http.method": "GET", "server.address": "::1", "server.port": 8080},
     {"request": {"method": "GET", "url": "http://[::1]:8080/"}}),
    ("ipv6-zone-escaped", CLIENT,
     {"http.method": "GET", "net.peer.ip": "fe80::1%eth0"},
     {"request": {"method": "GET", "url": "http://[fe80::1%25eth0]/"}}),
    ("bracketed-ipv6-host-header-kept", SERVER,
     {"http.method": "GET", "http.host": "[::1]:8080", "net.host.port": 8080},
     {"request": {"method": "GET", "url": "http://[::1]:8080/"}}),
    # --- lengths
    ("url-cut-to-250", CLIENT, {"url.full": "http://h/" + LONG},
     {"request": {"url": ("http://h/" + LONG)[:250]}}),
    ("user-agent-cut-to-250", SERVER, {"user_agent.original": LONG},
     {"request": {"user_agent": LONG[:250]}}),
    ("method-cut-to-250", CLIENT, {"http.method": LONG}, {"request": {"method": LONG[:250]}}),
    # --- user agent and client ip
    ("old-user-agent", SERVER, {"http.user_agent": "curl/8"},
     {"request": {"user_agent": "curl/8"}}),
    ("http-client-ip-is-forwarded", SERVER,
     {"http.method": "GET", "http.client_ip": "203.0.113.9", "net.peer.ip": "10.0.0.1"},
     {"request": {"method": "GET", "client_ip": "203.0.113.9", "x_forwarded_for": True}}),
    ("client-address-differing-from-socket-peer-is-forwarded", SERVER,
     {"http.request.method": "GET", "client.address": "203.0.113.9",
      "network.peer.address": "10.0.0.1"},
     {"request": {"method": "GET", "client_ip": "203.0.113.9", "x_forwarded_for": True}}),
    ("client-address-equal-to-socket-peer-is-not-forwarded", SERVER,
     {"http.request.method": "GET", "client.address": "10.0.0.1",
      "network.peer.address": "10.0.0.1"},
     {"request": {"method": "GET", "client_ip": "10.0.0.1"}}),
    ("client-address-alone-is-not-forwarded", SERVER,
     {"http.request.method": "GET", "client.address": "10.0.0.1"},
     {"request": {"method": "GET", "client_ip": "10.0.0.1"}}),
    ("net-peer-ip-is-socket-peer", SERVER, {"http.method": "GET", "net.peer.ip": "10.0.0.1"},
     {"request": {"method": "GET", "client_ip": "10.0.0.1"}}),
    ("client-span-peer-is-not-a-client-ip", CLIENT,
     {"http.method": "GET", "http.url": "http://h/", "net.peer.ip": "10.0.0.1",
      "network.peer.address": "10.0.0.1"},
     {"request": {"method": "GET", "url": "http://h/"}}),
    # --- response
    ("status-string-accepted", CLIENT, {"http.status_code": " 404 "},
     {"response": {"status": 404}}),
    ("status-bool-ignored", CLIENT, {"http.method": "GET", "http.status_code": True},
     {"request": {"method": "GET"}}),
    ("status-out-of-range-ignored", CLIENT, {"http.method": "GET", "http.status_code": 10**30},
     {"request": {"method": "GET"}}),
    ("status-superscript-digit-ignored", CLIENT, {"http.method": "GET", "http.status_code": "²"},
     {"request": {"method": "GET"}}),
    ("status-integral-float-accepted", CLIENT, {"http.status_code": 503.0},
     {"response": {"status": 503}}),
    ("stable-content-length", CLIENT,
     {"http.response.status_code": 200, "http.response.body.size": 1234},
     {"response": {"status": 200, "content_length": 1234}}),
    ("old-content-length-string", CLIENT,
     {"http.status_code": 200, "http.response_content_length": "99"},
     {"response": {"status": 200, "content_length": 99}}),
    ("negative-content-length-ignored", CLIENT,
     {"http.status_code": 200, "http.response_content_length": -1},
     {"response": {"status": 200}}),
    # --- AWS SDK calls carry only the status
    ("aws-call-status-only", CLIENT,
     {"rpc.system": "aws-api", "rpc.service": "S3", "http.status_code": 200},
     {"response": {"status": 200}}),
]


@pytest.mark.parametrize(
    ("kind", "attributes", "expected"),
    [pytest.param(kind, attrs, block, id=case) for case, kind, attrs, block in CASES],
)
def test_http_block(
    recorder: SpanRecorder, kind: SpanKind, attributes: Dict[str, Any], expected: Dict[str, Any]
) -> None:
    parent = "local" if kind is CLIENT else None
    span = recorder.span("op", kind=kind, attributes=attributes, parent=parent)
    doc = assert_valid_document(to_document(span, OPTIONS))
    assert doc["http"] == expected


@pytest.mark.parametrize(
    "attributes",
    [
        pytest.param({}, id="no-attributes"),
        pytest.param({"db.system": "postgresql", "server.address": "db", "server.port": 5432},
                     id="database-span"),
        pytest.param({"rpc.system": "grpc", "url.scheme": "http", "client.address": "1.2.3.4"},
                     id="non-http-keys-of-shared-namespaces"),
        pytest.param({"http.route": "/x"}, id="route-only"),
    ],
)
def test_span_without_http_information_has_no_http_block(
    recorder: SpanRecorder, attributes: Dict[str, Any]
) -> None:
    span = recorder.span("op", kind=SERVER, attributes=attributes)
    assert "http" not in assert_valid_document(to_document(span, OPTIONS))


def test_forwarded_client_ip_not_flagged_on_subsegment(recorder: SpanRecorder) -> None:
    span = recorder.span("op", parent="local", attributes={"http.client_ip": "203.0.113.9"})
    doc = assert_valid_document(to_document(span, OPTIONS))
    assert doc["type"] == "subsegment"
    assert doc["http"] == {"request": {"client_ip": "203.0.113.9"}}


def test_user_info_never_reaches_metadata(recorder: SpanRecorder) -> None:
    attributes = {"url.full": "https://u:secret@h/", "http.url": "https://u:secret@h/"}
    span = recorder.span("op", kind=CLIENT, parent="local", attributes=attributes)
    doc = assert_valid_document(to_document(span, OPTIONS))
    assert "secret" not in str(doc)
    assert {"url.full", "http.url"} <= MAPPED_KEYS


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        pytest.param("https://u:p@h:8443/x", "https://h:8443/x", id="user-and-password"),
        pytest.param("https://u@h", "https://h", id="user-only"),
        pytest.param("https://u:p@w@h/x", "https://h/x", id="at-sign-in-password"),
        pytest.param("https://h/x@y", "https://h/x@y", id="at-sign-in-path"),
        pytest.param("https://h?x=a@b", "https://h?x=a@b", id="at-sign-in-query"),
        pytest.param("https://h#a@b", "https://h#a@b", id="at-sign-in-fragment"),
        pytest.param("mailto:a@b", "mailto:a@b", id="no-authority"),
        pytest.param("", "", id="empty"),
    ],
)
def test_strip_userinfo(url: str, expected: str) -> None:
    assert strip_userinfo(url) == expected


@pytest.mark.parametrize(
    ("attributes", "expected"),
    [
        pytest.param({"http.response.status_code": 200}, 200, id="stable"),
        pytest.param({"http.status_code": "503"}, 503, id="old-string"),
        pytest.param({"http.status_code": "abc"}, None, id="not-a-number"),
        pytest.param({"http.status_code": -1}, None, id="negative"),
        pytest.param({"http.status_code": float("nan")}, None, id="nan"),
        pytest.param({"http.status_code": [200]}, None, id="sequence"),
        pytest.param({}, None, id="absent"),
    ],
)
def test_status_code(attributes: Dict[str, Any], expected: Optional[int]) -> None:
    assert status_code(attributes) == expected


# --- real instrumentations ---------------------------------------------------------------


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        status = 404 if self.path.startswith("/missing") else 200
        body = b"hello"
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def http_server() -> Iterator[str]:
    """A real HTTP server on 127.0.0.1; yields its base URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


@pytest.fixture(params=["default", "stable"])
def http_semconv(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Make instrumentations emit the old (default) or the stable HTTP conventions."""
    stability = _OpenTelemetrySemanticConventionStability
    stability._initialize()
    mode = _StabilityMode.DEFAULT if request.param == "default" else _StabilityMode.HTTP
    mapping = dict(stability._OTEL_SEMCONV_STABILITY_SIGNAL_MAPPING)
    mapping[_OpenTelemetryStabilitySignalType.HTTP] = mode
    monkeypatch.setattr(stability, "_OTEL_SEMCONV_STABILITY_SIGNAL_MAPPING", mapping)
    return str(request.param)


@pytest.fixture
def requests_instrumented(recorder: SpanRecorder, http_semconv: str) -> Iterator[SpanRecorder]:
    instrumentor = RequestsInstrumentor()
    instrumentor.instrument(tracer_provider=recorder.provider)
    try:
        yield recorder
    finally:
        instrumentor.uninstrument()


@pytest.mark.parametrize(("path", "status"), [("/ok?q=1", 200), ("/missing", 404)])
def test_real_requests_client_span(
    requests_instrumented: SpanRecorder, http_server: str, path: str, status: int
) -> None:
    recorder = requests_instrumented
    with recorder.tracer.start_as_current_span("parent"):
        response = requests.get(http_server + path, timeout=10)
    assert response.status_code == status
    client = next(s for s in recorder.spans() if s.kind is SpanKind.CLIENT)
    doc = assert_valid_document(to_document(client, OPTIONS))
    assert doc["type"] == "subsegment" and doc["namespace"] == "remote"
    assert doc["name"] == "127.0.0.1"
    assert doc["http"]["request"] == {
        "method": "GET",
        "url": http_server + path.partition("?")[0],
        "user_agent": requests.utils.default_user_agent(),
    }
    assert doc["http"]["response"]["status"] == status
    assert doc.get("error", False) is (status == 404)


@pytest.fixture
def flask_app(recorder: SpanRecorder, http_semconv: str) -> Iterator[Flask]:
    app = Flask("otel_xray_http_test")

    @app.route("/items/<int:item>")
    def item(item: int) -> str:
        return f"item {item}"

    @app.route("/boom")
    def boom() -> str:
        raise RuntimeError("boom, it broke")

    FlaskInstrumentor().instrument_app(app, tracer_provider=recorder.provider)
    try:
        yield app
    finally:
        FlaskInstrumentor().uninstrument_app(app)


def test_real_flask_server_span(recorder: SpanRecorder, flask_app: Flask) -> None:
    response = flask_app.test_client().get(
        "/items/7?full=1", headers={"User-Agent": "pytest-agent/1"}
    )
    assert response.status_code == 200
    (server,) = [s for s in recorder.spans() if s.kind is SpanKind.SERVER]
    doc = assert_valid_document(to_document(server, OPTIONS))
    assert "type" not in doc
    assert doc["name"] == "test-service"
    assert doc["http"] == {
        "request": {
            "method": "GET",
            "url": "http://localhost/items/7",
            "user_agent": "pytest-agent/1",
            "client_ip": "127.0.0.1",
        },
        "response": {"status": 200},
    }


def test_real_flask_server_span_repeats_no_http_key_in_metadata(
    recorder: SpanRecorder, flask_app: Flask
) -> None:
    flask_app.test_client().get("/items/7?token=secret", headers={"User-Agent": "agent/1"})
    (server,) = [s for s in recorder.spans() if s.kind is SpanKind.SERVER]
    doc = assert_valid_document(to_document(server, OPTIONS))
    default = doc.get("metadata", {}).get("default", {})
    assert not BLOCK_KEYS & set(default), default
    assert "secret" not in str(doc)


def test_real_flask_server_span_client_ip_from_captured_forwarded_for(
    recorder: SpanRecorder, flask_app: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    capture = "OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_SERVER_REQUEST"
    monkeypatch.setenv(capture, "X-Forwarded-For")
    flask_app.test_client().get("/items/7", headers={"X-Forwarded-For": "203.0.113.7"})
    (server,) = [s for s in recorder.spans() if s.kind is SpanKind.SERVER]
    doc = assert_valid_document(to_document(server, OPTIONS))
    request = doc["http"]["request"]
    assert (request["client_ip"], request["x_forwarded_for"]) == ("203.0.113.7", True)


def test_real_flask_unhandled_exception_is_a_fault_with_cause(
    recorder: SpanRecorder, flask_app: Flask
) -> None:
    response = flask_app.test_client().get("/boom")
    assert response.status_code == 500
    (server,) = [s for s in recorder.spans() if s.kind is SpanKind.SERVER]
    doc = assert_valid_document(to_document(server, OPTIONS))
    assert doc["fault"] is True and "error" not in doc
    assert doc["http"]["response"]["status"] == 500
    (exception,) = doc["cause"]["exceptions"]
    assert exception["type"] == "RuntimeError"
    assert exception["message"] == "boom, it broke"
    assert exception["stack"][0]["label"] == "boom"
    assert exception["stack"][0]["path"] == __file__


@pytest.mark.parametrize(("url", "expected"), [
    pytest.param("https://h/a?b=1", "https://h/a", id="query"),
    pytest.param("https://h/a#frag", "https://h/a", id="fragment"),
    pytest.param("https://h/a?X-Amz-Signature=abc#f", "https://h/a", id="presigned"),
    pytest.param("https://h/a", "https://h/a", id="none"),
])
def test_strip_query(url: str, expected: str) -> None:
    assert strip_query(url) == expected


@pytest.mark.parametrize(("header", "expected"), [
    pytest.param(("203.0.113.7",), "203.0.113.7", id="captured-list"),
    pytest.param(("203.0.113.7, 10.0.0.2",), "203.0.113.7", id="chain-leftmost"),
    pytest.param(" 203.0.113.7 ", "203.0.113.7", id="text"),
    pytest.param((), None, id="empty-list"),
    pytest.param((" ",), None, id="blank"),
    pytest.param(7, None, id="not-text"),
])
def test_forwarded_client(header: object, expected: Optional[str]) -> None:
    assert forwarded_client(header) == expected


def test_forwarded_for_header_wins_over_socket_peer(recorder: SpanRecorder) -> None:
    span = recorder.span("op", kind=SERVER, attributes={
        "http.method": "GET", "net.peer.ip": "10.0.0.1",
        "http.request.header.x_forwarded_for": ("203.0.113.7",),
    })
    doc = assert_valid_document(to_document(span, OPTIONS))
    assert doc["http"]["request"] == {
        "method": "GET", "client_ip": "203.0.113.7", "x_forwarded_for": True,
    }
    assert "metadata" not in doc


def test_http_keys_stay_in_metadata_on_a_span_without_http_request(
    recorder: SpanRecorder,
) -> None:
    span = recorder.span("op", parent="local", attributes={"net.peer.port": 5432})
    doc = to_document(span, OPTIONS)
    assert doc["metadata"]["default"] == {"net.peer.port": 5432}
