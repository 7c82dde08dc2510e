"""Issue 12, kinds 7, 8 and 10: paths from params, params errors that point to the key, hostile YAML.

A path from params stays inside the repository unless a param allows it, and the error names the key
and never the file's content; a missing eval file is a params error (before DVC hashes it, too); an
exclusion rule's date must be a real date; a YAML alias bomb is refused at once in one line.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
import yaml

from stages.core.errors import UserError
from stages.core.params import MAX_ALIAS_VALUES, load_section, read_params_file
from stages.evaluate.params import EvaluateParams
from stages.mix.params import MixParams
from tests.conftest import ROOT, make_project, run, run_stage

SECRET = "root:x:0:0:a line that must never be printed"


def _set(project: Path, section: str, path: list[str], value: object) -> None:
    params = yaml.safe_load((project / "params.yaml").read_text())
    node = params[section]
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))


def _project(tmp_path: Path) -> Path:
    (tmp_path / "project").mkdir()
    return make_project(tmp_path / "project")


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A file outside the project (the project is tmp_path/project) holding a line that must stay private."""
    path = tmp_path / "secret.csv"
    path.write_text(f"{SECRET}\n")
    return path


@pytest.mark.parametrize("kind", ["absolute", "dotdot", "symlink"])
def test_an_eval_path_outside_the_repository_is_refused_naming_the_key(
    tmp_path: Path, outside: Path, kind: str
) -> None:
    project = _project(tmp_path)
    value = {"absolute": str(outside), "dotdot": "../secret.csv", "symlink": "data/link.csv"}[kind]
    if kind == "symlink":
        (project / "data").mkdir(exist_ok=True)
        os.symlink(outside, project / "data/link.csv")
    _set(project, "evaluate", ["eval_set", "path"], value)
    with pytest.raises(UserError) as caught:
        load_section(project / "params.yaml", "evaluate", EvaluateParams)
    message = str(caught.value)
    assert "evaluate.eval_set.path: " in message and "is outside the repository" in message
    assert "evaluate.eval_set.allow_outside_repository: true" in message and SECRET not in message
    for stage in ("seed", "evaluate"):  # seed checks it before DVC would hash the evaluate stage's deps
        result = run_stage(stage, project, check=False)
        assert result.returncode == 2 and "outside the repository" in result.stderr and SECRET not in result.stderr


def test_an_outside_path_is_read_when_a_param_allows_it(tmp_path: Path, outside: Path) -> None:
    project = _project(tmp_path)
    _set(project, "evaluate", ["eval_set", "allow_outside_repository"], True)
    _set(project, "evaluate", ["eval_set", "path"], str(outside))
    assert load_section(project / "params.yaml", "evaluate", EvaluateParams).eval_set.path == str(outside)


@pytest.mark.parametrize("value", ["data/imported/missing.csv", "seeds/typo_eval.jsonl"])
def test_a_missing_eval_file_is_a_params_error_naming_the_key(project: Path, value: str) -> None:
    _set(project, "evaluate", ["eval_set", "path"], value)
    for stage in ("seed", "evaluate"):
        result = run_stage(stage, project, check=False)
        assert result.returncode == 2 and "Traceback" not in result.stderr
        assert f"params.yaml: evaluate.eval_set.path: '{value}' does not exist" in result.stderr


@pytest.mark.dvc
def test_dvc_repro_reports_a_missing_eval_file_as_a_params_error(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    shutil.copytree(
        ROOT, repo, ignore=shutil.ignore_patterns(".venv", ".git", "data", ".dvc", "*.egg-info", "__pycache__")
    )
    run(["git", "init", "-q"], repo)
    run(["dvc", "init", "-q"], repo)
    make_project(repo)  # the small seed set, so the stages before evaluate run fast
    _set(repo, "evaluate", ["eval_set", "path"], "data/imported/log.csv")
    result = run(["dvc", "repro", "seed"], repo, check=False)
    assert result.returncode != 0 and "Errno" not in result.stdout + result.stderr
    assert (
        "params.yaml: evaluate.eval_set.path: 'data/imported/log.csv' does not exist" in result.stdout + result.stderr
    )


@pytest.mark.parametrize("date", ["2026-13-01", "2026-02-30", "2026-00-10", "2026-04-31"])
def test_an_exclusion_rule_date_must_be_a_real_date(tmp_path: Path, date: str) -> None:
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["mix"]["exclude"] = [{"name": "october-batch", "generated_from": date}]
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    with pytest.raises(UserError, match=rf"mix\.exclude\.0\.generated_from: '{date}' is not a date"):
        load_section(tmp_path / "params.yaml", "mix", MixParams)


def test_an_exclusion_rule_window_must_not_be_reversed() -> None:
    with pytest.raises(ValueError, match="generated_from is after generated_until"):
        MixParams.model_validate({"exclude": [
            {"name": "r", "generated_from": "2026-10-31", "generated_until": "2026-10-01"}]})  # fmt: skip


def _bomb(levels: int, width: int = 9) -> str:
    lines = ['  a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for level in range(1, levels):
        refs = ", ".join([f"*a{level - 1}"] * width)
        lines.append(f"  a{level}: &a{level} [{refs}]")
    return "seed:\n" + "\n".join(lines) + "\n"


@pytest.mark.parametrize("levels", [5, 9, 30])
def test_a_yaml_alias_bomb_is_refused_in_one_line(tmp_path: Path, levels: int) -> None:
    (tmp_path / "params.yaml").write_text(_bomb(levels))
    with pytest.raises(UserError) as caught:
        read_params_file(tmp_path / "params.yaml")
    message = str(caught.value)
    assert "YAML aliases would add" in message and "alias bomb" in message and "\n" not in message


def test_a_bomb_in_a_stage_section_stops_the_stage_without_a_traceback(project: Path) -> None:
    text = (project / "params.yaml").read_text()
    (project / "params.yaml").write_text(text.replace("seed:\n", _bomb(9).replace("seed:\n", "seed:\n"), 1))
    result = run_stage("seed", project, check=False)
    assert result.returncode == 2 and "Traceback" not in result.stderr and "alias bomb" in result.stderr
    result = run(["python", "-m", "stages.validate", "--params", str(project / "params.yaml")], project, check=False)
    assert result.returncode == 2 and "alias bomb" in result.stderr


def test_a_few_aliases_and_other_yaml_faults_are_fine_or_named(tmp_path: Path) -> None:
    path = tmp_path / "params.yaml"
    path.write_text("seed:\n  base: &b {min_cases_per_intent: 3}\n  copy: *b\n")
    assert read_params_file(path)["seed"]["copy"] == {"min_cases_per_intent": 3}
    path.write_text(
        "seed:\n  x: &x [1, 2]\n" + "".join(f"  y{i}: [*x, *x, *x]\n" for i in range(MAX_ALIAS_VALUES // 9))
    )
    assert read_params_file(path)  # just under the budget: accepted
    path.write_text("seed: &s\n  me: *s\n")
    with pytest.raises(UserError, match="recursive alias"):
        read_params_file(path)
    path.write_text("seed:\n  a: [" * 3000 + "]" * 3000 + "\n")
    with pytest.raises(UserError, match=r"params\.yaml:\d+: not valid YAML \(.*that starts at line \d+\)"):
        read_params_file(path)
    path.write_bytes(b"seed:\n  note: caf\xe9\n")
    with pytest.raises(UserError, match=r"params\.yaml:2: not valid UTF-8"):
        read_params_file(path)
