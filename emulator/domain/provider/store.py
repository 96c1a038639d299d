"""The fake Dropbox account: a case-insensitive file tree, its content blobs and its change log.

Conventions (where Dropbox leaves a choice):
- The root is a synthetic folder entry (`ROOT_ID`, name and paths ""): `lookup("")` returns it so
  the hub can list and describe the root; it is never logged, counted, exported, moved or deleted.
- Display paths are canonical: a child's `path_display` is its parent's `path_display` + "/" + its
  name, whatever case a request spelled the parents in. Only a new name takes the request's case.
- Indexed entries are never mutated: a change replaces the entry, so an Entry handed out stays a
  stable snapshot of that moment. Callers must not mutate entries either.
- Every write validates everything before it changes anything, then appends one batch to the log
  and tells `listeners` once, after the state is committed.
"""

from __future__ import annotations

import base64
import itertools
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from types import MappingProxyType
from typing import Any, Literal, NamedTuple, Protocol

from emulator.domain.clock import Clock
from emulator.domain.errors import Conflict, InvalidInput, NotFound, TooLarge
from emulator.domain.ids import Ids
from emulator.domain.provider import content, paths

DEFAULT_MAX_UPLOAD_BYTES = 150 * 1024 * 1024
ROOT_ID = "id:root"
_ID_KIND, _ID_BYTES = "dropbox-id", 16
_REV_KIND, _REV_LENGTH = "dropbox-rev", 16
SNAPSHOT_VERSION = 1

ChangeTag = Literal["file", "folder", "deleted"]
UploadMode = Literal["add", "overwrite"]
Metadata = dict[str, str | int]
Listener = Callable[["Store", list["Change"]], None]


@dataclass(slots=True)
class Entry:
    """One file or folder of the account, as Dropbox describes it, plus the platform's tags."""

    id: str
    name: str
    path_display: str
    path_lower: str
    is_folder: bool
    size: int
    rev: str | None
    content_hash: str | None
    client_modified: float | None
    server_modified: float | None
    tags: tuple[str, ...] = ()
    description: str | None = None

    def metadata(self) -> Metadata:
        """Dropbox API v2 metadata (`.tag` file or folder)."""
        result = _metadata(
            "folder" if self.is_folder else "file", self.name, self.path_lower, self.path_display
        )
        result["id"] = self.id
        return result if self.is_folder else _with_file_fields(result, self)


class Change(NamedTuple):
    """One line of the account's change log: what a path became (file, folder) or that it went.

    A named tuple rather than a frozen dataclass: every write makes one, and a frozen dataclass
    sets each of its twelve fields through `object.__setattr__`.
    """

    seq: int
    batch: int
    tag: ChangeTag
    path_lower: str
    path_display: str
    name: str
    entry_id: str | None
    rev: str | None
    content_hash: str | None
    size: int
    client_modified: float | None
    server_modified: float | None

    @classmethod
    def written(cls, seq: int, batch: int, entry: Entry) -> Change:
        return cls(
            seq,
            batch,
            "folder" if entry.is_folder else "file",
            entry.path_lower,
            entry.path_display,
            entry.name,
            entry.id,
            entry.rev,
            entry.content_hash,
            entry.size,
            entry.client_modified,
            entry.server_modified,
        )

    @classmethod
    def deleted(cls, seq: int, batch: int, entry: Entry) -> Change:
        path_lower, path_display, name = entry.path_lower, entry.path_display, entry.name
        return cls(seq, batch, "deleted", path_lower, path_display, name, None, None, None, 0, None, None)

    def metadata(self) -> Metadata:
        """The entry as Dropbox's `list_folder/continue` reports it (`.tag` file, folder or deleted)."""
        result = _metadata(self.tag, self.name, self.path_lower, self.path_display)
        if self.entry_id is not None:
            result["id"] = self.entry_id
        return _with_file_fields(result, self) if self.tag == "file" else result

    def to_dict(self) -> dict[str, Any]:
        return self._asdict()

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Change:
        if data["tag"] not in ("file", "folder", "deleted"):
            raise ValueError(f"unknown change tag {data['tag']!r}")
        return cls(**{name: data[name] for name in cls._fields})


