"""A test X-Ray daemon: a real UDP socket on loopback that parses datagrams like the daemon.

Import the fixtures into a test module::

    from tests.support.udp import udp_listener, udp_listener_v6

Each datagram is split with :func:`otel_xray.emit.protocol.split_datagram` (header line,
then body) and the body parsed as strict JSON (``NaN``/``Infinity`` rejected). Accepted
documents land in ``.documents``; rejected datagrams in ``.errors`` (one string each).
"""

from __future__ import annotations

import collections
import contextlib
import json
import select
import socket
import threading
import time
from typing import Any, Deque, Dict, Iterator, List, Optional, Tuple

import pytest

from otel_xray.emit.protocol import split_datagram

#: The receive buffer: larger than any UDP payload, so nothing is ever truncated.
RECEIVE_BUFFER_BYTES = 65_535
# Ask the kernel for a large socket buffer so bursts from the tests are not dropped
# (Linux caps it at net.core.rmem_max).
_SOCKET_BUFFER_BYTES = 8 * 1024 * 1024
_POLL_SECONDS = 0.005
#: Most datagram bytes one listener keeps. A test that sends without bound then fails
#: (see ``overflowed``) instead of filling the machine's memory.
MAX_KEPT_BYTES = 256 * 1024 * 1024


class UdpListener:
    """Receives datagrams on ``host`` in a background thread until :meth:`close`.

    The receiving thread only copies datagrams out of the kernel (UDP drops what does not
    fit the socket buffer, so it must keep up with bursts); they are parsed when a test
    reads ``documents``, ``datagrams``, ``errors``, ``sources`` or calls ``wait_for``.

    ``port`` 0 picks a free port; a test can bind a fixed one to play a daemon that
    comes back on the address it had.
    """

    def __init__(
        self, host: str = "127.0.0.1", family: int = socket.AF_INET, port: int = 0
    ) -> None:
        self._documents: List[Dict[str, Any]] = []
        self._datagrams: List[bytes] = []
        self._errors: List[str] = []
        self._sources: List[Tuple[Any, ...]] = []
        self._received: Deque[Tuple[bytes, Tuple[Any, ...]]] = collections.deque()
        self._parse_lock = threading.Lock()
        self._stop = threading.Event()
        #: Datagrams received but not kept because ``MAX_KEPT_BYTES`` was reached.
        self.overflowed = 0
        self._sock = socket.socket(family, socket.SOCK_DGRAM)
        with contextlib.suppress(OSError):
            self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, _SOCKET_BUFFER_BYTES)
        self._sock.bind((host, port))
        self._sock.setblocking(False)
        self.host = host
        self.port: int = self._sock.getsockname()[1]
        bracketed = f"[{host}]" if ":" in host else host
        self.address = f"{bracketed}:{self.port}"
        self._thread = threading.Thread(target=self._run, name="udp-listener", daemon=True)
        self._thread.start()

    @property
    def documents(self) -> List[Dict[str, Any]]:
        """The parsed documents, in arrival order."""
        self._parse_received()
        return self._documents

    @property
    def datagrams(self) -> List[bytes]:
        """Every datagram as received (accepted or not), in arrival order."""
        self._parse_received()
        return self._datagrams

    @property
    def errors(self) -> List[str]:
        """Why each rejected datagram was rejected."""
        self._parse_received()
        return self._errors

    @property
    def sources(self) -> List[Tuple[Any, ...]]:
        """The sender's socket address of each datagram, in the order of ``datagrams``."""
        self._parse_received()
        return self._sources

    @property
    def dropped(self) -> int:
        """Datagrams the kernel dropped because the receive buffer was full (Linux; else 0).

        UDP loses what a receiver cannot buffer; a test that fails waiting for documents
        says how many were dropped, so a burst too big for the buffer is easy to tell
        from a bug.
        """
        table = "/proc/net/udp6" if self._sock.family == socket.AF_INET6 else "/proc/net/udp"
        return _kernel_drops(table, self.port)

    def wait_for(self, count: int, timeout: float = 10.0) -> List[Dict[str, Any]]:
        """Wait until at least ``count`` documents arrived; return them all.

        Fails the test (with what did arrive) when the timeout passes first.
        """
        deadline = time.monotonic() + timeout
        while len(self.documents) < count and time.monotonic() < deadline:
            time.sleep(_POLL_SECONDS)
        if len(self.documents) >= count:
            return list(self.documents)
        pytest.fail(
            f"expected at least {count} documents on {self.address} within {timeout} s; "
            f"got {len(self.documents)} documents from {len(self.datagrams)} datagrams, "
            f"errors: {self.errors[:5]}, dropped by the kernel (buffer full): {self.dropped}, "
            f"not kept (over {MAX_KEPT_BYTES} bytes): {self.overflowed}"
        )

    def span_ids(self) -> List[str]:
        """Every ``id`` in every document, nested subsegments included, in arrival order."""
        ids: List[str] = []
        for document in list(self.documents):
            _collect_ids(document, ids)
        return ids

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5.0)
        self._sock.close()

    def _run(self) -> None:
        # Only copy datagrams out of the kernel here: anything slower loses bursts.
        sock, received = self._sock, self._received
        kept = 0
        while not self._stop.is_set():
            try:
                datagram = sock.recvfrom(RECEIVE_BUFFER_BYTES)
            except (BlockingIOError, InterruptedError):
                select.select([sock], [], [], 0.05)
                continue
            except OSError:
                time.sleep(_POLL_SECONDS)
                continue
            kept += len(datagram[0])
            if kept > MAX_KEPT_BYTES:
                self.overflowed += 1
            else:
                received.append(datagram)

    def _parse_received(self) -> None:
        with self._parse_lock:
            # Only what is queued now: the receiving thread may append faster than this
            # parses, and draining "until empty" would then never return.
            for _ in range(len(self._received)):
                data, source = self._received.popleft()
                self._datagrams.append(data)
                self._sources.append(source)
                document, error = _parse(data)
                if document is not None:
                    self._documents.append(document)
                if error is not None:
                    self._errors.append(error)


