"""A UDP sink on 127.0.0.1 that drains datagrams in a separate process.

Every sender in the benchmarks points at the sink, so sends never fail and the receiving
side costs the measured process nothing: the sink runs in its own process (on the other
core) and only counts datagrams and bytes. On request it keeps the datagrams it receives,
so the harness can check what arrived (span ids, header, valid JSON).
"""

from __future__ import annotations

import contextlib
import multiprocessing
import selectors
import socket
import threading
import time
from multiprocessing.connection import Connection
from typing import Any, List, Optional, Tuple

# Large enough that a burst of a whole benchmark pass never overflows the socket buffer.
_RCVBUF = 64 * 1024 * 1024
_SO_RCVBUFFORCE = getattr(socket, "SO_RCVBUFFORCE", 33)


def _open_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:  # root may exceed net.core.rmem_max
        sock.setsockopt(socket.SOL_SOCKET, _SO_RCVBUFFORCE, _RCVBUF)
    except OSError:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, _RCVBUF)
    sock.bind(("127.0.0.1", 0))
    sock.setblocking(False)
    return sock


def _serve(sock: socket.socket, conn: Connection) -> None:
    """The sink process: drain ``sock``; answer commands on ``conn``."""
    count = 0
    size = 0
    keep = False
    kept: List[bytes] = []
    buf = bytearray(70_000)
    view = memoryview(buf)
    selector = selectors.DefaultSelector()
    selector.register(sock, selectors.EVENT_READ, "udp")
    selector.register(conn, selectors.EVENT_READ, "cmd")
    while True:
        for key, _ in selector.select():
            if key.data == "udp":
                while True:
                    try:
                        n = sock.recv_into(buf)
                    except BlockingIOError:
                        break
                    count += 1
                    size += n
                    if keep:
                        kept.append(bytes(view[:n]))
                continue
            command = conn.recv()
            if command == "stats":
                conn.send((count, size))
            elif command == "reset":
                count = size = 0
                kept = []
                conn.send(None)
            elif command == "keep":
                keep = True
                conn.send(None)
            elif command == "take":
                conn.send(kept)
                kept = []
                keep = False
            elif command == "stop":
                conn.send(None)
                sock.close()
                return


class UdpSink:
    """A datagram sink in a child process (or, with ``in_thread``, in a thread).

    The process sink forks: start it before any thread exists. The thread sink shares the
    GIL with the measured code; it is meant for tests that only check what arrives.
    """

    def __init__(self, *, in_thread: bool = False) -> None:
        sock = _open_socket()
        self.port: int = sock.getsockname()[1]
        self.address = f"127.0.0.1:{self.port}"
        self._conn, child = multiprocessing.Pipe()
        self._process: Optional[multiprocessing.process.BaseProcess] = None
        self._thread: Optional[threading.Thread] = None
        if in_thread:
            self._thread = threading.Thread(
                target=_serve, args=(sock, child), name="udp-sink", daemon=True
            )
            self._thread.start()
            return
        ctx = multiprocessing.get_context("fork")
        self._process = ctx.Process(target=_serve, args=(sock, child), daemon=True)
        self._process.start()
        sock.close()  # the child owns it now
        child.close()

    def _ask(self, command: str) -> Any:
        self._conn.send(command)
        return self._conn.recv()

    def stats(self) -> Tuple[int, int]:
        """(datagrams, bytes) received since the last reset."""
        count, size = self._ask("stats")
        return int(count), int(size)

    def reset(self) -> None:
        self._ask("reset")

    def keep(self) -> None:
        """Keep every datagram from now on, until :meth:`take`."""
        self._ask("keep")

    def take(self) -> List[bytes]:
        """The datagrams kept since :meth:`keep`; stops keeping."""
        return list(self._ask("take"))

    def settle(self, expected: Optional[int] = None, quiet: float = 0.05,
               timeout: float = 10.0) -> Tuple[int, int]:
        """Wait until ``expected`` datagrams arrived, or none arrived for ``quiet`` seconds."""
        deadline = time.monotonic() + timeout
        last = self.stats()
        since = time.monotonic()
        while time.monotonic() < deadline:
            if expected is not None and last[0] >= expected:
                return last
            time.sleep(0.005)
            now = self.stats()
            if now != last:
                last, since = now, time.monotonic()
            elif expected is None and time.monotonic() - since >= quiet:
                return last
        return last

    def close(self) -> None:
        """Stop the sink and wait for it. Idempotent."""
        if self._conn.closed:
            return
        with contextlib.suppress(EOFError, OSError):
            self._ask("stop")
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self._process is not None:
            self._process.join(timeout=5)
            if self._process.is_alive():
                self._process.terminate()
        self._conn.close()
