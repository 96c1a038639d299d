"""hypothesis strategies for client apps: Dropbox names and paths, file trees, operations, callbacks.

For property tests of a client's own code against what the emulator (and Dropbox) may send or
accept. Every value is legal by the emulator's rules: a name is not empty, `.` or `..`, has no
`/` and no control character, is at most 255 characters and is not a name Dropbox ignores
(`.DS_Store`, `desktop.ini`, ...). Names match without case, and the store spells them in Unicode
NFC, so a drawn `e` + U+0301 comes back as `é`.

    from hypothesis import given
    from emulator import strategies as dbx

    @given(dbx.paths())
    def test_my_key_function_ignores_case(path):
        assert my_key(path) == my_key(path.upper())
"""

from __future__ import annotations

import base64
import json
import unicodedata
from collections.abc import Mapping
from typing import Any

from hypothesis import strategies as st

from emulator.domain.errors import DomainError
from emulator.domain.provider import paths as dropbox_paths

# display path -> file content, or None for a folder; parents come before their children.
FileTree = dict[str, bytes | None]
# One body of `POST /_emulator/providers/dropbox/accounts/{account}/operations`.
Operation = dict[str, Any]
CALLBACK_TYPES = ("file", "folder", "deleted")
WEBHOOK_BATCH = 20  # the platform sends at most 20 events per webhook notification

# Letters that make case and Unicode spelling matter: case pairs, NFC and NFD forms, a titlecase
# digraph, letters whose case mapping changes length or depends on context, CJK, an emoji, and
# characters that URLs and shells escape.
_TRICKY = "aAzZéÉe\u0301ßİıǅΣσς日本語😀 .-_#%&+~'()[]"
_PLAIN = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 ._-"
_EXTENSIONS = ("", ".txt", ".TXT", ".pdf", ".tar.gz", ".md")
# A few names that meet often in operation sequences, so that operations hit each other.
_MEETING_NAMES = ("a", "B", "é", "É", "e\u0301", "Docs", "notes.txt", "NOTES.TXT", "日本語.txt")


def _legal_name(name: str) -> bool:
    try:
        dropbox_paths.normalize("/" + name)
    except DomainError:
        return False
    return "/" not in name


def names(*, min_size: int = 1, max_size: int = 24) -> st.SearchStrategy[str]:
    """Dropbox-legal file and folder names: plain ASCII, tricky letters, or any Unicode text.

    Example: ``names()`` gives values such as ``'Report Q1.pdf'``, ``'ǅe\\u0301.TXT'``, ``'日本語'``.
    """
    size = {"min_size": min_size, "max_size": max_size}
    any_text = st.characters(codec="utf-8", exclude_categories=("Cc", "Cs"), exclude_characters="/")
    stems = st.one_of(
        st.text(_PLAIN, **size), st.text(st.sampled_from(_TRICKY), **size), st.text(any_text, **size)
    )
    with_extension = st.tuples(stems, st.sampled_from(_EXTENSIONS)).map(
        lambda parts: parts[0] + parts[1] if len(parts[0] + parts[1]) <= max_size else parts[0]
    )
    return with_extension.filter(_legal_name)


def paths(
    *, min_depth: int = 1, max_depth: int = 6, name: st.SearchStrategy[str] | None = None
) -> st.SearchStrategy[str]:
    """Dropbox-legal paths `/a/b/c`, `min_depth` to `max_depth` names deep (names from `name`).

    Example: ``paths(min_depth=20, max_depth=40)`` for deep nesting, e.g. ``'/a/B/é/…/x.txt'``.
    """
    parts = st.lists(names(max_size=16) if name is None else name, min_size=min_depth, max_size=max_depth)
    return parts.map(lambda found: "/" + "/".join(found))


