"""The Python API: start an emulator from code (a background server, or in-process) and drive it.

`Emulator` is a thin client of the control plane (`/_emulator/...`) and of the emulated API, over
httpx. It does nothing the HTTP API cannot do, so a test written with it reads like one written
against the real platform, plus the emulator's side channels (clock, changes "at Dropbox",
deliveries).

    with Emulator.start() as emu:
        instance = emu.provision_dropbox("alice", callback_url="http://127.0.0.1:9000/hook")
        emu.dropbox("alice").upload("/Notes/a.txt", b"hi")
        [delivered] = emu.wait_for_deliveries(1)
"""

from __future__ import annotations

import asyncio
import base64
import http.client
import json
import threading
import time
from collections.abc import Coroutine, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal, Protocol, TypeVar
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx

from emulator.dialects import DIALECTS

if TYPE_CHECKING:
    from emulator.runtime import Runtime, RuntimeOptions
    from emulator.transport import SendResult

T = TypeVar("T")
ClockName = Literal["manual", "real"]
Isolation = Literal["tenant", "reset"]
DEFAULT_TENANT = "default"
# The guide's example app, used when the fixture registers no OAuth app (then any key is accepted).
GUIDE_API_KEY = "fake_Dropbox_api_key"
GUIDE_API_SECRET = "fake_Dropbox_api_secret"
DEFAULT_REDIRECT_URI = "http://127.0.0.1/oauth/callback"
# `.invalid` never resolves (RFC 2606): in-process requests carry this origin and reach no socket.
IN_PROCESS_ORIGIN = "http://hub-emulator.invalid"
REQUEST_TIMEOUT = 30.0  # seconds, for one control-plane or API call
WAIT_SLACK = 10.0  # seconds a long-poll request may take beyond the wait it asks for


class EmulatorError(Exception):
    """The emulator answered an error: `status` and the parsed error `body` say which."""

    def __init__(self, status: int, body: Any, what: str) -> None:
        message = body.get("message") if isinstance(body, Mapping) else None
        super().__init__(f"{what}: HTTP {status}: {message or body}")
        self.status = status
        self.body = body


class WaitTimeout(TimeoutError):
    """A wait ended before what it waited for happened; `found` is what had happened by then."""

    def __init__(self, message: str, found: Sequence[Any]) -> None:
        super().__init__(message)
        self.found = list(found)


class ScenarioFailed(AssertionError):
    """A scenario run that did not pass; `report` is its JSON report."""

    def __init__(self, report: Mapping[str, Any]) -> None:
        failed = [s for s in report.get("steps", []) if s.get("status") == "failed"]
        detail = "; ".join(f"{s.get('name')}: {s.get('message') or s.get('error')}" for s in failed)
        super().__init__(f"scenario {report.get('name')!r} failed: {detail}")
        self.report = dict(report)


@dataclass(frozen=True)
class Secrets:
    """Who the client is: the organization and user secrets, and the OAuth app (`apiKey`/`apiSecret`)."""

    organization: str
    user: str
    api_key: str = GUIDE_API_KEY
    api_secret: str = GUIDE_API_SECRET
    redirect_uri: str = DEFAULT_REDIRECT_URI

    @property
    def authorization(self) -> str:
        return f"User {self.user}, Organization {self.organization}"

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": self.authorization}


