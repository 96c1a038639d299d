"""Reads a Markdown file's fenced code blocks and turns them into runs: bash scripts a test executes.

tests/test_readme_blocks.py says what a README block may be and how it is run; this module is the
mechanism: `parse` finds the blocks and their markers (an HTML comment on the line before the
fence), `runs` groups them (a `continues` block joins the run before it), and `Run.script` writes
one bash script for a run, with every block's Python and YAML as files beside it.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

# A fence opens with 3+ backticks or tildes, indented or not (fences inside list items are);
# its info string's first word is the language.
FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})[ \t]*(?P<info>[^`\s]*)[^`]*$")
MARKER = re.compile(r"^\s*<!--\s*(?P<kind>illustrative|continues)\b\s*:?\s*(?P<reason>.*?)\s*-->\s*$")

SHELL = frozenset({"bash", "sh", "shell", "console"})
PYTHON = frozenset({"python", "py"})
YAML = frozenset({"yaml", "yml"})
RUNNABLE = SHELL | PYTHON | YAML
# Listings that are not code: command synopses with placeholders, program output, JSON answers.
NOT_CODE = frozenset({"text", "json"})

# Commands that run until stopped. A block that starts one is run in the background, as in a second
# terminal: its first line on standard output is awaited (it must match the pattern; standard
# error, e.g. curl's progress meter, goes to a file shown on failure), the rest of its run goes on
# meanwhile, and it is stopped with SIGTERM when the run ends.
FOREGROUND: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"(?:hub-emulator|python3? -m emulator) serve\b"), r"hub-emulator ready on http://"),
    (re.compile(r"(?:hub-emulator|python3? -m emulator) listen\b"), r"."),
    (re.compile(r"\bcurl\b[^\n]*\s-N\b"), r"."),
)
FIRST_LINE_SECONDS = 30

# The set-up commands, which the environment running the tests has already run (CI runs them for
# real: .ci/run). `pip install -e '.[extras]'` is checked to name extras the package declares.
VENV = re.compile(r"\bpython3? -m venv \.venv\b")
PIP_INSTALL = re.compile(r"(?:\.venv/bin/)?\bpip install(?: -q)? -e '?\.(?:\[(?P<extras>[\w,-]+)\])?'?")


@dataclass(frozen=True)
class Block:
    line: int  # 1-based line of the opening fence
    language: str
    text: str
    marker: str | None = None  # "illustrative" | "continues" | None
    reason: str = ""

    @property
    def runnable(self) -> bool:
        return self.language in RUNNABLE and self.marker != "illustrative"

    @property
    def name(self) -> str:
        return f"L{self.line}-{self.language}"


def parse(markdown: str) -> tuple[list[Block], list[str]]:
    """Every fenced block, with its marker; and every problem: a block without a language, a
    language that is neither run nor a plain listing, a marker without a block or a reason."""
    lines = markdown.splitlines()
    blocks: list[Block] = []
    problems: list[str] = []
    index = 0
    while index < len(lines):
        opened = FENCE.match(lines[index])
        if opened is None:
            if MARKER.match(lines[index]) and not _next_is_fence(lines, index):
                problems.append(f"line {index + 1}: a marker must stand right before a fenced block")
            index += 1
            continue
        indent, fence, language = opened["indent"], opened["fence"], opened["info"].lower()
        closing = re.compile(rf"^[ \t]*{re.escape(fence[0])}{{{len(fence)},}}[ \t]*$")
        end = index + 1
        while end < len(lines) and not closing.match(lines[end]):
            end += 1
        body = "\n".join(_dedent(text, indent) for text in lines[index + 1 : end]) + "\n"
        marker, reason = _marker_before(lines, index)
        block = Block(index + 1, language, body, marker, reason)
        problems += _problems(block)
        blocks.append(block)
        index = end + 1
    return blocks, problems


def _next_is_fence(lines: Sequence[str], index: int) -> bool:
    following = next((text for text in lines[index + 1 :] if text.strip()), "")
    return FENCE.match(following) is not None


def _marker_before(lines: Sequence[str], index: int) -> tuple[str | None, str]:
    before = next((text for text in reversed(lines[:index]) if text.strip()), "")
    found = MARKER.match(before)
    return (found["kind"], found["reason"]) if found else (None, "")


def _dedent(text: str, indent: str) -> str:
    return text[len(indent) :] if text.startswith(indent) else text.lstrip(" \t")


def _problems(block: Block) -> list[str]:
    where = f"line {block.line}"
    if not block.language:
        return [f"{where}: a block without a language: `text` for a synopsis or output, else its language"]
    if block.language not in RUNNABLE | NOT_CODE:
        return [f"{where}: language {block.language!r} is neither run ({sorted(RUNNABLE)}) nor text/json"]
    if block.marker == "illustrative" and not block.reason:
        return [f"{where}: `<!-- illustrative: why -->` needs its reason"]
    if block.marker is not None and block.language in NOT_CODE:
        return [f"{where}: a {block.language} block is never run: it needs no marker"]
    return []


@dataclass
class Run:
    """Blocks run one after the other in one directory and one shell: the first block and the
    `continues` blocks after it."""

    blocks: list[Block] = field(default_factory=list)

    @property
    def name(self) -> str:
        return "+".join(block.name for block in self.blocks)

    def script(self, folder: Path, addresses: Mapping[str, str]) -> str:
        """The bash script of the run; its Python and YAML blocks are written as files to `folder`.

        `addresses` maps what the README says (`127.0.0.1:8080`, ...) to what the test serves.
        """
        parts = [PRELUDE]
        python: list[Block] = []  # consecutive Python blocks: one program
        for block in self.blocks:
            if block.language not in PYTHON and python:
                parts.append(_python_command(python, folder, addresses))
                python = []
            if block.language in PYTHON:
                python.append(block)
            elif block.language in YAML:
                parts.append(_yaml_command(block, folder, addresses))
            else:
                parts.append(_shell(block, folder, addresses))
        if python:
            parts.append(_python_command(python, folder, addresses))
        return "\n".join(parts) + "\n"


def runs(blocks: Sequence[Block]) -> tuple[list[Run], list[str]]:
    """The runs of the runnable blocks; a problem for a `continues` that follows no runnable block."""
    found: list[Run] = []
    problems: list[str] = []
    for block in blocks:
        if not block.runnable:
            continue
        if block.marker == "continues":
            if not found:
                problems.append(f"line {block.line}: `continues`, but no runnable block comes before it")
                continue
            found[-1].blocks.append(block)
        else:
            found.append(Run([block]))
    return found, problems


def substitute(text: str, addresses: Mapping[str, str]) -> str:
    for written, served in addresses.items():
        text = text.replace(written, served)
    return text


def unknown_extras(text: str, declared: set[str]) -> list[str]:
    """Extras that a `pip install -e '.[...]'` of the text names and the package does not declare."""
    named = (extra for found in PIP_INSTALL.finditer(text) for extra in (found["extras"] or "").split(","))
    return sorted({extra for extra in named if extra and extra not in declared})


# -- the script ---------------------------------------------------------------------------------
# Every variable a block sets is exported (set -a), so that a background block and a Python block
# see what the blocks before them set, as one terminal session would.
PRELUDE = f"""set -eo pipefail
set -a
__stopped=()
__stop() {{
  local pid
  for pid in "${{__stopped[@]}}"; do kill -TERM -- "-$pid" 2>/dev/null || true; done
  for pid in "${{__stopped[@]}}"; do wait "$pid" 2>/dev/null || true; done
}}
trap __stop EXIT
trap 'exit 143' TERM
__first_line() {{  # FIFO PATTERN: the first line a background block prints, then keep draining it
  local line fd
  exec {{fd}}<"$1"
  if ! IFS= read -r -t {FIRST_LINE_SECONDS} -u "$fd" line; then
    echo "readme-blocks: no output within {FIRST_LINE_SECONDS} s from a block that runs until stopped" >&2
    cat "$1.err" >&2
    return 1
  fi
  printf '%s\\n' "$line"
  cat <&"$fd" >"$1.log" 2>&1 &
  exec {{fd}}<&-
  if [[ ! $line =~ $2 ]]; then
    echo "readme-blocks: its first line does not match $2" >&2
    cat "$1.err" >&2
    return 1
  fi
}}
"""


def _shell(block: Block, folder: Path, addresses: Mapping[str, str]) -> str:
    text = _console_commands(block.text) if block.language == "console" else block.text
    text = VENV.sub("true", text)
    text = PIP_INSTALL.sub("true", text)
    pattern = next((ready for command, ready in FOREGROUND if command.search(text)), None)
    if pattern is None:
        return f"# {block.name}\n{substitute(text, addresses)}"
    # Its own server: free ports, and its own CA file.
    text = re.sub(r"(\bserve)\b(?!\S)", r"\1 --port 0", text)
    text = re.sub(r"--port[ =]8080\b", "--port 0", text)
    text = re.sub(r"--dropbox-api-port[ =]8443\b", "--dropbox-api-port 0", text)
    text = text.replace("/tmp/hub-emulator-ca.pem", str(folder / f"ca-{block.name}.pem"))
    script = folder / f"{block.name}.sh"
    # The trap lets the block's shell outlive a SIGTERM until its command has stopped (bash runs
    # a trap once the command it waits for ends), so that the run ends after the server does.
    script.write_text("set -eo pipefail\ntrap : TERM\n" + substitute(text, addresses), encoding="utf-8")
    fifo = folder / f"{block.name}.out"
    return "\n".join(
        [
            f"# {block.name}: runs until stopped, in the background",
            f"mkfifo {shlex.quote(str(fifo))}",
            # setsid: a session of its own, so that stopping it stops every process it started.
            f"setsid bash {shlex.quote(str(script))} >{shlex.quote(str(fifo))} "
            f"2>{shlex.quote(str(fifo))}.err </dev/null &",
            "__stopped+=($!)",
            f"__first_line {shlex.quote(str(fifo))} {shlex.quote(pattern)}",
        ]
    )


def _console_commands(text: str) -> str:
    """A console block's commands: the `$ ` lines (and their `\\` continuations); the rest is output."""
    commands: list[str] = []
    continued = False
    for line in text.splitlines():
        if continued or line.startswith("$ "):
            commands.append(line if continued else line[2:])
            continued = line.endswith("\\")
    return "\n".join(commands) + "\n"


