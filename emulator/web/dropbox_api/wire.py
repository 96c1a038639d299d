"""Reading Dropbox API v2 calls: route arguments (JSON body or `Dropbox-API-Arg`), bearer tokens, cursors."""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request

from emulator.domain.errors import TooLarge
from emulator.domain.provider.listing import Position, Scope
from emulator.domain.provider.store import Entry, Metadata
from emulator.domain.provider.tokens import DropboxTokens, TokenOwner
from emulator.web.bodies import read_body
from emulator.web.dropbox_api.errors import BadInput, InvalidToken

RPC_BODY_BYTES = 1024 * 1024
CORS_HACK = "text/plain; charset=dropbox-cors-hack"
RPC_TYPES = ("application/json", "application/json; charset=utf-8", CORS_HACK)
UPLOAD_TYPES = ("application/octet-stream", CORS_HACK)
# Dropbox's argument patterns: a path from the root, an entry id, or a namespace-relative path.
PATH_PATTERN = re.compile(r"(/(.|[\r\n])*)?|id:.*|(ns:[0-9]+(/.*)?)", re.DOTALL)
CONTENT_HASH = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True, slots=True)
class Args:
    """A route's argument object, with typed readers whose complaints read like Dropbox's."""

    values: Mapping[str, Any]
    where: str = "request body"

    def _fail(self, name: str, problem: str) -> BadInput:
        return BadInput(f"{self.where}: {name}: {problem}")

    def _get(self, name: str, kind: type, expected: str) -> Any:
        value = self.values.get(name)
        # JSON's true and false are not numbers, whatever Python's bool says.
        if value is not None and (isinstance(value, bool) != (kind is bool) or not isinstance(value, kind)):
            raise self._fail(name, f"expected {expected}, got {_json_kind(value)}")
        return value

    def text(self, name: str) -> str:
        value = self.optional_text(name)
        if value is None:
            raise self._fail(name, "missing required field")
        return value

    def optional_text(self, name: str) -> str | None:
        value: str | None = self._get(name, str, "string")
        return value

    def path(self, name: str = "path") -> str:
        value = self.text(name)
        if not PATH_PATTERN.fullmatch(value):
            raise self._fail(name, f"{value!r} did not match pattern '{PATH_PATTERN.pattern}'")
        return value

    def flag(self, name: str, default: bool = False) -> bool:
        value: bool | None = self._get(name, bool, "boolean")
        return default if value is None else value

    def whole(self, name: str, default: int, low: int, high: int) -> int:
        value: int | None = self._get(name, int, "integer")
        if value is None:
            return default
        if not low <= value <= high:
            raise self._fail(name, f"{value} is not within range [{low}, {high}]")
        return value

    def union(self, name: str, default: str) -> tuple[str, Any]:
        """A union member: "add", or {".tag": "update", "update": <value>}; answers (tag, value)."""
        value = self.values.get(name, default)
        if isinstance(value, str):
            return value, None
        if isinstance(value, Mapping) and isinstance(value.get(".tag"), str):
            tag = str(value[".tag"])
            return tag, value.get(tag)
        raise self._fail(name, f"expected a union member, got {_json_kind(value)}")


