"""Dropbox path rules and the content hash and time format of the fake provider."""

from __future__ import annotations

import hashlib
import unicodedata

import pytest

from emulator.domain.errors import InvalidInput
from emulator.domain.provider import content, paths


def test_root_is_spelled_empty() -> None:
    assert paths.normalize("") == ""
    assert paths.normalize("/") == ""


def test_normalize_keeps_case() -> None:
    assert paths.normalize("/Docs/Report.TXT") == "/Docs/Report.TXT"


@pytest.mark.parametrize(
    "path",
    [
        "docs",
        "/docs/",
        "//docs",
        "/a//b",
        "/a/./b",
        "/a/../b",
        "/.",
        "/a\x00b",
        "/a\nb",
        "/a\x7fb",
        "/" + "x" * 256,
    ],
)
def test_malformed_paths_are_refused(path: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        paths.normalize(path)
    assert caught.value.provider_message == "path/malformed_path/"


def test_a_component_may_be_255_characters() -> None:
    long_name = "/" + "é" * 255
    assert paths.normalize(long_name) == long_name


@pytest.mark.parametrize(
    "path", ["/desktop.ini", "/a/Thumbs.db", "/.DS_Store", "/a/Icon\r", "/.dropbox", "/x/.Dropbox.Attr"]
)
def test_names_dropbox_ignores_are_disallowed(path: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        paths.normalize(path)
    assert caught.value.provider_message == "path/disallowed_name/"


def test_unicode_is_normalised_to_nfc() -> None:
    nfd = unicodedata.normalize("NFD", "/Été/café.txt")
    assert paths.normalize(nfd) == unicodedata.normalize("NFC", "/Été/café.txt")


def test_key_is_the_same_for_every_case_and_unicode_spelling() -> None:
    spellings = ["/Été/Café.TXT", "/été/café.txt", unicodedata.normalize("NFD", "/ÉTÉ/CAFÉ.txt")]
    assert {paths.key(paths.normalize(s)) for s in spellings} == {"/été/café.txt"}


def test_key_of_root_is_empty() -> None:
    assert paths.key("") == ""
    assert paths.key("/") == ""


def test_parent_and_name() -> None:
    assert paths.parent("/a/B/c.txt") == "/a/B"
    assert paths.parent("/a") == ""
    assert paths.parent("") == ""
    assert paths.name("/a/B/c.txt") == "c.txt"
    assert paths.name("") == ""


def test_join_builds_a_normalised_child_path() -> None:
    assert paths.join("", "a") == "/a"
    assert paths.join("/", "a") == "/a"
    assert paths.join("/a", "日本語.txt") == "/a/日本語.txt"


@pytest.mark.parametrize("child", ["", "a/b", ".."])
def test_join_refuses_what_is_not_one_name(child: str) -> None:
    with pytest.raises(InvalidInput):
        paths.join("/a", child)


def test_is_within_includes_the_ancestor_itself_and_everything_below() -> None:
    assert paths.is_within("/a", "/a")
    assert paths.is_within("/a/b/c", "/a")
    assert paths.is_within("/a", "")
    assert paths.is_within("", "")
    assert not paths.is_within("/ab", "/a")
    assert not paths.is_within("/a", "/a/b")


def test_content_hash_of_empty_data() -> None:
    assert content.content_hash(b"") == hashlib.sha256(b"").hexdigest()


def test_content_hash_of_one_block() -> None:
    expected = hashlib.sha256(hashlib.sha256(b"hello").digest()).hexdigest()
    assert content.content_hash(b"hello") == expected


def test_content_hash_splits_into_4_mib_blocks() -> None:
    block = 4 * 1024 * 1024
    data = b"a" * block + b"b" * 10
    digests = hashlib.sha256(b"a" * block).digest() + hashlib.sha256(b"b" * 10).digest()
    assert content.content_hash(data) == hashlib.sha256(digests).hexdigest()
    assert len(content.content_hash(data)) == 64


def test_content_hash_of_exactly_one_block_has_one_digest() -> None:
    data = b"z" * (4 * 1024 * 1024)
    assert content.content_hash(data) == hashlib.sha256(hashlib.sha256(data).digest()).hexdigest()


def test_times_use_dropbox_format_in_utc() -> None:
    assert content.format_time(1767225600.0) == "2026-01-01T00:00:00Z"
    assert content.format_time(1767225600.9) == "2026-01-01T00:00:00Z"
    assert content.parse_time("2026-01-01T00:00:00Z") == 1767225600.0


def test_parse_time_refuses_other_formats() -> None:
    with pytest.raises(InvalidInput):
        content.parse_time("2026-01-01 00:00:00")
