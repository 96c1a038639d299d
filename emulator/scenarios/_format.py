"""Small wording helpers the scenario modules share: JSON shown short, header values as text."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import httpx

SNIPPET_CHARS = 300
SHORT_CHARS = 600


def header_values(given: Mapping[str, Any]) -> dict[str, str]:
    """Header (or form, or query) values as text: YAML's true is `true`, numbers as written."""

    def text(value: Any) -> str:
        if isinstance(value, bool):
            return "true" if value else "false"
        return value if isinstance(value, str) else json.dumps(value)

    return {str(k): text(v) for k, v in given.items()}


def snippet(response: httpx.Response) -> str:
    return response.text[:SNIPPET_CHARS]


def short(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= SHORT_CHARS else text[:SHORT_CHARS] + "..."
