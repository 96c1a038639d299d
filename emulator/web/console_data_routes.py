"""Control-plane reads the web console needs beyond the rest of /_emulator: who may sign in (with their
secrets: this is a local development tool), the fake Dropbox's registered apps, every instance with the
state of its callback subscription, the emulator clock, and the bytes of a file "at Dropbox".
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from emulator.domain.delivery import SubscriptionInfo
from emulator.domain.errors import InvalidInput
from emulator.domain.platform.hub import media_type
from emulator.domain.platform.instances import Instance, masked_configuration
from emulator.domain.platform.tenants import Organization
from emulator.domain.provider.content import format_time
from emulator.domain.state import DEFAULT_TENANT
from emulator.runtime import Runtime
from emulator.web.context import json_response, runtime_of, state_of
from emulator.web.routing import LazyRoute

PREFIX = "/_emulator"


def organization_json(org: Organization) -> dict[str, Any]:
    return {
        "id": org.id,
        "name": org.name,
        "secret": org.secret,
        "tenant": org.tenant,
        "failurePolicy": org.failure_policy,
        "users": [
            {
                "id": u.id,
                "email": u.email,
                "firstName": u.first_name,
                "lastName": u.last_name,
                "secret": u.secret,
            }
            for u in org.users
        ],
    }


def subscription_json(instance: Instance, subscriptions: Mapping[str, SubscriptionInfo]) -> dict[str, Any]:
    """The state of the instance's callback URL: `off` without events, `active` before its first callback."""
    url = instance.callback_url
    info = subscriptions.get(url) if url else None
    if not instance.events_enabled or url is None:
        return {"state": "off", "pending": 0, "queued": 0, "failures": 0, "nextRetryAt": None}
    if info is None:
        return {"state": "active", "pending": 0, "queued": 0, "failures": 0, "nextRetryAt": None}
    return {
        "state": info["state"],
        "pending": info["pending"],
        "queued": info["queued"],
        "failures": info["failures"],
        "nextRetryAt": info["next_retry_at"],
    }


def instance_summary(instance: Instance, subscriptions: Mapping[str, SubscriptionInfo]) -> dict[str, Any]:
    """One instance as the console lists it: any organization's, token included."""
    return {
        "id": instance.id,
        "name": instance.name,
        "dialect": instance.dialect,
        "connector": instance.connector.key,
        "account": instance.account,
        "tenant": instance.tenant,
        "organizationId": instance.organization_id,
        "userId": instance.user.id,
        "user": instance.user.email,
        "token": instance.token,
        "disabled": instance.disabled,
        "createdDate": format_time(instance.created_at),
        "tags": list(instance.tags),
        "eventsEnabled": instance.events_enabled,
        "callbackUrl": instance.callback_url,
        "vendorType": instance.vendor_type,
        "pollIntervalMinutes": instance.configuration.get("event.poller.refresh_interval", "15"),
        "nextPollAt": instance.next_poll_at,
        "signed": instance.signature_key is not None,
        "configuration": masked_configuration(instance),
        "subscription": subscription_json(instance, subscriptions),
    }


def instance_summaries(runtime: Runtime) -> list[dict[str, Any]]:
    subscriptions = {s["url"]: s for s in runtime.engine.subscriptions()}
    found = sorted(runtime.state.instances.values(), key=lambda i: i.id)
    return [instance_summary(i, subscriptions) for i in found]


async def organizations(request: Request) -> Response:
    """Every organization with its users and their secrets (to sign in to the console as one)."""
    return json_response([organization_json(o) for o in state_of(request).organizations.values()])


async def apps(request: Request) -> Response:
    """The OAuth apps registered with the fake Dropbox: the guide's apiKey and apiSecret."""
    found = state_of(request).seed.apps
    return json_response(
        [{"key": a.key, "secret": a.secret, "redirectUris": list(a.redirect_uris)} for a in found]
    )


async def instances(request: Request) -> Response:
    """Every instance of every organization, with the state of its callback subscription."""
    return json_response(instance_summaries(runtime_of(request)))


async def download(request: Request) -> Response:
    """The bytes of a file of a fake Dropbox account (`?path=`, `?tenant=`)."""
    path = request.query_params.get("path", "")
    if not path:
        raise InvalidInput("path is required")
    tenant = state_of(request).tenant(request.query_params.get("tenant") or DEFAULT_TENANT)
    store = tenant.provider.account(request.path_params["account"]).store
    data = store.read(path)
    name = store.get(path).name
    headers = {"Content-Disposition": f"attachment; filename*=UTF-8''{quote(name, safe='')}"}
    return Response(data, media_type=media_type(name), headers=headers)


def routes() -> list[Route]:
    return [
        LazyRoute(PREFIX + "/organizations", organizations, methods=["GET"]),
        LazyRoute(PREFIX + "/instances", instances, methods=["GET"]),
        LazyRoute(PREFIX + "/providers/dropbox/apps", apps, methods=["GET"]),
        LazyRoute(PREFIX + "/providers/dropbox/accounts/{account}/files", download, methods=["GET"]),
    ]