def _vary(path: str, flips: int, nfd: bool) -> str:
    """`path` with the case of the letters at the set bits of `flips` changed, maybe in NFD.

    If that would make it another Dropbox path (`ß` -> `SS`, a final sigma), it stays as it was.
    """
    varied = "".join(_other_case(c) if flips >> (i % 64) & 1 else c for i, c in enumerate(path))
    if dropbox_paths.key(varied) != dropbox_paths.key(path):
        varied = path
    return unicodedata.normalize("NFD", varied) if nfd else varied


def _other_case(char: str) -> str:
    swapped = char.swapcase()
    return swapped if len(swapped) == 1 else char


def case_variants(path: str) -> st.SearchStrategy[str]:
    """The same Dropbox path spelled otherwise: letters' case flipped, maybe in NFD.

    Example: ``case_variants('/Docs/Café.txt')`` gives ``'/DOCS/cafe\\u0301.TXT'``, ``'/docs/Café.txt'``...
    Each names the same entry: Dropbox compares paths without case and Unicode spelling.
    """
    return st.builds(lambda flips, nfd: _vary(path, flips, nfd), _FLIPS, st.booleans())


# Built once: constructing strategies inside a draw costs more than drawing from them.
_FLIPS = st.integers(min_value=0, max_value=2**64 - 1)
_INDEX = st.integers(min_value=0, max_value=2**16)
_COIN = st.booleans()
_CONTENT = st.binary(max_size=64)
_TREE_NAME = names(max_size=16)
_FRESH_NAME = st.one_of(st.sampled_from(_MEETING_NAMES), names(max_size=12))
_FRESH_PATH = paths(max_depth=3, name=_FRESH_NAME)
_KINDS = st.sampled_from(("upload", "upload", "mkdir", "delete", "move", "copy"))
_MAKING_KINDS = st.sampled_from(("upload", "mkdir"))


# -- file trees ---------------------------------------------------------------------------------
def file_trees(
    *, max_entries: int = 16, max_depth: int = 4, contents: st.SearchStrategy[bytes] | None = None
) -> st.SearchStrategy[FileTree]:
    """A consistent tree: `{display path: content bytes, or None for a folder}`, parents first.

    No two siblings differ only by case or Unicode spelling; paths are in NFC, as the store gives
    them back. Example: ``{'/Docs': None, '/Docs/a.txt': b'hi', '/日本語.txt': b''}``.
    Load one into an account with `tree_operations(tree)`.
    """
    content = _CONTENT if contents is None else contents
    entry = st.tuples(st.lists(_TREE_NAME, min_size=1, max_size=max_depth), st.one_of(st.none(), content))
    return st.lists(entry, max_size=max_entries).map(_build_tree)


def _build_tree(specs: list[tuple[list[str], bytes | None]]) -> FileTree:
    tree: FileTree = {}
    for components, data in specs:
        _insert(tree, components, data)
    return tree


def _insert(tree: FileTree, components: list[str], data: bytes | None) -> None:
    """Adds the entry and its missing parents; skips it when something is in the way."""
    by_key = {dropbox_paths.key(p): p for p in tree}
    display = ""
    for depth, name in enumerate(components):
        candidate = dropbox_paths.normalize(f"{display}/{name}")
        existing = by_key.get(dropbox_paths.key(candidate))
        last = depth == len(components) - 1
        if existing is not None and (last or tree[existing] is not None):
            return  # already there, or a file where a folder should be
        if existing is None:
            tree[candidate] = data if last else None
            by_key[dropbox_paths.key(candidate)] = candidate
        display = existing or candidate


def tree_operations(tree: Mapping[str, bytes | None]) -> list[Operation]:
    """The operations that build `tree` in an empty account: `mkdir` and `upload`, parents first.

    Example: ``for op in tree_operations(tree): emu.dropbox("alice").operate(op)``.
    """
    return [
        {"op": "mkdir", "path": path} if data is None else _upload(path, data) for path, data in tree.items()
    ]


