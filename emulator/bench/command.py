"""`hub-emulator bench [--quick] [--json] [--rounds N]`: the command line's side of the benchmark."""

from __future__ import annotations

import argparse
import sys

from emulator.bench import GENERATORS


def add_command(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    bench = commands.add_parser(
        "bench", help="measure the emulator against a bare Starlette app and a plain httpx client"
    )
    bench.add_argument("--quick", action="store_true", help="a short smoke run (rough figures)")
    bench.add_argument("--json", action="store_true", help="also print every figure as JSON on the last line")
    bench.add_argument("--rounds", type=int, default=None, help="rounds to take medians over (default 3)")
    bench.add_argument(
        "--generator",
        choices=GENERATORS,
        default="auto",
        help="load generator: wrk when on the PATH (auto, the default), or the built-in Python one",
    )


def run(args: argparse.Namespace) -> int:
    """Exit status 1 when a target is missed (the table's last line says which), else 0."""
    from emulator.bench.report import json_line, table, verdict
    from emulator.bench.runner import BenchOptions, run_bench

    def progress(line: str) -> None:
        print(f"  .. {line}", file=sys.stderr, flush=True)

    options = BenchOptions.of(quick=args.quick, rounds=args.rounds, generator=args.generator)
    figures = run_bench(options, progress)
    print(table(figures), flush=True)
    if args.json:
        print(json_line(figures), flush=True)
    return verdict(figures)[1]
