"""`hub-emulator serve --port 0` as a subprocess, the way users run it, for end-to-end tests."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from tests.conftest import ROOT

READY = re.compile(r"hub-emulator ready on (http://\S+)")


@dataclass
class Served:
    url: str
    process: subprocess.Popen[str]

    def read_line(self) -> str:
        assert self.process.stdout is not None
        return self.process.stdout.readline()


@contextmanager
def serving(*args: str) -> Iterator[Served]:
    """Starts the server, reads its ready line (no sleeps), and stops it with SIGTERM, expecting exit 0."""
    process = subprocess.Popen(
        [sys.executable, "-m", "emulator", "serve", "--port", "0", *args],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert process.stdout is not None
    try:
        line = process.stdout.readline()
        match = READY.search(line)
        assert match, f"no ready line, got {line!r}"
        yield Served(match.group(1), process)
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=15) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        process.stdout.close()
