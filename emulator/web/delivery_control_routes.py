"""Control plane for callbacks: the delivery journal, waiting on it, faults, subscriptions, events."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from emulator.domain.delivery import FAULT_ACTIONS, FaultAction, FaultRule, Notification, NotificationStatus
from emulator.domain.errors import Conflict, InvalidInput
from emulator.web.bodies import read_json
from emulator.web.context import json_response, runtime_of
from emulator.web.delivery_json import fault_json, notification_json
from emulator.web.errors import error_response
from emulator.web.routing import LazyRoute

PREFIX = "/_emulator"
STATUSES = ("pending", "delivered", "queued", "dropped")
MAX_WAIT_SECONDS = 120.0


def _int_param(request: Request, name: str) -> int | None:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return None
    try:
        return int(raw)
    except ValueError:
        raise InvalidInput(f"{name} must be an integer") from None


def _status_param(request: Request, default: str | None) -> NotificationStatus | None:
    status = request.query_params.get("status", default)
    if status in (None, "", "any"):
        return None
    if status not in STATUSES:
        raise InvalidInput(f"status must be one of {', '.join(STATUSES)} or any")
    return cast(NotificationStatus, status)


def _matching(request: Request, default_status: str | None) -> list[Notification]:
    return runtime_of(request).engine.notifications(
        instance_id=_int_param(request, "instanceId"),
        status=_status_param(request, default_status),
        url=request.query_params.get("url") or None,
        after_id=_int_param(request, "after"),
    )


async def deliveries(request: Request) -> Response:
    return json_response([notification_json(n) for n in _matching(request, None)])


async def wait_for_deliveries(request: Request) -> Response:
    """Long-poll: answers as soon as `count` notifications match (default status: delivered), or,
    with `attempts=N`, as soon as the matching notifications have N finished attempts between them
    (default status then: any), which is how a test waits for a retry to have happened.

    200 with the matches when reached; 408 with what matched so far when `timeout` passes.
    """
    count = _int_param(request, "count")
    count = 1 if count is None else count
    attempts = _int_param(request, "attempts")
    default_status = "delivered" if attempts is None else None
    raw_timeout = request.query_params.get("timeout", "10")
    try:
        timeout = min(float(raw_timeout), MAX_WAIT_SECONDS)
    except ValueError:
        raise InvalidInput("timeout must be a number of seconds") from None
    if count < 1 or (attempts is not None and attempts < 1) or not timeout >= 0:
        raise InvalidInput("count and attempts must be at least 1, timeout not negative")
    _matching(request, default_status)  # validate the filters before waiting

    def reached() -> bool:
        found = _matching(request, default_status)
        if attempts is not None:
            return sum(1 for n in found for a in n.attempts if a.outcome != "in_flight") >= attempts
        return len(found) >= count

    done = await runtime_of(request).waiters.wait_for(reached, timeout)
    found = _matching(request, default_status)
    body = {"reached": done, "count": len(found), "deliveries": [notification_json(n) for n in found]}
    return json_response(body, status=200 if done else 408)


async def advance_to_next_retry(request: Request) -> Response:
    """Waits for the attempts due now, moves the clock to the next scheduled retry (of `instanceId` /
    `url`), and answers once that retry has been answered: a retry in one call on the manual clock.

    200 with the notification and how far the clock moved; 409 when no retry is scheduled; 408 when
    the attempts do not settle within `timeout` seconds.
    """
    raw_timeout = request.query_params.get("timeout", "10")
    try:
        timeout = min(float(raw_timeout), MAX_WAIT_SECONDS)
    except ValueError:
        raise InvalidInput("timeout must be a number of seconds") from None
    if not timeout >= 0:
        raise InvalidInput("timeout must not be negative")
    instance_id = _int_param(request, "instanceId")
    try:
        found = await runtime_of(request).advance_to_next_retry(
            url=request.query_params.get("url") or None, instance_id=instance_id, timeout=timeout
        )
    except TimeoutError as late:
        return error_response(request, 408, str(late))
    if found is None:
        raise Conflict("no retry is scheduled: no matching notification waits after a failed attempt")
    notification, moved = found
    return json_response({"advancedBy": moved, "notification": notification_json(notification)})


async def list_faults(request: Request) -> Response:
    return json_response([fault_json(r) for r in runtime_of(request).engine.faults()])


async def add_fault(request: Request) -> Response:
    body = await read_json(request, 64 * 1024)
    rule = runtime_of(request).engine.add_fault(_fault_rule(body))
    return json_response(fault_json(rule), status=201)


def _fault_rule(body: Any) -> FaultRule:
    if not isinstance(body, Mapping):
        raise InvalidInput("the body must be a JSON object")
    action = body.get("action")
    if action not in FAULT_ACTIONS:
        raise InvalidInput(f"action must be one of {', '.join(FAULT_ACTIONS)}")
    url = body.get("url")
    if url is not None and not isinstance(url, str):
        raise InvalidInput("url must be a string (or absent for every destination)")
    numbers = {}
    for key, default in (("count", 1), ("status", 500), ("delayMs", 0)):
        value = body.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int):
            raise InvalidInput(f"{key} must be an integer")
        numbers[key] = value
    return FaultRule(
        url=url,
        action=cast(FaultAction, action),
        count=numbers["count"],
        status=numbers["status"],
        delay_ms=numbers["delayMs"],
    )


async def clear_faults(request: Request) -> Response:
    removed = runtime_of(request).engine.clear_faults(request.query_params.get("url") or None)
    return json_response({"removed": removed})


async def subscriptions(request: Request) -> Response:
    return json_response(runtime_of(request).engine.subscriptions())


async def redeliver(request: Request) -> Response:
    count = runtime_of(request).engine.redeliver(
        url=request.query_params.get("url") or None, instance_id=_int_param(request, "instanceId")
    )
    return json_response({"redelivered": count})


async def list_events(request: Request) -> Response:
    events = runtime_of(request).events
    instance_id = _int_param(request, "instanceId")
    found = [e for e in events.events.values() if instance_id is None or e.instance_id == instance_id]
    return json_response([events.event_json(e) for e in found])


def routes() -> list[Route]:
    return [
        LazyRoute(PREFIX + "/deliveries", deliveries, methods=["GET"]),
        LazyRoute(PREFIX + "/deliveries/wait", wait_for_deliveries, methods=["GET"]),
        LazyRoute(PREFIX + "/deliveries/redeliver", redeliver, methods=["POST"]),
        LazyRoute(PREFIX + "/deliveries/next-retry", advance_to_next_retry, methods=["POST"]),
        LazyRoute(PREFIX + "/subscriptions", subscriptions, methods=["GET"]),
        LazyRoute(PREFIX + "/faults", list_faults, methods=["GET"]),
        LazyRoute(PREFIX + "/faults", add_fault, methods=["POST"]),
        LazyRoute(PREFIX + "/faults", clear_faults, methods=["DELETE"]),
        LazyRoute(PREFIX + "/events", list_events, methods=["GET"]),
    ]
