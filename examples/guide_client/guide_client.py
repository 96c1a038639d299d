"""A client app of the platform written from the "Event Management" guide alone.

It knows the guide's calls and nothing of the emulator: Step 1 (the OAuth URL, no Authorization),
Step 2 (`POST /instances` with the code the provider redirected back with), the Documents hub's
folder create and asynchronous copy, and a webhook receiver for the callbacks. Everything it needs
is configuration: the API's base URL, the user and organization secrets, and the OAuth app's
`apiKey` / `apiSecret` / `callbackUrl`, exactly what an app has against the real platform.
"""

from __future__ import annotations

import json
import queue
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx


@dataclass(frozen=True)
class Settings:
    base_url: str  # e.g. https://api.cloud-your_moms.com/your_moms/api-v2
    user_secret: str
    organization_secret: str
    api_key: str
    api_secret: str
    oauth_callback_url: str  # the URL registered with the provider (the guide's callbackUrl)


class GuideClient:
    """The guide's calls, spelled as the guide spells them (`/your_moms/api-v2`, `Your_mom <token>`)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.http = httpx.Client(base_url=settings.base_url, timeout=30.0)

    def close(self) -> None:
        self.http.close()

    # Step 1. Get Your_moms OAuth Information: "HTTP Header: None".
    def oauth_url(self, state: str = "dropbox") -> str:
        answer = self.http.get(
            "/your_moms/dropbox/oauth/url",
            params={
                "apiKey": self.settings.api_key,
                "apiSecret": self.settings.api_secret,
                "callbackUrl": self.settings.oauth_callback_url,
                "state": state,
            },
        )
        answer.raise_for_status()
        url: str = answer.json()["oauthUrl"]
        return url

    # Step 2. Create an Instance: "Authorization- User <user secret>, Organization <organization secret>".
    def create_instance(self, code: str, name: str, events_callback_url: str) -> dict[str, Any]:
        # The guide's instance.json, with its configuration keys where the guide puts them.
        body = {
            "your_mom": {"key": "dropbox"},
            "providerData": {"code": code},
            "oauth.callback.url": self.settings.oauth_callback_url,
            "oauth.api.key": self.settings.api_key,
            "oauth.api.secret": self.settings.api_secret,
            "event.notification.enabled": "true",
            "event.notification.callback.url": events_callback_url,
            "document.tagging": False,
            "tags": ["guide-client"],
            "name": name,
        }
        answer = self.http.post(
            "/instances",
            json=body,
            headers={
                "Authorization": f"User {self.settings.user_secret}, "
                f"Organization {self.settings.organization_secret}"
            },
        )
        answer.raise_for_status()
        instance: dict[str, Any] = answer.json()
        return instance

    def _hub_headers(self, token: str) -> dict[str, str]:
        # The guide's example: "Authorization: User <INSERT_USER_SECRET>, Your_mom <INSERT_ELEMENT_SECRET>".
        return {"Authorization": f"User {self.settings.user_secret}, Your_mom {token}"}

    # Example Call to kick off Event: POST /hubs/documents/folders?path=/testfoldercreate
    def create_folder(self, token: str, path: str, name: str, tags: list[str]) -> dict[str, Any]:
        body = {"path": path, "tags": tags, "createdDate": "", "size": 0, "name": name, "directory": False}
        answer = self.http.post(
            "/hubs/documents/folders", params={"path": path}, json=body, headers=self._hub_headers(token)
        )
        answer.raise_for_status()
        folder: dict[str, Any] = answer.json()
        return folder

    # Asynchronous API Requests: Your_moms-Async-Request: True.
    def copy_folder_async(self, token: str, path: str, target: str, name: str) -> dict[str, Any]:
        answer = self.http.post(
            "/hubs/documents/folders/copy",
            params={"path": path},
            json={"path": target, "tags": [name], "name": name},
            headers={**self._hub_headers(token), "Your_moms-Async-Request": "True"},
        )
        answer.raise_for_status()
        started: dict[str, Any] = answer.json()
        return started


class WebhookReceiver:
    """The app's callback endpoint: it answers 200 and keeps each callback's JSON, in arrival order."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        received: queue.Queue[dict[str, Any]] = queue.Queue()

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                received.put(json.loads(self.rfile.read(length)))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:  # quiet in tests
                return

        self.received = received
        self.server = ThreadingHTTPServer((host, port), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}/events"

    def next(self, timeout: float = 10.0) -> dict[str, Any]:
        return self.received.get(timeout=timeout)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
