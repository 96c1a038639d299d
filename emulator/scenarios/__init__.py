"""Scenario scripts (`scenarios/*.yaml`): load and validate them, then run their steps over HTTP.

A scenario is a list of steps run against an emulator's base URL (a served one, or one started
in-process): provision an instance through the real OAuth endpoints, call the Documents hub as it,
act at Dropbox, move the clock, script the built-in callback sink, inject faults, and `expect`
callbacks. Every step goes through the public HTTP surface, so a scenario proves what a client sees.
Validation reports every problem as `<file>: step <n> (<name>): <reason>` before anything runs; a
run gives a `ScenarioReport`, one line per step. README.md, "Scenarios", documents the vocabulary.

Modules: `model` (scenario and report), `vocabulary` (the actions and their keys), `templates`,
`files` (reading, validating, finding), `runner` (the steps), `expect` (waiting and comparing).
"""

from __future__ import annotations

from emulator.scenarios.expect import matches
from emulator.scenarios.files import (
    Listing,
    find_named,
    find_scenario,
    list_scenarios,
    load_scenario,
    parse_scenario,
    scenario_dir,
    scenario_files,
)
from emulator.scenarios.model import (
    Scenario,
    ScenarioError,
    ScenarioNotFound,
    ScenarioReport,
    Step,
    StepFailure,
    StepReport,
)
from emulator.scenarios.runner import Runner, run_in_process, run_scenario
from emulator.scenarios.templates import render

__all__ = [
    "Listing",
    "Runner",
    "Scenario",
    "ScenarioError",
    "ScenarioNotFound",
    "ScenarioReport",
    "Step",
    "StepFailure",
    "StepReport",
    "find_named",
    "find_scenario",
    "list_scenarios",
    "load_scenario",
    "matches",
    "parse_scenario",
    "render",
    "run_in_process",
    "run_scenario",
    "scenario_dir",
    "scenario_files",
]
