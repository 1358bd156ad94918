"""An uninstrumented Flask service, for running under ``opentelemetry-instrument``.

``python tests/integration/apps/zero_code_app.py [HEADER ...]``

``/front`` calls ``/back`` through ``urllib``. For each HEADER argument the app sends one
request to ``/front`` with that ``X-Amzn-Trace-Id`` (none for an empty argument) and an
``X-Forwarded-For`` through ``http.client``, which no instrumentation touches, and prints the
response's ``X-Amzn-Trace-Id``; then exits: the SDK's exit hook flushes.
"""

from __future__ import annotations

import http.client
import sys
import threading
import urllib.request

import flask
from werkzeug.serving import make_server

app = flask.Flask("zero-code-app")
PORT = 0


@app.route("/front")
def front() -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{PORT}/back", timeout=10) as answer:
        return "front>" + answer.read().decode()


@app.route("/back")
def back() -> str:
    return "back"


def main() -> None:
    global PORT
    server = make_server("127.0.0.1", 0, app, threaded=True)
    PORT = server.server_port
    threading.Thread(target=server.serve_forever, daemon=True).start()
    for header in sys.argv[1:]:
        connection = http.client.HTTPConnection("127.0.0.1", PORT, timeout=10)
        headers = {"X-Forwarded-For": "203.0.113.7"}  # as through a load balancer
        if header:
            headers["X-Amzn-Trace-Id"] = header
        connection.request("GET", "/front", headers=headers)
        answer = connection.getresponse()
        print(answer.status, answer.read().decode(), flush=True)
        print("RESPONSE-TRACE-HEADER", answer.getheader("X-Amzn-Trace-Id"), flush=True)
        connection.close()
    server.shutdown()


if __name__ == "__main__":
    main()
