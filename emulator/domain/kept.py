"""Values kept by the identity of the objects they were made from (an entry's JSON, a seed's hash)."""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from typing import Generic, TypeVar

V = TypeVar("V")


class KeptByIdentity(Generic[V]):
    """A bounded cache keyed by the identities of its sources (plus a hashable variant).

    For sources that are never mutated (store entries, a seed's bytes), so that a value made from
    them never goes stale. Each kept value holds its sources: no id is reused while it is here.
    Full, it starts again empty: simpler than LRU, and the values in use come back at once.
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._kept: dict[tuple[object, ...], tuple[Sequence[object], V]] = {}

    def get(self, sources: Sequence[object], make: Callable[[], V], variant: Hashable = None) -> V:
        key = (variant, *map(id, sources))
        found = self._kept.get(key)
        if found is not None:
            return found[1]
        value = make()
        if len(self._kept) >= self.limit:
            self._kept.clear()
        self._kept[key] = (tuple(sources), value)
        return value
