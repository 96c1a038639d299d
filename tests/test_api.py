"""The Python API (`Emulator`) in both modes, and the callback sink, as client apps use them."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from emulator.api import IN_PROCESS_ORIGIN, Emulator, EmulatorError, ScenarioFailed, WaitTimeout
from emulator.runtime import RuntimeOptions
from emulator.sink import CallbackSink, SinkServer
from tests.conftest import DEFAULT_FIXTURE


@pytest.fixture(scope="module", params=["server", "in_process"])
def started(request: pytest.FixtureRequest) -> Iterator[Emulator]:
    with Emulator.start(DEFAULT_FIXTURE, in_process=request.param == "in_process") as emulator:
        yield emulator


@pytest.fixture
def emu(started: Emulator) -> Emulator:
    """A fresh tenant per test: tests share the module's emulators without meeting."""
    return started.new_tenant()


@pytest.fixture(scope="module")
def sink_server() -> Iterator[SinkServer]:
    server = SinkServer.start()
    yield server
    server.stop()


@pytest.fixture
def sink(sink_server: SinkServer) -> Iterator[CallbackSink]:
    with sink_server.sink() as made:
        yield made


# -- lifecycle ------------------------------------------------------------------------------------
def test_start_serves_on_a_free_port_and_stop_frees_it() -> None:
    emulator = Emulator.start(DEFAULT_FIXTURE)
    url = emulator.url
    assert url.startswith("http://127.0.0.1:")
    assert httpx.get(url + "/_emulator/health", trust_env=False).json()["status"] == "ok"
    emulator.stop()
    emulator.stop()  # a second stop does nothing
    with pytest.raises(httpx.ConnectError):
        httpx.get(url + "/_emulator/health", trust_env=False)


def test_in_process_mode_has_no_socket_and_the_same_api() -> None:
    with Emulator.start(DEFAULT_FIXTURE, in_process=True) as emulator:
        assert emulator.url == IN_PROCESS_ORIGIN
        assert emulator.http.get("/_emulator/health").json()["status"] == "ok"
        with emulator.client() as other:
            assert other.get("/_emulator/clock").json()["mode"] == "manual"


