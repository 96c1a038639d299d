"""A Starlette Router that tries only the routes a path could match, found by its leading segments.

Starlette's Router tries every route's regex in order; with a hundred routes that was a quarter
of the CPU of `GET /instances/{id}` (profiled with py-spy under `hub-emulator bench`). Here each
route's first few path segments say which request segments it can accept (a literal, one of the
dialects, or anything), and the routes a request's leading segments allow are found once per
distinct leading segments and kept. Those candidates are tried in the table's order; the first
full match is what Starlette's own loop would have found, since no other route can match the path.
Anything else (a method mismatch, a redirect, a 404) goes to Starlette's own loop, unchanged.

A full match is also remembered by path and method: a client repeats the same few requests, and
matching a route (a regex, its converters) was a tenth of a cached folder listing's CPU.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from starlette._utils import get_route_path
from starlette.routing import BaseRoute, Match, Route, Router, compile_path
from starlette.types import Receive, Scope, Send

from emulator.dialects import DIALECTS

SEGMENTS = 3  # leading segments looked at: enough to tell /{dialect}/api-v2/<area> apart
MAX_KEYS = 4096  # distinct leading segments remembered (ids may appear in them)

# A remembered full match: the route, its endpoint, the path parameters its converters gave.
Matched = tuple[Route, Any, dict[str, Any]]

# None: the route accepts any value in that segment (and in every later one).
Allowed = frozenset[str] | None


class LazyRoute(Route):
    """Starlette's Route, its path regex compiled when first needed instead of when it is made.

    Compiling the route table's ~80 distinct regexes was a tenth of what `hub-emulator serve`
    spends starting beyond a bare app; the indexed router below needs few of them, and remembers
    the matches it makes. Everything else is Starlette's own Route.
    """

    def __init__(self, path: str, endpoint: Callable[..., Any], **options: Any) -> None:
        assert path.startswith("/"), "Routed paths must start with '/'"
        super().__init__("/", endpoint, **options)  # "/" compiles once, from then on from re's cache
        self.path = path
        del self.path_regex, self.path_format, self.param_convertors

    def __getattr__(self, name: str) -> Any:
        # Only called for attributes not set: the three compile_path makes, on first use.
        if name not in ("path_regex", "path_format", "param_convertors"):
            raise AttributeError(name)
        self.path_regex, self.path_format, self.param_convertors = compile_path(self.path)
        return getattr(self, name)


def _allowed(route: BaseRoute) -> tuple[Allowed, ...]:
    """What each leading segment of a path must be for `route` to match it; () for "anything"."""
    if not isinstance(route, Route):
        return ()
    constraints: list[Allowed] = []
    for segment in route.path.split("/")[1 : SEGMENTS + 1]:
        if "{" not in segment:
            constraints.append(frozenset({segment}))
        elif segment.startswith("{") and segment.endswith("}") and segment[1:-1].endswith(":dialect"):
            constraints.append(frozenset(DIALECTS))
        else:
            break  # a parameter may hold slashes: no constraint from here on
    return tuple(constraints)


class IndexedRouter(Router):
    """Starlette's Router, narrowed to the candidate routes of a request's leading path segments."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._indexed: list[BaseRoute] = []
        self._indexed_count = -1
        self._constraints: list[tuple[Allowed, ...]] = []
        self._candidates: dict[tuple[str, ...], Sequence[BaseRoute]] = {}
        self._matched: dict[tuple[str, str], Matched] = {}

    def _refresh(self) -> None:
        # Made again when routes were added or removed (or the list replaced) since it was made.
        if self._indexed is not self.routes or self._indexed_count != len(self.routes):  # first call too
            self._indexed = self.routes
            self._indexed_count = len(self.routes)
            self._constraints = [_allowed(route) for route in self._indexed]
            self._candidates = {}
            self._matched = {}

    def _candidates_for(self, path: str) -> Sequence[BaseRoute]:
        self._refresh()
        key = tuple(path.split("/", SEGMENTS + 1)[1 : SEGMENTS + 1])
        found = self._candidates.get(key)
        if found is None:
            found = [
                route
                for route, constraints in zip(self._indexed, self._constraints, strict=True)
                if _accepts(constraints, key)
            ]
            if len(self._candidates) < MAX_KEYS:
                self._candidates[key] = found
        return found

    async def app(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            self._refresh()
            path = get_route_path(scope)
            key = (path, scope["method"])
            matched = self._matched.get(key)
            if matched is not None:
                known, endpoint, params = matched
                scope.setdefault("router", self)
                scope["route"] = known
                scope["endpoint"] = endpoint
                scope["path_params"] = dict(params)
                await known.handle(scope, receive, send)
                return
            for route in self._candidates_for(path):
                match, child_scope = route.matches(scope)
                if match is Match.FULL:
                    if isinstance(route, Route) and "path_params" not in scope:
                        params = dict(child_scope["path_params"])
                        self._remember(key, (route, child_scope["endpoint"], params))
                    scope.setdefault("router", self)
                    scope["route"] = route
                    scope.update(child_scope)
                    await route.handle(scope, receive, send)
                    return
                if match is Match.PARTIAL:
                    break  # Starlette's loop decides between partial matches and later full ones
        await super().app(scope, receive, send)

    def _remember(self, key: tuple[str, str], matched: Matched) -> None:
        # Only a plain route's match at the top: a mount, or a router below one, changes more of the scope.
        if len(self._matched) >= MAX_KEYS:
            self._matched.clear()  # simpler than LRU: the requests in use come back at once
        self._matched[key] = matched


def _accepts(constraints: tuple[Allowed, ...], key: tuple[str, ...]) -> bool:
    for index, allowed in enumerate(constraints):
        if allowed is None:
            return True
        if index >= len(key) or key[index] not in allowed:
            return False
    return True
