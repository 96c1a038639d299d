"""Dropbox's upload write modes over a store: add, overwrite, and update (overwrite only the rev you know)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from emulator.domain.errors import Conflict, InvalidInput
from emulator.domain.provider import content, paths
from emulator.domain.provider.store import Entry, Store

WriteMode = Literal["add", "overwrite", "update"]
CONFLICTED_COPY = "conflicted copy"


@dataclass(frozen=True, slots=True)
class UploadRequest:
    """One `files/upload` call, as Dropbox's `CommitInfo` describes it."""

    path: str
    data: bytes
    mode: WriteMode = "add"
    rev: str | None = None
    autorename: bool = False
    client_modified: float | None = None
    content_hash: str | None = None


def upload(store: Store, request: UploadRequest) -> Entry:
    """Write the file as Dropbox would; the checks run before anything changes."""
    if request.content_hash is not None and request.content_hash != content.content_hash(request.data):
        raise InvalidInput(
            "the content_hash does not match the uploaded data", provider_message="content_hash_mismatch/"
        )
    if request.mode != "update":
        return store.upload(
            request.path,
            request.data,
            mode=request.mode,
            autorename=request.autorename,
            client_modified=request.client_modified,
        )
    return _update(store, request)


def _update(store: Store, request: UploadRequest) -> Entry:
    """Overwrite when the file is still at `rev`; otherwise a conflict, or a "conflicted copy" beside it."""
    existing = store.lookup(request.path)
    if existing is None or (not existing.is_folder and existing.rev == request.rev):
        return store.upload(
            request.path, request.data, mode="overwrite", client_modified=request.client_modified
        )
    if existing.content_hash == content.content_hash(request.data):
        return existing
    if existing.is_folder or not request.autorename:
        kind = "folder" if existing.is_folder else "file"
        raise Conflict(
            f"{existing.path_display} is not at rev {request.rev}", provider_message=f"path/conflict/{kind}/"
        )
    return store.upload(
        _conflicted_copy(existing.path_display),
        request.data,
        mode="add",
        autorename=True,
        client_modified=request.client_modified,
    )


def _conflicted_copy(path: str) -> str:
    """The name Dropbox gives a losing edit, in the same folder: "report (conflicted copy).txt"."""
    name = paths.name(path)
    stem, dot, extension = name.rpartition(".")
    renamed = f"{stem} ({CONFLICTED_COPY}).{extension}" if dot and stem else f"{name} ({CONFLICTED_COPY})"
    return f"{paths.parent(path)}/{renamed}"
