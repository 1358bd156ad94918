"""One small application, traced by ``aws-xray-sdk`` or by otel-xray: the parity suite runs it
once with each, in its own process, and compares what reached the daemon.

``python -m tests.integration.parity.apps.service SDK MODE PORT``

- ``SDK``: ``native`` (``aws-xray-sdk``: ``xray_recorder.configure``, ``patch``,
  ``XRayMiddleware``) or ``otel`` (``otel_xray.configure`` and the OpenTelemetry
  instrumentations, exactly as docs/migration.md shows them).
- ``MODE``: ``server`` serves the Flask app on 127.0.0.1:PORT, prints ``READY``, and on
  the line ``job`` on stdin runs the worker job (no HTTP), then prints ``DONE``; on
  end of input it flushes and exits. ``lambda`` runs the Lambda handler once with the
  invocation's ``_X_AMZN_TRACE_ID`` (``PORT`` unused) and exits.

Environment: ``AWS_XRAY_DAEMON_ADDRESS`` (the test's UDP listener), ``MOTO_ENDPOINT``,
``DOWNSTREAM_URL`` (the second service), fake AWS credentials and region.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import contextvars
import importlib
import os
import sqlite3
import sys
import threading
from typing import Any, Callable, Dict, List

import boto3
import flask
import requests
from botocore.exceptions import ClientError

SERVICE = "parity-app"
JOB = "nightly-job"
TABLE = "orders"
BUCKET = "parity-bucket"


def _native(app: flask.Flask | None) -> Callable[[Callable[[], None]], Callable[[], None]]:
    """aws-xray-sdk set up as its docs show; returns how a thread gets the request's entity."""
    from aws_xray_sdk.core import patch, xray_recorder

    on_lambda = bool(os.environ.get("AWS_LAMBDA_FUNCTION_NAME"))
    xray_recorder.configure(
        service=SERVICE, sampling=False, context_missing="LOG_ERROR",
        plugins=() if on_lambda else ("ECSPlugin",),
    )
    patch(("botocore", "requests", "sqlite3"))
    if app is not None:
        from aws_xray_sdk.ext.flask.middleware import XRayMiddleware

        XRayMiddleware(app, xray_recorder)

    def in_thread(work: Callable[[], None]) -> Callable[[], None]:
        entity = xray_recorder.get_trace_entity()

        def run() -> None:
            xray_recorder.set_trace_entity(entity)
            work()

        return run

    return in_thread


def _otel(app: flask.Flask | None) -> Callable[[Callable[[], None]], Callable[[], None]]:
    """otel-xray set up as docs/migration.md shows; returns how a thread gets the context."""
    from opentelemetry.instrumentation.botocore import BotocoreInstrumentor
    from opentelemetry.instrumentation.requests import RequestsInstrumentor
    from opentelemetry.instrumentation.sqlite3 import SQLite3Instrumentor

    import otel_xray

    otel_xray.configure(None if os.environ.get("AWS_LAMBDA_FUNCTION_NAME") else SERVICE)
    BotocoreInstrumentor().instrument()
    RequestsInstrumentor().instrument()
    SQLite3Instrumentor().instrument()
    if app is not None:
        from opentelemetry.instrumentation.flask import FlaskInstrumentor

        FlaskInstrumentor().instrument_app(app)

    def in_thread(work: Callable[[], None]) -> Callable[[], None]:
        context = contextvars.copy_context()
        return lambda: context.run(work)

    return in_thread


def _clients() -> Dict[str, Any]:
    endpoint = os.environ["MOTO_ENDPOINT"]
    return {
        "dynamodb": boto3.client("dynamodb", endpoint_url=endpoint),
        "s3": boto3.client("s3", endpoint_url=endpoint),
    }


def _prepare(clients: Dict[str, Any]) -> None:
    """Create the table and bucket before tracing starts (idempotent: both runs share moto)."""
    with contextlib.suppress(ClientError):
        clients["dynamodb"].create_table(
            TableName=TABLE, BillingMode="PAY_PER_REQUEST",
            KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        )
    with contextlib.suppress(ClientError):
        clients["s3"].create_bucket(Bucket=BUCKET)


