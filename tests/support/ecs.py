"""A real HTTP server on loopback, and the ECS task metadata endpoint (v4) it can play.

``ECS_CONTAINER_METADATA_URI_V4`` pointed at ``<url>/v4/container`` makes the AWS resource
detector read :data:`ECS_CONTAINER` and :data:`ECS_TASK` from it, as on an ECS task.
"""

from __future__ import annotations

import contextlib
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Iterator

ECS_CONTAINER = {"ContainerARN": "arn:aws:ecs:us-west-2:123456789012:container/orders/abc/app",
                 "LogDriver": "json-file"}
ECS_TASK = {"TaskARN": "arn:aws:ecs:us-west-2:123456789012:task/orders/abc",
            "Cluster": "orders", "LaunchType": "FARGATE", "Family": "api", "Revision": "7"}


def ecs_metadata(path: str) -> bytes:
    """The v4 endpoint's answer for ``path`` (``…/task`` or the container itself)."""
    return json.dumps(ECS_TASK if path.endswith("/task") else ECS_CONTAINER).encode()


@contextlib.contextmanager
def loopback_http(answer: Callable[[str], bytes]) -> Iterator[str]:
    """Serve ``GET`` on 127.0.0.1 (free port) with ``answer(path)``; yields the base URL."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = answer(self.path)
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
