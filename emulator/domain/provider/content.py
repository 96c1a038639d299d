"""Dropbox's content hash and timestamp format."""

from __future__ import annotations

import functools
import hashlib
from datetime import UTC, datetime

from emulator.domain.errors import InvalidInput

BLOCK_SIZE = 4 * 1024 * 1024
TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


def content_hash(data: bytes) -> str:
    """SHA-256 of the concatenated SHA-256 digests of each 4 MiB block, in hex (Dropbox's `content_hash`)."""
    if 0 < len(data) <= BLOCK_SIZE:
        # The common case of one block, without the slicing.
        return hashlib.sha256(hashlib.sha256(data).digest()).hexdigest()
    view = memoryview(data)
    blocks = b"".join(
        hashlib.sha256(view[start : start + BLOCK_SIZE]).digest() for start in range(0, len(data), BLOCK_SIZE)
    )
    return hashlib.sha256(blocks).hexdigest()


@functools.lru_cache(maxsize=8192)
def format_time(epoch: float) -> str:
    """Epoch seconds as Dropbox writes times: UTC, whole seconds (fractions are dropped).

    Cached: entries share few distinct times, and a listing formats two per entry.
    """
    return datetime.fromtimestamp(epoch, tz=UTC).strftime(TIME_FORMAT)


def parse_time(text: str) -> float:
    """The epoch seconds of a time written as Dropbox writes it; InvalidInput otherwise."""
    try:
        parsed = datetime.strptime(text, TIME_FORMAT)
    except ValueError:
        raise InvalidInput(f"invalid time {text!r}: expected YYYY-MM-DDTHH:MM:SSZ") from None
    return parsed.replace(tzinfo=UTC).timestamp()
