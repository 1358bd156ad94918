"""Values: any attribute value becomes something strict JSON can carry, bounded in size."""

from __future__ import annotations

import enum
import json
import math
from typing import Any, Dict

import orjson
import pytest

from otel_xray import TranslateOptions
from otel_xray.translate import to_document
from otel_xray.translate.limits import MAX_DEPTH, MAX_ITEMS, MAX_STRING_LENGTH, TRUNCATION_MARKER
from otel_xray.translate.values import SAFE_DEPTH, json_safe, to_json_value
from tests.support.helpers import SpanRecorder, assert_valid_document

OPTIONS = TranslateOptions(lambda_mode=False)
CAP = MAX_STRING_LENGTH
MARK = TRUNCATION_MARKER


class Color(enum.IntEnum):
    RED = 1


class Label(str, enum.Enum):
    A = "a"


class Shown:
    def __str__(self) -> str:
        return "shown"


class Broken:
    def __str__(self) -> str:
        raise RuntimeError("no text")


def nested(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = (value,)
    return value


# (input, expected output)
CASES: Dict[str, tuple] = {
    "ascii str unchanged": ("GET /orders", "GET /orders"),
    "unicode str unchanged": ("café ☕ 𝄞", "café ☕ 𝄞"),
    "empty str unchanged": ("", ""),
    "lone surrogate replaced": ("a\ud800b", "a\ufffdb"),
    "low surrogate replaced": ("\udc80", "\ufffd"),
    "str at cap unchanged": ("x" * CAP, "x" * CAP),
    "huge str cut with marker": ("x" * (CAP + 5), "x" * CAP + MARK),
    "huge unicode str cut by code point": ("é" * (CAP + 1), "é" * CAP + MARK),
    "None unchanged": (None, None),
    "True unchanged": (True, True),
    "False unchanged": (False, False),
    "int unchanged": (42, 42),
    "negative int unchanged": (-7, -7),
    "largest unsigned 64-bit int unchanged": (2**64 - 1, 2**64 - 1),
    "smallest signed 64-bit int unchanged": (-(2**63), -(2**63)),
    "int over 64 bits as decimal text": (2**64, "18446744073709551616"),
    "int under -2**63 as decimal text": (-(2**63) - 1, "-9223372036854775809"),
    "int subclass as plain int": (Color.RED, 1),
    "float unchanged": (2.5, 2.5),
    "negative zero unchanged": (-0.0, -0.0),
    "NaN as text": (math.nan, "NaN"),
    "Infinity as text": (math.inf, "Infinity"),
    "-Infinity as text": (-math.inf, "-Infinity"),
    "utf-8 bytes as text": ("café".encode(), "café"),
    "binary bytes as base64": (b"\xff\x00", "base64:/wA="),
    "bytearray as text": (bytearray(b"abc"), "abc"),
    "memoryview as text": (memoryview(b"abc"), "abc"),
    "tuple as list": ((1, 2, 3), [1, 2, 3]),
    "list with NaN made safe": ([1.0, math.nan, None], [1.0, "NaN", None]),
    "tuple of surrogate strs cleaned": (("\ud800",), ["\ufffd"]),
    "mixed nested sequence": ((1, ("a", b"b"), True), [1, ["a", "b"], True]),
    "dict unchanged": ({"a": 1, "b": "x"}, {"a": 1, "b": "x"}),
    "dict values made safe": ({"a": math.inf}, {"a": "Infinity"}),
    "dict non-str keys as text": ({1: "one", None: 2}, {"1": "one", "None": 2}),
    "dict key surrogate cleaned": ({"k\udfff": 1}, {"k\ufffd": 1}),
    "frozenset as list": (frozenset({"a"}), ["a"]),
    "str subclass as its text": (Label.A, "a"),
    "other object as str()": (Shown(), "shown"),
    "object whose str() raises as type name": (Broken(), "<Broken>"),
    f"nesting deeper than {MAX_DEPTH} cut with marker": (
        nested(MAX_DEPTH + 1),
        [[[[[[[[MARK]]]]]]]],
    ),
    f"sequence over {MAX_ITEMS} items cut with marker": (
        tuple(range(MAX_ITEMS + 5)),
        [*range(MAX_ITEMS), MARK],
    ),
    f"mapping over {MAX_ITEMS} entries cut with count": (
        {str(i): i for i in range(MAX_ITEMS + 5)},
        {**{str(i): i for i in range(MAX_ITEMS)}, MARK: 5},
    ),
}


def strict_json(value: Any) -> Any:
    """Round-trip through orjson and a strict parser (no NaN/Infinity constants)."""
    raw = orjson.dumps(value)

    def reject(name: str) -> Any:
        raise AssertionError(f"non-standard JSON constant {name}")

    return json.loads(raw, parse_constant=reject)


@pytest.mark.parametrize(("value", "expected"), list(CASES.values()), ids=list(CASES))
def test_value_becomes_json_safe(value: Any, expected: Any) -> None:
    result = to_json_value(value)
    assert result == expected
    assert strict_json(result) == strict_json(expected)


def test_int_too_big_for_decimal_text_becomes_bounded_text() -> None:
    result = to_json_value(10**5000)
    assert isinstance(result, str)
    assert len(result) <= CAP + len(MARK)
    strict_json(result)


def test_huge_binary_bytes_are_bounded() -> None:
    result = to_json_value(b"\xff" * (CAP * 4))
    assert result.startswith("base64:") and result.endswith(MARK)
    assert len(result) <= CAP + len(MARK)


def test_huge_utf8_bytes_are_bounded_and_stay_text() -> None:
    result = to_json_value("é".encode() * (CAP * 3))
    assert result == "é" * CAP + MARK


def test_text_in_a_nested_value_shares_one_budget() -> None:
    result = to_json_value(tuple("y" * 10_000 for _ in range(10)))
    text = "".join(item for item in result if item != MARK)
    assert len(text) <= CAP + 10 * len(MARK)
    assert result[0] == "y" * 10_000
    strict_json(result)


DOCUMENT_CASES: Dict[str, tuple] = {
    "NaN": (math.nan, "NaN"),
    "-Infinity": (-math.inf, "-Infinity"),
    "lone surrogate": ("\ud83d", "\ufffd"),
    "huge string": ("z" * (CAP + 1), "z" * CAP + MARK),
    "int over 64 bits": (2**70, str(2**70)),
    "binary bytes": (b"\x80", "base64:gA=="),
    "sequence with NaN": ((math.nan, 1.0), ["NaN", 1.0]),
    "mapping (AnyValue)": ({"inner": {"x": math.inf}}, {"inner": {"x": "Infinity"}}),
}


@pytest.mark.parametrize(
    ("value", "expected"), list(DOCUMENT_CASES.values()), ids=list(DOCUMENT_CASES)
)
def test_attribute_value_in_document_is_strict_json(
    recorder: SpanRecorder, value: Any, expected: Any
) -> None:
    span = recorder.span("s", attributes={"app.value": value})
    if type((span.attributes or {}).get("app.value")) is not type(value):
        pytest.skip(f"this SDK does not keep {type(value).__name__} attribute values")
    doc = assert_valid_document(to_document(span, OPTIONS))
    assert doc["metadata"]["default"]["app.value"] == expected


def test_attribute_key_with_lone_surrogate_is_cleaned_in_metadata(
    recorder: SpanRecorder,
) -> None:
    span = recorder.span("s", attributes={"app.\udc00key": 1})
    doc = assert_valid_document(to_document(span, OPTIONS))
    assert doc["metadata"]["default"] == {"app.\ufffdkey": 1}


def nested_list(depth: int, leaf: Any) -> Any:
    value = leaf
    for _ in range(depth):
        value = [value]
    return value


# (input, expected output): json_safe converts like to_json_value but keeps sizes
SAFE_CASES: Dict[str, tuple] = {
    "huge str kept whole": ("x" * (CAP + 5), "x" * (CAP + 5)),
    "lone surrogate replaced": ("a\ud800b", "a\ufffdb"),
    "int over 64 bits as decimal text": (2**64, "18446744073709551616"),
    "NaN as text": (math.nan, "NaN"),
    "dict non-str keys as text": ({1: "one"}, {"1": "one"}),
    f"sequence over {MAX_ITEMS} items kept whole": (
        tuple(range(MAX_ITEMS + 5)), list(range(MAX_ITEMS + 5))
    ),
    f"nesting deeper than {SAFE_DEPTH} cut with marker": (
        nested(SAFE_DEPTH + 1), nested_list(SAFE_DEPTH, MARK)
    ),
    "object whose str() raises as type name": ([Broken(), 1], ["<Broken>", 1]),
}


@pytest.mark.parametrize(("value", "expected"), list(SAFE_CASES.values()), ids=list(SAFE_CASES))
def test_json_safe_converts_what_json_cannot_carry_and_keeps_sizes(
    value: Any, expected: Any
) -> None:
    result = json_safe(value)
    assert result == expected
    assert strict_json(result) == strict_json(expected)
