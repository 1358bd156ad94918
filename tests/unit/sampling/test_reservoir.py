"""A rule's reservoir, fixed rate and statistics, under a fake clock."""

from __future__ import annotations

from typing import List

import pytest

from otel_xray.sampling.reservoir import RuleState, Statistics

T0 = 1_700_000_000.0
#: Trace ids whose low 64 bits sit at the bottom / top of the range.
LOW = (0x5759E988 << 96) | 1
HIGH = (0x5759E988 << 96) | ((1 << 64) - 1)


def decide(state: RuleState, times: List[float], trace_id: int = HIGH) -> List[bool]:
    return [state.sample(trace_id, now) for now in times]


def test_a_rule_with_a_reservoir_borrows_one_span_a_second_before_its_first_target() -> None:
    state = RuleState.for_rule("r", 0.0, reservoir_size=5)
    assert decide(state, [T0, T0 + 0.5, T0 + 0.9, T0 + 1.0, T0 + 1.1]) == [
        True, False, False, True, False
    ]
    assert state.take_statistics() == Statistics(requests=5, sampled=2, borrowed=2)


def test_a_rule_without_a_reservoir_never_borrows() -> None:
    state = RuleState.for_rule("r", 0.0, reservoir_size=0)
    assert decide(state, [T0, T0 + 1, T0 + 2]) == [False, False, False]


def test_the_quota_from_a_target_is_taken_each_second() -> None:
    state = RuleState.for_rule("r", 0.0, reservoir_size=5)
    state.apply_target(0.0, quota=3, expires_at=T0 + 10)
    times = [T0 + 0.1 * i for i in range(5)] + [T0 + 1.0, T0 + 1.5]
    assert decide(state, times) == [True, True, True, False, False, True, True]
    assert state.take_statistics() == Statistics(requests=7, sampled=5, borrowed=0)


def test_an_expired_quota_falls_back_to_borrowing() -> None:
    state = RuleState.for_rule("r", 0.0, reservoir_size=5)
    state.apply_target(0.0, quota=3, expires_at=T0 + 10)
    assert decide(state, [T0 + 11, T0 + 11.5]) == [True, False]
    assert state.take_statistics().borrowed == 1


def test_a_zero_quota_samples_nothing_from_the_reservoir() -> None:
    state = RuleState.for_rule("r", 0.0, reservoir_size=5)
    state.apply_target(0.0, quota=0, expires_at=T0 + 10)
    assert decide(state, [T0, T0 + 1]) == [False, False]


def test_a_target_without_quota_keeps_the_previous_quota() -> None:
    state = RuleState.for_rule("r", 0.0, reservoir_size=5)
    state.apply_target(0.0, quota=1, expires_at=T0 + 10)
    state.apply_target(0.0, quota=None, expires_at=None)
    assert decide(state, [T0, T0 + 0.5]) == [True, False]


@pytest.mark.parametrize(("rate", "low", "high"), [(0.0, False, False), (1.0, True, True),
                                                   (0.5, True, False)])
def test_the_fixed_rate_applies_to_the_trace_ids_low_bits(
    rate: float, low: bool, high: bool
) -> None:
    state = RuleState.for_rule("r", rate, reservoir_size=0)
    assert state.sample(LOW, T0) is low
    assert state.sample(HIGH, T0) is high


def test_a_target_changes_the_fixed_rate() -> None:
    state = RuleState.for_rule("r", 0.0, reservoir_size=0)
    state.apply_target(1.0, quota=None, expires_at=None)
    assert state.sample(HIGH, T0) is True


def test_the_fixed_rate_samples_its_share_of_random_ids() -> None:
    state = RuleState.for_rule("r", 0.25, reservoir_size=0)
    ids = [(i * 0x9E3779B97F4A7C15) & ((1 << 64) - 1) for i in range(4000)]
    share = sum(state.sample(trace_id, T0) for trace_id in ids) / len(ids)
    assert 0.22 < share < 0.28


def test_statistics_restart_after_they_are_taken() -> None:
    state = RuleState.for_rule("r", 1.0, reservoir_size=0)
    decide(state, [T0, T0])
    assert state.take_statistics() == Statistics(2, 2, 0)
    assert state.take_statistics() == Statistics(0, 0, 0)
    assert not state.has_requests


def test_the_local_default_is_one_a_second_then_five_percent() -> None:
    state = RuleState.local_default()
    assert decide(state, [T0, T0 + 0.1, T0 + 0.2]) == [True, False, False]
    assert decide(state, [T0 + 1]) == [True]
    ids = [(i * 0x9E3779B97F4A7C15) & ((1 << 64) - 1) for i in range(4000)]
    state.sample(HIGH, T0 + 5)  # this second's one
    share = sum(state.sample(trace_id, T0 + 5) for trace_id in ids) / len(ids)
    assert 0.03 < share < 0.07


def test_a_refreshed_rule_keeps_its_quota_and_unreported_counts() -> None:
    old = RuleState.for_rule("r", 0.0, reservoir_size=5)
    old.apply_target(0.0, quota=2, expires_at=T0 + 10)
    decide(old, [T0])
    new = RuleState.for_rule("r", 0.0, reservoir_size=5)
    new.adopt(old)
    assert (new.reservoir.quota, new.reservoir.expires_at) == (2, T0 + 10)
    assert new.take_statistics() == Statistics(1, 1, 0)
