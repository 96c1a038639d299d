"""Runs a scenario's steps in order over HTTP, and reports each: the entry points `run_scenario` and
`run_in_process` (an emulator on a free port in this process, reached over real HTTP)."""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import time
from collections.abc import Awaitable, Callable, Mapping
from contextlib import AbstractContextManager
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, quote, urlsplit

import httpx

from emulator.dialects import DIALECTS
from emulator.loading import FixtureError
from emulator.scenarios._format import header_values, short, snippet
from emulator.scenarios.expect import Expectation, expect_sink, matches
from emulator.scenarios.model import Scenario, ScenarioError, ScenarioReport, Step, StepFailure, StepReport
from emulator.scenarios.templates import IDENTIFIER, SinkUrls, lookup, render
from emulator.scenarios.vocabulary import MAX_SLEEP_SECONDS, coerce

if TYPE_CHECKING:
    from emulator.runtime import Runtime

# Serves a built emulator on this machine for the duration of the `with`; yields its origin URL.
ServeRuntime = Callable[["Runtime"], AbstractContextManager[str]]

# The guide's OAuth app, as the default fixture registers it; `provision` may name another.
DEFAULT_OAUTH = {
    "api_key": "fake_Dropbox_api_key",
    "api_secret": "fake_Dropbox_api_secret",
    "callback_url": "https://www.mycoolapp.com/auth",
}

Output = dict[str, Any]  # what a step gives `save`: {"status", "body", "headers"} or {"body"}
Handler = Callable[[dict[str, Any]], Awaitable[tuple[Output, str]]]


