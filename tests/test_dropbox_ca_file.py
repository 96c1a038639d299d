"""`serve --dropbox-ca-file PATH` (or HUB_EMULATOR_DROPBOX_CA_FILE) pins where the Dropbox API's CA
is written, so that a client's `ca_certs` stays the same across restarts; the ready line names it."""

from __future__ import annotations

import os
import re
import signal
import ssl
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from emulator.cli import CA_FILE_ENV, main
from tests.conftest import DEFAULT_FIXTURE

READY = re.compile(r"Dropbox API https://(?P<host>\S+) CA file (?P<ca>.+)$")


@contextmanager
def serving(*args: str, environment: dict[str, str] | None = None) -> Iterator[str]:
    """`serve --port 0 --dropbox-api-port 0 ARGS`; yields its ready line, then stops it (exit 0)."""
    command = [sys.executable, "-m", "emulator", "serve", "--port", "0", "--fixtures", str(DEFAULT_FIXTURE)]
    process = subprocess.Popen(
        [*command, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **(environment or {})},
    )
    assert process.stdout is not None and process.stderr is not None
    try:
        line = process.stdout.readline().rstrip("\n")
        assert line.startswith("hub-emulator ready on"), process.stderr.read()
        yield line
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=15) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        process.stdout.close()
        process.stderr.close()


def _account_name(host: str, ca_file: str) -> str:
    answer = httpx.post(
        f"https://{host}/2/users/get_current_account",
        headers={"Authorization": "Bearer alice-dropbox-token"},
        verify=ssl.create_default_context(cafile=ca_file),
        trust_env=False,
    )
    answer.raise_for_status()
    return str(answer.json()["email"])


def test_the_ca_file_stays_at_its_path_across_restarts_and_clients_trust_it(tmp_path: Path) -> None:
    pinned = tmp_path / "dropbox-ca.pem"
    certificates = []
    for _ in range(2):
        with serving("--dropbox-api-port", "0", "--dropbox-ca-file", str(pinned)) as line:
            ready = READY.search(line)
            assert ready and ready["ca"] == str(pinned)
            assert _account_name(ready["host"], str(pinned)) == "alice@example.com"
            certificates.append(pinned.read_text())
        assert pinned.is_file()  # left in place at the end, for the next start to replace
    assert certificates[0] != certificates[1]  # a new CA at every start, at the same path
    assert [p.name for p in tmp_path.iterdir()] == ["dropbox-ca.pem"]  # no partial file left behind


def test_the_environment_variable_pins_it_too_and_is_ignored_without_the_dropbox_api(tmp_path: Path) -> None:
    pinned = tmp_path / "from-env.pem"
    with serving("--dropbox-api-port", "0", environment={CA_FILE_ENV: str(pinned)}) as line:
        ready = READY.search(line)
        assert ready and ready["ca"] == str(pinned) and pinned.is_file()
    pinned.unlink()
    with serving(environment={CA_FILE_ENV: str(pinned)}) as line:
        assert "Dropbox API" not in line
    assert not pinned.exists()


@pytest.mark.parametrize(
    ("args", "reason"),
    [
        (["--dropbox-ca-file", "ca.pem"], "--dropbox-ca-file needs --dropbox-api-port"),
        (["--dropbox-api-port", "0", "--dropbox-ca-file", "/no/such/folder/ca.pem"], "not a writable folder"),
    ],
)
def test_a_ca_file_that_cannot_be_is_a_usage_error(
    args: list[str], reason: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["serve", "--port", "0", *args]) == 2
    assert reason in capsys.readouterr().err
