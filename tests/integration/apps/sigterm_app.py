"""A worker that ends one traced request, says so, and waits to be stopped by a signal.

``python -m tests.integration.apps.sigterm_app DAEMON_ADDRESS {flush,no-flush} [own-handler]``

With ``own-handler`` the app installs its own SIGTERM handler first, which prints
``own handler`` and exits with status 3: configure() must chain to it after flushing.
"""

from __future__ import annotations

import signal
import sys
import time
from types import FrameType
from typing import Optional

from opentelemetry import trace

import otel_xray


def _own_handler(signum: int, frame: Optional[FrameType]) -> None:
    print("own handler", flush=True)
    sys.exit(3)


def main() -> None:
    address, mode = sys.argv[1], sys.argv[2]
    if "own-handler" in sys.argv[3:]:
        signal.signal(signal.SIGTERM, _own_handler)
    otel_xray.configure(
        "sigterm-app", daemon_address=address, flush_on_exit_signals=mode == "flush"
    )
    tracer = trace.get_tracer("sigterm-app")
    with tracer.start_as_current_span("request", kind=trace.SpanKind.SERVER), \
            tracer.start_as_current_span("work"):
        pass
    print("request done", flush=True)
    time.sleep(60)  # the worker's schedule delay is 0.5 s: only a flush sends the trace


if __name__ == "__main__":
    main()