class Runner:
    """Runs one scenario's steps, in order, against `client` (an `httpx.AsyncClient` on the emulator).

    `base` is the emulator's origin as callbacks reach it: it fills `{{base}}` and `{{sink}}`.
    """

    def __init__(self, scenario: Scenario, client: httpx.AsyncClient, base: str) -> None:
        self.scenario = scenario
        self.client = client
        self.base = base.rstrip("/")
        self.values: dict[str, Any] = dict(scenario.variables)
        self.dialects: dict[str, str] = {}  # instance token -> dialect it was provisioned in
        self._account: str | None = scenario.account
        self._restore_clock: dict[str, Any] | None = None
        self.handlers: dict[str, Handler] = {
            "provision": self._provision,
            "hub": self._hub,
            "request": self._request,
            "dropbox": self._dropbox,
            "clock": self._clock,
            "sleep": self._sleep,
            "fault": self._fault,
            "trigger": self._trigger,
            "sink": self._sink,
            "redeliver": self._redeliver,
            "policy": self._policy,
            "expect": self._expect,
        }

    # -- the run -------------------------------------------------------------------------
    async def run(self) -> ScenarioReport:
        report = ScenarioReport(self.scenario.name, str(self.scenario.file), self.base)
        started = time.perf_counter()
        try:
            prepared = await self._timed(
                StepReport(0, "prepare the emulator", "prepare", "passed"), self._prepare
            )
            failed = prepared.status == "failed"
            if failed:
                report.steps.append(prepared)
            for step in self.scenario.steps:
                result = StepReport(step.number, step.name, step.action, "skipped" if failed else "passed")
                if not failed:
                    result = await self._timed(result, partial(self._step, step))
                    failed = result.status == "failed"
                report.steps.append(result)
        finally:
            await self._restore()
            report.duration_ms = (time.perf_counter() - started) * 1000
        return report

    async def _timed(self, report: StepReport, work: Callable[[], Awaitable[str]]) -> StepReport:
        started = time.perf_counter()
        try:
            report.message = await work()
        except StepFailure as failure:
            report.status = "failed"
            report.message = failure.message
            report.expected, report.received = failure.expected, failure.received
        except httpx.HTTPError as problem:
            report.status = "failed"
            report.message = f"HTTP error talking to the emulator: {type(problem).__name__}: {problem}"
        except Exception as problem:  # e.g. a filled-in value of the wrong type: a report, never a trace
            report.status = "failed"
            report.message = f"{type(problem).__name__}: {problem}"
        report.duration_ms = (time.perf_counter() - started) * 1000
        return report

    async def _prepare(self) -> str:
        done: list[str] = []
        if self.scenario.reset:
            await self._control("POST", "/_emulator/reset")
            done.append("reset")
        if self.scenario.clock == "manual":
            clock = (await self._control("GET", "/_emulator/clock")).json()
            if clock["mode"] != "manual":
                self._restore_clock = {"mode": clock["mode"], "scale": clock["scale"]}
                await self._control("POST", "/_emulator/clock", json={"mode": "manual"})
            done.append("manual clock")
        return ", ".join(done)

    async def _restore(self) -> None:
        if self._restore_clock is not None:
            # The report already says what went wrong, if anything; the emulator may be gone.
            with contextlib.suppress(StepFailure, httpx.HTTPError):
                await self._control("POST", "/_emulator/clock", json=self._restore_clock)

    def context(self, index: int = 1) -> dict[str, Any]:
        """What templates see; `i` counts a repeated step's runs from 1."""
        return {
            **self.values,
            "base": self.base,
            "sink": self.base + self.scenario.sink_url_path,
            "sinks": SinkUrls(self.base),
            "scenario": self.scenario.name,
            "vars": self.values,
            "i": index,
        }

    async def _step(self, step: Step) -> str:
        outputs: list[Output] = []
        message = ""
        for index in range(1, step.repeat + 1):
            args = coerce(step.action, render(dict(step.args), self.context(index)))
            output, message = await self.handlers[step.action](args)
            outputs.append(output)
        if step.save_as:
            picked = [lookup(o, step.save_from) for o in outputs]
            self.values[step.save_as] = picked if step.repeat > 1 else picked[0]
        return f"{step.repeat} times; last: {message}" if step.repeat > 1 else message

    # -- HTTP helpers ----------------------------------------------------------------------
    def _platform_auth(self, token: str | None = None, dialect: str = "elements") -> dict[str, str]:
        creds = self.scenario.credentials
        value = f"User {creds['user']}, Organization {creds['organization']}"
        if token is not None:
            value += f", {DIALECTS[dialect].auth_word} {token}"
        return {"Authorization": value}

    async def _control(
        self, method: str, path: str, *, json: Any = None, params: Mapping[str, Any] | None = None
    ) -> httpx.Response:
        response = await self.client.request(method, self.base + path, json=json, params=params)
        if not response.is_success:
            raise StepFailure(
                f"{method} {path} answered {response.status_code}: {snippet(response)}",
                expected="2xx",
                received=response.status_code,
            )
        return response

    async def _call(self, method: str, url: str, expected: Any, **kwargs: Any) -> Output:
        response = await self.client.request(method, url, **kwargs)
        output = _output(response)
        if not _status_ok(response.status_code, expected):
            where = urlsplit(url).path
            raise StepFailure(
                f"{method} {where} answered {response.status_code}, expected {_status_text(expected)}: "
                f"{snippet(response)}",
                expected=expected if expected is not None else "2xx",
                received={"status": response.status_code, "body": output["body"]},
            )
        return output

    def _check_body(self, expected: Any, output: Output) -> None:
        received = output["body"]
        if expected is not None and not matches(expected, received):
            raise StepFailure(
                f"the answer's body does not match: expected {short(expected)}, received {short(received)}",
                expected=expected,
                received=output["body"],
            )

    # -- provisioning ------------------------------------------------------------------------
    async def _provision(self, args: dict[str, Any]) -> tuple[Output, str]:
        dialect = args.get("dialect", self.scenario.dialect)
        base = self.base + DIALECTS[dialect].base
        oauth = {k: args.get(k, v) for k, v in DEFAULT_OAUTH.items()}
        connector = args.get("connector", "dropbox")
        account = args.get("account") or self.scenario.account
        code = await self._oauth_code(base, dialect, connector, oauth, account)
        config = {
            "oauth.callback.url": oauth["callback_url"],
            "oauth.api.key": oauth["api_key"],
            "oauth.api.secret": oauth["api_secret"],
            **args.get("config", {}),
        }
        body = {
            DIALECTS[dialect].singular: {"key": connector},
            "providerData": {"code": code},
            "configuration": config,
            "tags": args.get("tags", []),
            "name": args.get("name", f"{self.scenario.name} instance"),
        }
        output = await self._call(
            "POST", base + "/instances", args.get("status"), json=body, headers=self._platform_auth()
        )
        instance = output["body"]
        if isinstance(instance, Mapping) and "token" in instance:
            self.dialects[str(instance["token"])] = dialect
            return output, f"instance {instance.get('id')} ({dialect})"
        return output, f"answered {output['status']}"

    async def _oauth_code(
        self, base: str, dialect: str, connector: str, oauth: Mapping[str, str], account: str | None
    ) -> str:
        """The guide's Step 1, then Allow on the consent page, as a browser would: the code it gets."""
        step1 = await self._call(
            "GET",
            f"{base}/{dialect}/{connector}/oauth/url",
            None,
            params={
                "apiKey": oauth["api_key"],
                "apiSecret": oauth["api_secret"],
                "callbackUrl": oauth["callback_url"],
                "state": connector,
            },
            headers=self._platform_auth(),
        )
        url = str(step1["body"]["oauthUrl"])
        page = await self.client.get(url)  # a fixture with `consent: auto` redirects at once
        if page.status_code != 302:
            form = {"decision": "allow", **({"account": account} if account else {})}
            page = await self.client.post(url, data=form)
        query = parse_qs(urlsplit(page.headers.get("location", "")).query)
        if page.status_code != 302 or "code" not in query:
            raise StepFailure(
                f"the consent page did not redirect with a code: {page.status_code} {snippet(page)}",
                expected="302 with ?code=",
                received={"status": page.status_code, "location": page.headers.get("location")},
            )
        return str(query["code"][0])

    # -- the hub and plain requests --------------------------------------------------------
    def _instance(self, value: Any) -> Mapping[str, Any]:
        """An instance argument: a saved variable's name, or the instance JSON itself."""
        if isinstance(value, int) and not isinstance(value, bool):
            return {"id": value}
        if isinstance(value, str) and IDENTIFIER.fullmatch(value) and value in self.values:
            value = self.values[value]
        if not isinstance(value, Mapping) or "id" not in value:
            raise StepFailure(
                f"instance must name a saved instance (save: it on a provision step), not {value!r}"
            )
        return value

    async def _hub(self, args: dict[str, Any]) -> tuple[Output, str]:
        if "token" in args:
            token, dialect = str(args["token"]), args.get("dialect", self.scenario.dialect)
        else:
            instance = self._instance(args["instance"])
            token = str(instance.get("token"))
            dialect = args.get("dialect") or self.dialects.get(token) or _dialect_of(instance, self.scenario)
        method = str(args.get("method", "GET"))
        url = f"{self.base}{DIALECTS[dialect].base}/hubs/documents{args['path']}"
        headers = {**self._platform_auth(token, dialect), **header_values(args.get("headers", {}))}
        output = await self._call(method, url, args.get("status"), headers=headers, **_payload(args))
        self._check_body(args.get("body"), output)
        return output, f"{output['status']} {_summary(output['body'])}"

    async def _request(self, args: dict[str, Any]) -> tuple[Output, str]:
        method = str(args.get("method", "GET"))
        headers = header_values(args.get("headers", {}))
        if args.get("auth") == "platform":
            headers = {**self._platform_auth(), **headers}
        output = await self._call(
            method, self.base + str(args["path"]), args.get("status"), headers=headers, **_payload(args)
        )
        self._check_body(args.get("body"), output)
        return output, f"{output['status']} {_summary(output['body'])}"

    # -- Dropbox, the clock, faults ----------------------------------------------------------
    async def _default_account(self) -> str:
        if self._account is None:
            accounts = (await self._control("GET", "/_emulator/providers/dropbox/accounts")).json()
            if not accounts:
                raise StepFailure("the fixture has no Dropbox accounts")
            self._account = str(accounts[0]["key"])
        return self._account

    async def _dropbox(self, args: dict[str, Any]) -> tuple[Output, str]:
        account = args.pop("account", None) or await self._default_account()
        path = f"/_emulator/providers/dropbox/accounts/{quote(str(account), safe='')}/operations"
        response = await self._control("POST", path, json=args)
        target = f" -> {args['to']}" if "to" in args else ""
        return _output(response), f"{args['op']} {args['path']}{target} at {account}"

    async def _clock(self, args: dict[str, Any]) -> tuple[Output, str]:
        response = await self._control("POST", "/_emulator/clock/advance", json=args)
        clock = response.json()
        return _output(response), f"now {clock.get('iso')}, {clock.get('timersRun')} timers ran"

    async def _sleep(self, args: dict[str, Any]) -> tuple[Output, str]:
        seconds = min(float(args["seconds"]), MAX_SLEEP_SECONDS)
        await asyncio.sleep(seconds)
        return {"body": seconds}, f"slept {seconds:g} s"

    async def _fault(self, args: dict[str, Any]) -> tuple[Output, str]:
        if "clear" in args:
            url = args["clear"] if isinstance(args["clear"], str) else None
            response = await self._control(
                "DELETE", "/_emulator/faults", params={"url": url} if url else None
            )
            return _output(response), f"{response.json().get('removed')} removed"
        rule = {k: v for k, v in args.items() if k != "delay_ms"}
        if "delay_ms" in args:
            rule["delayMs"] = args["delay_ms"]
        response = await self._control("POST", "/_emulator/faults", json=rule)
        return _output(response), f"{args['action']} x{args.get('count', 1)}"

    async def _trigger(self, args: dict[str, Any]) -> tuple[Output, str]:
        instance = self._instance(args["instance"])
        body = {"events": args["events"]} if "events" in args else {"op": args["op"]}
        response = await self._control("POST", f"/_emulator/instances/{instance['id']}/trigger", json=body)
        answer = response.json()
        events = answer.get("eventIds", answer.get("eventId"))
        return _output(response), f"events {events}, notifications {answer.get('notificationIds')}"

    # -- the sink, redelivery, the failure policy --------------------------------------------
    def _sink_path(self, name: Any) -> str:
        if name is None or name is True:
            return self.scenario.sink_url_path
        return "/_emulator/sinks/" + quote(str(name), safe="")

    async def _sink(self, args: dict[str, Any]) -> tuple[Output, str]:
        path = self._sink_path(args.get("name"))
        done: list[str] = []
        output: Output = {"body": None}
        if args.get("clear"):
            output = _output(await self._control("DELETE", path))
            done.append("cleared")
        if "statuses" in args:
            output = _output(
                await self._control("PUT", path + "/script", json={"statuses": args["statuses"]})
            )
            done.append(f"next answers {args['statuses']}")
        return output, ", ".join(done)

    async def _redeliver(self, args: dict[str, Any]) -> tuple[Output, str]:
        dialect = args.get("dialect", self.scenario.dialect)
        url = self.base + DIALECTS[dialect].base + "/notifications/subscriptions/deliveries"
        output = await self._call("PUT", url, None, headers=self._platform_auth())
        count = output["body"].get("redelivered") if isinstance(output["body"], Mapping) else None
        if "count" in args and count != args["count"]:
            raise StepFailure(
                f"expected {args['count']} redelivered, received {count}",
                expected=args["count"],
                received=count,
            )
        return output, f"{count} redelivered"

    async def _policy(self, args: dict[str, Any]) -> tuple[Output, str]:
        org = args.get("organization", self.scenario.credentials["organization_id"])
        response = await self._control(
            "PUT", f"/_emulator/organizations/{org}/policy", json={"policy": args["policy"]}
        )
        return _output(response), f"organization {org}: {args['policy']}"

    # -- expectations ----------------------------------------------------------------------------
    async def _expect(self, args: dict[str, Any]) -> tuple[Output, str]:
        if "sink" in args:
            body, message = await expect_sink(self.client, self.base + self._sink_path(args["sink"]), args)
        else:
            instance = args.get("instance")
            instance_id = None if instance is None else self._instance(instance)["id"]
            body, message = await Expectation(self.client, self.base, args, instance_id).check()
        return {"status": 200, "body": body}, message


