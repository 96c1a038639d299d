"""The hub-emulator command line: serve, validate (and more as thin clients of the control plane)."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from emulator import __version__, cli_client
from emulator.bench import command as bench_command
from emulator.domain.clock import CLOCK_MODES

if TYPE_CHECKING:
    from pathlib import Path

# `serve --dropbox-ca-file`'s environment variable: set once in a shell profile, it pins the CA's
# path for every `serve --dropbox-api-port N` (and is ignored without that flag).
CA_FILE_ENV = "HUB_EMULATOR_DROPBOX_CA_FILE"


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The whole command line; with `only`, that one command's (what `main` parses it with).

    Each subcommand's parser costs about a millisecond to build, and `serve` is started often
    enough (once per test session) for a dozen of them to show in its start-up.
    """
    parser = argparse.ArgumentParser(prog="hub-emulator", description=__doc__)
    parser.add_argument("--version", action="version", version=f"hub-emulator {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    for name, add in COMMANDS.items():
        if only is None or only == name:
            add(commands)
    return parser


def _add_serve(commands: Any) -> None:
    serve = commands.add_parser("serve", help="serve the emulated API on a fixture")
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    serve.add_argument(
        "--control-token",
        default=None,
        metavar="TOKEN",
        help="require this token on /_emulator/... (default: $HUB_EMULATOR_CONTROL_TOKEN); "
        "required when --host is not a loopback address",
    )
    serve.add_argument("--port", type=int, default=8080, help="port (default 8080; 0 picks a free one)")
    serve.add_argument("--fixtures", default=None, help="fixture YAML (default: fixtures/default.yaml)")
    serve.add_argument("--clock", choices=CLOCK_MODES, default="real", help="real (default) or manual time")
    serve.add_argument("--log-level", default="warning", choices=["debug", "info", "warning", "error"])
    serve.add_argument("--watch", action="store_true", help="rebuild the state when the fixture file changes")
    serve.add_argument("--state", default=None, help="load this state file at start, save it on exit")
    serve.add_argument(
        "--standard-webhooks", action="store_true", help="also sign callbacks with Standard Webhooks headers"
    )
    serve.add_argument(
        "--job-seconds", type=float, default=0.0, help="emulator seconds an async job takes (default 0)"
    )
    serve.add_argument(
        "--dropbox-api-port",
        type=int,
        default=None,
        metavar="N",
        help="also serve Dropbox API v2 over HTTPS on this port (0 picks a free one; off by default)",
    )
    serve.add_argument(
        "--dropbox-ca-file",
        default=None,
        metavar="PATH",
        help="with --dropbox-api-port: write the CA's certificate to PATH, the same at every start "
        f"(default: ${CA_FILE_ENV}, else a new temporary file); the ready line names it",
    )


def _add_validate(commands: Any) -> None:
    validate = commands.add_parser("validate", help="check a fixture file and report every problem")
    validate.add_argument("file")


def _add_scenario(commands: Any) -> None:
    scenario = commands.add_parser("scenario", help="list or run scenario scripts (scenarios/*.yaml)")
    scenario_commands = scenario.add_subparsers(dest="scenario_command", required=True)
    scenario_commands.add_parser("list", help="the scenarios of ./scenarios/, else the shipped ones")
    run = scenario_commands.add_parser(
        "run", help="run a scenario; exit status 1 when a step fails, 2 when there is no such scenario"
    )
    run.add_argument("scenario", metavar="NAME|FILE", help="a scenario's name, or a scenario file")
    run.add_argument("--url", default=None, help="a running emulator's origin (default: one in-process)")
    run.add_argument("--fixtures", default=None, help="in-process only: fixture YAML (default: scenario's)")
    run.add_argument("--json", action="store_true", help="print the report as JSON")


# In the order `--help` lists them.
def _add_listen(commands: Any) -> None:
    from emulator import listen  # http.server and friends: only when this command is built

    listen.add_command(commands)


COMMANDS: dict[str, Callable[[Any], None]] = {
    "serve": _add_serve,
    "validate": _add_validate,
    "scenario": _add_scenario,
    "listen": _add_listen,
    **{name: cli_client.add_command(name) for name in cli_client.COMMANDS},
    "bench": bench_command.add_command,
}


def main(argv: Sequence[str] | None = None) -> int:
    given = list(sys.argv[1:] if argv is None else argv)
    first = given[0] if given else None
    args = build_parser(only=first if first in COMMANDS else None).parse_args(given)
    if args.command == "validate":
        return _validate(args.file)
    if args.command == "serve":
        return _serve(args)
    if args.command == "scenario":
        return _scenario(args)
    if args.command == "bench":
        return bench_command.run(args)
    if args.command == "listen":
        from emulator import listen

        return listen.run(args)
    if args.command in cli_client.COMMANDS:
        return cli_client.run(args)
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
    import gc
    from pathlib import Path

    # The process is the emulator's own: no cyclic GC while start-up builds what lives as long as
    # the process (modules, the fixture's state, the app); `serve_forever` puts it out of the
    # collector's sight, then turns the collector on. With it on, its passes over what was built
    # so far cost a 100,000-file fixture about 0.2 s.
    gc.disable()

    from emulator.assemble import default_fixture_path, load_runtime
    from emulator.loading import FixtureError
    from emulator.runtime import RuntimeOptions, StateFileError
    from emulator.server import serve_forever
    from emulator.watching import watch_fixture
    from emulator.web.control_guard import TOKEN_ENV, control_token_problem

    logging.basicConfig(level=args.log_level.upper(), format="%(levelname)s %(name)s: %(message)s")
    if args.log_level == "warning":  # the default: a failed callback is news all the same
        logging.getLogger("emulator.deliveries").setLevel(logging.INFO)
    token = args.control_token or os.environ.get(TOKEN_ENV) or None
    refusal = control_token_problem(args.host, token)
    if refusal is not None:
        print(f"hub-emulator: {refusal}", file=sys.stderr)
        return 2
    ca_file, refusal = _dropbox_ca_file(args)
    if refusal is not None:
        print(f"hub-emulator: {refusal}", file=sys.stderr)
        return 2
    fixture_path = Path(args.fixtures or default_fixture_path())
    options = RuntimeOptions(
        clock_mode=args.clock,
        standard_webhooks=args.standard_webhooks,
        job_duration=args.job_seconds,
        control_token=token,
    )
    try:
        runtime = load_runtime(fixture_path, options=options)
        if args.state:
            state_file = Path(args.state)
            if state_file.exists():
                runtime.load_state_file(state_file)
            runtime.state_file = state_file
    except FixtureError as error:
        for problem in error.problems:
            print(problem, file=sys.stderr)
        return 1
    except StateFileError as error:
        print(f"hub-emulator: {error} (the file is left as it is)", file=sys.stderr)
        return 1
    except OSError as error:
        print(f"hub-emulator: cannot read the fixture: {error}", file=sys.stderr)
        return 1
    if args.watch:
        runtime.background.append(lambda stop: watch_fixture(runtime, fixture_path, stop))
    serve_forever(
        runtime,
        args.host,
        args.port,
        args.log_level,
        dropbox_api_port=args.dropbox_api_port,
        dropbox_ca_file=ca_file,
    )
    return 0


def _dropbox_ca_file(args: argparse.Namespace) -> tuple[Path | None, str | None]:
    """Where to write the Dropbox API's CA (a Path, or None for a temporary file), or why not."""
    from pathlib import Path

    if args.dropbox_ca_file is not None and args.dropbox_api_port is None:
        return None, "--dropbox-ca-file needs --dropbox-api-port (the CA signs that server's certificate)"
    given = args.dropbox_ca_file or os.environ.get(CA_FILE_ENV) or None
    if given is None or args.dropbox_api_port is None:
        return None, None
    where = Path(given).absolute()
    if not where.parent.is_dir() or not os.access(where.parent, os.W_OK):
        return None, f"cannot write the Dropbox CA file {given}: {where.parent} is not a writable folder"
    if where.is_dir():
        return None, f"cannot write the Dropbox CA file {given}: it is a folder"
    return where, None


def _scenario(args: argparse.Namespace) -> int:
    from emulator import scenarios

    if args.scenario_command == "list":
        for found in scenarios.list_scenarios():
            state = f"INVALID: {len(found.problems)} problems" if found.problems else f"{found.steps} steps"
            summary = (found.description.strip().splitlines() or [""])[0]
            print(f"{found.name:<28} {state:<22} {summary}")
            for problem in found.problems:
                print(f"    {problem}")
        return 0
    return _run_scenario(args)


def _run_scenario(args: argparse.Namespace) -> int:
    import asyncio
    import json
    from pathlib import Path

    from emulator import scenarios

    try:
        scenario = scenarios.find_scenario(args.scenario)
        if args.url:
            report = asyncio.run(scenarios.run_scenario(scenario, args.url))
        else:
            from emulator.server import serving

            fixture = Path(args.fixtures) if args.fixtures else None
            report = scenarios.run_in_process(scenario, fixture, serve=serving)
    except scenarios.ScenarioNotFound as missing:
        # A usage error (exit 2, as argparse's), not a scenario that failed (1).
        print(f"hub-emulator: {missing}", file=sys.stderr)
        return 2
    except scenarios.ScenarioError as error:
        for problem in error.problems:
            print(problem, file=sys.stderr)
        return 1
    print(json.dumps(report.to_json(), indent=2) if args.json else "\n".join(report.lines()))
    return 0 if report.passed else 1


if __name__ == "__main__":
    raise SystemExit(main())
