"""Connector instances: provisioning through the OAuth code, configuration, tags, enable/disable, delete."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from emulator.domain.errors import InvalidInput
from emulator.domain.platform.catalog import MASK, Connector
from emulator.domain.platform.tenants import User
from emulator.domain.provider.content import format_time

VENDOR_TYPES = {"webhook": "webhook", "webhooks": "webhook", "polling": "polling"}
BOOLEAN_WORDS = {"true": "true", "false": "false"}
CONFIG_OBJECT_KEYS = ("configuration",)


@dataclass(slots=True)
class Instance:
    id: int
    name: str
    token: str
    tenant: str
    organization_id: int
    user: User
    connector: Connector
    dialect: str  # the dialect of the provisioning request: callbacks speak it
    account: str  # the fake Dropbox account the OAuth code linked
    created_at: float
    configuration: dict[str, str]
    config_ids: dict[str, int]
    tags: list[str] = field(default_factory=list)
    disabled: bool = False
    # Position in the linked account's change log up to which this instance has been told.
    cursor: int = 0
    # Emulator time of the next polling tick (polling instances only).
    next_poll_at: float | None = None

    # -- event settings, read from the configuration ------------------------------------
    @property
    def events_enabled(self) -> bool:
        return self.configuration.get("event.notification.enabled", "false") == "true"

    @property
    def callback_url(self) -> str | None:
        return self.configuration.get("event.notification.callback.url") or None

    @property
    def vendor_type(self) -> str:
        return VENDOR_TYPES.get(self.configuration.get("event.vendor.type", "webhook"), "webhook")

    @property
    def poll_interval_seconds(self) -> float:
        return float(self.configuration.get("event.poller.refresh_interval", "15")) * 60.0

    @property
    def signature_key(self) -> str | None:
        return self.configuration.get("event.notification.signature.key") or None


def instance_json(instance: Instance, json_key: str) -> dict[str, Any]:
    """The platform's instance object: the guide's fields, then the real platform's extra ones."""
    return {
        "id": instance.id,
        "name": instance.name,
        "createdDate": format_time(instance.created_at),
        "token": instance.token,
        json_key: instance.connector.wire,
        f"{json_key}Id": instance.connector.id,
        "tags": list(instance.tags),
        "provisionInteractions": [],
        "valid": True,
        "disabled": instance.disabled,
        "maxCacheSize": 0,
        "cacheTimeToLive": 0,
        "configuration": masked_configuration(instance),
        "eventsEnabled": instance.events_enabled,
        "traceLoggingEnabled": False,
        "cachingEnabled": False,
        "externalAuthentication": "none",
        "user": instance.user.to_json(),
    }


def masked_configuration(instance: Instance) -> dict[str, str]:
    return {
        key: (MASK if instance.connector.is_secret(key) and value else value)
        for key, value in sorted(instance.configuration.items())
    }


def configuration_entries(instance: Instance) -> list[dict[str, Any]]:
    masked = masked_configuration(instance)
    return [
        {"id": instance.config_ids[key], "key": key, "propertyValue": value} for key, value in masked.items()
    ]


# -- reading provisioning bodies --------------------------------------------------------
@dataclass(slots=True)
class ProvisionRequest:
    """A provisioning or update body, read whatever its generation (REFERENCE.md, variants)."""

    connector_key: str | None
    code: str | None
    name: str | None
    tags: list[str] | None
    configuration: dict[str, str]


def read_provision_body(body: object) -> ProvisionRequest:
    if not isinstance(body, Mapping):
        raise InvalidInput("the request body must be a JSON object")
    problems: list[str] = []
    connector_key = _connector_key(body, problems)
    code = _code(body, problems)
    name = body.get("name")
    if name is not None and (not isinstance(name, str) or not name.strip()):
        problems.append("name must be a non-empty string")
    tags = body.get("tags")
    if tags is not None and (not isinstance(tags, list) or not all(isinstance(t, str) for t in tags)):
        problems.append("tags must be a list of strings")
    configuration = _configuration(body, problems)
    if problems:
        raise InvalidInput("; ".join(problems))
    return ProvisionRequest(
        connector_key=connector_key,
        code=code,
        name=name.strip() if isinstance(name, str) else None,
        tags=list(tags) if isinstance(tags, list) else None,
        configuration=configuration,
    )


