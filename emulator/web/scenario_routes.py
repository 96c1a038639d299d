"""Control plane for scenario scripts: list them, and run one against this very emulator.

Scenario files are read from disk on every request, so an edited file counts at once without a
watcher. A run talks to the app in-process (an ASGI transport), while the callbacks it causes
reach the built-in sink over the server's real socket, as they would reach any client.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from emulator.domain.errors import NotFound
from emulator.web.context import json_response, origin_of, runtime_of
from emulator.web.routing import LazyRoute

PREFIX = "/_emulator/scenarios"
# Long enough for an expect step's longest wait, plus the requests around it.
CLIENT_TIMEOUT = 90.0


# The scenario runner (and httpx with it) is imported on first use: serving starts without it.


async def listing(request: Request) -> Response:
    from emulator.scenarios import list_scenarios

    return json_response([found.to_json() for found in list_scenarios()])


async def run(request: Request) -> Response:
    import httpx

    from emulator.scenarios import ScenarioError, ScenarioNotFound, find_named, run_scenario

    name = request.path_params["name"]
    try:
        scenario = find_named(name)
    except ScenarioNotFound as missing:
        raise NotFound(str(missing)) from None
    except ScenarioError as error:
        body = {"error": "invalid_scenario", "message": str(error), "problems": error.problems}
        return json_response(body, status=400)
    origin = origin_of(request)
    transport = httpx.ASGITransport(app=request.app)
    token = runtime_of(request).options.control_token
    # The steps call the control plane too: they carry the token this request got past the guard with.
    headers = {"X-Emulator-Token": token} if token else {}
    async with httpx.AsyncClient(
        transport=transport, base_url=origin, timeout=CLIENT_TIMEOUT, headers=headers
    ) as client:
        report = await run_scenario(scenario, origin, client)
    return json_response(report.to_json(), status=200 if report.passed else 422)


def routes() -> list[Route]:
    return [
        LazyRoute(PREFIX, listing, methods=["GET"]),
        LazyRoute(PREFIX + "/{name}/run", run, methods=["POST"]),
    ]
