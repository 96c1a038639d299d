"""The web console end to end, in headless Chromium (Playwright driving the system's `chromium`).

One emulator on a manual clock serves the console; a local callback receiver stands for the user's
app. The guide's screens provision an instance with events, then changes made at Dropbox from the
page reach the receiver and the timeline (live, without a reload), a failing destination shows its
retries as the page moves the clock, and a replay goes out again. Every page opened is watched for
console errors. Screenshots go to a temporary folder, or to docs/screenshots with
HUB_EMULATOR_SCREENSHOTS=1 (how the README's are made).

Without Chromium or Playwright these tests skip, except under CI (the CI variable set), where they fail.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from emulator.assemble import load_runtime
from emulator.server import ServerThread
from tests.conftest import DEFAULT_FIXTURE, PLATFORM_AUTH, ROOT
from tests.receiver import Receiver, running_receiver

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext, ConsoleMessage, Page

CHROMIUM = Path(os.environ.get("HUB_EMULATOR_CHROMIUM", "/usr/bin/chromium"))
# Without the background-networking flags Chromium dials out at start, which a closed network refuses.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
VIEWPORT = {"width": 1000, "height": 700}
NARROW = {"width": 380, "height": 760}
WAIT_MS = 10_000
SCREENSHOTS = ROOT / "docs" / "screenshots"
MAX_SHOT_BYTES = 250_000
VIEWS = (
    "catalog",
    "catalog/documents",
    "catalog/documents/dropbox",
    "instances",
    "dropbox",
    "timeline",
    "actions",
)


def _missing() -> str | None:
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "Playwright is not installed: pip install -e '.[browser]'"
    if not CHROMIUM.exists():
        return f"no Chromium at {CHROMIUM}: apt-get install chromium (or set HUB_EMULATOR_CHROMIUM)"
    return None


# -- the browser, the emulator, the receiver ------------------------------------------------------
@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    missing = _missing()
    if missing is not None:
        if os.environ.get("CI"):
            pytest.fail(f"CI must run the browser tests: {missing}")
        pytest.skip(missing)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture(scope="module")
def emulator() -> Iterator[ServerThread]:
    server = ServerThread(load_runtime(DEFAULT_FIXTURE, clock_mode="manual")).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def api(emulator: ServerThread) -> Iterator[httpx.Client]:
    """The platform API as the organization, beside the page."""
    with httpx.Client(base_url=emulator.url, headers=PLATFORM_AUTH, timeout=10.0) as client:
        yield client


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    with running_receiver() as found:
        yield found


class Problems:
    """Console errors and uncaught exceptions of every page opened."""

    def __init__(self) -> None:
        self.found: list[str] = []

    def watch(self, page: Page) -> Page:
        page.on("console", self._console)
        page.on("pageerror", lambda error: self.found.append(f"{page.url}: uncaught {error}"))
        return page

    def _console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            self.found.append(f"{message.location.get('url')}: {message.text}")


@pytest.fixture(scope="module")
def problems() -> Problems:
    return Problems()


@pytest.fixture(autouse=True)
def no_console_errors(problems: Problems) -> Iterator[None]:
    before = len(problems.found)
    yield
    assert problems.found[before:] == []


@pytest.fixture(scope="module")
def context(browser: Browser) -> Iterator[BrowserContext]:
    opened = browser.new_context(viewport=VIEWPORT)
    opened.set_default_timeout(WAIT_MS)
    yield opened
    opened.close()


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if os.environ.get("HUB_EMULATOR_SCREENSHOTS"):
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        return SCREENSHOTS
    return tmp_path_factory.mktemp("screenshots")


def shoot(page: Page, shots: Path, name: str) -> None:
    target = shots / f"{name}.png"
    page.evaluate("document.getElementById('toasts')?.replaceChildren()")  # passing notes hide the view
    page.screenshot(path=str(target))
    assert target.stat().st_size < MAX_SHOT_BYTES, f"{target.name} is too big for the docs"


def expect(locator: Any) -> Any:
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect(locator)


# -- the guide's console flow, once per module ------------------------------------------------------
class Provisioned:
    def __init__(self, page: Page, instance_id: int, token: str) -> None:
        self.page = page
        self.instance_id = instance_id
        self.token = token


@pytest.fixture(scope="module")
def provisioned(
    context: BrowserContext, emulator: ServerThread, receiver: Receiver, problems: Problems, shots: Path
) -> Provisioned:
    """The guide's screens: sign in, Catalog, Documents, Create Instance for Dropbox, the form, Next,
    Allow at Dropbox, Done; by keyboard where a person would use it."""
    page = problems.watch(context.new_page())
    page.goto(emulator.url + "/_emulator/ui/")
    expect(page.get_by_role("heading", name="Sign in to the Manager")).to_be_visible()
    shoot(page, shots, "01-sign-in")
    page.get_by_label("Dev User").focus()
    page.keyboard.press("Enter")  # submits the sign-in form

    expect(page.get_by_role("heading", name="Catalog")).to_be_focused()
    shoot(page, shots, "02-catalog")
    page.get_by_role("link", name="Documents").click()
    expect(page.get_by_role("heading", name="Documents")).to_be_visible()
    page.get_by_role("link", name="Create Instance for Dropbox").click()

    expect(page.get_by_role("heading", name="Create Instance: Dropbox")).to_be_visible()
    page.get_by_label("Name your instance").fill("Test")
    expect(page.get_by_role("radio", name="No")).to_be_checked()  # tagging: left at No
    page.get_by_role("radio", name="True").check()  # event notifications
    page.get_by_label("Callback URL").fill(receiver.url)
    shoot(page, shots, "03-create-instance")
    page.get_by_role("button", name="Next").click()

    page.wait_for_url("**/oauth2/authorize?**")
    expect(page.get_by_text("Alice Example")).to_be_visible()
    shoot(page, shots, "04-dropbox-consent")
    page.get_by_role("button", name="Allow").click()

    expect(page.get_by_role("heading", name="Instance created")).to_be_visible()
    expect(page.locator("#done-account")).to_have_text("alice")
    shoot(page, shots, "05-done")
    facts = dict(
        zip(
            page.locator("#done-facts dt").all_inner_texts(),
            page.locator("#done-facts dd").all_inner_texts(),
            strict=True,
        )
    )
    page.get_by_role("button", name="Done").press("Enter")
    expect(page.get_by_role("heading", name="Instances")).to_be_visible()
    return Provisioned(page, int(facts["Id"]), facts["Token"])


def test_the_guides_console_flow_provisions_like_the_api(
    provisioned: Provisioned, emulator: ServerThread, receiver: Receiver, api: httpx.Client, shots: Path
) -> None:
    page = provisioned.page
    card = page.locator(f'[data-instance="{provisioned.instance_id}"]')
    expect(card).to_contain_text("your_moms")
    expect(card).to_contain_text("alice")
    expect(card).to_contain_text(f"webhook to {receiver.url}")
    expect(card).to_contain_text("active")
    shoot(page, shots, "06-instances")
    made = api.get(f"/your_moms/api-v2/instances/{provisioned.instance_id}").json()
    assert made["token"] == provisioned.token
    assert made["name"] == "Test" and made["eventsEnabled"] is True
    assert made["your_mom"]["key"] == "dropbox"
    assert made["configuration"]["document.tagging"] == "false"
    assert made["configuration"]["event.notification.callback.url"] == receiver.url
    assert made["configuration"]["oauth.callback.url"] == emulator.url + "/_emulator/ui/oauth-return"
    # Indistinguishable from an instance made by API: the same fields, the same configuration keys.
    by_api = api_instance(api, receiver.url)
    assert set(made) == set(by_api)
    assert set(made["configuration"]) == set(by_api["configuration"])
    assert made["your_mom"] == by_api["your_mom"]
    api.delete(f"/your_moms/api-v2/instances/{by_api['id']}").raise_for_status()


def api_instance(api: httpx.Client, callback: str) -> dict[str, Any]:
    """Steps 1 and 2 of the guide by API, with the form's values."""
    code = api.post(
        "/_emulator/oauth/codes",
        json={
            "account": "alice",
            "clientId": "fake_Dropbox_api_key",
            "redirectUri": "https://www.mycoolapp.com/auth",
        },
    ).json()["code"]
    body = {
        "your_mom": {"key": "dropbox"},
        "providerData": {"code": code},
        "configuration": {
            "oauth.callback.url": "https://www.mycoolapp.com/auth",
            "oauth.api.key": "fake_Dropbox_api_key",
            "oauth.api.secret": "fake_Dropbox_api_secret",
            "event.notification.enabled": "true",
            "event.notification.callback.url": callback,
            "event.vendor.type": "webhook",
            "document.tagging": False,
        },
        "tags": [],
        "name": "By API",
    }
    answer = api.post("/your_moms/api-v2/instances", json=body)
    assert answer.status_code == 200, answer.text
    created: dict[str, Any] = answer.json()
    return created


