"""``XRayRemoteSampler``: the sampling rules of the X-Ray console, applied in-process.

Two parts: :class:`RulesSampler` decides a span from the rules it holds (pure, no I/O, an
injectable clock), and :class:`Poller` keeps them fresh from a background thread: the
rules every 5 minutes (first at start-up), the targets every 10 seconds or at the interval
X-Ray asks for, with the statistics of the rules that were used.
"""

from __future__ import annotations

import logging
import os
import random
import threading
import time
import weakref
from typing import (
    Any,
    Callable,
    Dict,
    FrozenSet,
    List,
    Mapping,
    NamedTuple,
    Optional,
    Sequence,
    Tuple,
)

from opentelemetry.context import Context
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace.sampling import Decision, Sampler, SamplingResult
from opentelemetry.trace import Link, SpanKind, TraceState
from opentelemetry.util.types import Attributes

from .._diag import Counters, RateLimitedLog
from ..emit.address import daemon_address
from ..translate.attributes import SAMPLING_RULE_KEY
from .client import (
    MAX_STATISTICS_PER_CALL,
    ApiClient,
    DaemonClient,
    SamplingClient,
)
from .parent_based import XRayParentBased
from .reservoir import RuleState
from .rules import (
    MatchingRule,
    ResourceFacts,
    order_rules,
    parse_rule_records,
    span_values,
)

_log = logging.getLogger("otel_xray.sampling")

#: Rules not refreshed for this long are dropped (the local default applies again).
RULES_TTL_SECONDS = 3600.0
DEFAULT_RULES_INTERVAL_SECONDS = 300.0
MIN_RULES_INTERVAL_SECONDS = 10.0
DEFAULT_TARGETS_INTERVAL_SECONDS = 10.0
#: Rules polls are spread over up to 5 s, targets polls over up to 0.1 s (as the SDKs do).
_RULES_JITTER_SECONDS = 5.0
_TARGETS_JITTER_SECONDS = 0.1

Clock = Callable[[], float]
_DROP = SamplingResult(Decision.DROP)
_NO_ATTRIBUTES: Mapping[str, Any] = {}


class _RuleTable(NamedTuple):
    rules: Tuple[Tuple[MatchingRule, RuleState], ...]
    needs: FrozenSet[int]
    """The span values the rules read (:func:`~otel_xray.sampling.rules.span_values`)."""
    fetched_at: Optional[float]


