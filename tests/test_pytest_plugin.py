"""The pytest plugin as a client app's suite uses it: fixtures, marker, isolation, xdist."""

from __future__ import annotations

import pytest

pytest_plugins = ["pytester"]

# What a client app writes: no setup code, the plugin's fixtures only.
USER_TESTS = """
def test_a_change_at_dropbox_reaches_my_app(hub_emulator, callback_sink):
    instance = hub_emulator.provision_dropbox("alice", callback_url=callback_sink.url)
    hub_emulator.dropbox("alice").upload("/Reports/q1.txt", b"numbers")
    [callback] = callback_sink.wait_for(count=1, timeout=10)
    assert callback.json["instanceId"] == instance.id
    events = callback.json["response"]["events"]
    assert events[-1]["metadata"] == {"path": "/Reports/q1.txt", "name": "q1.txt", "type": "file"}


def test_polling_hears_at_its_interval(hub_emulator, provision_dropbox, callback_sink):
    instance = provision_dropbox("bob", vendor="polling", refresh_interval=15)
    hub_emulator.dropbox("bob").mkdir("/Later")
    hub_emulator.clock.advance(minutes=15)
    [callback] = callback_sink.wait_for(1, where={"instanceId": instance.id})
    assert callback.json["response"]["events"][0]["path"] == "/later"


def test_no_test_sees_another(hub_emulator, callback_sink):
    assert hub_emulator.instances() == [] and callback_sink.received == []
    assert "/Reports" not in {e["path_display"] for e in hub_emulator.dropbox("alice").tree()}


SECRETS_OF_EARLIER_TESTS = []


def test_a_tenant_is_made_for_me(hub_emulator):
    mine = hub_emulator.secrets
    SECRETS_OF_EARLIER_TESTS.append(mine)
    assert hub_emulator.http.get("/elements/api-v2/instances", headers=mine.headers).status_code == 200


def test_and_deleted_after_me(hub_emulator):
    for secrets in SECRETS_OF_EARLIER_TESTS:  # empty where xdist ran the test before on another worker
        assert hub_emulator.http.get("/elements/api-v2/instances", headers=secrets.headers).status_code == 401
"""

# As strict as a careful project. Every run is a subprocess, as a user's would be: an in-process
# run would share (and then forget) modules with this suite.
# Printed after the session fixtures' teardown: the servers' threads must be gone by then.
THREADS_LEFT = """
import threading

def pytest_sessionfinish():
    left = [t.name for t in threading.enumerate() if t.name in ("hub-emulator", "callback-sink")]
    print("threads left:", left)
"""

STRICT_INI = """
[pytest]
addopts = --strict-markers -p no:cacheprovider
filterwarnings = error
"""


