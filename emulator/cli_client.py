"""Command-line thin clients of a running emulator's control plane: trigger, state export and import."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import httpx

COMMANDS = ("trigger", "state")
DEFAULT_URL = "http://127.0.0.1:8080"
# Where `--url` points when not given: an emulator served elsewhere (another port, a container)
# is named once per shell instead of on every command.
URL_ENV = "HUB_EMULATOR_URL"


def default_url() -> str:
    """`$HUB_EMULATOR_URL`, else `serve`'s default address."""
    return os.environ.get(URL_ENV) or DEFAULT_URL


def add_command(name: str) -> Callable[[Any], None]:
    """The function that adds the subcommand `name` (one of COMMANDS) to the command line."""
    return {"trigger": _add_trigger, "state": _add_state}[name]


URL_HELP = f"the emulator (default ${URL_ENV}, else {DEFAULT_URL})"


def _add_trigger(commands: Any) -> None:
    trigger = commands.add_parser("trigger", help="send a notification to an instance now")
    trigger.add_argument("instance", type=int, help="instance id")
    what = trigger.add_mutually_exclusive_group(required=True)
    what.add_argument("--events", help='JSON list of events, e.g. \'[{"path": "/a"}]\', or @FILE')
    what.add_argument("--op", help='a Dropbox-side op, e.g. \'{"op": "mkdir", "path": "/x"}\' or @FILE')
    trigger.add_argument("--url", default=default_url(), help=URL_HELP)


def _add_state(commands: Any) -> None:
    state = commands.add_parser("state", help="export or import a running emulator's whole state")
    actions = state.add_subparsers(dest="state_action", required=True)
    export = actions.add_parser("export", help="print the state (or write it to --output)")
    export.add_argument("--output", "-o", help="file to write (written atomically)")
    export.add_argument("--yaml", action="store_true", help="YAML instead of JSON")
    export.add_argument("--url", default=default_url(), help=URL_HELP)
    load = actions.add_parser("import", help="replace the state with a file's")
    load.add_argument("file")
    load.add_argument("--url", default=default_url(), help=URL_HELP)


def run(args: argparse.Namespace) -> int:
    # Imported here: `hub-emulator serve` builds this parser too, and httpx costs it start-up time.
    import httpx

    try:
        with httpx.Client(base_url=args.url, timeout=60.0, trust_env=False) as http:
            if args.command == "trigger":
                return _trigger(http, args)
            if args.state_action == "export":
                return _export(http, args)
            return _import(http, args)
    except httpx.HTTPError as error:
        print(f"hub-emulator: cannot reach {args.url}: {error}", file=sys.stderr)
        return 2


def _json_argument(text: str) -> Any:
    raw = Path(text[1:]).read_text(encoding="utf-8") if text.startswith("@") else text
    return json.loads(raw)


def _trigger(http: httpx.Client, args: argparse.Namespace) -> int:
    try:
        body = {"events": _json_argument(args.events)} if args.events else {"op": _json_argument(args.op)}
    except (OSError, ValueError) as error:
        print(f"hub-emulator: not JSON: {error}", file=sys.stderr)
        return 2
    return _report(http.post(f"/_emulator/instances/{args.instance}/trigger", json=body))


def _export(http: httpx.Client, args: argparse.Namespace) -> int:
    answer = http.get("/_emulator/state", params={"format": "yaml"} if args.yaml else None)
    if answer.status_code != 200:
        return _report(answer)
    if args.output:
        target = Path(args.output)
        temporary = target.with_name(f".{target.name}.tmp")
        temporary.write_bytes(answer.content)
        temporary.replace(target)
        print(f"state written to {target}")
    else:
        sys.stdout.write(answer.text)
    return 0


def _import(http: httpx.Client, args: argparse.Namespace) -> int:
    try:
        content = Path(args.file).read_bytes()
    except OSError as error:
        print(f"hub-emulator: {error}", file=sys.stderr)
        return 2
    headers = {"Content-Type": "application/json"}
    return _report(http.put("/_emulator/state", content=content, headers=headers))


def _report(answer: httpx.Response) -> int:
    print(answer.text)
    return 0 if answer.is_success else 1
