"""The fake Dropbox's OAuth 2 side: app registrations, the consent decision and single-use codes."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

from emulator.domain.clock import Clock
from emulator.domain.errors import InvalidInput
from emulator.domain.ids import Ids

CODE_TTL_SECONDS = 600.0


class OAuthApp(NamedTuple):
    key: str
    secret: str
    redirect_uris: tuple[str, ...] = ()


@dataclass(slots=True)
class AuthorizationCode:
    code: str
    client_id: str
    redirect_uri: str
    account: str
    issued_at: float
    expires_at: float
    used: bool = False

    def to_json(self, now: float) -> dict[str, object]:
        return {
            "code": self.code,
            "clientId": self.client_id,
            "redirectUri": self.redirect_uri,
            "account": self.account,
            "issuedAt": self.issued_at,
            "expiresAt": self.expires_at,
            "used": self.used,
            "expired": now >= self.expires_at,
        }


@dataclass(slots=True)
class OAuthServer:
    """Issues codes bound to (client_id, redirect_uri, account) and redeems each at most once.

    With no registered apps any client id and redirect URI are accepted, so the guide's
    example values work out of the box; once apps are registered they are enforced.
    """

    clock: Clock
    ids: Ids
    apps: tuple[OAuthApp, ...] = ()
    codes: dict[str, AuthorizationCode] = field(default_factory=dict)

    def app(self, client_id: str) -> OAuthApp | None:
        return next((a for a in self.apps if a.key == client_id), None)

    def check_client(self, client_id: str, redirect_uri: str) -> None:
        """The checks Dropbox makes before it shows the consent page."""
        if not client_id:
            raise InvalidInput(
                "client_id is required", provider_message="invalid_request: client_id is missing"
            )
        if not redirect_uri:
            raise InvalidInput(
                "redirect_uri is required", provider_message="invalid_request: redirect_uri is missing"
            )
        if not self.apps:
            return
        app = self.app(client_id)
        if app is None:
            raise InvalidInput("unknown client_id", provider_message="invalid_client: Invalid client_id")
        if app.redirect_uris and redirect_uri not in app.redirect_uris:
            raise InvalidInput(
                "redirect_uri is not registered for this app",
                provider_message="invalid_request: redirect_uri does not match a registered redirect URI",
            )

    def issue(self, *, account: str, client_id: str, redirect_uri: str) -> AuthorizationCode:
        self.check_client(client_id, redirect_uri)
        now = self.clock.now()
        code = AuthorizationCode(
            code=self.ids.urlsafe("oauth-code", 32),
            client_id=client_id,
            redirect_uri=redirect_uri,
            account=account,
            issued_at=now,
            expires_at=now + CODE_TTL_SECONDS,
        )
        self.codes[code.code] = code
        return code

    def check_redeemable(self, code: str, *, client_id: str, client_secret: str, redirect_uri: str) -> str:
        """Validate a code exchange without spending the code; answers the account key."""
        found = self.codes.get(code)
        if found is None or self.clock.now() >= found.expires_at:
            raise InvalidInput(
                "the OAuth code is invalid or has expired",
                provider_message="invalid_grant: code doesn't exist or has expired",
            )
        if found.used:
            raise InvalidInput(
                "the OAuth code was already used",
                provider_message="invalid_grant: code has already been used",
            )
        app = self.app(client_id)
        if self.apps and (app is None or app.secret != client_secret):
            raise InvalidInput(
                "the provider refused the app key or secret",
                provider_message="invalid_client: Invalid client_id or client_secret",
            )
        if found.client_id != client_id:
            raise InvalidInput(
                "the OAuth code was issued to another app key",
                provider_message="invalid_grant: code was issued to a different client_id",
            )
        if found.redirect_uri != redirect_uri:
            raise InvalidInput(
                "the callback URL differs from the one the code was issued for",
                provider_message="invalid_grant: redirect_uri mismatch",
            )
        return found.account

    def redeem(self, code: str, *, client_id: str, client_secret: str, redirect_uri: str) -> str:
        account = self.check_redeemable(
            code, client_id=client_id, client_secret=client_secret, redirect_uri=redirect_uri
        )
        self.codes[code].used = True
        return account
