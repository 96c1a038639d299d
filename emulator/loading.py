"""Load and validate YAML fixtures: the starting state of the emulator and of its fake Dropbox accounts.

A fixture names the organizations and users that may call the platform, the connector catalog,
the fake Dropbox's OAuth apps and accounts (with their file trees), and optionally instances
provisioned before the first request. `load_fixture` reads a YAML file; `parse_fixture` validates
already-parsed data. Either returns a `Fixture` of frozen dataclasses or raises `FixtureError`
listing every problem found, each as `"<file>: <key.path>: <what is wrong>"`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
import unicodedata
from collections.abc import Collection, Hashable, Iterator, Mapping
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Final, Literal, NamedTuple, cast

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from emulator.dialects import DEFAULT_DIALECT, DIALECTS
from emulator.domain.bulk import gc_paused
from emulator.domain.platform.catalog import Connector
from emulator.domain.provider import paths
from emulator.domain.state import Limits

FailurePolicy = Literal["retry", "queue"]
Consent = Literal["page", "auto"]

FAILURE_POLICIES: Final[tuple[FailurePolicy, ...]] = ("retry", "queue")
CONSENT_MODES: Final[tuple[Consent, ...]] = ("page", "auto")
# Integer id counters a fixture may seed (DESIGN.md section 4); unknown kinds are typos.
ID_KINDS: Final = ("instance", "event", "notification")
DEFAULT_SEED: Final = "0"
DEFAULT_CLOCK_START: Final = "2026-01-01T00:00:00Z"
# File contents live in memory; a typo such as `size: 10000000000` should be a problem, not an OOM.
MAX_GENERATED_SIZE: Final = 1 << 30
FILE_SOURCES: Final = ("content", "base64", "file", "size")


# ----------------------------------------------------------------------------- results


class FixtureUser(NamedTuple):
    id: int
    secret: str
    email: str
    first_name: str
    last_name: str


class FixtureOrganization(NamedTuple):
    id: int
    name: str
    secret: str
    failure_policy: FailurePolicy
    users: tuple[FixtureUser, ...]


class FixtureApp(NamedTuple):
    """An OAuth app registered with the fake Dropbox; empty `redirect_uris` accepts any redirect."""

    key: str
    secret: str
    redirect_uris: tuple[str, ...]


class FixtureNode(NamedTuple):
    """One entry of an account's tree. `path` is the absolute display path, e.g. "/Photos/Été 2025".

    Folders have `content` None. `modified` None means "the emulator's start time".
    A named tuple, not a frozen dataclass: a large fixture makes one per file, and a frozen
    dataclass's `__init__` took three times as long.
    """

    path: str
    is_folder: bool
    content: bytes | None
    modified: float | None


class FixtureAccount(NamedTuple):
    key: str
    account_id: str
    email: str
    display_name: str
    tokens: tuple[str, ...]
    nodes: tuple[FixtureNode, ...]  # parents before children, in fixture order


class FixtureInstance(NamedTuple):
    """An instance provisioned at start; it takes the next instance id in fixture order."""

    organization: int
    user: int
    account: str
    connector: str
    name: str
    dialect: str
    token: str | None  # None: the emulator derives one from the seed
    tags: tuple[str, ...]
    configuration: dict[str, str]
    disabled: bool


class Fixture(NamedTuple):
    source: str
    seed: str
    clock_start: float
    id_starts: dict[str, int]
    limits: Limits
    organizations: tuple[FixtureOrganization, ...]
    catalog: tuple[Connector, ...]
    consent: Consent
    apps: tuple[FixtureApp, ...]
    accounts: tuple[FixtureAccount, ...]
    instances: tuple[FixtureInstance, ...]


class FixtureError(Exception):
    """The fixture is unusable. `problems` lists every problem, `"<file>: <key.path>: <what>"`."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = list(problems)
        count = len(self.problems)
        header = f"{count} problem{'s' if count != 1 else ''} in the fixture:"
        super().__init__("\n  ".join([header, *self.problems]))


# ----------------------------------------------------------------------------- built-in catalog

# The guide's Dropbox object, field for field and in its order. The guide's text of
# existingAccountDescription breaks a line inside the string; the break is collapsed to a space.
DROPBOX_WIRE: Final[Mapping[str, object]] = {
    "id": 22,
    "name": "Dropbox",
    "key": "dropbox",
    "description": (
        "Add a Dropbox Instance to connect your existing Dropbox account to the Documents Hub, "
        "allowing you to manage files and folders. You will need your Dropbox account information "
        "to add an instance."
    ),
    "image": "your_moms/provider_dropbox.png",
    "active": True,
    "deleted": False,
    "typeOauth": True,
    "trialAccount": False,
    "existingAccountDescription": (
        "Give your application access to your existing Dropbox accountEnter your credentials "
        "and details for your Dropbox Account"
    ),
    "configDescription": (
        "If you do not have an Dropbox.net account, you can create one at Dropbox.Net Signup"
    ),
    "transformationsEnabled": False,
    "authentication": {"type": "oauth2"},
    "hub": "documents",
}
_BUILTIN_WIRES: Final[Mapping[str, Mapping[str, object]]] = {"dropbox": DROPBOX_WIRE}

