"""Dropbox API access tokens across tenants: who a bearer token is, issuing new ones, and account generations.

Tokens live on their account (`DropboxAccount.tokens`): the fixture's, and those issued here. A reset
rebuilds the accounts from the fixture, so issued tokens go with it, as instances do. This registry
only indexes them, and numbers each incarnation of an account's store so that a cursor handed out
before a reset can be told apart from one handed out after it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from typing import NamedTuple

from emulator.domain.errors import InvalidInput, NotFound
from emulator.domain.provider.accounts import DropboxAccount, DropboxProvider
from emulator.domain.provider.store import Store

TOKEN_PREFIX = "sl."  # what Dropbox's short-lived access tokens start with
SCOPES = "account_info.read files.content.read files.content.write files.metadata.read files.metadata.write"


class TokenOwner(NamedTuple):
    """The account a token opens, and the tenant that account belongs to."""

    tenant: str
    account: DropboxAccount


class Grant(NamedTuple):
    """What Dropbox's `/oauth2/token` answers for an authorization code."""

    owner: TokenOwner
    access_token: str
    uid: str
    scope: str = SCOPES


class DropboxTokens:
    """Finds the (tenant, account) of an access token and issues tokens; `providers`: tenant -> provider."""

    def __init__(self, providers: Callable[[], Mapping[str, DropboxProvider]]) -> None:
        self._providers = providers
        self._index: dict[str, tuple[str, str]] = {}
        self._incarnations: dict[tuple[str, str], tuple[Store, int]] = {}

    def resolve(self, token: str) -> TokenOwner | None:
        """The owner of `token`, or None if no account holds it (any more)."""
        owner = self._indexed(token)
        if owner is None:
            # A miss may be a token the fixture seeded or a reset brought back: look again.
            self._reindex()
            owner = self._indexed(token)
        return owner

    def owner(self, tenant: str, account_key: str) -> TokenOwner | None:
        provider = self._providers().get(tenant)
        account = provider.accounts.get(account_key) if provider else None
        return TokenOwner(tenant, account) if account else None

    def issue(self, tenant: str, account_key: str) -> str:
        """A new access token for the account; NotFound if the tenant or account does not exist."""
        provider = self._providers().get(tenant)
        if provider is None:
            raise NotFound(f"no tenant {tenant!r}")
        account = provider.account(account_key)
        token = TOKEN_PREFIX + provider.ids.urlsafe("dropbox-api-token", 48)
        account.tokens.append(token)
        self._index[token] = (tenant, account.key)
        return token

    def exchange(self, code: str, *, client_id: str, client_secret: str, redirect_uri: str) -> Grant:
        """Dropbox's authorization-code grant: spends the code and answers a new token for its account."""
        for tenant, provider in self._providers().items():
            if code in provider.oauth.codes:
                account_key = provider.oauth.redeem(
                    code, client_id=client_id, client_secret=client_secret, redirect_uri=redirect_uri
                )
                owner = TokenOwner(tenant, provider.account(account_key))
                return Grant(owner, self.issue(tenant, account_key), uid_of(owner.account))
        raise InvalidInput(
            "the OAuth code is invalid or has expired",
            provider_message="invalid_grant: code doesn't exist or has expired",
        )

    def generation(self, owner: TokenOwner) -> int:
        """Which incarnation of the account's store is live: it changes when a reset replaces the store."""
        key = (owner.tenant, owner.account.key)
        seen = self._incarnations.get(key)
        if seen is not None and seen[0] is owner.account.store:
            return seen[1]
        number = 1 if seen is None else seen[1] + 1
        self._incarnations[key] = (owner.account.store, number)
        return number

    def _indexed(self, token: str) -> TokenOwner | None:
        where = self._index.get(token)
        owner = self.owner(*where) if where else None
        return owner if owner is not None and token in owner.account.tokens else None

    def _reindex(self) -> None:
        self._index = {
            token: (tenant, account.key)
            for tenant, provider in self._providers().items()
            for account in provider.accounts.values()
            for token in account.tokens
        }


def uid_of(account: DropboxAccount) -> str:
    """Dropbox's legacy numeric user id, derived from the account id so that it is stable."""
    return str(int.from_bytes(hashlib.sha256(account.account_id.encode()).digest()[:4], "big"))
