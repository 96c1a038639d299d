"""The benchmark's load generator: `wrk` when it is on the PATH, else a Python keep-alive HTTP/1.1 generator.

Both run in a process of their own and take the same `LoadSpec`: one request (a body template's
`{n}` becomes a number unique to the run, so that every POST creates something new), a number
of keep-alive connections and a duration. Both report requests/s, p50 and p99 latency (from
writing the request to reading the whole answer) and the count of non-2xx answers and errors.

The Python generator (`python -m emulator.bench.load SPEC.json`) sends pre-built request bytes
over raw asyncio connections; on a 2-core machine it takes CPU the server would have had, so its
figures come out lower than wrk's, for the bare app and the emulator alike.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from emulator.bench import GENERATORS
from emulator.http11 import Connection

WRK_THREADS = 1  # one wrk thread outruns one server process and leaves the other core to the server
# wrk takes whole seconds only: its runs last at least one second.


@dataclass(frozen=True)
class LoadSpec:
    host: str
    port: int
    method: str
    path: str
    headers: dict[str, str] = field(default_factory=dict)
    body: str = ""  # `{n}` is replaced by a number unique in the run
    connections: int = 32
    seconds: float = 3.0


@dataclass(frozen=True)
class LoadResult:
    requests: int
    seconds: float
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int  # non-2xx answers, connection errors and timeouts


def generator_name(choice: str = "auto") -> str:
    """The generator a run uses: `auto` is wrk when it is on the PATH, else the Python one."""
    if choice not in GENERATORS:
        raise ValueError(f"unknown load generator {choice!r}; expected one of {', '.join(GENERATORS)}")
    if choice == "auto":
        return "wrk" if shutil.which("wrk") else "python"
    if choice == "wrk" and not shutil.which("wrk"):
        raise RuntimeError("wrk is not on the PATH (apt-get install wrk), or use --generator python")
    return choice


def run_load(spec: LoadSpec, generator: str = "auto") -> LoadResult:
    """Runs one load in another process, with `generator` (see `generator_name`)."""
    if generator_name(generator) == "wrk":
        return _run_wrk(spec)
    return _run_python(spec)


# -- wrk ------------------------------------------------------------------------------------
def _run_wrk(spec: LoadSpec) -> LoadResult:
    with tempfile.TemporaryDirectory(prefix="hub-bench-wrk-") as folder:
        script = Path(folder) / "load.lua"
        script.write_text(wrk_script(spec))
        seconds = f"{max(1, round(spec.seconds))}s"
        command = [
            "wrk", "-t", str(WRK_THREADS), "-c", str(spec.connections), "-d", seconds, "--timeout", "10s",
            "-s", str(script), f"http://{spec.host}:{spec.port}",
        ]  # fmt: skip
        done = subprocess.run(command, capture_output=True, text=True, timeout=spec.seconds + 30, check=False)
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        raise RuntimeError(f"wrk failed ({done.returncode}): {done.stderr.strip() or done.stdout[-500:]}")
    raw = json.loads(lines[-1])
    seconds = raw["duration_us"] / 1e6
    return LoadResult(
        requests=raw["requests"],
        seconds=seconds,
        rps=raw["requests"] / seconds if seconds else 0.0,
        p50_ms=raw["p50_us"] / 1000,
        p99_ms=raw["p99_us"] / 1000,
        errors=raw["errors"],
    )


def _lua(text: str) -> str:
    """A Lua long-bracket string literal holding `text` as it is."""
    level = "=" * 4
    while f"]{level}]" in text:
        level += "="
    return f"[{level}[{text}]{level}]"


def wrk_script(spec: LoadSpec) -> str:
    headers = "\n".join(f"wrk.headers[ {_lua(k)} ] = {_lua(v)}" for k, v in spec.headers.items())
    common = f"wrk.method = {_lua(spec.method)}\nwrk.path = {_lua(spec.path)}\n{headers}\n"
    if "{n}" in spec.body:
        before, after = spec.body.split("{n}", 1)
        # Each thread numbers its own requests; `thread_id` keeps the numbers of threads apart.
        common += f"""
local counter = 0
thread_id = 0
local threads = 0
function setup(thread)
  threads = threads + 1
  thread:set("thread_id", threads)
end
function request()
  counter = counter + 1
  return wrk.format(nil, nil, nil, {_lua(before)} .. thread_id .. "-" .. counter .. {_lua(after)})
end
"""
    elif spec.body:
        common += f"wrk.body = {_lua(spec.body)}\n"
    return (
        common
        + """
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('{"requests":%d,"duration_us":%d,"p50_us":%d,"p99_us":%d,"errors":%d}\\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.status + e.connect + e.read + e.write + e.timeout))
end
"""
    )


# -- the Python generator ---------------------------------------------------------------------
def _run_python(spec: LoadSpec) -> LoadResult:
    command = [sys.executable, "-m", "emulator.bench.load", json.dumps(asdict(spec))]
    done = subprocess.run(command, capture_output=True, text=True, timeout=spec.seconds + 60, check=False)
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        raise RuntimeError(f"the load generator failed ({done.returncode}): {done.stderr.strip()[-500:]}")
    return LoadResult(**json.loads(lines[-1]))


def request_bytes(spec: LoadSpec, number: str | None = None) -> bytes:
    body = spec.body.replace("{n}", number) if number is not None else spec.body
    data = body.encode()
    lines = [f"{spec.method} {spec.path} HTTP/1.1", f"Host: {spec.host}:{spec.port}"]
    lines += [f"{name}: {value}" for name, value in spec.headers.items()]
    if data or spec.method in ("POST", "PUT", "PATCH"):
        lines.append(f"Content-Length: {len(data)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + data


async def _one_connection(spec: LoadSpec, index: int, deadline: float, latencies: list[float]) -> int:
    """Sends requests back to back until `deadline`; answers the number of failed ones."""
    loop = asyncio.get_running_loop()
    _, connection = await loop.create_connection(Connection, spec.host, spec.port)
    fixed = request_bytes(spec) if "{n}" not in spec.body else None
    errors = 0
    count = 0
    try:
        while time.perf_counter() < deadline:
            count += 1
            request = fixed if fixed is not None else request_bytes(spec, f"{index}-{count}")
            started = time.perf_counter()
            answer = await asyncio.wait_for(connection.post(request), 10.0)
            latencies.append(time.perf_counter() - started)
            if not 200 <= answer.status <= 299:
                errors += 1
            if not answer.reusable:
                return errors
    finally:
        connection.close()
    return errors


async def generate(spec: LoadSpec) -> LoadResult:
    latencies: list[float] = []
    started = time.perf_counter()
    deadline = started + spec.seconds
    outcomes = await asyncio.gather(
        *(_one_connection(spec, i, deadline, latencies) for i in range(spec.connections)),
        return_exceptions=True,
    )
    seconds = time.perf_counter() - started
    errors = sum(o if isinstance(o, int) else 1 for o in outcomes)
    ordered = sorted(latencies) or [0.0]
    return LoadResult(
        requests=len(latencies),
        seconds=seconds,
        rps=len(latencies) / seconds,
        p50_ms=ordered[len(ordered) // 2] * 1000,
        p99_ms=ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000,
        errors=errors,
    )


def main() -> None:
    from emulator.bench.receiver import run_loop

    spec = LoadSpec(**json.loads(sys.argv[1]))
    result: list[LoadResult] = []

    async def go() -> None:
        result.append(await generate(spec))

    run_loop(go())
    print(json.dumps(asdict(result[0])), flush=True)


if __name__ == "__main__":
    main()
