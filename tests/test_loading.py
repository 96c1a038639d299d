"""Fixture loading: the default fixture, every kind of problem, file contents and large trees."""

from __future__ import annotations

import base64
import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from emulator.loading import (
    DROPBOX_WIRE,
    Fixture,
    FixtureError,
    generated_content,
    load_fixture,
    parse_fixture,
    validate_file,
)

ROOT = Path(__file__).resolve().parent.parent
DEFAULT = ROOT / "fixtures" / "default.yaml"
SOURCE = "fixtures/x.yaml"
PIXEL_PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAAC0lEQVR42mNgAAIAAAUAAen63NgAAAAASUVORK5CYII="

Data = dict[str, Any]


def minimal() -> Data:
    user = {"id": 1, "secret": "u", "email": "u@x.io"}
    return {"organizations": [{"id": 1, "secret": "org", "users": [user]}]}


def with_tree(tree: object, **account: object) -> Data:
    data = minimal()
    data["providers"] = {"dropbox": {"accounts": [{"key": "alice", "tree": tree, **account}]}}
    return data


def parse(data: object, base_dir: Path = ROOT / "fixtures") -> Fixture:
    return parse_fixture(data, source=SOURCE, base_dir=base_dir)


def problems_of(data: object, base_dir: Path = ROOT / "fixtures") -> list[str]:
    with pytest.raises(FixtureError) as caught:
        parse(data, base_dir)
    return caught.value.problems


def file_content(fixture: Fixture, path: str, account: int = 0) -> bytes | None:
    return next(n.content for n in fixture.accounts[account].nodes if n.path == path)


# ----------------------------------------------------------------------------- the default fixture


def test_default_fixture_has_the_guides_credentials_and_app() -> None:
    fixture = load_fixture(DEFAULT)
    org = fixture.organizations[0]
    assert (org.secret, org.failure_policy) == ("dev-org-secret", "retry")
    user = org.users[0]
    assert (user.secret, user.email, user.first_name, user.last_name) == (
        "dev-user-secret", "dev@example.com", "Dev", "User",
    )
    app = fixture.apps[0]
    assert (app.key, app.secret, app.redirect_uris) == ("fake_Dropbox_api_key", "fake_Dropbox_api_secret", ())
    assert fixture.consent == "page"
    assert fixture.id_starts == {"instance": 100, "event": 1000, "notification": 1000}
    assert fixture.instances == ()


def test_default_fixture_catalog_is_the_guides_dropbox_object() -> None:
    (dropbox,) = load_fixture(DEFAULT).catalog
    assert (dropbox.key, dropbox.id, dropbox.name, dropbox.hub) == ("dropbox", 22, "Dropbox", "documents")
    assert list(dropbox.wire) == [
        "id", "name", "key", "description", "image", "active", "deleted", "typeOauth", "trialAccount",
        "existingAccountDescription", "configDescription", "transformationsEnabled", "authentication", "hub",
    ]
    assert dropbox.wire["existingAccountDescription"] == (
        "Give your application access to your existing Dropbox accountEnter your credentials and details "
        "for your Dropbox Account"
    )
    assert dropbox.wire["authentication"] == {"type": "oauth2"}
    assert dropbox.wire == DROPBOX_WIRE


def test_default_fixture_accounts_have_realistic_trees() -> None:
    alice, bob = load_fixture(DEFAULT).accounts
    assert (alice.key, alice.account_id) == ("alice", "dbid:AAH4f99T0taONIb-OurWxbNQ6ywGRopQngc")
    assert bob.key == "bob" and bob.account_id.startswith("dbid:AA")
    paths = [n.path for n in alice.nodes]
    for expected in ("/Photos/Été 2025/beach.jpg", "/Documents/Ünïcödé notes.txt", "/日本語.txt"):
        assert expected in paths
    assert "/Documents/Archive" in paths  # an empty folder
    files = [n for n in alice.nodes if not n.is_folder]
    sizes = [len(n.content or b"") for n in files]
    assert 10 <= len(files) <= 16 and min(sizes) < 100 and 150_000 < max(sizes) <= 210_000
    logo = file_content(load_fixture(DEFAULT), "/Photos/logo.png")
    assert logo is not None and logo.startswith(b"\x89PNG\r\n\x1a\n")
    assert [n.path for n in bob.nodes if not n.is_folder] == ["/todo.txt", "/Shared/plan.txt"]


