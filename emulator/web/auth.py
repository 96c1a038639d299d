"""Reads the platform's Authorization header in every spelling clients send (REFERENCE.md, variants)."""

from __future__ import annotations

import functools
import re
from typing import NamedTuple

from emulator.dialects import auth_words
from emulator.domain.errors import Unauthenticated

_PART = re.compile(r"^\s*([A-Za-z_]+)\s*:?\s+(\S+)\s*$")
_WORDS = {"user": "user", "organization": "organization", **{w: "token" for w in auth_words()}}


class Credentials(NamedTuple):
    user: str | None = None
    organization: str | None = None
    token: str | None = None


@functools.lru_cache(maxsize=1024)
def parse_authorization(header: str | None) -> Credentials:
    """`User <u>, Organization <o>, Element <t>` in any order; `Element: <t>`; the guide's `Your_mom <t>`.

    Cached: a client sends the same header with every request, and the answer (immutable) depends
    on the header alone. A header that is refused raises each time, and is not kept.
    """
    if header is None or not header.strip():
        raise Unauthenticated("Authorization header is missing")
    found: dict[str, str] = {}
    for part in header.split(","):
        if not part.strip():
            continue
        match = _PART.match(part)
        role = _WORDS.get(match.group(1).lower()) if match else None
        if match is None or role is None:
            raise Unauthenticated(f"Authorization part not understood: {_clip(part.strip())!r}")
        if role in found:
            raise Unauthenticated(f"Authorization names {match.group(1)} twice")
        found[role] = match.group(2)
    return Credentials(found.get("user"), found.get("organization"), found.get("token"))


def _clip(text: str, limit: int = 40) -> str:
    # Never echo a whole secret back; the first characters are enough to spot the typo.
    word = text.split()[0] if text.split() else text
    return word[:limit]
