"""The control plane under /_emulator: health, reset, tenants, clock and OAuth side channels."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from emulator import __version__
from emulator.domain.clock import CLOCK_MODES, LATEST, MAX_SCALE, Clock
from emulator.domain.errors import InvalidInput
from emulator.domain.provider.content import format_time, parse_time
from emulator.domain.state import DEFAULT_TENANT
from emulator.web.bodies import parse_json, read_body
from emulator.web.context import json_response, runtime_of, state_of
from emulator.web.routing import LazyRoute

PREFIX = "/_emulator"
CONTROL_BODY_BYTES = 1024 * 1024


async def _body(request: Request, *, required: bool = True) -> Mapping[str, Any]:
    raw = await read_body(request, CONTROL_BODY_BYTES)
    if not raw.strip() and not required:
        return {}
    body = parse_json(request, raw)  # an absent body, when required, is refused here
    if not isinstance(body, Mapping):  # JSON `null` included: a body given must be an object
        raise InvalidInput("the body must be a JSON object")
    return body


async def health(request: Request) -> Response:
    runtime = runtime_of(request)
    return json_response(
        {
            "status": "ok",
            "version": __version__,
            "fixture": runtime.source,
            "clock": _clock_json(request),
            "instances": len(runtime.state.instances),
            "fixtureGeneration": runtime.fixture_generation,
        }
    )


async def reset(request: Request) -> Response:
    started = time.perf_counter()
    runtime_of(request).reset()
    elapsed_ms = (time.perf_counter() - started) * 1000
    return json_response({"status": "reset", "serverMs": round(elapsed_ms, 3)})


# -- tenants -----------------------------------------------------------------------------
async def create_tenant(request: Request) -> Response:
    tenant, org = state_of(request).create_tenant()
    user = org.users[0]
    return json_response(
        {
            "id": tenant.id,
            "organizationId": org.id,
            "organizationSecret": org.secret,
            "userSecret": user.secret,
            "apiKey": tenant.provider.oauth.apps[0].key,
            "apiSecret": tenant.provider.oauth.apps[0].secret,
            "user": user.to_json(),
            "accounts": sorted(tenant.provider.accounts),
        },
        status=201,
    )


async def reset_tenant(request: Request) -> Response:
    tenant = state_of(request).reset_tenant(request.path_params["tenant"])
    return json_response({"id": tenant.id, "status": "reset"})


async def delete_tenant(request: Request) -> Response:
    tenant_id = request.path_params["tenant"]
    state_of(request).delete_tenant(tenant_id)
    return json_response({"id": tenant_id, "status": "deleted"})


# -- clock -------------------------------------------------------------------------------
def clock_json(clock: Clock) -> dict[str, Any]:
    """The shape of `GET /_emulator/clock` (the console's stream sends it too)."""
    now = clock.now()
    return {
        "now": now,
        "iso": format_time(now),
        "mode": clock.mode,
        "scale": clock.scale,
        "pendingTimers": len(clock.pending()),
        "nextDue": clock.next_due(),
    }



def _clock_json(request: Request) -> dict[str, Any]:
    return clock_json(state_of(request).clock)


async def get_clock(request: Request) -> Response:
    return json_response(_clock_json(request))


async def advance_clock(request: Request) -> Response:
    body = await _body(request)
    seconds = _number(body, "seconds", default=0.0) + 60 * _number(body, "minutes", default=0.0)
    seconds += 3600 * _number(body, "hours", default=0.0)
    if seconds < 0:
        raise InvalidInput("the clock cannot go back")
    clock = state_of(request).clock
    if clock.now() + seconds > LATEST:
        raise InvalidInput("the clock cannot go past 9999-12-31T23:59:59Z")
    ran = clock.advance(seconds)
    return json_response({**_clock_json(request), "timersRun": ran})


async def set_clock(request: Request) -> Response:
    body = await _body(request)
    clock = state_of(request).clock
    ran = 0
    if "now" in body:
        when = body["now"]
        target = parse_time(when) if isinstance(when, str) else _number(body, "now", default=0.0)
        if target < clock.now():
            raise InvalidInput("the clock cannot go back")
        if target > LATEST:
            raise InvalidInput("the clock cannot go past 9999-12-31T23:59:59Z")
        ran = clock.set(target)
    if "mode" in body or "scale" in body:
        mode = body.get("mode", clock.mode)
        if mode not in CLOCK_MODES:
            raise InvalidInput("mode must be manual or real")
        scale = _number(body, "scale", default=clock.scale)
        if not 0 < scale <= MAX_SCALE:
            raise InvalidInput(f"scale must be positive and at most {MAX_SCALE:g}")
        clock.set_mode(mode, scale)
    return json_response({**_clock_json(request), "timersRun": ran})


def _number(body: Mapping[str, Any], key: str, *, default: float) -> float:
    value = body.get(key, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InvalidInput(f"{key} must be a number")
    if value != value or value in (float("inf"), float("-inf")):
        raise InvalidInput(f"{key} must be a finite number")
    return float(value)


# -- OAuth side channel --------------------------------------------------------------------
async def list_codes(request: Request) -> Response:
    state = state_of(request)
    tenant = state.tenant(request.query_params.get("tenant") or DEFAULT_TENANT)
    now = state.clock.now()
    return json_response([c.to_json(now) for c in tenant.provider.oauth.codes.values()])


async def issue_code(request: Request) -> Response:
    body = await _body(request)
    state = state_of(request)
    tenant = state.tenant(str(body.get("tenant") or DEFAULT_TENANT))
    fields = {k: body.get(k) for k in ("account", "clientId", "redirectUri")}
    missing = [k for k, v in fields.items() if not isinstance(v, str) or not v]
    if missing:
        raise InvalidInput("missing or non-string fields: " + ", ".join(missing))
    account = tenant.provider.account(str(fields["account"]))
    code = tenant.provider.oauth.issue(
        account=account.key, client_id=str(fields["clientId"]), redirect_uri=str(fields["redirectUri"])
    )
    return json_response(code.to_json(state.clock.now()), status=201)


async def openapi(request: Request) -> Response:
    """This emulator's OpenAPI 3 document, made from its route table."""
    from emulator.web.openapi import openapi_document  # only when asked: start-up does not need it

    return json_response(openapi_document(request.app.routes))


def routes() -> list[Route]:
    return [
        LazyRoute(PREFIX + "/health", health, methods=["GET"]),
        LazyRoute(PREFIX + "/openapi.json", openapi, methods=["GET"]),
        LazyRoute(PREFIX + "/reset", reset, methods=["POST"]),
        LazyRoute(PREFIX + "/tenants", create_tenant, methods=["POST"]),
        LazyRoute(PREFIX + "/tenants/{tenant}/reset", reset_tenant, methods=["POST"]),
        LazyRoute(PREFIX + "/tenants/{tenant}", delete_tenant, methods=["DELETE"]),
        LazyRoute(PREFIX + "/clock", get_clock, methods=["GET"]),
        LazyRoute(PREFIX + "/clock", set_clock, methods=["POST", "PUT"]),
        LazyRoute(PREFIX + "/clock/advance", advance_clock, methods=["POST"]),
        LazyRoute(PREFIX + "/oauth/codes", list_codes, methods=["GET"]),
        LazyRoute(PREFIX + "/oauth/codes", issue_code, methods=["POST"]),
    ]
