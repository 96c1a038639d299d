"""Control plane for the fake Dropbox: accounts, their trees and change logs, and changes made "at Dropbox".

An operation here is a user acting in the Dropbox app: it goes through the same store and the same
change log as a hub call, so the platform reacts to it the same way (the guide's note on webhooks).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from emulator.domain.errors import InvalidInput, TooLarge
from emulator.domain.provider import paths
from emulator.domain.provider.accounts import DropboxAccount
from emulator.domain.provider.content import parse_time
from emulator.domain.provider.store import Entry, Store
from emulator.domain.state import DEFAULT_TENANT
from emulator.loading import generated_content
from emulator.web.bodies import read_json
from emulator.web.context import json_response, state_of
from emulator.web.routing import LazyRoute

PREFIX = "/_emulator/providers/dropbox/accounts"
OPERATIONS = ("mkdir", "upload", "delete", "move", "copy")
SOURCES = ("content", "base64", "size")
KEYS = {"op", "path", "to", "content", "base64", "size", "mode", "autorename", "modified"}
# Base64 content is a third larger than the bytes it carries; keep room for the JSON around it.
JSON_ALLOWANCE = 64 * 1024


def _account(request: Request) -> DropboxAccount:
    tenant = state_of(request).tenant(request.query_params.get("tenant") or DEFAULT_TENANT)
    return tenant.provider.account(request.path_params["account"])


async def list_accounts(request: Request) -> Response:
    tenant = state_of(request).tenant(request.query_params.get("tenant") or DEFAULT_TENANT)
    return json_response([a.to_json() for a in tenant.provider.accounts.values()])


async def tree(request: Request) -> Response:
    account = _account(request)
    entries = [e.metadata() for e in account.store.walk("") if e.path_display]
    return json_response({"account": account.key, "cursor": account.store.cursor(), "entries": entries})


async def changes(request: Request) -> Response:
    store = _account(request).store
    cursor = _whole_number(request.query_params.get("cursor"), "cursor") or 0
    found = store.changes_since(cursor, _whole_number(request.query_params.get("limit"), "limit"))
    after = found[-1].seq if found else cursor
    return json_response(
        {
            "changes": [{**c.metadata(), "seq": c.seq, "batch": c.batch} for c in found],
            "cursor": after,
            "hasMore": after < store.cursor(),
        }
    )


def _whole_number(text: str | None, name: str) -> int | None:
    if text is None or text == "":
        return None
    if not text.removeprefix("-").isdecimal():
        raise InvalidInput(f"{name} must be a whole number, not {text!r}")
    return int(text)


async def operate(request: Request) -> Response:
    account = _account(request)
    store = account.store
    body = await read_json(request, store.max_upload_bytes * 4 // 3 + JSON_ALLOWANCE)
    if not isinstance(body, Mapping):
        raise InvalidInput("the body must be a JSON object")
    entry = run_operation(store, body, state_of(request).seed.seed)
    return json_response({"metadata": entry.metadata(), "cursor": store.cursor()})


def run_operation(store: Store, body: Mapping[str, Any], seed: str) -> Entry:
    """Checks the whole body, then makes the one store call it asks for."""
    unknown = sorted(set(body) - KEYS)
    if unknown:
        raise InvalidInput("unknown fields: " + ", ".join(unknown) + "; known: " + ", ".join(sorted(KEYS)))
    op = body.get("op")
    if op not in OPERATIONS:
        raise InvalidInput(f"op must be one of {', '.join(OPERATIONS)}, not {op!r}")
    path = _string(body, "path", required=True)
    autorename = _flag(body, "autorename")
    if op == "mkdir":
        return store.mkdir(path, autorename=autorename)
    if op == "delete":
        return store.delete(path)
    if op in ("move", "copy"):
        to = _string(body, "to", required=True)
        relocate = store.move if op == "move" else store.copy
        return relocate(path, to, autorename=autorename)
    mode = body.get("mode", "overwrite")
    if mode not in ("add", "overwrite"):
        raise InvalidInput(f"mode must be add or overwrite, not {mode!r}")
    modified = _string(body, "modified", required=False)
    data = _content(body, paths.normalize(path), seed, store.max_upload_bytes)
    client_modified = parse_time(modified) if modified else None
    return store.upload(path, data, mode=mode, autorename=autorename, client_modified=client_modified)


def _string(body: Mapping[str, Any], key: str, *, required: bool) -> str:
    value = body.get(key)
    if value is None and not required:
        return ""
    if not isinstance(value, str):
        raise InvalidInput(f"{key} must be a string" + (" and is required" if required else ""))
    return value


def _flag(body: Mapping[str, Any], key: str) -> bool:
    value = body.get(key, False)
    if not isinstance(value, bool):
        raise InvalidInput(f"{key} must be true or false")
    return value


def _content(body: Mapping[str, Any], path: str, seed: str, max_bytes: int) -> bytes:
    """The bytes of an upload: exactly one of content (text), base64, or size (generated bytes)."""
    given = [key for key in SOURCES if key in body]
    if len(given) != 1:
        raise InvalidInput("an upload needs exactly one of content, base64, size")
    value = body[given[0]]
    if given[0] == "content":
        if not isinstance(value, str):
            raise InvalidInput("content must be text")
        return value.encode("utf-8")
    if given[0] == "base64":
        if not isinstance(value, str):
            raise InvalidInput("base64 must be text")
        try:
            return base64.b64decode("".join(value.split()), validate=True)
        except (binascii.Error, ValueError):
            raise InvalidInput("base64 is not valid base64") from None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InvalidInput("size must be a whole number of bytes")
    if value > max_bytes:
        # Before generating: a typo such as 10**12 must not fill the memory.
        raise TooLarge(f"{value} bytes is over the {max_bytes} byte upload limit")
    return generated_content(seed, path, value)


def routes() -> list[Route]:
    return [
        LazyRoute(PREFIX, list_accounts, methods=["GET"]),
        LazyRoute(PREFIX + "/{account}/tree", tree, methods=["GET"]),
        LazyRoute(PREFIX + "/{account}/changes", changes, methods=["GET"]),
        LazyRoute(PREFIX + "/{account}/operations", operate, methods=["POST"]),
    ]