def test_nodes_list_every_folder_before_its_contents() -> None:
    for account in load_fixture(DEFAULT).accounts:
        seen = {""}
        for node in account.nodes:
            assert node.path.rsplit("/", 1)[0] in seen
            seen.add(node.path)


def test_validate_file_reports_nothing_for_the_default_fixture() -> None:
    assert validate_file(DEFAULT) == []


# ----------------------------------------------------------------------------- defaults


def test_only_an_organization_with_a_user_is_required() -> None:
    fixture = parse(minimal())
    assert fixture.seed == "0"
    assert fixture.clock_start == 1767225600.0  # 2026-01-01T00:00:00Z
    assert fixture.id_starts == {"instance": 1, "event": 1, "notification": 1}
    assert (fixture.limits.max_upload_bytes, fixture.limits.max_body_bytes) == (157286400, 1048576)
    assert [c.key for c in fixture.catalog] == ["dropbox"]
    assert fixture.accounts == () and fixture.apps == () and fixture.consent == "page"
    assert fixture.organizations[0].name == "Organization 1"


def test_a_catalog_entry_for_dropbox_changes_only_the_fields_it_gives() -> None:
    data = minimal()
    data["catalog"] = [
        {"key": "dropbox", "active": False},
        {"key": "box", "id": 7, "name": "Box", "hub": "documents", "extra": {"beta": True}},
    ]
    dropbox, box = parse(data).catalog
    assert dropbox.wire == {**DROPBOX_WIRE, "active": False}
    assert (box.id, box.wire["authentication"], box.wire["beta"]) == (7, {"type": "oauth2"}, True)


def test_instances_get_defaults_and_text_configuration() -> None:
    data = with_tree({})
    data["instances"] = [{
        "organization": 1, "user": 1, "account": "alice",
        "configuration": {"event.notification.enabled": True, "event.notification.callback.url": "http://h/cb",
                          "event.poller.refresh_interval": 5},
    }]
    (instance,) = parse(data).instances
    assert (instance.dialect, instance.connector, instance.token, instance.disabled) == (
        "elements", "dropbox", None, False,
    )
    assert instance.configuration["event.notification.enabled"] == "true"
    assert instance.configuration["event.poller.refresh_interval"] == "5"


# ----------------------------------------------------------------------------- file contents


def test_text_content_is_utf8() -> None:
    fixture = parse(with_tree({"a.txt": "Été ✓", "b.txt": {"content": "x"}}))
    assert file_content(fixture, "/a.txt") == "Été ✓".encode()
    assert file_content(fixture, "/b.txt") == b"x"


def test_base64_content_is_decoded_even_across_lines() -> None:
    wrapped = PIXEL_PNG[:40] + "\n" + PIXEL_PNG[40:]
    fixture = parse(with_tree({"p.png": {"base64": wrapped}}))
    assert file_content(fixture, "/p.png") == base64.b64decode(PIXEL_PNG)


def test_file_content_is_read_relative_to_the_fixture_folder(tmp_path: Path) -> None:
    (tmp_path / "content").mkdir()
    (tmp_path / "content" / "c.bin").write_bytes(b"\x00\x01binary")
    fixture = parse(with_tree({"c.bin": {"file": "content/c.bin"}}), base_dir=tmp_path)
    assert file_content(fixture, "/c.bin") == b"\x00\x01binary"


def test_size_content_has_the_exact_length_and_is_deterministic() -> None:
    tree = {"Docs/": {"big.bin": {"size": 183_001}, "empty.bin": {"size": 0}}}
    first, again = parse(with_tree(tree)), parse(with_tree(copy.deepcopy(tree)))
    big = file_content(first, "/Docs/big.bin")
    assert big is not None and len(big) == 183_001
    assert big == file_content(again, "/Docs/big.bin") == generated_content("0", "/Docs/big.bin", 183_001)
    assert file_content(first, "/Docs/empty.bin") == b""