def _metadata(tag: ChangeTag, name: str, path_lower: str, path_display: str) -> Metadata:
    return {".tag": tag, "name": name, "path_lower": path_lower, "path_display": path_display}


def _with_file_fields(result: Metadata, source: Entry | Change) -> Metadata:
    assert source.rev is not None and source.content_hash is not None
    assert source.client_modified is not None and source.server_modified is not None
    result.update(
        rev=source.rev,
        size=source.size,
        content_hash=source.content_hash,
        client_modified=content.format_time(source.client_modified),
        server_modified=content.format_time(source.server_modified),
    )
    return result


class SeedNode(Protocol):
    """One folder or file of a fixture tree, parents listed before children."""

    @property
    def path(self) -> str: ...
    @property
    def is_folder(self) -> bool: ...
    @property
    def content(self) -> bytes | None: ...
    @property
    def modified(self) -> float | None: ...


def _folder(entry_id: str, display: str) -> Entry:
    return Entry(
        id=entry_id,
        name=paths.name(display),
        path_display=display,
        path_lower=paths.key(display),
        is_folder=True,
        size=0,
        rev=None,
        content_hash=None,
        client_modified=None,
        server_modified=None,
    )


def _file(
    entry_id: str,
    display: str,
    *,
    size: int,
    digest: str,
    rev: str,
    client_modified: float,
    server_modified: float,
) -> Entry:
    return Entry(
        id=entry_id,
        name=paths.name(display),
        path_display=display,
        path_lower=paths.key(display),
        is_folder=False,
        size=size,
        rev=rev,
        content_hash=digest,
        client_modified=client_modified,
        server_modified=server_modified,
    )


def _placed(entry: Entry, display: str) -> Entry:
    return replace(entry, name=paths.name(display), path_display=display, path_lower=paths.key(display))


def _numbered(name: str, n: int, is_file: bool) -> str:
    """Dropbox's autorename: "report (1).txt" for files (number before the extension), "name (1)" else."""
    stem, dot, extension = name.rpartition(".")
    if is_file and dot and stem:
        return f"{stem} ({n}).{extension}"
    return f"{name} ({n})"


def _normalize(path: str, role: str) -> str:
    """`paths.normalize`, its provider message re-spelled for the argument, e.g. "to/malformed_path/"."""
    try:
        return paths.normalize(path)
    except InvalidInput as exc:
        message = exc.provider_message or ""
        if role == "path" or not message.startswith("path/"):
            raise
        raise InvalidInput(exc.message, provider_message=role + message.removeprefix("path")) from None


def _conflict(occupant: Entry, role: str) -> Conflict:
    kind = "folder" if occupant.is_folder else "file"
    return Conflict(
        f"a {kind} is at {occupant.path_display or '/'}", provider_message=f"{role}/conflict/{kind}/"
    )


