"""The Documents hub's folders: the guide's create and copy calls, contents paging, copy, move and delete."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from emulator.runtime import Runtime
from tests.conftest import provision
from tests.test_hub_files import Hub, alice_store

GUIDE_CREATE_BODY = {
    "path": "/testfoldercreate",
    "tags": ["TestFolderCreate"],
    "createdDate": "",
    "size": 0,
    "name": "TestFolderCreate",
    "directory": False,
}
GUIDE_COPY_BODY = {"path": "/testfoldercopy", "tags": ["TestFolderCopy"], "name": "TestFolderCopy"}


@pytest.fixture
def hub(client: TestClient) -> Hub:
    return Hub(client, provision(client))


@pytest.fixture
def guide_hub(client: TestClient) -> Hub:
    return Hub(client, provision(client, "your_moms"), "your_moms", "Your_mom")


def below(hub: Hub, top: str) -> list[str]:
    return sorted(p for p in hub.tree() if p == top or p.startswith(top + "/"))


# -- the guide's calls -----------------------------------------------------------------------
def test_the_guides_folder_create_makes_the_folder_its_callback_shows(guide_hub: Hub) -> None:
    # The guide's own Authorization: a User secret and the token, without Organization.
    guide_auth = {"Authorization": f"User dev-user-secret, Your_mom {guide_hub.instance['token']}"}
    made = guide_hub.call(
        "POST", "/folders?path=/testfoldercreate", json=GUIDE_CREATE_BODY, headers=guide_auth
    )
    assert made.status_code == 200, made.text
    doc = made.json()
    assert (doc["path"], doc["name"], doc["directory"]) == ("/TestFolderCreate", "TestFolderCreate", True)
    assert (doc["id"], doc["tags"], doc["parentFolderId"]) == (
        "%252FTestFolderCreate",
        ["TestFolderCreate"],
        "%252F",
    )
    assert made.headers["Your_moms-Your_mom-Instance-Id"] == str(guide_hub.instance["id"])
    entry = guide_hub.tree()["/TestFolderCreate"]
    assert (entry["path_lower"], entry["name"], entry[".tag"]) == (
        "/testfoldercreate",
        "TestFolderCreate",
        "folder",
    )


def test_the_guides_folder_copy_makes_the_copy_its_callback_shows(guide_hub: Hub) -> None:
    guide_hub.call("POST", "/folders?path=/testfoldercreate", json=GUIDE_CREATE_BODY)
    guide_hub.upload("/TestFolderCreate/testUploadFile.txt", b"guide")
    copied = guide_hub.call("POST", "/folders/copy?path=/TestFolderCreate", json=GUIDE_COPY_BODY)
    assert copied.status_code == 200, copied.text
    assert (copied.json()["path"], copied.json()["tags"]) == ("/TestFolderCopy", ["TestFolderCopy"])
    tree = guide_hub.tree()
    assert tree["/TestFolderCopy/testUploadFile.txt"]["path_lower"] == "/testfoldercopy/testuploadfile.txt"


def test_a_name_naming_another_component_is_ignored(hub: Hub) -> None:
    made = hub.call("POST", "/folders", json={"path": "/lower/case", "name": "Something Else"}).json()
    assert (made["path"], made["name"]) == ("/lower/case", "case")
    from_body_only = hub.call("POST", "/folders", json={"path": "/body/only", "name": "ONLY"}).json()
    assert from_body_only["path"] == "/body/ONLY"


def test_a_folder_create_needs_a_path(hub: Hub) -> None:
    assert hub.call("POST", "/folders", json={"name": "x"}).status_code == 400
    assert hub.call("POST", "/folders", json={"path": "/x", "tags": "not a list"}).status_code == 400


def test_a_conflicting_create_is_409_and_changes_nothing(hub: Hub) -> None:
    before, cursor = hub.tree(), len(hub.changes())
    for path in ("/Documents", "/DOCUMENTS", "/hello.txt"):
        refused = hub.call("POST", "/folders", params={"path": path}, json={"tags": ["t"]})
        assert refused.status_code == 409
        assert refused.json()["providerMessage"] in ("path/conflict/folder/", "path/conflict/file/")
    below_a_file = hub.call("POST", "/folders", params={"path": "/hello.txt/inner"})
    assert below_a_file.status_code == 409
    assert hub.tree() == before
    assert hub.changes(cursor) == []
    assert hub.call("GET", "/folders/metadata", params={"path": "/Documents"}).json()["tags"] == []


# -- contents and paging ---------------------------------------------------------------------
def test_contents_lists_the_children_with_headers(hub: Hub) -> None:
    listed = hub.call("GET", "/folders/contents", params={"path": "/documents"})
    assert listed.status_code == 200
    names = [d["name"] for d in listed.json()]
    assert names == [
        "Archive",
        "Budget 2026.xlsx",
        "Contracts",
        "notes.txt",
        "Report Q1.docx",
        "Ünïcödé notes.txt",
    ]
    assert listed.headers["Elements-Returned-Count"] == "6"
    assert "Elements-Next-Page-Token" not in listed.headers
    assert all(d["parentFolderId"] == "%252FDocuments" for d in listed.json())


def test_contents_headers_speak_the_requests_dialect(guide_hub: Hub) -> None:
    listed = guide_hub.call("GET", "/folders/contents", params={"path": "/", "pageSize": "2"})
    assert listed.headers["Your_moms-Returned-Count"] == "2"
    assert "Your_moms-Next-Page-Token" in listed.headers
    assert "Elements-Next-Page-Token" not in listed.headers


def test_contents_of_the_root_and_of_a_file(hub: Hub) -> None:
    root = hub.call("GET", "/folders/contents", params={"path": "/"}).json()
    assert {d["path"] for d in root} >= {"/Documents", "/hello.txt", "/Photos"}
    of_file = hub.call("GET", "/folders/contents", params={"path": "/hello.txt"})
    assert (of_file.status_code, of_file.json()["providerMessage"]) == (400, "path/not_folder/")


def test_tags_are_listed_only_with_fetch_tags(hub: Hub) -> None:
    hub.call("PATCH", "/folders/metadata", params={"path": "/Photos"}, json={"tags": ["pics"]})
    plain = hub.call("GET", "/folders/contents", params={"path": "/"}).json()
    assert all("tags" not in d for d in plain)
    tagged = hub.call("GET", "/folders/contents", params={"path": "/", "fetchTags": "true"}).json()
    assert next(d for d in tagged if d["name"] == "Photos")["tags"] == ["pics"]


def test_a_listing_read_again_after_a_change_shows_the_change(hub: Hub) -> None:
    """Listings are served from caches while nothing changes; each kind of change must show at once."""

    def listed() -> dict[str, Any]:
        answer = hub.call("GET", "/folders/contents", params={"path": "/", "fetchTags": "true"})
        return {d["name"]: d for d in answer.json()}

    assert "Photos" in listed() and "New" not in listed()
    hub.call("PATCH", "/folders/metadata", params={"path": "/Photos"}, json={"tags": ["again"]})
    assert listed()["Photos"]["tags"] == ["again"]
    hub.call("POST", "/folders", json={"path": "/New"})
    assert "New" in listed()
    hub.call("PATCH", "/folders/metadata", params={"path": "/New"}, json={"path": "/Renamed"})
    assert "New" not in listed() and "Renamed" in listed()
    hub.call("DELETE", "/folders", params={"path": "/Renamed"})
    assert "Renamed" not in listed()


def walk_pages(hub: Hub, path: str, page_size: int, between: Any = None) -> list[list[str]]:
    pages: list[list[str]] = []
    params: dict[str, Any] = {"path": path, "pageSize": page_size}
    while True:
        answer = hub.call("GET", "/folders/contents", params=params)
        assert answer.status_code == 200, answer.text
        pages.append([d["name"] for d in answer.json()])
        assert answer.headers["Elements-Returned-Count"] == str(len(pages[-1]))
        token = answer.headers.get("Elements-Next-Page-Token")
        if token is None:
            return pages
        assert len(pages[-1]) == page_size
        if between is not None:
            between(len(pages))
        params["nextPage"] = token


def make_many(runtime: Runtime, count: int = 23) -> list[str]:
    store = alice_store(runtime)
    names = [f"child {i:02d}.txt" for i in range(count)]
    if store.lookup("/Many") is None:
        for name in names:
            store.upload(f"/Many/{name}", name.encode())
    return names


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(page_size=st.integers(min_value=1, max_value=30))
def test_contents_paging_walks_every_child_exactly_once(hub: Hub, runtime: Runtime, page_size: int) -> None:
    names = make_many(runtime)
    pages = walk_pages(hub, "/Many", page_size)
    assert [n for page in pages for n in page] == names
    assert len(pages) == max(1, -(-len(names) // page_size))


def test_paging_lists_each_child_present_throughout_once_while_others_come_and_go(
    hub: Hub, runtime: Runtime
) -> None:
    names = make_many(runtime)

    def meanwhile(pages_so_far: int) -> None:
        hub.upload(f"/Many/aaa new {pages_so_far}.txt", b"n")
        if pages_so_far == 1:
            hub.call("DELETE", "/files", params={"path": "/Many/child 22.txt"})

    seen = [n for page in walk_pages(hub, "/Many", 5, meanwhile) for n in page]
    stayed = [n for n in names if n != "child 22.txt"]
    assert [n for n in seen if n in stayed] == stayed
    assert "child 22.txt" not in seen


@pytest.mark.parametrize("token", ["garbage!", "eyJsIjogIngiLCAiYSI6ICIifQ"])
def test_a_next_page_token_of_another_listing_is_400(hub: Hub, token: str) -> None:
    answer = hub.call("GET", "/folders/contents", params={"path": "/", "nextPage": token})
    assert answer.status_code == 400
    other = hub.call("GET", "/folders/contents", params={"path": "/", "pageSize": 1})
    from_root = other.headers["Elements-Next-Page-Token"]
    assert (
        hub.call("GET", "/folders/contents", params={"path": "/Photos", "nextPage": from_root}).status_code
        == 400
    )


@pytest.mark.parametrize("size", ["0", "-1", "ten", "1.5", "²"])
def test_a_bad_page_size_is_400(hub: Hub, size: str) -> None:
    assert hub.call("GET", "/folders/contents", params={"path": "/", "pageSize": size}).status_code == 400


# -- copy, move, delete of trees ---------------------------------------------------------------
def test_copy_of_a_folder_copies_everything_below_it(hub: Hub) -> None:
    copied = hub.call("POST", "/folders/copy", params={"path": "/documents"}, json={"path": "/Backup/Docs"})
    assert copied.status_code == 200, copied.text
    originals = [p.removeprefix("/Documents") for p in below(hub, "/Documents")]
    assert [p.removeprefix("/Backup/Docs") for p in below(hub, "/Backup/Docs")] == originals
    tree = hub.tree()
    assert (
        tree["/Backup/Docs/Contracts/NDA signed.pdf"]["content_hash"]
        == (tree["/Documents/Contracts/NDA signed.pdf"]["content_hash"])
    )


def test_move_of_a_folder_takes_everything_below_it(hub: Hub) -> None:
    before = [p.removeprefix("/Photos") for p in below(hub, "/Photos")]
    ids = {p.removeprefix("/Photos"): e["id"] for p, e in hub.tree().items() if p.startswith("/Photos")}
    moved = hub.call(
        "PATCH", "/folders/metadata", params={"path": "/photos"}, json={"path": "/Archive/Pictures"}
    )
    assert moved.status_code == 200, moved.text
    assert below(hub, "/Photos") == []
    after = {
        p.removeprefix("/Archive/Pictures"): e["id"]
        for p, e in hub.tree().items()
        if p.startswith("/Archive/")
    }
    assert sorted(after) == before
    assert after == ids


def test_delete_of_a_folder_is_recursive(hub: Hub) -> None:
    assert hub.call("DELETE", "/folders", params={"path": "/DOCUMENTS"}).status_code == 200
    assert below(hub, "/Documents") == []
    assert "/hello.txt" in hub.tree()
    assert hub.call("DELETE", "/folders", params={"path": "/Documents"}).status_code == 404
    assert hub.call("DELETE", "/folders", params={"path": "/"}).status_code == 400
    assert hub.call("DELETE", "/folders", params={"path": "/hello.txt"}).status_code == 400


def test_folder_copy_onto_an_existing_target_needs_overwrite(hub: Hub) -> None:
    hub.call("POST", "/folders", params={"path": "/Target/old"})
    cursor = len(hub.changes())
    refused = hub.call("POST", "/folders/copy", params={"path": "/Photos"}, json={"path": "/target"})
    assert (refused.status_code, refused.json()["providerMessage"]) == (409, "to/conflict/folder/")
    assert hub.changes(cursor) == []
    replaced = hub.call(
        "POST", "/folders/copy", params={"path": "/Photos", "overwrite": "true"}, json={"path": "/target"}
    )
    assert replaced.status_code == 200, replaced.text
    assert replaced.json()["path"] == "/target"
    assert [p.removeprefix("/target") for p in below(hub, "/target")] == [
        p.removeprefix("/Photos") for p in below(hub, "/Photos")
    ]


@pytest.mark.parametrize(
    ("source", "target"),
    [("/Documents", "/Documents/Inner"), ("/Documents/Contracts", "/Documents"), ("/", "/x")],
)
def test_folder_copy_into_itself_or_over_its_own_parent_is_refused_and_changes_nothing(
    hub: Hub, source: str, target: str
) -> None:
    before, cursor = hub.tree(), len(hub.changes())
    answer = hub.call(
        "POST", "/folders/copy", params={"path": source, "overwrite": "true"}, json={"path": target}
    )
    assert answer.status_code == 400
    assert hub.tree() == before
    assert hub.changes(cursor) == []


def test_folder_metadata_of_the_root(hub: Hub) -> None:
    root = hub.call("GET", "/folders/metadata", params={"path": "/"}).json()
    assert (root["id"], root["path"], root["directory"], root["parentFolderId"]) == ("%252F", "/", True, None)
    assert (
        hub.call("GET", "/folders/%252F/contents").json()
        == hub.call("GET", "/folders/contents", params={"path": "/"}).json()
    )


# -- ids -------------------------------------------------------------------------------------
def test_folder_by_id_routes_agree_with_by_path_routes(hub: Hub) -> None:
    by_path = hub.call("GET", "/folders/metadata", params={"path": "/Documents"}).json()
    contents = hub.call("GET", "/folders/contents", params={"path": "/Documents", "fetchTags": "true"}).json()
    for folder_id in ("%252FDocuments", "%252fdocuments", by_path["refId"]):
        assert hub.call("GET", f"/folders/{folder_id}/metadata").json() == by_path
        listed = hub.call("GET", f"/folders/{folder_id}/contents", params={"fetchTags": "true"})
        assert listed.json() == contents
    copied = hub.call("POST", f"/folders/{by_path['refId']}/copy", json={"path": "/Docs2"})
    assert copied.status_code == 200
    patched = hub.call("PATCH", f"/folders/{copied.json()['id']}/metadata", json={"path": "/Docs3"})
    assert patched.json()["path"] == "/Docs3"
    assert hub.call("DELETE", "/folders/%252FDocs3").status_code == 200
    assert below(hub, "/Docs3") == below(hub, "/Docs2") == []