@pytest.fixture
def project(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makeini(STRICT_INI)
    return pytester


def test_a_plain_suite_passes_and_leaves_no_server_running(project: pytest.Pytester) -> None:
    project.makepyfile(test_user=USER_TESTS)
    project.makeconftest(THREADS_LEFT)
    result = project.runpytest_subprocess("-s")
    result.assert_outcomes(passed=5)
    result.stdout.fnmatch_lines(["*threads left: []*"])


def test_twenty_rounds_under_xdist_without_a_flake(project: pytest.Pytester) -> None:
    rounds = 'import pytest\npytestmark = pytest.mark.parametrize("round", range(20))\n'
    project.makepyfile(test_user=rounds + USER_TESTS.replace("(hub_emulator", "(round, hub_emulator"))
    result = project.runpytest_subprocess("-n", "2")
    result.assert_outcomes(passed=100)


def test_unused_plugin_starts_and_imports_nothing(project: pytest.Pytester) -> None:
    project.makepyfile(
        """
        import sys, threading

        def test_nothing_of_the_emulator_is_loaded():
            assert "emulator.api" not in sys.modules and "uvicorn" not in sys.modules
            assert not [t for t in threading.enumerate() if t.name.startswith(("hub-emulator", "callback"))]
        """
    )
    project.runpytest_subprocess().assert_outcomes(passed=1)


def test_marker_is_registered_with_help(pytestconfig: pytest.Config) -> None:
    # This very suite loads the plugin through its entry point, as any suite would.
    lines = pytestconfig.getini("markers")
    assert any(
        line.startswith("hub_emulator(fixtures=None, clock='manual', isolation='tenant'") for line in lines
    )


RESET_ISOLATION = """
import pytest

pytestmark = pytest.mark.hub_emulator(isolation="reset")

@pytest.mark.parametrize("round", range(3))
def test_from_the_fixture(round, hub_emulator, dropbox_instance, callback_sink):
    assert hub_emulator.tenant == "default"
    assert hub_emulator.clock.info()["iso"] == "2026-01-01T00:00:00Z"
    assert [i["id"] for i in hub_emulator.instances()] == [dropbox_instance.id] == [100]
    hub_emulator.dropbox("alice").mkdir("/Seen")
    assert callback_sink.wait_for(1)[0].json["response"]["events"][0]["path"] == "/seen"
    hub_emulator.clock.advance(hours=1)
"""

OWN_FIXTURE = """
organizations:
  - {id: 1, secret: my-org, users: [{id: 1, secret: my-user, email: me@example.com}]}
providers:
  dropbox:
    accounts: [{key: zoe, tree: {"z.txt": "Z"}}]
"""

OWN_OPTIONS = """
import pytest

@pytest.mark.hub_emulator(fixtures="mine.yaml", clock="real", in_process=True)
def test_own_fixture(hub_emulator):
    assert hub_emulator.url == "http://hub-emulator.invalid"
    assert hub_emulator.clock.info()["mode"] == "real"
    assert [e["name"] for e in hub_emulator.dropbox("zoe").tree()] == ["z.txt"]
    assert hub_emulator.provision_dropbox("zoe").account == "zoe"

def test_default_fixture(hub_emulator):
    assert hub_emulator.url.startswith("http://127.0.0.1:")
    assert hub_emulator.clock.info()["mode"] == "manual"

@pytest.mark.hub_emulator(isolaton="reset")
def test_typo(hub_emulator):
    pass
"""

SINK_SCRIPT = """
import pytest
from emulator.api import EmulatorError


def test_retried(hub_emulator, dropbox_instance, callback_sink):
    callback_sink.fail_next(2, status=503)
    hub_emulator.dropbox("alice").delete("/hello.txt")
    hub_emulator.wait_for_deliveries(attempts=1)
    hub_emulator.clock.advance(seconds=4)
    hub_emulator.wait_for_deliveries(attempts=2)
    hub_emulator.clock.advance(seconds=16)
    [delivered] = hub_emulator.wait_for_deliveries(1)
    assert [a["statusCode"] for a in delivered["attempts"]] == [503, 503, 200]
    assert [c.status for c in callback_sink.received] == [503, 503, 200]


def test_retried_in_one_call_each(hub_emulator, dropbox_instance, callback_sink):
    callback_sink.fail_next(2, status=503)
    hub_emulator.dropbox("alice").delete("/hello.txt")
    first = hub_emulator.clock.advance_to_next_retry()
    assert [a["statusCode"] for a in first["attempts"]] == [503, 503]
    second = hub_emulator.clock.advance_to_next_retry()
    assert second["status"] == "delivered"
    assert [a["statusCode"] for a in second["attempts"]] == [503, 503, 200]
    assert hub_emulator.clock.now() - first["createdAt"] == 4 + 16  # 4 s, then 16 s
    with pytest.raises(EmulatorError) as nothing:
        hub_emulator.clock.advance_to_next_retry()
    assert nothing.value.status == 409
"""


def test_marker_options_and_sink_scripts(project: pytest.Pytester) -> None:
    """Reset isolation, an own fixture file, the real clock, in-process mode, a typo, retries."""
    project.makefile(".yaml", mine=OWN_FIXTURE)
    project.makepyfile(test_reset=RESET_ISOLATION, test_options=OWN_OPTIONS, test_sink=SINK_SCRIPT)
    result = project.runpytest_subprocess("-rE")
    result.assert_outcomes(passed=7, errors=1)
    result.stdout.fnmatch_lines(["*ERROR at setup of test_typo*", "*unknown options*isolaton*"])
