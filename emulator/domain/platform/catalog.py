"""The connector catalog: what the platform knows of each connector, and Dropbox's configuration keys."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, NamedTuple


class ConfigKey(NamedTuple):
    key: str
    required: bool = False
    secret: bool = False
    default: str | None = None


# Dropbox's instance configuration: the OAuth entries the guide lists plus the event keys of REFERENCE.md.
# oauth.user.token is written by provisioning (the provider's access token), never by the caller.
DROPBOX_CONFIG: tuple[ConfigKey, ...] = (
    ConfigKey("oauth.callback.url", required=True),
    ConfigKey("oauth.api.key", required=True),
    ConfigKey("oauth.api.secret", required=True, secret=True),
    ConfigKey("oauth.user.token", secret=True),
    ConfigKey("event.notification.enabled", default="false"),
    ConfigKey("event.notification.callback.url"),
    ConfigKey("event.vendor.type", default="webhook"),
    ConfigKey("event.poller.refresh_interval", default="15"),
    ConfigKey("event.poller.configuration"),
    ConfigKey("event.notification.signature.key", secret=True),
    ConfigKey("document.tagging", default="false"),
)

MASK = "********"


@dataclass(frozen=True, slots=True)
class Connector:
    key: str
    id: int
    name: str
    hub: str
    wire: dict[str, Any]
    config: tuple[ConfigKey, ...] = field(default=DROPBOX_CONFIG)
    # Looked up for every configuration entry of every instance the API answers with.
    _by_key: dict[str, ConfigKey] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_by_key", {c.key: c for c in reversed(self.config)})

    def config_key(self, key: str) -> ConfigKey | None:
        return self._by_key.get(key)

    def is_secret(self, key: str) -> bool:
        found = self._by_key.get(key)
        return found is not None and found.secret
