"""Per-request helpers the thin handlers share: the runtime, the dialect, the caller."""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any

from starlette.applications import Starlette
from starlette.datastructures import QueryParams
from starlette.requests import Request
from starlette.responses import JSONResponse

from emulator.dialects import DIALECTS, Dialect
from emulator.domain.json_codec import compact_json
from emulator.domain.platform.instances import Instance
from emulator.domain.platform.tenants import Caller
from emulator.domain.state import EmulatorState
from emulator.web.auth import parse_authorization

if TYPE_CHECKING:
    from emulator.runtime import Runtime


class RuntimeApp(Starlette):
    """A Starlette app serving one runtime, held as a plain attribute: every handler asks for it,
    several times a request, and `app.state`'s lookups cost more than the rest of a cached read."""

    def __init__(self, runtime: Runtime, **options: Any) -> None:
        super().__init__(**options)
        self.runtime = runtime


def runtime_of(request: Request) -> Runtime:
    app: RuntimeApp = request.scope["app"]  # both of the emulator's apps are RuntimeApps
    return app.runtime


def state_of(request: Request) -> EmulatorState:
    return runtime_of(request).state


def dialect_of(request: Request) -> Dialect:
    return DIALECTS[request.path_params["dialect"]]


def header_of(request: Request, name: bytes) -> str | None:
    """`request.headers.get(name)` (`name` in lower case, as ASGI servers give them): the first value.

    From the headers gathered into a dict once per request: Starlette's `Headers` looks each one up
    with a loop in Python, and a write looks up three or four.
    """
    scope = request.scope
    gathered: dict[bytes, bytes] | None = scope.get(_GATHERED)
    if gathered is None:
        gathered = scope[_GATHERED] = dict(reversed(scope["headers"]))  # reversed: the first wins
    value = gathered.get(name)
    return None if value is None else value.decode("latin-1")


_GATHERED = "hub_emulator.headers"  # the scope's key for them


def caller_of(request: Request) -> Caller:
    credentials = parse_authorization(header_of(request, b"authorization"))
    return state_of(request).authenticate(credentials.user, credentials.organization)


def instance_caller_of(request: Request) -> tuple[Caller, Instance]:
    credentials = parse_authorization(header_of(request, b"authorization"))
    return state_of(request).authenticate_instance(
        credentials.user, credentials.organization, credentials.token
    )


def query_of(request: Request) -> QueryParams:
    """`request.query_params`, parsed once per distinct query string rather than once per request."""
    return _parsed_query(request.scope["query_string"])


@functools.lru_cache(maxsize=1024)
def _parsed_query(query_string: bytes) -> QueryParams:
    return QueryParams(query_string)  # immutable: safe to share between requests


def origin_of(request: Request) -> str:
    return f"{request.url.scheme}://{request.url.netloc}"


class CompactJSONResponse(JSONResponse):
    """JSONResponse's very bytes, from one shared encoder (see emulator.domain.json_codec)."""

    def render(self, content: Any) -> bytes:
        return compact_json(content)


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> JSONResponse:
    return CompactJSONResponse(body, status_code=status, headers=headers)
