"""pytest plugin (entry point `pytest11`): a running emulator and a callback receiver as fixtures.

A thin adapter over `emulator.api` and `emulator.sink`, which it imports only when a test uses
one of its fixtures: installing hub-emulator costs other test suites nothing.

Fixtures: `hub_emulator` (an `Emulator`, isolated per test), `callback_sink` (a `CallbackSink`),
`provision_dropbox` (provisions through OAuth, callbacks to the sink) and `dropbox_instance`.
Options come from `@pytest.mark.hub_emulator(...)` on the test, its class or its module.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from emulator.api import ClockName, Emulator, ProvisionedInstance
    from emulator.sink import CallbackSink, SinkServer

MARKER = (
    "hub_emulator(fixtures=None, clock='manual', isolation='tenant', in_process=False): options of the "
    "hub_emulator fixture. fixtures: a fixture file (relative to the rootdir; default: the "
    "hub_emulator_fixtures ini value, else the emulator's default fixture). clock: manual | real. "
    "isolation: tenant (a fresh tenant per test) | reset (the whole emulator reset before each test). "
    "in_process: True calls the emulator without a socket."
)
ISOLATIONS = ("tenant", "reset")
CLOCKS = ("manual", "real")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addini("hub_emulator_fixtures", "default fixture file of the hub_emulator fixture", default="")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", MARKER)


@dataclass(frozen=True)
class ServerOptions:
    """What tells one session emulator from another: tests with equal options share a server."""

    fixtures: str | None
    clock: ClockName
    in_process: bool


def _options(request: pytest.FixtureRequest) -> tuple[ServerOptions, str]:
    marker = request.node.get_closest_marker("hub_emulator")
    given: dict[str, Any] = dict(marker.kwargs) if marker else {}
    unknown = set(given) - {"fixtures", "clock", "isolation", "in_process"}
    if unknown or (marker and marker.args):
        raise pytest.UsageError(f"hub_emulator marker: unknown options {sorted(unknown)}; known: " + MARKER)
    isolation = given.get("isolation", "tenant")
    clock = given.get("clock", "manual")
    if isolation not in ISOLATIONS or clock not in CLOCKS:
        raise pytest.UsageError(f"hub_emulator marker: isolation must be one of {ISOLATIONS}, clock {CLOCKS}")
    fixtures = given.get("fixtures") or request.config.getini("hub_emulator_fixtures") or None
    if fixtures is not None:
        fixtures = str(request.config.rootpath / Path(fixtures))
    mode: ClockName = "real" if clock == "real" else "manual"
    return ServerOptions(fixtures, mode, bool(given.get("in_process", False))), isolation


class EmulatorPool:
    """The session's emulators, started on first use, one per set of options; stopped at the end."""

    def __init__(self) -> None:
        self._running: dict[ServerOptions, Emulator] = {}

    def get(self, options: ServerOptions) -> Emulator:
        found = self._running.get(options)
        if found is None:
            from emulator.api import Emulator

            found = Emulator.start(options.fixtures, options.clock, in_process=options.in_process)
            self._running[options] = found
        return found

    def close(self) -> None:
        for emulator in self._running.values():
            emulator.stop()
        self._running.clear()


@pytest.fixture(scope="session")
def hub_emulator_pool() -> Iterator[EmulatorPool]:
    pool = EmulatorPool()
    yield pool
    pool.close()


@pytest.fixture
def hub_emulator(request: pytest.FixtureRequest, hub_emulator_pool: EmulatorPool) -> Iterator[Emulator]:
    """The session's emulator for this test's options, isolated: a fresh tenant, or reset first."""
    options, isolation = _options(request)
    emulator = hub_emulator_pool.get(options)
    if isolation == "reset":
        emulator.reset()
        yield emulator
        return
    tenant = emulator.new_tenant()
    yield tenant
    _forget(tenant)


def _forget(tenant: Emulator) -> None:
    """The tenant goes, its instances with it, so that nothing of this test (a polling tick, a
    retry) reaches later tests, and a long suite does not pile up tenants."""
    from emulator.api import EmulatorError

    try:
        tenant.delete_tenant()
    except EmulatorError as error:
        if error.status != 404:  # 404: a whole reset (a scenario run, say) took the tenant already
            raise


@pytest.fixture(scope="session")
def callback_sink_server() -> Iterator[SinkServer]:
    from emulator.sink import SinkServer

    server = SinkServer.start()
    yield server
    server.stop()


@pytest.fixture
def callback_sink(callback_sink_server: SinkServer) -> Iterator[CallbackSink]:
    """A real HTTP receiver at a URL of this test's own: `sink.url`, `sink.wait_for(...)`."""
    with callback_sink_server.sink() as sink:
        yield sink


@pytest.fixture
def provision_dropbox(
    hub_emulator: Emulator, callback_sink: CallbackSink
) -> Callable[..., ProvisionedInstance]:
    """`provision_dropbox(account="alice", vendor="webhook", **options)`: an instance made through
    OAuth whose callbacks go to `callback_sink` (unless given `callback_url`)."""

    def provision(account: str = "alice", **options: Any) -> ProvisionedInstance:
        options.setdefault("callback_url", callback_sink.url)
        return hub_emulator.provision_dropbox(account, **options)

    return provision


@pytest.fixture
def dropbox_instance(provision_dropbox: Callable[..., ProvisionedInstance]) -> ProvisionedInstance:
    """A webhook instance on the account alice, its callbacks going to `callback_sink`."""
    return provision_dropbox("alice")
