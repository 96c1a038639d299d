"""Measure 5, scale: the emulator on a generated fixture of many files, against the same without them.

Load time is the scale fixture's launch-to-health minus the bench fixture's (the same fixture
without the generated tree). Latency is the median of sequential requests on one keep-alive
connection to each, the same requests on both, sent to the two in turns: `GET .../folders/contents`
of `/Documents` and an upload of a small new file into it; a pair of runs per round, each ratio
the median of the pairs'.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path

from emulator.bench import fixtures, servers
from emulator.bench.api_bench import API
from emulator.bench.stats import median, ratio
from emulator.http11 import Connection

BOUNDARY = "hubbenchboundary"


def _auth() -> str:
    return f"User {fixtures.USER_SECRET}, Organization {fixtures.ORG_SECRET}, Element {fixtures.READ_TOKEN}"


def contents_request(port: int) -> bytes:
    return (
        f"GET {API}/hubs/documents/folders/contents?path=/Documents HTTP/1.1\r\n"
        f"Host: {servers.HOST}:{port}\r\nAuthorization: {_auth()}\r\n\r\n"
    ).encode()


def upload_request(port: int, index: int) -> bytes:
    body = (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="up-{index}.txt"\r\n'
        f"Content-Type: text/plain\r\n\r\nuploaded by the benchmark\r\n--{BOUNDARY}--\r\n"
    ).encode()
    head = (
        f"POST {API}/hubs/documents/files?path=/Documents/up-{index}.txt HTTP/1.1\r\n"
        f"Host: {servers.HOST}:{port}\r\nAuthorization: {_auth()}\r\n"
        f"Content-Type: multipart/form-data; boundary={BOUNDARY}\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


Pairs = list[tuple[bytes, bytes]]  # the same request, for the base server and for the scaled one
Medians = tuple[float, float]  # (contents ms, upload ms)


async def interleaved_ms(base_port: int, scaled_port: int, requests: Pairs) -> tuple[float, float]:
    """Median latencies (base, scaled) of request pairs sent in turns, each server on one connection.

    In turns, one request to each and then the next, which goes first changing each time: both
    servers are measured under the same conditions of the moment (runs one after the other swung
    by a fifth with the machine's other work).
    """
    loop = asyncio.get_running_loop()
    _, base = await loop.create_connection(Connection, servers.HOST, base_port)
    _, scaled = await loop.create_connection(Connection, servers.HOST, scaled_port)
    timings: tuple[list[float], list[float]] = ([], [])
    try:
        for number, pair in enumerate(requests):
            order = (0, 1) if number % 2 == 0 else (1, 0)
            for which in order:
                connection = (base, scaled)[which]
                started = time.perf_counter()
                answer = await asyncio.wait_for(connection.post(pair[which]), 30.0)
                timings[which].append((time.perf_counter() - started) * 1000)
                if not 200 <= answer.status <= 299:
                    raise RuntimeError(f"answered {answer.status}: {answer.body[:200]!r}")
    finally:
        base.close()
        scaled.close()
    warm = len(requests) // 10  # the first tenth warms up
    return median(timings[0][warm:]), median(timings[1][warm:])


def latencies(base_port: int, scaled_port: int, count: int) -> tuple[Medians, Medians]:
    """The base server's (contents ms, upload ms) and the scaled one's, medians."""
    from emulator.bench.receiver import run_loop

    out: list[tuple[float, float]] = []

    async def both() -> None:
        contents = [(contents_request(base_port), contents_request(scaled_port))] * count
        out.append(await interleaved_ms(base_port, scaled_port, contents))
        uploads = [(upload_request(base_port, i), upload_request(scaled_port, i)) for i in range(count)]
        out.append(await interleaved_ms(base_port, scaled_port, uploads))

    run_loop(both())
    for port in (base_port, scaled_port):
        servers.call_json(port, "POST", "/_emulator/reset")
    (base_contents, scaled_contents), (base_upload, scaled_upload) = out
    return (base_contents, base_upload), (scaled_contents, scaled_upload)


def _launch_scale(fixture: Path) -> servers.ServerProcess:
    port = servers.free_port()
    return servers.launch("emulator (scale)", servers.emulator_command(port, fixture), port, timeout=120.0)


def measure(
    made: fixtures.BenchFixtures,
    bench: servers.ServerProcess,
    folders: int,
    files: int,
    requests: int,
    progress: Callable[[str], None],
    rounds: int = 1,
) -> dict[str, float]:
    fixture = fixtures.make_scale_fixture(made, folders, files)
    # The load: a launch per round, the median (one launch was at the mercy of the machine's other
    # work); the last launch stays up for the latency pairs.
    loads: list[tuple[float, float]] = []
    for _ in range(max(1, rounds) - 1):
        launched = _launch_scale(fixture)
        loads.append((launched.start_seconds, launched.start_cpu_seconds))
        launched.stop()
    server = _launch_scale(fixture)
    loads.append((server.start_seconds, server.start_cpu_seconds))
    # A pair per round, each the two servers' requests in turns (see interleaved_ms).
    pairs: list[tuple[Medians, Medians]] = []
    try:
        rss = server.rss_mb()
        for _ in range(max(1, rounds)):
            pairs.append(latencies(bench.port, server.port, requests))
        rss = max(rss, server.rss_mb())
    finally:
        server.stop()
    base_contents = median([base[0] for base, _ in pairs])
    base_upload = median([base[1] for base, _ in pairs])
    contents = median([scaled[0] for _, scaled in pairs])
    upload = median([scaled[1] for _, scaled in pairs])
    contents_ratio = median([ratio(scaled[0], base[0]) for base, scaled in pairs])
    upload_ratio = median([ratio(scaled[1], base[1]) for base, scaled in pairs])
    start = median([wall for wall, _ in loads])
    start_cpu = median([cpu for _, cpu in loads])
    progress(f"scale: {files:,} files start in {start:.2f} s (median of {len(loads)}), {rss:.0f} MB")
    return {
        "scale_files": float(files),
        "scale_start_s": start,
        "scale_load_s": max(0.0, start - bench.start_seconds),
        "scale_load_cpu_s": max(0.0, start_cpu - bench.start_cpu_seconds),
        "scale_rss_mb": rss,
        "scale_contents_ms": contents,
        "scale_upload_ms": upload,
        "default_contents_ms": base_contents,
        "default_upload_ms": base_upload,
        "scale_contents_ratio": contents_ratio,
        "scale_upload_ratio": upload_ratio,
        "scale_latency_ratio": max(contents_ratio, upload_ratio),
    }
