"""Every code block of README.md runs, so that a block that stops working fails CI (issue 16).

What a block may be:
- Every fenced block names its language. `bash`, `sh`, `shell`, `console` (its `$ ` lines), `python`
  and `yaml` blocks are run; `text` (a synopsis with placeholders, a program's output) and `json`
  (an answer) are listings, never run. A block without a language fails this test.
- A marker is an HTML comment on the line before the fence (GitHub does not render it); keep them few:
  - `<!-- illustrative: why -->`: not run, for what cannot run inside the suite (the suite itself,
    a benchmark of minutes); the reason is required.
  - `<!-- continues -->`: the block runs after the block before it, as the next commands typed in the
    same terminal: same directory, same shell variables, same emulator state (no reset in between);
    consecutive Python blocks are one program.

How a run (a block and the `continues` blocks after it) is run, the convention:
- In a fresh temporary directory (the working directory) that holds only `.venv`, a link to the
  environment running the tests, whose bin/ is first on PATH as after `. .venv/bin/activate`: bare
  `hub-emulator` and `python`, and `.venv/bin/...`, are the code under test.
- The set-up commands are not repeated: `python3 -m venv .venv` and `pip install -e '.[extras]'`
  become `true` (the extras named must be extras the package declares); CI runs them for real
  (`.ci/run`).
- The README speaks of one emulator at `127.0.0.1:8080`, its Dropbox API at `127.0.0.1:8443` and
  its CA file at `/tmp/hub-emulator-ca.pem`. The test serves one (`hub-emulator serve` on free
  ports, one per test module, so one per xdist worker) and writes its addresses in their place in
  every block; `HUB_EMULATOR_URL` names it to the commands that default to 8080 (the thin clients).
  The emulator is reset before each run.
- The script stops at the first failing command (`set -e`, `pipefail`), and curl fails on an HTTP
  error (a `.curlrc` with `fail-with-body`): a block whose request is refused fails (a block that
  shows a refusal on purpose ends that command with `|| true`).
- Python: a block runs as a script (`python file.py`); a block that defines `test_` functions is a
  test module and runs under pytest, where the plugin gives it `hub_emulator` and friends.
- YAML: a block with `steps:` is a scenario, validated and run against the served emulator
  (`hub-emulator scenario run FILE --url ...`); a block with `organizations:` is a fixture, validated
  (`hub-emulator validate FILE`, relative files beside it). Any other YAML block fails.
- A block that starts a command that runs until stopped (`hub-emulator serve`, `hub-emulator listen`,
  `curl -N`) runs in the background, as in a second terminal, with free ports and a CA file of its
  own: the run waits for its first line of output (for `serve`, the ready line), goes on with the
  blocks after it, and stops it with SIGTERM at the end.
- Each run has RUN_SECONDS; the whole README takes well under a minute.
"""

from __future__ import annotations

import importlib.metadata
import os
import re
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.conftest import ROOT
from tests.readme_blocks import Run, parse, runs, unknown_extras

README = ROOT / "README.md"
RUN_SECONDS = 60
READY = re.compile(
    r"hub-emulator ready on http://(?P<main>\S+) .*Dropbox API https://(?P<dropbox>\S+) CA file (?P<ca>.+)$"
)

BLOCKS, PARSE_PROBLEMS = parse(README.read_text(encoding="utf-8"))
RUNS, RUN_PROBLEMS = runs(BLOCKS)


@dataclass(frozen=True)
class Served:
    """The emulator the README's blocks talk to, and what its addresses replace in them."""

    main: str  # host:port
    dropbox: str  # host:port of the Dropbox API surface
    ca_file: str

    @property
    def addresses(self) -> dict[str, str]:
        return {
            "127.0.0.1:8080": self.main,
            "localhost:8080": self.main,
            "127.0.0.1:8443": self.dropbox,
            "/tmp/hub-emulator-ca.pem": self.ca_file,
        }


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    home = tmp_path_factory.mktemp("served")
    command = [
        str(Path(sys.executable).parent / "hub-emulator"),
        "serve",
        "--port", "0",
        "--dropbox-api-port", "0",
        "--dropbox-ca-file", str(home / "ca.pem"),
    ]  # fmt: skip
    process = subprocess.Popen(command, cwd=home, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert process.stdout is not None
    try:
        line = process.stdout.readline().rstrip("\n")
        ready = READY.search(line)
        assert ready, f"no ready line: {line!r}"
        yield Served(ready["main"], ready["dropbox"], ready["ca"])
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=15) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        process.stdout.close()


