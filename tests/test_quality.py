"""The code stays ruff- and mypy-clean, and the domain stays free of the web layer (DESIGN.md section 2)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_ruff_finds_nothing() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "emulator", "tests"], cwd=ROOT, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_strict_finds_nothing() -> None:
    result = subprocess.run([sys.executable, "-m", "mypy"], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_domain_imports_no_web_or_http_library() -> None:
    forbidden = re.compile(r"^\s*(from|import)\s+(starlette|uvicorn|httpx|asyncio)\b", re.MULTILINE)
    offenders = [
        str(path.relative_to(ROOT))
        for path in (ROOT / "emulator" / "domain").rglob("*.py")
        if forbidden.search(path.read_text(encoding="utf-8"))
    ]
    assert offenders == []


def test_every_package_is_listed_for_installation() -> None:
    """pyproject.toml lists packages by hand (fixtures/ and scenarios/ are mapped in): none forgotten."""
    import tomllib

    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = {
        ".".join(path.parent.relative_to(ROOT).parts)
        for path in (ROOT / "emulator").rglob("__init__.py")
        if "__pycache__" not in path.parts
    }
    assert found <= listed, f"missing from pyproject.toml: {sorted(found - listed)}"


def _emulator_import_graph() -> dict[str, set[str]]:
    """Module -> the emulator modules it imports, anywhere in it (functions too), but not for typing."""
    import ast

    root = Path(__file__).resolve().parent.parent
    files = {}
    for file in (root / "emulator").rglob("*.py"):
        parts = file.relative_to(root).with_suffix("").parts
        files[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = file

    def owner(name: str) -> str:
        while name and name not in files:
            name = name.rpartition(".")[0]
        return name

    graph: dict[str, set[str]] = {}
    for module, file in files.items():
        tree = ast.parse(file.read_text(encoding="utf-8"))
        typing_only = {
            id(inner)
            for node in ast.walk(tree)
            if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)
            for inner in ast.walk(node)
        }
        targets: set[str] = set()
        for node in ast.walk(tree):
            if id(node) in typing_only:
                continue
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("emulator"):
                targets |= {owner(f"{node.module}.{alias.name}") for alias in node.names}
            elif isinstance(node, ast.Import):
                targets |= {owner(alias.name) for alias in node.names if alias.name.startswith("emulator")}
        graph[module] = targets - {module, ""}
    return graph


def test_no_circle_of_imports_in_the_emulator() -> None:
    """Imports point one way (DESIGN.md section 2), lazy ones inside functions included."""
    graph = _emulator_import_graph()
    circles = []
    for start in graph:
        path, seen = [start], {start}
        stack = [iter(sorted(graph[start]))]
        while stack:
            step = next(stack[-1], None)
            if step is None:
                stack.pop()
                seen.discard(path.pop())
                continue
            if step == start:
                circles.append([*path, start])
            elif step not in seen and step > start:  # each circle once, from its smallest module
                path.append(step)
                seen.add(step)
                stack.append(iter(sorted(graph[step])))
    assert circles == []


def test_no_two_public_classes_share_a_name() -> None:
    """A name says what a thing is: the Python API's clock is not the domain's `Clock`."""
    import ast

    homes: dict[str, list[str]] = {}
    for file in sorted((Path(__file__).resolve().parent.parent / "emulator").rglob("*.py")):
        for node in ast.parse(file.read_text(encoding="utf-8")).body:
            if isinstance(node, ast.ClassDef) and not node.name.startswith("_"):
                homes.setdefault(node.name, []).append(file.name)
    assert {name: files for name, files in homes.items() if len(files) > 1} == {}
