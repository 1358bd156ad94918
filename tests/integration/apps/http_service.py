"""A tiny Flask service for the end-to-end tests, set up with ``otel_xray.configure``.

``python -m tests.integration.apps.http_service NAME DAEMON_ADDRESS [DOWNSTREAM_URL]``

``GET /work`` answers NAME, after calling DOWNSTREAM_URL (with ``requests``) when given.
Prints ``PORT <n>`` once listening; when stdin closes it shuts the provider down (which
flushes every document) and exits.
"""

from __future__ import annotations

import sys
import threading

import flask
import requests
from opentelemetry.instrumentation.flask import FlaskInstrumentor
from opentelemetry.instrumentation.requests import RequestsInstrumentor
from werkzeug.serving import make_server

from otel_xray.bootstrap import configure


def main() -> None:
    name, daemon_address = sys.argv[1], sys.argv[2]
    downstream = sys.argv[3] if len(sys.argv) > 3 else None
    provider = configure(name, daemon_address=daemon_address)
    RequestsInstrumentor().instrument()
    app = flask.Flask(name)
    FlaskInstrumentor().instrument_app(app)

    @app.route("/work")
    def work() -> str:
        if downstream is None:
            return name
        answer = requests.get(downstream, timeout=10)
        return f"{name}>{answer.text}"

    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    print(f"PORT {server.server_port}", flush=True)
    sys.stdin.read()
    server.shutdown()
    provider.shutdown()


if __name__ == "__main__":
    main()
