"""emulator.strategies: every value they draw is one the store accepts, runs or refuses cleanly."""

from __future__ import annotations

import base64
import json
import unicodedata

from hypothesis import given, settings
from hypothesis import strategies as st

from emulator import strategies as dbx
from emulator.domain.clock import Clock
from emulator.domain.errors import DomainError
from emulator.domain.ids import Ids
from emulator.domain.provider import paths
from emulator.domain.provider.store import Store
from emulator.web.dropbox_control_routes import run_operation


def fresh_store() -> Store:
    return Store(Clock(start=1767225600.0), Ids(seed=1))


# No deadline: these run the store, and a loaded CI machine must not turn slowness into failure.
RELAXED = settings(deadline=None)


@RELAXED
@given(dbx.names())
def test_names_are_accepted_and_kept_in_nfc(name: str) -> None:
    store = fresh_store()
    entry = store.mkdir("/" + name)
    assert entry.name == unicodedata.normalize("NFC", name)


@RELAXED
@given(dbx.paths(min_depth=1, max_depth=12), st.binary(max_size=16))
def test_paths_take_a_file_with_its_parents(path: str, data: bytes) -> None:
    store = fresh_store()
    store.upload(path, data)
    assert store.read(path) == data
    assert len(paths.components(paths.normalize(path))) == sum(1 for e in store.walk("") if e.path_display)


@RELAXED
@given(dbx.paths().flatmap(lambda path: st.tuples(st.just(path), dbx.case_variants(path))))
def test_case_variants_name_the_same_entry(pair: tuple[str, str]) -> None:
    path, variant = pair
    store = fresh_store()
    made = store.upload(path, b"x")
    assert store.get(variant).id == made.id


@RELAXED
@given(dbx.file_trees())
def test_file_trees_build_in_an_empty_account_as_given(tree: dbx.FileTree) -> None:
    store = fresh_store()
    for op in dbx.tree_operations(tree):
        run_operation(store, op, "seed")
    built = {e.path_display: (None if e.is_folder else store.read(e.path_display)) for e in store.walk("")}
    built.pop("", None)
    assert built == tree
    order = list(tree)
    assert all(paths.parent(p) in ("", *order[: order.index(p)]) for p in order)  # parents first


@settings(max_examples=60, deadline=None)
@given(dbx.file_trees(max_entries=6), st.data())
def test_operations_run_or_are_refused_without_a_change(tree: dbx.FileTree, data: st.DataObject) -> None:
    store = fresh_store()
    for op in dbx.tree_operations(tree):
        run_operation(store, op, "seed")
    for op in data.draw(dbx.operations(start=tree)):
        assert set(op) <= {"op", "path", "to", "base64", "autorename"}
        before = store.cursor()
        try:
            run_operation(store, op, "seed")
        except DomainError:
            assert store.cursor() == before  # refused: nothing logged, nothing changed


@given(dbx.callback_payloads())
def test_callback_payloads_have_the_guides_shape(payload: dict[str, object]) -> None:
    assert list(payload) == ["eventId", "instanceId", "response", "notificationId"]
    assert all(isinstance(payload[k], int) for k in ("eventId", "instanceId", "notificationId"))
    response = payload["response"]
    assert isinstance(response, dict) and list(response) == ["events"]
    assert 1 <= len(response["events"]) <= 20
    for event in response["events"]:
        assert list(event) == ["path", "metadata"]
        metadata = event["metadata"]
        assert list(metadata) == ["path", "name", "type"]
        assert metadata["type"] in ("file", "folder", "deleted")
        assert paths.normalize(metadata["path"]) == metadata["path"]
        assert event["path"] == paths.key(metadata["path"])
        assert metadata["name"] == metadata["path"].rsplit("/", 1)[1]


@given(dbx.callback_bodies(max_events=3))
def test_callback_bodies_are_compact_utf8_json(body: bytes) -> None:
    parsed = json.loads(body)
    assert json.dumps(parsed, ensure_ascii=False, separators=(",", ":")).encode() == body
    assert 1 <= len(parsed["response"]["events"]) <= 3


def test_tree_operations_upload_as_base64() -> None:
    ops = dbx.tree_operations({"/Docs": None, "/Docs/a.txt": b"hi"})
    assert ops == [
        {"op": "mkdir", "path": "/Docs"},
        {"op": "upload", "path": "/Docs/a.txt", "base64": base64.b64encode(b"hi").decode()},
    ]
