"""create_dropbox_app(runtime): the HTTPS app that answers as Dropbox's API, content and notify hosts do."""

from __future__ import annotations

import logging

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from emulator.runtime import Runtime
from emulator.web.context import RuntimeApp
from emulator.web.dropbox_api import oauth, routes
from emulator.web.dropbox_api.longpoll import Longpolls

log = logging.getLogger("emulator.dropbox_api")


async def http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    return PlainTextResponse(str(exc.detail), status_code=exc.status_code, headers=exc.headers)


async def unexpected_error(request: Request, exc: Exception) -> Response:
    # A 500 is a bug: log it whole here, send no trace on the wire.
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return PlainTextResponse("Internal error in the emulator; see its log", status_code=500)


def create_dropbox_app(runtime: Runtime) -> Starlette:
    """Only Dropbox's routes; one port serves every Dropbox host, since their paths never overlap.

    No lifespan: the main app starts and stops the runtime both servers share. A server stopping
    calls `longpolls_of(app).stop()` so that no longpoll holds it up.
    """
    app = RuntimeApp(
        runtime,
        routes=[*routes.routes(), *oauth.routes()],
        exception_handlers={HTTPException: http_error, Exception: unexpected_error},
    )
    app.state.longpolls = Longpolls()
    return app


def longpolls_of(app: Starlette) -> Longpolls:
    longpolls: Longpolls = app.state.longpolls
    return longpolls
