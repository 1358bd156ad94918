"""Send documents to the X-Ray daemon (or the CloudWatch agent's X-Ray listener) over UDP."""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import select
import socket
import threading
import time
import weakref
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

from .._diag import Counters, RateLimitedLog
from .address import DaemonAddress, daemon_address
from .protocol import DEFAULT_MAX_DOCUMENT_BYTES, HEADER, MAX_UDP_PAYLOAD

_log = logging.getLogger("otel_xray.emit.udp")

#: Largest document that fits one datagram together with the header.
_MAX_DATAGRAM_DOCUMENT = MAX_UDP_PAYLOAD - len(HEADER)
# A full socket buffer is waited out briefly: the worker must never block for long.
_FULL_BUFFER_WAIT = 0.05
_FULL_BUFFER_BUDGET = 0.5
_TRANSIENT_ERRNOS = frozenset(
    code
    for code in (
        getattr(errno, "EAGAIN", None),
        getattr(errno, "EWOULDBLOCK", None),
        getattr(errno, "ENOBUFS", None),
    )
    if code is not None
)

# The descriptor itself is unusable (closed under us, or never connected): reopen.
_BROKEN_SOCKET_ERRNOS = frozenset(
    code
    for code in (
        getattr(errno, name, None)
        for name in ("EBADF", "ENOTSOCK", "ENOTCONN", "EPIPE", "EDESTADDRREQ")
    )
    if code is not None
)

GetAddrInfo = Callable[..., List[Tuple[Any, ...]]]

# Every live emitter, so that a forked child can drop its parent's socket and locks at once.
_EMITTERS: weakref.WeakSet[UdpEmitter] = weakref.WeakSet()