class RulesSampler(Sampler):
    """Decides a span from the X-Ray rules it was given, else by the local default.

    The local default (one span a second, then 5%) applies until rules are loaded, when
    they are older than an hour, and when none of them matches (a rule set without
    ``Default``). A span sampled by a rule gets the attribute
    ``aws.xray.sampling_rule_name``; the segment carries it as ``aws.xray.sampling_rule_name``.
    """

    def __init__(self, resource: Optional[Resource] = None, *, clock: Clock = time.time) -> None:
        self.facts = ResourceFacts.of(resource)
        self.clock = clock
        # Replaced as a whole, so a decision never sees half an update.
        self._table = _RuleTable((), frozenset(), None)
        self._fallback = RuleState.local_default()
        self._update_lock = threading.Lock()
        #: Called once before the next decision (the poller restarting after a fork).
        self.before_next_decision: Optional[Callable[[], None]] = None

    # -- deciding ------------------------------------------------------------------------

    def should_sample(
        self,
        parent_context: Optional[Context],
        trace_id: int,
        name: str,
        kind: Optional[SpanKind] = None,
        attributes: Attributes = None,
        links: Optional[Sequence[Link]] = None,
        trace_state: Optional[TraceState] = None,
    ) -> SamplingResult:
        hook = self.before_next_decision
        if hook is not None:
            self.before_next_decision = None
            try:
                hook()
            except Exception:  # e.g. no thread can be started: decide without polling
                _log.warning("cannot restart sampling-rule polling", exc_info=True)
        now = self.clock()
        state = self.rule_for(attributes, now)
        if state is None:
            return SamplingResult(Decision.RECORD_AND_SAMPLE, attributes) \
                if self._fallback.sample(trace_id, now) else _DROP
        if not state.sample(trace_id, now):
            return _DROP
        tagged = dict(attributes) if attributes else {}
        tagged[SAMPLING_RULE_KEY] = state.name
        return SamplingResult(Decision.RECORD_AND_SAMPLE, tagged)

    def rule_for(self, attributes: Attributes, now: float) -> Optional[RuleState]:
        """The state of the first rule matching a span, ``None`` for the local default."""
        rules, needs, fetched_at = self._table
        if fetched_at is None or now - fetched_at > RULES_TTL_SECONDS:
            return None
        attrs: Mapping[str, Any] = attributes or _NO_ATTRIBUTES
        values = span_values(attrs, needs)
        for matching, state in rules:
            if matching.matches(values, attrs):
                return state
        return None

    def get_description(self) -> str:
        return "XRayRules"

    # -- updating ------------------------------------------------------------------------

    @property
    def fetched_at(self) -> Optional[float]:
        """When rules were last loaded (clock seconds), ``None`` before the first load."""
        return self._table.fetched_at

    @property
    def rule_names(self) -> List[str]:
        """The rules that apply to this resource, in the order they are tried."""
        return [state.name for _, state in self._table.rules]

    def load_rules(self, records: Sequence[Any], now: float) -> List[str]:
        """Load ``SamplingRuleRecords``; return a message per record left out.

        A rule keeping its name keeps its reservoir and unreported counts. An answer
        without any usable rule keeps the previous rules (X-Ray always has ``Default``).
        """
        rules, problems = parse_rule_records(records)
        if not rules:
            return [*problems, "no usable rule in the answer: the previous rules stay"]
        with self._update_lock:
            previous = {state.name: state for _, state in self._table.rules}
            loaded = []
            for matching in order_rules(rules, self.facts):
                rule = matching.rule
                state = RuleState.for_rule(rule.name, rule.fixed_rate, rule.reservoir_size)
                old = previous.get(rule.name)
                if old is not None:
                    state.adopt(old)
                loaded.append((matching, state))
            needs = frozenset().union(*(matching.needs for matching, _ in loaded))
            self._table = _RuleTable(tuple(loaded), needs, now)
        return problems

    def statistics(self, client_id: str, now: float) -> List[Dict[str, Any]]:
        """A ``SamplingStatisticsDocument`` for each rule used since the last report."""
        documents = []
        for _, state in self._table.rules:
            if not state.has_requests:
                continue
            stats = state.take_statistics()
            documents.append({
                "RuleName": state.name,
                "ClientID": client_id,
                "RequestCount": stats.requests,
                "SampledCount": stats.sampled,
                "BorrowCount": stats.borrowed,
                "Timestamp": int(now),
            })
        return documents

    def apply_targets(self, answer: Mapping[str, Any]) -> Tuple[Optional[float], List[str]]:
        """Apply ``SamplingTargetDocuments``; return the smallest ``Interval`` and problems."""
        states = {state.name: state for _, state in self._table.rules}
        interval: Optional[float] = None
        problems: List[str] = []
        for target in answer.get("SamplingTargetDocuments") or ():
            if not isinstance(target, Mapping):
                problems.append(f"a target that is not an object: {target!r:.100}")
                continue
            state = states.get(target.get("RuleName"))  # type: ignore[arg-type]
            if state is None:
                continue
            rate, quota = target.get("FixedRate"), target.get("ReservoirQuota")
            ttl, every = target.get("ReservoirQuotaTTL"), target.get("Interval")
            if not _number_or_none(rate) or (rate is not None and not 0 <= rate <= 1):
                problems.append(f"rule {state.name!r}: FixedRate {rate!r} ignored")
                rate = None
            if not (quota is None or (_is_int(quota) and quota >= 0)):
                problems.append(f"rule {state.name!r}: ReservoirQuota {quota!r} ignored")
                quota = None
            if not _number_or_none(ttl):
                problems.append(f"rule {state.name!r}: ReservoirQuotaTTL {ttl!r} ignored")
                ttl = None
            state.apply_target(rate, quota, None if ttl is None else float(ttl))
            if isinstance(every, int) and not isinstance(every, bool) and every > 0:
                interval = float(every) if interval is None else min(interval, float(every))
        for item in answer.get("UnprocessedStatistics") or ():
            if isinstance(item, Mapping):
                problems.append(
                    f"X-Ray did not process the statistics of rule {item.get('RuleName')!r}: "
                    f"{item.get('ErrorCode')} {item.get('Message') or ''}".rstrip()
                )
        return interval, problems

    def reset_after_fork(self) -> None:
        """Fresh locks and counts: the parent reports what it counted, the child its own."""
        self._update_lock = threading.Lock()
        self._fallback = RuleState.local_default()
        for _, state in self._table.rules:
            state.reset_after_fork()


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _number_or_none(value: Any) -> bool:
    return value is None or (isinstance(value, (int, float)) and not isinstance(value, bool))


