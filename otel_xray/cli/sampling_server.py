"""The daemon's TCP side for ``otel-xray listen``: the sampling API and ``/TraceSegments``.

An application using :class:`~otel_xray.XRayRemoteSampler` (the default of ``configure()``)
asks the daemon's TCP address for sampling rules. :class:`SamplingServer` answers there:

- ``POST /GetSamplingRules``: a rule that samples everything, or the rules of a file;
- ``POST /SamplingTargets``: each reported rule's own fixed rate and reservoir (one client
  gets it all), valid for a minute;
- ``POST /TraceSegments``: documents sent with the TCP transport, handed to the UDP
  listener as the datagrams the daemon would have received.

Two file forms are accepted: the output of ``aws xray get-sampling-rules``
(``{"SamplingRuleRecords": [...]}``) and the native SDKs' local rules file
(``{"version": 2, "rules": [...], "default": {"fixed_target": 1, "rate": 0.1}}``).
"""

from __future__ import annotations

import argparse
import json
import logging
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Dict, List, Mapping, Optional, Tuple

from ..emit.address import daemon_address
from ..emit.protocol import HEADER
from ..sampling.rules import DEFAULT_RULE_NAME, parse_rule_records

_log = logging.getLogger("otel_xray.cli.sampling_server")

#: How long a target handed out stays valid, and when to ask again.
_TARGET_TTL_SECONDS = 60
_TARGET_INTERVAL_SECONDS = 10
_MAX_BODY_BYTES = 16 * 1024 * 1024

#: Sample every trace: what local development wants to see.
SAMPLE_EVERYTHING: List[Dict[str, Any]] = [{
    "SamplingRule": {
        "RuleName": DEFAULT_RULE_NAME, "RuleARN": "", "ResourceARN": "*", "Priority": 10000,
        "FixedRate": 1.0, "ReservoirSize": 0, "ServiceName": "*", "ServiceType": "*",
        "Host": "*", "HTTPMethod": "*", "URLPath": "*", "Version": 1, "Attributes": {},
    },
}]


def load_rules_file(path: str) -> List[Dict[str, Any]]:
    """The ``SamplingRuleRecords`` of a rules file, in either accepted form.

    Raises ``ValueError`` naming the file and what is wrong, ``OSError`` if unreadable.
    """
    with open(path, "rb") as file:
        try:
            content = json.loads(file.read().decode("utf-8"))
        except ValueError as exc:
            raise ValueError(f"{path}: not JSON: {exc}") from None
    if isinstance(content, Mapping) and "SamplingRuleRecords" in content:
        records = content["SamplingRuleRecords"]
        if not isinstance(records, list):
            raise ValueError(f"{path}: SamplingRuleRecords must be a list")
    elif isinstance(content, Mapping) and "default" in content:
        records = local_rules_as_records(content, path)
    else:
        raise ValueError(
            f"{path}: expected the output of 'aws xray get-sampling-rules' "
            "({\"SamplingRuleRecords\": [...]}) or an X-Ray SDK local rules file "
            "({\"version\": 2, \"rules\": [...], \"default\": {...}})"
        )
    rules, problems = parse_rule_records(records)
    if problems:
        raise ValueError(f"{path}: " + "; ".join(problems))
    if not rules:
        raise ValueError(f"{path}: no rules")
    return [dict(record) for record in records]


def local_rules_as_records(content: Mapping[str, Any], path: str) -> List[Dict[str, Any]]:
    """The native SDKs' local rules (version 1 or 2) as ``SamplingRuleRecords``.

    Rules keep their order as priorities 1, 2, …; ``fixed_target`` becomes the reservoir,
    ``host`` (``service_name`` in version 1) the host pattern.
    """
    version = content.get("version")
    if version not in (1, 2):
        raise ValueError(f"{path}: local rules version {version!r} is not 1 or 2")
    host_key = "host" if version == 2 else "service_name"
    entries = list(content.get("rules") or [])
    records: List[Dict[str, Any]] = []
    for index, entry in enumerate([*entries, content["default"]]):
        if not isinstance(entry, Mapping):
            raise ValueError(f"{path}: rule {index + 1} is not an object")
        is_default = index == len(entries)
        records.append({"SamplingRule": {
            "RuleName": DEFAULT_RULE_NAME if is_default else f"local-{index + 1}",
            "RuleARN": "", "ResourceARN": "*",
            "Priority": 10000 if is_default else index + 1,
            "FixedRate": entry.get("rate"), "ReservoirSize": entry.get("fixed_target"),
            "ServiceName": "*", "ServiceType": "*",
            "Host": "*" if is_default else entry.get(host_key, "*"),
            "HTTPMethod": "*" if is_default else entry.get("http_method", "*"),
            "URLPath": "*" if is_default else entry.get("url_path", "*"),
            "Version": 1, "Attributes": {},
        }})
    return records