def _upload(path: str, data: bytes) -> Operation:
    return {"op": "upload", "path": path, "base64": base64.b64encode(data).decode()}


# -- operation sequences ------------------------------------------------------------------------
class _Model:
    """The tree the operations so far should have made, to aim later ones at what exists.

    Only a guide for drawing: an operation the store refuses changes nothing, here as there.
    """

    def __init__(self, start: Mapping[str, bytes | None]) -> None:
        self.nodes: dict[str, tuple[str, bytes | None]] = {}
        for path, data in start.items():
            display = dropbox_paths.normalize(path)
            self.nodes[dropbox_paths.key(display)] = (display, data)

    def displays(self, *, folders_only: bool = False) -> list[str]:
        return sorted(d for d, data in self.nodes.values() if not folders_only or data is None)

    def apply(self, op: Operation) -> None:
        try:
            path = dropbox_paths.normalize(op["path"])
        except DomainError:
            return
        kind = op["op"]
        if kind in ("upload", "mkdir"):
            data = base64.b64decode(op["base64"]) if kind == "upload" else None
            self._write(path, data)
        elif kind == "delete":
            self._take(path)
        else:
            self._relocate(path, dropbox_paths.normalize(op["to"]), keep=kind == "copy")

    def _parents_free(self, path: str) -> bool:
        folder = dropbox_paths.parent(path)
        while folder:
            found = self.nodes.get(dropbox_paths.key(folder))
            if found is not None and found[1] is not None:
                return False
            folder = dropbox_paths.parent(folder)
        return True

    def _write(self, path: str, data: bytes | None) -> None:
        found = self.nodes.get(dropbox_paths.key(path))
        if not self._parents_free(path) or (found is not None and (data is None or found[1] is None)):
            return
        parts = dropbox_paths.components(path)
        for depth in range(1, len(parts)):
            folder = "/" + "/".join(parts[:depth])
            self.nodes.setdefault(dropbox_paths.key(folder), (folder, None))
        self.nodes[dropbox_paths.key(path)] = (found[0] if found else path, data)

    def _take(self, path: str) -> dict[str, tuple[str, bytes | None]]:
        top = dropbox_paths.key(path)
        taken = {k: v for k, v in self.nodes.items() if dropbox_paths.is_within(k, top)}
        for k in taken:
            del self.nodes[k]
        return taken

    def _relocate(self, src: str, dst: str, *, keep: bool) -> None:
        src_key, dst_key = dropbox_paths.key(src), dropbox_paths.key(dst)
        if src_key not in self.nodes or dst_key in self.nodes or dropbox_paths.is_within(dst_key, src_key):
            return
        if not self._parents_free(dst):
            return
        top = self.nodes[src_key][0]
        moved = sorted(self._take(src).values(), key=lambda node: node[0])  # parents first
        if keep:
            self.nodes.update({dropbox_paths.key(display): (display, data) for display, data in moved})
        for display, data in moved:
            self._write(dst + display[len(top) :], data)


def _pick(draw: st.DrawFn, choices: list[str]) -> str:
    return choices[draw(_INDEX) % len(choices)]


def _target(draw: st.DrawFn, model: _Model, aim: str = "any") -> str:
    """A path that exists (maybe spelled otherwise), a new one in an existing folder, or a new one.

    `aim`: "any" takes an existing path half the time, "existing" three times in four, "new" never.
    """
    existing = model.displays()
    if existing and aim != "new" and (_coin(draw) or (aim == "existing" and _coin(draw))):
        return _vary(_pick(draw, existing), draw(_FLIPS), _coin(draw))
    folders = model.displays(folders_only=True)
    if folders and _coin(draw):
        return f"{_pick(draw, folders)}/{draw(_FRESH_NAME)}"
    return draw(_FRESH_PATH)


def _coin(draw: st.DrawFn) -> bool:
    return draw(_COIN)


