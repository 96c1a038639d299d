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
