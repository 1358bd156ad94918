"""One rule's sampling state: its reservoir, its fixed rate and its statistics.

X-Ray gives each client a share of a rule's reservoir (``ReservoirQuota`` spans per second,
valid until ``ReservoirQuotaTTL``) and the rule's ``FixedRate`` for the rest. Until the first
quota arrives, and whenever it has expired, a rule with a reservoir may *borrow* one span
per second, so that every rule keeps some traces while the targets are late. The fixed rate
is applied to the trace id, as ``TraceIdRatioBased`` does, so services that share a trace
and a rule agree.

Time is a number of seconds since the epoch (the unit of ``ReservoirQuotaTTL``) passed in
by the caller, so tests drive the reservoir with a fake clock.
"""

from __future__ import annotations

import math
import threading
from typing import NamedTuple, Optional

from opentelemetry.sdk.trace.sampling import TraceIdRatioBased

#: What the reservoir said.
NO, TAKE, BORROW = 0, 1, 2

_TRACE_ID_LIMIT = TraceIdRatioBased.TRACE_ID_LIMIT


class Statistics(NamedTuple):
    """Counts since the previous report (a ``SamplingStatisticsDocument``'s numbers)."""

    requests: int
    sampled: int
    """Spans sampled by this rule, borrowed ones included."""
    borrowed: int


class Reservoir:
    """A per-second budget: the quota while it is fresh, else one borrowed span a second.

    Not thread-safe on its own: :class:`RuleState` calls it under its lock.
    """

    __slots__ = ("_borrowed", "_second", "_taken", "can_borrow", "expires_at", "quota")

    def __init__(
        self, *, can_borrow: bool, quota: Optional[int] = None, expires_at: float = 0.0
    ) -> None:
        self.can_borrow = can_borrow
        self.quota = quota
        self.expires_at = expires_at
        self._second = -1
        self._taken = 0
        self._borrowed = 0

    def decide(self, now: float) -> int:
        """:data:`TAKE`, :data:`BORROW` or :data:`NO` for one span at ``now``."""
        second = int(now)
        if second != self._second:
            self._second = second
            self._taken = self._borrowed = 0
        if self.quota is not None and now <= self.expires_at:
            if self._taken < self.quota:
                self._taken += 1
                return TAKE
            return NO
        if self.can_borrow and self._borrowed < 1:
            self._borrowed += 1
            return BORROW
        return NO


class RuleState:
    """A rule's reservoir, fixed rate and counters; thread-safe."""

    __slots__ = ("_borrowed", "_bound", "_lock", "_requests", "_sampled", "name", "reservoir")

    def __init__(self, name: str, fixed_rate: float, reservoir: Reservoir) -> None:
        self.name = name
        self.reservoir = reservoir
        self._bound = rate_bound(fixed_rate)
        self._lock = threading.Lock()
        self._requests = self._sampled = self._borrowed = 0

    @classmethod
    def for_rule(cls, name: str, fixed_rate: float, reservoir_size: int) -> RuleState:
        """A rule's state before its first target: borrow if it has a reservoir."""
        return cls(name, fixed_rate, Reservoir(can_borrow=reservoir_size > 0))

    @classmethod
    def local_default(cls) -> RuleState:
        """The native SDKs' local default: one span a second, then 5%."""
        return cls("", 0.05, Reservoir(can_borrow=False, quota=1, expires_at=math.inf))

    def sample(self, trace_id: int, now: float) -> bool:
        """Decide one span; count the request, and the sample or borrow."""
        with self._lock:
            self._requests += 1
            decision = self.reservoir.decide(now)
            if decision == NO and trace_id & _TRACE_ID_LIMIT >= self._bound:
                return False
            self._sampled += 1
            if decision == BORROW:
                self._borrowed += 1
            return True

    @property
    def has_requests(self) -> bool:
        return self._requests > 0

    def take_statistics(self) -> Statistics:
        """The counts since the last call, which starts new ones."""
        with self._lock:
            stats = Statistics(self._requests, self._sampled, self._borrowed)
            self._requests = self._sampled = self._borrowed = 0
        return stats

    def apply_target(
        self, fixed_rate: Optional[float], quota: Optional[int], expires_at: Optional[float]
    ) -> None:
        """Take a ``SamplingTargetDocument``: a missing quota or TTL keeps the previous one."""
        with self._lock:
            if fixed_rate is not None:
                self._bound = rate_bound(fixed_rate)
            if quota is not None:
                self.reservoir.quota = quota
            if expires_at is not None:
                self.reservoir.expires_at = expires_at

    def adopt(self, previous: RuleState) -> None:
        """Carry a refreshed rule's reservoir and unreported counts over from its old state."""
        with previous._lock:
            quota, expires_at = previous.reservoir.quota, previous.reservoir.expires_at
            counts = (previous._requests, previous._sampled, previous._borrowed)
        with self._lock:
            self.reservoir.quota, self.reservoir.expires_at = quota, expires_at
            self._requests, self._sampled, self._borrowed = counts


    def reset_after_fork(self) -> None:
        """A fresh lock and counts in a forked child (the parent's lock may be held)."""
        self._lock = threading.Lock()
        self._requests = self._sampled = self._borrowed = 0


def rate_bound(fixed_rate: float) -> int:
    """The bound below which a trace id's low 64 bits are sampled at ``fixed_rate``."""
    return TraceIdRatioBased.get_bound_for_rate(min(max(fixed_rate, 0.0), 1.0))


__all__ = ["BORROW", "NO", "TAKE", "Reservoir", "RuleState", "Statistics", "rate_bound"]
