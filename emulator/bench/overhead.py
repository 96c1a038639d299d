"""Measure 4 (isolation): what the pytest fixture `hub_emulator` adds to each test, isolation included.

With the repository's `benchmarks/fixture_overhead.py` at hand (and pytest installed), its `run()`
is called in a child process: a generated suite of trivial tests per fixture variant, each test's
time minus a fixture-free test's. Without it (an installed package has no `benchmarks/`), what
isolation costs per test is measured through the control plane instead: a new tenant and its
reset, one after the other on one connection. The figures say which method gave them.
"""

from __future__ import annotations

import http.client
import importlib.util
import json
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from emulator.bench import servers
from emulator.bench.stats import median

SCRIPT = Path("benchmarks") / "fixture_overhead.py"
DEFAULT_VARIANT = "tenant"  # the fixture's default isolation
TIMEOUT = 240.0


def find_script() -> Path | None:
    """The repository's script: beside the working directory, or beside the package (editable install)."""
    package_root = Path(__file__).resolve().parents[2]
    for candidate in (Path.cwd() / SCRIPT, package_root / SCRIPT):
        if candidate.is_file():
            return candidate
    return None


def measure(tests: int, emulator_port: int, progress: Callable[[str], None]) -> dict[str, float | str]:
    script = find_script()
    if tests > 0 and script is not None and importlib.util.find_spec("pytest") is not None:
        try:
            variants = _run_script(script, tests)
        except (RuntimeError, subprocess.TimeoutExpired, ValueError, KeyError) as problem:
            progress(f"fixture overhead: {script} failed ({problem}); measuring the control plane instead")
        else:
            progress(f"fixture overhead (pytest, {tests} tests per variant): {variants}")
            figures: dict[str, float | str] = {f"fixture_overhead_{k}_ms": v for k, v in variants.items()}
            figures["fixture_overhead_ms"] = variants[DEFAULT_VARIANT]
            figures["fixture_overhead_method"] = f"pytest suite ({script.name}, tenant isolation)"
            return figures
    count = max(tests, 50)
    per_test = control_plane_ms(emulator_port, count)
    progress(f"fixture overhead (control plane, {count} tenants): {per_test:.2f} ms")
    return {
        "fixture_overhead_ms": per_test,
        "fixture_overhead_method": "control plane: POST /_emulator/tenants + its reset, per test",
    }


def _run_script(script: Path, tests: int) -> dict[str, float]:
    command = [sys.executable, "-m", "emulator.bench.overhead", str(script), str(tests)]
    done = subprocess.run(
        command, capture_output=True, text=True, timeout=TIMEOUT, check=False, cwd=script.parent
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        raise RuntimeError(f"exit {done.returncode}: {(done.stderr or done.stdout).strip()[-300:]}")
    variants: dict[str, float] = json.loads(lines[-1])
    return variants


def control_plane_ms(port: int, count: int) -> float:
    """A fresh tenant and its reset per 'test', on one keep-alive connection; median per test."""
    connection = http.client.HTTPConnection(servers.HOST, port, timeout=30.0)
    times: list[float] = []
    try:
        for _ in range(count):
            started = time.perf_counter()
            tenant = _post(connection, "/_emulator/tenants")
            _post(connection, f"/_emulator/tenants/{tenant['id']}/reset")
            times.append((time.perf_counter() - started) * 1000)
    finally:
        connection.close()
    servers.call_json(port, "POST", "/_emulator/reset")
    return median(times)


def _post(connection: http.client.HTTPConnection, path: str) -> dict[str, object]:
    connection.request("POST", path, body=b"", headers={"Content-Length": "0"})
    answer = connection.getresponse()
    raw = answer.read()
    if not 200 <= answer.status <= 299:
        raise RuntimeError(f"POST {path} answered {answer.status}: {raw[:200]!r}")
    found: dict[str, object] = json.loads(raw)
    return found


def main() -> None:
    """In the child: run the script's suite and print each variant's median overhead (ms) as JSON."""
    script, tests = Path(sys.argv[1]), int(sys.argv[2])
    spec = importlib.util.spec_from_file_location("fixture_overhead", script)
    if spec is None or spec.loader is None:
        raise SystemExit(f"cannot load {script}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    grouped: dict[str, list[float]] = module.run(tests)
    bare = statistics.median(grouped["bare"][1:])
    medians = {name: statistics.median([t - bare for t in times[1:]]) for name, times in grouped.items()}
    medians.pop("bare", None)
    print(json.dumps(medians), flush=True)


if __name__ == "__main__":
    main()