def execute(run: Run, served: Served, where: Path) -> subprocess.CompletedProcess[str]:
    """Runs the blocks of `run` the way the module docstring says; the script's exit status and output."""
    workdir, folder = where / "cwd", where / "blocks"
    workdir.mkdir(parents=True)
    folder.mkdir()
    (workdir / ".venv").symlink_to(sys.prefix, target_is_directory=True)
    (folder / ".curlrc").write_text("fail-with-body\nshow-error\n", encoding="utf-8")
    script = folder / "run.sh"
    script.write_text(run.script(folder, served.addresses), encoding="utf-8")
    environment = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    environment |= {
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{environment.get('PATH', '')}",
        "VIRTUAL_ENV": sys.prefix,
        "CURL_HOME": str(folder),
        "HUB_EMULATOR_URL": f"http://{served.main}",
    }
    process = subprocess.Popen(
        ["bash", str(script)],
        cwd=workdir,
        env=environment,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # its own process group: a run that hangs is stopped whole
    )
    try:
        output, _ = process.communicate(timeout=RUN_SECONDS)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGTERM)  # the script's trap then stops its background blocks
        output, _ = process.communicate(timeout=15)
        output += f"\nreadme-blocks: stopped after {RUN_SECONDS} s"
    return subprocess.CompletedProcess(process.args, process.returncode, output, "")


def _declared_extras() -> set[str]:
    return set(importlib.metadata.metadata("hub-emulator").get_all("Provides-Extra") or [])


# -- the README's own blocks ----------------------------------------------------------------------
def test_every_block_names_its_language_and_every_marker_is_in_place() -> None:
    assert PARSE_PROBLEMS + RUN_PROBLEMS == []
    assert len(RUNS) >= 10, "the README's runnable blocks were not found"


@pytest.mark.parametrize("run", RUNS, ids=[run.name for run in RUNS])
def test_readme_block_runs(run: Run, served: Served, tmp_path: Path) -> None:
    assert unknown_extras("".join(block.text for block in run.blocks), _declared_extras()) == []
    httpx.post(f"http://{served.main}/_emulator/reset", timeout=10).raise_for_status()
    done = execute(run, served, tmp_path)
    failed = f"README.md {run.name} failed (exit {done.returncode}):\n{done.stdout[-6000:]}"
    assert done.returncode == 0, failed


# -- the mechanism, on Markdown made here: each check can fail ---------------------------------------
def _runs_of(markdown: str) -> list[Run]:
    blocks, problems = parse(markdown)
    found, more = runs(blocks)
    assert problems + more == []
    return found


def test_a_refused_request_an_exception_and_an_invalid_fixture_each_fail_their_block(
    served: Served, tmp_path: Path
) -> None:
    markdown = """
```bash
curl -s http://127.0.0.1:8080/_emulator/no-such-route
```

```python
raise SystemExit("a Python block that fails")
```

```yaml
organizations: [{id: 1, secret: s, users: [{id: 1, secret: u, email: a@b.c, frist_name: A}]}]
```
"""
    outcomes = [execute(run, served, tmp_path / str(n)) for n, run in enumerate(_runs_of(markdown))]
    assert [done.returncode != 0 for done in outcomes] == [True, True, True]
    assert "404" in outcomes[0].stdout
    assert "a Python block that fails" in outcomes[1].stdout
    assert 'did you mean "first_name"' in outcomes[2].stdout


def test_continues_shares_directory_variables_and_program_and_illustrative_is_never_run(
    served: Served, tmp_path: Path
) -> None:
    markdown = """
```bash
echo made > made.txt
GREETING=hello
```
<!-- continues -->
```bash
test "$(cat made.txt)" = made && echo "$GREETING from bash"
```

<!-- continues -->
```python
import os
greeting = os.environ["GREETING"]
```
<!-- continues -->
```python
print(greeting, "from python")
```

<!-- illustrative: it would fail -->
```bash
exit 1
```
"""
    [run] = _runs_of(markdown)
    done = execute(run, served, tmp_path)
    assert done.returncode == 0, done.stdout
    assert "hello from bash" in done.stdout and "hello from python" in done.stdout


def test_a_server_block_is_awaited_then_stopped(served: Served, tmp_path: Path) -> None:
    markdown = """
```bash
python3 -m venv .venv && .venv/bin/pip install -e . && .venv/bin/hub-emulator serve
```
<!-- continues -->
```bash
echo "the run goes on while it serves"
```
"""
    [run] = _runs_of(markdown)
    done = execute(run, served, tmp_path)
    assert done.returncode == 0, done.stdout
    ready = re.search(r"hub-emulator ready on http://127\.0\.0\.1:(\d+)", done.stdout)
    assert ready and "the run goes on while it serves" in done.stdout
    with socket.socket() as probe:  # stopped with the run: nothing listens there any more
        assert probe.connect_ex(("127.0.0.1", int(ready[1]))) != 0


def test_markers_out_of_place_and_blocks_without_a_language_are_problems() -> None:
    markdown = "<!-- illustrative -->\n```bash\nls\n```\n\n```\nls\n```\n\n<!-- continues -->\ntext\n"
    blocks, problems = parse(markdown)
    assert [block.line for block in blocks] == [2, 6]
    assert [problem.split(":")[0] for problem in problems] == ["line 2", "line 6", "line 10"]
    _, more = runs(parse("<!-- continues -->\n```bash\nls\n```\n")[0])
    assert more == ["line 2: `continues`, but no runnable block comes before it"]


def test_pip_installs_must_name_declared_extras() -> None:
    declared = _declared_extras()
    assert unknown_extras("pip install -e '.[test]' && .venv/bin/pip install -q -e .", declared) == []
    assert unknown_extras("pip install -e '.[tset,fast]'", declared) == ["tset"]
