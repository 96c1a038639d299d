"""The Documents hub over one fake Dropbox account: Documents, ids, paging, search, links and storage.

Conventions (where the platform's documentation leaves a choice):
- A Document's `id` is its display path URL-encoded twice (`/test` -> `%252Ftest`, the root `%252F`);
  its `refId` is Dropbox's `id:...`. Either one works wherever `{id}` does.
- `createdDate` is when the current version reached Dropbox (`server_modified`); `modifiedDate` is
  the content's own time (`client_modified`, what a fixture's `modified:` sets). Dropbox keeps no
  dates for folders: both are null there.
- When a body gives a `name` that spells the last component of its `path` (case-insensitively), the
  new entry takes that spelling: the guide's `{"path": "/testfoldercreate", "name":
  "TestFolderCreate"}` makes `/TestFolderCreate`. Any other `name` is ignored.
- Pages are keyed by the last child returned, not by an offset, so an entry present for the whole
  walk is listed exactly once even when others come and go between pages.
"""

from __future__ import annotations

import base64
import binascii
import bisect
import functools
import hashlib
import json
import mimetypes
import re
import weakref
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, NamedTuple
from urllib.parse import quote, unquote

from emulator.domain.errors import InvalidInput, NotFound, TooLarge
from emulator.domain.json_codec import compact_json
from emulator.domain.kept import KeptByIdentity
from emulator.domain.provider import paths
from emulator.domain.provider.content import format_time
from emulator.domain.provider.store import Entry, Store

Document = dict[str, Any]
Kind = Literal["file", "folder"]

DEFAULT_PAGE_SIZE = 200
STORAGE_TOTAL = 2 * 1024**3  # a Dropbox Basic account's quota
VISIBILITIES = ("PUBLIC", "TEAM_ONLY", "PASSWORD")
_ID_DECODINGS = 3


# -- ids and Documents ---------------------------------------------------------------------
@functools.lru_cache(maxsize=16384)
def document_id(path_display: str) -> str:
    """The platform's id of a Dropbox path: the display path URL-encoded twice.

    Encoding with `safe=""` leaves only unreserved characters and `%XX`, so the second encoding
    only turns `%` into `%25`. Cached: a listing asks for its folder's id once per child.
    """
    path = path_display or "/"
    if _UNRESERVED_PATH.fullmatch(path):
        # What quote gives such a path (only "/" encoded, to "%2F"), encoded again, without quote's work.
        return path.replace("/", "%252F")
    return quote(path, safe="").replace("%", "%25")


# quote(safe="") leaves letters, digits and "_.-~" as they are: in a path of those and "/", only
# each "/" changes.
_UNRESERVED_PATH = re.compile(r"[A-Za-z0-9_.~/-]*")


def document(entry: Entry, *, with_tags: bool = True) -> Document:
    """The hub's Document object for an entry of the account."""
    result: Document = {
        "id": document_id(entry.path_display),
        "name": entry.name,
        "path": entry.path_display or "/",
        "directory": entry.is_folder,
        "size": entry.size,
        "createdDate": _time(entry.server_modified),
        "modifiedDate": _time(entry.client_modified),
    }
    if with_tags:
        result["tags"] = list(entry.tags)
    result["refId"] = entry.id
    result["parentFolderId"] = document_id(paths.parent(entry.path_display)) if entry.path_display else None
    if entry.description is not None:
        result["description"] = entry.description
    return result


def _time(epoch: float | None) -> str | None:
    return None if epoch is None else format_time(epoch)


@functools.cache
def _media_types() -> mimetypes.MimeTypes:
    # Only Python's built-in table: the system's mime.types would make answers differ between machines.
    # Made on first use: building it reads the system's tables too, which costs start-up ~10 ms.
    return mimetypes.MimeTypes()


def media_type(name: str) -> str:
    """The Content-Type a download of `name` is served with."""
    guessed, _ = _media_types().guess_type(name, strict=False)
    return guessed or "application/octet-stream"


