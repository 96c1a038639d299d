"""The fake Dropbox account: lookups, writes, conflicts, the change log, replay and snapshots."""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Callable
from typing import Any

import pytest

from emulator.domain.clock import Clock
from emulator.domain.errors import Conflict, DomainError, InvalidInput, NotFound, TooLarge
from emulator.domain.ids import Ids
from emulator.domain.provider.content import content_hash
from emulator.domain.provider.store import ROOT_ID, Change, Store

START = 1767225600.0  # 2026-01-01T00:00:00Z


def make_store(**options: Any) -> Store:
    return Store(Clock(start=START), Ids(seed=1), **options)


def tree(store: Store) -> list[tuple[str, str, bool, str | None]]:
    return [(e.path_display, e.id, e.is_folder, e.content_hash) for e in store.walk("")]


def changes(store: Store, since: int = 0) -> list[tuple[int, str, str]]:
    return [(c.batch, c.tag, c.path_display) for c in store.changes_since(since)]


@pytest.fixture
def store() -> Store:
    return make_store()


# -- lookups ---------------------------------------------------------------------------
def test_lookup_ignores_case_and_keeps_display_case(store: Store) -> None:
    store.upload("/Docs/A.txt", b"a")
    found = store.get("/docs/a.TXT")
    assert (found.name, found.path_display, found.path_lower) == ("A.txt", "/Docs/A.txt", "/docs/a.txt")


def test_nfd_and_nfc_spellings_are_the_same_entry(store: Store) -> None:
    made = store.upload("/Été/日本語.txt", b"x")
    nfd = unicodedata.normalize("NFD", "/ÉTÉ/日本語.txt")
    assert store.get(nfd).id == made.id
    assert made.path_display == unicodedata.normalize("NFC", "/Été/日本語.txt")
    with pytest.raises(Conflict):
        store.upload(nfd, b"other")


def test_display_path_follows_the_existing_parents_case(store: Store) -> None:
    store.mkdir("/Docs")
    assert store.upload("/DOCS/b.txt", b"b").path_display == "/Docs/b.txt"


def test_lookup_of_missing_path_is_none_and_get_raises(store: Store) -> None:
    assert store.lookup("/nope") is None
    with pytest.raises(NotFound) as caught:
        store.get("/nope")
    assert caught.value.provider_message == "path/not_found/"


def test_root_is_a_folder_entry_that_lists_the_top(store: Store) -> None:
    store.mkdir("/b")
    store.upload("/A.txt", b"a")
    root = store.get("/")
    assert root is store.lookup("") and root.is_folder and root.id == ROOT_ID
    assert store.by_id(ROOT_ID) is root
    assert [e.name for e in store.children("")] == ["A.txt", "b"]
    assert store.count() == 2


def test_by_id_finds_the_entry(store: Store) -> None:
    made = store.upload("/a/b.txt", b"b")
    assert store.by_id(made.id) == made
    assert store.by_id("id:unknown") is None


def test_read_returns_content_and_refuses_folders(store: Store) -> None:
    store.upload("/a/b.txt", b"hello")
    assert store.read("/A/B.TXT") == b"hello"
    with pytest.raises(InvalidInput) as caught:
        store.read("/a")
    assert caught.value.provider_message == "path/not_file/"


def test_children_are_sorted_by_path_lower(store: Store) -> None:
    for name in ["b.txt", "C.txt", "a.txt"]:
        store.upload(f"/d/{name}", name.encode())
    store.mkdir("/d/B2")
    assert [e.name for e in store.children("/D")] == ["a.txt", "b.txt", "B2", "C.txt"]
    with pytest.raises(InvalidInput) as caught:
        store.children("/d/a.txt")
    assert caught.value.provider_message == "path/not_folder/"