def _connector_key(body: Mapping[str, Any], problems: list[str]) -> str | None:
    for word in ("element", "your_mom"):
        connector = body.get(word)
        if connector is None:
            continue
        if isinstance(connector, Mapping) and isinstance(connector.get("key"), str):
            return str(connector["key"])
        problems.append(f"{word} must be an object with a string key")
    return None


def _code(body: Mapping[str, Any], problems: list[str]) -> str | None:
    for word in ("providerData", "provisionCode"):
        holder = body.get(word)
        if holder is None:
            continue
        if isinstance(holder, Mapping) and isinstance(holder.get("code"), str) and holder["code"]:
            return str(holder["code"])
        problems.append(f"{word}.code must be a non-empty string")
    return None


def _configuration(body: Mapping[str, Any], problems: list[str]) -> dict[str, str]:
    found: dict[str, object] = {}
    # The guide's example puts the entries at top level; older clients send a configs list.
    found.update({k: v for k, v in body.items() if "." in k})
    configs = body.get("configs")
    if configs is not None:
        if isinstance(configs, list) and all(
            isinstance(c, Mapping) and isinstance(c.get("key"), str) for c in configs
        ):
            found.update({c["key"]: c.get("propertyValue") for c in configs})
        else:
            problems.append("configs must be a list of {key, propertyValue} objects")
    configuration = body.get("configuration")
    if configuration is not None:
        if isinstance(configuration, Mapping):
            found.update(configuration)
        else:
            problems.append("configuration must be an object")
    result: dict[str, str] = {}
    for key, value in found.items():
        text = config_text(value)
        if text is None:
            problems.append(f"configuration entry {key} must be a string, number or boolean")
        else:
            result[str(key)] = text
    return result


def config_text(value: object) -> str | None:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, str):
        return value
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    return None


# -- checking a configuration -------------------------------------------------------------
def complete_configuration(connector: Connector, given: Mapping[str, str]) -> dict[str, str]:
    """Apply defaults and normalise the event entries; raise one error naming every problem."""
    config = {c.key: c.default for c in connector.config if c.default is not None}
    config.update(given)
    missing = [c.key for c in connector.config if c.required and not config.get(c.key)]
    problems: list[str] = []
    enabled = config.get("event.notification.enabled", "false").strip().lower()
    if enabled not in BOOLEAN_WORDS:
        problems.append("event.notification.enabled must be true or false")
    else:
        config["event.notification.enabled"] = enabled
        if enabled == "true" and not config.get("event.notification.callback.url"):
            missing.append("event.notification.callback.url")
    vendor = config.get("event.vendor.type", "webhook").strip().lower()
    if vendor not in VENDOR_TYPES:
        problems.append("event.vendor.type must be webhook or polling")
    else:
        config["event.vendor.type"] = VENDOR_TYPES[vendor]
    interval = config.get("event.poller.refresh_interval", "15")
    if not _positive_number(interval):
        problems.append("event.poller.refresh_interval must be a positive number of minutes")
    for key in ("oauth.callback.url", "event.notification.callback.url"):
        value = config.get(key)
        if value and not is_http_url(value):
            problems.append(f"{key} must be an absolute http or https URL")
    if missing:
        problems.insert(0, "missing required configuration entries: " + ", ".join(missing))
    if problems:
        raise InvalidInput("; ".join(problems))
    return config


def _positive_number(text: str) -> bool:
    try:
        return float(text) > 0
    except ValueError:
        return False


def is_http_url(text: str) -> bool:
    if any(ord(ch) < 0x21 or ch == "\x7f" for ch in text):
        return False
    try:
        parts = urlsplit(text)
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname)
