"""OpenAPI 3 document of the emulated API (both dialects) and the control plane, from the route table."""

from __future__ import annotations

import inspect
import re
from typing import Any

from starlette.routing import BaseRoute, Route

from emulator import __version__
from emulator.dialects import DIALECTS
from emulator.web.openapi_specs import (
    NUMERIC_PATH_PARAMETERS,
    PATH_EXAMPLES,
    Spec,
    components,
    operation_specs,
    ref,
)

PARAM = re.compile(r"{([^}:]+)(?::([^}]+))?}")

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
        schema: dict[str, Any] = {"type": "integer"} if convertor == "int" else {"type": "string"}
        if (name, convertor) in NUMERIC_PATH_PARAMETERS:
            schema["pattern"] = "^[0-9]+$"
        parameter = {"name": name, "in": "path", "required": True, "schema": schema}
        example = PATH_EXAMPLES.get((name, convertor))
        if example is not None:
            parameter["example"] = example
        found.append(parameter)
    return found


def _summary(route: Route) -> str:
    doc = inspect.getdoc(route.endpoint) or route.name.replace("_", " ")
    return doc.splitlines()[0]


def _operation(route: Route, method: str, path: str, dialect: dict[str, str]) -> dict[str, Any]:
    suffix = f"_{dialect['dialect']}" if dialect else ""
    fragment = _spec(method, route.path, dialect)
    operation: dict[str, Any] = {
        "operationId": f"{method.lower()}_{route.name}{suffix}_{_slug(path)}",
        "summary": _summary(route),
        "tags": [_tag(path)],
        "parameters": _parameters(path) + fragment.get("parameters", []),
        "responses": {**fragment.get("responses", {"2XX": ANY_SUCCESS}), "default": _error_answer(path)},
    }
    if "requestBody" in fragment:
        operation["requestBody"] = fragment["requestBody"]
    if _platform(path) and not path.endswith(("/oauth/url", "/oauth")) and "/api-v2/events/" not in path:
        operation["security"] = [{"platform": []}]
    return operation


# An operation the spec table does not describe: any success, whatever its body.
ANY_SUCCESS = {"description": "success"}


def _spec(method: str, route_path: str, dialect: dict[str, str]) -> Spec:
    """This operation's parameters, body and answers from the spec table (emulator/web/openapi_specs.py)."""
    key = f"{method} {PARAM.sub(lambda m: '{' + m.group(1) + '}', route_path)}"
    return operation_specs(DIALECTS[dialect["dialect"]] if dialect else None).get(key, {})


def _platform(path: str) -> bool:
    """The emulated API: under a dialect's base path (the rest is the control plane or the fake Dropbox)."""
    return any(path.startswith(dialect.base) for dialect in DIALECTS.values())


def _error_answer(path: str) -> dict[str, Any]:
    """Errors: the platform's shape on the emulated API, the control plane's own under /_emulator."""
    schema = ref("ControlError") if path.startswith("/_emulator") else ref("PlatformError")
    return {"description": "an error", "content": {"application/json": {"schema": schema}}}


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
        "components": {"securitySchemes": SECURITY_SCHEMES, "schemas": components(DIALECTS)},
    }
