"""Random sequences of Dropbox writes against a plain dict model of the tree (hypothesis stateful)."""

from __future__ import annotations

import copy
import itertools
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, initialize, invariant, rule

from emulator.domain.clock import Clock
from emulator.domain.errors import Conflict, DomainError, InvalidInput, NotFound
from emulator.domain.ids import Ids
from emulator.domain.provider.store import Change, Store

# Accented letters, in both NFC and NFD spellings, so case and Unicode variants of one name meet.
NAMES = st.tuples(
    st.lists(st.sampled_from(["a", "B", "é", "É", "e\u0301"]), min_size=1, max_size=2).map("".join),
    st.sampled_from(["", ".txt", ".TXT"]),
).map("".join)
FRESH_PATHS = st.lists(NAMES, min_size=1, max_size=3).map(lambda names: "/" + "/".join(names))
CONTENTS = st.sampled_from([b"", b"one", b"two"])


def key(path: str) -> str:
    return unicodedata.normalize("NFC", path).lower()


def vary(choice: tuple[str, list[bool], bool]) -> str:
    """The same path with the case of some letters flipped and maybe spelled NFD."""
    path, flips, nfd = choice
    varied = "".join(
        c.swapcase() if flip else c for c, flip in zip(path, itertools.cycle(flips), strict=False)
    )
    return unicodedata.normalize("NFD", varied) if nfd else varied


def numbered(name: str, n: int, is_file: bool) -> str:
    stem, dot, extension = name.rpartition(".")
    return f"{stem} ({n}).{extension}" if is_file and dot and stem else f"{name} ({n})"


@dataclass
class Node:
    display: str
    is_folder: bool
    content: bytes | None
    id: str | None  # None until the store tells which id it gave


class Model:
    """The tree as a dict {path_lower: Node}, with Dropbox's rules written the simple way."""

    def __init__(self) -> None:
        self.nodes: dict[str, Node] = {}

    def subtree(self, top: str) -> list[str]:
        return sorted(k for k in self.nodes if k == top or k.startswith(top + "/"))

    def children(self, folder: str) -> list[str]:
        return sorted(k for k in self.nodes if k.rpartition("/")[0] == folder)

    def parent_display(self, path: str, role: str) -> str:
        """The display of `path`'s parent, creating missing folders; Conflict below a file."""
        display = ""
        for name in path.split("/")[1:-1]:
            node = self.nodes.get(key(f"{display}/{name}"))
            if node is not None and not node.is_folder:
                raise Conflict("file", provider_message=f"{role}/conflict/file/")
            display = node.display if node is not None else f"{display}/{name}"
            if node is None:
                self.nodes[key(display)] = Node(display, True, None, None)
        return display

    def free_name(self, parent: str, name: str, *, is_file: bool, autorename: bool, role: str) -> str:
        occupant = self.nodes.get(key(f"{parent}/{name}"))
        if occupant is None:
            return name
        if not autorename:
            kind = "folder" if occupant.is_folder else "file"
            raise Conflict(kind, provider_message=f"{role}/conflict/{kind}/")
        n = 1
        while key(f"{parent}/{numbered(name, n, is_file)}") in self.nodes:
            n += 1
        return numbered(name, n, is_file)

    def mkdir(self, path: str, autorename: bool) -> None:
        parent = self.parent_display(path, "path")
        name = self.free_name(
            parent, path.rpartition("/")[2], is_file=False, autorename=autorename, role="path"
        )
        self.nodes[key(f"{parent}/{name}")] = Node(f"{parent}/{name}", True, None, None)

    def upload(self, path: str, data: bytes, overwrite: bool, autorename: bool) -> None:
        parent = self.parent_display(path, "path")
        name = path.rpartition("/")[2]
        existing = self.nodes.get(key(f"{parent}/{name}"))
        if existing is not None and existing.is_folder:
            raise Conflict("folder", provider_message="path/conflict/folder/")
        if existing is not None and (existing.content == data or overwrite):
            existing.content = data
            return
        name = self.free_name(parent, name, is_file=True, autorename=autorename, role="path")
        self.nodes[key(f"{parent}/{name}")] = Node(f"{parent}/{name}", False, data, None)

    def delete(self, path: str) -> None:
        if key(path) not in self.nodes:
            raise NotFound("missing", provider_message="path_lookup/not_found/")
        for k in self.subtree(key(path)):
            del self.nodes[k]

    def relocate(self, src: str, dst: str, autorename: bool, keep: bool) -> None:
        """Move (keep ids) or copy (new ids)."""
        source = self.nodes.get(key(src))
        if source is None:
            raise NotFound("missing", provider_message="from_lookup/not_found/")
        name = unicodedata.normalize("NFC", dst.rpartition("/")[2])
        old = self.subtree(key(src))
        if keep and key(dst) == key(src) and name != source.display.rpartition("/")[2]:
            target = f"{source.display.rpartition('/')[0]}/{name}"
        elif key(dst) == key(src) or key(dst).startswith(key(src) + "/"):
            raise InvalidInput("nested", provider_message="duplicated_or_nested_paths/")
        else:
            parent = self.parent_display(dst, "to")
            name = self.free_name(
                parent, name, is_file=not source.is_folder, autorename=autorename, role="to"
            )
            target = f"{parent}/{name}"
        top = source.display
        moved = [self.nodes.pop(k) if keep else copy.copy(self.nodes[k]) for k in old]
        for node in moved:
            node.display = target + node.display[len(top) :]
            node.id = node.id if keep else None
            self.nodes[key(node.display)] = node