# Field types of a catalog entry, in the order the platform writes them.
_WIRE_FIELDS: Final[Mapping[str, type]] = {
    "id": int,
    "name": str,
    "key": str,
    "description": str,
    "image": str,
    "active": bool,
    "deleted": bool,
    "typeOauth": bool,
    "trialAccount": bool,
    "existingAccountDescription": str,
    "configDescription": str,
    "transformationsEnabled": bool,
    "authentication": dict,
    "hub": str,
}
_WIRE_DEFAULTS: Final[Mapping[str, object]] = {
    "description": "",
    "image": "",
    "active": True,
    "deleted": False,
    "typeOauth": True,
    "trialAccount": False,
    "existingAccountDescription": "",
    "configDescription": "",
    "transformationsEnabled": False,
    "authentication": {"type": "oauth2"},
}


def _copy_json(value: object) -> object:
    return json.loads(json.dumps(value))


def _connector(wire: dict[str, object]) -> Connector:
    return Connector(
        key=cast(str, wire["key"]),
        id=cast(int, wire["id"]),
        name=cast(str, wire["name"]),
        hub=cast(str, wire["hub"]),
        wire=wire,
    )


def builtin_catalog() -> tuple[Connector, ...]:
    """The catalog of a fixture without `catalog`: the guide's Dropbox connector."""
    return tuple(_connector(cast(dict[str, object], _copy_json(w))) for w in _BUILTIN_WIRES.values())


# ----------------------------------------------------------------------------- generated content


def generated_content(seed: str, path: str, size: int) -> bytes:
    """The bytes of a `size:` file: a hash of (seed, display path, size) repeated to `size` bytes.

    Cheap on purpose (one hash per file) so fixtures with 100,000 files load quickly, and
    different per file so content hashes and copies are distinguishable.
    """
    block = hashlib.sha256(f"{seed}\x00{path}\x00{size}".encode()).digest()
    repeats, rest = divmod(size, len(block))
    return block * repeats + block[:rest]


def _account_id(seed: str, key: str) -> str:
    # Same shape as Dropbox's: "dbid:AA" followed by 33 URL-safe characters.
    digest = hashlib.sha256(f"{seed}\x00account\x00{key}".encode()).digest()
    return "dbid:AA" + base64.urlsafe_b64encode(digest).decode()[:33]


# ----------------------------------------------------------------------------- validation

_TOP_KEYS: Final = (
    "seed", "clock", "ids", "limits", "organizations", "catalog", "providers", "instances",
)
_ORG_KEYS: Final = ("id", "name", "secret", "failure_policy", "users")
_USER_KEYS: Final = ("id", "secret", "email", "first_name", "last_name")
_DROPBOX_KEYS: Final = ("consent", "apps", "accounts")
_APP_KEYS: Final = ("key", "secret", "redirect_uris")
_ACCOUNT_KEYS: Final = ("key", "account_id", "email", "display_name", "tokens", "tree")
_FILE_KEYS: Final = (*FILE_SOURCES, "modified")
_INSTANCE_KEYS: Final = (
    "organization", "user", "account", "connector", "name", "dialect", "token", "tags",
    "configuration", "disabled",
)

# Secrets and tokens travel inside `Authorization: User <s>, Organization <s>`, split on commas and spaces.
_CREDENTIAL = re.compile(r"[^\s,]+")
_KEY = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+")
_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://\S+")
_HTTP_URL = re.compile(r"https?://\S+", re.IGNORECASE)
# The fake Dropbox's own rules (emulator.domain.provider.paths): a name it would refuse at start-up
# is reported here, with its key path, instead.
_NAME_BAD_CHAR = re.compile(r"[\x00-\x1f\x7f/]")
_SPACE = re.compile(r"\s+")
# dict first: isinstance against the Mapping ABC alone is several times slower, on the per-file path.
_MAPPING: Final = (dict, Mapping)


def _kind(value: object) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, str):
        return "text"
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, list | tuple):
        return "a list"
    return type(value).__name__


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _name_problem(name: str) -> str | None:
    if not name:
        return "empty name"
    if name in (".", ".."):
        return f'"{name}" is not a valid Dropbox name'
    if len(name) > paths.MAX_COMPONENT:
        return f"name is {len(name)} characters long; Dropbox allows at most {paths.MAX_COMPONENT}"
    if name.lower() in paths.IGNORED_NAMES:
        return f"Dropbox does not store files named {name!r}"
    bad = _NAME_BAD_CHAR.search(name)
    if bad is None:
        return None
    if bad.group() == "/":
        return 'name contains "/": nest folders instead, e.g. "a/": {"b/": ...}'
    return f"name contains a control character (U+{ord(bad.group()):04X})"


