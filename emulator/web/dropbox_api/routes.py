"""The Dropbox API v2 routes the fake Dropbox serves: thin handlers over the account's store.

Every write goes through the account's `Store`, so its change log and listeners (the platform's
"account changed" signal) see it exactly as they see a hub call or a control-plane change.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any, Literal

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from emulator.domain.errors import Conflict, DomainError
from emulator.domain.provider import listing, writes
from emulator.domain.provider.accounts import DropboxAccount
from emulator.domain.provider.content import parse_time
from emulator.domain.provider.listing import ListingPage, Position, Scope
from emulator.domain.provider.store import Store
from emulator.domain.provider.tokens import TokenOwner
from emulator.runtime import Runtime
from emulator.web.bodies import read_body
from emulator.web.context import runtime_of
from emulator.web.dropbox_api import longpoll, wire
from emulator.web.dropbox_api.errors import (
    ApiFailure,
    BadInput,
    RouteError,
    RouteErrorShape,
    from_domain,
    nested_union,
    upload_error,
)
from emulator.web.dropbox_api.wire import Args, Cursor
from emulator.web.routing import LazyRoute

Style = Literal["rpc", "upload", "download"]
WRITE_MODES: dict[str, writes.WriteMode] = {"add": "add", "overwrite": "overwrite", "update": "update"}


@dataclass(frozen=True, slots=True)
class Call:
    """One authenticated call: its arguments and, for routes that take a token, the account."""

    request: Request
    runtime: Runtime
    args: Args
    caller: TokenOwner | None

    @property
    def owner(self) -> TokenOwner:
        assert self.caller is not None, "only routes with auth read the caller"
        return self.caller

    @property
    def store(self) -> Store:
        return self.owner.account.store


Handler = Callable[[Call], Awaitable[Response]]


@dataclass(frozen=True, slots=True)
class Endpoint:
    handler: Handler
    style: Style = "rpc"
    auth: bool = True
    takes_args: bool = True
    error_shape: RouteErrorShape = nested_union


# -- account -----------------------------------------------------------------------------
async def get_current_account(call: Call) -> Response:
    return JSONResponse(account_json(call.owner.account))


def account_json(account: DropboxAccount) -> dict[str, Any]:
    given, _, surname = account.display_name.partition(" ")
    initials = "".join(word[0] for word in account.display_name.split() if word).upper()
    namespace = _namespace_id(account)
    return {
        "account_id": account.account_id,
        "name": {
            "given_name": given,
            "surname": surname,
            "familiar_name": given,
            "display_name": account.display_name,
            "abbreviated_name": initials,
        },
        "email": account.email,
        "email_verified": True,
        "disabled": False,
        "country": "US",
        "locale": "en",
        "referral_link": "https://www.dropbox.com/referrals/emulated",
        "is_paired": False,
        "account_type": {".tag": "basic"},
        "root_info": {".tag": "user", "root_namespace_id": namespace, "home_namespace_id": namespace},
    }


def _namespace_id(account: DropboxAccount) -> str:
    """A stable number for the account's root namespace (Dropbox's are numeric strings)."""
    digest = hashlib.sha256(f"namespace:{account.account_id}".encode()).digest()
    return str(int.from_bytes(digest[:5], "big"))


# -- listing -----------------------------------------------------------------------------
async def list_folder(call: Call) -> Response:
    scope = _scope(call)
    page = listing.first_page(call.store, scope, _limit(call.args))
    return _page_response(call, scope, page)


async def list_folder_continue(call: Call) -> Response:
    cursor = _own_cursor(call)
    page = listing.next_page(call.store, cursor.scope, cursor.position)
    return _page_response(call, cursor.scope, page)


async def get_latest_cursor(call: Call) -> Response:
    scope = _scope(call)
    position = listing.latest(call.store, _limit(call.args))
    return JSONResponse({"cursor": _cursor(call, scope, position)})


async def list_folder_longpoll(call: Call) -> Response:
    text = call.args.text("cursor")
    timeout = call.args.whole("timeout", longpoll.DEFAULT_TIMEOUT, longpoll.MIN_TIMEOUT, longpoll.MAX_TIMEOUT)
    cursor = Cursor.decode(text)
    owner = _live_owner(call.runtime, cursor, text)
    store = owner.account.store
    longpolls: longpoll.Longpolls = call.request.app.state.longpolls
    changed = await longpolls.wait_for_changes(call.runtime, store, cursor.scope, cursor.position, timeout)
    _live_owner(call.runtime, cursor, text)  # a reset while waiting makes the cursor stale
    return JSONResponse({"changes": changed})


def _scope(call: Call) -> Scope:
    path = call.args.path()
    if path == "/":
        where = call.args.where
        raise BadInput(f'{where}: path: Specify the root folder as an empty string rather than as "/".')
    return listing.open_scope(call.store, path, call.args.flag("recursive"))


def _limit(args: Args) -> int:
    return args.whole("limit", listing.DEFAULT_LIMIT, 1, listing.MAX_LIMIT)


def _page_response(call: Call, scope: Scope, page: ListingPage) -> Response:
    cursor = _cursor(call, scope, page.position)
    return JSONResponse({"entries": page.entries, "cursor": cursor, "has_more": page.has_more})


def _cursor(call: Call, scope: Scope, position: Position) -> str:
    generation = call.runtime.dropbox_tokens.generation(call.owner)
    return Cursor(call.owner.tenant, call.owner.account.key, generation, scope, position).encode()


def _own_cursor(call: Call) -> Cursor:
    """The caller's cursor; another account's (or garbage) is a malformed call, a stale one is `reset`."""
    text = call.args.text("cursor")
    cursor = Cursor.decode(text)
    if (cursor.tenant, cursor.account) != (call.owner.tenant, call.owner.account.key):
        raise wire.invalid_cursor(text)
    _live_owner(call.runtime, cursor, text)
    return cursor


def _live_owner(runtime: Runtime, cursor: Cursor, text: str) -> TokenOwner:
    owner = runtime.dropbox_tokens.owner(cursor.tenant, cursor.account)
    if owner is None:
        raise wire.invalid_cursor(text)
    if runtime.dropbox_tokens.generation(owner) != cursor.generation:
        raise RouteError("reset")
    return owner


# -- metadata and content ----------------------------------------------------------------
async def get_metadata(call: Call) -> Response:
    path = call.args.path()
    if path in ("", "/"):
        raise BadInput(f"{call.args.where}: path: The root folder is unsupported.")
    target = listing.resolve(call.store, path)
    entry = call.store.lookup(target)
    if entry is None and call.args.flag("include_deleted"):
        deleted = listing.deleted_metadata(call.store, target)
        if deleted is not None:
            return JSONResponse(deleted)
    if entry is None:
        entry = call.store.get(target)  # raises Dropbox's path/not_found
    return JSONResponse(entry.metadata())


async def download(call: Call) -> Response:
    target = listing.resolve(call.store, call.args.path())
    entry = call.store.get(target)
    data = call.store.read(target)
    headers = {"Dropbox-API-Result": wire.result_header(wire.untagged(entry))}
    return Response(data, media_type="application/octet-stream", headers=headers)


async def upload(call: Call) -> Response:
    args = call.args
    tag, rev = args.union("mode", "add")
    mode = WRITE_MODES.get(tag)
    if mode is None or (mode == "update") != isinstance(rev, str):
        expected = '"add", "overwrite" or {".tag": "update", "update": <rev>}'
        raise BadInput(f"{args.where}: mode: expected {expected}")
    content_hash = args.optional_text("content_hash")
    if content_hash is not None and not wire.CONTENT_HASH.fullmatch(content_hash):
        raise BadInput(f"{args.where}: content_hash: {content_hash!r} is not 64 lowercase hex digits")
    modified = args.optional_text("client_modified")
    path = args.path()
    data = await read_body(call.request, call.store.max_upload_bytes)
    request = writes.UploadRequest(
        path=listing.resolve(call.store, path),
        data=data,
        mode=mode,
        rev=rev if isinstance(rev, str) else None,
        autorename=args.flag("autorename"),
        client_modified=None if modified is None else parse_time(modified),
        content_hash=content_hash,
    )
    with _conflicts_at(call.store, request.path):
        entry = writes.upload(call.store, request)
    return JSONResponse(wire.untagged(entry))


# -- writes ------------------------------------------------------------------------------
async def create_folder(call: Call) -> Response:
    path = call.args.path()
    with _conflicts_at(call.store, path):
        entry = call.store.mkdir(path, autorename=call.args.flag("autorename"))
    return JSONResponse({"metadata": wire.untagged(entry)})


async def delete(call: Call) -> Response:
    target = listing.resolve(call.store, call.args.path(), role="path_lookup")
    return JSONResponse({"metadata": call.store.delete(target).metadata()})


async def move(call: Call) -> Response:
    source, target, autorename = _relocation(call)
    with _conflicts_at(call.store, target):
        entry = call.store.move(source, target, autorename=autorename)
    return JSONResponse({"metadata": entry.metadata()})


async def copy(call: Call) -> Response:
    source, target, autorename = _relocation(call)
    with _conflicts_at(call.store, target):
        entry = call.store.copy(source, target, autorename=autorename)
    return JSONResponse({"metadata": entry.metadata()})


def _relocation(call: Call) -> tuple[str, str, bool]:
    source = listing.resolve(call.store, call.args.path("from_path"), role="from_lookup")
    return source, call.args.path("to_path"), call.args.flag("autorename")


@contextlib.contextmanager
def _conflicts_at(store: Store, target: str) -> Iterator[None]:
    """The store says "conflict/file" for a file above the target too; Dropbox calls that `file_ancestor`."""
    try:
        yield
    except Conflict as conflict:
        message = conflict.provider_message or ""
        if message.endswith("/conflict/file/") and _absent(store, target):
            ancestor = message.removesuffix("file/") + "file_ancestor/"
            raise Conflict(conflict.message, provider_message=ancestor) from None
        raise


def _absent(store: Store, path: str) -> bool:
    try:
        return store.lookup(path) is None
    except DomainError:
        return False


# -- dispatch ----------------------------------------------------------------------------
ENDPOINTS: dict[str, Endpoint] = {
    "users/get_current_account": Endpoint(get_current_account, takes_args=False),
    "files/list_folder": Endpoint(list_folder),
    "files/list_folder/continue": Endpoint(list_folder_continue),
    "files/list_folder/get_latest_cursor": Endpoint(get_latest_cursor),
    "files/list_folder/longpoll": Endpoint(list_folder_longpoll, auth=False),
    "files/get_metadata": Endpoint(get_metadata),
    "files/create_folder_v2": Endpoint(create_folder),
    "files/upload": Endpoint(upload, style="upload", error_shape=upload_error),
    "files/download": Endpoint(download, style="download"),
    "files/delete_v2": Endpoint(delete),
    "files/move_v2": Endpoint(move),
    "files/copy_v2": Endpoint(copy),
}


async def dispatch(request: Request) -> Response:
    route = request.path_params["route"]
    runtime = runtime_of(request)
    endpoint = ENDPOINTS.get(route)
    try:
        if endpoint is None:
            raise BadInput(f"Unknown API function; the emulator serves {', '.join(sorted(ENDPOINTS))}")
        response = await endpoint.handler(await _call(request, runtime, endpoint))
    except (DomainError, ApiFailure) as problem:
        failure = from_domain(problem) if isinstance(problem, DomainError) else problem
        if isinstance(failure, RouteError) and endpoint is not None:
            response = failure.response(route, endpoint.error_shape)
        else:
            response = failure.response(route)
    response.headers["X-Dropbox-Request-Id"] = runtime.state.ids.hex("dropbox-request-id", 32)
    return response


async def _call(request: Request, runtime: Runtime, endpoint: Endpoint) -> Call:
    owner = wire.bearer_owner(request, runtime.dropbox_tokens) if endpoint.auth else None
    if endpoint.style == "rpc":
        args = await wire.rpc_args(request, takes_args=endpoint.takes_args)
    else:
        if endpoint.style == "upload":
            wire.check_upload_type(request)
        args = wire.header_args(request)
    return Call(request, runtime, args, owner)


def routes() -> list[Route]:
    return [LazyRoute("/2/{route:path}", dispatch, methods=["POST"])]
