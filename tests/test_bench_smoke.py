"""`hub-emulator bench --quick --json` runs end to end and reports every figure as a number.

No timing is asserted here: the targets live in the benchmark's own output, never in a timed test.
"""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest

from emulator.bench.report import TARGETS, verdict
from emulator.cli import main

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
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    # A rough run may miss a target: the exit status says whether it did, whichever it was.
    assert done.returncode == (1 if figures["misses"] else 0), done.stderr[-3000:]
    assert [key for key in FIGURES if not _is_number(figures.get(key))] == []
    assert figures["load_generator"] in ("wrk", "python")
    assert set(figures["targets"]) == {t.key for t in TARGETS}
    assert "Targets" in done.stdout  # the table a person reads comes first


# -- the exit status: 1 when a target is missed (a script or CI can act on it) -----------------------
def _all_met() -> dict[str, Any]:
    return {target.key: target.bound for target in TARGETS}  # each exactly at its bound: met


def _missed(key: str) -> dict[str, Any]:
    [target] = [t for t in TARGETS if t.key == key]
    return {**_all_met(), key: target.bound * (0.5 if target.at_least else 2)}


def test_the_verdict_is_0_when_every_target_is_met_and_1_naming_the_missed_ones() -> None:
    assert verdict(_all_met()) == (f"targets: all {len(TARGETS)} met", 0)
    line, status = verdict(_missed("startup_ratio"))
    assert status == 1 and line == f"targets: 1 of {len(TARGETS)} not met (startup_ratio): exit status 1"
    without = {key: value for key, value in _all_met().items() if key != "reset_ms"}
    assert verdict(without)[1] == 1  # a measure that gave no figure meets no target


@pytest.mark.parametrize(("figures", "status"), [(_all_met(), 0), (_missed("fanout16_per_s"), 1)])
def test_hub_emulator_bench_exits_with_the_verdict(
    figures: dict[str, Any], status: int, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("emulator.bench.runner.run_bench", lambda options, progress: figures)
    assert main(["bench", "--json"]) == status
    out = capsys.readouterr().out.splitlines()
    assert out[-2] == verdict(figures)[0]  # the table's last line, then the JSON line
    assert json.loads(out[-1])["misses"] == ([] if status == 0 else ["fanout16_per_s"])