class _Validator:
    """Walks parsed fixture data, collecting every problem instead of stopping at the first.

    Getters always return a value of the expected type so validation can go on; after a
    problem they return a placeholder ("" or 0) that valid data never holds, and the
    cross-checks (duplicates, references) skip placeholders so one mistake is reported once.
    """

    def __init__(self, source: str, base_dir: Path) -> None:
        self.source = source
        self.base_dir = base_dir
        self._resolved_base: Path | None = None
        self.problems: list[str] = []

    def add(self, path: str, message: str) -> None:
        self.problems.append(f"{self.source}: {path}: {message}" if path else f"{self.source}: {message}")

    # -- shapes ------------------------------------------------------------------------
    def mapping(self, value: object, path: str, allowed: Collection[str]) -> dict[str, object] | None:
        """The allowed entries of a mapping; reports a wrong type and each unknown key."""
        if not isinstance(value, _MAPPING):
            self.add(path, f"expected a mapping, got {_kind(value)}")
            return None
        result: dict[str, object] = {}
        for key, item in value.items():
            if not isinstance(key, str):
                self.add(path, f"key {key!r} must be text")
            elif key in allowed:
                result[key] = item
            else:
                self.add(_join(path, key), self._unknown(key, allowed))
        return result

    def section(self, value: object, path: str, allowed: Collection[str]) -> dict[str, object]:
        """An optional mapping: absent or null is empty; a wrong type is reported and read as empty."""
        if value is None:
            return {}
        return self.mapping(value, path, allowed) or {}

    @staticmethod
    def _unknown(key: str, allowed: Collection[str]) -> str:
        import difflib  # only a fixture with a mistake needs it: not imported at every start

        close = difflib.get_close_matches(key, list(allowed), n=1)
        if close:
            return f'unknown key (did you mean "{close[0]}"?)'
        return f"unknown key (expected one of: {', '.join(allowed)})"

    def items(self, m: Mapping[str, object], key: str, path: str) -> list[object]:
        """An optional list; absent or null is empty."""
        value = m.get(key)
        if value is None:
            return []
        if not isinstance(value, list | tuple):
            self.add(_join(path, key), f"expected a list, got {_kind(value)}")
            return []
        return list(value)

    # -- scalars -----------------------------------------------------------------------
    def integer(
        self, m: Mapping[str, object], key: str, path: str, default: int | None = None, minimum: int = 1
    ) -> int:
        value = m.get(key)
        if value is None:
            if default is None:
                self.add(_join(path, key), "is required")
                return 0
            return default
        if isinstance(value, bool) or not isinstance(value, int):
            self.add(_join(path, key), f"expected an integer, got {_kind(value)}")
            return 0
        if value < minimum:
            self.add(_join(path, key), f"must be at least {minimum}, got {value}")
            return 0
        return value

    def text(
        self,
        m: Mapping[str, object],
        key: str,
        path: str,
        default: str | None = None,
        pattern: re.Pattern[str] | None = None,
        shape: str = "",
    ) -> str:
        value = m.get(key)
        if value is None:
            if default is None:
                self.add(_join(path, key), "is required")
                return ""
            return default
        if not isinstance(value, str):
            self.add(_join(path, key), f"expected text, got {_kind(value)}")
            return ""
        if pattern is not None and not pattern.fullmatch(value):
            self.add(_join(path, key), f"{value!r} is not {shape}")
            return ""
        return value

    def credential(self, m: Mapping[str, object], key: str, path: str) -> str:
        return self.text(m, key, path, pattern=_CREDENTIAL, shape="a valid secret (no spaces or commas)")

    def boolean(self, m: Mapping[str, object], key: str, path: str, default: bool) -> bool:
        value = m.get(key)
        if value is None:
            return default
        if not isinstance(value, bool):
            self.add(_join(path, key), f"expected true or false, got {_kind(value)}")
            return default
        return value

    def choice(
        self, m: Mapping[str, object], key: str, path: str, choices: Collection[str], default: str
    ) -> str:
        value = self.text(m, key, path, default=default)
        if value and value not in choices:
            self.add(_join(path, key), f"unknown value {value!r} (expected one of: {', '.join(choices)})")
            return default
        return value or default

    def texts(
        self, m: Mapping[str, object], key: str, path: str, pattern: re.Pattern[str] | None = None,
        shape: str = "",
    ) -> tuple[str, ...]:
        result: list[str] = []
        for index, item in enumerate(self.items(m, key, path)):
            where = f"{_join(path, key)}[{index}]"
            if not isinstance(item, str):
                self.add(where, f"expected text, got {_kind(item)}")
            elif pattern is not None and not pattern.fullmatch(item):
                self.add(where, f"{item!r} is not {shape}")
            else:
                result.append(item)
        return tuple(result)

    def timestamp(self, value: object, path: str) -> float | None:
        """Epoch seconds of an ISO 8601 date-time; one without a zone is taken as UTC."""
        if isinstance(value, datetime):
            moment = value
        elif isinstance(value, date):
            moment = datetime(value.year, value.month, value.day)
        elif isinstance(value, str):
            try:
                moment = datetime.fromisoformat(value)
            except ValueError:
                self.add(path, f'{value!r} is not a date-time like "2025-07-14T10:00:00Z"')
                return None
        else:
            self.add(path, f"expected a date-time like \"2025-07-14T10:00:00Z\", got {_kind(value)}")
            return None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        return moment.timestamp()

    def unique(self, seen: dict[str, str], value: object, path: str, what: str) -> None:
        """Report `value` if an earlier entry (recorded in `seen`) already has it."""
        if not value:  # a placeholder: its problem is already reported
            return
        marker = str(value)
        if marker in seen:
            self.add(path, f"duplicate {what}: already used at {seen[marker]}")
        else:
            seen[marker] = path

    # -- the fixture -------------------------------------------------------------------
    def fixture(self, data: object) -> Fixture:
        empty = data is None
        if empty:
            self.add("", "the fixture is empty; it needs at least one organization with one user")
        top = {} if empty else self.mapping(data, "", _TOP_KEYS)
        if top is None:
            top = {}

        seed = self.seed(top.get("seed"))
        clock = self.section(top.get("clock"), "clock", ("start",))
        start = self.timestamp(clock.get("start", DEFAULT_CLOCK_START), "clock.start") or 0.0
        organizations = self.organizations(top, report_missing=not empty)
        catalog = self.catalog(top)
        consent, apps, accounts = self.providers(top.get("providers"), seed)
        instances = self.instances(top, organizations, catalog, accounts)
        return Fixture(
            source=self.source,
            seed=seed,
            clock_start=start,
            id_starts=self.id_starts(top.get("ids")),
            limits=self.limits(top.get("limits")),
            organizations=organizations,
            catalog=catalog,
            consent=consent,
            apps=apps,
            accounts=accounts,
            instances=instances,
        )

    def seed(self, value: object) -> str:
        if value is None:
            return DEFAULT_SEED
        if isinstance(value, str) and value:
            return value
        if isinstance(value, int) and not isinstance(value, bool):
            return str(value)
        self.add("seed", f"expected an integer or non-empty text, got {_kind(value)}")
        return DEFAULT_SEED

    def id_starts(self, value: object) -> dict[str, int]:
        m = self.section(value, "ids", ID_KINDS)
        return {kind: self.integer(m, kind, "ids", default=1) or 1 for kind in ID_KINDS}

    def limits(self, value: object) -> Limits:
        m = self.section(value, "limits", ("max_upload_bytes", "max_body_bytes"))
        default = Limits()
        return Limits(
            max_upload_bytes=self.integer(m, "max_upload_bytes", "limits", default.max_upload_bytes)
            or default.max_upload_bytes,
            max_body_bytes=self.integer(m, "max_body_bytes", "limits", default.max_body_bytes)
            or default.max_body_bytes,
        )

    # -- organizations -----------------------------------------------------------------
    def organizations(
        self, top: Mapping[str, object], report_missing: bool
    ) -> tuple[FixtureOrganization, ...]:
        raw = self.items(top, "organizations", "")
        # A wrong type is reported by `items`; an empty file already said what is missing.
        wrong_type = isinstance(top.get("organizations"), Mapping | str | int | float)
        if not raw and report_missing and not wrong_type:
            self.add("organizations", "needs at least one organization with one user")
        ids: dict[str, str] = {}
        secrets: dict[str, str] = {}
        user_ids: dict[str, str] = {}
        user_secrets: dict[str, tuple[int, str]] = {}
        emails: dict[str, str] = {}
        result: list[FixtureOrganization] = []
        for index, item in enumerate(raw):
            path = f"organizations[{index}]"
            m = self.mapping(item, path, _ORG_KEYS)
            if m is None:
                continue
            org_id = self.integer(m, "id", path)
            self.unique(ids, org_id, f"{path}.id", "organization id")
            secret = self.credential(m, "secret", path)
            self.unique(secrets, secret, f"{path}.secret", "organization secret")
            users: list[FixtureUser] = []
            raw_users = self.items(m, "users", path)
            if not raw_users and not isinstance(m.get("users"), Mapping | str | int | float):
                self.add(f"{path}.users", "needs at least one user (every platform call names a user)")
            for u_index, u_item in enumerate(raw_users):
                u_path = f"{path}.users[{u_index}]"
                user = self.user(u_item, u_path)
                if user is None:
                    continue
                self.unique(user_ids, user.id, f"{u_path}.id", "user id")
                self.unique(emails, user.email.lower(), f"{u_path}.email", "user email")
                self.user_secret(user_secrets, user.secret, index, u_path)
                users.append(user)
            result.append(
                FixtureOrganization(
                    id=org_id,
                    name=self.text(m, "name", path, default=f"Organization {org_id}"),
                    secret=secret,
                    failure_policy=cast(
                        FailurePolicy, self.choice(m, "failure_policy", path, FAILURE_POLICIES, "retry")
                    ),
                    users=tuple(users),
                )
            )
        return tuple(result)

    def user(self, value: object, path: str) -> FixtureUser | None:
        m = self.mapping(value, path, _USER_KEYS)
        if m is None:
            return None
        return FixtureUser(
            id=self.integer(m, "id", path),
            secret=self.credential(m, "secret", path),
            email=self.text(m, "email", path, pattern=_EMAIL, shape="an email address"),
            first_name=self.text(m, "first_name", path, default=""),
            last_name=self.text(m, "last_name", path, default=""),
        )

    def user_secret(self, seen: dict[str, tuple[int, str]], secret: str, org: int, path: str) -> None:
        if not secret:
            return
        if secret not in seen:
            seen[secret] = (org, path)
            return
        other_org, other = seen[secret]
        where = " in another organization" if other_org != org else ""
        self.add(f"{path}.secret", f"duplicate user secret: already used by {other}{where}")

    # -- catalog -----------------------------------------------------------------------
    def catalog(self, top: Mapping[str, object]) -> tuple[Connector, ...]:
        if top.get("catalog") is None:
            return builtin_catalog()
        raw = self.items(top, "catalog", "")
        if not raw and isinstance(top["catalog"], list | tuple):
            self.add("catalog", "is empty; leave it out to get the built-in Dropbox connector")
        keys: dict[str, str] = {}
        ids: dict[str, str] = {}
        result: list[Connector] = []
        for index, item in enumerate(raw):
            path = f"catalog[{index}]"
            wire = self.connector(item, path)
            if wire is None:
                continue
            self.unique(keys, wire.get("key"), f"{path}.key", "connector key")
            self.unique(ids, wire.get("id"), f"{path}.id", "connector id")
            result.append(_connector(wire))
        return tuple(result)

    def connector(self, value: object, path: str) -> dict[str, object] | None:
        m = self.mapping(value, path, (*_WIRE_FIELDS, "extra"))
        if m is None:
            return None
        key = self.text(m, "key", path, pattern=_KEY, shape="a connector key (letters, digits, _ . -)")
        # An entry for a built-in connector changes only the fields it gives.
        base = _BUILTIN_WIRES.get(key)
        defaults: Mapping[str, object] = base if base is not None else _WIRE_DEFAULTS
        wire: dict[str, object] = {}
        for field, kind in _WIRE_FIELDS.items():
            where = _join(path, field)
            value_ = m.get(field)
            if value_ is None:
                if field in defaults:
                    wire[field] = _copy_json(defaults[field])
                elif field != "key":
                    self.add(where, "is required for a connector that is not built in")
                    wire[field] = kind()
                else:
                    wire[field] = key
                continue
            if kind is dict:
                wire[field] = self.authentication(value_, where)
            elif isinstance(value_, kind) and (kind is bool or not isinstance(value_, bool)):
                wire[field] = value_
            else:
                self.add(where, f"expected {_kind(kind())}, got {_kind(value_)}")
                wire[field] = kind()
        extra = self.section(m.get("extra"), _join(path, "extra"), _AnyKey())
        for field, value_ in extra.items():
            where = f"{path}.extra.{field}"
            if field in _WIRE_FIELDS:
                self.add(where, f"set {field} directly on the connector, not under extra")
                continue
            try:
                wire[field] = _copy_json(value_)
            except (TypeError, ValueError):
                self.add(where, "is not a JSON value")
        return wire

    def authentication(self, value: object, path: str) -> dict[str, object]:
        m = self.mapping(value, path, ("type",)) or {}
        return {"type": self.text(m, "type", path)}

    # -- provider ----------------------------------------------------------------------
    def providers(
        self, value: object, seed: str
    ) -> tuple[Consent, tuple[FixtureApp, ...], tuple[FixtureAccount, ...]]:
        providers = self.section(value, "providers", ("dropbox",))
        path = "providers.dropbox"
        dropbox = self.section(providers.get("dropbox"), path, _DROPBOX_KEYS)
        consent = cast(Consent, self.choice(dropbox, "consent", path, CONSENT_MODES, "page"))
        apps = self.apps(dropbox, path)
        accounts = self.accounts(dropbox, path, seed)
        if consent == "auto" and not dropbox.get("accounts"):
            self.add(f"{path}.consent", "auto consent grants the first account, but there is no account")
        return consent, apps, accounts

    def apps(self, dropbox: Mapping[str, object], path: str) -> tuple[FixtureApp, ...]:
        keys: dict[str, str] = {}
        result: list[FixtureApp] = []
        for index, item in enumerate(self.items(dropbox, "apps", path)):
            a_path = f"{path}.apps[{index}]"
            m = self.mapping(item, a_path, _APP_KEYS)
            if m is None:
                continue
            key = self.credential(m, "key", a_path)
            self.unique(keys, key, f"{a_path}.key", "app key")
            result.append(
                FixtureApp(
                    key=key,
                    secret=self.credential(m, "secret", a_path),
                    redirect_uris=self.texts(m, "redirect_uris", a_path, _URL, "an absolute URL"),
                )
            )
        return tuple(result)

    def accounts(self, dropbox: Mapping[str, object], path: str, seed: str) -> tuple[FixtureAccount, ...]:
        keys: dict[str, str] = {}
        account_ids: dict[str, str] = {}
        emails: dict[str, str] = {}
        tokens: dict[str, str] = {}
        result: list[FixtureAccount] = []
        for index, item in enumerate(self.items(dropbox, "accounts", path)):
            a_path = f"{path}.accounts[{index}]"
            m = self.mapping(item, a_path, _ACCOUNT_KEYS)
            if m is None:
                continue
            key = self.text(m, "key", a_path, pattern=_KEY, shape="an account key (letters, digits, _ . -)")
            self.unique(keys, key, f"{a_path}.key", "account key")
            account_id = self.text(
                m, "account_id", a_path, default=_account_id(seed, key),
                pattern=re.compile(r"dbid:[A-Za-z0-9_-]+"), shape='a Dropbox account id ("dbid:...")',
            )
            self.unique(account_ids, account_id, f"{a_path}.account_id", "account id")
            email = self.text(m, "email", a_path, default=f"{key}@example.com", pattern=_EMAIL,
                              shape="an email address")
            self.unique(emails, email.lower(), f"{a_path}.email", "account email")
            account_tokens = self.texts(
                m, "tokens", a_path, _CREDENTIAL, "a valid token (no spaces or commas)"
            )
            for t_index, token in enumerate(account_tokens):
                self.unique(tokens, token, f"{a_path}.tokens[{t_index}]", "Dropbox token")
            result.append(
                FixtureAccount(
                    key=key,
                    account_id=account_id,
                    email=email,
                    display_name=self.text(m, "display_name", a_path, default=key.title()),
                    tokens=account_tokens,
                    nodes=self.tree(m.get("tree"), f"{a_path}.tree", seed),
                )
            )
        return tuple(result)

    def tree(self, value: object, path: str, seed: str) -> tuple[FixtureNode, ...]:
        """Nodes of a tree in pre-order, so every folder comes before what it holds."""
        if value is None:
            return ()
        if not isinstance(value, Mapping):
            self.add(path, f"expected a mapping of names to files and folders, got {_kind(value)}")
            return ()
        nodes: list[FixtureNode] = []
        # An explicit stack rather than recursion: generated fixtures may nest deeply.
        # Each frame: key path, display path, remaining entries, lower-cased names seen.
        stack: list[tuple[str, str, Iterator[tuple[object, object]], dict[str, str]]] = [
            (path, "", iter(value.items()), {})
        ]
        while stack:
            key_path, parent, entries, names = stack[-1]
            entry = next(entries, None)
            if entry is None:
                stack.pop()
                continue
            raw, item = entry
            if not isinstance(raw, str):
                self.add(key_path, f"name {raw!r} must be text")
                continue
            is_folder = raw.endswith("/")
            # NFC, as the fake Dropbox displays names: "Été" typed on macOS (NFD) is the same name.
            name = unicodedata.normalize("NFC", raw[:-1] if is_folder else raw)
            problem = _name_problem(name)
            if problem is not None:
                self.add(f"{key_path}.{raw}", problem)
                continue
            lower = name.lower()
            other = names.get(lower)
            if other is not None:
                self.add(
                    f"{key_path}.{raw}",
                    f'"{name}" and "{other}" differ only by case; Dropbox names ignore case',
                )
                continue
            names[lower] = name
            display = f"{parent}/{name}"
            if not is_folder:
                # Most files of a large tree are text: made here, without `file`'s call.
                if isinstance(item, str):
                    nodes.append(FixtureNode(display, False, item.encode(), None))
                else:
                    content, modified = self.file(item, f"{key_path}.{raw}", display, seed)
                    nodes.append(FixtureNode(display, False, content, modified))
                continue
            nodes.append(FixtureNode(display, True, None, None))
            if isinstance(item, _MAPPING):
                stack.append((f"{key_path}.{raw}", display, iter(item.items()), {}))
            elif item is not None:
                self.add(
                    f"{key_path}.{raw}",
                    f'a folder (name ending in "/") holds a mapping or nothing, got {_kind(item)}',
                )
        return tuple(nodes)

    def file(self, item: object, path: str, display: str, seed: str) -> tuple[bytes, float | None]:
        if isinstance(item, str):
            return item.encode(), None
        if isinstance(item, bytes):  # YAML's !!binary
            return item, None
        if not isinstance(item, _MAPPING):
            self.add(
                path,
                "a file takes text (its content) or a mapping with one of content, base64, file, size, "
                f'got {_kind(item)}; end the name with "/" for a folder',
            )
            return b"", None
        m = self.mapping(item, path, _FILE_KEYS)
        if m is None:
            return b"", None
        modified = self.timestamp(m["modified"], f"{path}.modified") if "modified" in m else None
        given = [key for key in FILE_SOURCES if key in m]
        if len(given) != 1:
            detail = f" (got {' and '.join(given)})" if given else ""
            self.add(path, f"needs exactly one of content, base64, file, size{detail}")
            return b"", modified
        source = given[0]
        value = m[source]
        where = f"{path}.{source}"
        if source == "size":
            size = self.integer(m, "size", path, minimum=0)
            if size > MAX_GENERATED_SIZE:
                self.add(where, f"{size} bytes is over the limit for generated files ({MAX_GENERATED_SIZE})")
                return b"", modified
            return generated_content(seed, display, size), modified
        if not isinstance(value, str):
            self.add(where, f"expected text, got {_kind(value)}")
            return b"", modified
        if source == "content":
            return value.encode(), modified
        if source == "base64":
            try:
                return base64.b64decode(_SPACE.sub("", value), validate=True), modified
            except (binascii.Error, ValueError):
                self.add(where, "is not valid base64")
                return b"", modified
        return self.file_bytes(value, where), modified

    def file_bytes(self, relative: str, path: str) -> bytes:
        if self._resolved_base is None:
            self._resolved_base = self.base_dir.resolve()
        target = (self._resolved_base / relative).resolve()
        if not target.is_relative_to(self._resolved_base):
            self.add(path, f"{relative!r} points outside the fixture's folder")
            return b""
        if not target.is_file():
            what = "is a folder, not a file" if target.is_dir() else "does not exist"
            self.add(path, f"{relative!r} {what} (paths are relative to the fixture's folder)")
            return b""
        try:
            return target.read_bytes()
        except OSError as exc:
            self.add(path, f"cannot read {relative!r}: {exc.strerror or exc}")
            return b""

    # -- instances ---------------------------------------------------------------------
    def instances(
        self,
        top: Mapping[str, object],
        organizations: tuple[FixtureOrganization, ...],
        catalog: tuple[Connector, ...],
        accounts: tuple[FixtureAccount, ...],
    ) -> tuple[FixtureInstance, ...]:
        users_of = {org.id: {user.id for user in org.users} for org in organizations}
        account_keys = {account.key for account in accounts}
        connector_keys = {connector.key for connector in catalog}
        tokens: dict[str, str] = {}
        result: list[FixtureInstance] = []
        for index, item in enumerate(self.items(top, "instances", "")):
            path = f"instances[{index}]"
            m = self.mapping(item, path, _INSTANCE_KEYS)
            if m is None:
                continue
            org = self.integer(m, "organization", path)
            user = self.integer(m, "user", path)
            account = self.text(m, "account", path)
            connector = self.text(m, "connector", path, default="dropbox")
            if org and org not in users_of:
                self.add(f"{path}.organization", f"no organization with id {org}")
            elif org and user and user not in users_of[org]:
                self.add(f"{path}.user", f"organization {org} has no user with id {user}")
            if account and account not in account_keys:
                self.add(f"{path}.account", f"no Dropbox account with key {account!r}")
            if connector and connector not in connector_keys:
                self.add(f"{path}.connector", f"no connector {connector!r} in the catalog")
            token = self.text(m, "token", path, default="", pattern=_CREDENTIAL,
                              shape="a valid token (no spaces or commas)")
            self.unique(tokens, token, f"{path}.token", "instance token")
            result.append(
                FixtureInstance(
                    organization=org,
                    user=user,
                    account=account,
                    connector=connector,
                    name=self.text(m, "name", path, default=f"{connector} {account}"),
                    dialect=self.choice(m, "dialect", path, tuple(DIALECTS), DEFAULT_DIALECT.name),
                    token=token or None,
                    tags=self.texts(m, "tags", path),
                    configuration=self.configuration(m.get("configuration"), f"{path}.configuration"),
                    disabled=self.boolean(m, "disabled", path, default=False),
                )
            )
        return tuple(result)

    def configuration(self, value: object, path: str) -> dict[str, str]:
        """Configuration values as the platform stores them: text ("true", "5", ...)."""
        m = self.section(value, path, _AnyKey())
        config: dict[str, str] = {}
        for key, item in m.items():
            if isinstance(item, bool):
                config[key] = "true" if item else "false"
            elif isinstance(item, str | int | float):
                config[key] = str(item)
            else:
                self.add(_join(path, key), f"expected text, true/false or a number, got {_kind(item)}")
        self.event_configuration(config, path)
        return config

    def event_configuration(self, config: Mapping[str, str], path: str) -> None:
        # Only the event keys the emulator acts on are checked; other keys pass through untouched.
        enabled = config.get("event.notification.enabled")
        if enabled is not None and enabled.lower() not in ("true", "false"):
            self.add(_join(path, "event.notification.enabled"), f"expected true or false, got {enabled!r}")
        vendor = config.get("event.vendor.type")
        if vendor is not None and vendor not in ("webhook", "webhooks", "polling"):
            self.add(_join(path, "event.vendor.type"), f"expected webhook or polling, got {vendor!r}")
        interval = config.get("event.poller.refresh_interval")
        if interval is not None and not (interval.isdigit() and int(interval) >= 1):
            self.add(_join(path, "event.poller.refresh_interval"),
                     f"expected a whole number of minutes, got {interval!r}")
        url = config.get("event.notification.callback.url")
        if url is not None and not _HTTP_URL.fullmatch(url):
            self.add(_join(path, "event.notification.callback.url"), f"{url!r} is not an http(s) URL")
        if (enabled or "").lower() == "true" and not url:
            self.add(_join(path, "event.notification.callback.url"),
                     "is required when event.notification.enabled is true")


