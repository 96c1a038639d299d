"""What a scenario is (steps as written) and what a run reports (one line per step), plus their errors."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from urllib.parse import quote

StepStatus = Literal["passed", "failed", "skipped"]
# The default fixture's organization: a scenario's `credentials` replace it.
DEFAULT_CREDENTIALS: dict[str, Any] = {
    "user": "dev-user-secret",
    "organization": "dev-org-secret",
    "organization_id": 1,
}


class ScenarioError(Exception):
    """The scenario cannot run. `problems` lists every problem, `"<file>: step <n> (<name>): <reason>"`."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = list(problems)
        count = len(self.problems)
        super().__init__("\n  ".join([f"{count} problem{'s' if count != 1 else ''}:", *self.problems]))


class ScenarioNotFound(LookupError):
    """No scenario file by that name or path."""


class _Unset:
    """No expected or received value to report (None may be one)."""

    def __repr__(self) -> str:
        return "UNSET"


_UNSET: Any = _Unset()


class StepFailure(Exception):
    """A step did not get what it expected; `expected` and `received` go into the report."""

    def __init__(self, message: str, expected: Any = _UNSET, received: Any = _UNSET) -> None:
        super().__init__(message)
        self.message = message
        self.expected = expected
        self.received = received


@dataclass
class StepReport:
    number: int  # 1-based, as validation problems count them; 0 is the preparation
    name: str
    action: str
    status: StepStatus
    duration_ms: float = 0.0
    message: str = ""
    expected: Any = _UNSET
    received: Any = _UNSET

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "number": self.number,
            "name": self.name,
            "action": self.action,
            "status": self.status,
            "durationMs": round(self.duration_ms, 1),
            "message": self.message,
        }
        if self.expected is not _UNSET:
            body["expected"] = self.expected
        if self.received is not _UNSET:
            body["received"] = self.received
        return body

    def line(self, width: int = 0) -> str:
        mark = {"passed": "✓", "failed": "✗", "skipped": "-"}[self.status]
        timing = f"{self.duration_ms:6.0f} ms" if self.status != "skipped" else "skipped  "
        message = f"  {self.message}" if self.message else ""
        return f"  {mark} {self.number:>2}  {self.name:<{width}}  {timing}{message}".rstrip()


@dataclass
class ScenarioReport:
    name: str
    file: str
    base_url: str
    steps: list[StepReport] = field(default_factory=list)
    duration_ms: float = 0.0
    notes: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return all(s.status == "passed" for s in self.steps)

    @property
    def failed_step(self) -> StepReport | None:
        return next((s for s in self.steps if s.status == "failed"), None)

    def summary(self) -> str:
        failed = self.failed_step
        if failed is None:
            return f"passed: {len(self.steps)} steps in {self.duration_ms:.0f} ms"
        return f"FAILED at step {failed.number} ({failed.name}): {failed.message}"

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "file": self.file,
            "baseUrl": self.base_url,
            "status": "passed" if self.passed else "failed",
            "durationMs": round(self.duration_ms, 1),
            "summary": self.summary(),
            "notes": self.notes,
            "steps": [s.to_json() for s in self.steps],
        }

    def lines(self) -> list[str]:
        head = f"scenario {self.name} ({self.file}) against {self.base_url}"
        width = min(max((len(s.name) for s in self.steps), default=0), 64)
        notes = [f"  note: {n}" for n in self.notes]
        return [head, *notes, *(s.line(width) for s in self.steps), self.summary()]


@dataclass(frozen=True)
class Step:
    number: int
    name: str
    action: str
    args: Mapping[str, Any]  # as written: templates are filled in when the step runs
    save_as: str | None = None
    save_from: str = "body"
    repeat: int = 1


@dataclass(frozen=True)
class Scenario:
    name: str
    description: str
    file: Path
    steps: tuple[Step, ...]
    fixture: Path | None = None
    reset: bool = True
    clock: Literal["manual", "keep"] = "manual"
    dialect: str = "elements"
    account: str | None = None
    credentials: Mapping[str, Any] = field(default_factory=lambda: dict(DEFAULT_CREDENTIALS))
    variables: Mapping[str, Any] = field(default_factory=dict)

    @property
    def sink_url_path(self) -> str:
        return "/_emulator/sinks/" + quote(self.name, safe="")
