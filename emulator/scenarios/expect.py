"""`expect` steps: wait for deliveries in the journal (or callbacks at a sink), then compare them.

Every failure says what was expected and what was received, in the message and in the report.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping, Sequence
from typing import Any

import httpx

from emulator.scenarios._format import header_values, short, snippet
from emulator.scenarios.model import StepFailure
from emulator.scenarios.vocabulary import MAX_WITHIN_SECONDS

DEFAULT_WITHIN_SECONDS = 10.0
NOTHING_WITHIN_SECONDS = 0.3  # how long `count: 0` watches for something arriving


class Expectation:
    """Waits on `/_emulator/deliveries/wait` until the journal holds what an `expect` step asks for.

    The server filters by instance, status, url and after; eventId and kind are filtered here, so
    the wait asks the server for one more match (or attempt) than it has each time round.
    """

    def __init__(
        self, client: httpx.AsyncClient, base: str, args: Mapping[str, Any], instance_id: int | None
    ) -> None:
        self.client = client
        self.base = base
        self.args = args
        self.attempts: int | None = args.get("attempts")
        self.count: int = args.get("count", 1)
        default_status = "any" if self.attempts is not None else "delivered"
        self.params = {
            "instanceId": instance_id,
            "status": args.get("status", default_status),
            "url": args.get("url"),
            "after": args.get("after"),
        }

    def keep(self, delivery: Mapping[str, Any]) -> bool:
        event_id = self.args.get("event_id")
        kind = self.args.get("kind")
        return (event_id is None or delivery.get("eventId") == event_id) and (
            kind is None or delivery.get("kind") == kind
        )

    def progress(self, deliveries: list[dict[str, Any]]) -> int:
        if self.attempts is None:
            return len(deliveries)
        return sum(1 for d in deliveries for a in d.get("attempts", []) if a.get("outcome") != "in_flight")

    async def check(self) -> tuple[dict[str, Any], str]:
        """Wait, then run every comparison the step asks for: the step's output and message."""
        found = await self.deliveries()
        check_bodies(self.args, [d.get("body") for d in found])
        if "tries" in self.args:
            _check_tries(self.args["tries"], found)
        if "outcomes" in self.args:
            outcomes = [a.get("outcome") for d in found for a in d.get("attempts", [])]
            _compare("attempt outcomes", self.args["outcomes"], outcomes, "exact")
        return {"count": len(found), "deliveries": found, **_ends(found)}, _describe_found(found)

    async def deliveries(self) -> list[dict[str, Any]]:
        within = _within(self.args, self.count if self.attempts is None else 1)
        target = self.attempts if self.attempts is not None else self.count
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        ask = max(target, 1)
        while True:
            remaining = max(0.0, deadline - loop.time())
            server = await self._wait(ask, remaining)
            found = [d for d in server if self.keep(d)]
            if (target and self.progress(found) >= target) or remaining <= 0:
                break
            ask = self.progress(server) + 1
        self._judge(found, target, within)
        return found

    async def _wait(self, ask: int, timeout: float) -> list[dict[str, Any]]:
        params = {k: v for k, v in self.params.items() if v is not None}
        params["attempts" if self.attempts is not None else "count"] = ask
        params["timeout"] = round(timeout, 3)
        response = await self.client.get(
            self.base + "/_emulator/deliveries/wait", params=params, timeout=timeout + 10
        )
        if response.status_code not in (200, 408):
            raise StepFailure(
                f"GET /_emulator/deliveries/wait answered {response.status_code}: {snippet(response)}"
            )
        deliveries: list[dict[str, Any]] = response.json().get("deliveries", [])
        return deliveries

    def _judge(self, found: list[dict[str, Any]], target: int, within: float) -> None:
        what = self._what()
        if self.attempts is not None:
            done = self.progress(found)
            if done < target:
                raise StepFailure(
                    f"expected {target} finished attempts of {what} within {within:g} s, received {done}"
                    + _listing(found, "attempts"),
                    expected=target,
                    received=[_attempt_summary(d) for d in found],
                )
            return
        if len(found) != target:
            raise StepFailure(
                f"expected {target} {what} within {within:g} s, received {len(found)}"
                + _listing(found, "body"),
                expected=target,
                received=[_delivery_summary(d) for d in found],
            )

    def _what(self) -> str:
        status = self.params["status"]
        filters = [f"{k}={v}" for k, v in self.params.items() if k != "status" and v is not None]
        filters += [f"{k}={self.args[k]}" for k in ("event_id", "kind") if k in self.args]
        noun = "notifications" if status == "any" else f"notifications {status}"
        return noun + (f" ({', '.join(filters)})" if filters else "")