class _AnyKey(Collection[str]):
    """The allowed-keys argument of a mapping whose keys are free (configuration, extra)."""

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str)

    def __iter__(self) -> Iterator[str]:
        return iter(())

    def __len__(self) -> int:
        return 0


# ----------------------------------------------------------------------------- YAML

if TYPE_CHECKING:
    _LoaderBase = yaml.SafeLoader
else:
    # libyaml's parser is several times faster on large generated fixtures; construction stays Python.
    _LoaderBase = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _FixtureLoader(_LoaderBase):
    """YAML with fewer surprises for fixtures.

    Mapping keys are always the text as written, so file names like `2025-07-14.txt`, `007`
    or `yes` stay names. Plain scalars resolve as YAML 1.2's core schema (true/false, null,
    decimal numbers): `yes`/`no`/`on` stay text and dates stay text for the validator to parse
    with a clear message. Duplicate keys, which YAML silently overwrites, are recorded.
    """

    yaml_implicit_resolvers: dict[str, list[tuple[str, re.Pattern[str]]]] = {}  # noqa: RUF012

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.key_problems: list[tuple[int, str]] = []

    def construct_mapping(self, node: MappingNode, deep: bool = False) -> dict[Hashable, object]:
        seen: set[str] = set()
        merges = False
        for key_node, _ in node.value:
            if isinstance(key_node, ScalarNode):
                if key_node.tag in _MERGE_TAGS:
                    merges = True
                if key_node.tag == _MERGE_TAG:
                    continue
                if key_node.value in seen:
                    self.key_problems.append(
                        (key_node.start_mark.line + 1, f"duplicate key {key_node.value!r}")
                    )
                seen.add(key_node.value)
        if merges:
            self.flatten_mapping(node)  # resolves `<<: *anchor` merges
        result: dict[Hashable, object] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, ScalarNode):
                self.key_problems.append((key_node.start_mark.line + 1, "a key must be plain text"))
            elif value_node.__class__ is ScalarNode and value_node.tag == _STR_TAG:
                # What construct_object makes of a text scalar, without its bookkeeping: a large
                # fixture's tree is mostly text (file contents), and this was a third of its reading.
                result[key_node.value] = value_node.value
            else:
                result[key_node.value] = self.construct_object(value_node, deep=deep)
        return result

    def resolve(self, kind: type[Node], value: str | None, implicit: tuple[bool, bool]) -> str:
        """BaseResolver.resolve for this loader's resolvers (by first character; no path resolvers).

        Called by the parser for every node; the general one cost a large fixture a tenth of its reading.
        """
        if kind is ScalarNode:
            if implicit[0] and value is not None:
                for tag, pattern in self.yaml_implicit_resolvers.get(value[:1], ()):
                    if pattern.match(value):
                        return tag
            return _STR_TAG
        return "tag:yaml.org,2002:seq" if kind is SequenceNode else "tag:yaml.org,2002:map"