def _parse(data: bytes) -> Tuple[Optional[Dict[str, Any]], Optional[str]]:
    """Parse a datagram as the daemon would: (document, None) or (None, reason)."""
    try:
        _, body = split_datagram(data)
        parsed = json.loads(body, parse_constant=_reject_constant)
    except ValueError as exc:  # includes JSONDecodeError and UnicodeDecodeError
        return None, f"{exc} (datagram starts {data[:100]!r})"
    if not isinstance(parsed, dict):
        return None, f"body is not a JSON object: {body[:100]!r}"
    return parsed, None


def _reject_constant(name: str) -> Any:
    raise ValueError(f"non-standard JSON constant {name} in body")


def _collect_ids(document: Dict[str, Any], ids: List[str]) -> None:
    if "id" in document:
        ids.append(document["id"])
    for child in document.get("subsegments", ()):
        if isinstance(child, dict):
            _collect_ids(child, ids)


def _kernel_drops(table: str, port: int) -> int:
    """The ``drops`` column of the socket bound to ``port`` in /proc/net/udp[6]."""
    try:
        with open(table) as lines:
            next(lines)  # header
            for line in lines:
                fields = line.split()
                if int(fields[1].rsplit(":", 1)[1], 16) == port:
                    return int(fields[-1])
    except (OSError, ValueError, IndexError, StopIteration):
        pass
    return 0


def _ipv6_loopback_available() -> bool:
    if not socket.has_ipv6:
        return False
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as probe:
            probe.bind(("::1", 0))
    except OSError:
        return False
    return True


def _fail_if_overflowed(listener: UdpListener) -> None:
    if listener.overflowed:
        pytest.fail(
            f"the test sent more than {MAX_KEPT_BYTES} bytes to {listener.address} "
            f"({listener.overflowed} datagrams not kept): it must send a bounded amount"
        )


@pytest.fixture
def udp_listener() -> Iterator[UdpListener]:
    """A test daemon on ``127.0.0.1`` (free port); ``.address`` is ``"127.0.0.1:PORT"``."""
    listener = UdpListener()
    try:
        yield listener
    finally:
        listener.close()
    _fail_if_overflowed(listener)


@pytest.fixture
def udp_listener_v6() -> Iterator[UdpListener]:
    """A test daemon on ``::1``; ``.address`` is ``"[::1]:PORT"``. Skipped without IPv6."""
    if not _ipv6_loopback_available():
        pytest.skip("IPv6 loopback (::1) is not available")
    listener = UdpListener("::1", socket.AF_INET6)
    try:
        yield listener
    finally:
        listener.close()
    _fail_if_overflowed(listener)
