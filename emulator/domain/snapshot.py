"""The whole emulator state to and from plain JSON-able data: export, import, and `--state` files."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from emulator.domain.delivery import DeliveryEngine
from emulator.domain.errors import InvalidInput
from emulator.domain.platform.events import Event, EventService
from emulator.domain.platform.instances import Instance
from emulator.domain.platform.tenants import Organization, User
from emulator.domain.provider.accounts import DropboxAccount, DropboxProvider
from emulator.domain.provider.oauth import AuthorizationCode, OAuthApp, OAuthServer
from emulator.domain.provider.store import Store
from emulator.domain.state import EmulatorState, Tenant

FORMAT = "hub-emulator-state"
VERSION = 1


def export_state(state: EmulatorState, events: EventService, engine: DeliveryEngine) -> dict[str, Any]:
    clock = state.clock
    return {
        "format": FORMAT,
        "version": VERSION,
        "clock": {"now": clock.now(), "mode": clock.mode, "scale": clock.scale},
        "ids": state.ids.state(),
        "tenants": [_tenant(t, state) for t in state.tenants.values()],
        "instances": [_instance(i) for i in state.instances.values()],
        "events": [_event(e) for e in events.events.values()],
        "delivery": engine.snapshot(),
    }


def import_state(state: EmulatorState, events: EventService, engine: DeliveryEngine, data: object) -> None:
    """Replace the state with an export's; a malformed export raises InvalidInput and changes nothing."""
    try:
        built = _read(state, data)
    except InvalidInput:
        raise
    except (KeyError, TypeError, ValueError, AttributeError, StopIteration) as problem:
        raise InvalidInput(f"not a valid state export: {problem!r}") from None
    clock_data, ids, tenants, organizations, instances, event_list, delivery = built
    # Every part read without error: now swap it all in.
    state.clock.reset(float(clock_data["now"]))
    state.clock.set_mode(clock_data["mode"], float(clock_data["scale"]))
    state.ids.restore(ids)
    events.reset()  # also empties the delivery engine
    state.tenants = tenants
    state.organizations = organizations
    state.orgs_by_secret = {o.secret: o for o in organizations.values()}
    state.instances = instances
    state.instances_by_token = {i.token: i for i in instances.values()}
    for tenant in tenants.values():
        state._watch(tenant)
    events.events = {e.id: e for e in event_list}
    engine.restore(delivery)
    events.restore_subscriptions()


# -- writing --------------------------------------------------------------------------------
def _tenant(tenant: Tenant, state: EmulatorState) -> dict[str, Any]:
    provider = tenant.provider
    return {
        "id": tenant.id,
        "organizations": [_organization(state.organizations[o]) for o in tenant.organization_ids],
        "consent": provider.consent,
        "maxUploadBytes": provider.max_upload_bytes,
        "apps": [
            {"key": a.key, "secret": a.secret, "redirectUris": list(a.redirect_uris)}
            for a in provider.oauth.apps
        ],
        "codes": [_code(c) for c in provider.oauth.codes.values()],
        "accounts": [_account(a) for a in provider.accounts.values()],
    }


def _organization(org: Organization) -> dict[str, Any]:
    return {
        "id": org.id,
        "name": org.name,
        "secret": org.secret,
        "failurePolicy": org.failure_policy,
        "users": [
            {
                "id": u.id,
                "secret": u.secret,
                "email": u.email,
                "firstName": u.first_name,
                "lastName": u.last_name,
            }
            for u in org.users
        ],
    }


def _code(code: AuthorizationCode) -> dict[str, Any]:
    return {
        "code": code.code,
        "clientId": code.client_id,
        "redirectUri": code.redirect_uri,
        "account": code.account,
        "issuedAt": code.issued_at,
        "expiresAt": code.expires_at,
        "used": code.used,
    }


def _account(account: DropboxAccount) -> dict[str, Any]:
    return {
        "key": account.key,
        "accountId": account.account_id,
        "email": account.email,
        "displayName": account.display_name,
        "tokens": list(account.tokens),
        "store": account.store.snapshot(),
    }


def _instance(instance: Instance) -> dict[str, Any]:
    return {
        "id": instance.id,
        "name": instance.name,
        "token": instance.token,
        "tenant": instance.tenant,
        "organizationId": instance.organization_id,
        "userId": instance.user.id,
        "connector": instance.connector.key,
        "dialect": instance.dialect,
        "account": instance.account,
        "createdAt": instance.created_at,
        "configuration": dict(instance.configuration),
        "configIds": dict(instance.config_ids),
        "tags": list(instance.tags),
        "disabled": instance.disabled,
        "cursor": instance.cursor,
        "nextPollAt": instance.next_poll_at,
    }


def _event(event: Event) -> dict[str, Any]:
    return {
        "id": event.id,
        "instanceId": event.instance_id,
        "kind": event.kind,
        "createdAt": event.created_at,
        "entries": event.entries,
        "providerData": event.provider_data,
        "notificationIds": list(event.notification_ids),
        "error": event.error,
        # A job still waiting to run cannot be saved (it is code); it is reported as interrupted.
        "done": True,
        "interrupted": not event.done,
    }


