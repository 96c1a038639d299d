"""Dropbox's list_folder family over one account's store: a first listing in pages, then the changes since.

A listing has a scope (a folder, recursive or not) and a position: the log seq it follows from and,
while the first listing is still paging, the last `path_lower` it gave. Each page of the first listing
is read from the tree as it is when asked; whatever changed meanwhile is in the log after `seq`, so a
client that applies every page and then the changes ends up with the account as it is.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace

from emulator.domain.errors import InvalidInput, NotFound
from emulator.domain.provider import paths
from emulator.domain.provider.store import Change, Entry, Metadata, Store

DEFAULT_LIMIT = 2000
MAX_LIMIT = 2000


@dataclass(frozen=True, slots=True)
class Scope:
    """The entries a listing covers: a folder's children, or everything below it and itself."""

    path_lower: str
    recursive: bool

    def covers(self, path_lower: str) -> bool:
        if path_lower == paths.ROOT:
            return False
        if self.recursive:
            return paths.is_within(path_lower, self.path_lower)
        return path_lower != self.path_lower and paths.parent(path_lower) == self.path_lower

    def touched_by(self, batch: Iterable[Change]) -> bool:
        return any(self.covers(change.path_lower) for change in batch)


@dataclass(frozen=True, slots=True)
class Position:
    """Where a listing stands. `after` is None once the first listing is complete and the log is followed."""

    seq: int
    limit: int = DEFAULT_LIMIT
    after: str | None = None


@dataclass(frozen=True, slots=True)
class ListingPage:
    entries: list[Metadata]
    position: Position
    has_more: bool


def resolve(store: Store, path: str, role: str = "path") -> str:
    """The path to use for `path`, which may also be Dropbox's `id:...` form of an entry."""
    if not path.startswith("id:"):
        return path
    entry = store.by_id(path)
    if entry is None:
        raise NotFound(f"no entry with id {path!r}", provider_message=f"{role}/not_found/")
    return entry.path_display


def open_scope(store: Store, path: str, recursive: bool) -> Scope:
    """The scope of a listing of `path`; NotFound or InvalidInput ("path/not_folder/") if it is no folder."""
    return Scope(_folder(store, resolve(store, path)).path_lower, recursive)


def check_limit(limit: int) -> int:
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidInput(f"limit: {limit} is not within range [1, {MAX_LIMIT}]")
    return limit


def first_page(store: Store, scope: Scope, limit: int = DEFAULT_LIMIT) -> ListingPage:
    return _listing_page(store, scope, Position(store.cursor(), check_limit(limit), after=""))


def latest(store: Store, limit: int = DEFAULT_LIMIT) -> Position:
    """A position past everything the account holds now, as `list_folder/get_latest_cursor` gives."""
    return Position(store.cursor(), check_limit(limit))


def next_page(store: Store, scope: Scope, position: Position) -> ListingPage:
    """The next page of the first listing, else the changes since `position` (raises "reset" if stale)."""
    _check_seq(store, position)
    if position.after is not None:
        return _listing_page(store, scope, position)
    return _changes_page(store, scope, position)


def has_changes(store: Store, scope: Scope, position: Position) -> bool:
    """Whether `next_page` would give anything: what a longpoll waits for."""
    _check_seq(store, position)
    if position.after is not None:
        return True
    return scope.touched_by(store.changes_since(position.seq))


def deleted_metadata(store: Store, path: str) -> Metadata | None:
    """The `.tag: deleted` metadata of a path whose latest logged change removed it, else None."""
    key = paths.key(paths.normalize(path))
    for change in reversed(store.changes_since(0)):
        if change.path_lower == key:
            return change.metadata() if change.tag == "deleted" else None
    return None


def _check_seq(store: Store, position: Position) -> None:
    if not 0 <= position.seq <= store.cursor():
        raise InvalidInput(f"unknown cursor position {position.seq}", provider_message="reset")


def _folder(store: Store, path: str) -> Entry:
    folder = store.get(path)
    if not folder.is_folder:
        raise InvalidInput(f"{folder.path_display} is a file", provider_message="path/not_folder/")
    return folder


def _listing_page(store: Store, scope: Scope, position: Position) -> ListingPage:
    folder = _folder(store, scope.path_lower)
    # Sorted by path_lower: a stable order to resume from, and parents always before their children.
    entries = sorted(_entries_in(store, folder, scope), key=lambda e: e.path_lower)
    remaining = [e for e in entries if e.path_lower > (position.after or "")]
    page = remaining[: position.limit]
    has_more = len(remaining) > len(page)
    after = page[-1].path_lower if has_more else None
    return ListingPage([e.metadata() for e in page], replace(position, after=after), has_more)


def _entries_in(store: Store, folder: Entry, scope: Scope) -> list[Entry]:
    if not scope.recursive:
        return list(store.children(folder.path_lower))
    return [e for e in store.walk(folder.path_lower) if e.path_lower != paths.ROOT]


def _changes_page(store: Store, scope: Scope, position: Position) -> ListingPage:
    """The changes in scope after `position.seq`, each path once at its latest state, oldest first."""
    latest_change: dict[str, Change] = {}
    seq = position.seq
    for change in store.changes_since(position.seq):
        if scope.covers(change.path_lower):
            if change.path_lower not in latest_change and len(latest_change) >= position.limit:
                return _changes_result(latest_change, replace(position, seq=seq), has_more=True)
            latest_change.pop(change.path_lower, None)
            latest_change[change.path_lower] = change
        seq = change.seq
    return _changes_result(latest_change, replace(position, seq=seq), has_more=False)


def _changes_result(latest_change: dict[str, Change], position: Position, *, has_more: bool) -> ListingPage:
    return ListingPage([c.metadata() for c in latest_change.values()], position, has_more)
