"""Stage seed: validation errors name file, line and field; outputs are normalised rows."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import read_rows, run_stage, seed_line


def _append(path: Path, line: dict) -> int:
    """Append a line; return its line number."""
    lines = path.read_text().splitlines()
    path.write_text("\n".join([*lines, json.dumps(line)]) + "\n")
    return len(lines) + 1


def _seed_error(project: Path) -> str:
    result = run_stage("seed", project, check=False)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert not (project / "data/seed/seeds.jsonl").exists(), "no output may be written on a bad seed file"
    return result.stderr


def test_valid_seeds_produce_rows_with_stable_ids(project: Path) -> None:
    run_stage("seed", project)
    first = (project / "data/seed/seeds.jsonl").read_bytes()
    rows = read_rows(project / "data/seed/seeds.jsonl")
    evaluation = read_rows(project / "data/seed/eval.jsonl")
    assert len(rows) == 6 * 4 + 6 and len(evaluation) == 6
    assert {row["origin"] for row in rows} == {"case", "failure"}
    assert all(row["source"] == "human" and row["seed_id"] == row["id"] and row["provenance"] is None for row in rows)
    failure = next(row for row in rows if row["origin"] == "failure")
    assert failure["meta"]["failed_reply"] == "I cannot help with that."
    metrics = json.loads((project / "metrics/seed.json").read_text())
    assert metrics["slices"]["payments"]["critical"] is True
    assert metrics["slices"]["deliveries"]["rows"] == 2 * 4 + 2
    run_stage("seed", project)
    assert (project / "data/seed/seeds.jsonl").read_bytes() == first


def test_whitespace_is_normalised(project: Path) -> None:
    line = seed_line("late_delivery", "deliveries", 50)
    line["messages"][0]["content"] = "  my order   never came \r\n  help  "
    _append(project / "seeds/cases.jsonl", line)
    run_stage("seed", project)
    row = next(r for r in read_rows(project / "data/seed/seeds.jsonl") if r["case_id"] == "late_delivery-050")
    assert row["messages"][0]["content"] == "my order never came\nhelp"


def test_broken_json_line(project: Path) -> None:
    path = project / "seeds/cases.jsonl"
    path.write_text(path.read_text() + '{"case_id": "x", "intent": \n')
    line_no = len(path.read_text().splitlines())
    assert f"seeds/cases.jsonl:{line_no}: not valid JSON" in _seed_error(project)


def test_missing_field(project: Path) -> None:
    line = seed_line("late_delivery", "deliveries", 60)
    del line["intent"]
    line_no = _append(project / "seeds/cases.jsonl", line)
    assert f"seeds/cases.jsonl:{line_no}: field 'intent': Field required" in _seed_error(project)


def test_unknown_intent(project: Path) -> None:
    line_no = _append(project / "seeds/cases.jsonl", seed_line("teleport_money", "deliveries", 1))
    assert (
        f"seeds/cases.jsonl:{line_no}: field 'intent': 'teleport_money' is not in params taxonomy.slices"
        in _seed_error(project)
    )


def test_slice_must_match_intent(project: Path) -> None:
    line_no = _append(project / "seeds/cases.jsonl", seed_line("late_delivery", "payments", 61))
    assert (
        f"seeds/cases.jsonl:{line_no}: field 'slice': 'payments' does not match intent 'late_delivery'"
        in _seed_error(project)
    )


def test_turns_must_end_with_assistant(project: Path) -> None:
    line = seed_line("late_delivery", "deliveries", 62)
    line["messages"].append({"role": "user", "content": "and another thing"})
    line_no = _append(project / "seeds/cases.jsonl", line)
    assert f"seeds/cases.jsonl:{line_no}: field 'messages': the last turn must be the assistant's" in _seed_error(
        project
    )


def test_failure_needs_failed_reply(project: Path) -> None:
    line = seed_line("late_delivery", "deliveries", 63)
    line.pop("pair")
    line_no = _append(project / "seeds/failures.jsonl", line)
    assert f"seeds/failures.jsonl:{line_no}: field 'failed_reply': required in a failure file" in _seed_error(project)


def test_duplicate_case_id(project: Path) -> None:
    line_no = _append(project / "seeds/cases.jsonl", seed_line("late_delivery", "deliveries", 0) | {"author": "JL"})
    assert f"seeds/cases.jsonl:{line_no}: field 'case_id': 'late_delivery-000' already used at" in _seed_error(project)


def test_eval_split_must_not_leak_into_training(project: Path) -> None:
    evaluation = read_rows(project / "seeds/eval_traffic.jsonl")
    line = seed_line("late_delivery", "deliveries", 64)
    line["messages"][0]["content"] = evaluation[0]["messages"][0]["content"].upper()
    _append(project / "seeds/cases.jsonl", line)
    assert "seeds/eval_traffic.jsonl:1: field 'messages': eval user turn also appears in training seeds" in _seed_error(
        project
    )


def test_empty_seed_set(project: Path) -> None:
    (project / "seeds/cases.jsonl").write_text("")
    (project / "seeds/failures.jsonl").write_text("\n")
    assert "the seed set is empty" in _seed_error(project)


def test_missing_seed_file(project: Path) -> None:
    (project / "seeds/failures.jsonl").unlink()
    assert "seeds/failures.jsonl: file not found" in _seed_error(project)


def test_too_few_cases_per_intent(project: Path) -> None:
    import yaml

    params = yaml.safe_load((project / "params.yaml").read_text())
    params["seed"]["min_cases_per_intent"] = 50
    (project / "params.yaml").write_text(yaml.safe_dump(params))
    assert "fewer than seed.min_cases_per_intent=50" in _seed_error(project)
