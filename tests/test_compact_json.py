"""compact_json writes exactly what json.dumps writes with the platform's options, for any JSON value."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from emulator.domain.compact_json import compact_json

FINITE = st.floats(allow_nan=False, allow_infinity=False)
SCALARS = st.none() | st.booleans() | st.integers() | FINITE | st.text()
JSON_VALUES = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(), inner, max_size=5),
    max_leaves=30,
)


@given(JSON_VALUES)
def test_the_same_bytes_as_json_dumps(value: Any) -> None:
    expected = json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode()
    assert compact_json(value) == expected


@pytest.mark.parametrize("value", [math.nan, math.inf, {"a": [-math.inf]}])
def test_no_nan_or_infinity(value: Any) -> None:
    with pytest.raises(ValueError):
        compact_json(value)


def test_no_object_json_cannot_write() -> None:
    with pytest.raises(TypeError, match="not JSON serializable"):
        compact_json({"when": object()})
