"""Processes of the benchmark: launching a server, timing it to its first 200, its memory, plain HTTP calls.

Every server is a child process started the same way (`python -m <module> ... --port N`), on
loopback, on a port chosen here. Every wait is bounded by a deadline.
"""

from __future__ import annotations

import http.client
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

HOST = "127.0.0.1"
HEALTH = "/_emulator/health"
POLL_SECONDS = 0.002
STOP_SECONDS = 10.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


@dataclass
class ServerProcess:
    name: str
    process: subprocess.Popen[bytes]
    port: int
    start_seconds: float  # launch to the first 200 on health
    errors: IO[bytes] = field(repr=False)
    start_cpu_seconds: float = (
        0.0  # CPU the process had used by then: what waiting on others does not inflate
    )

    @property
    def origin(self) -> str:
        return f"http://{HOST}:{self.port}"

    def rss_mb(self) -> float:
        return read_status_kb(self.process.pid, "VmRSS") / 1024

    def cpu_seconds(self) -> float:
        return read_cpu_seconds(self.process.pid)

    def peak_rss_mb(self) -> float:
        return read_status_kb(self.process.pid, "VmHWM") / 1024

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(STOP_SECONDS)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(STOP_SECONDS)
        self.errors.close()

    def error_text(self) -> str:
        self.errors.flush()
        self.errors.seek(0)
        return self.errors.read().decode(errors="replace")[-2000:]


def read_status_kb(pid: int, key: str) -> int:
    """A `kB` line of /proc/<pid>/status (Linux); 0 where there is no /proc."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except OSError:
        return 0
    return 0


def read_cpu_seconds(pid: int) -> float:
    """User plus system CPU time of a process, from /proc/<pid>/stat (Linux); 0 where there is none."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return 0.0
    # After the command's closing parenthesis: state is field 3, utime and stime are fields 14 and 15.
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _spawn(name: str, command: list[str], port: int) -> ServerProcess:
    # The server's stderr goes to a file it owns (closed by `stop`), to tell why a start failed.
    errors = tempfile.TemporaryFile()  # noqa: SIM115
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=errors)
    return ServerProcess(name, process, port, 0.0, errors)


def _wait_until(server: ServerProcess, ready: Callable[[], bool], started: float, timeout: float) -> None:
    deadline = started + timeout
    while not ready():
        if server.process.poll() is not None or time.perf_counter() > deadline:
            text = server.error_text()
            server.stop()
            raise RuntimeError(f"{server.name} did not start (exit {server.process.poll()}): {text}")
        time.sleep(POLL_SECONDS)
    server.start_seconds = time.perf_counter() - started
    server.start_cpu_seconds = server.cpu_seconds()


def launch(name: str, command: list[str], port: int, timeout: float = 60.0) -> ServerProcess:
    """Starts `command` and returns once `GET /_emulator/health` answers 200 on `port`."""
    started = time.perf_counter()
    server = _spawn(name, command, port)
    _wait_until(server, lambda: _healthy(port), started, timeout)
    return server


def _healthy(port: int) -> bool:
    try:
        status, _, _ = call(port, "GET", HEALTH, timeout=1.0)
    except OSError:
        return False
    return status == 200


def emulator_command(port: int, fixture: Path) -> list[str]:
    return [sys.executable, "-m", "emulator", "serve", "--port", str(port), "--fixtures", str(fixture)]


def bare_command(port: int, routes: Path | None, loop: str, http: str) -> list[str]:
    command = [sys.executable, "-m", "emulator.bench.bare_app", "--port", str(port), "--loop", loop]
    command += ["--http", http]
    return command + (["--routes", str(routes)] if routes is not None else [])


def receiver_command(port: int) -> list[str]:
    return [sys.executable, "-m", "emulator.bench.receiver", "--port", str(port)]


def launch_receiver(port: int) -> ServerProcess:
    """The receiver has no health route: it is ready once it accepts connections."""
    started = time.perf_counter()
    server = _spawn("receiver", receiver_command(port), port)
    _wait_until(server, lambda: _accepts(port), started, 30.0)
    return server


def _accepts(port: int) -> bool:
    try:
        with socket.create_connection((HOST, port), timeout=1.0):
            return True
    except OSError:
        return False


def call(
    port: int,
    method: str,
    path: str,
    headers: dict[str, str] | None = None,
    body: bytes | None = None,
    timeout: float = 30.0,
) -> tuple[int, list[tuple[str, str]], bytes]:
    """One request on a fresh connection: status, headers, body."""
    connection = http.client.HTTPConnection(HOST, port, timeout=timeout)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        answer = connection.getresponse()
        return answer.status, answer.getheaders(), answer.read()
    finally:
        connection.close()


def call_json(port: int, method: str, path: str, body: Any = None, timeout: float = 30.0) -> Any:
    data = None if body is None else json.dumps(body).encode()
    headers = {"Content-Type": "application/json"} if data is not None else {}
    status, _, raw = call(port, method, path, headers, data, timeout)
    if not 200 <= status <= 299:
        raise RuntimeError(f"{method} {path} answered {status}: {raw[:300]!r}")
    return json.loads(raw) if raw else None
