"""Invoke ``lambda_handler.handler`` as the AWS Lambda runtime would, on this machine.

Sets the variables the runtime sets (function name, handler, a fresh ``_X_AMZN_TRACE_ID``
per invocation), imports the handler module and invokes it twice. The documents go to
``AWS_XRAY_DAEMON_ADDRESS`` (default 127.0.0.1:2000)::

    otel-xray listen &
    python examples/lambda_local.py

Each invocation shows up as a subsegment whose parent (the segment the Lambda service would
record) is not received locally.
"""

from __future__ import annotations

import os
import random
import sys
import time
from pathlib import Path
from types import SimpleNamespace

sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("AWS_LAMBDA_FUNCTION_NAME", "otel-xray-example")
os.environ.setdefault("AWS_REGION", "us-east-1")
os.environ["_HANDLER"] = "lambda_handler.handler"


def trace_header() -> str:
    """A header like the one Lambda gives each sampled invocation."""
    root = f"1-{int(time.time()):08x}-{random.getrandbits(96):024x}"
    return f"Root={root};Parent={random.getrandbits(64):016x};Sampled=1"


def main() -> None:
    import lambda_handler

    for request, customer in enumerate(("alice", "bob")):
        os.environ["_X_AMZN_TRACE_ID"] = header = trace_header()
        context = SimpleNamespace(
            aws_request_id=f"request-{request}",
            invoked_function_arn="arn:aws:lambda:us-east-1:123456789012:function:"
            + os.environ["AWS_LAMBDA_FUNCTION_NAME"],
            function_name=os.environ["AWS_LAMBDA_FUNCTION_NAME"],
        )
        event = {"customer": customer, "items": [{"price": "9.5"}, {"price": "3"}]}
        result = lambda_handler.handler(event, context)
        print(f"{header} -> {result}")


if __name__ == "__main__":
    main()
