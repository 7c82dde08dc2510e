"""Reviews made on the built-in generator's rows, then a switch to a teacher (README, "Reviews made
before the switch"): the review stage stops naming every verdict whose row is gone and what to do;
with `review.on_unknown_id: warn` the pipeline goes on and counts them; switching back applies them again.
The teacher is tests/openai_server.py over real HTTP, through the real stages."""

from __future__ import annotations

import csv
import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import ROOT, make_project, read_rows, run_stage
from tests.openai_server import TEST_API_KEY, FakeOpenAIServer
from tests.test_teacher import teacher_settings

AFTER_SEED = ("generate", "filter", "dedup", "review")


@pytest.fixture
def server() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer() as fake:
        yield fake


def _set(project: Path, section: str, values: dict[str, Any]) -> None:
    params = yaml.safe_load((project / "params.yaml").read_text())
    params[section].update(values)
    (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))


def _run(project: Path, check: bool = True) -> str:
    """generate to review, as `dvc repro` runs them; the review stage's stderr."""
    for stage in AFTER_SEED:
        result = run_stage(stage, project, check=check or stage != "review")
    return result.stderr


def test_verdicts_on_built_in_rows_after_a_switch_to_a_teacher(
    tmp_path: Path, server: FakeOpenAIServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", TEST_API_KEY)
    project = make_project(tmp_path)
    shutil.copytree(ROOT / "prompts", project / "prompts")
    run_stage("seed", project)
    _set(project, "generate", {"variations_per_seed": 2, "openai": teacher_settings(server.base_url)})
    _run(project)
    ids = [row["id"] for row in read_rows(project / "data/review/queue.jsonl")[:2]]
    with (project / "seeds/reviews/decisions.csv").open("a", newline="") as handle:
        csv.writer(handle).writerows([[row_id, "approve", "", "", "ana", ""] for row_id in ids])
    _run(project)
    assert json.loads((project / "metrics/review.json").read_text())["decisions_unknown"] == 0

    _set(project, "generate", {"backend": "openai"})
    stderr = _run(project, check=False)
    lines = stderr[stderr.index("error: ") :].splitlines()
    assert lines[0] == "error: 2 problem(s):" and len(lines) == 3, stderr
    for line, row_id in zip(lines[1:], ids, strict=True):
        assert f"field 'id': unknown row id '{row_id}'" in line
        assert "another generator" in line and "set review.on_unknown_id: warn" in line

    _set(project, "review", {"on_unknown_id": "warn"})
    _run(project)
    assert json.loads((project / "metrics/review.json").read_text())["decisions_unknown"] == 2

    _set(project, "generate", {"backend": "builtin"})  # the same params give the same rows: the verdicts apply
    _run(project)
    reviewed = {row["id"]: row["review"]["status"] for row in read_rows(project / "data/review/rows.jsonl")}
    assert [reviewed[row_id] for row_id in ids] == ["approved", "approved"]
    assert json.loads((project / "metrics/review.json").read_text())["decisions_unknown"] == 0
