"""The mirror app against the emulator: provision through OAuth, change files at Dropbox, and the
app's mirror ends equal to the account, by webhook, by polling, and for any sequence of changes."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mirror import Mirror, path_key, signature_ok

from emulator import Emulator, strategies
from emulator.api import EmulatorError, ProvisionedInstance
from emulator.sink import CallbackSink

BLOCK = 4 * 1024 * 1024


def content_hash(data: bytes) -> str:
    """Dropbox's content_hash: SHA-256 over the SHA-256 of each 4 MiB block."""
    blocks = [hashlib.sha256(data[i : i + BLOCK]).digest() for i in range(0, len(data), BLOCK)]
    return hashlib.sha256(b"".join(blocks)).hexdigest()


def account_view(emu: Emulator, account: str) -> dict[str, str | None]:
    """The account as the emulator holds it: {path: content hash, or None for a folder}."""
    return {e["path_display"]: e.get("content_hash") for e in emu.dropbox(account).tree()}


def mirror_view(mirror: Mirror) -> dict[str, str | None]:
    return {n.path: None if n.folder else content_hash(n.content) for n in mirror.nodes.values()}


def settle(emu: Emulator, sink: CallbackSink, mirror: Mirror, instance: ProvisionedInstance) -> None:
    """Wait until every notification made so far is delivered, then hand the app each callback its
    endpoint answered 200, in order (a repeat is harmless: the app skips ids it has handled)."""
    made = len(emu.deliveries(instance_id=instance.id))
    if made:
        emu.wait_for_deliveries(made, instance_id=instance.id)
    answered = sink.wait_for(made, where=lambda c: c.json["instanceId"] == instance.id and c.status == 200)
    for callback in answered:
        assert mirror.handle_callback(callback.body, callback.headers) == 200


@pytest.fixture
def mirror_of(hub_emulator: Emulator) -> Iterator[Callable[..., Mirror]]:
    clients = []

    def make(instance: ProvisionedInstance, signature_key: str | None = None) -> Mirror:
        hub = hub_emulator.hub_client(instance)
        clients.append(hub)
        mirror = Mirror(hub, signature_key)
        mirror.load()
        return mirror

    yield make
    for hub in clients:
        hub.close()


def test_webhook_keeps_the_mirror_equal_to_the_account(
    hub_emulator: Emulator,
    callback_sink: CallbackSink,
    provision_dropbox: Callable[..., ProvisionedInstance],
    mirror_of: Callable[..., Mirror],
) -> None:
    instance = provision_dropbox("alice", signature_key="s3cret")
    mirror = mirror_of(instance, "s3cret")
    assert mirror_view(mirror) == account_view(hub_emulator, "alice")
    alice = hub_emulator.dropbox("alice")
    alice.upload("/Notes/today.txt", "buy milk")
    alice.move("/Documents", "/Docs")
    alice.move("/hello.txt", "/HELLO.txt")  # a case-only rename
    alice.delete("/Photos")
    settle(hub_emulator, callback_sink, mirror, instance)
    assert mirror_view(mirror) == account_view(hub_emulator, "alice")

    callback_sink.fail_next(1)  # the app's endpoint fails once: the platform retries 4 s later
    tries_so_far = len(hub_emulator.deliveries(instance_id=instance.id))
    alice.upload("/Notes/today.txt", "buy oat milk")
    hub_emulator.wait_for_deliveries(attempts=tries_so_far + 1, instance_id=instance.id)
    hub_emulator.clock.advance(seconds=4)
    settle(hub_emulator, callback_sink, mirror, instance)
    assert mirror_view(mirror) == account_view(hub_emulator, "alice")
    assert mirror.nodes[path_key("/notes/TODAY.txt")].content == b"buy oat milk"


def test_polling_instance_catches_up_at_its_interval(
    hub_emulator: Emulator,
    callback_sink: CallbackSink,
    provision_dropbox: Callable[..., ProvisionedInstance],
    mirror_of: Callable[..., Mirror],
) -> None:
    instance = provision_dropbox("bob", vendor="polling", refresh_interval=5)
    mirror = mirror_of(instance)
    bob = hub_emulator.dropbox("bob")
    bob.mkdir("/Inbox")
    bob.upload("/Inbox/a.txt", b"a")
    assert hub_emulator.deliveries(instance_id=instance.id) == []  # nothing until the poll
    hub_emulator.clock.advance(minutes=5)
    settle(hub_emulator, callback_sink, mirror, instance)
    assert mirror_view(mirror) == account_view(hub_emulator, "bob")


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=strategies.operations(max_size=8))
def test_any_sequence_of_changes_is_mirrored(
    hub_emulator: Emulator, callback_sink: CallbackSink, ops: list[strategies.Operation]
) -> None:
    tenant = hub_emulator.new_tenant()  # each example starts from the fixture's accounts
    instance = tenant.provision_dropbox("alice", callback_url=callback_sink.url)
    with tenant.hub_client(instance) as hub:
        mirror = Mirror(hub)
        mirror.load()
        for op in ops:
            try:
                tenant.dropbox("alice").operate(op)
            except EmulatorError as refused:
                assert refused.status in (400, 404, 409)  # refused cleanly, as Dropbox would
        settle(tenant, callback_sink, mirror, instance)
        assert mirror_view(mirror) == account_view(tenant, "alice")
    tenant.reset()


@given(strategies.paths().flatmap(lambda path: st.tuples(st.just(path), strategies.case_variants(path))))
def test_path_key_ignores_case_and_unicode_spelling(pair: tuple[str, str]) -> None:
    path, variant = pair
    assert path_key(path) == path_key(variant)


@given(strategies.callback_bodies(max_events=3), st.binary(min_size=1, max_size=4))
def test_signature_check_takes_signed_bodies_only(body: bytes, tamper: bytes) -> None:
    import base64
    import hmac

    header = "sha256=" + base64.b64encode(hmac.new(b"k", body, hashlib.sha256).digest()).decode()
    assert signature_ok("k", body, header)
    assert not signature_ok("k", body + tamper, header)
    assert not signature_ok("k", body, None)