class SamplingServer:
    """Serves the daemon's TCP endpoints on ``bind`` from a background thread.

    ``forward_to``: the UDP ``(host, port)`` that documents posted to ``/TraceSegments``
    are sent to, one datagram each. Binding happens in the constructor (``OSError``).
    """

    def __init__(
        self,
        bind: Tuple[str, int],
        records: Optional[List[Dict[str, Any]]] = None,
        *,
        forward_to: Optional[Tuple[str, int]] = None,
    ) -> None:
        self.records = records if records is not None else SAMPLE_EVERYTHING
        self.loaded_at = time.time()
        self.forward_to = forward_to
        family = socket.AF_INET6 if ":" in bind[0] else socket.AF_INET
        server_class = type("_Server", (ThreadingHTTPServer,), {"address_family": family})
        self._server = server_class(bind, _handler(self))
        self._server.daemon_threads = True
        self._thread: Optional[threading.Thread] = None

    @property
    def address(self) -> str:
        host, port = self._server.server_address[:2]
        return f"[{host}]:{port}" if ":" in str(host) else f"{host}:{port}"

    def start(self) -> None:
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.1},
            name="otel-xray-sampling-server", daemon=True,
        )
        self._thread.start()

    def close(self) -> None:
        if self._thread is not None:
            self._server.shutdown()
        self._server.server_close()

    def answer(self, path: str, body: Mapping[str, Any]) -> Tuple[int, Dict[str, Any]]:
        """The status and JSON answer for a POST to ``path``."""
        if path == "/GetSamplingRules":
            return 200, {"SamplingRuleRecords": self.records}
        if path == "/SamplingTargets":
            return 200, self._targets(body)
        if path == "/TraceSegments":
            return 200, self._segments(body)
        return 404, {"message": f"otel-xray listen does not serve {path}"}

    def _targets(self, body: Mapping[str, Any]) -> Dict[str, Any]:
        rules = {
            record["SamplingRule"]["RuleName"]: record["SamplingRule"] for record in self.records
        }
        now = time.time()
        documents: List[Dict[str, Any]] = []
        unprocessed: List[Dict[str, Any]] = []
        for statistics in body.get("SamplingStatisticsDocuments") or ():
            name = statistics.get("RuleName") if isinstance(statistics, Mapping) else None
            rule = rules.get(name)
            if rule is None:
                unprocessed.append({"RuleName": name, "ErrorCode": "400",
                                    "Message": "no such rule"})
                continue
            documents.append({
                "RuleName": name, "FixedRate": rule["FixedRate"],
                "ReservoirQuota": rule["ReservoirSize"],
                "ReservoirQuotaTTL": now + _TARGET_TTL_SECONDS,
                "Interval": _TARGET_INTERVAL_SECONDS,
            })
        return {"SamplingTargetDocuments": documents, "LastRuleModification": self.loaded_at,
                "UnprocessedStatistics": unprocessed}

    def _segments(self, body: Mapping[str, Any]) -> Dict[str, Any]:
        documents = body.get("TraceSegmentDocuments") or []
        if self.forward_to is not None:
            with socket.socket(_family(self.forward_to[0]), socket.SOCK_DGRAM) as sock:
                for document in documents:
                    if isinstance(document, str):
                        sock.sendto(HEADER + document.encode("utf-8"), self.forward_to)
        return {"UnprocessedTraceSegments": []}


def _family(host: str) -> int:
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def _handler(server: SamplingServer) -> type:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            try:
                if length > _MAX_BODY_BYTES:
                    raise ValueError("body too large")
                raw = self.rfile.read(length)
                body = json.loads(raw.decode("utf-8")) if raw.strip() else {}
                if not isinstance(body, dict):
                    raise ValueError("not a JSON object")
                status, answer = server.answer(self.path, body)
            except ValueError as exc:
                status, answer = 400, {"message": f"bad request: {exc}"}
            data = json.dumps(answer).encode("utf-8")
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            _log.debug("%s " + format, self.address_string(), *args)

    return Handler


def add_sampling_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--sampling-rules", metavar="FILE",
        help="answer the sampling API on the TCP address with the rules of FILE (the output "
        "of 'aws xray get-sampling-rules', or an X-Ray SDK local rules file); default: a "
        "rule that samples everything",
    )


def open_sampling_server(
    address: Optional[str], rules_file: Optional[str], listener_address: str
) -> Optional[SamplingServer]:
    """The started TCP side of ``listen`` on the TCP part of ``address``.

    Raises ``ValueError`` (or ``OSError``) for a rules file that cannot be used; returns
    ``None`` (after a warning) when the TCP address cannot be bound, so the UDP listener
    still runs.
    """
    records = load_rules_file(rules_file) if rules_file else None
    tcp = daemon_address(address)
    udp = daemon_address(listener_address)
    try:
        server = SamplingServer(
            (tcp.tcp_host, tcp.tcp_port), records, forward_to=(udp.udp_host, udp.udp_port)
        )
    except OSError as exc:
        _log.warning("cannot listen on tcp %s (%s): no sampling rules and no /TraceSegments "
                     "there; applications fall back to their local sampling default",
                     tcp.tcp, exc)
        return None
    server.start()
    return server


__all__ = [
    "SAMPLE_EVERYTHING",
    "SamplingServer",
    "add_sampling_arguments",
    "load_rules_file",
    "local_rules_as_records",
    "open_sampling_server",
]