@dataclass(frozen=True)
class ClientConfig:
    """Everything an app under test is configured with, as against the real platform: where the API
    is, whom the app speaks for, and its OAuth app. `Emulator.client_config` (and so the pytest
    plugin's `hub_emulator.client_config`) gives the one of its tenant.

    A client written from the guide alone, configured from this object, lands in its own tenant:
    Step 1 needs no Authorization, because the tenant is known from `api_key`.
    """

    base_url: str  # the API root, e.g. http://127.0.0.1:54321/elements/api-v2
    guide_base_url: str  # the same API as the guide spells it: .../your_moms/api-v2
    user_secret: str
    organization_secret: str
    api_key: str  # the guide's apiKey (oauth.api.key)
    api_secret: str  # the guide's apiSecret (oauth.api.secret)
    redirect_uri: str  # a callbackUrl the fake Dropbox accepts for this app

    @property
    def authorization(self) -> str:
        """`User <user secret>, Organization <organization secret>`, as Step 2 sends it."""
        return f"User {self.user_secret}, Organization {self.organization_secret}"

    def as_env(self, prefix: str = "HUB_") -> dict[str, str]:
        """The same as environment variables (`HUB_BASE_URL`, `HUB_USER_SECRET`, ...), for an app
        under test that runs as another process."""
        names = {
            "BASE_URL": self.base_url,
            "GUIDE_BASE_URL": self.guide_base_url,
            "USER_SECRET": self.user_secret,
            "ORGANIZATION_SECRET": self.organization_secret,
            "API_KEY": self.api_key,
            "API_SECRET": self.api_secret,
            "REDIRECT_URI": self.redirect_uri,
        }
        return {prefix + name: value for name, value in names.items()}


@dataclass(frozen=True)
class ProvisionedInstance:
    """A provisioned instance: its id and token, and the platform's JSON answer as `body`."""

    id: int
    token: str
    account: str
    dialect: str
    base_url: str
    secrets: Secrets
    body: dict[str, Any]

    @property
    def authorization(self) -> str:
        """The hub calls' Authorization: `User <u>, Organization <o>, Element <token>`."""
        word = DIALECTS[self.dialect].auth_word
        return f"{self.secrets.authorization}, {word} {self.token}"

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": self.authorization}

    @property
    def hub_url(self) -> str:
        return self.base_url + "/hubs/documents"


class _Backend(Protocol):
    url: str

    def client(self, **options: Any) -> httpx.Client: ...

    def close(self) -> None: ...


class _ControlChannel:
    """One keep-alive connection for the API's own control calls (a tenant per test, the clock...).

    The standard library's client: on loopback a call costs about a third of what httpx's does
    (measured 0.35 ms against 1.2 ms for the health route), and a pytest suite makes two or more
    such calls per test. A lock keeps the connection to one caller at a time.
    """

    def __init__(self, url: str, timeout: float) -> None:
        parts = urlsplit(url)
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or 80
        self.timeout = timeout
        self._lock = threading.Lock()
        self._connection: http.client.HTTPConnection | None = None

    def request(
        self, method: str, target: str, body: bytes | None, headers: Mapping[str, str]
    ) -> tuple[int, bytes]:
        with self._lock:
            reused = self._connection is not None
            try:
                return self._exchange(method, target, body, headers)
            except (ConnectionError, http.client.HTTPException):
                self.close()
                if not reused:
                    raise
            # A kept connection the server had closed meanwhile (its keep-alive timeout): the
            # request never reached it, so it is sent once more, on a new connection.
            return self._exchange(method, target, body, headers)

    def _exchange(
        self, method: str, target: str, body: bytes | None, headers: Mapping[str, str]
    ) -> tuple[int, bytes]:
        if self._connection is None:
            self._connection = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        self._connection.request(method, target, body=body, headers=dict(headers))
        answer = self._connection.getresponse()
        data = answer.read()
        if answer.will_close:
            self.close()
        return answer.status, data

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None


class _Shared:
    """What every view of one emulator shares: its backend, one HTTP client, its default secrets."""

    def __init__(self, backend: _Backend, secrets: Secrets) -> None:
        self.backend = backend
        # Generous: a loaded CI machine is slow, and a long wait has its own timeout anyway.
        self.http = backend.client(follow_redirects=False, timeout=REQUEST_TIMEOUT)
        # Over a socket, control calls take the lean channel; in-process ones go through httpx's
        # ASGI transport, which has no socket to keep.
        self.channel = (
            _ControlChannel(backend.url, REQUEST_TIMEOUT) if isinstance(backend, _ServerBackend) else None
        )
        self.secrets = secrets
        self.closed = False

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.http.close()
            if self.channel is not None:
                self.channel.close()
            self.backend.close()


