"""A Flask service traced to AWS X-Ray with otel-xray: one call sets everything up.

Run it (from the repository root)::

    pip install -e . flask opentelemetry-instrumentation-flask
    otel-xray listen &                  # a local X-Ray daemon stand-in (or run the real daemon)
    python examples/flask_app.py        # serves http://127.0.0.1:8000
    curl http://127.0.0.1:8000/orders/42
    curl http://127.0.0.1:8000/orders/0   # fails: a fault with the exception in X-Ray

Environment: ``PORT`` (default 8000), ``AWS_XRAY_DAEMON_ADDRESS`` (default 127.0.0.1:2000).
"""

from __future__ import annotations

import os
from typing import Dict, Union

from flask import Flask
from opentelemetry import trace
from opentelemetry.instrumentation.flask import FlaskInstrumentor

import otel_xray

# The X-Ray id generator, propagator, processor and UDP emitter, installed globally.
otel_xray.configure("flask-example")

app = Flask(__name__)
FlaskInstrumentor().instrument_app(app)
tracer = trace.get_tracer(__name__)


@app.route("/orders/<int:order_id>")
def order(order_id: int) -> Dict[str, Union[int, str]]:
    span = trace.get_current_span()
    otel_xray.annotate(span, "order_id", order_id)  # searchable in X-Ray
    with tracer.start_as_current_span("load-order"):  # a subsegment in the same document
        if order_id == 0:
            raise LookupError("no order 0")
        otel_xray.put_metadata(span, "order", {"id": order_id, "items": 3}, "shop")
    return {"id": order_id, "status": "shipped"}


if __name__ == "__main__":
    app.run(host="127.0.0.1", port=int(os.environ.get("PORT", "8000")))