def _dialect_of(instance: Mapping[str, Any], scenario: Scenario) -> str:
    return next((d.name for d in DIALECTS.values() if d.singular in instance), scenario.dialect)


def _payload(args: Mapping[str, Any]) -> dict[str, Any]:
    """httpx keywords for a step's query, json, or multipart file (with form fields)."""
    payload: dict[str, Any] = {}
    if "query" in args:
        payload["params"] = {
            k: v if isinstance(v, list) else header_values({k: v})[k] for k, v in args["query"].items()
        }
    if "json" in args:
        payload["json"] = args["json"]
    if "file" in args:
        payload["files"] = {"file": _file_part(args["file"])}
        payload["data"] = header_values(args.get("form", {}))
    elif "form" in args:
        payload["data"] = header_values(args["form"])
    return payload


def _file_part(spec: Mapping[str, Any]) -> tuple[str, bytes, str]:
    name = str(spec.get("name", "upload.bin"))
    if "base64" in spec:
        try:
            data = base64.b64decode(str(spec["base64"]), validate=True)
        except (binascii.Error, ValueError):
            raise StepFailure("file.base64 is not valid base64") from None
    elif "size" in spec:
        data = bytes(i % 251 for i in range(int(spec["size"])))
    else:
        data = str(spec.get("content", "")).encode("utf-8")
    return name, data, str(spec.get("type", "application/octet-stream"))


