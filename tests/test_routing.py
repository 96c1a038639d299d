"""The indexed router finds the route Starlette's own loop would: its candidates miss no matching route."""

from __future__ import annotations

import re

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Match, Route
from starlette.testclient import TestClient

from emulator.web.app import route_table
from emulator.web.routing import IndexedRouter, LazyRoute

METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
SAMPLES = {"dialect": ["elements", "your_moms"], "document_id": ["%252Fa%252Fb.txt", "/a/b.txt", "id:xyz"]}


def _paths_of(route: Route) -> list[str]:
    """The route's own path with each parameter filled in, every way SAMPLES know."""
    paths = [""]
    for literal, name, convertor in re.findall(r"([^{]*)(?:\{(\w+)(?::(\w+))?\})?", route.path):
        default = ["7" if convertor == "int" else f"some-{name}"]
        values = SAMPLES.get(convertor or "", default) if name else [""]
        paths = [p + literal + v for p in paths for v in values]
    return paths


def _sample_paths() -> list[str]:
    found = {p for route in route_table() if isinstance(route, Route) for p in _paths_of(route)}
    odd = {"/", "/nowhere", "/_emulator", "/_emulator/health/", "/elements", "/elements/api-v2", "/x/ping"}
    return sorted(found | odd)


@pytest.mark.parametrize("path", _sample_paths())
def test_candidates_hold_every_route_that_matches_in_the_same_order(path: str) -> None:
    router = IndexedRouter(routes=route_table())
    candidates = list(router._candidates_for(path))
    for method in METHODS:
        scope = {"type": "http", "path": path, "root_path": "", "method": method}
        matching = [r for r in router.routes if r.matches(scope)[0] is not Match.NONE]
        assert [r for r in candidates if r in matching] == matching, (method, path)
    assert candidates == [r for r in router.routes if r in candidates]  # the table's order


def test_routes_added_later_are_found() -> None:
    async def endpoint(request: object) -> None:
        raise AssertionError("not called")

    router = IndexedRouter(routes=route_table())
    assert router._candidates_for("/late/route") == []
    router.routes.append(Route("/late/route", endpoint))
    assert [r.path for r in router._candidates_for("/late/route") if isinstance(r, Route)] == ["/late/route"]


def _echo_app() -> Starlette:
    async def show(request: Request) -> JSONResponse:
        return JSONResponse({"route": request.scope["route"].name, **request.path_params})

    app = Starlette()
    app.router = IndexedRouter(
        routes=[
            Route("/items/{item_id:int}", show, methods=["GET"], name="get"),
            Route("/items/{item_id:int}", show, methods=["DELETE"], name="delete"),
            Route("/items/{item_id:int}/parts/{part}", show, methods=["GET"], name="part"),
        ]
    )
    return app


def test_a_remembered_match_still_answers_each_request_by_its_own_method_and_parameters() -> None:
    with TestClient(_echo_app()) as client:
        for _ in range(2):  # the second round is answered from what the first remembered
            assert client.get("/items/1").json() == {"route": "get", "item_id": 1}
            assert client.delete("/items/1").json() == {"route": "delete", "item_id": 1}
            assert client.get("/items/2").json() == {"route": "get", "item_id": 2}
            assert client.get("/items/2/parts/x").json() == {"route": "part", "item_id": 2, "part": "x"}
            assert client.put("/items/1").status_code == 405
            assert client.get("/items/one").status_code == 404


def test_a_remembered_match_gives_way_to_a_route_table_that_changed() -> None:
    app = _echo_app()
    with TestClient(app) as client:
        assert client.get("/items/1").json()["route"] == "get"
        app.router.routes.clear()
        assert client.get("/items/1").status_code == 404


def test_a_lazy_route_compiles_its_path_when_first_used_and_matches_as_starlettes_route() -> None:
    async def endpoint(request: Request) -> JSONResponse:
        return JSONResponse({})

    lazy = LazyRoute("/items/{item_id:int}", endpoint, methods=["GET"], name="item")
    eager = Route("/items/{item_id:int}", endpoint, methods=["GET"], name="item")
    assert "path_regex" not in vars(lazy)  # not compiled at start-up
    for path, method in [("/items/7", "GET"), ("/items/7", "POST"), ("/items/x", "GET"), ("/", "GET")]:
        scope = {"type": "http", "path": path, "root_path": "", "method": method}
        assert lazy.matches(scope) == eager.matches(scope), (path, method)
    assert lazy.url_path_for("item", item_id=3) == eager.url_path_for("item", item_id=3) == "/items/3"
    assert lazy.path == "/items/{item_id:int}" and lazy.methods == {"GET", "HEAD"}