class Emulator:
    """A running emulator, seen as one tenant: the fixture's own (`tenant == "default"`) or a fresh one.

    Made by `Emulator.start(...)`; `new_tenant()` gives another view of the same server with its
    own organization, secrets and copy of the fixture's Dropbox accounts.
    """

    def __init__(self, shared: _Shared, tenant: str, secrets: Secrets) -> None:
        self._shared = shared
        self.tenant = tenant
        self.secrets = secrets
        self.clock = EmulatorClock(self)

    # -- lifecycle -------------------------------------------------------------------------
    @classmethod
    def start(
        cls,
        fixtures: str | Path | None = None,
        clock: ClockName = "manual",
        *,
        in_process: bool = False,
        host: str = "127.0.0.1",
        port: int = 0,
        options: RuntimeOptions | None = None,
        timeout: float = 30.0,
        dropbox_api: bool = False,
    ) -> Emulator:
        """Start an emulator on `fixtures` (default: the default fixture), ready when this returns.

        By default a uvicorn server in a background thread on a free port of `host`. With
        `in_process=True`, no socket at all: this object's requests go straight into the app
        (an ASGI transport) on a loop thread; callbacks still go out over real HTTP.
        `dropbox_api=True` also serves the Dropbox API v2 surface over HTTPS on a free port
        (`dropbox_api_host`, `dropbox_ca_file`), for the official Dropbox SDK (not in-process).
        """
        from emulator.assemble import default_fixture_path, state_seed
        from emulator.loading import load_fixture
        from emulator.runtime import Runtime, RuntimeOptions

        path = Path(fixtures) if fixtures is not None else default_fixture_path()
        settings = replace(options or RuntimeOptions(), clock_mode=clock)
        seed = state_seed(load_fixture(path))
        backend: _Backend
        if in_process and dropbox_api:
            raise ValueError("the Dropbox API surface needs a socket: it cannot run in-process")
        if in_process:
            sender = _LoopbackSender(IN_PROCESS_ORIGIN)
            runtime = Runtime(seed, source=str(path), options=settings, sender=sender)
            backend = _InProcessBackend(runtime, sender, timeout)
        else:
            runtime = Runtime(seed, source=str(path), options=settings)
            backend = _ServerBackend(runtime, host, port, timeout, dropbox_api)
        secrets = _fixture_secrets(runtime)
        return cls(_Shared(backend, secrets), DEFAULT_TENANT, secrets)

    def stop(self) -> None:
        """Stop the emulator (every view of it); calling it again does nothing."""
        self._shared.close()

    def __enter__(self) -> Emulator:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.stop()

    # -- where it is ---------------------------------------------------------------------------
    @property
    def url(self) -> str:
        """The origin, e.g. `http://127.0.0.1:54321` (in-process: `http://hub-emulator.invalid`)."""
        return self._shared.backend.url

    @property
    def dropbox_api_host(self) -> str | None:
        """`host:port` of the Dropbox API surface (for DROPBOX_API_HOST and friends), if it is on."""
        backend = self._shared.backend
        return backend.thread.dropbox_api_host if isinstance(backend, _ServerBackend) else None

    @property
    def dropbox_ca_file(self) -> str | None:
        """The CA file that signed the Dropbox API surface's certificate (the SDK's `ca_certs`)."""
        backend = self._shared.backend
        return backend.thread.dropbox_ca_file if isinstance(backend, _ServerBackend) else None

    def base_url(self, dialect: str = "elements") -> str:
        """The API's base URL in a dialect: `.../elements/api-v2` or `.../your_moms/api-v2`."""
        return self.url + DIALECTS[dialect].base

    @property
    def client_config(self) -> ClientConfig:
        """What an app under test is configured with for this tenant: base URLs, secrets, OAuth app."""
        secrets = self.secrets
        return ClientConfig(
            base_url=self.base_url("elements"),
            guide_base_url=self.base_url("your_moms"),
            user_secret=secrets.user,
            organization_secret=secrets.organization,
            api_key=secrets.api_key,
            api_secret=secrets.api_secret,
            redirect_uri=secrets.redirect_uri,
        )

    @property
    def http(self) -> httpx.Client:
        """An httpx client on this emulator (relative URLs work); shared, do not close it."""
        return self._shared.http

    def client(self, **options: Any) -> httpx.Client:
        """A new httpx client on this emulator, socket or in-process alike; the caller closes it."""
        return self._shared.backend.client(**options)

    def hub_client(self, instance: ProvisionedInstance) -> httpx.Client:
        """A new client for the Documents hub of `instance`, its Authorization set; the caller closes it."""
        return self.client(base_url=instance.hub_url, headers=instance.headers)

    # -- state -----------------------------------------------------------------------------------
    def reset(self) -> None:
        """Back to the fixture: the whole emulator for the default tenant, else this tenant alone."""
        if self.tenant == DEFAULT_TENANT:
            self._call("POST", "/_emulator/reset")
        else:
            self._call("POST", f"/_emulator/tenants/{self.tenant}/reset")

    def delete_tenant(self) -> None:
        """This tenant gone for good (its instances, secrets and accounts); not the default tenant."""
        self._call("DELETE", f"/_emulator/tenants/{self.tenant}")

    def new_tenant(self) -> Emulator:
        """A view of this emulator as a fresh organization with its own copy of the Dropbox accounts."""
        made = self._call("POST", "/_emulator/tenants")
        defaults = self._shared.secrets
        secrets = replace(
            defaults,
            organization=made["organizationSecret"],
            user=made["userSecret"],
            api_key=made["apiKey"],
            api_secret=made["apiSecret"],
        )
        return Emulator(self._shared, str(made["id"]), secrets)

    def dropbox(self, account: str) -> DropboxAccountClient:
        """One fake Dropbox account of this tenant, to change "at Dropbox" and to read."""
        return DropboxAccountClient(self, account)

    def run_scenario(self, name: str, *, check: bool = True) -> dict[str, Any]:
        """Run a scenario by name on this emulator; its report. Raises ScenarioFailed unless `check=False`."""
        answer = self.http.post(f"/_emulator/scenarios/{name}/run", timeout=None)
        if answer.status_code not in (200, 422):
            raise EmulatorError(answer.status_code, _body(answer), f"scenario {name}")
        report: dict[str, Any] = answer.json()
        if check and answer.status_code != 200:
            raise ScenarioFailed(report)
        return report

    # -- provisioning ------------------------------------------------------------------------
    def oauth_code(self, account: str = "alice", *, dialect: str = "elements", state: str = "dropbox") -> str:
        """Steps a browser takes: the guide's Step 1 (the oauthUrl), then Allow on the consent page."""
        secrets = self.secrets
        params = {
            "apiKey": secrets.api_key,
            "apiSecret": secrets.api_secret,
            "callbackUrl": secrets.redirect_uri,
            "state": state,
        }
        # The tenant's Authorization makes the consent page and the code this tenant's.
        step1 = self._call(
            "GET",
            f"{self.base_url(dialect)}/{dialect}/dropbox/oauth/url",
            params=params,
            headers=secrets.headers,
        )
        page = self.http.get(step1["oauthUrl"])
        if page.status_code != 302:  # `consent: auto` redirects at once; `page` shows the form
            page = self.http.post(step1["oauthUrl"], data={"decision": "allow", "account": account})
        if page.status_code != 302:
            raise EmulatorError(page.status_code, page.text, "the consent page")
        query = parse_qs(urlsplit(page.headers["location"]).query)
        if "code" not in query:
            raise EmulatorError(page.status_code, query, "the consent page gave no code")
        return query["code"][0]

    def provision_dropbox(
        self,
        account: str = "alice",
        *,
        callback_url: str | None = None,
        vendor: Literal["webhook", "polling"] = "webhook",
        refresh_interval: int | None = None,
        signature_key: str | None = None,
        dialect: str = "elements",
        name: str | None = None,
        tags: Iterable[str] = (),
        configuration: Mapping[str, str] | None = None,
        **config: str,
    ) -> ProvisionedInstance:
        """Provision a Dropbox instance the way a client app does: OAuth URL, consent, `POST /instances`.

        With `callback_url`, events are on and go there (`vendor` webhook or polling, every
        `refresh_interval` minutes). `configuration` and `**config` add configuration keys as given
        (`**{"document.tagging": "true"}`).
        """
        code = self.oauth_code(account, dialect=dialect)
        settings = {
            "oauth.callback.url": self.secrets.redirect_uri,
            "oauth.api.key": self.secrets.api_key,
            "oauth.api.secret": self.secrets.api_secret,
            **_event_settings(callback_url, vendor, refresh_interval, signature_key),
            **(configuration or {}),
            **config,
        }
        body = {
            DIALECTS[dialect].singular: {"key": "dropbox"},
            "providerData": {"code": code},
            "configuration": settings,
            "tags": list(tags),
            "name": name or f"{account}'s Dropbox",
        }
        base = self.base_url(dialect)
        made = self._call("POST", f"{base}/instances", json=body, headers=self.secrets.headers)
        return ProvisionedInstance(
            int(made["id"]), str(made["token"]), account, dialect, base, self.secrets, made
        )

    def instances(self) -> list[dict[str, Any]]:
        """This tenant's instances, as `GET /instances` lists them."""
        found: list[dict[str, Any]] = self._call(
            "GET", f"{self.base_url()}/instances", headers=self.secrets.headers
        )
        return found

    # -- deliveries -----------------------------------------------------------------------------
    def deliveries(
        self, *, instance_id: int | None = None, status: str | None = None, url: str | None = None
    ) -> list[dict[str, Any]]:
        """The delivery journal's notifications (each with its body and attempts), oldest first.

        A tenant's view lists its own instances' notifications only.
        """
        filters = _filters(status=status, url=url)
        ids = [instance_id] if instance_id is not None else self._own_instance_ids()
        if ids is None:
            found: list[dict[str, Any]] = self._call("GET", "/_emulator/deliveries", params=filters)
            return found
        merged = [
            n
            for i in ids
            for n in self._call("GET", "/_emulator/deliveries", params={**filters, "instanceId": i})
        ]
        return sorted(merged, key=lambda n: int(n["notificationId"]))

    def wait_for_deliveries(
        self,
        count: int = 1,
        *,
        instance_id: int | None = None,
        status: str | None = None,
        url: str | None = None,
        attempts: int | None = None,
        timeout: float = 10.0,
    ) -> list[dict[str, Any]]:
        """Wait (long-poll, no sleeping) until `count` notifications are delivered, or until the
        matching notifications have `attempts` finished attempts; the matches. Raises WaitTimeout.

        `status` defaults to delivered (to any with `attempts`). A tenant's view waits on its one
        instance unless given `instance_id` or `url`.
        """
        if instance_id is None and url is None:
            instance_id = self._only_instance_id()
        params = _filters(count=count, instanceId=instance_id, status=status, url=url, attempts=attempts)
        answer = self.http.get(
            "/_emulator/deliveries/wait", params={**params, "timeout": timeout}, timeout=timeout + WAIT_SLACK
        )
        if answer.status_code == 408:
            found = answer.json()["deliveries"]
            wanted = f"{attempts} attempts" if attempts is not None else f"{count} deliveries"
            raise WaitTimeout(f"waited {timeout:g} s for {wanted}; {len(found)} matched", found)
        deliveries: list[dict[str, Any]] = _checked(answer, "waiting for deliveries")["deliveries"]
        return deliveries

    def _own_instance_ids(self) -> list[int] | None:
        """None for the default tenant (it sees everything), else this tenant's instance ids."""
        if self.tenant == DEFAULT_TENANT:
            return None
        return [int(i["id"]) for i in self.instances()]

    def _only_instance_id(self) -> int | None:
        ids = self._own_instance_ids()
        if ids is None:
            return None
        if len(ids) != 1:
            raise ValueError(
                f"tenant {self.tenant} has {len(ids)} instances: say which with instance_id= (or url=)"
            )
        return ids[0]

    # -- plumbing --------------------------------------------------------------------------------
    def _call(self, method: str, url: str, **options: Any) -> Any:
        channel = self._shared.channel
        if channel is None or not url.startswith("/") or not set(options) <= {"json", "params", "headers"}:
            return _checked(self.http.request(method, url, **options), f"{method} {url}")
        headers = dict(options.get("headers") or {})
        body = None
        if options.get("json") is not None:
            body = json.dumps(options["json"]).encode()
            headers["Content-Type"] = "application/json"
        params = options.get("params")
        target = url + ("?" + urlencode(params, doseq=True) if params else "")
        status, data = channel.request(method, target, body, headers)
        return _answered(status, _parsed(data), f"{method} {url}")

    def __repr__(self) -> str:
        return f"<Emulator {self.url} tenant={self.tenant}>"


