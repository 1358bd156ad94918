from __future__ import annotations

import time

import pytest

from otel_xray import XRayIdGenerator
from otel_xray.ids import from_xray_trace_id, to_xray_trace_id


def test_to_xray_trace_id_inserts_version_and_dashes() -> None:
    assert to_xray_trace_id(0x5759E988BD862E3FE1BE46A994272793) == (
        "1-5759e988-bd862e3fe1be46a994272793"
    )


def test_to_xray_trace_id_keeps_leading_zeros_of_random_ids() -> None:
    assert to_xray_trace_id(1) == "1-00000000-000000000000000000000001"


@pytest.mark.parametrize("bad", [0, -1, 1 << 128])
def test_to_xray_trace_id_rejects_values_outside_128_bits(bad: int) -> None:
    with pytest.raises(ValueError, match="128-bit"):
        to_xray_trace_id(bad)


def test_from_xray_trace_id_round_trips() -> None:
    value = 0x5759E988BD862E3FE1BE46A994272793
    assert from_xray_trace_id(to_xray_trace_id(value)) == value


def test_from_xray_trace_id_accepts_uppercase_hex() -> None:
    assert from_xray_trace_id("1-5759E988-BD862E3FE1BE46A994272793") == (
        0x5759E988BD862E3FE1BE46A994272793
    )


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "2-5759e988-bd862e3fe1be46a994272793",
        "1-5759e98-bd862e3fe1be46a994272793",
        "1-5759e988-bd862e3fe1be46a99427279",
        "1-5759e988bd862e3fe1be46a994272793",
        "1-5759e98g-bd862e3fe1be46a994272793",
        "1-00000000-000000000000000000000000",
        " 1-5759e988-bd862e3fe1be46a994272793",
        "1-5759e988-bd862e3fe1be46a994272793\n",
        None,
        42,
    ],
)
def test_from_xray_trace_id_rejects_malformed_ids(bad: object) -> None:
    with pytest.raises(ValueError, match="X-Ray trace id"):
        from_xray_trace_id(bad)  # type: ignore[arg-type]


def test_id_generator_puts_epoch_seconds_in_first_32_bits() -> None:
    before = int(time.time())
    trace_id = XRayIdGenerator().generate_trace_id()
    after = int(time.time())
    assert before <= trace_id >> 96 <= after


def test_id_generator_makes_distinct_nonzero_ids() -> None:
    gen = XRayIdGenerator()
    trace_ids = {gen.generate_trace_id() for _ in range(1000)}
    span_ids = {gen.generate_span_id() for _ in range(1000)}
    assert len(trace_ids) == 1000 and len(span_ids) == 1000
    assert 0 not in span_ids and all(s < 1 << 64 for s in span_ids)