class Locator(NamedTuple):
    """Where a request points: a normalised display path, or a Dropbox id."""

    path: str | None = None
    ref_id: str | None = None

    @classmethod
    def of_path(cls, path: str | None) -> Locator:
        return cls(path=_path(path))

    @classmethod
    def of_id(cls, raw: str) -> Locator:
        """A `{id}`: a Document id (encoded once or twice, any case) or a Dropbox `id:...`."""
        text = raw
        for _ in range(_ID_DECODINGS):
            if text[:3].lower() == "id:":
                return cls(ref_id="id:" + text[3:])
            if text.startswith("/"):
                return cls(path=paths.normalize(text))
            decoded = unquote(text)
            if decoded == text:
                break
            text = decoded
        raise InvalidInput(
            f"{raw!r} is neither a document id nor a Dropbox id", provider_message=paths.MALFORMED
        )


def locate(id_param: str | None, path_param: str | None) -> Locator:
    """The `{id}` of a by-id route, else the `path` query parameter."""
    return Locator.of_id(id_param) if id_param is not None else Locator.of_path(path_param)


# -- reading requests ----------------------------------------------------------------------
def read_flag(value: str | None, name: str, *, default: bool = False) -> bool:
    if value is None or value == "":
        return default
    lowered = value.strip().lower()
    if lowered not in ("true", "false"):
        raise InvalidInput(f"{name} must be true or false, not {value!r}")
    return lowered == "true"


def read_tags(value: object, name: str = "tags") -> tuple[str, ...] | None:
    """A JSON body's tags: None when absent, else a list of strings."""
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(t, str) for t in value):
        raise InvalidInput(f"{name} must be a list of strings")
    return tuple(value)


def _object(body: object) -> Mapping[str, Any]:
    if body is None:
        return {}
    if not isinstance(body, Mapping):
        raise InvalidInput("the body must be a JSON object")
    return body


def _text(body: Mapping[str, Any], key: str) -> str | None:
    value = body.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidInput(f"{key} must be a string")
    return value


def _path(path: str | None) -> str:
    """A required path parameter, normalised (InvalidInput when missing or malformed)."""
    if not path:
        raise InvalidInput("the query parameter path is required")
    return paths.normalize(path)


def _named(path: str, name: str | None) -> str:
    """`path`, its last component spelled as `name` when `name` names that same component."""
    if name and path and paths.key(name) == paths.key(paths.name(path)):
        return paths.join(paths.parent(path), name)
    return path


class HubUpload(NamedTuple):
    path: str
    data: bytes
    overwrite: bool
    tags: tuple[str, ...] | None
    description: str | None


def read_upload(
    path: str | None,
    data: bytes,
    *,
    overwrite: str | None,
    size: str | None,
    tags: Sequence[str],
    description: str | None,
    max_bytes: int,
) -> HubUpload:
    """An upload's parameters, checked; `size`, when given, must be the length of the bytes sent."""
    target = _path(path)
    if size not in (None, "") and (not size.isdecimal() or int(size) != len(data)):
        raise InvalidInput(f"size {size!r} is not the {len(data)} bytes received")
    if len(data) > max_bytes:
        raise TooLarge(
            f"{len(data)} bytes is over the {max_bytes} byte upload limit",
            provider_message="payload_too_large/",
        )
    return HubUpload(target, data, read_flag(overwrite, "overwrite"), tuple(tags) or None, description)


class Placement(NamedTuple):
    """Where a create or copy puts its entry, and the tags it gets (None: none given)."""

    path: str
    tags: tuple[str, ...] | None = None


def read_new_folder(query_path: str | None, body: object) -> Placement:
    """`POST /folders`: the path from the query, else from the body; a matching `name` sets the case."""
    fields = _object(body)
    body_path = _text(fields, "path")
    if query_path and body_path:
        _path(body_path)  # the query's path wins, but a malformed one in the body is still refused
    target = _path(query_path or body_path)
    return Placement(_named(target, _text(fields, "name")), read_tags(fields.get("tags")))


def read_destination(body: object) -> Placement:
    """A copy's body: `{path, name?, tags?}`."""
    fields = _object(body)
    path = _text(fields, "path")
    if not path:
        raise InvalidInput("the body must give the destination path")
    return Placement(_named(_path(path), _text(fields, "name")), read_tags(fields.get("tags")))


class Patch(NamedTuple):
    path: str | None
    tags: tuple[str, ...] | None
    description: str | None


