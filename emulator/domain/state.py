"""All the emulator's state in one object, built from a seed and rebuilt by reset (DESIGN.md section 6)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import NamedTuple
from urllib.parse import urlencode

from emulator.domain.clock import Clock, ClockMode
from emulator.domain.errors import Forbidden, InvalidInput, NotFound, Unauthenticated
from emulator.domain.ids import Ids
from emulator.domain.platform.catalog import Connector
from emulator.domain.platform.instances import (
    Instance,
    complete_configuration,
    config_text,
    is_http_url,
    read_provision_body,
)
from emulator.domain.platform.tenants import Caller, FailurePolicy, Organization, User
from emulator.domain.provider.accounts import AccountSeed, ConsentMode, DropboxProvider
from emulator.domain.provider.oauth import OAuthApp
from emulator.domain.provider.store import Change, Store

DEFAULT_TENANT = "default"


class OrganizationSeed(NamedTuple):
    id: int
    name: str
    secret: str
    users: tuple[User, ...]
    failure_policy: FailurePolicy = "retry"


class InstanceSeed(NamedTuple):
    organization_id: int
    user_id: int
    account: str
    name: str
    dialect: str = "elements"
    connector: str = "dropbox"
    token: str | None = None
    tags: tuple[str, ...] = ()
    configuration: Mapping[str, str] = MappingProxyType({})  # read only: one empty mapping for all
    disabled: bool = False


class Limits(NamedTuple):
    max_upload_bytes: int = 150 * 1024 * 1024
    max_body_bytes: int = 1024 * 1024


class StateSeed(NamedTuple):
    """Everything a fixture says, in domain terms: reset rebuilds the state from it."""

    seed: str
    clock_start: float
    id_starts: Mapping[str, int]
    limits: Limits
    organizations: tuple[OrganizationSeed, ...]
    connectors: tuple[Connector, ...]
    accounts: tuple[AccountSeed, ...]
    apps: tuple[OAuthApp, ...] = ()
    consent: ConsentMode = "page"
    instances: tuple[InstanceSeed, ...] = ()


@dataclass(slots=True)
class Tenant:
    id: str
    provider: DropboxProvider
    organization_ids: list[int] = field(default_factory=list)


class EmulatorState:
    """The platform's organizations and instances, and each tenant's fake Dropbox."""

    def __init__(self, seed: StateSeed, clock_mode: ClockMode = "manual") -> None:
        self.seed = seed
        self.clock = Clock(seed.clock_start, mode=clock_mode)
        self.ids = Ids(seed.seed, seed.id_starts)
        # Hooks the events layer installs: called with an instance after it is created or changed.
        self.instance_listeners: list[Callable[[Instance], None]] = []
        self.reset_listeners: list[Callable[[], None]] = []
        # Called with (tenant id, account key, batch) after every logged change of any account.
        self.change_listeners: list[Callable[[str, str, list[Change]], None]] = []
        self._build()

    # -- building and resetting --------------------------------------------------------
    def _build(self) -> None:
        self.connectors: dict[str, Connector] = {c.key: c for c in self.seed.connectors}
        self.tenants: dict[str, Tenant] = {}
        self.organizations: dict[int, Organization] = {}
        self.orgs_by_secret: dict[str, Organization] = {}
        self.instances: dict[int, Instance] = {}
        self.instances_by_token: dict[str, Instance] = {}
        tenant = self._new_tenant(DEFAULT_TENANT)
        for org in self.seed.organizations:
            self._add_organization(tenant, org.id, org.name, org.secret, org.users, org.failure_policy)
        for spec in self.seed.instances:
            self._seed_instance(spec)

    def reset(self) -> None:
        self.clock.reset(self.seed.clock_start)
        self.ids.restore(self.seed.id_starts)
        # Listeners forget first, so that the rebuilt instances are announced to a clean slate.
        for listener in self.reset_listeners:
            listener()
        self._build()

    def _fresh_provider(self, apps: tuple[OAuthApp, ...] | None = None) -> DropboxProvider:
        """A new copy of the fixture's Dropbox accounts, with the fixture's OAuth apps or `apps`."""
        return DropboxProvider.from_seeds(
            self.clock,
            self.ids,
            self.seed.accounts,
            apps=self.seed.apps if apps is None else apps,
            consent=self.seed.consent,
            max_upload_bytes=self.seed.limits.max_upload_bytes,
        )

    def _new_tenant(self, tenant_id: str, apps: tuple[OAuthApp, ...] | None = None) -> Tenant:
        tenant = Tenant(tenant_id, self._fresh_provider(apps))
        self.tenants[tenant_id] = tenant
        self._watch(tenant)
        return tenant

    def _watch(self, tenant: Tenant) -> None:
        """The provider's "account X changed" signal, as the platform receives it."""
        for account in tenant.provider.accounts.values():
            account.store.listeners.append(self._account_listener(tenant.id, account.key))

    def _account_listener(self, tenant_id: str, account_key: str) -> Callable[[Store, list[Change]], None]:
        def changed(store: Store, batch: list[Change]) -> None:
            for listener in self.change_listeners:
                listener(tenant_id, account_key, batch)

        return changed

    def _add_organization(
        self,
        tenant: Tenant,
        org_id: int,
        name: str,
        secret: str,
        users: Sequence[User],
        failure_policy: FailurePolicy,
    ) -> Organization:
        org = Organization(org_id, name, secret, tuple(users), tenant.id, failure_policy)
        self.organizations[org_id] = org
        self.orgs_by_secret[secret] = org
        tenant.organization_ids.append(org_id)
        return org

    def _seed_instance(self, spec: InstanceSeed) -> Instance:
        org = self.organizations[spec.organization_id]
        user = next(u for u in org.users if u.id == spec.user_id)
        connector = self.connector(spec.connector)
        config = complete_configuration(connector, spec.configuration)
        instance = self._create_instance(
            Caller(org, user),
            connector,
            spec.dialect,
            spec.account,
            spec.name,
            list(spec.tags),
            config,
            token=spec.token,
        )
        instance.disabled = spec.disabled
        return instance

    # -- tenants -----------------------------------------------------------------------
    def create_tenant(self) -> tuple[Tenant, Organization]:
        """A fresh organization with its own secrets, its own copy of the fixture's accounts and its
        own OAuth app.

        The app is what lets a client written from the guide alone land in its tenant: Step 1 sends
        no Authorization, so the tenant is found from its `apiKey`, as the real platform ties an
        OAuth app to its organization.
        """
        number = self.ids.next("tenant")
        # The fixture's apps stay registered too: a client may keep the fixture's key and choose the
        # tenant by its Authorization in Step 1.
        tenant = self._new_tenant(f"t{number}", (self._tenant_app(number), *self.seed.apps))
        org_id = self.ids.next("organization-id") + 10_000
        user = User(
            id=self.ids.next("user-id") + 10_000,
            secret=f"user-{self.ids.urlsafe('tenant-secret', 18)}",
            email=f"tenant{number}@example.com",
            first_name="Tenant",
            last_name=str(number),
        )
        org = self._add_organization(
            tenant,
            org_id,
            f"Tenant {number}",
            f"org-{self.ids.urlsafe('tenant-secret', 18)}",
            (user,),
            "retry",
        )
        return tenant, org

    def _tenant_app(self, number: int) -> OAuthApp:
        """A tenant's OAuth app: its own key and secret, the fixture's first redirect URIs (if any)."""
        redirect_uris = self.seed.apps[0].redirect_uris if self.seed.apps else ()
        return OAuthApp(
            key=f"app-t{number}-{self.ids.urlsafe('tenant-app', 12)}",
            secret=f"secret-{self.ids.urlsafe('tenant-app', 18)}",
            redirect_uris=redirect_uris,
        )

    def tenant_of_app(self, api_key: str) -> str | None:
        """The tenant whose own OAuth app is `api_key`; None for the fixture's apps (every tenant
        registers them: they choose no tenant) and for an unknown key."""
        if not api_key or any(app.key == api_key for app in self.seed.apps):
            return None
        for tenant in self.tenants.values():
            if tenant.id != DEFAULT_TENANT and tenant.provider.oauth.app(api_key) is not None:
                return tenant.id
        return None

    def tenant(self, tenant_id: str) -> Tenant:
        found = self.tenants.get(tenant_id)
        if found is None:
            raise NotFound(f"no tenant {tenant_id!r}")
        return found

    def reset_tenant(self, tenant_id: str) -> Tenant:
        """Back to the fixture's accounts; the tenant's instances are deleted, its secrets kept."""
        tenant = self.tenant(tenant_id)
        for instance in [i for i in self.instances.values() if i.tenant == tenant_id]:
            self._forget_instance(instance)
        if tenant_id == DEFAULT_TENANT:
            self.reset()
            return self.tenants[DEFAULT_TENANT]
        fresh = self._fresh_provider(tenant.provider.oauth.apps)  # the tenant keeps its own app
        tenant.provider = fresh
        self._watch(tenant)
        return tenant

    def delete_tenant(self, tenant_id: str) -> None:
        """A tenant gone for good: its instances deleted, its secrets refused, its accounts dropped.

        What a finished test's tenant becomes, so that tenants do not pile up over a long suite.
        The default tenant is the fixture's own: it can be reset, not deleted.
        """
        if tenant_id == DEFAULT_TENANT:
            raise InvalidInput("the default tenant cannot be deleted; reset it instead")
        tenant = self.tenant(tenant_id)
        for instance in [i for i in self.instances.values() if i.tenant == tenant_id]:
            self._forget_instance(instance)
        for org_id in tenant.organization_ids:
            org = self.organizations.pop(org_id, None)
            if org is not None:
                self.orgs_by_secret.pop(org.secret, None)
        for account in tenant.provider.accounts.values():
            account.store.listeners.clear()  # a store still held somewhere tells no one any more
        del self.tenants[tenant_id]

    # -- authentication ----------------------------------------------------------------
    def authenticate(self, user_secret: str | None, org_secret: str | None) -> Caller:
        if not user_secret or not org_secret:
            raise Unauthenticated("Authorization must name a User and an Organization secret")
        org = self.orgs_by_secret.get(org_secret)
        user = org.user_by_secret(user_secret) if org else None
        if org is None or user is None:
            raise Unauthenticated("Invalid Organization or User secret, or invalid Element token provided.")
        return Caller(org, user)

    def authenticate_instance(
        self, user_secret: str | None, org_secret: str | None, token: str | None
    ) -> tuple[Caller, Instance]:
        """Hub calls: the instance token plus its owner's user secret; Organization is optional."""
        if not user_secret or not token:
            raise Unauthenticated("Authorization must name a User secret and an Element token")
        instance = self.instances_by_token.get(token)
        if instance is None:
            raise Unauthenticated("Invalid Organization or User secret, or invalid Element token provided.")
        org = self.organizations[instance.organization_id]
        user = org.user_by_secret(user_secret)
        if user is None or (org_secret is not None and org_secret != org.secret):
            raise Unauthenticated("Invalid Organization or User secret, or invalid Element token provided.")
        if instance.disabled:
            raise Forbidden(f"Instance {instance.id} is disabled")
        return Caller(org, user), instance

    def provider_of(self, caller_or_instance: Caller | Instance) -> DropboxProvider:
        if isinstance(caller_or_instance, Caller):
            return self.tenants[caller_or_instance.organization.tenant].provider
        return self.tenants[caller_or_instance.tenant].provider

    # -- catalog and OAuth -------------------------------------------------------------
    def connector(self, key: str) -> Connector:
        found = self.connectors.get(key)
        if found is None:
            # The catalog also answers by numeric id, as the platform does.
            found = next((c for c in self.connectors.values() if str(c.id) == key), None)
        if found is None:
            raise NotFound(f"No element found with key {key}")
        return found

    def oauth_url(self, key: str, params: Mapping[str, str], authorize_base: str, tenant_id: str) -> str:
        """The provider authorize URL for Step 1 of the guide; `authorize_base` is the fake Dropbox's."""
        connector = self.connector(key)
        missing = [p for p in ("apiKey", "apiSecret", "callbackUrl") if not params.get(p)]
        if missing:
            raise InvalidInput("missing required query parameters: " + ", ".join(missing))
        if not is_http_url(params["callbackUrl"]):
            raise InvalidInput("callbackUrl must be an absolute http or https URL")
        query = {
            "response_type": "code",
            "client_id": params["apiKey"],
            "redirect_uri": params["callbackUrl"],
            "state": params.get("state") or connector.key,
        }
        if tenant_id != DEFAULT_TENANT:
            query["tenant"] = tenant_id
        return f"{authorize_base}?{urlencode(query)}"

    # -- instances ---------------------------------------------------------------------
    def provision(self, caller: Caller, body: object, dialect: str) -> Instance:
        request = read_provision_body(body)
        missing = [
            name
            for name, value in (
                ("name", request.name),
                ("element.key", request.connector_key),
                ("providerData.code", request.code),
            )
            if not value
        ]
        connector = self.connector(request.connector_key) if request.connector_key else None
        try:
            config = complete_configuration(connector, request.configuration) if connector else {}
        except InvalidInput as problem:
            if missing:
                raise InvalidInput(
                    f"missing required entries: {', '.join(missing)}; {problem.message}"
                ) from None
            raise
        if missing or connector is None or request.code is None or request.name is None:
            raise InvalidInput("missing required entries: " + ", ".join(missing))
        provider = self.provider_of(caller)
        if request.code not in provider.oauth.codes:
            self._refuse_code_of_another_tenant(request.code, caller.organization.tenant)
        account = provider.oauth.redeem(
            request.code,
            client_id=config["oauth.api.key"],
            client_secret=config["oauth.api.secret"],
            redirect_uri=config["oauth.callback.url"],
        )
        return self._create_instance(
            caller, connector, dialect, account, request.name, request.tags or [], config
        )

    def _refuse_code_of_another_tenant(self, code: str, tenant_id: str) -> None:
        """A code that exists, but in another tenant: say so, rather than Dropbox's "doesn't exist"."""
        issued_in = next((t for t in self.tenants.values() if code in t.provider.oauth.codes), None)
        if issued_in is None:
            return  # unknown everywhere: the provider's own refusal says it
        raise InvalidInput(
            f"the OAuth code was issued in tenant {issued_in.id!r}, but these secrets are tenant "
            f"{tenant_id!r}'s: Step 1 (oauth/url) chooses the tenant from its apiKey (or its "
            "Authorization), so send Step 1 this tenant's apiKey and apiSecret",
            provider_message="invalid_grant: code doesn't exist or has expired",
        )

    def _create_instance(
        self,
        caller: Caller,
        connector: Connector,
        dialect: str,
        account: str,
        name: str,
        tags: list[str],
        config: dict[str, str],
        token: str | None = None,
    ) -> Instance:
        provider = self.provider_of(caller)
        linked = provider.account(account)
        config["oauth.user.token"] = self.ids.urlsafe("dropbox-access-token", 40)
        instance = Instance(
            id=self.ids.next("instance"),
            name=name,
            token=token or self.ids.token("instance-token", 23),
            tenant=caller.organization.tenant,
            organization_id=caller.organization.id,
            user=caller.user,
            connector=connector,
            dialect=dialect,
            account=account,
            created_at=self.clock.now(),
            configuration=config,
            config_ids={},
            tags=tags,
            cursor=linked.store.cursor(),
        )
        self._number_config(instance)
        self.instances[instance.id] = instance
        self.instances_by_token[instance.token] = instance
        self._changed(instance)
        return instance

    def _number_config(self, instance: Instance) -> None:
        for key in sorted(instance.configuration):
            if key not in instance.config_ids:
                instance.config_ids[key] = self.ids.next("configuration")

    def _changed(self, instance: Instance) -> None:
        for listener in self.instance_listeners:
            listener(instance)

    def visible_instances(self, caller: Caller, tags: Sequence[str] = ()) -> list[Instance]:
        found = [i for i in self.instances.values() if i.organization_id == caller.organization.id]
        if tags:
            wanted = set(tags)
            found = [i for i in found if wanted & set(i.tags)]
        return sorted(found, key=lambda i: i.id)

    def instance_for(self, caller: Caller, instance_id: int | str) -> Instance:
        try:
            number = int(instance_id)
        except ValueError:
            raise NotFound(f"No instance found with id {instance_id}") from None
        found = self.instances.get(number)
        if found is None or found.organization_id != caller.organization.id:
            raise NotFound(f"No instance found with id {instance_id}")
        return found

    def update_instance(self, caller: Caller, instance_id: int | str, body: object) -> Instance:
        """PUT and PATCH: name, tags (replaced), configuration (merged), providerData.code re-links."""
        instance = self.instance_for(caller, instance_id)
        request = read_provision_body(body)
        if request.connector_key and self.connector(request.connector_key).key != instance.connector.key:
            raise InvalidInput("an instance cannot change its element")
        merged = {**instance.configuration, **request.configuration}
        config = complete_configuration(instance.connector, merged)
        account = instance.account
        if request.code:
            account = self.provider_of(caller).oauth.redeem(
                request.code,
                client_id=config["oauth.api.key"],
                client_secret=config["oauth.api.secret"],
                redirect_uri=config["oauth.callback.url"],
            )
        # Every check passed: now change.
        if account != instance.account:
            instance.account = account
            instance.cursor = self.provider_of(instance).account(account).store.cursor()
        if request.name:
            instance.name = request.name
        if request.tags is not None:
            instance.tags = request.tags
        instance.configuration = config
        self._number_config(instance)
        self._changed(instance)
        return instance

    def update_config_entry(
        self, caller: Caller, instance_id: int | str, config_id: int | str, body: object
    ) -> Instance:
        instance = self.instance_for(caller, instance_id)
        key = next((k for k, i in instance.config_ids.items() if str(i) == str(config_id)), None)
        if key is None:
            raise NotFound(f"No configuration found with id {config_id}")
        if not isinstance(body, Mapping) or "propertyValue" not in body:
            raise InvalidInput("the body must be an object with a propertyValue")
        value = config_text(body["propertyValue"])
        if value is None:
            raise InvalidInput("propertyValue must be a string, number or boolean")
        config = complete_configuration(instance.connector, {**instance.configuration, key: value})
        instance.configuration = config
        self._number_config(instance)
        self._changed(instance)
        return instance

    def set_enabled(self, caller: Caller, instance_id: int | str, enabled: bool) -> Instance:
        instance = self.instance_for(caller, instance_id)
        instance.disabled = not enabled
        self._changed(instance)
        return instance

    def delete_instance(self, caller: Caller, instance_id: int | str) -> Instance:
        instance = self.instance_for(caller, instance_id)
        self._forget_instance(instance)
        return instance

    def _forget_instance(self, instance: Instance) -> None:
        self.instances.pop(instance.id, None)
        self.instances_by_token.pop(instance.token, None)
        instance.disabled = True
        self._changed(instance)
