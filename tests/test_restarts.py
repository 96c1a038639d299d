"""Restarts with `serve --state`: kill -9 keeps the last saved snapshot, SIGTERM loses nothing.

The server runs as users run it, a subprocess; load comes from client threads making hub changes
while the process is killed. A corrupted state file is refused at start and left as it is.
"""

from __future__ import annotations

import json
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from emulator.assemble import load_runtime
from tests.conftest import (
    DEFAULT_FIXTURE,
    ROOT,
    hub_auth,
    provision_by_side_channel,
)
from tests.receiver import running_receiver

READY = re.compile(r"hub-emulator ready on (http://\S+)")
HUB = "/elements/api-v2/hubs/documents"


def free_port() -> int:
    """A port nothing listens on (yet): callbacks to it are refused until a receiver takes it."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def server(state_file: Path) -> Iterator[tuple[subprocess.Popen[str], str]]:
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "emulator",
            "serve",
            "--port",
            "0",
            "--clock",
            "manual",
            "--state",
            str(state_file),
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert process.stdout is not None
    try:
        match = READY.search(process.stdout.readline())
        assert match, "no ready line"
        yield process, match.group(1)
    finally:
        if process.poll() is None:
            process.kill()
        process.wait()
        process.stdout.close()


def provision(http: httpx.Client, hook: str) -> dict[str, Any]:
    return provision_by_side_channel(http, hook, name="restarted")


class Load:
    """Client threads making folders at unique paths until stopped or the server is gone."""

    def __init__(self, url: str, token: str, workers: int = 4) -> None:
        self.url, self.token = url, token
        self.stopping = threading.Event()
        self.acknowledged: list[tuple[float, str]] = []  # (when the 200 came, path)
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self._work, args=(n,), daemon=True) for n in range(workers)]

    def __enter__(self) -> Load:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stopping.set()
        for thread in self.threads:
            thread.join(30)

    def _work(self, worker: int) -> None:
        with httpx.Client(base_url=self.url, trust_env=False, timeout=10) as http:
            n = 0
            while not self.stopping.is_set():
                path = f"/Load/w{worker}-{n:05}"
                n += 1
                try:
                    answer = http.post(f"{HUB}/folders", params={"path": path}, headers=hub_auth(self.token))
                except httpx.HTTPError:
                    return  # the server went away
                if answer.status_code == 200:
                    with self.lock:
                        self.acknowledged.append((time.monotonic(), path))

    def paths(self, before: float | None = None) -> set[str]:
        with self.lock:
            return {p.lower() for when, p in self.acknowledged if before is None or when < before}

    def wait_for(self, count: int) -> None:
        """Until `count` changes were acknowledged: the load is really running."""
        deadline = time.monotonic() + 30
        while len(self.paths()) < count:
            assert time.monotonic() < deadline, "the load made no progress"
            time.sleep(0.01)


def tree_paths(http: httpx.Client) -> set[str]:
    entries = http.get("/_emulator/providers/dropbox/accounts/alice/tree").json()["entries"]
    return {e["path_lower"] for e in entries if e["path_lower"].startswith("/load/")}


def comparable(state: dict[str, Any]) -> dict[str, Any]:
    """The state less delivery progress (pending work resumes at start) and the request-id counter."""
    kept = {key: value for key, value in state.items() if key != "delivery"}
    kept["ids"] = {k: v for k, v in state["ids"].items() if k != "~request-id"}
    return kept


def notifications(state: dict[str, Any]) -> dict[int, tuple[Any, ...]]:
    found = state["delivery"]["notifications"]
    return {n["id"]: (n["url"], n["body"], n["headers"], n["kind"], n["event_id"]) for n in found}


# -- kill -9 --------------------------------------------------------------------------------------
def test_kill_9_mid_load_restarts_from_the_last_saved_snapshot(tmp_path: Path) -> None:
    state_file = tmp_path / "state.json"
    with (
        running_receiver() as receiver,
        server(state_file) as (process, url),
        httpx.Client(base_url=url, trust_env=False) as http,
    ):
        instance = provision(http, receiver.url)
        with Load(url, instance["token"]) as load:
            load.wait_for(20)
            save_sent = time.monotonic()
            assert http.post("/_emulator/state/save").status_code == 200
            saved = json.loads(state_file.read_bytes())
            load.wait_for(len(load.paths()) + 20)  # work after the save: to be lost
            process.send_signal(signal.SIGKILL)
            process.wait()
    after_save = load.paths() - load.paths(before=save_sent)
    assert json.loads(state_file.read_bytes()) == saved  # nothing wrote it since
    with server(state_file) as (_, url), httpx.Client(base_url=url, trust_env=False) as http:
        restored = http.get("/_emulator/state").json()
        tree = tree_paths(http)
    assert comparable(restored) == comparable(saved)
    assert notifications(restored) == notifications(saved)
    assert load.paths(before=save_sent) <= tree  # acknowledged before the save: kept
    assert after_save - tree, "every change after the save survived a kill -9: the test proved nothing"


def test_kill_9_during_saves_leaves_a_loadable_file(tmp_path: Path) -> None:
    """The file is written to a temporary file and renamed: a kill at any moment leaves a whole one."""
    state_file = tmp_path / "state.json"
    with (
        running_receiver() as receiver,
        server(state_file) as (process, url),
        httpx.Client(base_url=url, trust_env=False) as http,
    ):
        instance = provision(http, receiver.url)
        with Load(url, instance["token"]) as load:
            load.wait_for(10)
            for _ in range(20):
                assert http.post("/_emulator/state/save").status_code == 200
            saver = threading.Thread(target=_save_until_gone, args=(url,), daemon=True)
            saver.start()
            load.wait_for(len(load.paths()) + 30)
            process.send_signal(signal.SIGKILL)
            process.wait()
            saver.join(30)
    json.loads(state_file.read_bytes())
    with server(state_file) as (_, url), httpx.Client(base_url=url, trust_env=False) as http:
        assert http.get("/_emulator/health").status_code == 200


def _save_until_gone(url: str) -> None:
    with httpx.Client(base_url=url, trust_env=False, timeout=10) as http:
        while True:
            try:
                http.post("/_emulator/state/save")
            except httpx.HTTPError:
                return


# -- SIGTERM --------------------------------------------------------------------------------------
def test_sigterm_mid_load_loses_nothing_and_pending_deliveries_resume(tmp_path: Path) -> None:
    state_file = tmp_path / "state.json"
    port = free_port()
    hook = f"http://127.0.0.1:{port}/callback"  # refused until the receiver starts, after the restart
    with server(state_file) as (process, url), httpx.Client(base_url=url, trust_env=False) as http:
        instance = provision(http, hook)
        with Load(url, instance["token"]) as load:
            load.wait_for(50)
            process.send_signal(signal.SIGTERM)
            assert process.wait(timeout=30) == 0
    acknowledged = load.paths()
    with running_receiver(port) as receiver, server(state_file) as (_, url):
        with httpx.Client(base_url=url, trust_env=False) as http:
            assert acknowledged <= tree_paths(http)
            pending = http.get("/_emulator/deliveries", params={"status": "pending"}).json()
            assert len(pending) >= len(acknowledged)  # one event a change, none delivered yet
            http.post("/_emulator/clock/advance", json={"seconds": 5})  # the head's retry falls due
            waited = http.get("/_emulator/deliveries/wait", params={"count": len(pending), "timeout": 60})
            assert waited.status_code == 200, waited.text
        bodies = receiver.wait_for(len(pending))
    told = {event["path"] for body in bodies for event in body["response"]["events"]}
    assert acknowledged <= told
    assert len({body["notificationId"] for body in bodies}) == len(pending)


# -- a corrupted file -----------------------------------------------------------------------------
def _real_state(tmp_path: Path) -> bytes:
    target = tmp_path / "real.json"
    load_runtime(DEFAULT_FIXTURE).save_state(target)
    return target.read_bytes()


@pytest.mark.parametrize(
    "corrupt",
    [
        lambda real: b"",
        lambda real: real[: len(real) // 2],  # a torn write
        lambda real: real.replace(b'"hub-emulator-state"', b'"something-else"'),
        lambda real: real.replace(b'"version":1', b'"version":99'),
        lambda real: b"\x00\xff" * 64,
        lambda real: b'{"format": "hub-emulator-state", "version": 1}',
    ],
    ids=["empty", "truncated", "wrong-format", "wrong-version", "binary", "incomplete"],
)
def test_a_corrupted_state_file_is_refused_and_left_as_it_is(tmp_path: Path, corrupt: Any) -> None:
    state_file = tmp_path / "state.json"
    content: bytes = corrupt(_real_state(tmp_path))
    state_file.write_bytes(content)
    before = sorted(tmp_path.iterdir())
    result = subprocess.run(
        [sys.executable, "-m", "emulator", "serve", "--port", "0", "--state", str(state_file)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert str(state_file) in result.stderr and "left as it is" in result.stderr
    assert "Traceback" not in result.stderr
    assert state_file.read_bytes() == content
    assert sorted(tmp_path.iterdir()) == before