def test_import_emulator_stays_cheap() -> None:
    code = (
        "import sys, emulator; assert 'httpx' not in sys.modules; "
        "from emulator import Emulator; print(Emulator)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert "emulator.api.Emulator" in done.stdout


def test_what_users_touch_imports_from_the_top_level() -> None:
    import emulator
    from emulator import api, sink

    homes = {"Callback": sink, "CallbackSink": sink}
    for name in (
        "ClientConfig",
        "Emulator",
        "EmulatorError",
        "ProvisionedInstance",
        "ScenarioFailed",
        "Secrets",
        "WaitTimeout",
    ):
        homes[name] = api
    assert set(emulator.__all__) == {*homes, "__version__"}
    assert all(getattr(emulator, name) is getattr(home, name) for name, home in homes.items())
    with pytest.raises(AttributeError, match="no attribute 'Nothing'"):
        _ = emulator.Nothing  # type: ignore[attr-defined]


# -- provisioning and events -------------------------------------------------------------------------
def test_provision_then_a_change_at_dropbox_reaches_the_sink(emu: Emulator, sink: CallbackSink) -> None:
    instance = emu.provision_dropbox("alice", callback_url=sink.url, signature_key="k")
    assert instance.body["token"] == instance.token
    emu.dropbox("alice").upload("/Inbox/a.txt", "hi")
    [callback] = sink.wait_for(count=1, timeout=10)
    assert callback.json["instanceId"] == instance.id
    assert [e["path"] for e in callback.json["response"]["events"]] == ["/inbox", "/inbox/a.txt"]
    assert (callback.header("elements-webhook-signature") or "").startswith("sha256=")
    [delivered] = emu.wait_for_deliveries(1)
    assert delivered["notificationId"] == callback.json["notificationId"]
    assert [n["notificationId"] for n in emu.deliveries()] == [delivered["notificationId"]]


def test_polling_instance_hears_at_its_tick(emu: Emulator, sink: CallbackSink) -> None:
    instance = emu.provision_dropbox("bob", callback_url=sink.url, vendor="polling", refresh_interval=15)
    emu.dropbox("bob").mkdir("/Polled")
    emu.clock.advance(minutes=14)
    assert emu.deliveries(instance_id=instance.id) == []
    emu.clock.advance(minutes=1)
    [callback] = sink.wait_for(1, where={"instanceId": instance.id})
    assert callback.json["response"]["events"][0]["metadata"]["path"] == "/Polled"


def test_a_failed_callback_is_retried_when_the_clock_says(emu: Emulator, sink: CallbackSink) -> None:
    emu.provision_dropbox(callback_url=sink.url)
    sink.fail_next(1, status=503)
    emu.dropbox("alice").mkdir("/Retry")
    emu.wait_for_deliveries(attempts=1, timeout=10)
    emu.clock.advance(seconds=4)  # the first retry, 4^1 s later
    emu.wait_for_deliveries(1)
    assert [c.status for c in sink.wait_for(2)] == [503, 200]
    first, second = sink.received
    assert first.body == second.body  # a retry resends the very same bytes


def test_your_moms_dialect_and_hub_client(emu: Emulator) -> None:
    instance = emu.provision_dropbox("alice", dialect="your_moms")
    assert instance.base_url == emu.base_url("your_moms") == emu.url + "/your_moms/api-v2"
    assert ", Your_mom " in instance.authorization
    with emu.hub_client(instance) as hub:
        assert hub.get("/ping").json()["instanceId"] == instance.id
        assert hub.get("/files", params={"path": "/hello.txt"}).text.startswith("Hello")


def test_tenants_do_not_meet(started: Emulator, sink: CallbackSink) -> None:
    one, two = started.new_tenant(), started.new_tenant()
    assert one.secrets.organization != two.secrets.organization
    first = one.provision_dropbox(callback_url=sink.url)
    two.provision_dropbox(callback_url=sink.url)
    one.dropbox("alice").upload("/only-one.txt", b"1")
    assert "/only-one.txt" in {e["path_display"] for e in one.dropbox("alice").tree()}
    assert "/only-one.txt" not in {e["path_display"] for e in two.dropbox("alice").tree()}
    one.wait_for_deliveries(1)
    assert two.deliveries() == []
    assert [i["id"] for i in one.instances()] == [first.id]
    one.provision_dropbox("bob", callback_url=sink.url)
    with pytest.raises(ValueError, match="instance_id"):
        one.wait_for_deliveries(1)  # two instances: which one?
    one.reset()
    assert one.instances() == []
    assert "/only-one.txt" not in {e["path_display"] for e in one.dropbox("alice").tree()}


def test_reset_of_the_default_tenant_goes_back_to_the_fixture() -> None:
    with Emulator.start(DEFAULT_FIXTURE, in_process=True) as emulator:
        emulator.provision_dropbox()
        emulator.clock.advance(hours=1)
        emulator.reset()
        assert emulator.instances() == []
        assert emulator.clock.info()["iso"] == "2026-01-01T00:00:00Z"


# -- the Dropbox side ------------------------------------------------------------------------------------
def test_dropbox_operations_and_their_change_log(emu: Emulator) -> None:
    account = emu.dropbox("bob")
    start = account.changes()["cursor"]
    account.mkdir("/A")
    assert account.upload("/A/x.bin", b"\x00\x01", modified="2025-01-01T00:00:00Z")["size"] == 2
    account.copy("/A", "/B")
    account.move("/B/x.bin", "/B/y.bin")
    account.delete("/A")
    found = {e["path_display"] for e in account.tree()}
    assert {"/B", "/B/y.bin"} <= found and not {"/A", "/A/x.bin", "/B/x.bin"} & found
    logged = account.changes(start)
    assert [c[".tag"] for c in logged["changes"]][-1] == "deleted"
    assert not logged["hasMore"]
    with pytest.raises(EmulatorError) as refused:
        account.mkdir("/B")
    assert refused.value.status == 409
    with pytest.raises(EmulatorError) as unknown:
        emu.dropbox("nobody").tree()
    assert unknown.value.status == 404


def test_clock_moves_only_when_told(emu: Emulator) -> None:
    before = emu.clock.now()
    assert emu.clock.now() == before
    emu.clock.advance(minutes=2, seconds=1)
    assert emu.clock.now() == before + 121
    emu.clock.set(before + 3600)
    assert emu.clock.now() == before + 3600


def test_waiting_past_the_timeout_says_what_matched(emu: Emulator, sink: CallbackSink) -> None:
    emu.provision_dropbox(callback_url=sink.url)
    with pytest.raises(WaitTimeout) as waited:
        emu.wait_for_deliveries(1, timeout=0.05)
    assert waited.value.found == []
    with pytest.raises(WaitTimeout):
        sink.wait_for(1, timeout=0.05)


# -- scenarios and fixtures ----------------------------------------------------------------------------
@pytest.mark.parametrize("in_process", [False, True])
def test_run_scenario_uses_the_built_in_sink_in_both_modes(in_process: bool) -> None:
    with Emulator.start(DEFAULT_FIXTURE, in_process=in_process) as emulator:
        assert emulator.run_scenario("guide-folder-create")["status"] == "passed"
        with pytest.raises(EmulatorError) as missing:
            emulator.run_scenario("no-such-scenario")
        assert missing.value.status == 404


def test_scenario_failure_raises_with_its_report(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    failing = tmp_path / "scenarios" / "never.yaml"
    failing.parent.mkdir()
    failing.write_text(
        "name: never\nsteps:\n  - name: nothing comes\n    expect: {sink: true, count: 1, within: 0.05}\n"
    )
    monkeypatch.chdir(tmp_path)
    with Emulator.start(DEFAULT_FIXTURE, in_process=True) as emulator:
        report = emulator.run_scenario("never", check=False)
        assert report["status"] == "failed"
        with pytest.raises(ScenarioFailed):
            emulator.run_scenario("never")


def test_own_fixture_with_auto_consent_and_its_secrets(tmp_path: Path) -> None:
    fixture = tmp_path / "mine.yaml"
    fixture.write_text(
        """
organizations:
  - {id: 7, secret: org-7, users: [{id: 70, secret: user-70, email: u@example.com}]}
providers:
  dropbox:
    consent: auto
    apps: [{key: my-key, secret: my-secret, redirect_uris: ["https://mine.example/cb"]}]
    accounts: [{key: carol, tree: {"a.txt": "A"}}]
"""
    )
    with Emulator.start(fixture, in_process=True) as emulator:
        assert (emulator.secrets.organization, emulator.secrets.user) == ("org-7", "user-70")
        assert emulator.secrets.api_key == "my-key"
        instance = emulator.provision_dropbox("carol")
        assert instance.body["configuration"]["oauth.callback.url"] == "https://mine.example/cb"


def test_delivery_timeout_meets_a_slow_sink(sink: CallbackSink) -> None:
    options = RuntimeOptions(delivery_timeout=0.2)
    with Emulator.start(DEFAULT_FIXTURE, options=options) as emulator:
        emulator.provision_dropbox(callback_url=sink.url)
        sink.delay(5)
        emulator.dropbox("alice").mkdir("/Slow")
        [notification] = emulator.wait_for_deliveries(attempts=1)
        assert "timed out" in notification["attempts"][0]["error"]
        sink.delay(0)


# -- the callback sink ---------------------------------------------------------------------------------
def test_sink_records_headers_raw_body_and_json(sink: CallbackSink) -> None:
    raw = json.dumps({"instanceId": 3, "x": "é"}).encode()
    answer = httpx.post(sink.url + "/events?q=1", content=raw, headers={"X-Thing": "yes"}, trust_env=False)
    assert answer.status_code == 200
    [callback] = sink.received
    assert (callback.method, callback.path, callback.query) == ("POST", "/events", "q=1")
    assert callback.body == raw and callback.json == {"instanceId": 3, "x": "é"}
    assert callback.header("x-thing") == "yes"


def test_sink_answers_scripted_statuses(sink: CallbackSink) -> None:
    sink.respond(500, 404)
    sink.fail_next(1, status=502)
    statuses = [httpx.post(sink.url, content=b"x", trust_env=False).status_code for _ in range(4)]
    assert statuses == [500, 404, 502, 200]
    assert [c.status for c in sink.received] == statuses
    with pytest.raises(ValueError):
        sink.respond(99)


def test_sink_waits_for_matches_and_sorts_them_out(sink: CallbackSink) -> None:
    def send_later() -> None:
        for n in range(3):
            httpx.post(sink.url, json={"n": n}, trust_env=False)

    threading.Thread(target=send_later).start()
    assert [c.json["n"] for c in sink.wait_for(2, where=lambda c: c.json["n"] >= 1)] == [1, 2]
    assert [c.json for c in sink.wait_for(1, where={"n": 0})] == [{"n": 0}]
    sink.clear()
    assert sink.received == []


def test_sink_serves_concurrent_requests(sink: CallbackSink) -> None:
    sink.delay(0.3)
    started = time.perf_counter()
    with httpx.Client(trust_env=False) as client:
        threads = [
            threading.Thread(target=client.post, args=(sink.url,), kwargs={"content": b"x"})
            for _ in range(10)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert len(sink.wait_for(10)) == 10
    assert time.perf_counter() - started < 2.5  # ten delayed answers at once, not one after another


def test_sink_takes_chunked_bodies_and_refuses_unknown_paths(sink: CallbackSink) -> None:
    httpx.post(sink.url, content=iter([b"ab", b"cd"]), trust_env=False)
    assert sink.wait_for(1)[0].body == b"abcd"
    origin = sink.url.rsplit("/sink/", 1)[0]
    assert httpx.post(origin + "/sink/999999", content=b"", trust_env=False).status_code == 404
    assert httpx.post(origin + "/elsewhere", content=b"", trust_env=False).status_code == 404


def test_a_sink_of_its_own_stops_its_server() -> None:
    with CallbackSink.start() as sink:
        httpx.post(sink.url, content=b"x", trust_env=False)
        assert len(sink.received) == 1
    with pytest.raises(httpx.ConnectError):
        httpx.post(sink.url, content=b"x", trust_env=False)