class Store:
    """One Dropbox account. Time comes from `clock`, ids and revs from `ids`."""

    def __init__(self, clock: Clock, ids: Ids, *, max_upload_bytes: int = DEFAULT_MAX_UPLOAD_BYTES) -> None:
        self.clock = clock
        self.ids = ids
        self.max_upload_bytes = max_upload_bytes
        # Called once after each logged batch, with that batch; exceptions propagate to the writer.
        self.listeners: list[Listener] = []
        self._root = _folder(ROOT_ID, paths.ROOT)
        self._by_key: dict[str, Entry] = {paths.ROOT: self._root}
        self._by_id: dict[str, Entry] = {ROOT_ID: self._root}
        self._children: dict[str, set[str]] = {paths.ROOT: set()}
        # Each folder's children sorted by key, made on first read and dropped when one of them
        # changes: listings read the same folders again and again between writes.
        self._sorted: dict[str, tuple[Entry, ...]] = {}
        self._blobs: dict[str, bytes] = {}
        self._refs: dict[str, int] = {}
        self._log: list[Change] = []
        self._batches = 0

    # -- reading -----------------------------------------------------------------------
    def lookup(self, path: str) -> Entry | None:
        """The entry at `path` in any case or Unicode spelling; the root entry for "" or "/"."""
        return self._by_key.get(paths.key(paths.normalize(path)))

    def get(self, path: str) -> Entry:
        entry = self.lookup(path)
        if entry is None:
            raise NotFound(f"nothing at {path!r}", provider_message="path/not_found/")
        return entry

    def by_id(self, entry_id: str) -> Entry | None:
        return self._by_id.get(entry_id)

    def read(self, path: str) -> bytes:
        entry = self.get(path)
        if entry.content_hash is None:
            raise InvalidInput(f"{entry.path_display or '/'} is a folder", provider_message="path/not_file/")
        return self._blobs[entry.content_hash]

    def children(self, path: str) -> Sequence[Entry]:
        """The entries directly inside the folder at `path`, sorted by `path_lower`."""
        return self.children_of(self.get(path))

    def children_of(self, folder: Entry) -> Sequence[Entry]:
        """`children` of a folder entry this store handed out, without looking its path up again."""
        if not folder.is_folder:
            raise InvalidInput(f"{folder.path_display} is a file", provider_message="path/not_folder/")
        return self._sorted_children(folder.path_lower)

    def walk(self, path: str) -> Iterator[Entry]:
        """The entry at `path`, then everything below it, pre-order, children sorted by `path_lower`.

        Raises at the call if `path` is missing. Do not write to the store while iterating.
        """
        return self._walk(self.get(path))

    def count(self) -> int:
        """Files and folders in the account, the root not included."""
        return len(self._by_key) - 1

    def blobs(self) -> Mapping[str, bytes]:
        """A read-only view of the content blobs, by content hash."""
        return MappingProxyType(self._blobs)

    def _walk(self, top: Entry) -> Iterator[Entry]:
        stack = [top]
        while stack:
            entry = stack.pop()
            yield entry
            if entry.is_folder:
                stack.extend(reversed(self._sorted_children(entry.path_lower)))

    def _sorted_children(self, folder_key: str) -> tuple[Entry, ...]:
        found = self._sorted.get(folder_key)
        if found is None:
            found = tuple(self._by_key[k] for k in sorted(self._children[folder_key]))
            self._sorted[folder_key] = found
        return found

    # -- change log --------------------------------------------------------------------
    def cursor(self) -> int:
        """The seq of the latest change; 0 when nothing was logged yet."""
        return len(self._log)

    def changes_since(self, cursor: int, limit: int | None = None) -> list[Change]:
        """The changes after `cursor`, oldest first, at most `limit`.

        A cursor this log never handed out (beyond its end, or negative) raises InvalidInput "reset".
        """
        if not 0 <= cursor <= len(self._log):
            raise InvalidInput(f"unknown cursor {cursor}", provider_message="reset")
        if limit is not None and limit < 1:
            raise InvalidInput(f"limit must be at least 1, not {limit}")
        end = len(self._log) if limit is None else cursor + limit
        return self._log[cursor:end]

    def _record(self, deleted: Iterable[Entry], written: Iterable[Entry]) -> None:
        self._batches += 1
        batch: list[Change] = []
        for entry in deleted:
            batch.append(Change.deleted(len(self._log) + len(batch) + 1, self._batches, entry))
        for entry in written:
            batch.append(Change.written(len(self._log) + len(batch) + 1, self._batches, entry))
        self._log.extend(batch)
        for listener in list(self.listeners):
            listener(self, batch)

    # -- writes ------------------------------------------------------------------------
    def mkdir(self, path: str, *, autorename: bool = False) -> Entry:
        """Create a folder and its missing parents, all in one logged batch."""
        target = paths.normalize(path)
        if target == paths.ROOT:
            raise _conflict(self._root, "path")
        parent_display, missing = self._plan_parents(target, "path")
        name = paths.name(target)
        if not missing:
            name = self._free_name(parent_display, name, is_file=False, autorename=autorename, role="path")
        created = [self._new_folder(p) for p in [*missing, paths.join(parent_display, name)]]
        for entry in created:
            self._index(entry)
        self._record((), created)
        return created[-1]

    def upload(
        self,
        path: str,
        data: bytes,
        *,
        mode: UploadMode = "add",
        autorename: bool = False,
        client_modified: float | None = None,
        tags: Iterable[str] | None = None,
        description: str | None = None,
    ) -> Entry:
        """Write a file (and its missing parents). Identical content at the target writes nothing."""
        target = paths.normalize(path)
        if mode not in ("add", "overwrite"):
            raise InvalidInput(f"mode must be 'add' or 'overwrite', not {mode!r}")
        if len(data) > self.max_upload_bytes:
            raise TooLarge(
                f"{len(data)} bytes is over the {self.max_upload_bytes} byte upload limit",
                provider_message="payload_too_large/",
            )
        if target == paths.ROOT:
            raise _conflict(self._root, "path")
        parent_display, missing = self._plan_parents(target, "path")
        existing = None if missing else self._by_key.get(paths.key(target))
        if existing is not None and existing.is_folder:
            raise _conflict(existing, "path")
        digest = content.content_hash(data)
        if existing is not None and existing.content_hash == digest:
            return self._set_properties(existing, tags, description)
        if existing is not None and mode == "overwrite":
            file = self._rewritten(existing, data, digest, client_modified)
            created = [self._with_properties(file, tags, description)]
        else:
            name = paths.name(target)
            if existing is not None:
                name = self._free_name(parent_display, name, is_file=True, autorename=autorename, role="path")
            file = self._new_file(paths.join(parent_display, name), data, digest, client_modified)
            file = replace(file, tags=tuple(tags or ()), description=description)
            created = [*(self._new_folder(p) for p in missing), file]
        for entry in created:
            self._index(entry, data)
        self._record((), created)
        return created[-1]

    def delete(self, path: str) -> Entry:
        """Delete an entry and everything below it; returns the entry as it was."""
        target = _normalize(path, "path_lookup")
        if target == paths.ROOT:
            raise InvalidInput(
                "the root folder cannot be deleted", provider_message="path_lookup/malformed_path/"
            )
        entry = self._by_key.get(paths.key(target))
        if entry is None:
            raise NotFound(f"nothing at {path!r}", provider_message="path_lookup/not_found/")
        removed = list(self._walk(entry))
        self._unindex_all(removed)
        self._record(removed, ())
        return entry

    def move(self, src: str, dst: str, *, autorename: bool = False) -> Entry:
        """Move or rename an entry with everything below it; ids, revs and times are kept."""
        source, dst_display, missing = self._plan_relocation(src, dst, autorename, case_rename=True)
        old = list(self._walk(source))
        moved = [_placed(e, dst_display + e.path_display[len(source.path_display) :]) for e in old]
        created = [*(self._new_folder(p) for p in missing), *moved]
        # Unindexing drops the blobs nothing else holds; the moved files take them back.
        contents = {e.content_hash: self._blobs[e.content_hash] for e in old if e.content_hash is not None}
        self._unindex_all(old)
        for entry in created:
            self._index(entry, contents.get(entry.content_hash or ""))
        self._record(old, created)
        return moved[0]

    def copy(self, src: str, dst: str, *, autorename: bool = False) -> Entry:
        """Copy an entry with everything below it: new ids and revs, shared content, now as server time."""
        source, dst_display, missing = self._plan_relocation(src, dst, autorename, case_rename=False)
        now = self.clock.now()
        copies = [
            _placed(self._duplicate(e, now), dst_display + e.path_display[len(source.path_display) :])
            for e in self._walk(source)
        ]
        created = [*(self._new_folder(p) for p in missing), *copies]
        for entry in created:
            self._index(entry)
        self._record((), created)
        return copies[0]

    def set_properties(
        self, path: str, *, tags: Iterable[str] | None = None, description: str | None = None
    ) -> Entry:
        """Set the platform's tags and description (None keeps them): not a Dropbox change, not logged."""
        entry = self.get(path)
        if entry is self._root:
            raise InvalidInput("the root folder has no properties", provider_message="path/malformed_path/")
        return self._set_properties(entry, tags, description)

    def _set_properties(self, entry: Entry, tags: Iterable[str] | None, description: str | None) -> Entry:
        updated = self._with_properties(entry, tags, description)
        if updated is not entry:
            self._index(updated)
        return updated

    @staticmethod
    def _with_properties(entry: Entry, tags: Iterable[str] | None, description: str | None) -> Entry:
        new_tags = entry.tags if tags is None else tuple(tags)
        new_description = entry.description if description is None else description
        if new_tags == entry.tags and new_description == entry.description:
            return entry  # unchanged: nothing to index again (a new folder with `tags: []`)
        return replace(entry, tags=new_tags, description=new_description)

    # -- bulk loading ------------------------------------------------------------------
    def seed_folder(self, path: str) -> Entry:
        """Create a folder and its parents without logging; an existing folder is returned as is."""
        target = paths.normalize_once(path)
        existing = self._by_key.get(paths.key(target))
        if existing is not None:
            if not existing.is_folder:
                raise _conflict(existing, "path")
            return existing
        parent_display, missing = self._plan_parents(target, "path")
        created = [self._new_folder(p) for p in [*missing, f"{parent_display}/{paths.name(target)}"]]
        for entry in created:
            self._index(entry)
        return created[-1]

    def seed_file(
        self, path: str, data: bytes, client_modified: float | None = None, *, digest: str | None = None
    ) -> Entry:
        """Write a file and its parents without logging; an existing file is overwritten (same id).

        `digest`, when given, is `content.content_hash(data)` computed before (a seed's, kept).
        """
        target = paths.normalize_once(path)
        if target == paths.ROOT:
            raise _conflict(self._root, "path")
        parent_display, missing = self._plan_parents(target, "path")
        existing = None if missing else self._by_key.get(paths.key(target))
        if existing is not None and existing.is_folder:
            raise _conflict(existing, "path")
        if digest is None:
            digest = content.content_hash(data)
        if existing is not None:
            file = self._rewritten(existing, data, digest, client_modified)
        else:
            file = self._new_file(f"{parent_display}/{paths.name(target)}", data, digest, client_modified)
        for folder in missing:
            self._index(self._new_folder(folder))
        self._index(file, data)
        return file

    def seed_tree(self, nodes: Sequence[SeedNode], digests: Sequence[str | None] | None = None) -> None:
        """`seed_folder` and `seed_file` for each node in turn, with the same entries, ids and revs.

        Built for a fixture's tree, parents listed before their children, where a node is most
        often a new name in a folder just made: those are made here directly (a 100,000-file
        fixture spent most of its start there). Any other node (a name to check further, an
        existing path, a parent not yet seen) takes `seed_folder` / `seed_file`.
        `digests`, when given, holds each file node's content hash (`content.content_hash`), computed
        before (a seed's, kept), and anything for a folder.
        """
        if digests is None:
            digests = [None if n.is_folder else content.content_hash(n.content or b"") for n in nodes]
        # The folders seen so far, by display path as the nodes spell them.
        folders: dict[str, Entry] = {paths.ROOT: self._root}
        touched: set[str] = set()
        now = self.clock.now()
        try:
            self._seed_nodes(zip(nodes, digests, strict=True), folders, touched, now)
        finally:
            # Listings made before are stale, even when a node was refused half-way.
            for folder_key in touched:
                self._sorted.pop(folder_key, None)

    def _seed_nodes(
        self,
        nodes: Iterable[tuple[SeedNode, str | None]],
        folders: dict[str, Entry],
        touched: set[str],
        now: float,
    ) -> None:
        by_key, by_id, children = self._by_key, self._by_id, self._children
        is_plain_name = paths.is_plain_name
        # `_new_id` and `_new_rev`'s values, drawn the cheap way.
        id_draws = self.ids.urlsafe_draws(_ID_KIND, _ID_BYTES)
        rev_draws = self.ids.hex_draws(_REV_KIND, _REV_LENGTH)
        for node, digest in nodes:
            path = node.path
            cut = path.rfind("/")
            parent = folders.get(path[:cut]) if cut >= 0 else None
            name = path[cut + 1 :]
            key = f"{parent.path_lower}/{name.lower()}" if parent is not None and is_plain_name(name) else ""
            if parent is None or not key or key in by_key:
                if node.is_folder:
                    folder = self.seed_folder(path)
                    if folder is not self._root:  # "/" is the root, but "//name" is no path
                        folders[path] = folder
                else:
                    self.seed_file(path, node.content or b"", node.modified, digest=digest)
                continue
            display = f"{parent.path_display}/{name}"
            entry_id = "id:" + next(id_draws)
            if entry_id in by_id:
                entry_id = self._new_id()
            if node.is_folder:
                entry = Entry(entry_id, name, display, key, True, 0, None, None, None, None)
                folders[path] = entry
                children[key] = set()
            else:
                data = node.content or b""
                if digest is None:
                    digest = content.content_hash(data)
                modified = node.modified
                entry = Entry(
                    entry_id,
                    name,
                    display,
                    key,
                    False,
                    len(data),
                    next(rev_draws),
                    digest,
                    now if modified is None else modified,
                    now,
                )
                self._incref(digest, data)
            by_key[key] = entry
            by_id[entry.id] = entry
            children[parent.path_lower].add(key)
            touched.add(parent.path_lower)

    # -- planning (no mutation) --------------------------------------------------------
    def _plan_parents(self, path: str, role: str) -> tuple[str, list[str]]:
        """The display path `path`'s parent has or will have, and the missing folders to create, top first.

        An ancestor that is a file is a Conflict "<role>/conflict/file/".
        """
        parent_path = paths.parent(path)
        known = self._by_key.get(paths.key(parent_path))
        if known is not None and known.is_folder:
            return known.path_display, []
        display = paths.ROOT
        missing: list[str] = []
        for component in paths.components(parent_path):
            step = f"{display}/{component}"
            entry = None if missing else self._by_key.get(paths.key(step))
            if entry is None:
                missing.append(step)
                display = step
            elif entry.is_folder:
                display = entry.path_display
            else:
                raise _conflict(entry, role)
        return display, missing

    def _free_name(
        self, parent_display: str, name: str, *, is_file: bool, autorename: bool, role: str
    ) -> str:
        """`name` if nothing holds it in the folder, else the first free autorename, else a Conflict."""
        occupant = self._by_key.get(paths.key(f"{parent_display}/{name}"))
        if occupant is None:
            return name
        if not autorename:
            raise _conflict(occupant, role)
        for n in itertools.count(1):
            candidate = _numbered(name, n, is_file)
            if paths.key(paths.join(parent_display, candidate)) not in self._by_key:
                return candidate
        raise AssertionError("unreachable")

    def _plan_relocation(
        self, src: str, dst: str, autorename: bool, *, case_rename: bool
    ) -> tuple[Entry, str, list[str]]:
        """The source entry, the destination's display path and its missing parents, or the refusal."""
        src_path = _normalize(src, "from_lookup")
        dst_path = _normalize(dst, "to")
        if src_path == paths.ROOT:
            raise InvalidInput(
                "the root folder cannot be moved or copied", provider_message="from_lookup/malformed_path/"
            )
        source = self._by_key.get(paths.key(src_path))
        if source is None:
            raise NotFound(f"nothing at {src!r}", provider_message="from_lookup/not_found/")
        dst_key = paths.key(dst_path)
        new_name = paths.name(dst_path)
        if case_rename and dst_key == source.path_lower and new_name != source.name:
            # Only the name's case (or Unicode spelling) changes: the entry stays where it is.
            return source, f"{paths.parent(source.path_display)}/{new_name}", []
        if paths.is_within(dst_key, source.path_lower):
            raise InvalidInput(
                f"cannot put {source.path_display} at {dst_path}: the same path or below it",
                provider_message="duplicated_or_nested_paths/",
            )
        if dst_path == paths.ROOT:
            raise _conflict(self._root, "to")
        parent_display, missing = self._plan_parents(dst_path, "to")
        if not missing:
            new_name = self._free_name(
                parent_display, new_name, is_file=not source.is_folder, autorename=autorename, role="to"
            )
        return source, paths.join(parent_display, new_name), missing

    # -- building entries --------------------------------------------------------------
    def _new_id(self) -> str:
        # A store rebuilt from a snapshot or a log may be handed fresh Ids: never reissue a live id.
        while True:
            candidate = "id:" + self.ids.urlsafe(_ID_KIND, _ID_BYTES)
            if candidate not in self._by_id:
                return candidate

    def _new_rev(self) -> str:
        return self.ids.hex(_REV_KIND, _REV_LENGTH)

    def _new_folder(self, display: str) -> Entry:
        return _folder(self._new_id(), display)

    def _new_file(self, display: str, data: bytes, digest: str, client_modified: float | None) -> Entry:
        now = self.clock.now()
        return _file(
            self._new_id(),
            display,
            size=len(data),
            digest=digest,
            rev=self._new_rev(),
            client_modified=now if client_modified is None else client_modified,
            server_modified=now,
        )

    def _rewritten(self, existing: Entry, data: bytes, digest: str, client_modified: float | None) -> Entry:
        """`existing` with new content and a new rev; same id, path and properties."""
        now = self.clock.now()
        return replace(
            existing,
            size=len(data),
            rev=self._new_rev(),
            content_hash=digest,
            client_modified=now if client_modified is None else client_modified,
            server_modified=now,
        )

    def _duplicate(self, entry: Entry, now: float) -> Entry:
        if entry.is_folder:
            return replace(entry, id=self._new_id())
        return replace(entry, id=self._new_id(), rev=self._new_rev(), server_modified=now)

    # -- indexes -----------------------------------------------------------------------
    def _index(self, entry: Entry, data: bytes | None = None) -> None:
        """Add `entry`, or replace the entry at its path. Its parent folder must be indexed."""
        if entry.content_hash is not None:
            # Before releasing the replaced entry's blob, which may be this very blob.
            self._incref(entry.content_hash, data)
        old = self._by_key.get(entry.path_lower)
        if old is not None:
            del self._by_id[old.id]
            if old.content_hash is not None:
                self._decref(old.content_hash)
        self._by_key[entry.path_lower] = entry
        self._by_id[entry.id] = entry
        parent = paths.parent(entry.path_lower)
        self._children[parent].add(entry.path_lower)
        self._sorted.pop(parent, None)
        if entry.is_folder:
            self._children.setdefault(entry.path_lower, set())

    def _unindex_all(self, entries: list[Entry]) -> None:
        """Remove a pre-order list of entries (a subtree), deepest first."""
        for entry in reversed(entries):
            del self._by_key[entry.path_lower]
            del self._by_id[entry.id]
            parent = paths.parent(entry.path_lower)
            self._children[parent].discard(entry.path_lower)
            self._sorted.pop(parent, None)
            if entry.is_folder:
                del self._children[entry.path_lower]
                self._sorted.pop(entry.path_lower, None)
            if entry.content_hash is not None:
                self._decref(entry.content_hash)

    def _incref(self, digest: str, data: bytes | None) -> None:
        self._refs[digest] = self._refs.get(digest, 0) + 1
        if data is not None and digest not in self._blobs:
            self._blobs[digest] = data

    def _decref(self, digest: str) -> None:
        left = self._refs[digest] - 1
        if left:
            self._refs[digest] = left
        else:
            del self._refs[digest]
            self._blobs.pop(digest, None)

    def _load_blobs(self, blobs: Mapping[str, bytes]) -> None:
        """Take the content of every referenced hash from `blobs`, checking each one."""
        for digest in self._refs:
            data = blobs.get(digest)
            if data is None:
                raise InvalidInput(f"no content for hash {digest}")
            if content.content_hash(data) != digest:
                raise InvalidInput(f"the content given for hash {digest} does not match it")
            self._blobs[digest] = data

    # -- replay and snapshots ----------------------------------------------------------
    @classmethod
    def replay(
        cls,
        clock: Clock,
        ids: Ids,
        changes: Iterable[Change],
        blobs: Mapping[str, bytes],
        *,
        max_upload_bytes: int = DEFAULT_MAX_UPLOAD_BYTES,
    ) -> Store:
        """A store rebuilt from empty by applying a log from its start (seq 1, 2, ...), which it keeps.

        Ids, revs and times come from the changes. Tags and descriptions are not in the log, so they
        are not restored. `blobs` must hold the content of every file the log leaves in place.
        """
        store = cls(clock, ids, max_upload_bytes=max_upload_bytes)
        for change in changes:
            if change.seq != len(store._log) + 1:
                raise InvalidInput(f"change {change.seq} is out of sequence, expected {len(store._log) + 1}")
            store._apply(change)
            store._log.append(change)
            store._batches = change.batch
        store._load_blobs(blobs)
        return store

    def _apply(self, change: Change) -> None:
        if change.path_lower == paths.ROOT:
            raise InvalidInput(f"change {change.seq} is about the root folder, which is never logged")
        existing = self._by_key.get(change.path_lower)
        replaced = existing is not None and (
            existing.is_folder != (change.tag == "folder") or existing.id != change.entry_id
        )
        if existing is not None and (change.tag == "deleted" or replaced):
            self._unindex_all(list(self._walk(existing)))
        if change.tag == "deleted":
            return
        parent = self._by_key.get(paths.parent(change.path_lower))
        if parent is None or not parent.is_folder or change.entry_id is None:
            raise InvalidInput(f"change {change.seq} at {change.path_display} has no parent folder or no id")
        display = f"{parent.path_display}/{change.name}"
        if change.tag == "folder":
            self._index(_folder(change.entry_id, display))
            return
        assert change.content_hash is not None and change.rev is not None
        assert change.client_modified is not None and change.server_modified is not None
        file = _file(
            change.entry_id,
            display,
            size=change.size,
            digest=change.content_hash,
            rev=change.rev,
            client_modified=change.client_modified,
            server_modified=change.server_modified,
        )
        self._index(file)

    def snapshot(self) -> dict[str, Any]:
        """The whole account as plain JSON-able data: entries (pre-order), blobs (base64) and the log."""
        return {
            "version": SNAPSHOT_VERSION,
            "max_upload_bytes": self.max_upload_bytes,
            "batches": self._batches,
            "entries": [_entry_to_dict(e) for e in self._walk(self._root) if e is not self._root],
            "blobs": {d: base64.b64encode(b).decode("ascii") for d, b in sorted(self._blobs.items())},
            "log": [c.to_dict() for c in self._log],
        }

    @classmethod
    def from_snapshot(cls, data: Mapping[str, Any], clock: Clock, ids: Ids) -> Store:
        """The store `snapshot()` described; InvalidInput if `data` is not a valid snapshot.

        The caller restores `ids` to where it was; the store never reissues a live id anyway.
        """
        try:
            return cls._from_snapshot(data, clock, ids)
        except (KeyError, TypeError, ValueError, AttributeError, AssertionError) as exc:
            raise InvalidInput(f"invalid provider snapshot: {exc!r}") from None

    @classmethod
    def _from_snapshot(cls, data: Mapping[str, Any], clock: Clock, ids: Ids) -> Store:
        if data["version"] != SNAPSHOT_VERSION:
            raise InvalidInput(f"unsupported provider snapshot version {data['version']!r}")
        store = cls(clock, ids, max_upload_bytes=int(data["max_upload_bytes"]))
        # Parents before children, whatever order the data lists them in.
        for item in sorted(data["entries"], key=lambda e: str(e["path"]).count("/")):
            store._restore_entry(item)
        store._load_blobs({d: base64.b64decode(b, validate=True) for d, b in data["blobs"].items()})
        store._log = [Change.from_dict(c) for c in data["log"]]
        if [c.seq for c in store._log] != list(range(1, len(store._log) + 1)):
            raise InvalidInput("the snapshot's change log is out of sequence")
        store._batches = int(data["batches"])
        return store

    def _restore_entry(self, item: Mapping[str, Any]) -> None:
        path = paths.normalize(str(item["path"]))
        entry_id = str(item["id"])
        parent = self._by_key.get(paths.key(paths.parent(path)))
        if path == paths.ROOT or parent is None or not parent.is_folder:
            raise InvalidInput(f"snapshot entry {path!r} has no parent folder")
        if paths.key(path) in self._by_key or entry_id in self._by_id:
            raise InvalidInput(f"snapshot entry {path!r} or its id {entry_id!r} appears twice")
        display = f"{parent.path_display}/{paths.name(path)}"
        if item["folder"]:
            entry = _folder(entry_id, display)
        else:
            entry = _file(
                entry_id,
                display,
                size=int(item["size"]),
                digest=str(item["content_hash"]),
                rev=str(item["rev"]),
                client_modified=float(item["client_modified"]),
                server_modified=float(item["server_modified"]),
            )
        tags = item["tags"]
        if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
            raise InvalidInput(f"snapshot entry {path!r}: tags must be a list of strings")
        self._index(replace(entry, tags=tuple(tags), description=item["description"]))


def _entry_to_dict(entry: Entry) -> dict[str, Any]:
    return {
        "path": entry.path_display,
        "id": entry.id,
        "folder": entry.is_folder,
        "size": entry.size,
        "rev": entry.rev,
        "content_hash": entry.content_hash,
        "client_modified": entry.client_modified,
        "server_modified": entry.server_modified,
        "tags": list(entry.tags),
        "description": entry.description,
    }