def test_size_content_differs_by_seed_and_path() -> None:
    assert generated_content("1", "/a", 64) != generated_content("2", "/a", 64)
    assert generated_content("1", "/a", 64) != generated_content("1", "/b", 64)


def test_modified_dates_are_epoch_seconds_in_utc() -> None:
    fixture = parse(with_tree({"a": {"size": 1, "modified": "2025-07-14T10:00:00Z"},
                               "b": {"size": 1, "modified": "2025-07-14T12:00:00+02:00"},
                               "c": {"size": 1, "modified": "2025-07-14T10:00:00"}}))
    assert {n.modified for n in fixture.accounts[0].nodes} == {1752487200.0}


def test_names_are_nfc_as_the_fake_dropbox_displays_them() -> None:
    fixture = parse(with_tree({"E\u0301te\u0301/": {"x.txt": "x"}}))
    assert fixture.accounts[0].nodes[1].path == "/\u00c9t\u00e9/x.txt"


# ----------------------------------------------------------------------------- problems


def two_orgs() -> Data:
    data = minimal()
    user = {"id": 2, "secret": "u2", "email": "v@x.io"}
    data["organizations"].append({"id": 2, "secret": "org2", "users": [user]})
    return data


def set_in(path: list[Any], value: object, base: Callable[[], Data] = minimal) -> Data:
    data = base()
    target: Any = data
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = value
    return data


def bad_instance(**fields: object) -> Data:
    data = with_tree({})
    data["instances"] = [{"organization": 1, "user": 1, "account": "alice", **fields}]
    return data


TREE = "providers.dropbox.accounts[0].tree"