def test_walk_is_pre_order_with_sorted_children(store: Store) -> None:
    store.upload("/a/z.txt", b"z")
    store.upload("/a/b/c.txt", b"c")
    store.mkdir("/b")
    assert [e.path_display for e in store.walk("/a")] == ["/a", "/a/b", "/a/b/c.txt", "/a/z.txt"]
    assert next(store.walk("")).path_display == ""
    assert [e.path_display for e in store.walk("/a/z.txt")] == ["/a/z.txt"]


def test_metadata_has_dropbox_shape(store: Store) -> None:
    file = store.upload("/Docs/A.txt", b"abc", client_modified=START - 60)
    assert file.metadata() == {
        ".tag": "file",
        "name": "A.txt",
        "id": file.id,
        "path_lower": "/docs/a.txt",
        "path_display": "/Docs/A.txt",
        "rev": file.rev,
        "size": 3,
        "content_hash": content_hash(b"abc"),
        "client_modified": "2025-12-31T23:59:00Z",
        "server_modified": "2026-01-01T00:00:00Z",
    }
    folder = store.get("/docs")
    assert folder.metadata() == {
        ".tag": "folder",
        "name": "Docs",
        "id": folder.id,
        "path_lower": "/docs",
        "path_display": "/Docs",
    }


def test_ids_and_revs_look_like_dropbox(store: Store) -> None:
    file = store.upload("/a.txt", b"a")
    assert re.fullmatch(r"id:[A-Za-z0-9_-]{22}", file.id)
    assert file.rev is not None and re.fullmatch(r"[0-9a-f]{9,}", file.rev)


def test_the_same_seed_gives_the_same_ids() -> None:
    first, second = make_store(), make_store()
    assert first.upload("/a/b.txt", b"b") == second.upload("/a/b.txt", b"b")


# -- mkdir -----------------------------------------------------------------------------
def test_mkdir_creates_missing_parents_in_one_batch(store: Store) -> None:
    made = store.mkdir("/a/b/c")
    assert made.path_display == "/a/b/c" and made.is_folder
    assert changes(store) == [(1, "folder", "/a"), (1, "folder", "/a/b"), (1, "folder", "/a/b/c")]


@pytest.mark.parametrize(
    ("path", "provider_message"),
    [
        ("/Dir", "path/conflict/folder/"),
        ("/file.txt", "path/conflict/file/"),
        ("/file.txt/x", "path/conflict/file/"),
    ],
)
def test_mkdir_conflicts(store: Store, path: str, provider_message: str) -> None:
    store.mkdir("/dir")
    store.upload("/file.txt", b"f")
    with pytest.raises(Conflict) as caught:
        store.mkdir(path)
    assert caught.value.provider_message == provider_message


def test_mkdir_autorename_numbers_the_name(store: Store) -> None:
    store.mkdir("/New.Folder")
    assert store.mkdir("/new.folder", autorename=True).name == "new.folder (1)"
    assert store.mkdir("/New.Folder", autorename=True).name == "New.Folder (2)"


# -- upload ----------------------------------------------------------------------------
def test_upload_creates_parents_and_logs_them_first(store: Store) -> None:
    store.upload("/a/b/c.txt", b"c")
    assert changes(store) == [(1, "folder", "/a"), (1, "folder", "/a/b"), (1, "file", "/a/b/c.txt")]


def test_upload_sets_times_from_the_clock(store: Store) -> None:
    store.clock.advance(30)
    plain = store.upload("/a.txt", b"a")
    dated = store.upload("/b.txt", b"b", client_modified=START - 3600)
    assert plain.server_modified == plain.client_modified == START + 30
    assert (dated.client_modified, dated.server_modified) == (START - 3600, START + 30)


@pytest.mark.parametrize("options", [{}, {"autorename": True}, {"mode": "overwrite"}])
def test_upload_onto_a_folder_is_always_a_conflict(store: Store, options: dict[str, Any]) -> None:
    store.mkdir("/report")
    with pytest.raises(Conflict) as caught:
        store.upload("/Report", b"r", **options)
    assert caught.value.provider_message == "path/conflict/folder/"


