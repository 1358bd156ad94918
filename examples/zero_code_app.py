r"""A Flask service with no tracing code at all: ``opentelemetry-instrument`` adds it.

With the otel-xray distro (it configures everything: X-Ray ids, propagator, processor)::

    pip install -e . flask opentelemetry-distro opentelemetry-instrumentation-flask
    otel-xray listen &
    OTEL_PYTHON_DISTRO=otel_xray OTEL_SERVICE_NAME=zero-code-example \
        opentelemetry-instrument python examples/zero_code_app.py
    curl http://127.0.0.1:8000/hello/world

Or with OpenTelemetry's own distro, choosing the X-Ray parts by environment variables::

    OTEL_PYTHON_DISTRO=distro OTEL_PYTHON_CONFIGURATOR=configurator \
        OTEL_TRACES_EXPORTER=otel_xray OTEL_METRICS_EXPORTER=none OTEL_LOGS_EXPORTER=none \
        OTEL_PROPAGATORS=tracecontext,baggage,otel_xray OTEL_PYTHON_ID_GENERATOR=otel_xray \
        OTEL_SERVICE_NAME=zero-code-example \
        opentelemetry-instrument python examples/zero_code_app.py

Environment: ``PORT`` (default 8000), ``AWS_XRAY_DAEMON_ADDRESS`` (default 127.0.0.1:2000).
"""

from __future__ import annotations

import os
from typing import Dict

from flask import Flask

app = Flask(__name__)


@app.route("/hello/<name>")
def hello(name: str) -> Dict[str, str]:
    return {"hello": name}


if __name__ == "__main__":
    app.run(host="127.0.0.1", port=int(os.environ.get("PORT", "8000")))
