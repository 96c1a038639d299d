"""Control plane of the Dropbox API surface: issue an account's access token, say where the API listens."""

from __future__ import annotations

from collections.abc import Mapping

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from emulator.domain.errors import InvalidInput, NotFound
from emulator.domain.state import DEFAULT_TENANT
from emulator.web.bodies import read_json
from emulator.web.context import json_response, runtime_of
from emulator.web.routing import LazyRoute

PREFIX = "/_emulator/providers/dropbox"
MAX_BODY_BYTES = 64 * 1024


async def issue_token(request: Request) -> Response:
    body = await read_json(request, MAX_BODY_BYTES, required=False)
    if body is not None and not isinstance(body, Mapping):
        raise InvalidInput("the body must be a JSON object")
    given = (body or {}).get("tenant")
    if given is not None and not isinstance(given, str):  # null is no tenant, as an absent one
        raise InvalidInput("tenant must be a string")
    tenant = given or request.query_params.get("tenant") or DEFAULT_TENANT
    runtime = runtime_of(request)
    token = runtime.dropbox_tokens.issue(tenant, request.path_params["account"])
    owner = runtime.dropbox_tokens.resolve(token)
    assert owner is not None
    return json_response(
        {
            "access_token": token,
            "token_type": "bearer",
            "account": owner.account.key,
            "account_id": owner.account.account_id,
            "tenant": owner.tenant,
        },
        status=201,
    )


async def api_info(request: Request) -> Response:
    info = runtime_of(request).dropbox_api
    if info is None:
        raise NotFound("the Dropbox API surface is off; serve with --dropbox-api-port to turn it on")
    return json_response(
        {
            "apiHost": info.api_host,
            "contentHost": info.content_host,
            "notifyHost": info.notify_host,
            "caFile": info.ca_file,
        }
    )


def routes() -> list[Route]:
    return [
        LazyRoute(PREFIX + "/api", api_info, methods=["GET"]),
        LazyRoute(PREFIX + "/accounts/{account}/tokens", issue_token, methods=["POST"]),
    ]
