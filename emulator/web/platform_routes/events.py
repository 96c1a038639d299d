"""Thin handlers for the platform's events API, queued deliveries, and the provider's webhook intake."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from typing import Any

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from emulator.domain.errors import Forbidden, InvalidInput
from emulator.web.bodies import parse_json, read_body
from emulator.web.context import caller_of, json_response, runtime_of, state_of
from emulator.web.delivery_json import notification_json
from emulator.web.routing import LazyRoute

INTAKE_BODY_BYTES = 1024 * 1024


async def list_events(request: Request) -> Response:
    caller = caller_of(request)
    events = runtime_of(request).events
    instance_id = request.path_params.get("id")
    found = events.visible_events(caller, int(instance_id) if instance_id is not None else None)
    return json_response([events.event_json(e) for e in found])


async def get_event(request: Request) -> Response:
    caller = caller_of(request)
    events = runtime_of(request).events
    instance_id = request.path_params.get("id")
    event = events.event_for(
        caller, request.path_params["event_id"], int(instance_id) if instance_id is not None else None
    )
    return json_response(events.event_json(event))


async def queued_deliveries(request: Request) -> Response:
    caller = caller_of(request)
    runtime = runtime_of(request)
    owned = [i.id for i in runtime.state.visible_instances(caller)]
    queued = [n for i in owned for n in runtime.engine.queued(instance_id=i)]
    return json_response([notification_json(n) for n in sorted(queued, key=lambda n: n.id)])


async def redeliver(request: Request) -> Response:
    caller = caller_of(request)
    runtime = runtime_of(request)
    count = sum(runtime.engine.redeliver(instance_id=i.id) for i in runtime.state.visible_instances(caller))
    return json_response({"redelivered": count})


async def intake_challenge(request: Request) -> Response:
    """Dropbox's webhook verification: echo the challenge as text/plain."""
    challenge = request.query_params.get("challenge")
    if challenge is None:
        raise InvalidInput("challenge is required")
    return PlainTextResponse(challenge, headers={"X-Content-Type-Options": "nosniff"})


async def intake_notification(request: Request) -> Response:
    """Dropbox's notification `{"list_folder": {"accounts": [...]}}`: the platform reads those accounts."""
    raw = await read_body(request, INTAKE_BODY_BYTES)
    _check_dropbox_signature(request, raw)
    body = parse_json(request, raw)
    accounts = _accounts(body)
    read = runtime_of(request).events.provider_notification(accounts)
    return json_response({"accounts": len(accounts), "eventsRead": read})


def _accounts(body: Any) -> list[str]:
    shape = 'the body must be {"list_folder": {"accounts": ["dbid:..."]}, "delta": {...}}'
    if not isinstance(body, Mapping) or not isinstance(body.get("delta", {}), Mapping):
        raise InvalidInput(shape)  # Dropbox's own delta is an object (its `users`); it is not read
    folder = body.get("list_folder")
    listed = folder.get("accounts") if isinstance(folder, Mapping) else None
    if not isinstance(listed, list) or not all(isinstance(a, str) for a in listed):
        raise InvalidInput(shape)
    return list(listed)


def _check_dropbox_signature(request: Request, raw: bytes) -> None:
    """With registered apps and a signature header, it must be a hex HMAC of the body by an app secret."""
    given = request.headers.get("x-dropbox-signature")
    if given is None:
        return
    secrets = {app.secret for t in state_of(request).tenants.values() for app in t.provider.oauth.apps}
    expected = [hmac.new(s.encode(), raw, hashlib.sha256).hexdigest() for s in secrets]
    if expected and not any(hmac.compare_digest(given, e) for e in expected):
        raise Forbidden("X-Dropbox-Signature does not match the body")


def routes(base: str) -> list[Route]:
    """Before the instances routes: `/instances/events` must not be read as instance id "events"."""
    return [
        LazyRoute(base + "/instances/events", list_events, methods=["GET"]),
        LazyRoute(base + "/instances/events/{event_id}", get_event, methods=["GET"]),
        LazyRoute(base + "/instances/{id:int}/events", list_events, methods=["GET"]),
        LazyRoute(base + "/instances/{id:int}/events/{event_id}", get_event, methods=["GET"]),
        LazyRoute(base + "/notifications/subscriptions/deliveries", queued_deliveries, methods=["GET"]),
        LazyRoute(base + "/notifications/subscriptions/deliveries", redeliver, methods=["PUT"]),
        LazyRoute(base + "/events/{key}", intake_challenge, methods=["GET"]),
        LazyRoute(base + "/events/{key}", intake_notification, methods=["POST"]),
    ]
