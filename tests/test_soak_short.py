"""The soak (benchmarks/soak.py) in short: 8 seconds, fewer clients, a 2-second outage; nothing lost."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.conftest import ROOT


def test_a_short_soak_loses_nothing_and_answers_no_5xx() -> None:
    command = [
        sys.executable,
        "benchmarks/soak.py",
        "--seconds",
        "8",
        "--clients",
        "8",
        "--down-seconds",
        "2",
    ]
    result = subprocess.run([*command, "--json"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.stdout.strip(), result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["lost"] == 0, report
    assert report["jobs_lost"] == 0, report
    assert report["server_errors"] == 0 and report["transport_errors"] == 0, report
    assert report["not_delivered"] == 0, report
    # The faults really happened: failed attempts, an outage, queued notifications sent again.
    assert report["receiver_failed"] > 0 and report["receiver_downs"] == 1 and report["redeliveries"] > 0
    assert report["changes"] > 100 and report["server_exit"] == 0
    assert result.returncode == 0, result.stderr
