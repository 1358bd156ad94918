"""``otel-xray demo``: real instrumented services, an embedded listener, their traces.

Everything runs in this process and talks over 127.0.0.1 only:

- an embedded :class:`~otel_xray.cli.listen.Listener` on a free UDP port (the "daemon");
- ``demo-frontend``, a WSGI service whose ``/checkout/<id>`` calls ``demo-orders`` with
  ``urllib`` (the trace context travels in ``traceparent`` and ``X-Amzn-Trace-Id``);
- ``demo-orders``, a WSGI service that queries SQLite and calls DynamoDB ``GetItem`` and
  ``PutItem`` through botocore, against a tiny local stub (fake credentials, set on the
  client only);
- one request for an unknown product fails with an exception (fault).

Each service has its own ``TracerProvider`` with :class:`~otel_xray.XRaySpanProcessor`
sending to the listener over UDP, exactly as an application would send to the daemon.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sqlite3
import sys
import tempfile
import threading
import urllib.error
import urllib.request
from http.client import HTTPConnection
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from socketserver import ThreadingMixIn
from typing import Any, Callable, Dict, Iterable, Iterator, List, Optional, Tuple
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from .assemble import Trace
from .listen import Listener
from .listen_command import Printer, summary_line

WsgiApp = Callable[[Dict[str, Any], Callable[..., Any]], Iterable[bytes]]

#: Product ids the demo's driver orders; the last one does not exist (a fault).
ORDERS = ("42", "7", "999")
_PRODUCTS = {"42": ("towel", 12.5), "7": ("guide", 42.0)}
_REGION = "us-east-1"
_TABLE = "demo-orders"
_DOCUMENT_WAIT_SECONDS = 10.0


def add_demo_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--json", action="store_true",
        help="print the raw documents (one JSON object per line) instead of waterfalls",
    )
    parser.set_defaults(run=run_demo)


def run_demo(args: argparse.Namespace) -> int:
    """Run the demo and print its traces; 0 when every document was valid."""
    out, err = sys.stdout, sys.stderr
    printer = Printer(out, err, json_mode=args.json)
    traces: List[Tuple[Trace, List[str]]] = []
    listener = Listener(("127.0.0.1", 0), quiet_after=3600, on_datagram=printer.datagram,
                        on_trace=lambda trace, warnings: traces.append((trace, warnings)))
    with contextlib.closing(listener):
        listener.start()
        printer.say(f"otel-xray demo: an embedded X-Ray listener is on udp {listener.address}")
        try:
            with _Workload(listener.address) as demo:
                for product in ORDERS:
                    status = demo.checkout(product)
                    printer.say(f"  GET /checkout/{product} -> {status}")
        except ImportError as exc:
            err.write(f"otel-xray demo needs the demo extra: pip install 'otel-xray[demo]' "
                      f"({exc})\n")
            return 1
        # The providers were shut down (everything sent); give the datagrams a moment.
        listener.wait_idle(idle=0.2, timeout=_DOCUMENT_WAIT_SECONDS)
        listener.flush()
    printer.say("")
    for trace, warnings in traces:
        printer.trace(trace, warnings)
    stats = listener.stats
    printer.say(f"otel-xray demo: {summary_line(stats)}")
    if stats.problems or stats.traces < len(ORDERS):
        printer.say("otel-xray demo: FAILED: expected one valid trace per request")
        return 1
    return 0


class _Workload:
    """The two demo services, their instrumentation, and the DynamoDB stub."""

    def __init__(self, daemon_address: str) -> None:
        self.daemon_address = daemon_address
        self._stack = contextlib.ExitStack()
        self.frontend_url = ""

    def __enter__(self) -> _Workload:
        try:
            self._start()
        except BaseException:
            self._stack.close()
            raise
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stack.close()

    def checkout(self, product: str) -> int:
        """GET the frontend's checkout page like a browser would (not instrumented)."""
        host, _, port = self.frontend_url.rpartition("/")[2].partition(":")
        connection = HTTPConnection(host, int(port), timeout=10)
        try:
            connection.request("GET", f"/checkout/{product}")
            response = connection.getresponse()
            response.read()
            return response.status
        finally:
            connection.close()

    # -- setup -------------------------------------------------------------------------

    def _start(self) -> None:
        from opentelemetry import propagate
        from opentelemetry.baggage.propagation import W3CBaggagePropagator
        from opentelemetry.propagators.composite import CompositePropagator
        from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

        from ..propagation import XRayPropagator

        stack = self._stack
        # Only 127.0.0.1 is ever contacted: keep any configured proxy out of the way.
        stack.enter_context(_environment(NO_PROXY="127.0.0.1,localhost",
                                          no_proxy="127.0.0.1,localhost"))
        previous = propagate.get_global_textmap()
        propagate.set_global_textmap(CompositePropagator([
            TraceContextTextMapPropagator(), W3CBaggagePropagator(), XRayPropagator(),
        ]))
        stack.callback(propagate.set_global_textmap, previous)

        frontend = self._provider("demo-frontend")
        orders = self._provider("demo-orders")
        database = self._database()
        dynamodb_url = self._serve_http(_DynamoDbStub)
        self._instrument(frontend, orders)
        orders_url = self._serve_wsgi(_orders_app(database, dynamodb_url), orders)
        self.frontend_url = self._serve_wsgi(_frontend_app(orders_url), frontend)

    def _provider(self, service_name: str) -> Any:
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider

        from ..config import TranslateOptions
        from ..emit.udp import UdpEmitter
        from ..ids import XRayIdGenerator
        from ..processor import XRaySpanProcessor

        provider = TracerProvider(
            resource=Resource.create({"service.name": service_name}),
            id_generator=XRayIdGenerator(),
        )
        processor = XRaySpanProcessor(
            UdpEmitter(self.daemon_address), options=TranslateOptions(lambda_mode=False)
        )
        provider.add_span_processor(processor)
        self._stack.callback(provider.shutdown)  # flushes: every span is sent
        return provider

    def _instrument(self, frontend: Any, orders: Any) -> None:
        from opentelemetry.instrumentation.botocore import BotocoreInstrumentor
        from opentelemetry.instrumentation.sqlite3 import SQLite3Instrumentor
        from opentelemetry.instrumentation.urllib import URLLibInstrumentor

        # (Typed as Any: not every instrumentation package ships type information.)
        instrumentors: List[Tuple[Any, Any]] = [
            (URLLibInstrumentor, frontend),
            (BotocoreInstrumentor, orders),
            (SQLite3Instrumentor, orders),
        ]
        for cls, provider in instrumentors:
            instrumentor = cls()
            instrumentor.instrument(tracer_provider=provider)
            self._stack.callback(instrumentor.uninstrument)

    def _database(self) -> str:
        """A SQLite file with the products (made before sqlite3 is instrumented)."""
        directory = self._stack.enter_context(tempfile.TemporaryDirectory(prefix="otel-xray-"))
        path = os.path.join(directory, "shop.db")
        with contextlib.closing(sqlite3.connect(path)) as connection, connection:
            connection.execute("CREATE TABLE products (id TEXT PRIMARY KEY, name TEXT, price REAL)")
            connection.executemany(
                "INSERT INTO products VALUES (?, ?, ?)",
                [(key, name, price) for key, (name, price) in _PRODUCTS.items()],
            )
        return path

    def _serve_http(self, handler: type) -> str:
        server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        return self._run_server(server)

    def _serve_wsgi(self, app: WsgiApp, provider: Any) -> str:
        from opentelemetry.instrumentation.wsgi import OpenTelemetryMiddleware

        traced = OpenTelemetryMiddleware(app, tracer_provider=provider)
        server = make_server("127.0.0.1", 0, traced, server_class=_ThreadingWsgiServer,
                             handler_class=_QuietWsgiHandler)
        return self._run_server(server)

    def _run_server(self, server: Any) -> str:
        server.daemon_threads = True
        thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                                  name="otel-xray-demo-server", daemon=True)
        thread.start()
        self._stack.callback(server.server_close)
        self._stack.callback(server.shutdown)
        host, port = server.server_address[:2]
        return f"http://{host}:{port}"


