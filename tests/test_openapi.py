"""The OpenAPI document stays true to the route table: every route in it, nothing else."""

from __future__ import annotations

import re

from starlette.routing import Route
from starlette.testclient import TestClient

from emulator.dialects import DIALECTS
from emulator.web.app import route_table


def _documented(client: TestClient) -> set[tuple[str, str]]:
    document = client.get("/_emulator/openapi.json").json()
    assert document["openapi"].startswith("3.")
    return {(method.upper(), path) for path, item in document["paths"].items() for method in item}


def _routed() -> set[tuple[str, str]]:
    found = set()
    for route in route_table():
        assert isinstance(route, Route)
        for dialect in DIALECTS if "{dialect" in route.path else [None]:
            path = (
                route.path
                if dialect is None
                else re.sub(r"{dialect(?:_again)?:dialect}", dialect, route.path)
            )
            path = re.sub(r"{([^}:]+)(?::[^}]+)?}", r"{\1}", path)
            found |= {(method, path) for method in (route.methods or set()) - {"HEAD"}}
    return found


def test_document_lists_exactly_the_routes(client: TestClient) -> None:
    assert _documented(client) == _routed()


def test_both_dialects_and_the_control_plane_are_documented(client: TestClient) -> None:
    documented = _documented(client)
    assert ("POST", "/elements/api-v2/instances") in documented
    assert ("POST", "/your_moms/api-v2/instances") in documented
    assert ("POST", "/_emulator/reset") in documented
    assert ("GET", "/_emulator/openapi.json") in documented


def test_operation_ids_are_unique(client: TestClient) -> None:
    document = client.get("/_emulator/openapi.json").json()
    ids = [op["operationId"] for item in document["paths"].values() for op in item.values()]
    assert len(ids) == len(set(ids))