def _output(response: httpx.Response) -> Output:
    try:
        body: Any = response.json()
    except ValueError:
        body = response.text
    return {"status": response.status_code, "body": body, "headers": dict(response.headers)}


def _status_ok(status: int, expected: Any) -> bool:
    if expected is None:
        return 200 <= status <= 299
    if isinstance(expected, list):
        return status in expected
    return bool(status == expected)


def _status_text(expected: Any) -> str:
    return "2xx" if expected is None else str(expected)


def _summary(body: Any) -> str:
    if isinstance(body, Mapping):
        shown = {k: body[k] for k in ("id", "eventId", "eventStatus", "path", "name") if k in body}
        return short(shown) if shown else ""
    if isinstance(body, list):
        return f"{len(body)} items"
    return ""


async def run_scenario(
    scenario: Scenario, base_url: str, client: httpx.AsyncClient | None = None
) -> ScenarioReport:
    """Run against a served emulator at `base_url`; `client` (e.g. on an ASGI transport) replaces
    plain HTTP. The scenario's `fixture:` is not used: the emulator serves its own (a note says so)."""
    report = await _run(scenario, base_url, client)
    if scenario.fixture is not None:
        report.notes.append(
            f"fixture {scenario.fixture} not used: it is for in-process runs, "
            "and this emulator serves its own"
        )
    return report


