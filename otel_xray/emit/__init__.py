"""Emitters: where encoded X-Ray documents go (the daemon over UDP, or the X-Ray API).

The pipeline hands an emitter compact JSON documents, already packed and sized to fit
``max_document_bytes``. An emitter never raises into its caller: failures are counted in
``stats()`` and logged (rate-limited), and ``send`` says which documents were delivered, so
that every span is counted exactly once as sent or as dropped.
"""

from __future__ import annotations

from typing import Dict, Sequence

from typing_extensions import Protocol, runtime_checkable


@runtime_checkable
class Emitter(Protocol):
    """What the processor and exporter need from a transport."""

    #: The largest encoded document (bytes of JSON, without any transport header) that
    #: this emitter can carry; the packer splits and trims documents to fit.
    max_document_bytes: int

    def send(self, documents: Sequence[bytes]) -> Sequence[bool]:
        """Send encoded documents; return one flag per document: whether it was delivered
        (taken by the socket, or accepted by the API). Never raises.

        Returning an int -- the first N documents delivered -- is accepted too, from
        emitters written before this protocol said which ones.
        """
        ...

    def stats(self) -> Dict[str, int]:
        """Counters: documents and bytes sent, failures by reason."""
        ...

    def close(self) -> None:
        """Release sockets/clients. Idempotent."""
        ...


from .api import ApiEmitter  # noqa: E402  (the transports come after the protocol)
from .tcp import TcpEmitter  # noqa: E402
from .udp import UdpEmitter  # noqa: E402

__all__ = ["ApiEmitter", "Emitter", "TcpEmitter", "UdpEmitter"]
