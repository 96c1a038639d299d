"""Control plane for the state as a whole (export, import, save) and for replaying notifications."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import yaml
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from emulator.domain.errors import InvalidInput, NotFound
from emulator.web.bodies import read_body, read_json
from emulator.web.context import json_response, runtime_of
from emulator.web.dropbox_control_routes import run_operation
from emulator.web.routing import LazyRoute

PREFIX = "/_emulator"
MAX_STATE_BYTES = 1024 * 1024 * 1024  # a state holds every file's bytes
MAX_TRIGGER_BYTES = 16 * 1024 * 1024


async def export_state(request: Request) -> Response:
    given = request.query_params.getlist("format")
    wrong = [f for f in given if f not in ("", "json", "yaml")]
    if wrong:
        raise InvalidInput(f"format must be json or yaml, not {wrong[0]!r}")
    wanted = given[-1] if given else None
    data = runtime_of(request).export_state()
    if wanted == "yaml" or (not wanted and "yaml" in request.headers.get("accept", "")):
        text = yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
        return Response(text, media_type="application/yaml")
    return json_response(data)


async def import_state(request: Request) -> Response:
    raw = await read_body(request, MAX_STATE_BYTES)
    runtime = runtime_of(request)
    runtime.import_state(_parse(raw))
    return json_response({"status": "imported", "instances": len(runtime.state.instances)})


def _parse(raw: bytes) -> Any:
    """JSON or YAML (JSON is YAML): the safe loader, so a state file can hold no code."""
    try:
        return yaml.safe_load(raw)
    except yaml.YAMLError as problem:
        raise InvalidInput(f"the state is neither JSON nor YAML: {problem}") from None
    except RecursionError:
        raise InvalidInput("the state is nested too deeply") from None


async def save_state(request: Request) -> Response:
    runtime = runtime_of(request)
    if runtime.state_file is None:
        raise InvalidInput("this emulator was not started with --state FILE")
    path = runtime.save_state()
    return json_response({"status": "saved", "path": str(path)})


async def replay(request: Request) -> Response:
    notification_id = _int(request.path_params["notification_id"], "notification id")
    copy = runtime_of(request).events.replay(notification_id)
    body = {"notificationId": copy.id, "replayOf": notification_id, "url": copy.url}
    return json_response(body, status=201)


def routes() -> list[Route]:
    return [
        LazyRoute(PREFIX + "/state", export_state, methods=["GET"]),
        LazyRoute(PREFIX + "/state", import_state, methods=["PUT"]),
        LazyRoute(PREFIX + "/state/save", save_state, methods=["POST"]),
        LazyRoute(PREFIX + "/notifications/{notification_id}/replay", replay, methods=["POST"]),
        LazyRoute(PREFIX + "/instances/{instance_id}/trigger", trigger, methods=["POST"]),
    ]


async def trigger(request: Request) -> Response:
    """A notification now: for a real change made in this call (`op`), or with the `events` given."""
    runtime = runtime_of(request)
    instance = runtime.state.instances.get(_int(request.path_params["instance_id"], "instance id"))
    if instance is None:
        raise NotFound(f"no instance {request.path_params['instance_id']}")
    body = await read_json(request, MAX_TRIGGER_BYTES)
    if not isinstance(body, Mapping) or (("op" in body) == ("events" in body)):
        raise InvalidInput('the body must be {"op": {...}} or {"events": [...]}')
    runtime.events.require_callback(instance)
    before = set(runtime.events.events)
    metadata = None
    if "op" in body:
        if not isinstance(body["op"], Mapping):
            raise InvalidInput("op must be an operation object")
        store = runtime.state.provider_of(instance).account(instance.account).store
        metadata = run_operation(store, body["op"], runtime.state.seed.seed).metadata()
        runtime.events.flush(instance)
    else:
        runtime.events.trigger(instance, _entries(body["events"]))
    created = [
        e for i, e in runtime.events.events.items() if i not in before and e.instance_id == instance.id
    ]
    answer = {
        "eventIds": [e.id for e in created],
        "notificationIds": [n for e in created for n in e.notification_ids],
        "metadata": metadata,
    }
    return json_response(answer, status=201)


def _entries(raw: Any) -> list[dict[str, Any]]:
    """Events as the callback lists them; `metadata` defaults from the path (a file)."""
    if not isinstance(raw, list) or not raw:
        raise InvalidInput("events must be a non-empty list")
    entries = []
    for index, item in enumerate(raw):
        if not isinstance(item, Mapping) or not isinstance(item.get("path"), str):
            raise InvalidInput(f"events[{index}] must be an object with a string path")
        metadata = item.get("metadata")
        if metadata is None:
            name = item["path"].rstrip("/").rsplit("/", 1)[-1]
            metadata = {"path": item["path"], "name": name, "type": "file"}
        if not isinstance(metadata, Mapping):
            raise InvalidInput(f"events[{index}].metadata must be an object")
        entries.append({"path": item["path"].lower(), "metadata": dict(metadata)})
    return entries


def _int(text: str, what: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise InvalidInput(f"the {what} must be an integer") from None