def test_upload_below_a_file_is_a_conflict(store: Store) -> None:
    store.upload("/a.txt", b"a")
    with pytest.raises(Conflict) as caught:
        store.upload("/a.txt/b.txt", b"b")
    assert caught.value.provider_message == "path/conflict/file/"


def test_upload_of_identical_content_writes_nothing(store: Store) -> None:
    first = store.upload("/a.txt", b"same")
    again = store.upload("/A.TXT", b"same", mode="overwrite", tags=["t"])
    assert (again.id, again.rev, again.path_display) == (first.id, first.rev, "/a.txt")
    assert again.tags == ("t",)
    assert store.cursor() == 1


def test_upload_add_over_a_file_is_a_conflict(store: Store) -> None:
    store.upload("/report.txt", b"one")
    with pytest.raises(Conflict) as caught:
        store.upload("/report.txt", b"two")
    assert caught.value.provider_message == "path/conflict/file/"


def test_upload_autorename_puts_the_number_before_the_extension(store: Store) -> None:
    store.upload("/report.txt", b"one")
    assert store.upload("/report.txt", b"two", autorename=True).path_display == "/report (1).txt"
    assert store.upload("/Report.txt", b"three", autorename=True).path_display == "/Report (2).txt"
    store.upload("/.bashrc", b"one")
    assert store.upload("/.bashrc", b"two", autorename=True).name == ".bashrc (1)"


def test_upload_overwrite_keeps_the_id_and_changes_the_rev(store: Store) -> None:
    first = store.upload("/a.txt", b"one", tags=["keep"])
    store.clock.advance(5)
    second = store.upload("/A.txt", b"two", mode="overwrite")
    assert second.id == first.id and second.rev != first.rev
    assert (second.path_display, second.size, second.server_modified) == ("/a.txt", 3, START + 5)
    assert second.tags == ("keep",)
    assert store.read("/a.txt") == b"two"
    assert changes(store, 1) == [(2, "file", "/a.txt")]


def test_upload_over_the_limit_is_too_large() -> None:
    store = make_store(max_upload_bytes=4)
    with pytest.raises(TooLarge) as caught:
        store.upload("/a.txt", b"12345")
    assert caught.value.provider_message == "payload_too_large/"
    assert store.upload("/a.txt", b"1234").size == 4


# -- delete ----------------------------------------------------------------------------
def test_delete_is_recursive_and_logs_every_entry_pre_order(store: Store) -> None:
    store.upload("/a/b/c.txt", b"c")
    store.upload("/a/d.txt", b"d")
    before = store.cursor()
    gone = store.delete("/A")
    assert gone.path_display == "/a" and gone.is_folder
    assert changes(store, before) == [
        (3, "deleted", "/a"),
        (3, "deleted", "/a/b"),
        (3, "deleted", "/a/b/c.txt"),
        (3, "deleted", "/a/d.txt"),
    ]
    assert store.count() == 0 and store.lookup("/a/d.txt") is None


def test_delete_of_missing_path_is_not_found(store: Store) -> None:
    with pytest.raises(NotFound) as caught:
        store.delete("/nope")
    assert caught.value.provider_message == "path_lookup/not_found/"


def test_root_cannot_be_deleted(store: Store) -> None:
    with pytest.raises(InvalidInput) as caught:
        store.delete("/")
    assert caught.value.provider_message == "path_lookup/malformed_path/"


# -- move ------------------------------------------------------------------------------
def test_move_keeps_ids_and_logs_deletes_then_new_entries(store: Store) -> None:
    folder = store.mkdir("/a")
    file = store.upload("/a/x.txt", b"x")
    before = store.cursor()
    moved = store.move("/A", "/b/C")
    assert moved.id == folder.id and moved.path_display == "/b/C"
    inner = store.get("/b/c/x.txt")
    assert (inner.id, inner.rev, inner.path_display) == (file.id, file.rev, "/b/C/x.txt")
    assert changes(store, before) == [
        (3, "deleted", "/a"),
        (3, "deleted", "/a/x.txt"),
        (3, "folder", "/b"),
        (3, "folder", "/b/C"),
        (3, "file", "/b/C/x.txt"),
    ]
    assert store.lookup("/a") is None