# -- the two services -------------------------------------------------------------------


def _frontend_app(orders_url: str) -> WsgiApp:
    from opentelemetry import trace

    from ..span_helpers import annotate

    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    def app(environ: Dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        product = environ.get("PATH_INFO", "").rpartition("/")[2]
        annotate(trace.get_current_span(), "product_id", product)
        try:
            with opener.open(f"{orders_url}/orders/{product}", timeout=10) as response:
                body = response.read()
            status = "200 OK"
        except urllib.error.HTTPError as exc:
            exc.close()
            body, status = b'{"error":"orders service failed"}', "502 Bad Gateway"
        start_response(status, [("Content-Type", "application/json")])
        return [body]

    return app


def _orders_app(database: str, dynamodb_url: str) -> WsgiApp:
    import botocore.session
    from opentelemetry import trace
    from opentelemetry.trace import Status, StatusCode

    from ..span_helpers import put_metadata

    client = botocore.session.get_session().create_client(
        "dynamodb", region_name=_REGION, endpoint_url=dynamodb_url,
        aws_access_key_id="demo", aws_secret_access_key="demo",  # never real credentials
    )

    def app(environ: Dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        span = trace.get_current_span()
        product = environ.get("PATH_INFO", "").rpartition("/")[2]
        try:
            with contextlib.closing(sqlite3.connect(database)) as connection:
                cursor = connection.cursor()  # cursors are traced, Connection.execute is not
                cursor.execute("SELECT name, price FROM products WHERE id = ?", (product,))
                row = cursor.fetchone()
            if row is None:
                raise LookupError(f"no product {product!r}")
            key = {"id": {"S": product}}
            client.get_item(TableName=_TABLE, Key=key)
            client.put_item(TableName=_TABLE, Item={**key, "name": {"S": row[0]}})
        except LookupError as exc:
            span.record_exception(exc)
            span.set_status(Status(StatusCode.ERROR, str(exc)))
            start_response("500 Internal Server Error", [("Content-Type", "application/json")])
            return [json.dumps({"error": str(exc)}).encode()]
        put_metadata(span, "order", {"product": product, "name": row[0], "price": row[1]})
        start_response("200 OK", [("Content-Type", "application/json")])
        return [json.dumps({"product": product, "name": row[0]}).encode()]

    return app


class _DynamoDbStub(BaseHTTPRequestHandler):
    """Answers DynamoDB JSON-protocol calls (GetItem, PutItem) like the real service."""

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        request = json.loads(self.rfile.read(length) or b"{}")
        operation = (self.headers.get("X-Amz-Target") or "").rpartition(".")[2]
        if operation == "GetItem":
            body: Dict[str, Any] = {"Item": dict(request.get("Key", {}), status={"S": "new"})}
        elif operation == "PutItem":
            body = {}
        else:
            self._reply(400, {"__type": "com.amazon.coral.service#UnknownOperationException"})
            return
        self._reply(200, body)

    def _reply(self, status: int, body: Dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/x-amz-json-1.0")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("x-amzn-RequestId", f"demo-{os.urandom(8).hex()}")
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # the demo prints traces, not access logs


class _ThreadingWsgiServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietWsgiHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextlib.contextmanager
def _environment(**values: str) -> Iterator[None]:
    saved: Dict[str, Optional[str]] = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


__all__ = ["ORDERS", "add_demo_arguments", "run_demo"]
