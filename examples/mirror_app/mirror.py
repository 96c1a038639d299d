"""A tiny client app of the platform: it mirrors a Dropbox account into a dict and keeps it current
from the platform's callbacks (a webhook or a polling instance alike).

The app knows only the platform's public API: it reads the account through the Documents hub
(`GET /hubs/documents/folders/contents`, `GET /hubs/documents/files`) and takes callbacks in the
guide's shape. In production a web framework would call `Mirror.handle_callback` from the route
registered as `event.notification.callback.url`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx

SIGNATURE_HEADERS = ("elements-webhook-signature", "your_moms-webhook-signature")


def path_key(path: str) -> str:
    """Dropbox compares paths without case or Unicode spelling: the key of `/Docs/Café.txt`."""
    return unicodedata.normalize("NFC", path).lower()


def signature_ok(key: str, body: bytes, header: str | None) -> bool:
    """The platform's `sha256=<base64 HMAC-SHA256 of the raw body>`, compared in constant time."""
    expected = "sha256=" + base64.b64encode(hmac.new(key.encode(), body, hashlib.sha256).digest()).decode()
    return header is not None and hmac.compare_digest(expected, header)


@dataclass
class Node:
    path: str  # as Dropbox displays it
    folder: bool
    content: bytes = b""


class Mirror:
    """The account as a dict {path key: Node}, loaded once, then changed by each callback."""

    def __init__(self, hub: httpx.Client, signature_key: str | None = None) -> None:
        self.hub = hub  # base URL .../hubs/documents, the instance's Authorization set
        self.signature_key = signature_key
        self.nodes: dict[str, Node] = {}
        self.handled: set[int] = set()  # notificationIds: a retried callback keeps its id

    def load(self) -> None:
        """Read the whole account through the hub, page by page."""
        self.nodes.clear()
        self._load_folder("/")

    def _load_folder(self, folder: str) -> None:
        page: str | None = None
        while True:
            params = {"path": folder, "pageSize": "100", **({"nextPage": page} if page else {})}
            answer = self.hub.get("/folders/contents", params=params)
            answer.raise_for_status()
            for document in answer.json():
                if document["directory"]:
                    self.nodes[path_key(document["path"])] = Node(document["path"], True)
                    self._load_folder(document["path"])
                else:
                    self._fetch(document["path"])
            page = answer.headers.get("Elements-Next-Page-Token")
            if not page:
                return

    def handle_callback(self, body: bytes, headers: Mapping[str, str]) -> int:
        """The callback endpoint: check the signature, skip what was handled, apply the events."""
        if self.signature_key is not None:
            lowered = {k.lower(): v for k, v in headers.items()}
            header = next((lowered[h] for h in SIGNATURE_HEADERS if h in lowered), None)
            if not signature_ok(self.signature_key, body, header):
                return 401
        payload: dict[str, Any] = json.loads(body)
        if payload["notificationId"] in self.handled:
            return 200
        for event in payload["response"]["events"]:
            self.apply(event)
        self.handled.add(payload["notificationId"])
        return 200

    def apply(self, event: Mapping[str, Any]) -> None:
        metadata = event["metadata"]
        if metadata["type"] == "deleted":
            gone = path_key(metadata["path"])
            for key in [k for k in self.nodes if k == gone or k.startswith(gone + "/")]:
                del self.nodes[key]
        elif metadata["type"] == "folder":
            self.nodes[path_key(metadata["path"])] = Node(metadata["path"], True)
        else:
            self._fetch(metadata["path"])

    def _fetch(self, path: str) -> None:
        answer = self.hub.get("/files", params={"path": path})
        if answer.status_code in (400, 404):
            return  # no file there any more (gone, or a folder now): a later event tells
        answer.raise_for_status()
        self.nodes[path_key(path)] = Node(path, False, answer.content)