# -- changes at Dropbox, live ------------------------------------------------------------------
@pytest.fixture(scope="module")
def watcher(
    browser: Browser, context: BrowserContext, provisioned: Provisioned, problems: Problems
) -> Iterator[Page]:
    """A second window left on the timeline: whatever shows there came by the live stream.

    A window, not a tab: a tab in the background gets no animation frames, which every click waits on.
    """
    window = browser.new_context(viewport=VIEWPORT, storage_state=context.storage_state())
    window.set_default_timeout(WAIT_MS)
    page = problems.watch(window.new_page())
    page.goto(provisioned.page.url.split("#")[0] + "#/timeline")
    expect(page.get_by_role("heading", name="Timeline")).to_be_visible()
    expect(page.locator("#live")).to_have_text("live")
    page.evaluate("window.notReloaded = true")
    yield page
    window.close()


def test_an_upload_at_dropbox_reaches_the_app_and_the_timeline_live(
    provisioned: Provisioned, watcher: Page, receiver: Receiver, shots: Path
) -> None:
    page = provisioned.page
    before = len(receiver.received)
    page.get_by_role("link", name="Dropbox").click()
    expect(page.get_by_role("heading", name="Dropbox accounts")).to_be_visible()
    page.get_by_role("button", name="Documents", exact=True).click()
    page.get_by_label("Upload a file to /Documents").set_input_files(
        files=[{"name": "fromConsole.txt", "mimeType": "text/plain", "buffer": b"made at Dropbox"}]
    )
    expect(page.locator(".tree")).to_contain_text("fromConsole.txt")
    shoot(page, shots, "07-dropbox")

    callback = receiver.wait_for(before + 1)[-1]
    assert callback["instanceId"] == provisioned.instance_id
    assert callback["response"]["events"][0]["metadata"]["path"] == "/Documents/fromConsole.txt"
    notification = watcher.locator(f'[data-notification="{callback["notificationId"]}"]')
    expect(notification).to_contain_text("delivered")
    expect(notification).to_contain_text("HTTP 200")
    assert watcher.evaluate("window.notReloaded") is True

    notification.get_by_role("button", name="Show request").click()
    details = notification.locator(".details")
    expect(details).to_contain_text("/Documents/fromConsole.txt")
    expect(details).to_contain_text(f"Your_moms-Webhook-Id: {callback['notificationId']}")


