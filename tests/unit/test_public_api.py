"""The package's public surface: small, lazy, every module importable by its dotted name."""

from __future__ import annotations

import importlib
import pkgutil
import warnings

import pytest

import otel_xray

PUBLIC = {
    "ApiEmitter", "TranslateOptions", "UdpEmitter", "XRayIdGenerator", "XRayLambdaPropagator",
    "XRayParentBased", "XRayPropagator", "XRaySpanExporter", "XRaySpanProcessor", "annotate",
    "botocore_request_hook", "configure", "put_metadata", "stats",
}
DEPRECATED = {
    "Emitter": "otel_xray.emit.Emitter",
    "format_trace_header": "otel_xray.propagation.format_trace_header",
    "parse_trace_header": "otel_xray.propagation.parse_trace_header",
    "from_xray_trace_id": "otel_xray.ids.from_xray_trace_id",
    "to_xray_trace_id": "otel_xray.ids.to_xray_trace_id",
}


def test_the_public_names_are_exactly_the_documented_ones() -> None:
    assert set(otel_xray.__all__) >= PUBLIC
    assert len(otel_xray.__all__) <= 16


@pytest.mark.parametrize("name", sorted(PUBLIC))
def test_every_public_name_resolves(name: str) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert getattr(otel_xray, name) is not None


@pytest.mark.parametrize(("name", "instead"), sorted(DEPRECATED.items()))
def test_removed_names_still_work_with_a_deprecation_warning(name: str, instead: str) -> None:
    with pytest.warns(DeprecationWarning, match=instead.replace(".", r"\.")):
        value = getattr(otel_xray, name)
    module, _, attribute = instead.rpartition(".")
    assert value is getattr(importlib.import_module(module), attribute)


def test_an_unknown_name_raises_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        otel_xray.nope  # noqa: B018


def test_every_module_imports_by_its_dotted_name() -> None:
    names = [info.name for info in pkgutil.walk_packages(otel_xray.__path__, "otel_xray.")]
    assert "otel_xray.pipeline" in names and "otel_xray.buffer" in names
    for name in names:
        assert importlib.import_module(name).__name__ == name
