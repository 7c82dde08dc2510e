"""Shared library: JSONL errors, atomic writes, params validation, row ids."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from stages.core.errors import UserError
from stages.core.jsonl import atomic_open, read_jsonl, write_jsonl
from stages.core.params import Taxonomy, load_section
from stages.core.rows import row_id, schema_problem
from stages.generate.params import GenerateParams
from stages.validate import load_all
from tests.conftest import ROOT, params_with, run_stage


def test_bad_json_line_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "rows.jsonl"
    path.write_text('{"a": 1}\n\n{"a": \n')
    with pytest.raises(UserError, match=r"rows\.jsonl:3: not valid JSON"):
        read_jsonl(path)


def test_atomic_write_leaves_old_file_on_failure(tmp_path: Path) -> None:
    path = tmp_path / "out.jsonl"
    write_jsonl(path, [{"a": 1}])
    with pytest.raises(RuntimeError), atomic_open(path) as handle:
        handle.write("partial")
        raise RuntimeError("crash mid-write")
    assert read_jsonl(path) == [{"a": 1}]
    assert [p.name for p in tmp_path.iterdir()] == ["out.jsonl"]


def test_repository_params_are_valid() -> None:
    sections = load_all(ROOT / "params.yaml")
    assert isinstance(sections["generate"], GenerateParams) and sections["generate"].backend == "builtin"
    taxonomy = sections["taxonomy"]
    assert isinstance(taxonomy, Taxonomy) and set(taxonomy.critical) <= set(taxonomy.slices)


@pytest.mark.parametrize(
    ("section", "key", "value", "message"),
    [
        (
            "generate",
            "variations_per_seed",
            -1,
            "generate.variations_per_seed: Input should be greater than or equal to 0",
        ),
        ("generate", "backend", "nope", "generate.backend: Input should be 'builtin'"),
        ("generate", "builtin", {"templates": ["word_edits", "bogus"]}, "unknown builtin template(s) ['bogus']"),
        ("dedup", "bands", 64, "bands x rows_per_band = 512 exceeds num_perm = 128"),
        ("mix", "min_human_share", 1.5, "mix.min_human_share: Input should be less than or equal to 1"),
        ("filter", "max_user_char", 10, "filter.max_user_char: Extra inputs are not permitted"),
    ],
)
def test_bad_param_names_the_key(tmp_path: Path, section: str, key: str, value: object, message: str) -> None:
    path = params_with(tmp_path, section, key, value)
    with pytest.raises(UserError) as caught:
        load_all(path)
    assert message in str(caught.value)
    assert str(path) in str(caught.value)


def test_bad_param_stops_its_stage_without_traceback(project: Path) -> None:
    params = yaml.safe_load((project / "params.yaml").read_text())
    params["generate"]["variations_per_seed"] = -3
    (project / "params.yaml").write_text(yaml.safe_dump(params))
    run_stage("seed", project)  # seed does not read `generate`, so it is not held up by it
    result = run_stage("generate", project, check=False)
    assert result.returncode == 2
    assert "params.yaml: generate.variations_per_seed" in result.stderr
    assert "Traceback" not in result.stderr


def test_critical_slice_must_exist(tmp_path: Path) -> None:
    critical = yaml.safe_load((ROOT / "params.yaml").read_text())["taxonomy"]["critical"]
    path = params_with(tmp_path, "taxonomy", "critical", [*critical, "space_travel"])
    with pytest.raises(UserError, match=r"taxonomy: critical slice\(s\) \['space_travel'\]"):
        load_section(path, "taxonomy", Taxonomy)


def test_unknown_section_is_named(tmp_path: Path) -> None:
    path = tmp_path / "params.yaml"
    path.write_text((ROOT / "params.yaml").read_text() + "\ngenerat:\n  seed: 1\n")
    with pytest.raises(UserError, match=r"unknown section\(s\) \['generat'\]"):
        load_section(path, "generate", GenerateParams)


def _row(**changes: object) -> dict:
    row = {
        "messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello there"}],
        "intent": "card_arrival", "slice": "cards", "source": "human", "origin": "case",
        "case_id": "c1", "seed_id": "x" * 20, "provenance": None, "meta": {},
    }  # fmt: skip
    row.update(changes)
    row["id"] = row_id(row)
    return row


def test_row_id_is_a_content_hash() -> None:
    assert row_id(_row()) == row_id(_row())
    assert row_id(_row()) != row_id(_row(intent="card_not_working"))
    assert schema_problem(_row()) is None


def test_schema_problems_are_described() -> None:
    assert "provenance" in (schema_problem(_row(source="synthetic")) or "")
    wrong_order = _row(messages=[{"role": "assistant", "content": "a"}, {"role": "user", "content": "b"}])
    assert "turn 1 should be 'user'" in (schema_problem(wrong_order) or "")
