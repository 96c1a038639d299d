"""Per-request helpers the thin handlers share: the runtime, the dialect, the caller."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import JSONResponse

from emulator.dialects import DIALECTS, Dialect
from emulator.domain.platform.instances import Instance
from emulator.domain.platform.tenants import Caller
from emulator.domain.state import EmulatorState
from emulator.web.auth import parse_authorization

if TYPE_CHECKING:
    from emulator.runtime import Runtime


def runtime_of(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


def state_of(request: Request) -> EmulatorState:
    return runtime_of(request).state


def dialect_of(request: Request) -> Dialect:
    return DIALECTS[request.path_params["dialect"]]


def caller_of(request: Request) -> Caller:
    credentials = parse_authorization(request.headers.get("authorization"))
    return state_of(request).authenticate(credentials.user, credentials.organization)


def instance_caller_of(request: Request) -> tuple[Caller, Instance]:
    credentials = parse_authorization(request.headers.get("authorization"))
    return state_of(request).authenticate_instance(
        credentials.user, credentials.organization, credentials.token
    )


def origin_of(request: Request) -> str:
    return f"{request.url.scheme}://{request.url.netloc}"


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(body, status_code=status, headers=headers)