def test_a_failing_destination_shows_its_retries(
    provisioned: Provisioned, watcher: Page, receiver: Receiver, shots: Path
) -> None:
    page = provisioned.page
    before = len(receiver.received)
    actions(page)
    page.get_by_label("Destination URL").fill(receiver.url)
    page.get_by_label("Action").select_option("fail")
    page.get_by_label("Attempts").fill("2")
    page.get_by_label("HTTP status").fill("503")
    page.get_by_role("button", name="Add fault").click()
    expect(page.locator("#faults")).to_contain_text("2 attempts left")

    page.get_by_role("link", name="Dropbox").click()
    page.get_by_role("button", name="/ (alice)", exact=True).click()
    page.get_by_role("button", name="New folder").click()
    page.get_by_label("New folder in /").fill("Retried")
    page.get_by_label("New folder in /").press("Enter")
    expect(page.locator(".tree")).to_contain_text("Retried")

    event = watcher.locator(".event", has_text="/Retried (folder)")
    expect(event.locator(".attempt")).to_have_count(1)
    expect(event.locator(".attempt").first).to_contain_text("failed")
    expect(event.locator(".attempt").first).to_contain_text("HTTP 503")
    expect(event).to_contain_text("Next try at 2026-01-01 00:00:04")
    page.get_by_role("link", name="Instances").click()
    expect(page.locator(f'[data-instance="{provisioned.instance_id}"]')).to_contain_text("retrying")

    actions(page)
    page.get_by_role("button", name="+4 s").click()
    expect(event.locator(".attempt")).to_have_count(2)
    expect(event.locator(".attempt").first).to_contain_text("Try 2")
    expect(event.locator(".attempt").first).to_contain_text("failed")
    page.get_by_role("button", name="+16 s").click()
    expect(event.locator(".attempt").first).to_contain_text("Try 3")
    expect(event.locator(".attempt").first).to_contain_text("delivered")
    expect(event).to_contain_text("NOTIFIED")
    shoot(watcher, shots, "08-timeline-retries")
    delivered = receiver.wait_for(before + 1)[-1]
    assert delivered["response"]["events"][0]["path"] == "/retried"

    # And a real failing answer of the app itself, retried at the next timer.
    receiver.failures.append(500)
    page.get_by_label("Instance").select_option(str(provisioned.instance_id))
    page.get_by_label("Event path").fill("/Made/Up.txt")
    page.get_by_role("button", name="Trigger event").click()
    triggered = watcher.locator(".event", has_text="/Made/Up.txt")
    expect(triggered.locator(".attempt").first).to_contain_text("HTTP 500")
    page.get_by_role("button", name="Run the next timer").click()
    expect(triggered.locator(".attempt").first).to_contain_text("delivered")
    assert [c["response"]["events"][0]["path"] for c in receiver.wait_for(before + 3)[-2:]] == [
        "/made/up.txt",
        "/made/up.txt",
    ]