class EmulatorClock:
    """The emulator's one clock. In `manual` mode it moves only when told: time in tests."""

    def __init__(self, emulator: Emulator) -> None:
        self._emulator = emulator

    def info(self) -> dict[str, Any]:
        """`{"now", "iso", "mode", "scale", "pendingTimers", "nextDue"}`."""
        found: dict[str, Any] = self._emulator._call("GET", "/_emulator/clock")
        return found

    def now(self) -> float:
        """Emulator time, in seconds since the epoch."""
        return float(self.info()["now"])

    def advance(self, seconds: float = 0.0, *, minutes: float = 0.0, hours: float = 0.0) -> int:
        """Move forward, running every timer that falls due in time order; how many ran."""
        body = {"seconds": seconds, "minutes": minutes, "hours": hours}
        return int(self._emulator._call("POST", "/_emulator/clock/advance", json=body)["timersRun"])

    def set(self, now: float | str) -> int:
        """Jump forward to `now` (epoch seconds or ISO 8601); how many timers ran."""
        return int(self._emulator._call("POST", "/_emulator/clock", json={"now": now})["timersRun"])

    def advance_to_next_retry(
        self, *, instance_id: int | None = None, url: str | None = None, timeout: float = 10.0
    ) -> dict[str, Any]:
        """A retry in one call: wait for the attempts due now (a failed one schedules its retry only
        once answered), move the clock to the next scheduled retry and wait until it is answered.

        Answers the retried notification (its `attempts` include the new one). A tenant's view
        retries its one instance's callbacks unless given `instance_id` or `url`. Raises
        `EmulatorError` (409) when no retry is scheduled, `WaitTimeout` when attempts do not settle.
        """
        emulator = self._emulator
        if instance_id is None and url is None:
            instance_id = emulator._only_instance_id()
        params = _filters(instanceId=instance_id, url=url)
        answer = emulator.http.post(
            "/_emulator/deliveries/next-retry",
            params={**params, "timeout": timeout},
            timeout=timeout * 2 + WAIT_SLACK,
        )
        if answer.status_code == 408:
            raise WaitTimeout(f"waited {timeout:g} s for the next retry: {_body(answer)}", [])
        notification: dict[str, Any] = _checked(answer, "advancing to the next retry")["notification"]
        return notification


