"""The benchmark's fixtures, written to a temporary folder: the default fixture plus what each measure needs.

`bench.yaml` is the default fixture with, added: a 50-file folder `/Bench50` in alice's account,
instances with fixed tokens (alice's, events off, for reads; `writer`'s, one webhook, for writes),
and the callback accounts `solo` (one webhook instance) and `fan` (sixteen, each with its own
URL). `scale.yaml` is `bench.yaml` plus `files` files spread over `folders` folders in alice's
account, under `/Scale`. The default fixture's `content/` folder is copied beside them.
"""

from __future__ import annotations

import copy
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from emulator.assemble import default_fixture_path

ORG_SECRET = "dev-org-secret"
USER_SECRET = "dev-user-secret"
READ_TOKEN = "bench-read-token"
WRITE_TOKEN = "bench-write-token"
FANOUT = 16
BENCH_FOLDER = "/Bench50"
BENCH_FOLDER_FILES = 50


@dataclass(frozen=True)
class BenchFixtures:
    folder: Path
    default: Path
    bench: Path
    first_instance_id: int  # alice's read instance; the writer's is the next one


def _instance(account: str, token: str, callback: str | None, name: str) -> dict[str, Any]:
    configuration: dict[str, Any] = {
        "oauth.callback.url": "https://www.mycoolapp.com/auth",
        "oauth.api.key": "fake_Dropbox_api_key",
        "oauth.api.secret": "fake_Dropbox_api_secret",
        "event.notification.enabled": callback is not None,
    }
    if callback is not None:
        configuration["event.notification.callback.url"] = callback
        configuration["event.vendor.type"] = "webhook"
    return {
        "organization": 1,
        "user": 1,
        "account": account,
        "name": name,
        "token": token,
        "configuration": configuration,
    }


def _account(key: str, tree: dict[str, Any]) -> dict[str, Any]:
    return {"key": key, "email": f"{key}@bench.example.com", "display_name": key.capitalize(), "tree": tree}


def bench_data(default: dict[str, Any], receiver_origin: str) -> dict[str, Any]:
    data = copy.deepcopy(default)
    accounts = data["providers"]["dropbox"]["accounts"]
    alice = next(a for a in accounts if a["key"] == "alice")
    alice["tree"][BENCH_FOLDER.strip("/") + "/"] = {
        f"file {i:03d}.txt": f"bench file {i}\n" for i in range(BENCH_FOLDER_FILES)
    }
    accounts += [
        _account("writer", {"w/": None}),
        _account("solo", {"cb/": None}),
        _account("fan", {"fan/": None}),
    ]
    data["instances"] = [
        _instance("alice", READ_TOKEN, None, "bench reads"),
        _instance("writer", WRITE_TOKEN, f"{receiver_origin}/hook/writer", "bench writes"),
        _instance("solo", "bench-solo-token", f"{receiver_origin}/hook/solo", "bench solo"),
        *(
            _instance("fan", f"bench-fan-token-{i}", f"{receiver_origin}/hook/fan{i}", f"bench fan {i}")
            for i in range(FANOUT)
        ),
    ]
    return data


def add_scale_tree(data: dict[str, Any], folders: int, files: int) -> dict[str, Any]:
    """`files` small files, as evenly as can be, in `folders` folders under alice's `/Scale`."""
    scaled = copy.deepcopy(data)
    alice = next(a for a in scaled["providers"]["dropbox"]["accounts"] if a["key"] == "alice")
    per_folder, extra = divmod(files, folders)
    alice["tree"]["Scale/"] = {
        f"d{d:04d}/": {f"f{f:03d}.txt": f"{d}/{f}\n" for f in range(per_folder + (1 if d < extra else 0))}
        for d in range(folders)
    }
    return scaled


def write_yaml(path: Path, data: dict[str, Any]) -> Path:
    with path.open("w", encoding="utf-8") as out:
        yaml.dump(data, out, Dumper=getattr(yaml, "CSafeDumper", yaml.SafeDumper), allow_unicode=True)
    return path


def make_fixtures(folder: Path, receiver_origin: str) -> BenchFixtures:
    source = Path(default_fixture_path())
    default = yaml.safe_load(source.read_text(encoding="utf-8"))
    content = source.parent / "content"
    if content.is_dir():
        shutil.copytree(content, folder / "content", dirs_exist_ok=True)
    first = int(default.get("ids", {}).get("instance", 1))
    bench = write_yaml(folder / "bench.yaml", bench_data(default, receiver_origin))
    return BenchFixtures(folder, source, bench, first)


def make_scale_fixture(fixtures: BenchFixtures, folders: int, files: int) -> Path:
    data = yaml.safe_load(fixtures.bench.read_text(encoding="utf-8"))
    return write_yaml(fixtures.folder / "scale.yaml", add_scale_tree(data, folders, files))
