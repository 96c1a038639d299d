"""hypothesis strategies for client apps: Dropbox names and paths, file trees, operations, callbacks.

For property tests of a client's own code against what the emulator (and Dropbox) may send or
accept. Every value is legal by the emulator's rules: a name is not empty, `.` or `..`, has no
`/` and no control character, is at most 255 characters and is not a name Dropbox ignores
(`.DS_Store`, `desktop.ini`, ...). Names match without case, and the store spells them in Unicode
NFC, so a drawn `e` + U+0301 comes back as `é`.

    from hypothesis import given
    from emulator import strategies as dbx

    @given(dbx.paths())
    def test_my_key_function(path):
        assert my_key(path) == my_key(path.upper().lower())
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from typing import Any

from hypothesis import strategies as st

from emulator.domain.provider import paths as dropbox_paths

# display path -> file content, or None for a folder; parents come before their children.
FileTree = dict[str, bytes | None]
Operation = dict[str, Any]
CALLBACK_TYPES = ("file", "folder", "deleted")
WEBHOOK_BATCH = 20  # the platform sends at most 20 events per webhook notification

# Letters that make case and Unicode spelling matter: case pairs, NFC/NFD forms, a ligature,
# characters whose case mapping changes length, CJK, an emoji, and characters URLs escape.
_TRICKY = "aAzZéÉe\u0301ßİıǅΣσς日本語😀 .-_#%&+~'()[]"
_PLAIN = st.text("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 ._-", min_size=1)
_EXTENSIONS = st.sampled_from(["", ".txt", ".TXT", ".pdf", ".tar.gz", ".md", "."])


def _legal(name: str) -> bool:
    try:
        return dropbox_paths.normalize("/" + name) == "/" + dropbox_paths.normalize("/" + name)[1:]
    except ValueError:
        return False


def names(*, min_size: int = 1, max_size: int = 24) -> st.SearchStrategy[str]:
    """Dropbox-legal file and folder names: plain ASCII, tricky letters, or any Unicode text.

    Example: ``names().example()`` might be ``'Report Q1.pdf'``, ``'ǅe\\u0301.TXT'`` or ``'日本語'``.
    """
    size = {"min_size": min_size, "max_size": max_size}
    any_text = st.characters(codec="utf-8", exclude_categories=("Cc", "Cs"), exclude_characters="/")
    stems = st.one_of(
        st.text(_PLAIN.wrapped_strategy.alphabet if False else "abcXYZ019 ._-", **size),  # type: ignore[attr-defined]
        st.text(st.sampled_from(_TRICKY), **size),
        st.text(any_text, **size),
    )
    return (
        st.tuples(stems, _EXTENSIONS)
        .map(lambda parts: parts[0] + parts[1] if len(parts[0] + parts[1]) <= max_size else parts[0])
        .filter(_is_legal_name)
    )


def _is_legal_name(name: str) -> bool:
    try:
        dropbox_paths.normalize("/" + name)
    except ValueError:
        return False
    return name not in (".", "..") and "/" not in name
