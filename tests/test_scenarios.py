"""Scenario scripts: every shipped one passes in-process, through the CLI against `serve`, and through
the control plane; failures name the step with expected against received; bad files name file,
step and reason before anything runs."""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from starlette.testclient import TestClient

from emulator.assemble import load_runtime
from emulator.cli import main
from emulator.scenarios import (
    ScenarioError,
    ScenarioReport,
    StepFailure,
    find_scenario,
    list_scenarios,
    load_scenario,
    matches,
    render,
    run_scenario,
)
from emulator.server import ServerThread
from emulator.web.app import create_app
from tests.conftest import DEFAULT_FIXTURE, ROOT
from tests.serving import serving

SHIPPED = ROOT / "scenarios"
NAMES = [found.name for found in list_scenarios(SHIPPED)]


@pytest.fixture(scope="module")
def server() -> Iterator[ServerThread]:
    running = ServerThread(load_runtime(DEFAULT_FIXTURE)).start()
    yield running
    running.stop()


@pytest.fixture(scope="module")
def served() -> Iterator[str]:
    """`hub-emulator serve --port 0` as users run it: a real clock, in a process of its own."""
    with serving("--fixtures", str(DEFAULT_FIXTURE)) as server:
        yield server.url


def run(path: Path | str, url: str) -> ScenarioReport:
    return asyncio.run(run_scenario(find_scenario(str(path)), url))


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


