"""Thin handlers for the catalog, the OAuth URL (Step 1 of the guide) and the instances API (Step 2)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from emulator.domain.errors import Unauthenticated
from emulator.domain.platform.instances import configuration_entries, instance_json
from emulator.domain.state import DEFAULT_TENANT
from emulator.web.auth import parse_authorization
from emulator.web.bodies import query_list, read_json
from emulator.web.context import (
    caller_of,
    dialect_of,
    json_response,
    origin_of,
    runtime_of,
    state_of,
)
from emulator.web.routing import LazyRoute

AUTHORIZE_PATH = "/oauth2/authorize"


async def catalog(request: Request) -> Response:
    caller_of(request)
    return json_response([c.wire for c in state_of(request).connectors.values()])


async def connector(request: Request) -> Response:
    caller_of(request)
    return json_response(state_of(request).connector(request.path_params["key"]).wire)


async def oauth_url(request: Request) -> Response:
    """No Authorization needed: the tenant is the one whose OAuth app is `apiKey` (the default tenant
    for the fixture's apps). An Authorization that names a tenant's organization chooses that tenant."""
    state = state_of(request)
    dialect = dialect_of(request)
    tenant = state.tenant_of_app(request.query_params.get("apiKey", "")) or DEFAULT_TENANT
    if request.headers.get("authorization"):
        try:
            credentials = parse_authorization(request.headers.get("authorization"))
            tenant = state.authenticate(credentials.user, credentials.organization).organization.tenant
        except Unauthenticated:
            pass
    key = request.path_params["key"]
    url = state.oauth_url(key, request.query_params, origin_of(request) + AUTHORIZE_PATH, tenant)
    return json_response({"oauthUrl": url, dialect.singular: state.connector(key).key})


async def create_instance(request: Request) -> Response:
    caller = caller_of(request)
    runtime = runtime_of(request)
    body = await read_json(request, runtime.state.seed.limits.max_body_bytes)
    dialect = dialect_of(request)
    instance = runtime.state.provision(caller, body, dialect.name)
    return json_response(instance_json(instance, dialect.singular))


async def list_instances(request: Request) -> Response:
    caller = caller_of(request)
    dialect = dialect_of(request)
    found = state_of(request).visible_instances(caller, query_list(request, "tags"))
    return json_response([instance_json(i, dialect.singular) for i in found])


async def get_instance(request: Request) -> Response:
    caller = caller_of(request)
    instance = state_of(request).instance_for(caller, request.path_params["id"])
    return json_response(instance_json(instance, dialect_of(request).singular))


async def update_instance(request: Request) -> Response:
    caller = caller_of(request)
    state = state_of(request)
    state.instance_for(caller, request.path_params["id"])
    body = await read_json(request, state.seed.limits.max_body_bytes)
    instance = state.update_instance(caller, request.path_params["id"], body)
    return json_response(instance_json(instance, dialect_of(request).singular))


async def delete_instance(request: Request) -> Response:
    caller = caller_of(request)
    state_of(request).delete_instance(caller, request.path_params["id"])
    return Response(status_code=200)


async def list_configuration(request: Request) -> Response:
    caller = caller_of(request)
    instance = state_of(request).instance_for(caller, request.path_params["id"])
    return json_response(configuration_entries(instance))


async def update_configuration(request: Request) -> Response:
    caller = caller_of(request)
    state = state_of(request)
    state.instance_for(caller, request.path_params["id"])
    body = await read_json(request, state.seed.limits.max_body_bytes)
    config_id = request.path_params["config_id"]
    instance = state.update_config_entry(caller, request.path_params["id"], config_id, body)
    entry = next(e for e in configuration_entries(instance) if str(e["id"]) == str(config_id))
    return json_response(entry)


async def enable_instance(request: Request) -> Response:
    return _set_enabled(request, True)


async def disable_instance(request: Request) -> Response:
    return _set_enabled(request, False)


def _set_enabled(request: Request, enabled: bool) -> Response:
    caller = caller_of(request)
    instance = state_of(request).set_enabled(caller, request.path_params["id"], enabled)
    return json_response(instance_json(instance, dialect_of(request).singular))


def routes(base: str) -> list[Route]:
    """`base` is `/{dialect:dialect}/api-v2`; the catalog also answers under /{dialect}."""
    return [
        LazyRoute(base + "/{dialect_again:dialect}/{key}/oauth/url", oauth_url, methods=["GET"]),
        LazyRoute(base + "/{dialect_again:dialect}/{key}/oauth", oauth_url, methods=["GET"]),
        LazyRoute(base + "/{dialect_again:dialect}", catalog, methods=["GET"]),
        LazyRoute(base + "/{dialect_again:dialect}/{key}", connector, methods=["GET"]),
        LazyRoute(base + "/instances", create_instance, methods=["POST"]),
        LazyRoute(base + "/instances", list_instances, methods=["GET"]),
        LazyRoute(base + "/instances/{id}", get_instance, methods=["GET"]),
        LazyRoute(base + "/instances/{id}", update_instance, methods=["PUT", "PATCH"]),
        LazyRoute(base + "/instances/{id}", delete_instance, methods=["DELETE"]),
        LazyRoute(base + "/instances/{id}/configuration", list_configuration, methods=["GET"]),
        LazyRoute(
            base + "/instances/{id}/configuration/{config_id}", update_configuration, methods=["PATCH", "PUT"]
        ),
        LazyRoute(base + "/instances/{id}/enabled", enable_instance, methods=["PUT", "POST"]),
        LazyRoute(base + "/instances/{id}/enabled", disable_instance, methods=["DELETE"]),
    ]