PROBLEM_CASES: list[tuple[str, Callable[[], Data], str, str]] = [
    ("wrong type", lambda: set_in(["organizations", 0, "id"], "one"),
     "organizations[0].id", "expected an integer, got text"),
    ("boolean is not an integer", lambda: set_in(["limits"], {"max_body_bytes": True}),
     "limits.max_body_bytes", "expected an integer"),
    ("unknown key with a suggestion", lambda: set_in(["organizations", 0, "secert"], "s"),
     "organizations[0].secert", 'unknown key (did you mean "secret"?)'),
    ("unknown top-level key", lambda: set_in(["instance"], []), "instance", "unknown key"),
    ("unknown id counter", lambda: set_in(["ids"], {"events": 5}), "ids.events", "unknown key"),
    ("missing required key", lambda: set_in(["organizations", 0, "users", 0], {"id": 1, "email": "a@b.c"}),
     "organizations[0].users[0].secret", "is required"),
    ("no organization", lambda: {"seed": 1}, "organizations", "at least one organization"),
    ("organization without users", lambda: set_in(["organizations", 0, "users"], []),
     "organizations[0].users", "at least one user"),
    ("secret with a comma", lambda: set_in(["organizations", 0, "secret"], "a,b"),
     "organizations[0].secret", "no spaces or commas"),
    ("duplicate organization secret", lambda: set_in(["organizations", 1, "secret"], "org", two_orgs),
     "organizations[1].secret", "duplicate organization secret: already used at organizations[0].secret"),
    ("duplicate organization id", lambda: set_in(["organizations", 1, "id"], 1, two_orgs),
     "organizations[1].id", "duplicate organization id"),
    ("duplicate user id", lambda: set_in(["organizations", 1, "users", 0, "id"], 1, two_orgs),
     "organizations[1].users[0].id", "duplicate user id"),
    ("user secret shared by two organizations",
     lambda: set_in(["organizations", 1, "users", 0, "secret"], "u", two_orgs),
     "organizations[1].users[0].secret", "already used by organizations[0].users[0] in another organization"),
    ("unknown failure policy", lambda: set_in(["organizations", 0, "failure_policy"], "drop"),
     "organizations[0].failure_policy", "unknown value 'drop' (expected one of: retry, queue)"),
    ("bad clock date", lambda: set_in(["clock"], {"start": "2026-13-01"}),
     "clock.start", "is not a date-time"),
    ("unknown consent", lambda: set_in(["providers"], {"dropbox": {"consent": "always"}}),
     "providers.dropbox.consent", "unknown value 'always'"),
    ("auto consent without accounts", lambda: set_in(["providers"], {"dropbox": {"consent": "auto"}}),
     "providers.dropbox.consent", "there is no account"),
    ("duplicate account key",
     lambda: set_in(["providers"], {"dropbox": {"accounts": [{"key": "a"}, {"key": "a"}]}}),
     "providers.dropbox.accounts[1].key", "duplicate account key"),
    ("duplicate app key", lambda: set_in(["providers"], {"dropbox": {"apps": [
        {"key": "k", "secret": "s"}, {"key": "k", "secret": "t"}]}}),
     "providers.dropbox.apps[1].key", "duplicate app key"),
    ("section of the wrong type", lambda: set_in(["providers"], []),
     "providers", "expected a mapping, got a list"),
    ("redirect URI that is not a URL", lambda: set_in(["providers"], {"dropbox": {"apps": [
        {"key": "k", "secret": "s", "redirect_uris": ["mycoolapp.com/auth"]}]}}),
     "providers.dropbox.apps[0].redirect_uris[0]", "is not an absolute URL"),
    ("custom connector without a hub", lambda: set_in(["catalog"], [{"key": "box", "id": 7, "name": "Box"}]),
     "catalog[0].hub", "is required for a connector that is not built in"),
    ("duplicate connector id", lambda: set_in(["catalog"], [
        {"key": "dropbox"}, {"key": "box", "id": 22, "name": "Box", "hub": "documents"}]),
     "catalog[1].id", "duplicate connector id"),
    ("connector field of the wrong type", lambda: set_in(["catalog"], [{"key": "dropbox", "active": "yes"}]),
     "catalog[0].active", "expected a boolean, got text"),
    ("file without a source", lambda: with_tree({"Documents/": {"a.txt": {"modified": "2025-01-01"}}}),
     f"{TREE}.Documents/.a.txt", "needs exactly one of content, base64, file, size"),
    ("file with two sources", lambda: with_tree({"a.txt": {"content": "x", "size": 3}}),
     f"{TREE}.a.txt", "needs exactly one of content, base64, file, size (got content and size)"),
    ("file given as nothing", lambda: with_tree({"Docs": None}), f"{TREE}.Docs", 'end the name with "/"'),
    ("bad modified date", lambda: with_tree({"a": {"size": 1, "modified": "yesterday"}}),
     f"{TREE}.a.modified", "is not a date-time"),
    ("bad base64", lambda: with_tree({"a.png": {"base64": "not*base64"}}), f"{TREE}.a.png.base64",
     "is not valid base64"),
    ("missing referenced file", lambda: with_tree({"a": {"file": "content/nope.txt"}}), f"{TREE}.a.file",
     "'content/nope.txt' does not exist"),
    ("file escaping the fixture folder", lambda: with_tree({"a": {"file": "../pyproject.toml"}}),
     f"{TREE}.a.file", "points outside the fixture's folder"),
    ("negative size", lambda: with_tree({"a": {"size": -1}}), f"{TREE}.a.size", "must be at least 0"),
    ("empty name", lambda: with_tree({"": "x"}), f"{TREE}.", "empty name"),
    ("empty folder name", lambda: with_tree({"/": None}), f"{TREE}./", "empty name"),
    ("dot name", lambda: with_tree({"./": None}), f"{TREE}../", "is not a valid Dropbox name"),
    ("dot-dot name", lambda: with_tree({"..": "x"}), f"{TREE}...", "is not a valid Dropbox name"),
    ("slash in a name", lambda: with_tree({"a/b.txt": "x"}), f"{TREE}.a/b.txt", 'name contains "/"'),
    ("NUL in a name", lambda: with_tree({"a\x00b": "x"}), f"{TREE}.a\x00b", "control character (U+0000)"),
    ("control character in a name", lambda: with_tree({"a\tb": "x"}), f"{TREE}.a\tb", "(U+0009)"),
    ("name over 255 characters", lambda: with_tree({"n" * 256: "x"}), f"{TREE}.{'n' * 256}",
     "256 characters long; Dropbox allows at most 255"),
    ("name Dropbox ignores", lambda: with_tree({".DS_Store": "x"}), f"{TREE}..DS_Store",
     "Dropbox does not store files named"),
    ("names differing only by case", lambda: with_tree({"Photos/": {"a.JPG": "x", "A.jpg": "y"}}),
     f"{TREE}.Photos/.A.jpg", '"A.jpg" and "a.JPG" differ only by case'),
    ("file and folder differing only by case", lambda: with_tree({"notes": "x", "Notes/": None}),
     f"{TREE}.Notes/", "differ only by case"),
    ("instance with an unknown organization", lambda: bad_instance(organization=9),
     "instances[0].organization", "no organization with id 9"),
    ("instance with a user of another organization", lambda: bad_instance(user=9),
     "instances[0].user", "organization 1 has no user with id 9"),
    ("instance with an unknown account", lambda: bad_instance(account="carol"),
     "instances[0].account", "no Dropbox account with key 'carol'"),
    ("instance with an unknown dialect", lambda: bad_instance(dialect="element"),
     "instances[0].dialect", "unknown value 'element' (expected one of: elements, your_moms)"),
    ("instance with an unknown connector", lambda: bad_instance(connector="box"),
     "instances[0].connector", "no connector 'box' in the catalog"),
    ("events enabled without a callback URL",
     lambda: bad_instance(configuration={"event.notification.enabled": "true"}),
     "instances[0].configuration.event.notification.callback.url", "is required when"),
    ("unknown vendor type", lambda: bad_instance(configuration={"event.vendor.type": "push"}),
     "instances[0].configuration.event.vendor.type", "expected webhook or polling"),
]