class DropboxAccountClient:
    """One fake Dropbox account: changes made here are a user acting in the Dropbox app."""

    def __init__(self, emulator: Emulator, key: str) -> None:
        self._emulator = emulator
        self.key = key

    @property
    def _base(self) -> str:
        return f"/_emulator/providers/dropbox/accounts/{self.key}"

    @property
    def _tenant(self) -> dict[str, str]:
        return {"tenant": self._emulator.tenant}

    def operate(self, operation: Mapping[str, Any]) -> dict[str, Any]:
        """Run one operation body (`{"op": "upload", "path": ..., "content": ...}`); its metadata."""
        answer = self._emulator._call("POST", self._base + "/operations", params=self._tenant, json=operation)
        metadata: dict[str, Any] = answer["metadata"]
        return metadata

    def upload(
        self,
        path: str,
        data: bytes | str,
        *,
        mode: Literal["add", "overwrite"] = "overwrite",
        autorename: bool = False,
        modified: str | None = None,
    ) -> dict[str, Any]:
        """Write a file (text is UTF-8); missing parent folders are created, as Dropbox does."""
        raw = data.encode("utf-8") if isinstance(data, str) else data
        operation: dict[str, Any] = {"op": "upload", "path": path, "base64": base64.b64encode(raw).decode()}
        operation.update(mode=mode, autorename=autorename)
        if modified is not None:
            operation["modified"] = modified
        return self.operate(operation)

    def mkdir(self, path: str, *, autorename: bool = False) -> dict[str, Any]:
        return self.operate({"op": "mkdir", "path": path, "autorename": autorename})

    def delete(self, path: str) -> dict[str, Any]:
        return self.operate({"op": "delete", "path": path})

    def move(self, path: str, to: str, *, autorename: bool = False) -> dict[str, Any]:
        return self.operate({"op": "move", "path": path, "to": to, "autorename": autorename})

    def copy(self, path: str, to: str, *, autorename: bool = False) -> dict[str, Any]:
        return self.operate({"op": "copy", "path": path, "to": to, "autorename": autorename})

    def tree(self) -> list[dict[str, Any]]:
        """Every file and folder of the account (Dropbox metadata), parents before children."""
        entries: list[dict[str, Any]] = self._emulator._call(
            "GET", self._base + "/tree", params=self._tenant
        )["entries"]
        return entries

    def changes(self, cursor: int = 0, limit: int | None = None) -> dict[str, Any]:
        """The change log after `cursor`: `{"changes", "cursor", "hasMore"}`."""
        params = {**self._tenant, "cursor": cursor, **({} if limit is None else {"limit": limit})}
        found: dict[str, Any] = self._emulator._call("GET", self._base + "/changes", params=params)
        return found


