"""The daemon address syntax: what is accepted, what is refused and how it says so."""

from __future__ import annotations

from typing import Dict

import pytest

from otel_xray.emit.address import (
    DEFAULT_DAEMON_ADDRESS,
    ENV_DAEMON_ADDRESS,
    DaemonAddress,
    daemon_address,
    parse_daemon_address,
)
from otel_xray.emit.udp import UdpEmitter

VALID = [
    ("127.0.0.1:2000", DaemonAddress("127.0.0.1", 2000, "127.0.0.1", 2000)),
    ("localhost:2000", DaemonAddress("localhost", 2000, "localhost", 2000)),
    ("xray-daemon.default.svc:2000", DaemonAddress(*("xray-daemon.default.svc", 2000) * 2)),
    ("169.254.79.129:2000", DaemonAddress("169.254.79.129", 2000, "169.254.79.129", 2000)),
    ("[::1]:2000", DaemonAddress("::1", 2000, "::1", 2000)),
    ("[fe80::1%eth0]:2000", DaemonAddress("fe80::1%eth0", 2000, "fe80::1%eth0", 2000)),
    ("  127.0.0.1:2000 ", DaemonAddress("127.0.0.1", 2000, "127.0.0.1", 2000)),
    ("localhost:65535", DaemonAddress("localhost", 65535, "localhost", 65535)),
    ("tcp:10.0.0.1:2001 udp:10.0.0.2:2002", DaemonAddress("10.0.0.2", 2002, "10.0.0.1", 2001)),
    ("udp:10.0.0.2:2002 tcp:10.0.0.1:2001", DaemonAddress("10.0.0.2", 2002, "10.0.0.1", 2001)),
    ("UDP:a:1 TCP:b:2", DaemonAddress("a", 1, "b", 2)),
    ("tcp:[::1]:2001 udp:[::1]:2002", DaemonAddress("::1", 2002, "::1", 2001)),
    # A host may be named "udp": only three colon-separated parts make a protocol prefix.
    ("udp:2000", DaemonAddress("udp", 2000, "udp", 2000)),
]


@pytest.mark.parametrize(("value", "expected"), VALID, ids=[v for v, _ in VALID])
def test_valid_address_forms_parse(value: str, expected: DaemonAddress) -> None:
    assert parse_daemon_address(value) == expected


INVALID = [
    ("", "empty"),
    ("   ", "empty"),
    ("2000", "has no port"),
    ("localhost", "has no port"),
    (":2000", "has no host"),
    ("localhost:", "port ''"),
    ("localhost:0", "port '0'"),
    ("localhost:65536", "port '65536'"),
    ("localhost:-1", "port '-1'"),
    ("localhost:20a0", "port '20a0'"),
    ("::1:2000", "put an IPv6 address in brackets"),
    ("[::1]2000", "must look like '[::1]:2000'"),
    ("[::1:2000", "must look like '[::1]:2000'"),
    ("[not-ipv6]:2000", "is not an IPv6 address"),
    ("bad host!:2000", "must start with 'tcp:' or 'udp:'"),
    ("bad_host!:2000", "not a valid host name"),
    ("tcp:127.0.0.1:2000", "needs its pair"),
    ("udp:127.0.0.1:2000", "needs its pair"),
    ("tcp:a:1 tcp:b:2", "'tcp:' given twice"),
    ("udp:a:1 udp:b:2", "'udp:' given twice"),
    ("http:a:1 udp:b:2", "must start with 'tcp:' or 'udp:'"),
    ("tcp:a:1 udp:b", "has no port"),
    ("tcp:a:1 udp:b:2 tcp:c:3", "one or two space-separated parts"),
    ("127.0.0.1:2000 127.0.0.1:2001", "must start with 'tcp:' or 'udp:'"),
]


@pytest.mark.parametrize(("value", "reason"), INVALID, ids=[v or "<empty>" for v, _ in INVALID])
def test_invalid_address_is_refused_with_reason_and_accepted_forms(
    value: str, reason: str
) -> None:
    with pytest.raises(ValueError) as caught:
        parse_daemon_address(value)
    message = str(caught.value)
    assert reason in message
    assert repr(value) in message
    assert "'host:port'" in message and "'tcp:host:port udp:host:port'" in message
    assert "e.g. '127.0.0.1:2000'" in message


def test_error_names_the_source_of_the_value() -> None:
    with pytest.raises(ValueError, match=f"^invalid {ENV_DAEMON_ADDRESS} 'nope'"):
        parse_daemon_address("nope", source=ENV_DAEMON_ADDRESS)


def test_explicit_address_wins_over_environment() -> None:
    env = {ENV_DAEMON_ADDRESS: "10.0.0.1:2000"}
    assert daemon_address("10.0.0.2:3000", env).udp == "10.0.0.2:3000"


def test_environment_used_without_explicit_address() -> None:
    assert daemon_address(None, {ENV_DAEMON_ADDRESS: "10.0.0.1:2001"}).udp == "10.0.0.1:2001"


@pytest.mark.parametrize("env", [{}, {ENV_DAEMON_ADDRESS: ""}, {ENV_DAEMON_ADDRESS: "  "}],
                         ids=["unset", "empty", "blank"])
def test_default_address_without_argument_or_environment(env: Dict[str, str]) -> None:
    assert daemon_address(None, env).udp == DEFAULT_DAEMON_ADDRESS == "127.0.0.1:2000"


def test_malformed_explicit_address_is_not_blamed_on_the_environment() -> None:
    with pytest.raises(ValueError) as caught:
        daemon_address("nope", {ENV_DAEMON_ADDRESS: "127.0.0.1:2000"})
    assert ENV_DAEMON_ADDRESS not in str(caught.value)
    assert "address argument" in str(caught.value)


def test_emitter_construction_fails_on_malformed_environment_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(ENV_DAEMON_ADDRESS, "127.0.0.1")
    with pytest.raises(ValueError, match=f"invalid {ENV_DAEMON_ADDRESS} '127.0.0.1'"):
        UdpEmitter()


def test_emitter_construction_fails_on_malformed_argument() -> None:
    with pytest.raises(ValueError, match="accepted forms"):
        UdpEmitter("tcp:127.0.0.1:2000")


def test_ipv6_addresses_are_formatted_with_brackets() -> None:
    address = parse_daemon_address("tcp:[::1]:2001 udp:[::1]:2002")
    assert (address.udp, address.tcp) == ("[::1]:2002", "[::1]:2001")