def actions(page: Page) -> None:
    page.get_by_role("link", name="Actions").click()
    expect(page.get_by_role("heading", name="Actions")).to_be_visible()


def test_a_replay_goes_out_again(watcher: Page, receiver: Receiver, shots: Path) -> None:
    before = len(receiver.received)
    original = json.loads(receiver.received[0][2])
    notification_id = original["notificationId"]
    watcher.get_by_role("button", name=f"Replay notification {notification_id}", exact=True).click()
    again = receiver.wait_for(before + 1)[-1]
    assert again == original  # byte for byte: the same notificationId, for de-duplication
    replayed = watcher.locator(".notification").filter(has=watcher.locator(".kind", has_text="replay"))
    expect(replayed).to_contain_text("delivered")
    expect(watcher.locator("#toasts")).to_contain_text(f"Notification {notification_id} replayed")


def test_instances_disable_enable_and_delete(
    provisioned: Provisioned, emulator: ServerThread, api: httpx.Client
) -> None:
    page = provisioned.page
    extra = api_instance(api, emulator.url + "/_emulator/sinks/extra")
    page.get_by_role("link", name="Instances").click()
    card = page.locator(f'[data-instance="{extra["id"]}"]')
    card.get_by_role("button", name="Disable").click()
    expect(card).to_contain_text("disabled")
    assert api.get(f"/your_moms/api-v2/instances/{extra['id']}").json()["disabled"] is True
    card.get_by_role("button", name="Enable").click()
    expect(card).to_contain_text("enabled")
    card.get_by_role("button", name="Delete").click()
    card.get_by_role("button", name="Yes, delete").click()
    expect(card).to_have_count(0)
    assert api.get(f"/your_moms/api-v2/instances/{extra['id']}").status_code == 404


def test_the_keyboard_reaches_everything_with_a_visible_focus(provisioned: Provisioned) -> None:
    page = provisioned.page
    page.get_by_role("link", name="Timeline").click()
    expect(page.get_by_role("heading", name="Timeline")).to_be_focused()  # a new view takes the focus
    page.keyboard.press("Tab")
    focused = page.evaluate("document.activeElement.id")
    assert focused == "filter-instance"
    outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline != "none"


def test_every_view_fits_a_narrow_window(
    browser: Browser, context: BrowserContext, provisioned: Provisioned, problems: Problems, shots: Path
) -> None:
    window = browser.new_context(viewport=NARROW, storage_state=context.storage_state())
    page = problems.watch(window.new_page())
    base = provisioned.page.url.split("#")[0]
    for view in VIEWS:
        page.goto(f"{base}#/{view}")
        expect(page.locator("#view-title")).to_be_visible()
        page.wait_for_timeout(50)  # the live stream's first burst
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= NARROW["width"], f"#/{view} is {width} px wide"
        if view == "timeline":
            shoot(page, shots, "10-narrow-timeline")
    window.close()


def test_a_scenario_runs_with_its_step_report_and_a_reset_clears_the_timeline(
    browser: Browser, problems: Problems, shots: Path
) -> None:
    """On an emulator of its own: a scenario resets the emulator it runs on."""
    server = ServerThread(load_runtime(DEFAULT_FIXTURE)).start()
    context = browser.new_context(viewport=VIEWPORT)
    context.set_default_timeout(WAIT_MS)
    try:
        page = problems.watch(context.new_page())
        page.goto(server.url + "/_emulator/ui/#/actions")
        page.get_by_role("button", name="Sign in").click()
        expect(page.get_by_role("heading", name="Actions")).to_be_visible()
        page.get_by_role("button", name="Run scenario guide-folder-create").click()
        report = page.locator("#scenario-report")
        expect(report).to_contain_text("passed", timeout=30_000)
        expect(report.locator("tbody tr")).to_have_count(4)
        report.evaluate("element => element.scrollIntoView()")
        shoot(page, shots, "09-actions-scenario")
        page.get_by_role("link", name="Timeline").click()
        expect(page.locator(".event")).to_contain_text("/TestFolderCreate (folder)")
        actions(page)
        page.get_by_role("button", name="Reset the emulator").click()
        page.get_by_role("button", name="Yes, reset").click()
        page.get_by_role("link", name="Timeline").click()
        expect(page.locator(".empty")).to_contain_text("Nothing yet")
    finally:
        context.close()
        server.stop()