_STR_TAG = "tag:yaml.org,2002:str"
_MERGE_TAG = "tag:yaml.org,2002:merge"
# Keys flatten_mapping rewrites: merges (`<<`) and YAML 1.1's value key (`=`).
_MERGE_TAGS = frozenset({_MERGE_TAG, "tag:yaml.org,2002:value"})

for _tag, _pattern, _first in (
    ("tag:yaml.org,2002:bool", r"true|True|TRUE|false|False|FALSE", "tTfF"),
    ("tag:yaml.org,2002:null", r"~|null|Null|NULL|", ["~", "n", "N", ""]),
    # Decimal only, no leading zeros: "007" and "0x1F" stay text (YAML 1.1 would read octal/hex).
    ("tag:yaml.org,2002:int", r"[-+]?(?:0|[1-9][0-9]*)", "-+0123456789"),
    ("tag:yaml.org,2002:float", r"[-+]?(?:[0-9]+\.[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?", "-+0123456789."),
    ("tag:yaml.org,2002:merge", r"<<", "<"),
):
    _FixtureLoader.add_implicit_resolver(_tag, re.compile(f"^(?:{_pattern})$"), list(_first))


def _yaml_problem(source: str, exc: yaml.YAMLError) -> str:
    if isinstance(exc, yaml.MarkedYAMLError) and exc.problem_mark is not None:
        mark = exc.problem_mark
        what = exc.problem or "invalid YAML"
        if exc.context:
            what += f" ({exc.context}"
            what += f" at line {exc.context_mark.line + 1})" if exc.context_mark is not None else ")"
        return f"{source}: line {mark.line + 1}, column {mark.column + 1}: invalid YAML: {what}"
    return f"{source}: invalid YAML: {exc}"


