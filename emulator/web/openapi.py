"""OpenAPI 3 document of the emulated API (both dialects) and the control plane, from the route table."""

from __future__ import annotations

import inspect
import re
from typing import Any

from starlette.routing import BaseRoute, Route

from emulator import __version__
from emulator.dialects import DIALECTS

PARAM = re.compile(r"{([^}:]+)(?::([^}]+))?}")

PLATFORM_ERROR = {
    "type": "object",
    "required": ["requestId", "message"],
    "properties": {
        "requestId": {"type": "string"},
        "message": {"type": "string"},
        "providerMessage": {"type": "string"},
    },
}
CONTROL_ERROR = {
    "type": "object",
    "required": ["error", "message"],
    "properties": {"error": {"type": "string"}, "message": {"type": "string"}},
}
SECURITY_SCHEMES = {
    "platform": {
        "type": "apiKey",
        "in": "header",
        "name": "Authorization",
        "description": "`User <user secret>, Organization <organization secret>`; hub calls add "
        "`Element <instance token>` (or the guide's `Your_mom <token>`).",
    }
}


def _expand(path: str) -> list[tuple[str, dict[str, str]]]:
    """A route path with `{dialect:dialect}` segments becomes one path per dialect."""
    if "{dialect" not in path:
        return [(path, {})]
    expanded = []
    for name in DIALECTS:
        concrete = re.sub(r"{dialect(?:_again)?:dialect}", name, path)
        expanded.append((concrete, {"dialect": name}))
    return expanded


def _parameters(path: str) -> list[dict[str, Any]]:
    found = []
    for name, convertor in PARAM.findall(path):
        schema = {"type": "integer"} if convertor == "int" else {"type": "string"}
        found.append({"name": name, "in": "path", "required": True, "schema": schema})
    return found


def _summary(route: Route) -> str:
    doc = inspect.getdoc(route.endpoint) or route.name.replace("_", " ")
    return doc.splitlines()[0]


def _operation(route: Route, method: str, path: str, dialect: dict[str, str]) -> dict[str, Any]:
    control = path.startswith("/_emulator") or path.startswith("/oauth2")
    error_schema = CONTROL_ERROR if path.startswith("/_emulator") else PLATFORM_ERROR
    suffix = f"_{dialect['dialect']}" if dialect else ""
    operation: dict[str, Any] = {
        "operationId": f"{method.lower()}_{route.name}{suffix}_{_slug(path)}",
        "summary": _summary(route),
        "tags": [_tag(path)],
        "parameters": _parameters(path),
        "responses": {
            "default": {
                "description": "an error",
                "content": {"application/json": {"schema": error_schema}},
            },
            "2XX": {"description": "success"},
        },
    }
    if not control and not path.endswith("/oauth/url") and not path.endswith("/oauth"):
        operation["security"] = [{"platform": []}]
    return operation


def _tag(path: str) -> str:
    if path.startswith("/_emulator"):
        return "control plane"
    return "fake Dropbox" if path.startswith("/oauth2") else "platform"


def _slug(path: str) -> str:
    return re.sub(r"[^a-zA-Z0-9]+", "_", path).strip("_")


def openapi_document(routes: list[BaseRoute]) -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    for route in routes:
        if not isinstance(route, Route):
            continue
        for path, dialect in _expand(route.path):
            clean = PARAM.sub(lambda m: "{" + m.group(1) + "}", path)
            for method in sorted((route.methods or set()) - {"HEAD"}):
                entry = paths.setdefault(clean, {})
                entry[method.lower()] = _operation(route, method, path, dialect)
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "hub-emulator",
            "version": __version__,
            "description": "The emulated platform API (elements and your_moms dialects), the fake Dropbox's "
            "consent step, and the emulator's control plane under /_emulator.",
        },
        "paths": paths,
        "components": {"securitySchemes": SECURITY_SCHEMES},
    }
