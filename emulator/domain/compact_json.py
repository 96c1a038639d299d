"""Compact JSON as the platform writes it: no spaces, UTF-8, no NaN.

Byte for byte `json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(",", ":"))`,
which is also what Starlette's JSONResponse writes, but cheaper: `json.dumps` with options builds
a new encoder at every call, and even a kept `JSONEncoder` builds its C encoder again at every
`encode` (together a third of the cost of a small body). The C encoder is built once here; without
it (a Python built without the `_json` accelerator) a kept `JSONEncoder` does the same job.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from json.encoder import c_make_encoder, encode_basestring  # type: ignore[attr-defined]
from typing import Any


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


_encode = _make()


def compact_json(value: Any) -> bytes:
    return _encode(value)
