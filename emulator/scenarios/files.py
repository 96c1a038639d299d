"""Scenario files: read and validate one (every problem, with file, step and reason), list and find them.

The folder is read from disk on every call, so an edited, added or removed file counts at once:
no watcher is needed for scenarios.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from emulator.dialects import DIALECTS
from emulator.loading import FixtureError, read_yaml
from emulator.scenarios.model import DEFAULT_CREDENTIALS, Scenario, ScenarioError, ScenarioNotFound, Step
from emulator.scenarios.templates import BUILTIN_NAMES, IDENTIFIER, is_template, template_roots
from emulator.scenarios.vocabulary import ACTIONS, STEP_KEYS, TOP_KEYS, Kind

SCENARIO_DIR = "scenarios"
SUFFIXES = (".yaml", ".yml")
MAX_REPEAT = 1000


class _Checker:
    """Reads one scenario file's data into a `Scenario`, collecting every problem on the way."""

    def __init__(self, source: str, file: Path) -> None:
        self.source = source
        self.file = file
        self.problems: list[str] = []

    def problem(self, where: str, reason: str) -> None:
        self.problems.append(f"{self.source}: {where}: {reason}" if where else f"{self.source}: {reason}")

    def scenario(self, data: object) -> Scenario | None:
        if not isinstance(data, Mapping):
            self.problem("", "a scenario is a mapping with name, description and steps")
            return None
        self._unknown_keys("", data, TOP_KEYS)
        name = self._text(data, "name", self.file.stem)
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", name):
            self.problem("name", f"{name!r} is not a scenario name (letters, digits, _ . -)")
        variables = self._variables(data.get("variables"))
        steps = self._steps(data.get("steps"), set(variables))
        return Scenario(
            name=name,
            description=self._text(data, "description", ""),
            file=self.file,
            steps=tuple(steps),
            fixture=self._fixture(data.get("fixture")),
            reset=self._flag(data, "reset", True),
            clock="keep" if self._choice(data, "clock", ("manual", "keep"), "manual") == "keep" else "manual",
            dialect=self._choice(data, "dialect", tuple(DIALECTS), "elements"),
            account=self._text(data, "account", "") or None,
            credentials=self._credentials(data.get("credentials")),
            variables=variables,
        )

    # -- top-level fields ----------------------------------------------------------------
    def _text(self, data: Mapping[str, Any], key: str, default: str) -> str:
        value = data.get(key, default)
        if not isinstance(value, str):
            self.problem(key, "must be text")
            return default
        return value

    def _flag(self, data: Mapping[str, Any], key: str, default: bool) -> bool:
        value = data.get(key, default)
        if not isinstance(value, bool):
            self.problem(key, "must be true or false")
            return default
        return value

    def _choice(self, data: Mapping[str, Any], key: str, choices: tuple[str, ...], default: str) -> str:
        value = data.get(key, default)
        if value not in choices:
            self.problem(key, f"must be one of {', '.join(choices)}, not {value!r}")
            return default
        return str(value)

    def _fixture(self, value: object) -> Path | None:
        # Whether the file exists is checked where it is used, by an in-process run: a served
        # emulator (`--url`, the control plane) runs on its own fixture and never reads this one.
        if value is None:
            return None
        if not isinstance(value, str):
            self.problem("fixture", "must be a path, relative to the scenario's folder")
            return None
        return (self.file.parent / value).resolve()

    def _variables(self, value: object) -> dict[str, Any]:
        if value is None:
            return {}
        if not isinstance(value, Mapping):
            self.problem("variables", "must be a mapping of names to values")
            return {}
        for name in value:
            self._name_problem(f"variables.{name}", name)
        return dict(value)

    def _credentials(self, value: object) -> dict[str, Any]:
        credentials = dict(DEFAULT_CREDENTIALS)
        if value is None:
            return credentials
        if not isinstance(value, Mapping):
            self.problem("credentials", "must be a mapping with user, organization, organization_id")
            return credentials
        self._unknown_keys("credentials", value, tuple(DEFAULT_CREDENTIALS))
        for key, default in DEFAULT_CREDENTIALS.items():
            given = value.get(key, default)
            if not isinstance(given, type(default)) or isinstance(given, bool):
                self.problem(f"credentials.{key}", f"must be {'a number' if key.endswith('_id') else 'text'}")
            else:
                credentials[key] = given
        return credentials

    def _name_problem(self, where: str, name: object) -> bool:
        if not isinstance(name, str) or not IDENTIFIER.fullmatch(name):
            self.problem(where, f"{name!r} is not a name (letters, digits and _)")
            return True
        if name in BUILTIN_NAMES:
            self.problem(where, f"{name!r} is a built-in name ({', '.join(sorted(BUILTIN_NAMES))})")
            return True
        return False

    def _unknown_keys(self, where: str, data: Mapping[str, Any], known: Sequence[str]) -> None:
        for key in data:
            if key not in known:
                close = difflib.get_close_matches(str(key), known, n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else f"; known: {', '.join(known)}"
                self.problem(where, f"unknown key {key!r}{hint}")

    # -- steps -----------------------------------------------------------------------------
    def _steps(self, value: object, known: set[str]) -> list[Step]:
        if not isinstance(value, list) or not value:
            self.problem("steps", "a scenario needs a list of steps")
            return []
        steps: list[Step] = []
        for number, raw in enumerate(value, start=1):
            step = self._step(number, raw, known)
            if step is not None:
                steps.append(step)
                if step.save_as:
                    known.add(step.save_as)
        return steps

    def _step(self, number: int, raw: object, known: set[str]) -> Step | None:
        if not isinstance(raw, Mapping):
            self.problem(f"step {number}", "a step is a mapping with one action: " + ", ".join(ACTIONS))
            return None
        given_name = raw.get("name")
        where = f"step {number}" + (f" ({given_name})" if isinstance(given_name, str) else "")
        actions = [k for k in raw if k in ACTIONS]
        others = [k for k in raw if k not in ACTIONS and k not in STEP_KEYS]
        for key in others:
            close = difflib.get_close_matches(str(key), [*ACTIONS, *STEP_KEYS], n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            self.problem(where, f"unknown key {key!r}{hint}; actions: {', '.join(ACTIONS)}")
        if len(actions) != 1:
            if not others:
                self.problem(where, f"needs exactly one action, found {len(actions)}: {', '.join(actions)}")
            return None
        action = actions[0]
        args = self._args(where, action, raw[action])
        repeat = self._repeat(where, raw.get("repeat", 1))
        save_as, save_from = self._save(where, raw.get("save"))
        self._references(where, {**args, "name": given_name}, known | ({"i"} if "repeat" in raw else set()))
        name = given_name if isinstance(given_name, str) and given_name else ACTIONS[action].describe(args)
        if given_name is not None and not isinstance(given_name, str):
            self.problem(where, "name must be text")
        return Step(number, name, action, args, save_as, save_from, repeat)

    def _args(self, where: str, action: str, value: object) -> dict[str, Any]:
        spec = ACTIONS[action]
        if value is None:
            value = {}
        elif not isinstance(value, Mapping):
            if spec.shorthand is None:
                self.problem(where, f"{action} takes a mapping of {', '.join(spec.keys)}")
                return {}
            value = {spec.shorthand: value}
        args = dict(value)
        self._unknown_keys(where, args, tuple(spec.keys))
        for key in spec.required:
            if key not in args:
                self.problem(where, f"{action} needs {key}")
        for key, item in args.items():
            kind = spec.keys.get(key)
            reason = None if kind is None or is_template(item) else _kind_problem(item, kind)
            if reason:
                self.problem(where, f"{action} {key}: {reason}")
        for reason in spec.check(args) if spec.check else []:
            self.problem(where, f"{action}: {reason}")
        return args

    def _repeat(self, where: str, value: object) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_REPEAT:
            self.problem(where, f"repeat must be a whole number from 1 to {MAX_REPEAT}")
            return 1
        return value

    def _save(self, where: str, value: object) -> tuple[str | None, str]:
        if value is None:
            return None, "body"
        if isinstance(value, str):
            return (None if self._name_problem(f"{where}: save", value) else value), "body"
        if isinstance(value, Mapping) and set(value) <= {"as", "from"} and "as" in value:
            name, source = value["as"], value.get("from", "body")
            if not isinstance(source, str) or not source:
                self.problem(where, "save.from must be a path such as body.token")
                source = "body"
            return (None if self._name_problem(f"{where}: save.as", name) else name), source
        self.problem(where, "save is a name, or {as: name, from: body.token}")
        return None, "body"

    def _references(self, where: str, args: Mapping[str, Any], known: set[str]) -> None:
        """Every `{{name...}}`, and an `instance: name`, must name a variable or an earlier save."""
        names = [(expression, root) for expression, root in template_roots(dict(args))]
        instance = args.get("instance")
        if isinstance(instance, str) and IDENTIFIER.fullmatch(instance):
            names.append((f"instance {instance}", instance))
        for what, root in names:
            if root not in known and root not in BUILTIN_NAMES - {"i"}:
                close = difflib.get_close_matches(root, [*known, *BUILTIN_NAMES], n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                self.problem(where, f"{what} names {root!r}, which no variable or earlier save is{hint}")


def _kind_problem(value: Any, kind: Kind) -> str | None:
    if isinstance(kind, tuple):
        return None if value in kind else f"must be one of {', '.join(kind)}, not {value!r}"
    checks: dict[str, tuple[Callable[[Any], bool], str]] = {
        "str": (lambda v: isinstance(v, str), "must be text"),
        "int": (
            lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 0,
            "must be a whole number",
        ),
        "number": (
            lambda v: isinstance(v, (int, float)) and not isinstance(v, bool) and v >= 0,
            "must be a number, not negative",
        ),
        "bool": (lambda v: isinstance(v, bool), "must be true or false"),
        "map": (lambda v: isinstance(v, Mapping), "must be a mapping"),
        "list": (lambda v: isinstance(v, list), "must be a list"),
        "status": (
            lambda v: (
                (isinstance(v, int) and not isinstance(v, bool))
                or (isinstance(v, list) and all(isinstance(s, int) for s in v))
            ),
            "must be an HTTP status or a list of them",
        ),
        "any": (lambda v: True, ""),
    }
    accepted, reason = checks[kind]
    return None if accepted(value) else reason


def parse_scenario(data: object, *, source: str, file: Path) -> Scenario:
    checker = _Checker(source, file)
    scenario = checker.scenario(data)
    if checker.problems or scenario is None:
        raise ScenarioError(checker.problems or [f"{source}: not a scenario"])
    return scenario


def load_scenario(path: str | Path) -> Scenario:
    """Read and validate a scenario file; `ScenarioError` lists every problem."""
    file = Path(path)
    source = str(path)
    try:
        text = file.read_bytes().decode("utf-8-sig")
    except OSError as exc:
        raise ScenarioError([f"{source}: cannot read the file: {exc.strerror or exc}"]) from None
    except UnicodeDecodeError as exc:
        raise ScenarioError([f"{source}: byte {exc.start}: the file is not UTF-8 text"]) from None
    try:
        data, yaml_problems = read_yaml(text, source)
    except FixtureError as exc:  # the YAML layer's own problems: same reader as fixtures
        raise ScenarioError(exc.problems) from None
    try:
        scenario = parse_scenario(data, source=source, file=file)
    except ScenarioError as exc:
        raise ScenarioError(yaml_problems + exc.problems) from None
    if yaml_problems:
        raise ScenarioError(yaml_problems)
    return scenario


def scenario_dir() -> Path:
    """`scenarios/` of the working directory if there is one, else the copy the package ships."""
    local = Path(SCENARIO_DIR)
    if local.is_dir():
        return local
    return Path(str(resources.files("emulator.scenarios_data")))


def scenario_files(folder: Path | None = None) -> list[Path]:
    """Read from disk on every call, so an edited, added or removed file counts at once."""
    root = folder or scenario_dir()
    return sorted(p for p in root.iterdir() if p.suffix in SUFFIXES and p.is_file())


@dataclass(frozen=True)
class Listing:
    name: str
    file: str
    description: str
    steps: int
    problems: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "file": self.file,
            "description": self.description,
            "steps": self.steps,
            "valid": not self.problems,
            "problems": list(self.problems),
        }


def list_scenarios(folder: Path | None = None) -> list[Listing]:
    found: list[Listing] = []
    for path in scenario_files(folder):
        try:
            scenario = load_scenario(path)
        except ScenarioError as error:
            found.append(Listing(path.stem, str(path), "", 0, tuple(error.problems)))
            continue
        found.append(Listing(scenario.name, str(path), scenario.description, len(scenario.steps), ()))
    return found


def find_scenario(name_or_file: str, folder: Path | None = None) -> Scenario:
    """A file path (anything ending in .yaml or naming a file), else a name in the scenarios folder."""
    path = Path(name_or_file)
    if path.suffix in SUFFIXES or path.is_file():
        if not path.is_file():
            raise ScenarioNotFound(f"no scenario file {name_or_file}")
        return load_scenario(path)
    return find_named(name_or_file, folder)


def find_named(name: str, folder: Path | None = None) -> Scenario:
    """The scenario of that file stem (or `name:`) in the scenarios folder; never a path elsewhere."""
    root = folder or scenario_dir()
    files = scenario_files(root)
    for candidate in files:
        if candidate.stem == name:
            return load_scenario(candidate)
    for candidate in files:  # a `name:` that differs from the file's name
        try:
            scenario = load_scenario(candidate)
        except ScenarioError:
            continue
        if scenario.name == name:
            return scenario
    known = ", ".join(p.stem for p in files) or "none"
    raise ScenarioNotFound(f"no scenario named {name!r} in {root} (known: {known})")