def test_move_keeps_the_content_of_every_moved_file(store: Store) -> None:
    store.upload("/a/x.txt", b"x")
    store.upload("/a/b/y.txt", b"y")
    store.move("/a", "/z")
    store.move("/z/x.txt", "/Z/X.txt")
    assert (store.read("/z/X.txt"), store.read("/z/b/y.txt")) == (b"x", b"y")


def test_move_can_change_only_the_case_of_a_name(store: Store) -> None:
    file = store.upload("/dir/readme.md", b"r")
    renamed = store.move("/dir/readme.md", "/DIR/README.md")
    assert (renamed.id, renamed.path_display) == (file.id, "/dir/README.md")
    store.move("/dir", "/Dir")
    assert store.get("/dir/readme.md").path_display == "/Dir/README.md"


def test_move_autorename(store: Store) -> None:
    store.upload("/a.txt", b"a")
    store.upload("/b/a.txt", b"other")
    assert store.move("/a.txt", "/b/a.txt", autorename=True).path_display == "/b/a (1).txt"


@pytest.mark.parametrize(
    ("src", "dst", "error", "provider_message"),
    [
        ("/missing", "/x", NotFound, "from_lookup/not_found/"),
        ("/dir", "/dir/sub", InvalidInput, "duplicated_or_nested_paths/"),
        ("/dir", "/DIR/sub/deeper", InvalidInput, "duplicated_or_nested_paths/"),
        ("/dir", "/dir", InvalidInput, "duplicated_or_nested_paths/"),
        ("/file.txt", "/other", Conflict, "to/conflict/folder/"),
        ("/dir", "/File.txt", Conflict, "to/conflict/file/"),
        ("/dir", "/file.txt/x", Conflict, "to/conflict/file/"),
        ("/dir", "/", Conflict, "to/conflict/folder/"),
        ("/", "/x", InvalidInput, "from_lookup/malformed_path/"),
        ("/dir", "/bad/", InvalidInput, "to/malformed_path/"),
        ("bad", "/x", InvalidInput, "from_lookup/malformed_path/"),
    ],
)
def test_move_and_copy_refusals_change_nothing(
    store: Store, src: str, dst: str, error: type[DomainError], provider_message: str
) -> None:
    store.upload("/dir/sub/a.txt", b"a")
    store.upload("/file.txt", b"f")
    store.mkdir("/other")
    before = store.snapshot()
    for operation in (store.move, store.copy):
        with pytest.raises(error) as caught:
            operation(src, dst)
        assert caught.value.provider_message == provider_message
        assert store.snapshot() == before


# -- copy ------------------------------------------------------------------------------
def test_copy_gives_new_ids_and_revs_and_shares_content(store: Store) -> None:
    original = store.upload("/a/x.txt", b"x", client_modified=START - 10)
    before = store.cursor()
    store.clock.advance(7)
    copied = store.copy("/a", "/b")
    inner = store.get("/b/x.txt")
    assert copied.id != store.get("/a").id
    assert inner.id != original.id and inner.rev != original.rev
    assert inner.content_hash == original.content_hash and store.read("/b/x.txt") == b"x"
    assert (inner.client_modified, inner.server_modified) == (START - 10, START + 7)
    assert changes(store, before) == [(2, "folder", "/b"), (2, "file", "/b/x.txt")]
    assert len(store.blobs()) == 1


def test_copy_to_a_case_variant_of_itself_is_nested(store: Store) -> None:
    store.upload("/a.txt", b"a")
    with pytest.raises(InvalidInput) as caught:
        store.copy("/a.txt", "/A.txt")
    assert caught.value.provider_message == "duplicated_or_nested_paths/"


