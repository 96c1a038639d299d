"""Schemathesis against /_emulator/openapi.json: every operation, bounded examples, answers as documented.

Each operation gets `FUZZ_EXAMPLES` generated requests (positive and negative data) against the app
in-process, with an instance's secrets in Authorization so that hub calls get past 401. Every answer
must be no 5xx, match its documented schema and status, and errors must be in the platform's (or
the control plane's) shape. The state is rebuilt before every request that may change it, so one
example's deletions and clock jumps never hide the next one's paths.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

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


@dataclasses.dataclass
class Tally:
    operations: int = 0
    examples: int = 0
    failures: dict[str, str] = dataclasses.field(default_factory=dict)


def _fresh(client: Any) -> None:
    """Back to the fixture and a manual clock (a reset keeps the clock's mode: a fuzzed one may not)."""
    assert client.post("/_emulator/reset").status_code == 200
    assert client.post("/_emulator/clock", json={"mode": "manual", "scale": 1}).status_code == 200


def fuzz_operation(operation: Any, client: Any, tally: Tally) -> None:
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
            if case.method != "GET":
                _fresh(client)
            if case.operation.path in LONG_POLLS:
                case.query = {**(case.query or {}), "timeout": 0}
            try:
                case.call_and_validate(excluded_checks=EXCLUDED_CHECKS, timeout=DEADLINE)
            except (AssertionError, BaseExceptionGroup) as failure:
                raise AssertionError(f"{failure}\n{case.as_curl_command()}") from None

        try:
            run()
        except Unsatisfiable:
            continue  # nothing to negate: an operation without parameters or body has no negative data
        except (Exception, BaseExceptionGroup) as failure:  # all operations run; failures reported together
            tally.failures.setdefault(operation.label, str(failure)[:3000])
    tally.operations += 1


def test_every_operation_answers_as_documented() -> None:
    app = create_app(fuzz_runtime())
    schema = schemathesis.openapi.from_asgi("/_emulator/openapi.json", app, config=CONFIG)
    tally = Tally()
    with get_client(app) as client:
        for result in schema.get_all_operations():
            fuzz_operation(result.ok(), client, tally)
    report = os.environ.get("HUB_EMULATOR_FUZZ_REPORT")
    if report:
        Path(report).write_text(json.dumps(dataclasses.asdict(tally), indent=1))
    print(f"\nfuzzed {tally.operations} operations, {tally.examples} examples, {len(tally.failures)} failing")
    assert tally.operations >= 150
    assert not tally.failures, "\n\n".join(f"{label}:\n{text}" for label, text in tally.failures.items())
