"""Dropbox path rules: validation, display form, case-insensitive keys and tree arithmetic.

A path here is either the root, spelled "" as Dropbox spells it, or "/" followed by components
separated by "/". `normalize` gives the display form (case kept, Unicode NFC); `key` gives the
identity of a path, which is Dropbox's `path_lower`.
"""

from __future__ import annotations

import functools
import re
import unicodedata

from emulator.domain.errors import InvalidInput

ROOT = ""
MAX_COMPONENT = 255
MALFORMED = "path/malformed_path/"
DISALLOWED = "path/disallowed_name/"

# Files the Dropbox client never syncs, compared case-insensitively ("icon\r" is macOS's folder icon).
IGNORED_NAMES = frozenset({"desktop.ini", "thumbs.db", ".ds_store", "icon\r", ".dropbox", ".dropbox.attr"})
_LONGEST_IGNORED = max(len(n) for n in IGNORED_NAMES)
_CONTROL = re.compile("[\x00-\x1f\x7f]")


def normalize(path: str) -> str:
    """Validate a Dropbox path and return its display form ("" for the root).

    Raises InvalidInput with provider message "path/malformed_path/" or "path/disallowed_name/".
    Cached (a refused path raises each time, and is not kept): clients name the same paths again
    and again, and every request normalises the paths it names. Bulk loading, which names each
    path once, calls `normalize_once`.
    """
    return _normalized(path)


def normalize_once(path: str) -> str:
    """`normalize` without its cache, for paths named once (a fixture's tree)."""
    if path in ("", "/"):
        return ROOT
    if not path.startswith("/"):
        raise _malformed(path, "it must start with '/'")
    path = unicodedata.normalize("NFC", path)
    for component in path[1:].split("/"):
        _check_component(path, component)
    # After the names, so that "Icon\r" reads as the ignored name it is, not as a control character.
    if _CONTROL.search(path):
        raise _malformed(path, "it contains a control character")
    return path


_normalized = functools.lru_cache(maxsize=4096)(normalize_once)


def _check_component(path: str, component: str) -> None:
    if component == "":
        raise _malformed(path, "it has an empty component or a trailing '/'")
    if component in (".", ".."):
        raise _malformed(path, f"it has a {component!r} component")
    if len(component) > MAX_COMPONENT:
        raise _malformed(path, f"a component is longer than {MAX_COMPONENT} characters")
    if len(component) <= _LONGEST_IGNORED and component.lower() in IGNORED_NAMES:
        raise InvalidInput(f"Dropbox does not store files named {component!r}", provider_message=DISALLOWED)


def is_plain_name(name: str) -> bool:
    """True when `name` is one valid component already in display form (NFC, no control character).

    Bulk loading's quick test of a name under a known folder; a name it refuses goes through
    `normalize_once`, for the verdict and its message.
    """
    if "/" in name or _CONTROL.search(name) is not None or not unicodedata.is_normalized("NFC", name):
        return False
    try:
        _check_component(name, name)  # the same rules as every path's components
    except InvalidInput:
        return False
    return True


def _malformed(path: str, reason: str) -> InvalidInput:
    return InvalidInput(f"malformed path {path!r}: {reason}", provider_message=MALFORMED)


def key(path: str) -> str:
    """The identity of a normalised path, Dropbox's `path_lower`: one for every case and NFC/NFD spelling."""
    if path == "/":
        return ROOT
    return unicodedata.normalize("NFC", path).lower()


def components(path: str) -> list[str]:
    """The names along a normalised path, top first; none for the root."""
    return path[1:].split("/") if path else []


def parent(path: str) -> str:
    """The folder holding a normalised path; the root is its own parent."""
    return path[: path.rfind("/")] if path else ROOT


def name(path: str) -> str:
    """The last component of a normalised path; "" for the root."""
    return path[path.rfind("/") + 1 :]


def join(parent_path: str, child_name: str) -> str:
    """The normalised path of `child_name` inside `parent_path`; the name must be one valid component."""
    if "/" in child_name or child_name == "":
        raise _malformed(f"{parent_path}/{child_name}", "the name must be one non-empty component")
    return normalize(f"{normalize(parent_path)}/{child_name}")


def is_within(path_key: str, ancestor_key: str) -> bool:
    """True when `path_key` is `ancestor_key` itself or anywhere below it (both are keys)."""
    if ancestor_key == ROOT or path_key == ancestor_key:
        return True
    return path_key.startswith(ancestor_key + "/")