# -- helpers -----------------------------------------------------------------------------------
def _body(answer: httpx.Response) -> Any:
    return _parsed(answer.content)


def _parsed(data: bytes) -> Any:
    """An answer's JSON, or its text when it is no JSON (an empty answer included)."""
    try:
        return json.loads(data)
    except ValueError:
        return data.decode(errors="replace")


def _checked(answer: httpx.Response, what: str) -> Any:
    return _answered(answer.status_code, _body(answer), what)


def _answered(status: int, body: Any, what: str) -> Any:
    if status >= 400:
        raise EmulatorError(status, body, what)
    return body


def _filters(**values: object) -> dict[str, str | int]:
    return {k: v for k, v in values.items() if isinstance(v, (str, int)) and not isinstance(v, bool)}


def _event_settings(
    callback_url: str | None, vendor: str, refresh_interval: int | None, signature_key: str | None
) -> dict[str, str]:
    if callback_url is None:
        return {}
    settings = {
        "event.notification.enabled": "true",
        "event.notification.callback.url": callback_url,
        "event.vendor.type": vendor,
    }
    if refresh_interval is not None:
        settings["event.poller.refresh_interval"] = str(refresh_interval)
    if signature_key is not None:
        settings["event.notification.signature.key"] = signature_key
    return settings


