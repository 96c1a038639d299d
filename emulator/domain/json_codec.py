"""JSON as the platform writes it (compact: no spaces, UTF-8, keys in their order) and reads it.

The same JSON as `json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(",", ":"))`,
which is also what Starlette's JSONResponse writes, written by orjson when it is installed (the
`fast` extra): nine times faster than the standard library here, where every answer and every
callback body is encoded. orjson writes the same bytes but for floats beyond 1e16 or below 1e-4
(`1e16` where json writes `1e+16`: the same number); what it refuses (an integer beyond 64 bits,
a key that is no string, text that is no valid UTF-8) goes to the standard library, which then
writes it or raises as json.dumps would.

Without orjson, `json_bytes` writes it: json's C encoder built once, since `json.dumps` with
options builds a new encoder at every call, and even a kept `JSONEncoder` builds its C encoder
again at every `encode` (together a third of the cost of a small body); without the `_json`
accelerator, a kept `JSONEncoder`. NaN and infinities, which the platform never writes, are a
ValueError there and null from orjson.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from json.encoder import c_make_encoder, encode_basestring  # type: ignore[attr-defined]
from typing import Any

_orjson_dumps: Callable[[Any], bytes] | None
_orjson_loads: Callable[[bytes], Any] | None
try:
    from orjson import dumps as _orjson_dumps
    from orjson import loads as _orjson_loads
except ImportError:  # the `fast` extra is not installed
    _orjson_dumps = _orjson_loads = None


def _refuse(value: Any) -> Any:
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def _make() -> Callable[[Any], bytes]:
    if c_make_encoder is None:
        encoder = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":"))
        return lambda value: encoder.encode(value).encode("utf-8")
    # No markers: no check for circular structures (ours are trees), which is also what lets one
    # C encoder be kept and used again. The last argument is allow_nan.
    chunks = c_make_encoder(None, _refuse, encode_basestring, None, ":", ",", False, False, False)
    return lambda value: "".join(chunks(value, 0)).encode("utf-8")


json_bytes = _make()
"""The standard library's compact JSON, byte for byte json.dumps's with the options above."""


def _orjson_first(dumps: Callable[[Any], bytes]) -> Callable[[Any], bytes]:
    def encode(value: Any) -> bytes:
        try:
            return dumps(value)
        except TypeError:  # orjson.JSONEncodeError is one
            return json_bytes(value)

    return encode


compact_json: Callable[[Any], bytes] = json_bytes if _orjson_dumps is None else _orjson_first(_orjson_dumps)


_LONG_NUMBER = re.compile(rb"[0-9]{19}")


def loads(raw: bytes) -> Any:
    """`json.loads(raw)`: the same value, or the same error.

    Read by orjson first when installed (a fifth of a small write's reading of its body). What it
    refuses, json.loads judges: it takes more (NaN, UTF-16 and UTF-32, a byte order mark, deeper
    nesting) and its errors are the ones the API reports. A number of 19 digits or more goes to
    json.loads directly: orjson would read an integer beyond 64 bits as a float.
    """
    if _orjson_loads is not None and _LONG_NUMBER.search(raw) is None:
        try:
            return _orjson_loads(raw)
        except ValueError:  # orjson.JSONDecodeError is one
            pass
    return json.loads(raw)