class StoreMachine(RuleBasedStateMachine):
    paths = Bundle("paths")

    def __init__(self) -> None:
        super().__init__()
        self.store = Store(Clock(start=1767225600.0), Ids(seed=1))
        self.model = Model()
        self.batches: list[list[Change]] = []
        self.store.listeners.append(lambda _store, batch: self.batches.append(batch))

    # Paths for arguments: fresh ones, case/Unicode variants of known ones, and new names below them.
    ANY_PATH = st.one_of(
        FRESH_PATHS,
        st.tuples(paths, st.lists(st.booleans(), min_size=1, max_size=5), st.booleans()).map(vary),
        st.tuples(paths, NAMES).map("/".join),
    )

    def apply(self, name: str, in_store: Callable[[], object], in_model: Callable[[Model], None]) -> None:
        """Run one operation on both; the store must succeed or refuse exactly when the model does."""
        trial = copy.deepcopy(self.model)
        try:
            in_model(trial)
            expected: DomainError | None = None
        except DomainError as error:
            expected = error
        event(f"{name}: {expected.provider_message if expected else 'done'}")
        before = (self.store.cursor(), len(self.batches))
        try:
            in_store()
        except DomainError as error:
            assert expected is not None, f"store refused what the model allows: {error!r}"
            assert (type(error), error.provider_message) == (type(expected), expected.provider_message)
            assert (self.store.cursor(), len(self.batches)) == before
            return
        assert expected is None, f"store allowed what the model refuses: {expected!r}"
        self.adopt(trial, before)

    def adopt(self, trial: Model, before: tuple[int, int]) -> None:
        """Take the model's new state, learn the new ids, and check the batch the store logged."""
        self.model = trial
        for node in trial.nodes.values():
            if node.id is None:
                entry = self.store.lookup(node.display)
                assert entry is not None, node.display
                node.id = entry.id
        new_changes = self.store.changes_since(before[0])
        if new_changes:
            assert self.batches[before[1] :] == [new_changes]
            assert {c.batch for c in new_changes} == {self.batches[-1][0].batch}
        else:
            assert len(self.batches) == before[1]

    @initialize(target=paths, path=FRESH_PATHS, data=CONTENTS)
    def first_upload(self, path: str, data: bytes) -> str:
        self.apply(
            "upload",
            lambda: self.store.upload(path, data),
            lambda m: m.upload(unicodedata.normalize("NFC", path), data, False, False),
        )
        return path

    @rule(target=paths, path=ANY_PATH, autorename=st.booleans())
    def mkdir(self, path: str, autorename: bool) -> str:
        self.apply(
            "mkdir",
            lambda: self.store.mkdir(path, autorename=autorename),
            lambda m: m.mkdir(unicodedata.normalize("NFC", path), autorename),
        )
        return path

    @rule(target=paths, path=ANY_PATH, data=CONTENTS, overwrite=st.booleans(), autorename=st.booleans())
    def upload(self, path: str, data: bytes, overwrite: bool, autorename: bool) -> str:
        mode: Literal["add", "overwrite"] = "overwrite" if overwrite else "add"
        self.apply(
            "upload",
            lambda: self.store.upload(path, data, mode=mode, autorename=autorename),
            lambda m: m.upload(unicodedata.normalize("NFC", path), data, overwrite, autorename),
        )
        return path

    @rule(path=ANY_PATH)
    def delete(self, path: str) -> None:
        self.apply("delete", lambda: self.store.delete(path), lambda m: m.delete(path))

    @rule(target=paths, src=ANY_PATH, dst=ANY_PATH, autorename=st.booleans())
    def move(self, src: str, dst: str, autorename: bool) -> str:
        self.apply(
            "move",
            lambda: self.store.move(src, dst, autorename=autorename),
            lambda m: m.relocate(src, unicodedata.normalize("NFC", dst), autorename, keep=True),
        )
        return dst

    @rule(target=paths, src=ANY_PATH, dst=ANY_PATH, autorename=st.booleans())
    def copy(self, src: str, dst: str, autorename: bool) -> str:
        self.apply(
            "copy",
            lambda: self.store.copy(src, dst, autorename=autorename),
            lambda m: m.relocate(src, unicodedata.normalize("NFC", dst), autorename, keep=False),
        )
        return dst

    @invariant()
    def tree_equals_the_model(self) -> None:
        actual = {
            e.path_lower: (
                e.path_display,
                e.is_folder,
                None if e.is_folder else self.store.read(e.path_display),
                e.id,
            )
            for e in self.store.walk("")
            if e.path_lower
        }
        expected = {k: (n.display, n.is_folder, n.content, n.id) for k, n in self.model.nodes.items()}
        assert actual == expected
        assert self.store.count() == len(expected)
        assert len({n.id for n in self.model.nodes.values()}) == len(expected)

    @invariant()
    def every_parent_is_an_existing_folder(self) -> None:
        for entry in self.store.walk(""):
            if entry.path_lower:
                parent = self.store.get(entry.path_display.rpartition("/")[0])
                assert parent.is_folder
                assert entry.path_display == f"{parent.path_display}/{entry.name}"

    @invariant()
    def children_equal_the_model(self) -> None:
        folders = ["", *(k for k, n in self.model.nodes.items() if n.is_folder)]
        for folder in folders:
            assert [e.path_lower for e in self.store.children(folder)] == self.model.children(folder)

    @invariant()
    def replaying_the_log_rebuilds_the_tree(self) -> None:
        replayed = Store.replay(
            Clock(start=0.0), Ids(seed=2), self.store.changes_since(0), self.store.blobs()
        )

        def shape(store: Store) -> list[tuple[str, str, str | None]]:
            return [(e.path_display, e.id, e.content_hash) for e in store.walk("")]

        assert shape(replayed) == shape(self.store)

    @invariant()
    def blobs_are_exactly_the_live_contents(self) -> None:
        live = {e.content_hash for e in self.store.walk("") if e.content_hash is not None}
        assert set(self.store.blobs()) == live


StoreMachine.TestCase.settings = settings(
    max_examples=150, stateful_step_count=30, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
TestStoreMatchesTheModel = StoreMachine.TestCase
