"""Encoding: compact strict JSON by orjson, with a safety net for what orjson refuses."""

from __future__ import annotations

from typing import Any

import orjson

from ..translate.values import json_safe


def dumps(value: Any) -> bytes:
    """Compact strict JSON of ``value`` (never NaN, lone surrogates or non-str keys).

    Objects orjson cannot encode itself go through
    :func:`~otel_xray.translate.values.json_safe` as its ``default`` hook; when orjson still
    refuses the value (ints beyond 64 bits, lone surrogates, non-str keys, deep nesting), the
    whole value is made safe first rather than lost.
    """
    try:
        return orjson.dumps(value, default=json_safe)
    except orjson.JSONEncodeError:
        return orjson.dumps(json_safe(value), default=json_safe)
