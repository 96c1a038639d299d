"""`{{...}}` templates in step values: `{{base}}`, `{{sink}}`, `{{sinks.NAME}}`, saved values, `{{i:02d}}`."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import quote

from emulator.scenarios.model import StepFailure

TEMPLATE = re.compile(r"\{\{\s*([^{}]*?)\s*\}\}")
IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
BUILTIN_NAMES = frozenset({"base", "sink", "sinks", "scenario", "vars", "i"})


class SinkUrls:
    """`{{sinks.NAME}}`: the URL of any named sink."""

    def __init__(self, base: str) -> None:
        self.base = base

    def url(self, name: str) -> str:
        return f"{self.base}/_emulator/sinks/{quote(name, safe='')}"


def lookup(root: Mapping[str, Any], expression: str) -> Any:
    """`a.b.0.c` in `root`: keys of mappings, indexes of lists (negative ones too)."""
    value: Any = root
    for part in expression.split("."):
        if isinstance(value, SinkUrls):
            value = value.url(part)
        elif isinstance(value, Mapping) and part in value:
            value = value[part]
        elif (
            isinstance(value, list) and re.fullmatch(r"-?\d+", part) and -len(value) <= int(part) < len(value)
        ):
            value = value[int(part)]
        else:
            raise StepFailure(f"{{{{{expression}}}}}: nothing at {part!r}")
    return value


def _split(expression: str) -> tuple[str, str]:
    name, _, spec = expression.partition(":")
    return name.strip(), spec.strip()


def render(value: Any, context: Mapping[str, Any]) -> Any:
    """Fill `{{...}}` in every string of `value`. A string that is one template keeps the value's type."""
    if isinstance(value, str):
        return _render_text(value, context)
    if isinstance(value, Mapping):
        return {render(k, context): render(v, context) for k, v in value.items()}
    if isinstance(value, list):
        return [render(v, context) for v in value]
    return value


def _render_text(text: str, context: Mapping[str, Any]) -> Any:
    whole = TEMPLATE.fullmatch(text)
    if whole is not None and ":" not in whole.group(1):
        return lookup(context, whole.group(1))

    def fill(match: re.Match[str]) -> str:
        name, spec = _split(match.group(1))
        found = lookup(context, name)
        if spec:
            try:
                return format(found, spec)
            except (TypeError, ValueError) as problem:
                raise StepFailure(f"{match.group(0)}: {problem}") from None
        return found if isinstance(found, str) else json.dumps(found)

    return TEMPLATE.sub(fill, text)


def template_roots(value: Any) -> Iterable[tuple[str, str]]:
    """(expression, root name) of every template in `value`; a root `vars` names its next part."""
    if isinstance(value, str):
        for match in TEMPLATE.finditer(value):
            name, _ = _split(match.group(1))
            parts = name.split(".")
            root = parts[1] if parts[0] == "vars" and len(parts) > 1 else parts[0]
            yield match.group(0), root
    elif isinstance(value, Mapping):
        for key, item in value.items():
            yield from template_roots(key)
            yield from template_roots(item)
    elif isinstance(value, list):
        for item in value:
            yield from template_roots(item)


def is_template(value: Any) -> bool:
    return isinstance(value, str) and TEMPLATE.search(value) is not None
