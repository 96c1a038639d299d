"""Seeded ids: integer counters per kind and opaque tokens derived from the seed (DESIGN.md section 4)."""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
from collections.abc import Iterator, Mapping


class Ids:
    """Every id the emulator hands out. The same seed and the same calls give the same ids.

    Tokens are a hash of (seed, kind, n) rather than draws from one random stream, so a new
    kind of token never shifts the values of the others, and the state is just the counters.
    """

    def __init__(self, seed: str | int = 0, starts: Mapping[str, int] | None = None) -> None:
        self.seed = str(seed)
        self._next: dict[str, int] = dict(starts or {})

    def next(self, kind: str) -> int:
        value = self._next.get(kind, 1)
        self._next[kind] = value + 1
        return value

    def peek(self, kind: str) -> int:
        return self._next.get(kind, 1)

    def _digest(self, kind: str) -> bytes:
        counter = "~" + kind  # `next`, inline: every new entry, event and token draws one
        n = self._next.get(counter, 1)
        self._next[counter] = n + 1
        if n <= _CACHED_UP_TO:
            return _cached_digest(self.seed, kind, n)
        return _digest_of(self.seed, kind, n)

    def token(self, kind: str, nbytes: int = 21) -> str:
        """A base64 token, like the platform's instance tokens."""
        return base64.b64encode(self._digest(kind)[:nbytes]).decode()

    def urlsafe(self, kind: str, nbytes: int = 24) -> str:
        return _urlsafe_text(self._digest(kind)[:nbytes])

    def hex(self, kind: str, length: int = 16) -> str:
        digest = self._digest(kind)
        while len(digest) * 2 < length:
            digest += hashlib.sha256(digest).digest()
        return digest.hex()[:length]

    # Bulk building (a 100,000-file fixture draws two tokens a file): the same values as the calls
    # above, a third of their cost. Each value is drawn from the counter as it is taken, so draws
    # and calls may interleave.
    def urlsafe_draws(self, kind: str, nbytes: int = 24) -> Iterator[str]:
        """`urlsafe(kind, nbytes)` each time one is taken."""
        counter, prefix, sha256 = f"~{kind}", f"{self.seed}:{kind}:", hashlib.sha256
        while True:
            n = self._next.get(counter, 1)
            self._next[counter] = n + 1
            yield _urlsafe_text(sha256(f"{prefix}{n}".encode()).digest()[:nbytes])

    def hex_draws(self, kind: str, length: int = 16) -> Iterator[str]:
        """`hex(kind, length)` each time one is taken."""
        counter, prefix, sha256 = f"~{kind}", f"{self.seed}:{kind}:", hashlib.sha256
        while length > 2 * sha256().digest_size:  # longer than one digest: rare, no shortcut
            yield self.hex(kind, length)
        while True:
            n = self._next.get(counter, 1)
            self._next[counter] = n + 1
            yield sha256(f"{prefix}{n}".encode()).hexdigest()[:length]

    def state(self) -> dict[str, int]:
        return dict(self._next)

    def restore(self, state: Mapping[str, int]) -> None:
        self._next = dict(state)


_URLSAFE = bytes.maketrans(b"+/", b"-_")


def _urlsafe_text(raw: bytes) -> str:
    """URL-safe base64 without padding: base64.urlsafe_b64encode's own steps, without its two calls."""
    return binascii.b2a_base64(raw, newline=False).translate(_URLSAFE).rstrip(b"=").decode()


def _digest_of(seed: str, kind: str, n: int) -> bytes:
    return hashlib.sha256(f"{seed}:{kind}:{n}".encode()).digest()


# A reset issues the very same tokens again, from the same counters: the first ones are kept.
# Later ones (a 100,000-file fixture's ids, a long run's) are made once and not kept.
_CACHED_UP_TO = 4096
_cached_digest = functools.lru_cache(maxsize=4 * _CACHED_UP_TO)(_digest_of)