async def expect_sink(
    client: httpx.AsyncClient, sink_url: str, args: Mapping[str, Any]
) -> tuple[dict[str, Any], str]:
    """`expect` with `sink`: what the built-in receiver got, over the wire, each try counted."""
    count = args.get("count", 1)
    within = _within(args, count)
    waited = await client.get(
        sink_url, params={"count": max(count, 1), "timeout": within}, timeout=within + 10
    )
    if waited.status_code not in (200, 408):
        raise StepFailure(f"GET {sink_url} answered {waited.status_code}: {snippet(waited)}")
    records: list[dict[str, Any]] = list(waited.json().get("received", []))
    if len(records) != count:
        raise StepFailure(
            f"expected {count} callbacks at the sink within {within:g} s, received {len(records)}"
            + _listing(records, "body"),
            expected=count,
            received=[r.get("body") for r in records],
        )
    if "answers" in args:
        _compare("answers", args["answers"], [r.get("answered") for r in records], "exact")
    if "headers" in args:
        _check_headers(args["headers"], records)
    check_bodies(args, [r.get("body") for r in records])
    return {
        "count": len(records),
        "received": records,
        **_ends(records),
    }, f"{len(records)} callback{'' if len(records) == 1 else 's'} received"


def matches(expected: Any, received: Any) -> bool:
    """`expected` is a pattern: a mapping matches a mapping having at least its keys (recursively),
    a list matches a list of the same length item by item, anything else matches an equal value."""
    if isinstance(expected, Mapping):
        return isinstance(received, Mapping) and all(
            k in received and matches(v, received[k]) for k, v in expected.items()
        )
    if isinstance(expected, list):
        return (
            isinstance(received, list)
            and len(expected) == len(received)
            and all(matches(e, r) for e, r in zip(expected, received, strict=True))
        )
    if isinstance(expected, bool) or isinstance(received, bool):
        return expected is received
    return bool(expected == received)


def _events_of(bodies: Sequence[Any]) -> list[Any]:
    events: list[Any] = []
    for body in bodies:
        response = body.get("response") if isinstance(body, Mapping) else None
        found = response.get("events") if isinstance(response, Mapping) else None
        events += found if isinstance(found, list) else []
    return events


def check_bodies(args: Mapping[str, Any], bodies: Sequence[Any]) -> None:
    """The `expect` checks on callback bodies, each failing with expected against received."""
    order = str(args.get("order", "exact"))
    events = _events_of(bodies)
    if "events" in args:
        _compare("events", args["events"], events, order)
    if "paths" in args:
        _compare("paths", args["paths"], [_dig(e, "path") for e in events], order)
    if "types" in args:
        _compare("types", args["types"], [_dig(e, "metadata", "type") for e in events], order)
    if "batches" in args:
        _compare("batches", args["batches"], [len(_events_of([b])) for b in bodies], "exact")
    if "max_batch" in args:
        sizes = [len(_events_of([b])) for b in bodies]
        if any(size > args["max_batch"] for size in sizes):
            raise StepFailure(
                f"expected at most {args['max_batch']} events per callback, received batches of {sizes}",
                expected=args["max_batch"],
                received=sizes,
            )
    for key, field_name in (("same_event", "eventId"), ("same_notification", "notificationId")):
        if args.get(key):
            seen = [_dig(b, field_name) for b in bodies]
            if len(set(map(json.dumps, seen))) != 1:
                raise StepFailure(f"expected one {field_name} in every callback, received {seen}", 1, seen)
    if "body" in args:
        for number, body in enumerate(bodies, start=1):
            if not matches(args["body"], body):
                raise StepFailure(
                    f"callback {number} does not match: expected {short(args['body'])}, "
                    f"received {short(body)}",
                    expected=args["body"],
                    received=body,
                )


