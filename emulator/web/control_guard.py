"""Guards in front of the routes: the control token (`serve --control-token`), the request target's size.

With a control token, the control plane and the console require it. The emulated API has secrets
of its own; the control plane can reset, read and replace everything, so once the emulator listens
beyond loopback it must not answer strangers. A request to `/_emulator/...` passes with
`Authorization: Bearer <token>`, `X-Emulator-Token: <token>`, or, for pages a browser opens (the
console, its event stream), `?token=<token>` on a GET, which also sets a same-site cookie so that
the page's own requests pass too. `/_emulator/health` stays open: readiness checks need no secret.
"""

from __future__ import annotations

import hmac
import ipaddress
import re
from http.cookies import SimpleCookie
from urllib.parse import parse_qs

from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from emulator.web.errors import error_response

CONTROL_PREFIX = "/_emulator"
OPEN_PATHS = frozenset({"/_emulator/health"})
HEADER = "x-emulator-token"
COOKIE = "hub_emulator_token"
TOKEN_ENV = "HUB_EMULATOR_CONTROL_TOKEN"
# Letters, digits and - . _ ~ + / =: what `openssl rand -hex` or `-base64` print, and safe in a cookie.
TOKEN_PATTERN = re.compile(r"[A-Za-z0-9._~+/=-]+")


def control_token_problem(host: str, token: str | None) -> str | None:
    """Why `serve` must not start with this host and token, or None: off loopback, a token is required."""
    if token is not None:
        try:
            check_token(token)
        except ValueError as problem:
            return str(problem)
        return None
    if not is_loopback(host):
        return (
            f"--host {host} is reachable from other machines: give a --control-token "
            f"(or {TOKEN_ENV}) so that the control plane and the console answer only its holders"
        )
    return None


def is_loopback(host: str) -> bool:
    if host.strip("[]").lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name other than localhost may resolve anywhere


def check_token(token: str) -> str:
    """The token itself, or ValueError saying what a control token may hold."""
    if not TOKEN_PATTERN.fullmatch(token):
        raise ValueError("a control token is one or more letters, digits or - . _ ~ + / = (no spaces)")
    return token


class ControlGuard:
    """Pure ASGI middleware: 401 in the control plane's shape for a guarded path without the token."""

    def __init__(self, app: ASGIApp, token: str) -> None:
        self.app = app
        self.token = check_token(token).encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket") or not guarded(
            scope["path"], scope.get("method", "GET")
        ):
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        if (
            self._matches(_bearer(headers))
            or self._matches(headers.get(HEADER))
            or self._matches(_cookie(headers))
        ):
            await self.app(scope, receive, send)
            return
        if scope.get("method") == "GET" and self._matches(_query_token(scope)):
            await self.app(scope, receive, self._setting_cookie(send))
            return
        await _refuse(scope, receive, send)

    def _matches(self, given: str | None) -> bool:
        return given is not None and hmac.compare_digest(given.encode(), self.token)

    def _setting_cookie(self, send: Send) -> Send:
        """The page's own fetches and event stream then carry the token without knowing it."""
        cookie = f"{COOKIE}={self.token.decode()}; Path={CONTROL_PREFIX}; HttpOnly; SameSite=Strict"

        async def send_with_cookie(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {
                    **message,
                    "headers": [*message.get("headers", []), (b"set-cookie", cookie.encode())],
                }
            await send(message)

        return send_with_cookie


# A built-in sink receives callbacks from the delivery engine, which sends no control token: its
# POST stays open (it records a request, and changes nothing of the platform's state).
SINK_DELIVERY = re.compile(r"/_emulator/sinks/[^/]+")


def guarded(path: str, method: str = "GET") -> bool:
    if method == "POST" and SINK_DELIVERY.fullmatch(path):
        return False
    return (path == CONTROL_PREFIX or path.startswith(CONTROL_PREFIX + "/")) and path not in OPEN_PATHS


def _bearer(headers: Headers) -> str | None:
    scheme, _, credentials = headers.get("authorization", "").partition(" ")
    return credentials.strip() if scheme.lower() == "bearer" and credentials.strip() else None


def _cookie(headers: Headers) -> str | None:
    raw = headers.get("cookie")
    if not raw:
        return None
    jar: SimpleCookie = SimpleCookie()
    try:
        jar.load(raw)
    except Exception:  # a malformed Cookie header is no credential, not an error
        return None
    morsel = jar.get(COOKIE)
    return morsel.value if morsel is not None else None


def _query_token(scope: Scope) -> str | None:
    raw = scope.get("query_string", b"").decode("latin-1")
    values = parse_qs(raw).get("token")
    return values[0] if values else None


async def _refuse(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] == "websocket":
        await send({"type": "websocket.close", "code": 1008})
        return
    body = {
        "error": "unauthorized",
        "message": "the control plane needs the control token: Authorization: Bearer <token> "
        "or X-Emulator-Token: <token>",
    }
    response = JSONResponse(
        body, status_code=401, headers={"WWW-Authenticate": 'Bearer realm="hub-emulator"'}
    )
    await response(scope, receive, send)


# Path and query string together: generous for Dropbox paths (255 characters a name), far below trouble.
MAX_TARGET_BYTES = 32 * 1024


class TargetLimit:
    """ASGI middleware: a request whose path and query string pass `max_bytes` gets 414, unread.

    Installed inside Starlette: the error body's request id comes from the app's runtime."""

    def __init__(self, app: ASGIApp, max_bytes: int = MAX_TARGET_BYTES) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            path = scope.get("raw_path") or scope["path"].encode("utf-8", "surrogateescape")
            if len(path) + len(scope.get("query_string", b"")) > self.max_bytes:
                message = f"the request's path and query string are over {self.max_bytes} bytes"
                await error_response(Request(scope), 414, message)(scope, receive, send)
                return
        await self.app(scope, receive, send)
