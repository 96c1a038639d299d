"""The benchmark's yardstick: a bare Starlette app answering each route with bytes recorded from the emulator.

It is served exactly as `hub-emulator serve` serves the emulator (uvicorn, the same loop and HTTP
implementation, access log off, lifespan on), so that the ratio of the two measures what the
emulator adds. It imports nothing of the emulator, so that its start-up is a bare app's:

    python -m emulator.bench.bare_app --port N --routes ROUTES.json --loop uvloop --http httptools

ROUTES.json is a list of `{"method", "path", "status", "headers": [[name, value]], "body": base64}`;
`GET /_emulator/health` is always there.
"""

from __future__ import annotations

import argparse
import base64
import json
from pathlib import Path
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

HEALTH = {"method": "GET", "path": "/_emulator/health", "status": 200, "headers": [], "body": "e30="}


def endpoint(recorded: dict[str, Any]) -> Any:
    """A handler that answers the recorded status, headers and body, serialized once up front."""
    body = base64.b64decode(recorded["body"])
    status = int(recorded["status"])
    headers = {str(name): str(value) for name, value in recorded["headers"]}
    media_type = headers.pop("content-type", "application/json")

    async def answer(request: Request) -> Response:
        if request.method == "POST":
            await request.body()  # read the request as a real handler would
        return Response(body, status_code=status, headers=headers, media_type=media_type)

    return answer


def create_app(routes: list[dict[str, Any]]) -> Starlette:
    table = [Route(r["path"], endpoint(r), methods=[r["method"]]) for r in [HEALTH, *routes]]
    return Starlette(routes=table)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--routes", default=None, help="recorded routes (JSON); default: health only")
    parser.add_argument("--loop", default="auto")
    parser.add_argument("--http", default="auto")
    args = parser.parse_args()
    routes = json.loads(Path(args.routes).read_text()) if args.routes else []
    uvicorn.run(
        create_app(routes),
        host=args.host,
        port=args.port,
        log_level="warning",
        access_log=False,
        lifespan="on",
        loop=args.loop,
        http=args.http,
    )


if __name__ == "__main__":
    main()