# Every live poller, so that a forked child can restart them (its threads did not survive).
_POLLERS: weakref.WeakSet[Poller] = weakref.WeakSet()


class Poller:
    """Keeps a :class:`RulesSampler`'s rules and targets fresh from a daemon thread.

    :meth:`poll_rules` and :meth:`poll_targets` never raise: failures are counted in
    :meth:`stats` and logged at most once a minute per kind, and the rules the sampler has
    keep applying.
    """

    def __init__(
        self,
        sampler: RulesSampler,
        client: SamplingClient,
        *,
        rules_interval: float = DEFAULT_RULES_INTERVAL_SECONDS,
    ) -> None:
        self.sampler = sampler
        self.client = client
        self.rules_interval = rules_interval
        self.targets_interval = DEFAULT_TARGETS_INTERVAL_SECONDS
        self._random = random.Random()
        self._thread: Optional[threading.Thread] = None
        self._reset_process_state()
        _POLLERS.add(self)

    # -- one poll ------------------------------------------------------------------------

    def poll_rules(self) -> bool:
        """Fetch and load the rules; whether that worked."""
        self._counters.add("rules_polls")
        try:
            records = self.client.get_sampling_rules()
        except Exception as exc:
            self._failed("rules", exc)
            return False
        problems = self.sampler.load_rules(records, self.sampler.clock())
        for problem in problems:
            self._diag.warning("rules.invalid", "sampling rules from %r: %s", self.client, problem)
        self._diag.debug("rules.loaded", "sampling rules loaded: %s", self.sampler.rule_names)
        return True

    def poll_targets(self) -> bool:
        """Report the statistics (25 documents per call), apply the targets; whether it worked.

        When X-Ray says the rules changed since they were fetched, they are fetched again.
        """
        now = self.sampler.clock()
        documents = self.sampler.statistics(self.client_id, now)
        if not documents:
            return True
        modified: Optional[float] = None
        for start in range(0, len(documents), MAX_STATISTICS_PER_CALL):
            self._counters.add("targets_polls")
            try:
                answer = self.client.get_sampling_targets(
                    documents[start : start + MAX_STATISTICS_PER_CALL]
                )
                interval, problems = self.sampler.apply_targets(answer)
            except Exception as exc:
                self._failed("targets", exc)
                return False
            for problem in problems:
                self._diag.warning("targets.invalid", "sampling targets: %s", problem)
            if interval is not None:
                self.targets_interval = interval
            last = answer.get("LastRuleModification")
            if isinstance(last, (int, float)) and not isinstance(last, bool):
                modified = max(modified or 0.0, float(last))
        fetched_at = self.sampler.fetched_at
        if modified is not None and (fetched_at is None or modified > fetched_at):
            self.poll_rules()
        return True

    def stats(self) -> Dict[str, int]:
        """``rules_polls``, ``targets_polls`` and ``<rules|targets>_poll_errors[.<reason>]``."""
        counts = {"rules_polls": 0, "targets_polls": 0, "rules_poll_errors": 0,
                  "targets_poll_errors": 0}
        counts.update(self._counters.snapshot())
        return counts

    def _failed(self, what: str, exc: BaseException) -> None:
        reason = type(exc).__name__
        self._counters.add(f"{what}_poll_errors")
        self._counters.add(f"{what}_poll_errors.{reason}")
        fallback = (
            "the rules fetched before keep applying" if self.sampler.fetched_at is not None
            else "the local default (1 span a second, then 5%) applies until rules arrive"
        )
        hint = (
            "Check that the X-Ray daemon (or the CloudWatch agent) runs and that its TCP "
            "address is right (AWS_XRAY_DAEMON_ADDRESS)." if isinstance(exc, OSError)
            else "The answer is not what X-Ray sends: is something else listening there?"
        )
        self._diag.warning(
            f"{what}.{reason}", "cannot get sampling %s from %r: %s; %s. %s",
            what, self.client, exc, fallback, hint,
        )

    # -- the thread ----------------------------------------------------------------------

    def start(self) -> None:
        """Start the polling thread (the first rules poll runs at once). Idempotent."""
        with self._lock:
            if self._thread is not None or self._stop.is_set():
                return
            thread = threading.Thread(target=self._run, name="otel-xray-sampling", daemon=True)
            self._thread = thread
            thread.start()

    def stop(self, timeout: Optional[float] = None) -> None:
        """Stop the polling thread. Idempotent."""
        self._stop.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)

    def _run(self) -> None:
        stop = self._stop
        next_rules = time.monotonic()
        next_targets = next_rules + self._targets_delay()
        while not stop.is_set():
            now = time.monotonic()
            try:
                if now >= next_rules:
                    next_rules = now + self.rules_interval + self._rules_jitter()
                    self.poll_rules()
                if now >= next_targets:
                    self.poll_targets()
                    next_targets = time.monotonic() + self._targets_delay()
            except Exception:  # a bug must not end polling for the life of the process
                self._diag.error("bug", "sampling poller failed; please report this",
                                 exc_info=True)
                next_targets = time.monotonic() + self._targets_delay()
            stop.wait(max(min(next_rules, next_targets) - time.monotonic(), 0.0))

    def _targets_delay(self) -> float:
        return self.targets_interval + self._random.uniform(0.0, _TARGETS_JITTER_SECONDS)

    def _rules_jitter(self) -> float:
        return self._random.uniform(0.0, _RULES_JITTER_SECONDS)

    def _reset_process_state(self) -> None:
        """A new client id, locks, counters and no thread (at construction and after fork)."""
        self.client_id = os.urandom(12).hex()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = None
        self._counters = Counters()
        self._diag = RateLimitedLog(_log)


