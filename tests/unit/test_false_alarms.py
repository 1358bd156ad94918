"""OpenTelemetry's false alarms about a correct otel-xray setup are demoted, nothing else.

The real setups (``opentelemetry-instrument`` with opentelemetry-distro installed, the real
Lambda instrumentation) are in tests/integration/test_zero_code.py and test_lambda.py;
here the same messages are logged directly, to pin down what is and is not demoted.
"""

from __future__ import annotations

import logging
from typing import List, Tuple

import pytest

from otel_xray._false_alarms import quiet_configurator_choice, quiet_lambda_without_metrics

LOAD = logging.getLogger("opentelemetry.instrumentation.auto_instrumentation._load")
LAMBDA = logging.getLogger("opentelemetry.instrumentation.aws_lambda")
SKIPPED = "Configuration of %s not loaded, %s already loaded"
NOT_CHOSEN = "Configuration of %s not loaded because %s is set by %s"


def _levels(caplog: pytest.LogCaptureFixture) -> List[Tuple[str, str]]:
    return [(record.levelname, record.getMessage()) for record in caplog.records]


@pytest.mark.parametrize(
    ("msg", "args"),
    [(SKIPPED, ("configurator", "otel_xray")),
     (NOT_CHOSEN, ("configurator", "otel_xray", "OTEL_PYTHON_CONFIGURATOR"))],
    ids=["already-loaded", "set-by-variable"],
)
def test_skipping_another_configurator_for_ours_is_not_a_warning(
    caplog: pytest.LogCaptureFixture, msg: str, args: Tuple[str, ...]
) -> None:
    quiet_configurator_choice("otel_xray")
    caplog.set_level(logging.WARNING)
    LOAD.warning(msg, *args)
    assert caplog.records == []


def test_skipping_ours_for_another_configurator_is_still_a_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    quiet_configurator_choice("otel_xray")
    caplog.set_level(logging.WARNING)
    LOAD.warning(SKIPPED, "otel_xray", "configurator")
    assert _levels(caplog) == [
        ("WARNING", "Configuration of otel_xray not loaded, configurator already loaded")
    ]


def test_a_demoted_warning_shows_at_debug(caplog: pytest.LogCaptureFixture) -> None:
    quiet_configurator_choice("otel_xray")
    caplog.set_level(logging.DEBUG, logger=LOAD.name)
    LOAD.warning(SKIPPED, "configurator", "otel_xray")
    assert _levels(caplog) == [
        ("DEBUG", "Configuration of configurator not loaded, otel_xray already loaded")
    ]


def test_installing_twice_adds_one_filter() -> None:
    quiet_configurator_choice("otel_xray")
    quiet_configurator_choice("otel_xray")
    quiet_lambda_without_metrics()
    quiet_lambda_without_metrics()
    assert len(LOAD.filters) == 1
    assert len(LAMBDA.filters) == 1


def test_lambda_meter_warning_without_a_metrics_sdk_is_not_a_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    quiet_lambda_without_metrics()  # no MeterProvider is set in the test process
    caplog.set_level(logging.WARNING)
    LAMBDA.warning("MeterProvider was missing `force_flush` method. This is necessary ...")
    assert caplog.records == []


def test_other_lambda_warnings_stay_warnings(caplog: pytest.LogCaptureFixture) -> None:
    quiet_lambda_without_metrics()
    caplog.set_level(logging.WARNING)
    LAMBDA.warning("TracerProvider was missing `force_flush` method.")
    assert _levels(caplog) == [("WARNING", "TracerProvider was missing `force_flush` method.")]