def test_copy_autorename_and_missing_parents(store: Store) -> None:
    store.upload("/a.txt", b"a")
    assert store.copy("/a.txt", "/new/dir/a.txt").path_display == "/new/dir/a.txt"
    assert store.copy("/a.txt", "/new/dir/A.txt", autorename=True).path_display == "/new/dir/A (1).txt"


# -- properties, blobs -----------------------------------------------------------------
def test_set_properties_is_not_logged(store: Store) -> None:
    store.upload("/a.txt", b"a")
    updated = store.set_properties("/A.txt", tags=["x", "y"], description="about a")
    assert (updated.tags, updated.description) == (("x", "y"), "about a")
    assert store.get("/a.txt").tags == ("x", "y")
    assert store.set_properties("/a.txt", description="new").tags == ("x", "y")
    assert store.cursor() == 1


def test_blobs_are_shared_and_dropped_with_their_last_entry(store: Store) -> None:
    store.upload("/a.txt", b"same")
    store.upload("/b.txt", b"same")
    store.upload("/c.txt", b"other")
    assert len(store.blobs()) == 2
    store.delete("/a.txt")
    assert content_hash(b"same") in store.blobs()
    store.delete("/b.txt")
    store.upload("/c.txt", b"new", mode="overwrite")
    assert set(store.blobs()) == {content_hash(b"new")}


# -- refusals change nothing -----------------------------------------------------------
REFUSALS: list[Callable[[Store], object]] = [
    lambda s: s.mkdir("/dir"),
    lambda s: s.mkdir("/file.txt/new/deeper"),
    lambda s: s.upload("/dir", b"x", mode="overwrite"),
    lambda s: s.upload("/file.txt", b"different"),
    lambda s: s.upload("/new/deeper/x.txt", b"x" * 100),
    lambda s: s.upload("/new/desktop.ini", b"x"),
    lambda s: s.delete("/missing"),
    lambda s: s.move("/dir", "/dir/inside"),
    lambda s: s.copy("/dir", "/file.txt"),
    lambda s: s.set_properties("/missing", tags=["t"]),
]


@pytest.mark.parametrize("refusal", REFUSALS)
def test_a_refused_operation_changes_nothing(refusal: Callable[[Store], object]) -> None:
    store = make_store(max_upload_bytes=50)
    store.upload("/dir/a.txt", b"a")
    store.upload("/file.txt", b"f")
    calls: list[int] = []
    store.listeners.append(lambda _s, batch: calls.append(len(batch)))
    before = store.snapshot()
    with pytest.raises(DomainError):
        refusal(store)
    assert store.snapshot() == before
    assert calls == []


# -- change log ------------------------------------------------------------------------
def test_changes_since_pages_with_a_limit(store: Store) -> None:
    store.upload("/a/b.txt", b"b")
    store.mkdir("/c")
    assert store.cursor() == 3
    assert [c.seq for c in store.changes_since(0, limit=2)] == [1, 2]
    assert [c.seq for c in store.changes_since(2, limit=2)] == [3]
    assert store.changes_since(3) == []


def test_a_cursor_beyond_the_log_answers_reset(store: Store) -> None:
    store.mkdir("/a")
    for cursor in (2, -1):
        with pytest.raises(InvalidInput) as caught:
            store.changes_since(cursor)
        assert caught.value.provider_message == "reset"


def test_change_metadata_has_dropbox_shape(store: Store) -> None:
    store.upload("/A.txt", b"a")
    store.delete("/a.txt")
    written, deleted = store.changes_since(0)
    assert written.metadata()[".tag"] == "file" and written.metadata()["size"] == 1
    assert deleted.metadata() == {
        ".tag": "deleted",
        "name": "A.txt",
        "path_lower": "/a.txt",
        "path_display": "/A.txt",
    }


