"""Fake Dropbox accounts of one tenant: who they are, their stores, and the OAuth server that links them."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal, NamedTuple

from emulator.domain.bulk import gc_paused
from emulator.domain.clock import Clock
from emulator.domain.errors import NotFound
from emulator.domain.ids import Ids
from emulator.domain.kept import KeptByIdentity
from emulator.domain.provider.content import content_hash
from emulator.domain.provider.oauth import OAuthApp, OAuthServer
from emulator.domain.provider.store import SeedNode, Store

ConsentMode = Literal["page", "auto"]


class AccountSeed(NamedTuple):
    key: str
    account_id: str
    email: str
    display_name: str
    nodes: tuple[SeedNode, ...] = ()
    tokens: tuple[str, ...] = ()


@dataclass(slots=True)
class DropboxAccount:
    key: str
    account_id: str
    email: str
    display_name: str
    store: Store
    tokens: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, object]:
        return {
            "key": self.key,
            "accountId": self.account_id,
            "email": self.email,
            "displayName": self.display_name,
            "entries": self.store.count(),
            "cursor": self.store.cursor(),
        }


@dataclass(slots=True)
class DropboxProvider:
    """The fake Dropbox as one tenant sees it. It knows nothing of the platform."""

    clock: Clock
    ids: Ids
    oauth: OAuthServer
    consent: ConsentMode = "page"
    accounts: dict[str, DropboxAccount] = field(default_factory=dict)
    max_upload_bytes: int = 150 * 1024 * 1024

    @classmethod
    def from_seeds(
        cls,
        clock: Clock,
        ids: Ids,
        seeds: Iterable[AccountSeed],
        apps: tuple[OAuthApp, ...] = (),
        consent: ConsentMode = "page",
        max_upload_bytes: int = 150 * 1024 * 1024,
    ) -> DropboxProvider:
        provider = cls(
            clock=clock,
            ids=ids,
            oauth=OAuthServer(clock, ids, apps),
            consent=consent,
            max_upload_bytes=max_upload_bytes,
        )
        with gc_paused():
            for seed in seeds:
                provider.add_account(seed)
        return provider

    def add_account(self, seed: AccountSeed) -> DropboxAccount:
        store = Store(self.clock, self.ids, max_upload_bytes=self.max_upload_bytes)
        store.seed_tree(seed.nodes, _seed_digests(seed.nodes))
        account = DropboxAccount(
            key=seed.key,
            account_id=seed.account_id,
            email=seed.email,
            display_name=seed.display_name,
            store=store,
            tokens=list(seed.tokens),
        )
        self.accounts[seed.key] = account
        return account

    def account(self, key: str) -> DropboxAccount:
        found = self.accounts.get(key)
        if found is None:
            raise NotFound(f"no Dropbox account {key!r}", provider_message="user/not_found/")
        return found

    def first_account(self) -> DropboxAccount:
        if not self.accounts:
            raise NotFound("the fixture has no Dropbox account", provider_message="user/not_found/")
        return next(iter(self.accounts.values()))


# The content hashes of a seed's files, by the identity of its (immutable) tuple of nodes: every
# reset and every new tenant builds the accounts from the same seed, and hashing was most of a
# reset's time. One value per account's tree, however many files it holds.
_SEED_DIGESTS: KeptByIdentity[tuple[str | None, ...]] = KeptByIdentity(256)


def _seed_digests(nodes: tuple[SeedNode, ...]) -> tuple[str | None, ...]:
    return _SEED_DIGESTS.get(
        (nodes,), lambda: tuple(None if n.is_folder else content_hash(n.content or b"") for n in nodes)
    )