def _compare(what: str, expected: list[Any], received: list[Any], order: str) -> None:
    if order == "any":
        remaining = list(received)
        ok = len(expected) == len(received)
        for pattern in expected if ok else []:
            hit = next((i for i, r in enumerate(remaining) if matches(pattern, r)), None)
            if hit is None:
                ok = False
                break
            remaining.pop(hit)
    else:
        ok = matches(expected, received)
    if not ok:
        in_order = " (in any order)" if order == "any" else ""
        raise StepFailure(
            f"expected {what}{in_order} {short(expected)}, received {short(received)}",
            expected=expected,
            received=received,
        )


def _check_tries(tries: int, found: list[dict[str, Any]]) -> None:
    for delivery in found:
        outcomes = [a.get("outcome") for a in delivery.get("attempts", [])]
        if len(outcomes) != tries or outcomes[-1:] != ["delivered"]:
            raise StepFailure(
                f"expected notification {delivery.get('notificationId')} delivered on try {tries}, "
                f"received attempts {outcomes}",
                expected=tries,
                received=outcomes,
            )


def _check_headers(expected: Mapping[str, Any], records: list[dict[str, Any]]) -> None:
    """Every callback carries these headers (names in any case) with these values."""
    wanted = {str(k).lower(): header_values({k: v})[k] for k, v in expected.items()}
    for number, record in enumerate(records, start=1):
        got = {str(k).lower(): v for k, v in record.get("headers", {}).items()}
        seen = {k: got.get(k) for k in wanted}
        if seen != wanted:
            raise StepFailure(
                f"callback {number}: expected headers {short(wanted)}, received {short(seen)}",
                expected=wanted,
                received=seen,
            )


def _dig(value: Any, *keys: str) -> Any:
    for key in keys:
        value = value.get(key) if isinstance(value, Mapping) else None
    return value


def _within(args: Mapping[str, Any], count: int) -> float:
    default = DEFAULT_WITHIN_SECONDS if count else NOTHING_WITHIN_SECONDS
    return min(float(args.get("within", default)), MAX_WITHIN_SECONDS)


def _ends(items: list[dict[str, Any]]) -> dict[str, Any]:
    return {"first": items[0] if items else None, "last": items[-1] if items else None}


def _describe_found(found: list[dict[str, Any]]) -> str:
    if not found:
        return "nothing arrived, as expected"
    ids = [d.get("notificationId") for d in found]
    shown = ids if len(ids) <= 6 else [*ids[:3], "...", *ids[-2:]]
    return f"{len(found)} matched: notifications {', '.join(map(str, shown))}"


def _delivery_summary(delivery: Mapping[str, Any]) -> dict[str, Any]:
    return {k: delivery.get(k) for k in ("notificationId", "eventId", "instanceId", "kind", "status", "body")}


def _attempt_summary(delivery: Mapping[str, Any]) -> dict[str, Any]:
    outcomes = [a.get("outcome") for a in delivery.get("attempts", [])]
    return {
        "notificationId": delivery.get("notificationId"),
        "status": delivery.get("status"),
        "attempts": outcomes,
    }


def _listing(items: list[dict[str, Any]], key: str) -> str:
    if not items:
        return ""
    shown = [short(i.get(key))[:160] for i in items[:5]]
    more = f" (and {len(items) - 5} more)" if len(items) > 5 else ""
    return ": " + "; ".join(shown) + more