def test_listeners_are_called_once_per_batch_with_that_batch(store: Store) -> None:
    seen: list[tuple[Store, list[Change]]] = []
    store.listeners.append(lambda s, batch: seen.append((s, batch)))
    store.upload("/a/b.txt", b"b")
    store.upload("/a/b.txt", b"b")  # identical: nothing written
    store.set_properties("/a/b.txt", tags=["t"])
    store.delete("/a")
    assert [(s is store, [c.seq for c in batch]) for s, batch in seen] == [(True, [1, 2]), (True, [3, 4])]


def test_seeding_is_silent(store: Store) -> None:
    store.seed_folder("/Empty/Inner")
    store.seed_file("/Docs/a.txt", b"a", client_modified=START - 5)
    assert store.seed_folder("/empty") == store.get("/Empty")
    assert store.cursor() == 0
    assert store.read("/docs/A.TXT") == b"a"
    assert store.get("/docs/a.txt").client_modified == START - 5
    assert store.count() == 4
    with pytest.raises(Conflict):
        store.seed_folder("/docs/a.txt")


def test_seed_file_over_a_file_replaces_its_content(store: Store) -> None:
    first = store.seed_file("/a.txt", b"one")
    second = store.seed_file("/A.txt", b"two")
    assert second.id == first.id and store.read("/a.txt") == b"two"
    assert list(store.blobs()) == [content_hash(b"two")]


# -- replay, snapshots -----------------------------------------------------------------
def busy_store() -> Store:
    store = make_store()
    store.upload("/Docs/Été/日本語.txt", b"one")
    store.upload("/Docs/Été/日本語.txt", b"two", mode="overwrite")
    store.copy("/docs", "/Copy")
    store.move("/copy/été", "/Moved/ÉTÉ")
    store.mkdir("/gone/inner")
    store.delete("/gone")
    store.move("/docs", "/DOCS")
    return store


def test_replay_of_the_log_rebuilds_the_same_tree() -> None:
    store = busy_store()
    replayed = Store.replay(Clock(start=0.0), Ids(seed=9), store.changes_since(0), store.blobs())
    assert tree(replayed) == tree(store)
    assert [e.metadata() for e in replayed.walk("")] == [e.metadata() for e in store.walk("")]
    assert replayed.changes_since(0) == store.changes_since(0)
    assert replayed.read("/moved/été/日本語.txt") == b"two"


def test_replay_needs_the_content_of_the_files_it_leaves() -> None:
    store = busy_store()
    with pytest.raises(InvalidInput):
        Store.replay(Clock(start=0.0), Ids(seed=1), store.changes_since(0), {})


def test_snapshot_round_trips_through_json() -> None:
    store = busy_store()
    store.set_properties("/docs/été/日本語.txt", tags=["t"], description="d")
    data = json.loads(json.dumps(store.snapshot()))
    restored = Store.from_snapshot(data, Clock(start=START), Ids(seed=1))
    assert restored.snapshot() == store.snapshot()
    assert restored.get("/docs/été/日本語.txt").tags == ("t",)
    assert restored.changes_since(0) == store.changes_since(0)


def test_a_restored_store_never_reissues_a_live_id() -> None:
    store = busy_store()
    restored = Store.from_snapshot(store.snapshot(), Clock(start=START), Ids(seed=1))
    live = {e.id for e in restored.walk("")}
    assert restored.mkdir("/fresh").id not in live


@pytest.mark.parametrize(
    "damage",
    [
        lambda d: d.update(version=99),
        lambda d: d.update(blobs={}),
        lambda d: d["entries"].remove(next(e for e in d["entries"] if e["path"] == "/DOCS")),
        lambda d: d["entries"].append(dict(d["entries"][0])),
        lambda d: d["log"].pop(0),
        lambda d: d.pop("entries"),
    ],
)
def test_from_snapshot_refuses_damaged_data(damage: Callable[[dict[str, Any]], object]) -> None:
    data = busy_store().snapshot()
    damage(data)
    with pytest.raises(InvalidInput):
        Store.from_snapshot(data, Clock(start=START), Ids(seed=1))
