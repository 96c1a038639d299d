"""compact_json writes what json.dumps writes with the platform's options, for any JSON value.

`json_bytes` (the standard library's encoder, kept) byte for byte; `compact_json` (orjson first,
when installed) byte for byte too, but for the spelling of floats: the same numbers.
"""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from emulator.domain import json_codec as module
from emulator.domain.json_codec import compact_json, json_bytes

FINITE = st.floats(allow_nan=False, allow_infinity=False)


def json_values(scalars: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.recursive(
        scalars,
        lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(), inner, max_size=5),
        max_leaves=30,
    )


# Integers beyond 64 bits among them: what orjson refuses, and hands to the standard library.
WITHOUT_FLOATS = json_values(st.none() | st.booleans() | st.integers() | st.text())
WITH_FLOATS = json_values(st.none() | st.booleans() | st.integers() | FINITE | st.text())


def dumps(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode()


@given(WITH_FLOATS)
def test_json_bytes_writes_the_bytes_of_json_dumps(value: Any) -> None:
    assert json_bytes(value) == dumps(value)


@given(WITHOUT_FLOATS)
def test_compact_json_writes_the_bytes_of_json_dumps(value: Any) -> None:
    assert compact_json(value) == dumps(value)


@given(WITH_FLOATS)
def test_compact_json_writes_the_same_numbers(value: Any) -> None:
    assert json.loads(compact_json(value)) == value


def test_compact_json_is_orjson_first_when_installed() -> None:
    # The test extra installs orjson: its path is the one these tests hold to json.dumps.
    assert compact_json is not json_bytes
    assert module._orjson_dumps is not None


@pytest.mark.parametrize("value", [{1: "a"}, 2**70, {"big": [-(2**64)]}])
def test_what_orjson_refuses_is_written_as_json_does(value: Any) -> None:
    assert compact_json(value) == dumps(value)


@pytest.mark.parametrize("value", [math.nan, math.inf, {"a": [-math.inf]}])
def test_json_bytes_writes_no_nan_or_infinity(value: Any) -> None:
    with pytest.raises(ValueError):
        json_bytes(value)


@pytest.mark.parametrize("encode", [compact_json, json_bytes])
def test_no_object_json_cannot_write(encode: Any) -> None:
    with pytest.raises(TypeError, match="not JSON serializable"):
        encode({"when": object()})


def parsed(read: Any, raw: bytes) -> tuple[str, Any]:
    """What `read` makes of `raw`: ("value", its repr: types and NaN told apart) or ("error", its type)."""
    try:
        return "value", repr(read(raw))
    except (ValueError, RecursionError) as error:
        return "error", type(error)


JSON_TEXTS = st.one_of(
    WITH_FLOATS.map(lambda value: json.dumps(value, ensure_ascii=False).encode()),
    WITH_FLOATS.map(lambda value: json.dumps(value).encode("utf-16")),  # with a byte order mark
    st.binary(max_size=40),
    st.sampled_from(
        [b'{"a":1,"a":2}', b"NaN", b"[-Infinity]", b"1e400", b"123456789012345678901234567890",
         b'"\\ud800"', b"\xef\xbb\xbf{}", b"[" * 2000 + b"]" * 2000, b"{} x", b" [1 , 2 ] "]
    ),
)


@settings(max_examples=1000)
@given(JSON_TEXTS)
def test_loads_reads_what_json_loads_reads(raw: bytes) -> None:
    assert parsed(module.loads, raw) == parsed(json.loads, raw)
