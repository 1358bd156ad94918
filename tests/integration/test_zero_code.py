"""Zero code: ``opentelemetry-instrument`` with environment variables only.

``tests/integration/apps/zero_code_app.py`` is a plain Flask app calling itself through ``urllib``;
``opentelemetry-instrument`` (of this interpreter) instruments it in a subprocess and the
documents arrive at a test UDP listener named by ``AWS_XRAY_DAEMON_ADDRESS``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Dict, List

import pytest

from tests.support.helpers import assert_valid_document, walk
from tests.support.udp import UdpListener

REPO = Path(__file__).resolve().parents[2]
APP = REPO / "tests" / "integration" / "apps" / "zero_code_app.py"
INSTRUMENT = Path(sys.executable).parent / "opentelemetry-instrument"

ROOT = "1-5759e988-bd862e3fe1be46a994272793"
PARENT = "53995c3f42cd8ad8"

#: Environment-only setups, each complete: nothing in the app refers to OpenTelemetry.
SETUPS: Dict[str, Dict[str, str]] = {
    # OpenTelemetry's own distro and configurator, with this package's entry points.
    "exporter": {
        "OTEL_PYTHON_DISTRO": "distro",
        "OTEL_PYTHON_CONFIGURATOR": "configurator",
        "OTEL_TRACES_EXPORTER": "otel_xray",
        "OTEL_METRICS_EXPORTER": "none",
        "OTEL_LOGS_EXPORTER": "none",
        "OTEL_PROPAGATORS": "tracecontext,otel_xray",
        "OTEL_PYTHON_ID_GENERATOR": "otel_xray",
    },
    # This package's distro and configurator: XRaySpanProcessor and everything else.
    "distro": {
        "OTEL_PYTHON_DISTRO": "otel_xray",
        "OTEL_PYTHON_CONFIGURATOR": "otel_xray",
    },
}


def run_app(listener: UdpListener, setup: Dict[str, str], *headers: str) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "AWS_", "_X_"))}
    env.update(setup)
    env["OTEL_SERVICE_NAME"] = "zero-code-app"
    env["AWS_XRAY_DAEMON_ADDRESS"] = listener.address
    result = subprocess.run(
        [str(INSTRUMENT), sys.executable, str(APP), *headers],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("200 front>back") == len(headers), result.stdout + result.stderr
    return result.stderr + result.stdout


def segments(documents: List[Dict[str, Any]], trace_id: str) -> List[Dict[str, Any]]:
    return [doc for doc in documents if doc["trace_id"] == trace_id and "type" not in doc]


@pytest.mark.parametrize("setup", SETUPS.values(), ids=SETUPS.keys())
def test_instrumented_app_continues_the_callers_trace_through_itself(
    setup: Dict[str, str], udp_listener: UdpListener
) -> None:
    stderr = run_app(udp_listener, setup, f"Root={ROOT};Parent={PARENT};Sampled=1")
    documents = [assert_valid_document(doc) for doc in udp_listener.wait_for(2)]
    found = segments(documents, ROOT)
    assert len(found) == 2, (documents, stderr)
    front = next(doc for doc in found if doc.get("parent_id") == PARENT)
    back = next(doc for doc in found if doc is not front)
    assert front["name"] == back["name"] == "zero-code-app"
    # /back's parent is the urllib client call made while handling /front.
    client_ids = {
        sub["id"] for doc in documents for sub in walk(doc) if sub.get("namespace") == "remote"
    }
    assert back["parent_id"] in client_ids


@pytest.mark.parametrize("setup", SETUPS.values(), ids=SETUPS.keys())
def test_new_traces_get_x_ray_trace_ids(setup: Dict[str, str], udp_listener: UdpListener) -> None:
    before = int(time.time())
    run_app(udp_listener, setup, "")
    after = int(time.time())
    documents = udp_listener.wait_for(2)
    epoch = {int(doc["trace_id"].split("-")[1], 16) for doc in documents}
    assert len(epoch) == 1
    assert before <= epoch.pop() <= after


def test_distro_samples_requests_that_leave_the_decision_open(udp_listener: UdpListener) -> None:
    run_app(udp_listener, SETUPS["distro"], f"Root={ROOT};Parent={PARENT};Sampled=?")
    assert len(segments(udp_listener.wait_for(2), ROOT)) == 2


def test_distro_on_lambda_defaults_to_the_lambda_propagator(udp_listener: UdpListener) -> None:
    setup = dict(SETUPS["distro"], AWS_LAMBDA_FUNCTION_NAME="fn")
    setup["_X_AMZN_TRACE_ID"] = f"Root={ROOT};Parent={PARENT};Sampled=1"
    run_app(udp_listener, setup, "")
    documents = udp_listener.wait_for(1)
    # With no header in the request, the invocation's environment header is the parent.
    assert any(doc.get("parent_id") == PARENT and doc["trace_id"] == ROOT for doc in documents)


def test_distro_answers_with_the_trace_header_and_reads_forwarded_for(
    udp_listener: UdpListener,
) -> None:
    output = run_app(udp_listener, SETUPS["distro"], f"Root={ROOT};Parent={PARENT};Sampled=1")
    assert f"RESPONSE-TRACE-HEADER Root={ROOT}" in output
    front = next(doc for doc in udp_listener.wait_for(2) if doc.get("parent_id") == PARENT)
    request = front["http"]["request"]
    assert (request["client_ip"], request["x_forwarded_for"]) == ("203.0.113.7", True)
