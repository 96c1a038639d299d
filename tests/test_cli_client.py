"""The thin clients (`trigger`, `state export`/`import`) find the emulator at `--url`, else at
`$HUB_EMULATOR_URL`, else at `serve`'s default address."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from emulator.assemble import load_runtime
from emulator.cli import main
from emulator.cli_client import URL_ENV
from emulator.server import ServerThread
from tests.conftest import DEFAULT_FIXTURE


@pytest.fixture(scope="module")
def server() -> Iterator[ServerThread]:
    running = ServerThread(load_runtime(DEFAULT_FIXTURE)).start()
    yield running
    running.stop()


def test_the_environment_names_the_emulator_when_no_url_is_given(
    server: ServerThread, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv(URL_ENV, server.url)
    exported = tmp_path / "state.json"
    assert main(["state", "export", "-o", str(exported)]) == 0
    assert json.loads(exported.read_text())["tenants"]
    assert main(["state", "import", str(exported)]) == 0
    assert main(["trigger", "999", "--events", "[]"]) == 1  # reached: the emulator has no instance 999
    assert "999" in capsys.readouterr().out


def test_url_wins_over_the_environment(
    server: ServerThread, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv(URL_ENV, "http://127.0.0.1:1")
    assert main(["state", "export", "-o", str(tmp_path / "s.json"), "--url", server.url]) == 0
    assert main(["state", "export", "-o", str(tmp_path / "t.json")]) == 2
    assert "cannot reach http://127.0.0.1:1" in capsys.readouterr().err