def _operation(draw: st.DrawFn, model: _Model, content: st.SearchStrategy[bytes]) -> Operation:
    kind = draw(_KINDS if model.nodes else _MAKING_KINDS)  # nothing to delete or move yet
    if kind == "upload":
        return _upload(_target(draw, model), draw(content))
    if kind == "mkdir":
        return {
            "op": "mkdir",
            "path": _target(draw, model, "new"),
            "autorename": draw(st.booleans()),
        }
    if kind == "delete":
        return {"op": "delete", "path": _target(draw, model, "existing")}
    source = _target(draw, model, "existing")
    to = _target(draw, model, "new")
    return {"op": kind, "path": source, "to": to, "autorename": _coin(draw)}


@st.composite
def operations(
    draw: st.DrawFn,
    *,
    min_size: int = 1,
    max_size: int = 12,
    start: Mapping[str, bytes | None] | None = None,
    contents: st.SearchStrategy[bytes] | None = None,
) -> list[Operation]:
    """Sequences of changes made "at Dropbox": upload, mkdir, delete, move, copy.

    Each is a body for `DropboxAccount.operate` (`POST .../accounts/{account}/operations`).
    Operations mostly aim at what earlier ones made (or at `start`, a tree already in the
    account), in other spellings too; some clash, and the store refuses those with a 4xx and
    changes nothing. Example: ``[{'op': 'upload', 'path': '/Docs/a.txt', 'base64': 'aGk='},
    {'op': 'move', 'path': '/DOCS', 'to': '/Archive', 'autorename': False}]``.
    """
    model = _Model(start or {})
    content = _CONTENT if contents is None else contents
    drawn: list[Operation] = []
    for _ in range(draw(st.integers(min_size, max_size))):
        op = _operation(draw, model, content)
        model.apply(op)
        drawn.append(op)
    return drawn


# -- callbacks ------------------------------------------------------------------------------------
def callback_events(*, path: st.SearchStrategy[str] | None = None) -> st.SearchStrategy[dict[str, Any]]:
    """One item of a callback's `response.events`, in the guide's shape.

    Example: ``{'path': '/docs/a.txt', 'metadata': {'path': '/Docs/a.txt', 'name': 'a.txt',
    'type': 'file'}}``; `type` is file, folder or deleted, `path` the lower-cased `metadata.path`.
    """
    return st.builds(_event, paths(max_depth=4) if path is None else path, st.sampled_from(CALLBACK_TYPES))


def _event(path: str, kind: str) -> dict[str, Any]:
    display = dropbox_paths.normalize(path)
    return {
        "path": dropbox_paths.key(display),
        "metadata": {"path": display, "name": dropbox_paths.name(display), "type": kind},
    }


def callback_payloads(*, max_events: int = WEBHOOK_BATCH) -> st.SearchStrategy[dict[str, Any]]:
    """A webhook or async-job callback body, parsed: the guide's keys, in the guide's order.

    Example: ``{'eventId': 1088, 'instanceId': 31, 'response': {'events': [...]},
    'notificationId': 1047}``, with 1 to `max_events` events.
    """
    ids = st.integers(min_value=1, max_value=2**31 - 1)
    events = st.lists(callback_events(), min_size=1, max_size=max_events)
    return st.builds(
        lambda event_id, instance_id, found, notification_id: {
            "eventId": event_id,
            "instanceId": instance_id,
            "response": {"events": found},
            "notificationId": notification_id,
        },
        ids,
        ids,
        events,
        ids,
    )


def callback_bodies(*, max_events: int = WEBHOOK_BATCH) -> st.SearchStrategy[bytes]:
    """Callback bodies as the platform sends them: compact UTF-8 JSON of `callback_payloads()`.

    Example: ``b'{"eventId":1088,"instanceId":31,"response":{"events":[...]},"notificationId":1047}'``;
    sign one with HMAC-SHA256 to test a signature check.
    """
    return callback_payloads(max_events=max_events).map(
        lambda body: json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
    )
