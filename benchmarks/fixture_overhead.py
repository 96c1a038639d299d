"""Measures what the hub_emulator fixture adds to each test, isolation included: tenant vs reset.

    python benchmarks/fixture_overhead.py [--tests 200]

Generates a suite of trivial tests per variant, runs it with pytest in this process, and prints the
median and 90th percentile of each test's setup + call + teardown time minus the median of a test
that uses no fixture. The first test of each variant (which starts the session's server) is left
out and reported apart as the one-off start. Not part of the test run.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import textwrap
from collections import defaultdict
from pathlib import Path

import pytest

VARIANTS = {
    "bare": ("", "n"),
    "tenant": ('@pytest.mark.hub_emulator(isolation="tenant")', "n, hub_emulator"),
    "reset": ('@pytest.mark.hub_emulator(isolation="reset")', "n, hub_emulator"),
    "tenant_in_process": (
        '@pytest.mark.hub_emulator(isolation="tenant", in_process=True)',
        "n, hub_emulator",
    ),
    "reset_in_process": ('@pytest.mark.hub_emulator(isolation="reset", in_process=True)', "n, hub_emulator"),
    "tenant_sink": ('@pytest.mark.hub_emulator(isolation="tenant")', "n, hub_emulator, callback_sink"),
    "tenant_instance": ('@pytest.mark.hub_emulator(isolation="tenant")', "n, dropbox_instance"),
}


def suite(count: int) -> str:
    parts = ["import pytest\n"]
    for name, (marker, arguments) in VARIANTS.items():
        parts.append(
            textwrap.dedent(
                f"""
                @pytest.mark.parametrize("n", range({count}))
                {marker}
                def test_{name}({arguments}):
                    pass
                """
            )
        )
    return "".join(parts)


class Timings:
    """Adds up the setup, call and teardown durations of each test."""

    def __init__(self) -> None:
        self.by_test: dict[str, float] = defaultdict(float)

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        self.by_test[report.nodeid] += report.duration


def run(count: int) -> dict[str, list[float]]:
    timings = Timings()
    with tempfile.TemporaryDirectory() as folder:
        test_file = Path(folder) / "test_overhead.py"
        test_file.write_text(suite(count))
        (Path(folder) / "pytest.ini").write_text("[pytest]\n")
        code = pytest.main([str(test_file), "-q", "-p", "no:cacheprovider", "--no-header"], plugins=[timings])
        if code != 0:
            sys.exit(f"the generated suite failed (exit {code})")
    grouped: dict[str, list[float]] = defaultdict(list)
    for nodeid, seconds in timings.by_test.items():
        grouped[nodeid.split("::")[1].split("[")[0].removeprefix("test_")].append(seconds * 1000)
    return grouped


def report(grouped: dict[str, list[float]]) -> None:
    bare = statistics.median(grouped["bare"][1:])
    print(f"\nper-test time of a test with no fixture: {bare:.3f} ms (median)")
    print(f"{'variant':<20} {'overhead median':>16} {'p90':>9} {'first test':>11}")
    for name, times in grouped.items():
        if name == "bare":
            continue
        rest = sorted(t - bare for t in times[1:])
        p90 = rest[int(len(rest) * 0.9)]
        print(f"{name:<20} {statistics.median(rest):>13.2f} ms {p90:>6.2f} ms {times[0]:>8.1f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tests", type=int, default=200, help="tests per variant (default 200)")
    report(run(parser.parse_args().tests))


if __name__ == "__main__":
    main()
