"""Schemathesis against /_emulator/openapi.json: every operation, bounded examples, answers as documented.

Each operation gets `FUZZ_EXAMPLES` generated requests (positive and negative data) against the app
in-process, with an instance's secrets in Authorization so that hub calls get past 401. Every answer
must be no 5xx, match its documented schema and status, and errors must be in the platform's (or
the control plane's) shape, and every 4xx must leave the state export exactly as it was. The state
is rebuilt before every request that may change it, and before a read that follows a change, so
one example's deletions and clock jumps never hide the next one's paths.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import orjson
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.config import SchemathesisConfig
from schemathesis.python.asgi import get_client
from schemathesis.specs.openapi.checks import positive_data_acceptance

from emulator.assemble import state_seed
from emulator.domain.state import InstanceSeed
from emulator.loading import load_fixture
from emulator.runtime import Runtime
from emulator.transport import SendResult
from emulator.web.app import create_app
from tests.conftest import DEFAULT_FIXTURE

FUZZ_EXAMPLES = int(os.environ.get("HUB_EMULATOR_FUZZ_EXAMPLES", "50"))
# The your_moms dialect runs the very same handlers under other words: fewer examples are enough there.
SECOND_DIALECT_EXAMPLES = max(2, FUZZ_EXAMPLES // 5)
TOKEN = "fuzz-instance-token"
AUTH = {"Authorization": f"User dev-user-secret, Organization dev-org-secret, Element {TOKEN}"}
CALLBACK = "http://receiver.invalid/fuzz"
# Long-polls answer at their timeout when nothing arrives: bounded to nothing here, never skipped.
LONG_POLLS = ("/_emulator/deliveries/wait", "/_emulator/sinks/{name}")
# No operation is left out. An answer that never ends (the console's event stream) is cut by the
# test client after its first events; this deadline turns anything else that hangs into a failure.
DEADLINE = 30.0


# A schema-valid request may still break a rule no JSON Schema can say (a malformed Dropbox path, an
# OAuth code never issued, a clock moved back): refusing it with a 4xx is right, so this check is off.
EXCLUDED_CHECKS = [positive_data_acceptance]
CONFIG = SchemathesisConfig.from_dict(
    {
        # The OpenAPI document's `platform` scheme, filled with the fuzz instance's secrets; negative
        # examples drop it, and must then get 401.
        "auth": {"openapi": {"platform": {"api_key": AUTH["Authorization"]}}},
        # Unknown query parameters are ignored, as by the platform (clients add cache-busters): not
        # generated as "invalid" data that must be refused.
        "generation": {"allow-extra-parameters": False},
    }
)


class NullSender:
    """Callbacks go nowhere: no network from a fuzz run, every attempt answered 200."""

    async def send(self, url: str, headers: Mapping[str, str], body: bytes, timeout: float) -> SendResult:
        return SendResult(200, None, 0.0, "ok")


def fuzz_runtime() -> Runtime:
    """The default fixture plus a webhook and a polling instance with known tokens, events on."""
    seed = state_seed(load_fixture(DEFAULT_FIXTURE))
    events = {"event.notification.enabled": "true", "event.notification.callback.url": CALLBACK}
    config = {
        "oauth.callback.url": "https://app.test/auth",
        "oauth.api.key": "fake_Dropbox_api_key",
        "oauth.api.secret": "fake_Dropbox_api_secret",
        **events,
    }
    webhook = InstanceSeed(1, 1, "alice", "fuzz webhook", token=TOKEN, configuration=config)
    polling = InstanceSeed(
        1, 1, "alice", "fuzz polling", configuration={**config, "event.vendor.type": "polling"}
    )
    seed = seed._replace(instances=(webhook, polling))
    return Runtime(seed, source=str(DEFAULT_FIXTURE), sender=NullSender())


class StateGuard:
    """The state export before a request, to compare with the one after it when it was refused.

    In-process and cheap (~0.4 ms for the fuzz fixture's export as sorted JSON bytes), so it is
    taken before every example; the one after only when the answer is a 4xx. The clock's `now`
    is left out unless the clock is manual: a real or scaled clock moves by itself. A change of
    mode, scale or a manual clock's time is a change.
    """

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        # Set by an example that may have changed the state: the next one, even a read, starts
        # from a rebuilt state, where nothing runs by itself (no deliveries, a manual clock).
        self.dirty = True

    def fingerprint(self) -> bytes:
        state = self.runtime.export_state()
        clock = state["clock"]
        if clock["mode"] != "manual":
            state["clock"] = {name: value for name, value in clock.items() if name != "now"}
        return orjson.dumps(state, option=orjson.OPT_SORT_KEYS)


def differences(before: Any, after: Any, where: str = "state", limit: int = 5) -> list[str]:
    """Where two exports differ, first `limit` places, as `path: before -> after` (values shortened)."""
    if type(before) is not type(after):
        return [f"{where}: {_short(before)} -> {_short(after)}"]
    found: list[str] = []
    if isinstance(before, dict):
        for key in list(before) + [k for k in after if k not in before]:
            if key not in after or key not in before or before[key] != after[key]:
                found += differences(before.get(key), after.get(key), f"{where}.{key}", limit - len(found))
            if len(found) >= limit:
                break
    elif isinstance(before, list) and len(before) == len(after):
        for index, (old, new) in enumerate(zip(before, after, strict=True)):
            if old != new:
                found += differences(old, new, f"{where}[{index}]", limit - len(found))
            if len(found) >= limit:
                break
    elif before != after:
        found.append(f"{where}: {_short(before)} -> {_short(after)}")
    return found[:limit]


def _short(value: Any) -> str:
    text = json.dumps(value)
    return text if len(text) <= 120 else f"{text[:117]}..."


@dataclasses.dataclass
class Tally:
    operations: int = 0
    examples: int = 0
    failures: dict[str, str] = dataclasses.field(default_factory=dict)


def _fresh(client: Any) -> None:
    """Back to the fixture and a manual clock (a reset keeps the clock's mode: a fuzzed one may not)."""
    assert client.post("/_emulator/reset").status_code == 200
    assert client.post("/_emulator/clock", json={"mode": "manual", "scale": 1}).status_code == 200


def fuzz_operation(operation: Any, client: Any, tally: Tally, guard: StateGuard) -> None:
    """`FUZZ_EXAMPLES` requests, half positive and half negative data; the first failure is kept."""
    budget = SECOND_DIALECT_EXAMPLES if operation.path.startswith("/your_moms/") else FUZZ_EXAMPLES
    for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

        @given(operation.as_strategy(generation_mode=mode))
        @settings(
            max_examples=max(1, budget // 2),
            deadline=None,
            suppress_health_check=list(HealthCheck),
            derandomize=True,
            database=None,
            phases=[Phase.explicit, Phase.generate],  # no shrinking: the curl command is enough
        )
        def run(case: Any) -> None:
            tally.examples += 1
            if case.method != "GET" or guard.dirty:
                _fresh(client)
            if case.operation.path in LONG_POLLS:
                case.query = {**(case.query or {}), "timeout": 0}
            before = guard.fingerprint()
            guard.dirty = True  # until the answer says otherwise (a failing example leaves it so)
            try:
                response = case.call(timeout=DEADLINE)
                refused = 400 <= response.status_code < 500
                if refused and (after := guard.fingerprint()) != before:
                    changed = differences(orjson.loads(before), orjson.loads(after))
                    raise AssertionError(
                        f"{response.status_code} {response.text[:300]}\n"
                        "and yet the state changed:\n  " + "\n  ".join(changed)
                    )
                case.validate_response(
                    response, excluded_checks=EXCLUDED_CHECKS, transport_kwargs={"timeout": DEADLINE}
                )
            except (AssertionError, BaseExceptionGroup) as failure:
                raise AssertionError(f"{failure}\n{case.as_curl_command()}") from None
            guard.dirty = case.method != "GET" and not refused

        try:
            run()
        except Unsatisfiable:
            continue  # nothing to negate: an operation without parameters or body has no negative data
        except (Exception, BaseExceptionGroup) as failure:  # all operations run; failures reported together
            tally.failures.setdefault(operation.label, str(failure)[:3000])
    tally.operations += 1


def test_every_operation_answers_as_documented() -> None:
    runtime = fuzz_runtime()
    app = create_app(runtime)
    schema = schemathesis.openapi.from_asgi("/_emulator/openapi.json", app, config=CONFIG)
    tally = Tally()
    guard = StateGuard(runtime)
    with get_client(app) as client:
        for result in schema.get_all_operations():
            fuzz_operation(result.ok(), client, tally, guard)
    report = os.environ.get("HUB_EMULATOR_FUZZ_REPORT")
    if report:
        Path(report).write_text(json.dumps(dataclasses.asdict(tally), indent=1))
    print(f"\nfuzzed {tally.operations} operations, {tally.examples} examples, {len(tally.failures)} failing")
    assert tally.operations >= 150
    assert not tally.failures, "\n\n".join(f"{label}:\n{text}" for label, text in tally.failures.items())


def test_the_state_guard_sees_a_change_and_not_the_time_of_a_running_clock() -> None:
    """The fuzzer's state check can fail: a moved manual clock is a change, named where it is."""
    runtime = fuzz_runtime()
    guard = StateGuard(runtime)
    with get_client(create_app(runtime)) as client:
        before = guard.fingerprint()
        assert guard.fingerprint() == before
        assert client.post("/_emulator/clock/advance", json={"seconds": 60}).status_code == 200
        moved = guard.fingerprint()
        assert differences(orjson.loads(before), orjson.loads(moved))[0].startswith("state.clock.now: ")
        assert client.post("/_emulator/clock", json={"mode": "real"}).status_code == 200
        assert "now" not in orjson.loads(guard.fingerprint())["clock"]  # it moves by itself
