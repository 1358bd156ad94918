"""Warnings that OpenTelemetry's own packages log about a correct otel-xray setup.

A correctly configured service logs nothing at WARNING or above. Two messages of
OpenTelemetry packages are false alarms there; they are demoted to DEBUG (still shown when
that logger is set to DEBUG), and only in the situation that makes them false:

- ``opentelemetry-instrumentation`` (``opentelemetry-instrument``), when more than one
  configurator is installed (``opentelemetry-distro`` brings its own): "Configuration of
  configurator not loaded, otel_xray already loaded" (or "... because otel_xray is set by
  OTEL_PYTHON_CONFIGURATOR"). otel_xray was chosen on purpose; skipping the other one is
  what should happen. Installed by :class:`otel_xray.distro.XRayDistro`.
- ``opentelemetry-instrumentation-aws-lambda``, after every invocation: "MeterProvider was
  missing `force_flush`". With the API's no-op meter provider (no metrics SDK set up) there
  are no metrics that a Lambda freeze could lose. Installed by :func:`otel_xray.configure`.
"""

from __future__ import annotations

import logging
from typing import Callable

from opentelemetry.metrics import get_meter_provider

_CONFIGURATOR_LOGGER = "opentelemetry.instrumentation.auto_instrumentation._load"
_CONFIGURATOR_MESSAGES = frozenset(
    {
        "Configuration of %s not loaded, %s already loaded",
        "Configuration of %s not loaded because %s is set by %s",
    }
)
_LAMBDA_LOGGER = "opentelemetry.instrumentation.aws_lambda"
_METER_MESSAGE = "MeterProvider was missing `force_flush`"


class _Demote(logging.Filter):
    """Demotes the WARNING records of one logger that ``applies`` to, to DEBUG."""

    def __init__(
        self, logger: logging.Logger, key: str, applies: Callable[[logging.LogRecord], bool]
    ) -> None:
        super().__init__()
        self.key = key
        self._logger = logger
        self._applies = applies

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno != logging.WARNING:
            return True
        try:
            applies = self._applies(record)
        except Exception:  # a record we do not understand is left alone
            return True
        if not applies:
            return True
        record.levelno, record.levelname = logging.DEBUG, "DEBUG"
        return self._logger.isEnabledFor(logging.DEBUG)




def _no_metrics_sdk(record: logging.LogRecord) -> bool:
    """The Lambda instrumentation found the API's own no-op or proxy meter provider."""
    return str(record.msg).startswith(_METER_MESSAGE) and type(
        get_meter_provider()
    ).__module__.startswith("opentelemetry.metrics")


def _install(name: str, key: str, applies: Callable[[logging.LogRecord], bool]) -> None:
    logger = logging.getLogger(name)
    if not any(isinstance(f, _Demote) and f.key == key for f in logger.filters):
        logger.addFilter(_Demote(logger, key, applies))


def quiet_configurator_choice(configurator: str) -> None:
    """Demote the auto-instrumentation's warning that it skipped another configurator
    because ``configurator`` (the entry point name) is the one chosen."""

    def chosen(record: logging.LogRecord) -> bool:
        args = record.args
        return (
            record.msg in _CONFIGURATOR_MESSAGES
            and isinstance(args, tuple)
            and len(args) >= 2
            and args[1] == configurator
        )

    _install(_CONFIGURATOR_LOGGER, "configurator:" + configurator, chosen)


def quiet_lambda_without_metrics() -> None:
    """Demote the Lambda instrumentation's warning about a meter provider with no SDK."""
    _install(_LAMBDA_LOGGER, "lambda-meter", _no_metrics_sdk)
