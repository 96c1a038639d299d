"""Turns a loaded fixture into the domain's StateSeed and a Runtime; finds the default fixture."""

from __future__ import annotations

from pathlib import Path

from emulator.domain.clock import ClockMode
from emulator.domain.platform.tenants import User
from emulator.domain.provider.accounts import AccountSeed
from emulator.domain.provider.oauth import OAuthApp
from emulator.domain.state import InstanceSeed, OrganizationSeed, StateSeed
from emulator.loading import Fixture, load_fixture
from emulator.runtime import Runtime, RuntimeOptions

DEFAULT_FIXTURE = "default.yaml"


def default_fixture_path() -> Path:
    """`fixtures/default.yaml` of the working directory if there is one, else the copy the package ships."""
    local = Path("fixtures") / DEFAULT_FIXTURE
    if local.is_file():
        return local
    from importlib import resources  # only here: importing it costs `serve` a few ms of start-up

    return Path(str(resources.files("emulator.fixtures").joinpath(DEFAULT_FIXTURE)))


def state_seed(fixture: Fixture) -> StateSeed:
    return StateSeed(
        seed=fixture.seed,
        clock_start=fixture.clock_start,
        id_starts=dict(fixture.id_starts),
        limits=fixture.limits,
        organizations=tuple(
            OrganizationSeed(
                id=org.id,
                name=org.name,
                secret=org.secret,
                users=tuple(User(u.id, u.secret, u.email, u.first_name, u.last_name) for u in org.users),
                failure_policy=org.failure_policy,
            )
            for org in fixture.organizations
        ),
        connectors=fixture.catalog,
        accounts=tuple(
            AccountSeed(a.key, a.account_id, a.email, a.display_name, a.nodes, a.tokens)
            for a in fixture.accounts
        ),
        apps=tuple(OAuthApp(a.key, a.secret, a.redirect_uris) for a in fixture.apps),
        consent=fixture.consent,
        instances=tuple(
            InstanceSeed(
                organization_id=i.organization,
                user_id=i.user,
                account=i.account,
                name=i.name,
                dialect=i.dialect,
                connector=i.connector,
                token=i.token,
                tags=i.tags,
                configuration=i.configuration,
                disabled=i.disabled,
            )
            for i in fixture.instances
        ),
    )


def load_runtime(
    path: str | Path, *, clock_mode: ClockMode = "manual", options: RuntimeOptions | None = None
) -> Runtime:
    fixture = load_fixture(path)
    return Runtime(state_seed(fixture), clock_mode=clock_mode, source=str(path), options=options)
