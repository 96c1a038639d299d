"""The guide client against the emulator under the pytest plugin's default isolation (a fresh tenant
per test), configured from `hub_emulator.client_config` alone: nothing else of the emulator is used.

The one step that is not the app's is the user's: a browser opens the `oauthUrl`, the user clicks
Allow, and the provider redirects to the app's callback URL with a code. `user_allows` plays it.
"""

from __future__ import annotations

from collections.abc import Iterator
from html.parser import HTMLParser
from urllib.parse import parse_qs, urljoin, urlsplit

import httpx
import pytest
from guide_client import GuideClient, Settings, WebhookReceiver

from emulator import Emulator


class _FormAction(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.action: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "form" and self.action is None:
            self.action = dict(attrs).get("action")


def user_consents(oauth_url: str, decision: str) -> dict[str, list[str]]:
    """A user's browser: open the provider's page, click Allow (or Deny); the redirect's query."""
    with httpx.Client(follow_redirects=False, timeout=30.0) as browser:
        page = browser.get(oauth_url)
        if page.status_code == 200:  # the consent page: submit its form
            form = _FormAction()
            form.feed(page.text)
            assert form.action is not None, "the consent page has a form"
            page = browser.post(urljoin(oauth_url, form.action), data={"decision": decision})
        assert page.status_code in (302, 303), page.text
        return parse_qs(urlsplit(page.headers["location"]).query)


def user_allows(oauth_url: str) -> str:
    return user_consents(oauth_url, "allow")["code"][0]


@pytest.fixture
def client(hub_emulator: Emulator) -> Iterator[GuideClient]:
    config = hub_emulator.client_config
    settings = Settings(
        base_url=config.guide_base_url,
        user_secret=config.user_secret,
        organization_secret=config.organization_secret,
        api_key=config.api_key,
        api_secret=config.api_secret,
        oauth_callback_url="https://www.mycoolapp.com/auth",
    )
    made = GuideClient(settings)
    yield made
    made.close()


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    made = WebhookReceiver()
    yield made
    made.close()


def provision(client: GuideClient, receiver: WebhookReceiver) -> dict[str, object]:
    code = user_allows(client.oauth_url(state="dropbox"))
    return client.create_instance(code, "Test", receiver.url)


def test_steps_1_and_2_give_an_instance(client: GuideClient, receiver: WebhookReceiver) -> None:
    instance = provision(client, receiver)
    assert instance["name"] == "Test"
    assert instance["your_mom"]["key"] == "dropbox"  # type: ignore[index]
    assert instance["token"]


def test_a_folder_create_sends_the_guides_webhook(client: GuideClient, receiver: WebhookReceiver) -> None:
    instance = provision(client, receiver)
    token = str(instance["token"])
    client.create_folder(token, "/testfoldercreate", "TestFolderCreate", ["TestFolderCreate"])
    callback = receiver.next()
    assert set(callback) == {"eventId", "instanceId", "response", "notificationId"}
    assert callback["instanceId"] == instance["id"]
    # The guide's "Example of Webhook Callback", event for event.
    assert callback["response"]["events"] == [
        {
            "path": "/testfoldercreate",
            "metadata": {"path": "/TestFolderCreate", "name": "TestFolderCreate", "type": "folder"},
        }
    ]


def test_an_async_copy_is_told_with_the_same_event_id(client: GuideClient, receiver: WebhookReceiver) -> None:
    instance = provision(client, receiver)
    token = str(instance["token"])
    client.create_folder(token, "/TestFolderCreate", "TestFolderCreate", [])
    receiver.next()  # the folder's own webhook
    started = client.copy_folder_async(token, "/TestFolderCreate", "/testfoldercopy", "TestFolderCopy")
    assert started["eventStatus"] == "dispatched"
    completions = [receiver.next(), receiver.next()]  # the job's completion and the copy's change
    told = [c for c in completions if c["eventId"] == started["eventId"]]
    assert len(told) == 1
    assert [e["path"] for e in told[0]["response"]["events"]] == ["/testfoldercopy"]


def test_a_denied_consent_redirects_with_an_error(client: GuideClient) -> None:
    query = user_consents(client.oauth_url(state="dropbox"), "deny")
    assert query["error"] == ["access_denied"]
    assert "code" not in query