def _fixture_secrets(runtime: Runtime) -> Secrets:
    """The fixture's first organization and user, and its first OAuth app (if it lists any)."""
    seed = runtime.state.seed
    org = seed.organizations[0]
    app = seed.apps[0] if seed.apps else None
    if app is None:
        return Secrets(org.secret, org.users[0].secret)
    redirect = app.redirect_uris[0] if app.redirect_uris else DEFAULT_REDIRECT_URI
    return Secrets(org.secret, org.users[0].secret, app.key, app.secret, redirect)


# -- backends: where the server runs -------------------------------------------------------------
class _ServerBackend:
    """uvicorn in a background thread on a real socket (emulator.server.ServerThread)."""

    def __init__(self, runtime: Runtime, host: str, port: int, timeout: float, dropbox_api: bool) -> None:
        from emulator.server import ServerThread

        self.thread = ServerThread(runtime, host, port, dropbox_api_port=0 if dropbox_api else None)
        self.thread.start(timeout)
        self.url = self.thread.url

    def client(self, **options: Any) -> httpx.Client:
        return httpx.Client(**{"base_url": self.url, "trust_env": False, **options})

    def close(self) -> None:
        self.thread.stop()


class _LoopThread:
    """An asyncio loop in a daemon thread, for the in-process runtime's clock driver and deliveries."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="hub-emulator-loop", daemon=True)
        self._thread.start()

    def call(self, work: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
        return asyncio.run_coroutine_threadsafe(work, self.loop).result(timeout)

    def close(self) -> None:
        self.call(_cancel_the_rest())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join()
        self.loop.close()


async def _cancel_the_rest() -> None:
    tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


class _AppTransport(httpx.BaseTransport):
    """A sync httpx transport that hands each request to the ASGI app on the loop thread."""

    def __init__(self, app: Any, loop: _LoopThread) -> None:
        self._asgi = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        self._loop = loop

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        content = request.read()
        status, headers, raw = self._loop.call(
            self._send(request.method, request.url, request.headers.multi_items(), content)
        )
        return httpx.Response(status, headers=headers, content=raw, request=request)

    async def _send(
        self, method: str, url: httpx.URL, headers: list[tuple[str, str]], content: bytes
    ) -> tuple[int, list[tuple[str, str]], bytes]:
        answer = await self._asgi.handle_async_request(
            httpx.Request(method, url, headers=headers, content=content)
        )
        raw = b"".join([chunk async for chunk in answer.aiter_raw()])
        return answer.status_code, answer.headers.multi_items(), raw


class _LoopbackSender:
    """Callbacks to the in-process origin (the built-in sinks) go into the app; the rest over HTTP."""

    def __init__(self, origin: str) -> None:
        from emulator.transport import HttpxSender

        self.origin = origin
        self.app: Any = None
        self._http = HttpxSender()

    async def send(self, url: str, headers: Mapping[str, str], body: bytes, timeout: float) -> SendResult:
        if self.app is None or not url.startswith(self.origin + "/"):
            return await self._http.send(url, headers, body, timeout)
        from emulator.transport import SendResult

        started = time.perf_counter()
        transport = httpx.ASGITransport(app=self.app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, timeout=timeout) as client:
            answer = await client.post(url, headers=dict(headers), content=body)
        latency = (time.perf_counter() - started) * 1000
        return SendResult(answer.status_code, None, latency, answer.text[:500])

    async def aclose(self) -> None:
        await self._http.aclose()


class _InProcessBackend:
    """No socket: requests go through an ASGI transport into the app, whose runtime runs on a loop thread."""

    url = IN_PROCESS_ORIGIN

    def __init__(self, runtime: Runtime, sender: _LoopbackSender, timeout: float) -> None:
        from emulator.web.app import create_app

        self.runtime = runtime
        self.sender = sender
        self.app = create_app(runtime)
        sender.app = self.app
        self.loop = _LoopThread()
        # ASGITransport runs no lifespan: start the runtime (clock driver, deliveries) here instead.
        self.loop.call(runtime.start(), timeout)

    def client(self, **options: Any) -> httpx.Client:
        return httpx.Client(
            **{"base_url": self.url, "transport": _AppTransport(self.app, self.loop), **options}
        )

    def close(self) -> None:
        self.loop.call(self._stop())
        self.loop.close()

    async def _stop(self) -> None:
        await self.runtime.stop()
        await self.sender.aclose()