def _after_fork_in_child() -> None:
    for poller in list(_POLLERS):
        was_running = poller._thread is not None and not poller._stop.is_set()
        poller._reset_process_state()
        poller.sampler.reset_after_fork()
        if was_running:
            # Started lazily: threads should not be started inside the fork hook.
            poller.sampler.before_next_decision = poller.start


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


class XRayRemoteSampler(XRayParentBased):
    """Applies the sampling rules of the X-Ray console, as the native SDKs do.

    Args:
        resource: the service's resource; rules match its ``service.name`` and its
            platform (``cloud.platform``, as the segment's ``origin``). Pass the resource
            you give the ``TracerProvider``.
        endpoint: the daemon's TCP proxy, ``http://host:port``. Default: the TCP part of
            ``AWS_XRAY_DAEMON_ADDRESS``, else ``127.0.0.1:2000``.
        polling_interval: seconds between rules polls (default 300; at least 10).
        xray_client: a botocore/boto3 X-Ray client: poll the X-Ray API directly, signed
            with its credentials, instead of through the daemon.

    Parent-based like :class:`XRayParentBased`: a caller's ``Sampled=1/0`` wins, and a
    request without a decision (``Sampled=?``) goes through the rules like a new trace.
    The first rules poll starts at once in the background; until rules arrive (and if
    they are not refreshed for an hour) the local default applies: one trace a second,
    then 5%. Network errors are logged (rate-limited) and never reach the application.
    """

    def __init__(
        self,
        resource: Optional[Resource] = None,
        endpoint: Optional[str] = None,
        polling_interval: Optional[float] = None,
        *,
        xray_client: Any = None,
    ) -> None:
        rules = RulesSampler(resource)
        super().__init__(rules)
        client: SamplingClient
        if xray_client is not None:
            client = ApiClient(xray_client)
        else:
            client = DaemonClient(endpoint or f"http://{daemon_address().tcp}")
        self.poller = Poller(rules, client, rules_interval=_rules_interval(polling_interval))
        self.poller.start()

    @property
    def rules(self) -> RulesSampler:
        """The rules the sampler holds."""
        return self.poller.sampler

    def close(self) -> None:
        """Stop polling (decisions continue with the rules held). Idempotent."""
        self.poller.stop(timeout=1.0)

    def get_description(self) -> str:
        return f"XRayRemoteSampler{{{self.poller.client!r}}}"