def _python_command(blocks: Sequence[Block], folder: Path, addresses: Mapping[str, str]) -> str:
    source = "\n".join(substitute(block.text, addresses) for block in blocks)
    first = blocks[0]
    if re.search(r"^def test_", source, re.MULTILINE):
        # A test module, run as a client app's suite runs it: pytest, with the plugin's fixtures.
        path = folder / f"test_readme_{first.line}.py"
        path.write_text(source, encoding="utf-8")
        command = f"python -m pytest -q -p no:cacheprovider --rootdir {shlex.quote(str(folder))} {path}"
    else:
        path = folder / f"readme_{first.line}.py"
        path.write_text(source, encoding="utf-8")
        command = f"python {shlex.quote(str(path))}"
    return f"# {'+'.join(block.name for block in blocks)}\n{command}"


def _yaml_command(block: Block, folder: Path, addresses: Mapping[str, str]) -> str:
    import yaml

    text = substitute(block.text, addresses)
    path = folder / f"readme-{block.line}.yaml"
    path.write_text(text, encoding="utf-8")
    data = yaml.safe_load(text)
    quoted = shlex.quote(str(path))
    if isinstance(data, dict) and "steps" in data:
        # A scenario: checked, then run against the served emulator.
        command = f"hub-emulator scenario run {quoted} --url http://127.0.0.1:8080"
        return f"# {block.name}: a scenario\n{substitute(command, addresses)}"
    if isinstance(data, dict) and "organizations" in data:
        return f"# {block.name}: a fixture\nhub-emulator validate {quoted}"
    neither = f"readme-blocks: {block.name} is neither a fixture (organizations:) nor a scenario (steps:)"
    return f"echo {shlex.quote(neither)} >&2; exit 1"