# -- reading --------------------------------------------------------------------------------
def _read(state: EmulatorState, data: object) -> tuple[Any, ...]:
    if not isinstance(data, Mapping) or data.get("format") != FORMAT:
        raise InvalidInput(f'not a state export: expected "format": "{FORMAT}"')
    if data.get("version") != VERSION:
        raise InvalidInput(
            f"unsupported state version {data.get('version')!r}; this emulator reads {VERSION}"
        )
    clock = data["clock"]
    if clock["mode"] not in ("manual", "real") or float(clock["scale"]) <= 0:
        raise InvalidInput("clock.mode must be manual or real, clock.scale positive")
    ids = {str(k): int(v) for k, v in data["ids"].items()}
    tenants: dict[str, Tenant] = {}
    organizations: dict[int, Organization] = {}
    for raw in data["tenants"]:
        tenant = _read_tenant(state, raw, organizations)
        tenants[tenant.id] = tenant
    instances = {i.id: i for i in (_read_instance(state, raw, organizations) for raw in data["instances"])}
    event_list = [_read_event(raw) for raw in data["events"]]
    delivery = data["delivery"]
    _check_delivery(state, delivery)
    return clock, ids, tenants, organizations, instances, event_list, delivery


def _read_tenant(state: EmulatorState, raw: Mapping[str, Any], orgs: dict[int, Organization]) -> Tenant:
    tenant_id = str(raw["id"])
    for org_raw in raw["organizations"]:
        users = tuple(
            User(int(u["id"]), str(u["secret"]), str(u["email"]), str(u["firstName"]), str(u["lastName"]))
            for u in org_raw["users"]
        )
        policy = org_raw["failurePolicy"]
        if policy not in ("retry", "queue"):
            raise ValueError(f"unknown failure policy {policy!r}")
        org = Organization(
            int(org_raw["id"]), str(org_raw["name"]), str(org_raw["secret"]), users, tenant_id, policy
        )
        orgs[org.id] = org
    apps = tuple(OAuthApp(str(a["key"]), str(a["secret"]), tuple(a["redirectUris"])) for a in raw["apps"])
    oauth = OAuthServer(state.clock, state.ids, apps)
    for c in raw["codes"]:
        oauth.codes[str(c["code"])] = AuthorizationCode(
            str(c["code"]),
            str(c["clientId"]),
            str(c["redirectUri"]),
            str(c["account"]),
            float(c["issuedAt"]),
            float(c["expiresAt"]),
            bool(c["used"]),
        )
    if raw["consent"] not in ("page", "auto"):
        raise ValueError("consent must be page or auto")
    provider = DropboxProvider(
        clock=state.clock,
        ids=state.ids,
        oauth=oauth,
        consent=raw["consent"],
        max_upload_bytes=int(raw["maxUploadBytes"]),
    )
    for a in raw["accounts"]:
        store = Store.from_snapshot(a["store"], state.clock, state.ids)
        provider.accounts[str(a["key"])] = DropboxAccount(
            str(a["key"]),
            str(a["accountId"]),
            str(a["email"]),
            str(a["displayName"]),
            store,
            list(a["tokens"]),
        )
    return Tenant(tenant_id, provider, [int(o["id"]) for o in raw["organizations"]])


def _read_instance(state: EmulatorState, raw: Mapping[str, Any], orgs: dict[int, Organization]) -> Instance:
    org = orgs[int(raw["organizationId"])]
    user = next(u for u in org.users if u.id == int(raw["userId"]))
    return Instance(
        id=int(raw["id"]),
        name=str(raw["name"]),
        token=str(raw["token"]),
        tenant=str(raw["tenant"]),
        organization_id=org.id,
        user=user,
        connector=state.connector(str(raw["connector"])),
        dialect=str(raw["dialect"]),
        account=str(raw["account"]),
        created_at=float(raw["createdAt"]),
        configuration={str(k): str(v) for k, v in raw["configuration"].items()},
        config_ids={str(k): int(v) for k, v in raw["configIds"].items()},
        tags=[str(t) for t in raw["tags"]],
        disabled=bool(raw["disabled"]),
        cursor=int(raw["cursor"]),
        next_poll_at=None if raw["nextPollAt"] is None else float(raw["nextPollAt"]),
    )


def _read_event(raw: Mapping[str, Any]) -> Event:
    error = raw["error"]
    if raw.get("interrupted"):
        error = {
            "message": "the job was interrupted: the state was saved before it ran",
            "errorType": "Interrupted",
        }
    return Event(
        id=int(raw["id"]),
        instance_id=int(raw["instanceId"]),
        kind=raw["kind"],
        created_at=float(raw["createdAt"]),
        entries=list(raw["entries"]),
        provider_data=dict(raw["providerData"]),
        notification_ids=[int(n) for n in raw["notificationIds"]],
        error=error,
        done=True,
    )


def _check_delivery(state: EmulatorState, delivery: Any) -> None:
    """Restore into a scratch engine first, so that a bad journal is refused before anything changes."""
    DeliveryEngine(type(state.clock)(state.clock.now())).restore(delivery)