async def _run(scenario: Scenario, base_url: str, client: httpx.AsyncClient | None) -> ScenarioReport:
    if client is not None:
        return await Runner(scenario, client, base_url).run()
    async with httpx.AsyncClient(trust_env=False, timeout=30.0, follow_redirects=False) as own:
        return await Runner(scenario, own, base_url).run()


def run_in_process(scenario: Scenario, fixture: Path | None = None, *, serve: ServeRuntime) -> ScenarioReport:
    """Build an emulator (on `fixture`, else the scenario's, else the default), have `serve` serve it
    on this machine, run the scenario against it over real HTTP, and stop it.

    `serve` (e.g. `emulator.server.serving`) is given, not imported: the server imports the web app,
    whose scenario routes import this package.
    """
    from emulator.assemble import default_fixture_path, load_runtime

    if fixture is None and scenario.fixture is not None and not scenario.fixture.is_file():
        raise ScenarioError([f"{scenario.file}: fixture: no file {scenario.fixture}"])
    chosen = fixture or scenario.fixture or default_fixture_path()
    try:
        runtime = load_runtime(chosen)
    except FixtureError as error:
        raise ScenarioError(error.problems) from None
    with serve(runtime) as url:
        report = asyncio.run(_run(scenario, url, None))
    report.notes.append(f"in-process on {chosen}")
    return report
