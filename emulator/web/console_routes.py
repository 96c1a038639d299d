"""The web console at /_emulator/ui/: plain HTML, CSS and JavaScript modules shipped in the package.

No build step and nothing fetched from elsewhere (the Content-Security-Policy says so to the browser).
The page talks to the emulated API and the control plane's JSON like any other client.
"""

from __future__ import annotations

from importlib import resources

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from emulator.domain.errors import NotFound
from emulator.web.routing import LazyRoute

PREFIX = "/_emulator/ui"
MEDIA_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".svg": "image/svg+xml",
}
HEADERS = {
    "Cache-Control": "no-cache",
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; object-src 'none'; "
    "base-uri 'none'; frame-ancestors 'none'",
}
# Paths the page handles itself: each serves the page, which reads its own location.
PAGES = ("", "oauth-return")


def _file(name: str) -> tuple[bytes, str]:
    """A file of the console folder, read on each request (an edit shows on reload); only a name the
    folder lists, with a known type, is ever opened."""
    folder = resources.files("emulator.web").joinpath("static", "console")
    media_type = MEDIA_TYPES.get("." + name.rsplit(".", 1)[-1])
    found = next((item for item in folder.iterdir() if item.name == name and item.is_file()), None)
    if found is None or media_type is None:
        raise NotFound(f"the console has no file {name!r}")
    return found.read_bytes(), media_type


def _serve(name: str) -> Response:
    data, media_type = _file(name)
    return Response(data, media_type=media_type, headers=HEADERS)


async def page(request: Request) -> Response:
    """The console's page (it routes by its own location)."""
    return _serve("index.html")


async def asset(request: Request) -> Response:
    """A stylesheet, script or image of the console."""
    return _serve(request.path_params["name"])


async def favicon(request: Request) -> Response:
    """The emulator's icon, for every page of its origin (the fake Dropbox's consent page too)."""
    return _serve("icon.svg")


async def to_page(request: Request) -> Response:
    """The console lives at /_emulator/ui/ (with the slash, so that its relative links work)."""
    return RedirectResponse(PREFIX + "/", status_code=307)


def routes() -> list[Route]:
    return [
        LazyRoute(PREFIX, to_page, methods=["GET"]),
        *(LazyRoute(f"{PREFIX}/{path}", page, methods=["GET"]) for path in PAGES),
        LazyRoute(PREFIX + "/{name}", asset, methods=["GET"]),
        LazyRoute("/favicon.ico", favicon, methods=["GET"]),
    ]