def read_yaml(text: str, source: str) -> tuple[object, list[str]]:
    """Parsed data and the problems the YAML layer alone can see (duplicate keys)."""
    loader = _FixtureLoader(text)
    try:
        data: object = loader.get_single_data()
    except yaml.YAMLError as exc:
        raise FixtureError([_yaml_problem(source, exc)]) from None
    finally:
        loader.dispose()
    return data, [f"{source}: line {line}: {message}" for line, message in loader.key_problems]


# ----------------------------------------------------------------------------- entry points


def parse_fixture(data: object, *, source: str, base_dir: Path) -> Fixture:
    """Validate parsed fixture data; `file:` references resolve against `base_dir`."""
    validator = _Validator(source, base_dir)
    fixture = validator.fixture(data)
    if validator.problems:
        raise FixtureError(validator.problems)
    return fixture


def load_fixture(path: str | Path) -> Fixture:
    """Read, parse and validate a YAML fixture file."""
    source = str(path)
    file = Path(path)
    try:
        raw = file.read_bytes()
    except OSError as exc:
        raise FixtureError([f"{source}: cannot read the file: {exc.strerror or exc}"]) from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise FixtureError([f"{source}: byte {exc.start}: the file is not UTF-8 text"]) from None
    with gc_paused():
        data, yaml_problems = read_yaml(text, source)
        try:
            fixture = parse_fixture(data, source=source, base_dir=file.parent)
        except FixtureError as exc:
            raise FixtureError(yaml_problems + exc.problems) from None
    if yaml_problems:
        raise FixtureError(yaml_problems)
    return fixture


def validate_file(path: str | Path) -> list[str]:
    """Every problem of a fixture file; empty when it loads."""
    try:
        load_fixture(path)
    except FixtureError as exc:
        return exc.problems
    return []