class UdpEmitter:
    """Sends each document as one datagram (``HEADER`` + document) to the X-Ray daemon.

    ``address`` uses the daemon syntax (``host:port`` or ``tcp:host:port udp:host:port``);
    when it is ``None`` ``AWS_XRAY_DAEMON_ADDRESS`` is used, else ``127.0.0.1:2000``. A
    malformed address raises ``ValueError`` here; everything after construction is
    counted in :meth:`stats` and logged (rate-limited), never raised.

    The host is resolved on the first send and again after a send failure (at most once
    every ``reresolve_interval`` seconds), so a daemon that moves to a new address is
    found again. Host names that resolve to IPv4 and IPv6 use IPv4, like the native SDKs.
    ``getaddrinfo`` can be replaced (same signature as :func:`socket.getaddrinfo`), e.g.
    to resolve through a custom service-discovery mechanism.

    Safe to use from one sending thread while another calls :meth:`close`; after
    ``os.fork()`` the child opens its own socket and starts with fresh counters.
    """

    def __init__(
        self,
        address: Optional[str] = None,
        *,
        reresolve_interval: float = 1.0,
        getaddrinfo: Optional[GetAddrInfo] = None,
    ) -> None:
        self.daemon: DaemonAddress = daemon_address(address)
        self.max_document_bytes: int = DEFAULT_MAX_DOCUMENT_BYTES
        self.reresolve_interval = reresolve_interval
        self._getaddrinfo: GetAddrInfo = getaddrinfo or socket.getaddrinfo
        self._closed = False
        self._sockaddr: Optional[Tuple[Any, ...]] = None
        self._family = socket.AF_INET
        self._last_resolve: Optional[float] = None
        self._resolve_due = True
        self._sock: Optional[socket.socket] = None
        self._reset_process_state()
        _EMITTERS.add(self)

    @property
    def address(self) -> str:
        """The daemon's UDP address, ``host:port``."""
        return self.daemon.udp

    def send(self, documents: Sequence[bytes]) -> List[bool]:
        """Send each document in its own datagram; return, per document, whether the kernel
        took it and no refusal was reported for it. Never raises."""
        try:
            return self._send(documents)
        except Exception:  # a bug here must not reach the application
            self._fail(len(documents), "internal", "unexpected error sending to %s", exc=True)
            return [False] * len(documents)

    def stats(self) -> Dict[str, int]:
        """Counters of this process.

        ``documents_sent`` and ``bytes_sent`` (datagram bytes, header included);
        ``send_errors``: documents lost, also counted by reason as ``send_errors.<reason>``
        (an errno name such as ``EMSGSIZE`` or ``ENOBUFS``; ``ECONNREFUSED`` when nothing
        listens at the daemon's address; ``dns`` while the address does not resolve;
        ``socket`` when no socket could be opened; ``closed`` after :meth:`close`);
        ``oversize_dropped``: documents too big for one
        datagram (a packer bug); ``resolve_errors``: failed name resolutions;
        ``socket_reopened``: sockets replaced after their descriptor broke;
        ``refused_after_send``: datagrams counted as sent that a daemon on another host
        refused later (reported on the next send; X-Ray did not get them).
        """
        counts = {"documents_sent": 0, "bytes_sent": 0, "send_errors": 0, "oversize_dropped": 0}
        counts.update(self._counters.snapshot())
        return counts

    def close(self) -> None:
        """Close the socket. Idempotent; later sends are counted as ``closed``, not raised."""
        with self._lock:
            self._closed = True
            self._close_socket()

    def __repr__(self) -> str:
        return f"UdpEmitter({self.address!r})"

    # -- sending ---------------------------------------------------------------

    def _send(self, documents: Sequence[bytes]) -> List[bool]:
        delivered = [False] * len(documents)
        if not documents:
            return delivered
        if self._pid != os.getpid():  # fork without the at-fork hook (or a race with it)
            self._reset_process_state()
        sent = sent_bytes = 0
        wait_budget = _FULL_BUFFER_BUDGET
        reopened = False
        with self._lock:
            if self._closed:
                self._fail(len(documents), "closed", "send to %s after close()")
                return delivered
            sock = self._ready_socket()
            for index, document in enumerate(documents):
                if sock is None:
                    self._no_socket(len(documents) - index)
                    break
                if len(document) > _MAX_DATAGRAM_DOCUMENT:
                    self._oversize(len(document))
                    continue
                datagram = HEADER + document
                error, wait_budget = self._send_datagram(sock, datagram, wait_budget)
                if error is not None and error.errno in _BROKEN_SOCKET_ERRNOS and not reopened:
                    # Our descriptor was closed or replaced under us: open a new socket and
                    # retry, once per batch so that a persistent failure cannot churn.
                    reopened = True
                    sock = self._reopen(error)
                    if sock is not None:
                        error, wait_budget = self._send_datagram(sock, datagram, wait_budget)
                if error is None:
                    delivered[index] = True
                    sent += 1
                    sent_bytes += len(datagram)
                    continue
                self._fail(1, _reason(error), "sending to %s failed: %s", str(error))
                self._resolve_due = True
                if error.errno in _BROKEN_SOCKET_ERRNOS:
                    self._close_socket()
                    sock = None
        # Counted once per batch: the counters take a lock.
        if sent:
            self._counters.add("documents_sent", sent)
            self._counters.add("bytes_sent", sent_bytes)
        return delivered

    def _send_datagram(
        self, sock: socket.socket, datagram: bytes, wait_budget: float
    ) -> Tuple[Optional[OSError], float]:
        """Send one datagram; return (the error or None, remaining wait budget)."""
        error = _send_checked(sock, datagram)
        if error is None:
            return None, wait_budget
        if error.errno == errno.ECONNREFUSED and not isinstance(error, _Refused):
            # Raised by send(): the refusal belongs to a datagram sent before and counted
            # as sent (the ICMP came back late, from a daemon on another host); this one
            # was not sent. Count the earlier loss and retry once: the daemon may be back.
            self._counters.add("refused_after_send")
            self._resolve_due = True
        elif error.errno in _TRANSIENT_ERRNOS and wait_budget > 0:
            # The socket buffer is full: wait a little for room, within the batch's budget.
            started = time.monotonic()
            select.select([], [sock], [], min(_FULL_BUFFER_WAIT, wait_budget))
            wait_budget -= max(time.monotonic() - started, 0.001)
        else:
            return error, wait_budget
        return _send_checked(sock, datagram), wait_budget

    def _reopen(self, error: OSError) -> Optional[socket.socket]:
        self._counters.add("socket_reopened")
        self._diag.warning(
            "reopen", "the UDP socket to %s broke (%s); opening a new one", self.address, error
        )
        self._close_socket()
        return self._ready_socket()

    def _no_socket(self, count: int) -> None:
        if self._sockaddr is None:
            self._fail(count, "dns", "cannot resolve the daemon address %s")
        else:
            self._fail(count, "socket", "no UDP socket to %s")

    def _oversize(self, size: int) -> None:
        self._counters.add("oversize_dropped")
        self._diag.error(
            "oversize",
            "bug: a document of %d bytes does not fit a UDP datagram (at most %d bytes of "
            "JSON); it was not sent. The packer should have split it; please report this.",
            size,
            _MAX_DATAGRAM_DOCUMENT,
        )

    def _fail(self, count: int, reason: str, msg: str, *args: Any, exc: bool = False) -> None:
        self._counters.add("send_errors", count)
        self._counters.add("send_errors." + reason, count)
        self._diag.warning("send." + reason, msg, self.address, *args, exc_info=exc)

    # -- socket and address ----------------------------------------------------

    def _ready_socket(self) -> Optional[socket.socket]:
        """The connected socket, (re-)resolving the address when due. Holds ``_lock``."""
        if self._resolve_due and self._may_resolve():
            self._resolve()
        if self._sock is None and self._sockaddr is not None:
            self._sock = self._open_socket()
        return self._sock

    def _may_resolve(self) -> bool:
        last = self._last_resolve
        return last is None or time.monotonic() - last >= self.reresolve_interval

    def _resolve(self) -> None:
        self._last_resolve = time.monotonic()
        host, port = self.daemon.udp_host, self.daemon.udp_port
        try:
            infos = self._getaddrinfo(host, port, 0, socket.SOCK_DGRAM)
        except (OSError, UnicodeError) as exc:
            self._counters.add("resolve_errors")
            self._diag.warning("resolve", "cannot resolve %s: %s", self.address, exc)
            return
        if not infos:
            self._counters.add("resolve_errors")
            return
        # Prefer IPv4 like the native SDKs: daemons usually listen on 127.0.0.1 only.
        family, _, _, _, sockaddr = next(
            (info for info in infos if info[0] == socket.AF_INET), infos[0]
        )
        self._resolve_due = False
        if sockaddr != self._sockaddr or family != self._family:
            if self._sockaddr is not None:
                _log.info("daemon address %s now resolves to %s", self.address, sockaddr[0])
            self._close_socket()
            self._sockaddr, self._family = sockaddr, family

    def _open_socket(self) -> Optional[socket.socket]:
        assert self._sockaddr is not None
        sock = None
        try:
            sock = socket.socket(self._family, socket.SOCK_DGRAM)
            sock.setblocking(False)
            # Connected: the kernel routes once, and a missing daemon shows as ECONNREFUSED.
            sock.connect(self._sockaddr)
            return sock
        except OSError as exc:
            if sock is not None:
                sock.close()
            self._resolve_due = True
            self._diag.warning("socket", "cannot open a UDP socket to %s: %s", self.address, exc)
            return None

    def _close_socket(self) -> None:
        sock, self._sock = self._sock, None
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.close()

    def _reset_process_state(self) -> None:
        """Fresh socket, lock and counters for this process (at construction and after fork).

        The parent's lock may have been held by a thread that does not exist in the
        child, and its socket is shared with the parent: neither is used again here.
        """
        self._pid = os.getpid()
        self._lock = threading.Lock()
        self._counters = Counters()
        self._diag = RateLimitedLog(_log)
        # In a child this closes only its copy of the parent's descriptor.
        self._close_socket()


class _Refused(OSError):
    """The destination refused the datagram just sent (read from ``SO_ERROR``)."""


def _send_checked(sock: socket.socket, datagram: bytes) -> Optional[OSError]:
    """Send one datagram; the error, or ``None`` when it went out and nothing refused it.

    A datagram to a port where nothing listens is accepted by ``send`` and refused by
    the destination (ICMP port unreachable). From a daemon on this host the refusal is
    back before ``send`` returns, pending on the socket: reading ``SO_ERROR`` attributes
    it to this very datagram, so a stopped daemon is never counted as "sent".
    """
    try:
        sock.send(datagram)
    except OSError as exc:
        return exc
    pending = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
    if pending:
        return _Refused(pending, os.strerror(pending))
    return None


def _reason(exc: OSError) -> str:
    if isinstance(exc, socket.gaierror):
        return "dns"
    if exc.errno is not None:
        return errno.errorcode.get(exc.errno, f"errno{exc.errno}")
    return type(exc).__name__


def _after_fork_in_child() -> None:
    for emitter in list(_EMITTERS):
        emitter._reset_process_state()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


__all__ = ["UdpEmitter"]
