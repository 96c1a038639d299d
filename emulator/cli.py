"""The hub-emulator command line: serve, validate (and more as thin clients of the control plane)."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from emulator import __version__
from emulator.domain.clock import CLOCK_MODES


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="hub-emulator", description=__doc__)
    parser.add_argument("--version", action="version", version=f"hub-emulator {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="serve the emulated API on a fixture")
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=8080, help="port (default 8080; 0 picks a free one)")
    serve.add_argument("--fixtures", default=None, help="fixture YAML (default: fixtures/default.yaml)")
    serve.add_argument("--clock", choices=CLOCK_MODES, default="real", help="real (default) or manual time")
    serve.add_argument("--log-level", default="warning", choices=["debug", "info", "warning", "error"])

    validate = commands.add_parser("validate", help="check a fixture file and report every problem")
    validate.add_argument("file")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "validate":
        return _validate(args.file)
    if args.command == "serve":
        return _serve(args)
    return 2


def _validate(path: str) -> int:
    from emulator.loading import validate_file

    problems = validate_file(path)
    for problem in problems:
        print(problem, file=sys.stderr)
    if problems:
        print(f"{path}: {len(problems)} problem(s)", file=sys.stderr)
        return 1
    print(f"{path}: ok")
    return 0


def _serve(args: argparse.Namespace) -> int:
    from emulator.assemble import default_fixture_path, load_runtime
    from emulator.loading import FixtureError
    from emulator.server import serve_forever

    logging.basicConfig(level=args.log_level.upper(), format="%(levelname)s %(name)s: %(message)s")
    try:
        runtime = load_runtime(args.fixtures or default_fixture_path(), clock_mode=args.clock)
    except FixtureError as error:
        for problem in error.problems:
            print(problem, file=sys.stderr)
        return 1
    except OSError as error:
        print(f"hub-emulator: cannot read the fixture: {error}", file=sys.stderr)
        return 1
    serve_forever(runtime, args.host, args.port, args.log_level)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
