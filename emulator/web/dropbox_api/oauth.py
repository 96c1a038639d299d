"""Dropbox's `/oauth2/token`: the code from the consent step exchanged for an API access token."""

from __future__ import annotations

import base64
import binascii
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from emulator.domain.errors import DomainError, InvalidInput
from emulator.web.bodies import read_body
from emulator.web.context import runtime_of
from emulator.web.routing import LazyRoute

TOKEN_PATH = "/oauth2/token"
MAX_FORM_BYTES = 64 * 1024


async def token(request: Request) -> Response:
    try:
        params = await _params(request)
        grant_type = params.get("grant_type", "")
        if grant_type != "authorization_code":
            return _error("unsupported_grant_type", f"grant_type {grant_type!r} is not supported")
        if not params.get("code"):
            return _error("invalid_request", "No auth code provided")
        client_id, client_secret = _client(request, params)
        grant = runtime_of(request).dropbox_tokens.exchange(
            params["code"],
            client_id=client_id,
            client_secret=client_secret,
            redirect_uri=params.get("redirect_uri", ""),
        )
    except DomainError as refusal:
        error, _, description = (refusal.provider_message or "invalid_request").partition(": ")
        return _error(error, description or refusal.message)
    account = grant.owner.account
    return JSONResponse(
        {
            "access_token": grant.access_token,
            "token_type": "bearer",
            "uid": grant.uid,
            "account_id": account.account_id,
            "scope": grant.scope,
        }
    )


async def _params(request: Request) -> dict[str, str]:
    """Form fields, over the same names in the query string (Dropbox takes either)."""
    raw = await read_body(request, MAX_FORM_BYTES)
    try:
        form = dict(parse_qsl(raw.decode("utf-8"), keep_blank_values=True))
    except UnicodeDecodeError:
        raise InvalidInput("the form is not UTF-8") from None
    return {**dict(request.query_params), **form}


def _client(request: Request, params: dict[str, str]) -> tuple[str, str]:
    """client_id and client_secret from HTTP Basic, else from the form."""
    scheme, _, encoded = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "basic" and encoded:
        try:
            client_id, _, client_secret = base64.b64decode(encoded, validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            raise InvalidInput("malformed Basic credentials", provider_message="invalid_client: ") from None
        return client_id, client_secret
    return params.get("client_id", ""), params.get("client_secret", "")


def _error(error: str, description: str) -> Response:
    return JSONResponse({"error": error, "error_description": description}, status_code=400)


def routes() -> list[Route]:
    return [LazyRoute(TOKEN_PATH, token, methods=["POST"])]