@pytest.mark.parametrize(
    ("make", "key_path", "message"),
    [case[1:] for case in PROBLEM_CASES],
    ids=[case[0] for case in PROBLEM_CASES],
)
def test_each_kind_of_problem_is_reported_with_its_key_path(
    make: Callable[[], Data], key_path: str, message: str
) -> None:
    problems = problems_of(make())
    prefix = f"{SOURCE}: {key_path}: "
    assert any(p.startswith(prefix) and message in p for p in problems), problems


def test_several_problems_are_all_reported() -> None:
    data = two_orgs()
    data["organizations"][0]["failure_policy"] = "drop"
    data["organizations"][1]["secret"] = "org"
    data["clock"] = {"start": "soon"}
    data["providers"] = {"dropbox": {"accounts": [{"key": "a", "tree": {"x": {"base64": "***"}, "X": "y"}}]}}
    data["instances"] = [{"organization": 1, "user": 1, "account": "zed"}]
    problems = problems_of(data)
    assert len(problems) == 6, problems
    keys = [p.split(": ")[1] for p in problems]
    assert set(keys) == {
        "organizations[0].failure_policy", "organizations[1].secret", "clock.start",
        f"{TREE}.x.base64", f"{TREE}.X", "instances[0].account",
    }


def test_one_mistake_is_reported_once() -> None:
    data = two_orgs()
    del data["organizations"][0]["secret"]
    del data["organizations"][1]["secret"]
    assert problems_of(data) == [
        f"{SOURCE}: organizations[0].secret: is required",
        f"{SOURCE}: organizations[1].secret: is required",
    ]


def test_fixture_error_message_lists_every_problem() -> None:
    with pytest.raises(FixtureError) as caught:
        parse({"organizations": [], "seeds": 1})
    text = str(caught.value)
    assert text.startswith("2 problems in the fixture:")
    assert all(p in text for p in caught.value.problems)


# ----------------------------------------------------------------------------- YAML files


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "f.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_yaml_syntax_error_names_the_file_and_line(tmp_path: Path) -> None:
    path = write(tmp_path, "organizations:\n  - id: 1\n    secret: [unclosed\n    users: []\n")
    (problem,) = validate_file(path)
    assert problem.startswith(f"{path}: line ") and "invalid YAML" in problem
    bad_indent = write(tmp_path, "seed: 1\nclock:\n  start: x\n bad: 2\n")
    (problem,) = validate_file(bad_indent)
    assert problem.startswith(f"{bad_indent}: line 4, column 2: invalid YAML")