def read_patch(body: object) -> Patch:
    """`PATCH .../metadata`: a new `path` (and `name`) moves or renames; `tags` replaces the list."""
    fields = _object(body)
    path = _text(fields, "path")
    name = _text(fields, "name")  # read (and refused if not text) even when there is no path to name
    target = None if path is None else _named(_path(path), name)
    return Patch(target, read_tags(fields.get("tags")), _text(fields, "description"))


# -- paging --------------------------------------------------------------------------------
class PageRequest(NamedTuple):
    size: int
    token: str | None


class HubPage(NamedTuple):
    """One page of a listing: its entries, as Documents or as the hub's JSON array."""

    entries: Sequence[Entry]
    next_page: str | None
    with_tags: bool = True

    @property
    def documents(self) -> list[Document]:
        return [document(e, with_tags=self.with_tags) for e in self.entries]

    def json(self) -> bytes:
        """The Documents as a JSON array, exactly as `json.dumps` writes them compactly (UTF-8)."""

        def joined() -> bytes:
            return b"[" + b",".join(document_json(e, with_tags=self.with_tags) for e in self.entries) + b"]"

        # The page's text is the same while its entries are the same ones.
        return _PAGE_JSON.get(self.entries, joined, self.with_tags)


# Entries are never mutated (store.py), so the text made from them never goes stale.
_DOCUMENT_JSON: KeptByIdentity[bytes] = KeptByIdentity(8192)
_PAGE_JSON: KeptByIdentity[bytes] = KeptByIdentity(256)


def document_json(entry: Entry, *, with_tags: bool = True) -> bytes:
    """`document(entry)` as compact UTF-8 JSON; kept, since listings serialize the same entries again."""
    return _DOCUMENT_JSON.get((entry,), lambda: compact_json(document(entry, with_tags=with_tags)), with_tags)


def read_page(page_size: str | None, next_page: str | None) -> PageRequest:
    if page_size in (None, ""):
        return PageRequest(DEFAULT_PAGE_SIZE, next_page or None)
    if not page_size.isdecimal() or int(page_size) < 1:
        raise InvalidInput(f"pageSize must be a positive whole number, not {page_size!r}")
    return PageRequest(int(page_size), next_page or None)


def _token(listing: str, after: str) -> str:
    raw = json.dumps({"l": listing, "a": after}, ensure_ascii=False).encode()
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def _after(token: str, listing: str) -> str:
    """The key a nextPage token resumes after; InvalidInput for a token of another listing."""
    try:
        data = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        ok = isinstance(data, dict) and data.get("l") == listing and isinstance(data.get("a"), str)
    except (binascii.Error, ValueError, UnicodeDecodeError):
        ok = False
    if not ok:
        raise InvalidInput("nextPage is not a token this listing handed out")
    after: str = data["a"]
    return after


def _paged(
    entries: Sequence[Entry], base_key: str, listing: str, page: PageRequest, *, with_tags: bool
) -> HubPage:
    """One page of `entries` (sorted by path_lower, all below `base_key`)."""
    cut = len(base_key)
    start = 0
    if page.token is not None:
        keys = [e.path_lower[cut:] for e in entries]
        start = bisect.bisect_right(keys, _after(page.token, listing))
    chosen = entries[start : start + page.size]
    more = start + page.size < len(entries)
    token = _token(listing, entries[start + page.size - 1].path_lower[cut:]) if more else None
    return HubPage(chosen, token, with_tags)


def _fingerprint(*parts: object) -> str:
    return hashlib.sha256(json.dumps(parts, default=str).encode()).hexdigest()[:16]


# -- search --------------------------------------------------------------------------------
class SearchQuery(NamedTuple):
    root: Locator
    text: str | None
    start: float | None
    end: float | None
    tags: tuple[str, ...]

    def matches(self, entry: Entry) -> bool:
        if self.text and self.text.casefold() not in entry.name.casefold():
            return False
        if self.tags and not set(self.tags) & set(entry.tags):
            return False
        if self.start is None and self.end is None:
            return True
        when = entry.client_modified
        if when is None:
            return False
        return (self.start is None or when >= self.start) and (self.end is None or when < self.end)


def read_search(
    path: str | None, text: str | None, start_date: str | None, end_date: str | None, tags: Sequence[str]
) -> SearchQuery:
    """`GET /search`: under `path` (default the root); `endDate` given as a day includes that day."""
    return SearchQuery(
        Locator.of_path(path or "/"),
        text or None,
        _date(start_date, "startDate"),
        _date(end_date, "endDate", end=True),
        tuple(tags),
    )


