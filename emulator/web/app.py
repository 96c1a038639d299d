"""create_app(runtime): the route table of the emulated API, the fake Dropbox and the control plane."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.convertors import Convertor, register_url_convertor
from starlette.middleware import Middleware
from starlette.routing import BaseRoute

from emulator.dialects import DIALECTS
from emulator.runtime import Runtime
from emulator.web import (
    console_data_routes,
    console_routes,
    control_routes,
    delivery_control_routes,
    dropbox_control_routes,
    provider_routes,
    scenario_routes,
    sink_routes,
    state_routes,
    stream_routes,
)
from emulator.web.context import RuntimeApp
from emulator.web.control_guard import ControlGuard, TargetLimit
from emulator.web.dropbox_api import control as dropbox_api_control
from emulator.web.dropbox_api import oauth as dropbox_oauth
from emulator.web.errors import HANDLERS
from emulator.web.platform_routes import events, hub, instances
from emulator.web.routing import IndexedRouter


class DialectConvertor(Convertor[str]):
    regex = "|".join(DIALECTS)

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


register_url_convertor("dialect", DialectConvertor())

PLATFORM_BASE = "/{dialect:dialect}/api-v2"


def route_table() -> list[BaseRoute]:
    table: list[BaseRoute] = []
    table += control_routes.routes()
    table += delivery_control_routes.routes()
    table += state_routes.routes()
    table += dropbox_api_control.routes()  # before the /accounts/{account}/... routes it resembles
    table += dropbox_control_routes.routes()
    table += sink_routes.routes()
    table += scenario_routes.routes()
    table += console_data_routes.routes()
    table += stream_routes.routes()
    table += console_routes.routes()
    table += provider_routes.routes()
    table += dropbox_oauth.routes()
    table += hub.routes(PLATFORM_BASE)
    table += events.routes(PLATFORM_BASE)
    table += instances.routes(PLATFORM_BASE)
    return table


def create_app(runtime: Runtime) -> Starlette:
    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await runtime.start()
        try:
            yield
        finally:
            await runtime.stop()

    guards = [Middleware(TargetLimit)]
    if runtime.options.control_token:
        guards.append(Middleware(ControlGuard, token=runtime.options.control_token))
    app = RuntimeApp(runtime, exception_handlers=HANDLERS, middleware=guards)
    # Starlette's own Router, only quicker to find a route (see emulator.web.routing).
    app.router = IndexedRouter(routes=route_table(), lifespan=lifespan)
    return app