def test_duplicate_yaml_keys_are_reported_with_their_line(tmp_path: Path) -> None:
    path = write(tmp_path, """\
organizations:
  - {id: 1, secret: o, users: [{id: 1, secret: u, email: u@x.io}]}
providers:
  dropbox:
    accounts:
      - key: alice
        tree:
          a.txt: one
          a.txt: two
""")
    assert validate_file(path) == [f"{path}: line 9: duplicate key 'a.txt'"]


def test_yaml_names_stay_names_and_yes_stays_text(tmp_path: Path) -> None:
    path = write(tmp_path, """\
organizations:
  - {id: 1, secret: o, users: [{id: 1, secret: u, email: u@x.io}]}
providers:
  dropbox:
    accounts:
      - key: alice
        tree:
          007: bond
          yes: no
          2025-07-14: a date-like name
          1.50: on
          true: "false"
""")
    nodes = load_fixture(path).accounts[0].nodes
    assert {n.path: n.content for n in nodes} == {
        "/007": b"bond", "/yes": b"no", "/2025-07-14": b"a date-like name", "/1.50": b"on", "/true": b"false",
    }


def test_yaml_binary_tag_is_file_content(tmp_path: Path) -> None:
    path = write(tmp_path, f"""\
organizations:
  - {{id: 1, secret: o, users: [{{id: 1, secret: u, email: u@x.io}}]}}
providers: {{dropbox: {{accounts: [{{key: alice, tree: {{p.png: !!binary "{PIXEL_PNG}"}}}}]}}}}
""")
    assert file_content(load_fixture(path), "/p.png") == base64.b64decode(PIXEL_PNG)


def test_yaml_anchors_and_merge_keys_share_settings(tmp_path: Path) -> None:
    path = write(tmp_path, """\
organizations:
  - {id: 1, secret: o, users: [{id: 1, secret: u, email: u@x.io}]}
providers: {dropbox: {accounts: [{key: alice}, {key: bob}]}}
instances:
  - organization: 1
    user: 1
    account: alice
    configuration: &events
      event.notification.enabled: true
      event.notification.callback.url: http://localhost:9000/cb
  - organization: 1
    user: 1
    account: bob
    configuration: {<<: *events, event.vendor.type: polling}
""")
    assert load_fixture(path).instances[1].configuration == {
        "event.notification.enabled": "true",
        "event.notification.callback.url": "http://localhost:9000/cb",
        "event.vendor.type": "polling",
    }


def test_unreadable_file_is_a_problem_not_a_crash(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    assert validate_file(missing) == [f"{missing}: cannot read the file: No such file or directory"]
    latin1 = tmp_path / "latin1.yaml"
    latin1.write_bytes(b"seed: \xff\n")
    assert validate_file(latin1) == [f"{latin1}: byte 6: the file is not UTF-8 text"]


def test_empty_file_needs_an_organization(tmp_path: Path) -> None:
    path = write(tmp_path, "# nothing yet\n")
    assert validate_file(path) == [
        f"{path}: the fixture is empty; it needs at least one organization with one user"
    ]


# ----------------------------------------------------------------------------- scale


def generated_tree(files: int, per_folder: int = 100) -> dict[str, object]:
    tree: dict[str, object] = {}
    for folder in range(files // per_folder):
        entries: dict[str, object] = {}
        for n in range(per_folder):
            entries[f"file {n:03d}.txt"] = {"size": (folder * per_folder + n) % 2048}
        tree[f"Folder {folder:04d}/"] = entries
    return tree


def test_a_100000_file_fixture_parses() -> None:
    nodes = parse(with_tree(generated_tree(100_000))).accounts[0].nodes
    assert sum(not n.is_folder for n in nodes) == 100_000
    assert len(nodes) == 101_000
    assert nodes[-1].path == "/Folder 0999/file 099.txt"
    assert nodes[-1].content == generated_content("0", "/Folder 0999/file 099.txt", 99_999 % 2048)