def _date(text: str | None, name: str, *, end: bool = False) -> float | None:
    """Epoch seconds of a date or time; an end given as a bare day means the day after it begins."""
    if not text:
        return None
    try:
        parsed = datetime.fromisoformat(text.strip())
    except ValueError:
        raise InvalidInput(
            f"{name} {text!r} is not a date such as 2026-01-31 or 2026-01-31T12:00:00Z"
        ) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    if end and len(text.strip()) == len("2026-01-31"):
        parsed += timedelta(days=1)
    elif end:
        # An end time is inclusive: the exclusive bound is just after it.
        parsed += timedelta(microseconds=1)
    return parsed.timestamp()


# -- links ---------------------------------------------------------------------------------
class SharedLink(NamedTuple):
    token: str
    url_name: str
    visibility: str
    expires: float | None


# The store keeps no shared links, so the hub keeps them beside each store; they go with the store.
_LINKS: weakref.WeakKeyDictionary[Store, dict[str, SharedLink]] = weakref.WeakKeyDictionary()


def _link_json(link: SharedLink, entry: Entry) -> dict[str, Any]:
    view = f"https://www.dropbox.com/s/{link.token}/{quote(link.url_name)}?dl=0"
    expires = _time(link.expires)
    return {
        "providerLink": view.removesuffix("dl=0") + "dl=1",
        "providerViewLink": view,
        "expires": expires,
        "providerLinkExpires": expires,
        "raw": {
            ".tag": "folder" if entry.is_folder else "file",
            "url": view,
            "id": entry.id,
            "name": entry.name,
            "pathLower": entry.path_lower,
            "expires": expires,
            "linkPermissions": {
                "canRevoke": True,
                "requestedVisibility": link.visibility,
                "resolvedVisibility": link.visibility,
            },
        },
    }


def _read_link_settings(
    visibility: str | None, password: str | None, expires: str | None
) -> tuple[str, float | None]:
    chosen = (visibility or "PUBLIC").strip().upper()
    if chosen not in VISIBILITIES:
        raise InvalidInput(
            "An invalid value was used for a parameter",
            provider_message=f"No enum constant com.dropbox.core.v2.sharing.RequestedVisibility.{visibility}",
        )
    try:
        expiry = _date(expires, "expires")
    except InvalidInput:
        raise InvalidInput("Invalid link expiration date.") from None
    return chosen, expiry


# -- the hub -------------------------------------------------------------------------------
class Download(NamedTuple):
    entry: Entry
    data: bytes
    media_type: str


