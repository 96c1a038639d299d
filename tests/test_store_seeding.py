"""Bulk seeding (`Store.seed_tree`) builds exactly what seeding node by node builds, for any tree."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from emulator.domain.clock import Clock
from emulator.domain.errors import DomainError
from emulator.domain.ids import Ids
from emulator.domain.provider.content import content_hash
from emulator.domain.provider.store import Store

START = 1767225600.0


@dataclass(frozen=True)
class Node:
    path: str
    is_folder: bool
    content: bytes | None
    modified: float | None


# Names that meet: case and NFC/NFD variants of one name, names Dropbox refuses, a control
# character, the macOS icon file, "." and an empty component (from "//").
COMPONENTS = st.sampled_from(
    ["a", "A", "b.txt", "B.TXT", "Été", "E\u0301te\u0301", "desktop.ini", "Icon\r", "x\x01", ".", "", "n256"]
).map(lambda name: "n" * 256 if name == "n256" else name)
PATHS = st.one_of(
    st.lists(COMPONENTS, min_size=1, max_size=3).map(lambda names: "/" + "/".join(names)),
    st.sampled_from(["", "/", "a", "//a", "/a/"]),
)
NODES = st.builds(
    Node,
    path=PATHS,
    is_folder=st.booleans(),
    content=st.one_of(st.none(), st.sampled_from([b"", b"one", b"two"])),
    modified=st.one_of(st.none(), st.just(START - 60.0)),
)


def fixture_like(nodes: list[Node]) -> list[Node]:
    """The nodes with, before each, folders for its parents: the order a fixture's tree comes in."""
    ordered: list[Node] = []
    for node in nodes:
        parts = node.path.split("/")
        ordered += [Node("/".join(parts[:i]), True, None, None) for i in range(2, len(parts))]
        ordered.append(node)
    return ordered


def one_by_one(nodes: list[Node]) -> tuple[Store, tuple[type, str] | None]:
    store = Store(Clock(start=START), Ids(seed=3))
    try:
        for node in nodes:
            if node.is_folder:
                store.seed_folder(node.path)
            else:
                data = node.content or b""
                store.seed_file(node.path, data, node.modified, digest=content_hash(data))
    except DomainError as error:
        return store, (type(error), str(error))
    return store, None


def in_bulk(nodes: list[Node], digests: bool) -> tuple[Store, tuple[type, str] | None]:
    store = Store(Clock(start=START), Ids(seed=3))
    given_digests = None
    if digests:
        given_digests = [None if n.is_folder else content_hash(n.content or b"") for n in nodes]
    try:
        store.seed_tree(nodes, given_digests)
    except DomainError as error:
        return store, (type(error), str(error))
    return store, None


def everything(store: Store) -> object:
    """All a client can see of the store, its blobs and what its ids will draw next."""
    entries = [(e.metadata(), e.client_modified, e.server_modified) for e in store.walk("")]
    listings = {
        e.path_lower: [c.path_display for c in store.children_of(e)] for e in store.walk("") if e.is_folder
    }
    return entries, listings, dict(store.blobs()), store.ids.state(), store.cursor()


@settings(max_examples=300, deadline=None)
@given(nodes=st.lists(NODES, max_size=12), ordered=st.booleans(), digests=st.booleans())
def test_seed_tree_builds_what_seeding_node_by_node_builds(
    nodes: list[Node], ordered: bool, digests: bool
) -> None:
    if ordered:
        nodes = fixture_like(nodes)
    expected_store, expected_error = one_by_one(nodes)
    store, error = in_bulk(nodes, digests)
    assert error == expected_error
    assert everything(store) == everything(expected_store)


def test_a_listing_read_before_seeding_shows_the_seeded_entries() -> None:
    store = Store(Clock(start=START), Ids(seed=3))
    root = store.get("")
    assert list(store.children_of(root)) == []
    store.seed_tree([Node("/a.txt", False, b"a", None), Node("/b", True, None, None)])
    assert [e.name for e in store.children_of(root)] == ["a.txt", "b"]


def test_a_listing_is_fresh_even_when_seeding_stops_at_a_refused_node() -> None:
    store = Store(Clock(start=START), Ids(seed=3))
    root = store.get("")
    assert list(store.children_of(root)) == []
    refused = Node("/a.txt/inside", False, b"x", None)  # a file cannot hold anything
    with pytest.raises(DomainError):
        store.seed_tree([Node("/a.txt", False, b"a", None), refused])
    assert [e.name for e in store.children_of(root)] == ["a.txt"]
