"""`hub-emulator bench --quick --json` runs end to end and reports every figure as a number.

No timing is asserted here: the targets live in the benchmark's own output, never in a timed test.
"""

from __future__ import annotations

import json
import subprocess
import sys

from emulator.bench.report import TARGETS

ROUTES = ("contents", "instance", "write")
SENDERS = ("callback", "plain", "fanout16", "plain16")
FIGURES = (
    *(t.key for t in TARGETS),
    *(f"{server}_{route}_{what}" for server in ("api", "bare") for route in ROUTES
      for what in ("rps", "p50_ms", "p99_ms")),
    *(f"{sender}_{what}" for sender in SENDERS for what in ("per_s", "p50_ms", "p99_ms")),
    "startup_s", "bare_startup_s", "bare_idle_rss_mb", "reset_roundtrip_ms", "scale_contents_ratio",
    "scale_upload_ratio",
)  # fmt: skip


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def test_the_quick_bench_reports_every_figure_as_a_number() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "emulator", "bench", "--quick", "--json"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    assert [key for key in FIGURES if not _is_number(figures.get(key))] == []
    assert figures["load_generator"] in ("wrk", "python")
    assert set(figures["targets"]) == {t.key for t in TARGETS}
    assert "Targets" in done.stdout  # the table a person reads comes first
