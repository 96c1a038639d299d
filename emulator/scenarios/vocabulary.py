"""The step vocabulary: each action's keys, their kinds, and the checks made before anything runs."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from emulator.dialects import DIALECTS

MAX_SLEEP_SECONDS = 10.0
MAX_WITHIN_SECONDS = 60.0
DELIVERY_STATUSES = ("pending", "delivered", "queued", "dropped", "any")
KINDS = ("webhook", "polling", "async", "trigger", "replay")
FILE_KEYS = frozenset({"name", "content", "base64", "size", "type"})  # a hub step's multipart file

# A key's kind: a type name, or a tuple of allowed words. A `{{...}}` value passes any kind here
# and is checked when the step runs.
Kind = str | tuple[str, ...]
Args = Mapping[str, Any]


@dataclass(frozen=True)
class Action:
    keys: Mapping[str, Kind]
    required: tuple[str, ...] = ()
    shorthand: str | None = None  # a scalar step value `sleep: 2` means {shorthand: value}
    check: Callable[[Args], list[str]] | None = None
    describe: Callable[[Args], str] = lambda args: ""


def _one_of(*groups: str, required: bool = True) -> Callable[[Args], list[str]]:
    def check(args: Args) -> list[str]:
        given = [g for g in groups if g in args]
        if len(given) > 1 or (required and not given):
            return [f"needs {'exactly' if required else 'at most'} one of {', '.join(groups)}"]
        return []

    return check


def _check_hub(args: Args) -> list[str]:
    problems = _one_of("instance", "token")(args) + _one_of("json", "file", required=False)(args)
    upload = args.get("file")
    if isinstance(upload, Mapping):
        unknown = sorted(set(upload) - FILE_KEYS)
        if unknown:
            problems.append(f"file takes {', '.join(sorted(FILE_KEYS))}, not {', '.join(unknown)}")
        problems += _one_of("content", "base64", "size", required=False)(upload)
    path = args.get("path")
    if isinstance(path, str) and not path.startswith(("/", "{{")):
        problems.append(f"path must start with / (it is under /hubs/documents), not {path!r}")
    return problems


def _check_dropbox(args: Args) -> list[str]:
    op = args.get("op")
    problems: list[str] = []
    if op in ("move", "copy") and "to" not in args:
        problems.append(f"a {op} needs to")
    if op == "upload":
        problems += _one_of("content", "base64", "size")(args)
    elif any(k in args for k in ("content", "base64", "size")):
        problems.append("content, base64 and size belong to an upload")
    return problems


def _check_clock(args: Args) -> list[str]:
    return (
        [] if any(k in args for k in ("seconds", "minutes", "hours")) else ["needs seconds, minutes or hours"]
    )


def _check_sleep(args: Args) -> list[str]:
    seconds = args.get("seconds")
    if isinstance(seconds, (int, float)) and seconds > MAX_SLEEP_SECONDS:
        return [f"a sleep is at most {MAX_SLEEP_SECONDS:g} seconds of wall time; move the clock instead"]
    return []


def _check_fault(args: Args) -> list[str]:
    if "clear" in args:
        extra = sorted(set(args) - {"clear"})
        return [f"a fault clear takes no {', '.join(extra)}"] if extra else []
    return (
        [] if "action" in args else ["needs action (fail, refuse, delay, drop, duplicate, reorder) or clear"]
    )


def _check_sink(args: Args) -> list[str]:
    return [] if "statuses" in args or "clear" in args else ["needs statuses or clear"]


def _check_expect(args: Args) -> list[str]:
    problems = _one_of("count", "attempts", required=False)(args)
    within = args.get("within")
    if isinstance(within, (int, float)) and within > MAX_WITHIN_SECONDS:
        problems.append(f"within is at most {MAX_WITHIN_SECONDS:g} seconds")
    if "sink" in args:
        journal_only = sorted(set(args) & JOURNAL_ONLY)
        if journal_only:
            problems.append(f"{', '.join(journal_only)}: only for the delivery journal, not with sink")
    else:
        problems += [
            f"{key} are checked at a sink: add sink" for key in ("answers", "headers") if key in args
        ]
    return problems


JOURNAL_ONLY = frozenset(
    {"instance", "status", "url", "kind", "event_id", "after", "attempts", "tries", "outcomes"}
)
MATCH_KEYS: dict[str, Kind] = {
    "events": "list",
    "paths": "list",
    "types": "list",
    "order": ("exact", "any"),
    "body": "any",
    "same_event": "bool",
    "same_notification": "bool",
    "batches": "list",
    "max_batch": "int",
}


def _describe_expect(args: Args) -> str:
    if "attempts" in args:
        return f"expect {args['attempts']} finished attempts"
    count = args.get("count", 1)
    amount = "no" if count == 0 else str(count)
    if "sink" in args:
        sink = args["sink"]
        where = f"sink {sink}" if isinstance(sink, str) else "the sink"
        return f"expect {amount} callback{'' if count == 1 else 's'} at {where}"
    status = args.get("status", "delivered")
    noun = "notification" if count == 1 else "notifications"
    return f"expect {amount} {noun}" + ("" if status == "any" else f" {status}")


def _describe_clock(args: Args) -> str:
    parts = [f"+{args[k]} {k}" for k in ("hours", "minutes", "seconds") if k in args]
    return "clock " + " ".join(parts)


ACTIONS: dict[str, Action] = {
    "provision": Action(
        keys={
            "account": "str",
            "dialect": tuple(DIALECTS),
            "name": "str",
            "config": "map",
            "tags": "list",
            "connector": "str",
            "api_key": "str",
            "api_secret": "str",
            "callback_url": "str",
            "status": "status",
        },
        describe=lambda a: f"provision {a.get('dialect', '')} instance".replace("  ", " "),
    ),
    "hub": Action(
        keys={
            "instance": "str",
            "token": "str",
            "dialect": tuple(DIALECTS),
            "method": ("GET", "POST", "PUT", "PATCH", "DELETE"),
            "path": "str",
            "query": "map",
            "json": "any",
            "file": "map",
            "form": "map",
            "headers": "map",
            "status": "status",
            "body": "any",
        },
        required=("path",),
        check=_check_hub,
        describe=lambda a: f"hub {a.get('method', 'GET')} {a.get('path', '')}",
    ),
    "request": Action(
        keys={
            "method": ("GET", "POST", "PUT", "PATCH", "DELETE"),
            "path": "str",
            "query": "map",
            "json": "any",
            "headers": "map",
            "auth": ("none", "platform"),
            "status": "status",
            "body": "any",
        },
        required=("path",),
        describe=lambda a: f"{a.get('method', 'GET')} {a.get('path', '')}",
    ),
    "dropbox": Action(
        keys={
            "account": "str",
            "op": ("mkdir", "upload", "delete", "move", "copy"),
            "path": "str",
            "to": "str",
            "content": "str",
            "base64": "str",
            "size": "int",
            "mode": ("add", "overwrite"),
            "autorename": "bool",
        },
        required=("op", "path"),
        check=_check_dropbox,
        describe=lambda a: f"dropbox {a.get('op', '')} {a.get('path', '')}",
    ),
    "clock": Action(
        keys={"seconds": "number", "minutes": "number", "hours": "number"},
        shorthand="seconds",
        check=_check_clock,
        describe=_describe_clock,
    ),
    "sleep": Action(
        keys={"seconds": "number"},
        required=("seconds",),
        shorthand="seconds",
        check=_check_sleep,
        describe=lambda a: f"sleep {a.get('seconds')} s",
    ),
    "fault": Action(
        keys={
            "action": ("fail", "refuse", "delay", "drop", "duplicate", "reorder"),
            "url": "str",
            "count": "int",
            "status": "int",
            "delay_ms": "int",
            "clear": "any",
        },
        check=_check_fault,
        describe=lambda a: "clear faults" if "clear" in a else f"fault {a.get('action', '')}",
    ),
    "trigger": Action(
        keys={"instance": "str", "events": "list", "op": "map"},
        required=("instance",),
        check=_one_of("events", "op"),
        describe=lambda a: "trigger an event",
    ),
    "sink": Action(
        keys={"name": "str", "statuses": "list", "clear": "bool"},
        check=_check_sink,
        describe=lambda a: "sink " + (f"answers {a['statuses']}" if "statuses" in a else "cleared"),
    ),
    "redeliver": Action(
        keys={"dialect": tuple(DIALECTS), "count": "int"},
        describe=lambda a: "redeliver queued notifications",
    ),
    "policy": Action(
        keys={"policy": ("retry", "queue"), "organization": "int"},
        required=("policy",),
        shorthand="policy",
        describe=lambda a: f"failure policy {a.get('policy')}",
    ),
    "expect": Action(
        keys={
            "count": "int",
            "within": "number",
            "sink": "any",
            "instance": "any",
            "status": DELIVERY_STATUSES,
            "url": "str",
            "kind": KINDS,
            "event_id": "int",
            "after": "int",
            "attempts": "int",
            "tries": "int",
            "outcomes": "list",
            "answers": "list",
            "headers": "map",
            **MATCH_KEYS,
        },
        check=_check_expect,
        describe=_describe_expect,
    ),
}
STEP_KEYS = ("name", "save", "repeat")
TOP_KEYS = (
    "name",
    "description",
    "fixture",
    "reset",
    "clock",
    "dialect",
    "account",
    "credentials",
    "variables",
    "steps",
)


def coerce(action: str, args: Mapping[str, Any]) -> dict[str, Any]:
    """Filled-in values of text keys as text: `path: "{{n}}"` may have filled in a number."""
    keys = ACTIONS[action].keys
    return {
        k: str(v) if keys.get(k) == "str" and isinstance(v, (int, float)) and not isinstance(v, bool) else v
        for k, v in args.items()
    }