# -- the shipped scenarios --------------------------------------------------------------------
def test_at_least_five_scenarios_ship_and_all_are_valid() -> None:
    listed = list_scenarios(SHIPPED)
    assert len(listed) >= 5
    assert [found.problems for found in listed] == [() for _ in listed]
    assert {
        "guide-folder-create",
        "guide-async-copy",
        "dropbox-upload-burst",
        "failing-endpoint-recovers",
        "polling-catch-up",
    } <= set(NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_shipped_scenario_passes_in_process(name: str, server: ServerThread) -> None:
    report = run(SHIPPED / f"{name}.yaml", server.url)
    assert report.passed, "\n".join(report.lines())


@pytest.mark.parametrize("name", NAMES)
def test_shipped_scenario_passes_through_the_cli_against_serve(name: str, served: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "emulator", "scenario", "run", name, "--url", served],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.splitlines()[-1].startswith("passed:")
    assert "✗" not in done.stdout


def test_the_serve_clock_is_given_back_after_a_run(served: str) -> None:
    clock = httpx.get(f"{served}/_emulator/clock").json()
    assert clock["mode"] == "real"


@pytest.mark.parametrize("name", NAMES)
def test_control_plane_runs_a_scenario_and_answers_its_report(name: str, server: ServerThread) -> None:
    answer = httpx.post(f"{server.url}/_emulator/scenarios/{name}/run", timeout=60)
    assert answer.status_code == 200, answer.text
    report = answer.json()
    assert report["status"] == "passed" and report["name"] == name
    assert all(step["status"] == "passed" for step in report["steps"])


def test_cli_runs_a_scenario_in_process_when_no_url_is_given(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["scenario", "run", str(SHIPPED / "guide-folder-create.yaml"), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["status"] == "passed"
    assert report["notes"][0].startswith("in-process on")


def test_cli_lists_the_scenarios(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    assert main(["scenario", "list"]) == 0
    out = capsys.readouterr().out
    assert all(name in out for name in NAMES)


# -- failures ---------------------------------------------------------------------------------
FAILING = """
name: wrong-path
description: expects a path that is not the one created
steps:
  - provision:
      config: {event.notification.enabled: true, event.notification.callback.url: "{{sink}}"}
    save: inst
  - dropbox: {op: mkdir, path: /Actual}
  - name: the webhook names /expected
    expect: {instance: inst, paths: [/expected]}
  - clock: {seconds: 1}
"""


def test_a_failing_expect_names_the_step_and_shows_expected_against_received(
    server: ServerThread, tmp_path: Path
) -> None:
    report = run(write(tmp_path, "wrong.yaml", FAILING), server.url)
    assert not report.passed
    assert [s.status for s in report.steps] == ["passed", "passed", "failed", "skipped"]
    failed = report.steps[2]
    assert failed.expected == ["/expected"] and failed.received == ["/actual"]
    assert report.summary() == (
        'FAILED at step 3 (the webhook names /expected): expected paths ["/expected"], received ["/actual"]'
    )
    body = report.to_json()["steps"][2]
    assert body["expected"] == ["/expected"] and body["received"] == ["/actual"]


def test_a_missing_callback_fails_within_the_time_given(server: ServerThread, tmp_path: Path) -> None:
    text = FAILING.replace("paths: [/expected]", "count: 2, within: 0.2")
    report = run(write(tmp_path, "short.yaml", text), server.url)
    failed = report.failed_step
    assert failed is not None and failed.number == 3
    assert failed.message.startswith(
        "expected 2 notifications delivered (instanceId=100) within 0.2 s, received 1"
    )
    assert failed.expected == 2 and len(failed.received) == 1


def test_cli_exits_1_and_prints_the_failed_step(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["scenario", "run", str(write(tmp_path, "wrong.yaml", FAILING))]) == 1
    out = capsys.readouterr().out
    assert re.search(r"✗  3  the webhook names /expected .* expected paths", out)
    assert out.splitlines()[-1].startswith("FAILED at step 3 (the webhook names /expected)")


def test_the_control_plane_answers_422_with_the_report_when_a_step_fails(
    server: ServerThread, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "scenarios").mkdir()
    write(tmp_path / "scenarios", "wrong.yaml", FAILING)
    monkeypatch.chdir(tmp_path)  # the server reads scenarios/ of its working directory, on each request
    answer = httpx.post(f"{server.url}/_emulator/scenarios/wrong-path/run", timeout=30)
    assert answer.status_code == 422
    assert answer.json()["steps"][2]["status"] == "failed"


# -- bad files ----------------------------------------------------------------------------------
BAD = """
name: bad-one
steps:
  - provision: {acount: alice}
    save: inst
  - name: make a folder
    hub: {instance: isnt, path: folders}
  - sleep: 60
  - expect: {count: 2, sink: true, status: queued}
  - frobnicate: {}
  - dropbox: {op: move, path: "/{{nothing}}"}
"""


def test_a_bad_file_reports_every_problem_with_file_step_and_reason(tmp_path: Path) -> None:
    path = write(tmp_path, "bad.yaml", BAD)
    with pytest.raises(ScenarioError) as raised:
        load_scenario(path)
    assert raised.value.problems == [
        f"{path}: step 1: unknown key 'acount' (did you mean 'account'?)",
        f"{path}: step 2 (make a folder): hub: path must start with / (it is under /hubs/documents), "
        "not 'folders'",
        f"{path}: step 2 (make a folder): instance isnt names 'isnt', which no variable or earlier save is "
        "(did you mean 'inst'?)",
        f"{path}: step 3: sleep: a sleep is at most 10 seconds of wall time; move the clock instead",
        f"{path}: step 4: expect: status: only for the delivery journal, not with sink",
        f"{path}: step 5: unknown key 'frobnicate'; actions: provision, hub, request, dropbox, clock, sleep, "
        "fault, trigger, sink, redeliver, policy, expect",
        f"{path}: step 6: dropbox: a move needs to",
        f"{path}: step 6: {{{{nothing}}}} names 'nothing', which no variable or earlier save is",
    ]


def test_invalid_yaml_names_the_line(tmp_path: Path) -> None:
    path = write(tmp_path, "broken.yaml", "name: x\nsteps:\n  - clock: {seconds: 1\n")
    with pytest.raises(ScenarioError) as raised:
        load_scenario(path)
    assert re.match(rf"{re.escape(str(path))}: line \d+, column \d+: invalid YAML", raised.value.problems[0])


def test_cli_prints_the_problems_of_a_bad_file_and_runs_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["scenario", "run", str(write(tmp_path, "bad.yaml", BAD))]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "step 1: unknown key 'acount'" in captured.err


def test_an_unknown_scenario_is_a_usage_error_exit_2_not_a_failed_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["scenario", "run", "no-such-scenario"]) == 2
    err = capsys.readouterr().err
    assert "no scenario named 'no-such-scenario' in " in err and "guide-folder-create" in err
    assert main(["scenario", "run", str(tmp_path / "missing.yaml")]) == 2
    assert "no scenario file" in capsys.readouterr().err


# -- the fixture line: used by in-process runs only ----------------------------------------------
ELSEWHERE = """
name: elsewhere
fixture: ../fixtures/other.yaml
steps:
  - dropbox: {op: mkdir, path: /Made}
"""


def test_a_served_run_ignores_the_fixture_line_and_says_so(served: str, tmp_path: Path) -> None:
    scenario = write(tmp_path, "elsewhere.yaml", ELSEWHERE)
    done = subprocess.run(
        [sys.executable, "-m", "emulator", "scenario", "run", str(scenario), "--url", served, "--json"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    [note] = json.loads(done.stdout)["notes"]
    assert note.startswith(f"fixture {tmp_path.parent / 'fixtures' / 'other.yaml'} not used")


def test_an_in_process_run_needs_the_fixture_it_names(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    scenario = write(tmp_path, "elsewhere.yaml", ELSEWHERE)
    assert main(["scenario", "run", str(scenario)]) == 1
    err = capsys.readouterr().err
    assert f"{scenario}: fixture: no file {tmp_path.parent / 'fixtures' / 'other.yaml'}" in err
    # --fixtures replaces the line, so the file it names is not needed.
    assert main(["scenario", "run", str(scenario), "--fixtures", str(DEFAULT_FIXTURE)]) == 0


def test_the_registry_rereads_the_folder_so_edits_count_at_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "scenarios"
    folder.mkdir()
    monkeypatch.chdir(tmp_path)
    with TestClient(create_app(load_runtime(DEFAULT_FIXTURE))) as client:
        assert client.get("/_emulator/scenarios").json() == []
        write(folder, "one.yaml", "description: first\nsteps:\n  - clock: {seconds: 1}\n")
        [listed] = client.get("/_emulator/scenarios").json()
        assert listed == {
            "name": "one",
            "file": "scenarios/one.yaml",
            "description": "first",
            "steps": 1,
            "valid": True,
            "problems": [],
        }
        write(folder, "one.yaml", "description: first\nsteps:\n  - clock: {secs: 1}\n")
        [listed] = client.get("/_emulator/scenarios").json()
        assert not listed["valid"] and "unknown key 'secs'" in listed["problems"][0]
        refused = client.post("/_emulator/scenarios/one/run")
        assert refused.status_code == 400 and refused.json()["problems"] == listed["problems"]
        assert client.post("/_emulator/scenarios/two/run").status_code == 404


# -- the vocabulary -------------------------------------------------------------------------------
TOUR = """
name: tour
description: every action once
dialect: your_moms
variables: {folder: /Tour}
steps:
  - provision:
      config: {event.notification.enabled: true, event.notification.callback.url: "{{sinks.hook}}"}
    save: {as: token, from: body.token}
  - name: the instance as a whole
    request: {path: /your_moms/api-v2/instances, auth: platform, body: [{token: "{{token}}"}]}
    save: {as: inst, from: body.0}
  - hub:
      instance: inst
      method: POST
      path: /files
      query: {path: "{{folder}}/a.txt"}
      file: {name: a.txt, content: hello}
    save: uploaded
  - name: a refused call with its expected status
    hub: {token: "{{token}}", path: /files/metadata, query: {path: /missing.txt}, status: 404}
  - expect: {instance: inst, url: "{{sinks.hook}}", paths: ["/tour", "/tour/a.txt"], order: any}
  - fault: {action: fail, url: "{{sinks.hook}}", count: 1, status: 502}
  - trigger: {instance: inst, events: [{path: /Tour/b.txt}]}
    save: triggered
  - expect: {instance: inst, kind: trigger, attempts: 1, outcomes: [failed]}
  - clock: {seconds: 4}
  - expect:
      instance: inst
      kind: trigger
      count: 1
      tries: 2
      events: [{path: /tour/b.txt, metadata: {name: b.txt, type: file}}]
  - fault: {clear: true}
  - sleep: 0.01
  - name: an injected failure never reaches the receiver
    expect: {sink: hook, count: 2, answers: [200, 200]}
  - dropbox: {op: upload, path: "/Tour/n{{i}}.txt", content: "{{i}}"}
    repeat: 2
    save: {as: uploads, from: body.metadata.name}
  - expect: {sink: hook, count: 4, within: 5}
  - sink: {name: hook, clear: true}
  - expect: {sink: hook, count: 0}
  - request: {path: "/_emulator/sinks/{{scenario}}", body: {count: 0}}
"""


def test_every_action_of_the_vocabulary(server: ServerThread, tmp_path: Path) -> None:
    report = run(write(tmp_path, "tour.yaml", TOUR), server.url)
    assert report.passed, "\n".join(report.lines())
    assert report.steps[13].message == "2 times; last: upload /Tour/n2.txt at alice"


def test_templates_keep_types_format_and_fail_on_unknown_names() -> None:
    context = {"inst": {"id": 7, "tags": ["a", "b"]}, "i": 3, "base": "http://x"}
    assert render("{{inst.id}}", context) == 7
    assert render({"k": ["{{ inst.tags.-1 }}"]}, context) == {"k": ["b"]}
    assert render("{{base}}/n-{{i:03d}}/{{inst.tags}}", context) == 'http://x/n-003/["a", "b"]'
    with pytest.raises(StepFailure, match="nothing at 'nope'"):
        render("{{inst.nope}}", context)


def test_patterns_match_mappings_partially_and_lists_exactly() -> None:
    assert matches({"a": {"b": 1}}, {"a": {"b": 1, "c": 2}, "d": 3})
    assert not matches({"a": 1}, {"a": True})
    assert matches([{"x": 1}, {}], [{"x": 1, "y": 2}, {"z": 0}])
    assert not matches([1], [1, 2])
