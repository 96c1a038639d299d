"""The fake Dropbox's consent step: the authorize page, its Allow/Deny form and the redirect back."""

from __future__ import annotations

from html import escape
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from emulator.domain.errors import DomainError, InvalidInput
from emulator.domain.provider.accounts import DropboxProvider
from emulator.domain.state import DEFAULT_TENANT
from emulator.web.bodies import read_body
from emulator.web.context import state_of
from emulator.web.routing import LazyRoute

AUTHORIZE_PATH = "/oauth2/authorize"
MAX_FORM_BYTES = 64 * 1024


def _provider(request: Request) -> DropboxProvider:
    tenant = request.query_params.get("tenant") or DEFAULT_TENANT
    return state_of(request).tenant(tenant).provider


def _checked(request: Request) -> tuple[DropboxProvider, str, str]:
    """The checks Dropbox makes before showing consent; answers (provider, client_id, redirect_uri)."""
    params = request.query_params
    if params.get("response_type") != "code":
        raise InvalidInput("response_type must be code", provider_message="unsupported_response_type")
    provider = _provider(request)
    client_id = params.get("client_id", "")
    redirect_uri = params.get("redirect_uri", "")
    provider.oauth.check_client(client_id, redirect_uri)
    return provider, client_id, redirect_uri


def _redirect(redirect_uri: str, params: dict[str, str]) -> Response:
    parts = urlsplit(redirect_uri)
    query = f"{parts.query}&{urlencode(params)}" if parts.query else urlencode(params)
    return RedirectResponse(urlunsplit(parts._replace(query=query)), status_code=302)


def _error_page(error: DomainError) -> Response:
    detail = escape(error.provider_message or error.message)
    body = f"<!doctype html><title>Dropbox - Error</title><h1>Something went wrong</h1><p>{detail}</p>"
    return HTMLResponse(body, status_code=400)


async def authorize_page(request: Request) -> Response:
    try:
        provider, client_id, redirect_uri = _checked(request)
        if provider.consent == "auto":
            account = provider.first_account()
            code = provider.oauth.issue(account=account.key, client_id=client_id, redirect_uri=redirect_uri)
            return _redirect(
                redirect_uri, {"code": code.code, "state": request.query_params.get("state", "")}
            )
    except DomainError as error:
        return _error_page(error)
    return HTMLResponse(_consent_html(request, provider, client_id))


async def authorize_decision(request: Request) -> Response:
    try:
        provider, client_id, redirect_uri = _checked(request)
        form = await _form(request)
        state = request.query_params.get("state", "")
        decision = form.get("decision", "")
        if decision == "deny":
            return _redirect(
                redirect_uri,
                {
                    "error": "access_denied",
                    "error_description": "The user chose not to give your app access",
                    "state": state,
                },
            )
        if decision != "allow":
            raise InvalidInput("decision must be allow or deny")
        account = provider.account(form.get("account") or provider.first_account().key)
        code = provider.oauth.issue(account=account.key, client_id=client_id, redirect_uri=redirect_uri)
    except DomainError as error:
        return _error_page(error)
    return _redirect(redirect_uri, {"code": code.code, "state": state})


async def _form(request: Request) -> dict[str, str]:
    raw = await read_body(request, MAX_FORM_BYTES)
    try:
        return dict(parse_qsl(raw.decode("utf-8"), keep_blank_values=True))
    except UnicodeDecodeError:
        raise InvalidInput("the form is not UTF-8") from None


def _consent_html(request: Request, provider: DropboxProvider, client_id: str) -> str:
    action = escape(f"{AUTHORIZE_PATH}?{request.url.query}", quote=True)
    choices = "".join(
        f'<label><input type="radio" name="account" value="{escape(a.key, quote=True)}"'
        f"{' checked' if i == 0 else ''}> {escape(a.display_name)} &lt;{escape(a.email)}&gt;</label>"
        for i, a in enumerate(provider.accounts.values())
    )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Dropbox - API Request Authorization</title>
<style>body{{font-family:system-ui,sans-serif;max-width:32rem;margin:3rem auto;padding:0 1rem}}
label{{display:block;margin:.4rem 0}}
button{{font-size:1rem;padding:.5rem 1.2rem;margin-right:.5rem}}</style></head>
<body><h1>Dropbox (emulated)</h1>
<p>The app <strong>{escape(client_id)}</strong> would like access to
the files and folders in your Dropbox.</p>
<form method="post" action="{action}">
<fieldset><legend>Sign in as</legend>{choices}</fieldset>
<p><button type="submit" name="decision" value="allow" id="allow">Allow</button>
<button type="submit" name="decision" value="deny" id="deny">Deny</button></p>
</form></body></html>"""


def routes() -> list[Route]:
    return [
        LazyRoute(AUTHORIZE_PATH, authorize_page, methods=["GET"]),
        LazyRoute(AUTHORIZE_PATH, authorize_decision, methods=["POST"]),
    ]