def _json_kind(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "list"
    return "object" if isinstance(value, Mapping) else "null"


# -- arguments ---------------------------------------------------------------------------
async def rpc_args(request: Request, *, takes_args: bool) -> Args:
    """The JSON body of an RPC call; a route without arguments takes an empty body or `null`."""
    _check_content_type(request, RPC_TYPES, required=takes_args)
    try:
        raw = await read_body(request, RPC_BODY_BYTES)
    except TooLarge:
        raise BadInput(f"request body: over the limit of {RPC_BODY_BYTES} bytes", status=413) from None
    return _args(_decode(raw, "request body"), "request body", takes_args)


def header_args(request: Request) -> Args:
    """A content route's argument: the `Dropbox-API-Arg` header, or the `arg` URL parameter."""
    where = 'HTTP header "Dropbox-API-Arg"'
    raw = request.headers.get("dropbox-api-arg")
    if raw is None:
        raw = request.query_params.get("arg")
        where = 'URL parameter "arg"'
    if raw is None:
        raise BadInput('Must provide HTTP header "Dropbox-API-Arg" or URL parameter "arg".')
    # Starlette reads header bytes as latin-1; the SDKs send UTF-8 (or ASCII with \u escapes).
    data = raw.encode("latin-1", errors="replace") if where.startswith("HTTP") else raw.encode()
    return _args(_decode(data, where), where, True)


def check_upload_type(request: Request) -> None:
    _check_content_type(request, UPLOAD_TYPES, required=True)


def _check_content_type(request: Request, accepted: tuple[str, ...], *, required: bool) -> None:
    given = request.headers.get("content-type")
    if given is None and not required:
        return
    if (given or "").strip().lower() not in accepted:
        expected = ", ".join(f'"{t}"' for t in accepted)
        raise BadInput(f'Bad HTTP "Content-Type" header: "{given or ""}".  Expecting one of {expected}.')


def _decode(raw: bytes, where: str) -> Any:
    if not raw.strip():
        return None
    try:
        return json.loads(raw)
    except (ValueError, RecursionError):
        raise BadInput(f"{where}: could not decode input as JSON") from None


def _args(value: Any, where: str, takes_args: bool) -> Args:
    if not takes_args:
        if value is not None:
            raise BadInput(f"{where}: this function takes no argument; send an empty body or null")
        return Args({}, where)
    if not isinstance(value, Mapping):
        raise BadInput(f"{where}: expected object, got {_json_kind(value)}")
    return Args(value, where)


# -- tokens ------------------------------------------------------------------------------
def bearer_owner(request: Request, tokens: DropboxTokens) -> TokenOwner:
    """The account of `Authorization: Bearer <token>` (or the `authorization` URL parameter)."""
    value = request.headers.get("authorization") or request.query_params.get("authorization")
    if not value:
        raise BadInput('Must provide HTTP header "Authorization" or URL parameter "authorization".')
    scheme, _, token = value.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise BadInput(
            f'Invalid authorization value in HTTP header "Authorization": "{value}".  '
            'Expecting "Bearer <oauth2-access-token>".'
        )
    owner = tokens.resolve(token.strip())
    if owner is None:
        raise InvalidToken("unknown access token")
    return owner


# -- cursors -----------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Cursor:
    """What an opaque list_folder cursor carries: whose listing, of what, and where it stands."""

    tenant: str
    account: str
    generation: int
    scope: Scope
    position: Position

    def encode(self) -> str:
        fields = [
            self.tenant,
            self.account,
            self.generation,
            self.scope.path_lower,
            self.scope.recursive,
            self.position.seq,
            self.position.limit,
            self.position.after,
        ]
        raw = json.dumps(fields, separators=(",", ":"), ensure_ascii=False).encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    @classmethod
    def decode(cls, text: str) -> Cursor:
        try:
            raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
            tenant, account, generation, path_lower, recursive, seq, limit, after = json.loads(raw)
            scope, position = Scope(path_lower, recursive), Position(seq, limit, after)
            cursor = cls(tenant, account, generation, scope, position)
        except (ValueError, TypeError, binascii.Error, UnicodeDecodeError):
            raise invalid_cursor(text) from None
        if not cursor._well_typed():
            raise invalid_cursor(text)
        return cursor

    def _well_typed(self) -> bool:
        texts = (self.tenant, self.account, self.scope.path_lower)
        numbers = (self.generation, self.position.seq, self.position.limit)
        return (
            all(isinstance(t, str) for t in texts)
            and all(isinstance(n, int) and not isinstance(n, bool) for n in numbers)
            and isinstance(self.scope.recursive, bool)
            and (self.position.after is None or isinstance(self.position.after, str))
        )


def invalid_cursor(text: str) -> BadInput:
    shown = text if len(text) <= 80 else text[:77] + "..."
    return BadInput(f'Invalid "cursor" parameter: {shown!r}')


# -- metadata ----------------------------------------------------------------------------
def untagged(entry: Entry) -> Metadata:
    """FileMetadata or FolderMetadata where the route's type is that struct itself: no `.tag`."""
    metadata = entry.metadata()
    del metadata[".tag"]
    return metadata


def result_header(metadata: Metadata) -> str:
    """`Dropbox-API-Result`: JSON with non-ASCII escaped, since HTTP header values are ASCII."""
    return json.dumps(metadata, separators=(",", ":"), ensure_ascii=True)