class DocumentsHub:
    """The hub's operations on one account. Every write is one store call, checked before it runs."""

    def __init__(self, store: Store) -> None:
        self.store = store

    # -- reading -------------------------------------------------------------------------
    def entry(self, where: Locator, kind: Kind | None = None) -> Entry:
        """The entry `where` points at; NotFound if none, InvalidInput if it is not of `kind`."""
        found = self.store.lookup(where.path) if where.path is not None else None
        if where.ref_id is not None:
            found = self.store.by_id(where.ref_id)
        if found is None:
            raise NotFound(f"nothing at {_spelled(where)}", provider_message="path/not_found/")
        if kind == "file" and found.is_folder:
            raise InvalidInput(f"{found.path_display or '/'} is a folder", provider_message="path/not_file/")
        if kind == "folder" and not found.is_folder:
            raise InvalidInput(f"{found.path_display} is a file", provider_message="path/not_folder/")
        return found

    def describe(self, where: Locator, kind: Kind) -> Document:
        return document(self.entry(where, kind))

    def download(self, where: Locator) -> Download:
        entry = self.entry(where, "file")
        return Download(entry, self.store.read(entry.path_display), media_type(entry.name))

    def contents(self, where: Locator, page: PageRequest, *, fetch_tags: bool) -> HubPage:
        folder = self.entry(where, "folder")
        children = self.store.children_of(folder)
        return _paged(children, folder.path_lower, f"contents:{folder.id}", page, with_tags=fetch_tags)

    def search(self, query: SearchQuery, page: PageRequest) -> HubPage:
        root = self.entry(query.root, "folder")
        found = sorted(
            (e for e in self.store.walk(root.path_display) if e is not root and query.matches(e)),
            key=lambda e: e.path_lower,
        )
        listing = "search:" + _fingerprint(root.id, query.text, query.start, query.end, query.tags)
        return _paged(found, root.path_lower, listing, page, with_tags=True)

    def storage(self) -> dict[str, int]:
        used = sum(e.size for e in self.store.walk("") if not e.is_folder)
        return {"shared": 0, "total": STORAGE_TOTAL, "used": used}

    def link(
        self, where: Locator, *, visibility: str | None, password: str | None, expires: str | None
    ) -> dict[str, Any]:
        """The file's shared link; a later call returns the same link, whatever settings it asks for."""
        entry = self.entry(where, "file")
        # Read on every call: a malformed parameter is refused even when the link exists already.
        chosen, expiry = _read_link_settings(visibility, password, expires)
        links = _LINKS.setdefault(self.store, {})
        existing = links.get(entry.id)
        if existing is None:
            if chosen == "PASSWORD" and not password:
                raise InvalidInput("You must supply a password")
            token = self.store.ids.urlsafe("dropbox-shared-link", 11)
            existing = links[entry.id] = SharedLink(token, entry.name, chosen, expiry)
        return _link_json(existing, entry)

    # -- writing -------------------------------------------------------------------------
    def upload(self, upload: HubUpload) -> Document:
        entry = self.store.upload(
            upload.path,
            upload.data,
            mode="overwrite" if upload.overwrite else "add",
            tags=upload.tags,
            description=upload.description,
        )
        return document(entry)

    def create_folder(self, placement: Placement) -> Document:
        entry = self.store.mkdir(placement.path)
        return document(self._with_properties(entry, placement.tags, None))

    def delete(self, where: Locator, kind: Kind) -> Document:
        entry = self.entry(where, kind)
        self.store.delete(entry.path_display or "/")
        return document(entry)

    def update(self, where: Locator, kind: Kind, patch: Patch) -> Document:
        entry = self.entry(where, kind)
        if not entry.path_display and (patch.tags is not None or patch.description is not None):
            raise InvalidInput("the root folder has no tags", provider_message=paths.MALFORMED)
        if patch.path is not None and _moves(entry, patch.path):
            entry = self.store.move(entry.path_display or "/", patch.path)
        return document(self._with_properties(entry, patch.tags, patch.description))

    def copy(self, where: Locator, kind: Kind, placement: Placement, *, overwrite: bool = False) -> Document:
        source = self.entry(where, kind)
        if overwrite:
            self._clear_for_overwrite(source, placement.path)
        copied = self.store.copy(source.path_display or "/", placement.path)
        return document(self._with_properties(copied, placement.tags, None))

    def _with_properties(self, entry: Entry, tags: Iterable[str] | None, description: str | None) -> Entry:
        if description is None and (tags is None or (entry.path_display and tags == entry.tags)):
            return entry  # nothing changes (a new folder created with `tags: []`): no lookup
        return self.store.set_properties(entry.path_display, tags=tags, description=description)

    def _clear_for_overwrite(self, source: Entry, target: str) -> None:
        """Delete what occupies `target`, once sure the copy that follows cannot be refused."""
        occupant = self.store.lookup(target)
        if occupant is None:
            return
        if not source.path_display or paths.is_within(paths.key(target), source.path_lower):
            raise InvalidInput(
                f"cannot copy {source.path_display or '/'} to {target}: the same path or below it",
                provider_message="duplicated_or_nested_paths/",
            )
        if paths.is_within(source.path_lower, occupant.path_lower):
            raise InvalidInput(
                f"cannot overwrite {occupant.path_display or '/'}: it holds {source.path_display}",
                provider_message="duplicated_or_nested_paths/",
            )
        self.store.delete(occupant.path_display)


def _moves(entry: Entry, path: str) -> bool:
    """Whether `path` puts `entry` elsewhere or renames it; its own path in another case does not,
    so a client may send a Document back as it got it (parents' case is the store's to keep)."""
    return paths.key(path) != entry.path_lower or paths.name(path) != entry.name


def _spelled(where: Locator) -> str:
    return where.ref_id if where.ref_id is not None else (where.path or "/")