def _rules_interval(value: Optional[float]) -> float:
    if value is None:
        return DEFAULT_RULES_INTERVAL_SECONDS
    if not value >= MIN_RULES_INTERVAL_SECONDS:
        _log.warning(
            "sampling rules polling interval %r is below %d seconds; using %d",
            value, MIN_RULES_INTERVAL_SECONDS, DEFAULT_RULES_INTERVAL_SECONDS,
        )
        return DEFAULT_RULES_INTERVAL_SECONDS
    return float(value)


def from_sampler_arg(arg: Optional[str] = None) -> XRayRemoteSampler:
    """The ``otel_xray`` entry point of ``opentelemetry_traces_sampler``.

    ``OTEL_TRACES_SAMPLER=otel_xray`` and ``OTEL_TRACES_SAMPLER_ARG`` in ADOT's form:
    ``endpoint=http://127.0.0.1:2000,polling_interval=300`` (both optional;
    ``endpoint=api`` polls the X-Ray API with the default credentials). The resource is
    the one :func:`otel_xray.configure` would build from the environment.
    """
    from ..bootstrap import build_resource

    settings = parse_sampler_arg(arg)
    endpoint = settings.get("endpoint")
    interval: Optional[float] = None
    if "polling_interval" in settings:
        try:
            interval = float(settings["polling_interval"])
        except ValueError:
            _log.warning("OTEL_TRACES_SAMPLER_ARG: polling_interval=%r is not a number; "
                         "using %d", settings["polling_interval"], DEFAULT_RULES_INTERVAL_SECONDS)
    resource = build_resource()
    if endpoint is not None and endpoint.lower() == "api":
        from ..emit.api import make_xray_client

        return XRayRemoteSampler(resource, polling_interval=interval,
                                 xray_client=make_xray_client(None, None))
    return XRayRemoteSampler(resource, endpoint, interval)


def parse_sampler_arg(arg: Optional[str]) -> Dict[str, str]:
    """``key=value,key=value`` → dict; unknown keys and malformed parts are logged."""
    settings: Dict[str, str] = {}
    for part in (arg or "").split(","):
        if not part.strip():
            continue
        key, sep, value = part.partition("=")
        key = key.strip().lower()
        if not sep or key not in ("endpoint", "polling_interval"):
            _log.warning("OTEL_TRACES_SAMPLER_ARG: ignoring %r (known: endpoint=URL, "
                         "polling_interval=SECONDS)", part.strip())
            continue
        settings[key] = value.strip()
    return settings


__all__ = ["Poller", "RulesSampler", "XRayRemoteSampler", "from_sampler_arg"]
