"""The two sampling calls, through the daemon's TCP proxy or straight to the X-Ray API.

Both clients return the API's JSON shapes with every timestamp as seconds since the epoch
(a float), whichever way they were carried. Errors are raised to the poller, which logs
them rate-limited and keeps the rules it has.
"""

from __future__ import annotations

import datetime
from typing import Any, Dict, List, Mapping, Optional, Sequence

from typing_extensions import Protocol

from ..emit.tcp import post_json, split_host_port
from ..pipeline import suppressed

#: GetSamplingTargets takes at most this many statistics documents per call.
MAX_STATISTICS_PER_CALL = 25
#: Pages of GetSamplingRules followed before giving up (X-Ray has at most a few hundred
#: rules per account; a proxy that keeps answering the same NextToken must not loop).
_MAX_PAGES = 100
DEFAULT_TIMEOUT_SECONDS = 2.0


class SamplingClient(Protocol):
    """What the poller needs: the two X-Ray sampling calls."""

    def get_sampling_rules(self) -> List[Any]:
        """Every ``SamplingRuleRecord`` (all pages)."""
        ...

    def get_sampling_targets(self, documents: Sequence[Mapping[str, Any]]) -> Dict[str, Any]:
        """The ``GetSamplingTargets`` answer for at most 25 statistics documents."""
        ...


class DaemonClient:
    """``POST /GetSamplingRules`` and ``POST /SamplingTargets`` to the daemon's TCP proxy."""

    def __init__(self, endpoint: str, *, timeout: float = DEFAULT_TIMEOUT_SECONDS) -> None:
        self.host, self.port = split_host_port(endpoint)
        self.timeout = timeout

    @property
    def endpoint(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def get_sampling_rules(self) -> List[Any]:
        records: List[Any] = []
        token: Optional[str] = None
        for _ in range(_MAX_PAGES):
            body = {"NextToken": token} if token else {}
            answer = _object(post_json(self.host, self.port, "/GetSamplingRules", body,
                                       self.timeout))
            page = answer.get("SamplingRuleRecords")
            if not isinstance(page, list):
                raise ValueError("GetSamplingRules answered without SamplingRuleRecords")
            records.extend(page)
            token = answer.get("NextToken") or None
            if not isinstance(token, str):
                break
        return records

    def get_sampling_targets(self, documents: Sequence[Mapping[str, Any]]) -> Dict[str, Any]:
        answer = post_json(
            self.host, self.port, "/SamplingTargets",
            {"SamplingStatisticsDocuments": list(documents)}, self.timeout,
        )
        return _object(answer)

    def __repr__(self) -> str:
        return f"DaemonClient({self.endpoint!r})"


class ApiClient:
    """The same calls through a botocore/boto3 X-Ray client (signed, no daemon)."""

    def __init__(self, client: Any) -> None:
        self._client = client

    def get_sampling_rules(self) -> List[Any]:
        records: List[Any] = []
        kwargs: Dict[str, Any] = {}
        for _ in range(_MAX_PAGES):
            answer = self._call("get_sampling_rules", **kwargs)
            records.extend(_epoch_seconds(answer.get("SamplingRuleRecords") or []))
            token = answer.get("NextToken")
            if not token:
                break
            kwargs = {"NextToken": token}
        return records

    def get_sampling_targets(self, documents: Sequence[Mapping[str, Any]]) -> Dict[str, Any]:
        answer = self._call("get_sampling_targets", SamplingStatisticsDocuments=list(documents))
        return _object(_epoch_seconds(answer))

    def _call(self, name: str, **kwargs: Any) -> Dict[str, Any]:
        with suppressed():  # no botocore/urllib3 spans
            answer = getattr(self._client, name)(**kwargs)
        return dict(answer)

    def __repr__(self) -> str:
        return "ApiClient()"


def _object(answer: Any) -> Dict[str, Any]:
    if not isinstance(answer, dict):
        raise ValueError(f"expected a JSON object, got {type(answer).__name__}")
    return answer


def _epoch_seconds(value: Any) -> Any:
    """botocore's datetimes as seconds since the epoch, everything else unchanged."""
    if isinstance(value, datetime.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=datetime.timezone.utc)
        return value.timestamp()
    if isinstance(value, dict):
        return {key: _epoch_seconds(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_epoch_seconds(item) for item in value]
    return value


__all__ = [
    "MAX_STATISTICS_PER_CALL",
    "ApiClient",
    "DaemonClient",
    "SamplingClient",
]