def _app(clients: Dict[str, Any]) -> flask.Flask:
    app = flask.Flask(SERVICE)
    downstream = os.environ["DOWNSTREAM_URL"]
    lock = threading.Lock()
    databases: List[Any] = []

    def database() -> Any:
        """Connected on first use: after the SDK patched sqlite3, as an app's pool would."""
        if not databases:
            connection = sqlite3.connect(":memory:", check_same_thread=False)
            databases.append(connection)
            cursor = connection.cursor()
            cursor.execute("CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT)")
            cursor.execute("INSERT INTO items VALUES (7, 'lamp')")
        return databases[0]

    @app.route("/items/<int:item>")
    def item(item: int) -> str:
        clients["dynamodb"].get_item(TableName=TABLE, Key={"id": {"S": str(item)}})
        clients["s3"].put_object(Bucket=BUCKET, Key=f"items/{item}.json", Body=b"{}")
        answer = requests.get(f"{downstream}/price?item={item}&token=secret", timeout=10)
        with lock:
            cursor = database().cursor()
            cursor.execute("SELECT name FROM items WHERE id = ?", (item,))
            (name,) = cursor.fetchone()
        return f"{name} {answer.text}"

    @app.route("/fail")
    def fail() -> str:
        try:
            clients["dynamodb"].get_item(TableName="missing", Key={"id": {"S": "1"}})
        except ClientError as error:
            raise RuntimeError("order lookup failed") from error
        return "unreachable"

    @app.route("/fanout")
    def fanout() -> str:
        def head() -> None:
            clients["s3"].head_bucket(Bucket=BUCKET)

        with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
            for future in [pool.submit(IN_THREAD[0](head)) for _ in range(2)]:
                future.result()
        return "fanned out"

    @app.route("/async")
    async def async_route() -> str:
        await asyncio.sleep(0)
        clients["s3"].head_bucket(Bucket=BUCKET)
        return "async"

    return app


#: How a worker thread gets the request's trace context; set by the SDK's setup.
IN_THREAD: List[Callable[[Callable[[], None]], Callable[[], None]]] = []


def _job(sdk: str, clients: Dict[str, Any]) -> None:
    """A worker loop's unit of work: no HTTP request around it."""
    if sdk == "native":
        from aws_xray_sdk.core import xray_recorder

        xray_recorder.begin_segment(JOB)
        try:
            clients["dynamodb"].scan(TableName=TABLE)
        finally:
            xray_recorder.end_segment()
    else:
        from opentelemetry import trace

        with trace.get_tracer("parity").start_as_current_span(JOB):
            clients["dynamodb"].scan(TableName=TABLE)


def _flush(sdk: str) -> None:
    if sdk == "otel":
        from opentelemetry import trace

        provider: Any = trace.get_tracer_provider()
        provider.shutdown()


def serve(sdk: str, port: int) -> None:
    from werkzeug.serving import make_server

    clients = _clients()
    _prepare(clients)
    app = _app(clients)
    IN_THREAD.append((_native if sdk == "native" else _otel)(app))
    server = make_server("127.0.0.1", port, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    print("READY", flush=True)
    for line in sys.stdin:
        if line.strip() == "job":
            _job(sdk, clients)
            print("DONE", flush=True)
    server.shutdown()
    _flush(sdk)


class _LambdaContext:
    function_name = "parity-function"
    function_version = "$LATEST"
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:parity-function"
    memory_limit_in_mb = 128
    aws_request_id = "request-1"
    log_group_name = "/aws/lambda/parity-function"
    log_stream_name = "2026/01/01/[$LATEST]abc"


def handler(event: Dict[str, Any], context: Any) -> Dict[str, Any]:
    clients = _clients()
    clients["dynamodb"].get_item(TableName=TABLE, Key={"id": {"S": "7"}})
    return {"statusCode": 200}


def run_lambda(sdk: str) -> None:
    _prepare(_clients())
    # Another service's trace arrives in the event (API Gateway with a traceparent header).
    event = {"headers": {
        "traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
    }}
    if sdk == "native":
        _native(None)
        handler(event, _LambdaContext())
    else:
        _otel(None)
        from opentelemetry.instrumentation.aws_lambda import AwsLambdaInstrumentor

        AwsLambdaInstrumentor().instrument()
        # The instrumentation wraps the handler _HANDLER names, in its module (not __main__).
        module = importlib.import_module("tests.integration.parity.apps.service")
        module.handler(event, _LambdaContext())
    _flush(sdk)


def main() -> None:
    sdk, mode, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
    if mode == "lambda":
        run_lambda(sdk)
    else:
        serve(sdk, port)


if __name__ == "__main__":
    main()
