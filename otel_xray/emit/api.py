"""Send documents straight to the X-Ray API (PutTraceSegments), without a daemon.

Needs botocore: ``pip install 'otel-xray[api]'``.
"""

from __future__ import annotations

import logging
import os
import threading
from typing import Any, Dict, List, Optional, Sequence, Set

import orjson

from .._diag import Counters, RateLimitedLog
from .protocol import DEFAULT_MAX_DOCUMENT_BYTES

_log = logging.getLogger("otel_xray.emit.api")

#: PutTraceSegments takes at most 50 documents per call.
MAX_BATCH_SIZE = 50
#: The API refuses documents over 64 kB.
_API_MAX_DOCUMENT_BYTES = 64 * 1024
# Telemetry must not hold the worker for long: short timeouts, one retry.
_CLIENT_CONFIG = {
    "connect_timeout": 2,
    "read_timeout": 5,
    "retries": {"mode": "standard", "total_max_attempts": 2},
    "user_agent_extra": "otel-xray",
}
_INSTALL_HINT = "ApiEmitter needs botocore: pip install 'otel-xray[api]'"


class SendFailure(Exception):
    """A PutTraceSegments call that failed as a whole; ``reason`` names the counter."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


class BatchEmitter:
    """What the PutTraceSegments transports share: batches of up to 50 documents, the
    64 kB check, unprocessed documents matched back by id, counters and rate-limited logs.

    A subclass makes the call in :meth:`_call` (the API through botocore in
    :class:`ApiEmitter`, the daemon's TCP proxy in :class:`~otel_xray.emit.tcp.TcpEmitter`).
    """

    def __init__(self, log: logging.Logger) -> None:
        self.max_document_bytes: int = DEFAULT_MAX_DOCUMENT_BYTES
        self._counters = Counters()
        self._diag = RateLimitedLog(log)
        self._closed = False
        self._close_lock = threading.Lock()

    def send(self, documents: Sequence[bytes]) -> List[bool]:
        """Send documents in batches of up to 50; return, per document, whether X-Ray
        accepted it. Never raises."""
        accepted = [False] * len(documents)
        if self._closed:
            self._fail(len(documents), "closed", "send after close()")
            return accepted
        batch: List[int] = []  # indexes into documents
        batch_bytes = 0
        for index, document in enumerate(documents):
            if len(document) > _API_MAX_DOCUMENT_BYTES:
                self._oversize(len(document))
                continue
            batch.append(index)
            batch_bytes += len(document)
            if len(batch) == MAX_BATCH_SIZE:
                self._put(documents, batch, batch_bytes, accepted)
                batch, batch_bytes = [], 0
        if batch:
            self._put(documents, batch, batch_bytes, accepted)
        return accepted

    def stats(self) -> Dict[str, int]:
        """Counters.

        ``documents_sent`` (accepted by X-Ray) and ``bytes_sent`` (document bytes of the
        calls); ``send_errors``: documents lost, also counted as ``send_errors.<reason>``
        (``unprocessed``, an API error code such as ``ThrottledException``, a botocore
        error name such as ``EndpointConnectionError``, or ``closed``);
        ``unprocessed.<ErrorCode>`` for documents X-Ray rejected; ``oversize_dropped``:
        documents over 64 kB (a packer bug); ``api_calls``.
        """
        counts = {"documents_sent": 0, "bytes_sent": 0, "send_errors": 0, "oversize_dropped": 0}
        counts.update(self._counters.snapshot())
        return counts

    def _call(self, texts: List[str]) -> Any:
        """One PutTraceSegments call; return its response or raise :class:`SendFailure`."""
        raise NotImplementedError

    def _put(
        self, documents: Sequence[bytes], batch: List[int], batch_bytes: int,
        accepted: List[bool],
    ) -> None:
        """One PutTraceSegments call for ``documents[i] for i in batch``; marks in
        ``accepted`` the documents X-Ray took."""
        self._counters.add("api_calls")
        texts = [documents[index].decode("utf-8", "replace") for index in batch]
        try:
            response = self._call(texts)
        except SendFailure as exc:
            self._fail(len(batch), exc.reason, "%s", exc)
            return
        except Exception as exc:  # a bug or an odd client must not reach the application
            self._fail(len(batch), "internal", "PutTraceSegments failed: %r", exc)
            return
        unprocessed = (response.get("UnprocessedTraceSegments") if isinstance(response, dict)
                       else None) or []
        rejected = _rejected_indexes(documents, batch, unprocessed)
        if unprocessed:
            self._unprocessed(unprocessed)
        taken = [index for index in batch if index not in rejected]
        for index in taken:
            accepted[index] = True
        self._counters.add("documents_sent", len(taken))
        self._counters.add("bytes_sent", batch_bytes)

    def _unprocessed(self, unprocessed: List[Dict[str, Any]]) -> None:
        self._counters.add("send_errors", len(unprocessed))
        self._counters.add("send_errors.unprocessed", len(unprocessed))
        for item in unprocessed:
            self._counters.add(f"unprocessed.{item.get('ErrorCode') or 'unknown'}")
        shown = ", ".join(
            f"{item.get('Id')}: {item.get('ErrorCode')} {item.get('Message') or ''}".rstrip()
            for item in unprocessed[:5]
        )
        self._diag.warning(
            "unprocessed",
            "X-Ray rejected %d document(s): %s",
            len(unprocessed),
            shown,
        )

    def _oversize(self, size: int) -> None:
        self._counters.add("oversize_dropped")
        self._diag.error(
            "oversize",
            "bug: a document of %d bytes is over the X-Ray API's 64 kB limit; it was not "
            "sent. The packer should have split it; please report this.",
            size,
        )

    def _fail(self, count: int, reason: str, msg: str, *args: Any) -> None:
        self._counters.add("send_errors", count)
        self._counters.add("send_errors." + reason, count)
        self._diag.warning("send." + reason, msg, *args)


class ApiEmitter(BatchEmitter):
    """Sends documents with PutTraceSegments, in batches of up to 50.

    Pass a botocore/boto3 X-Ray ``client``, or let one be made from the default credential
    chain with ``region`` (else ``AWS_REGION`` / ``AWS_DEFAULT_REGION`` / the AWS config)
    and ``endpoint_url`` (e.g. a VPC endpoint). Raises ``ImportError`` without botocore
    and ``ValueError`` when no region is configured; after construction nothing is raised:
    rejected documents (``UnprocessedTraceSegments``), throttling, other API errors and
    connection errors are counted in :meth:`stats` and logged, rate-limited.
    """

    def __init__(
        self,
        client: Any = None,
        *,
        region: Optional[str] = None,
        endpoint_url: Optional[str] = None,
    ) -> None:
        try:
            from botocore.exceptions import BotoCoreError, ClientError
        except ImportError as exc:
            raise ImportError(_INSTALL_HINT) from exc
        self._client_errors = (ClientError,)
        self._botocore_errors = (BotoCoreError,)
        self._client = client if client is not None else make_xray_client(region, endpoint_url)
        super().__init__(_log)

    def close(self) -> None:
        """Close the client's connections. Idempotent."""
        with self._close_lock:
            if self._closed:
                return
            self._closed = True
        close = getattr(self._client, "close", None)
        if close is not None:
            try:
                close()
            except Exception:
                _log.debug("closing the X-Ray client failed", exc_info=True)

    def __repr__(self) -> str:
        region = getattr(getattr(self._client, "meta", None), "region_name", None)
        return f"ApiEmitter(region={region!r})"

    def _call(self, texts: List[str]) -> Any:
        try:
            return self._client.put_trace_segments(TraceSegmentDocuments=texts)
        except self._client_errors as exc:
            code = str(exc.response.get("Error", {}).get("Code") or "ClientError")
            raise SendFailure(code, f"PutTraceSegments failed: {exc}") from None
        except self._botocore_errors as exc:
            raise SendFailure(type(exc).__name__, f"PutTraceSegments failed: {exc}") from None


def _rejected_indexes(
    documents: Sequence[bytes], batch: List[int], unprocessed: List[Dict[str, Any]]
) -> Set[int]:
    """The indexes in ``batch`` of the documents X-Ray listed as unprocessed, found by their
    ``id``. An entry whose id matches no document (X-Ray could not read it) is put on a
    document without a readable id, else on the last ones, so the count is always right."""
    if not unprocessed:
        return set()
    ids: Dict[int, Any] = {}
    for index in batch:
        try:
            ids[index] = orjson.loads(documents[index]).get("id")
        except (orjson.JSONDecodeError, AttributeError):
            ids[index] = None
    rejected: Set[int] = set()
    unmatched = 0
    for item in unprocessed:
        wanted = item.get("Id") if isinstance(item, dict) else None
        found = next((i for i in batch if i not in rejected and ids[i] == wanted), None)
        if wanted is None or found is None:
            unmatched += 1
        else:
            rejected.add(found)
    unreadable = [i for i in batch if ids[i] is None]
    for index in [*unreadable, *reversed(batch)]:
        if unmatched <= 0:
            break
        if index not in rejected:
            rejected.add(index)
            unmatched -= 1
    return rejected


def make_xray_client(region: Optional[str], endpoint_url: Optional[str]) -> Any:
    """A botocore X-Ray client with short timeouts and one retry (telemetry must not hold
    the export thread for long); shared by ApiEmitter and the remote sampler."""
    import botocore.session
    from botocore.config import Config

    session = botocore.session.get_session()
    region = region or os.environ.get("AWS_REGION") or session.get_config_variable("region")
    if not region:
        raise ValueError(
            "ApiEmitter needs an AWS region: pass region=..., or set AWS_REGION "
            "(or AWS_DEFAULT_REGION, or region in the AWS config file)"
        )
    return session.create_client(
        "xray", region_name=region, endpoint_url=endpoint_url, config=Config(**_CLIENT_CONFIG)
    )


__all__ = ["MAX_BATCH_SIZE", "ApiEmitter", "BatchEmitter", "SendFailure"]
