"""Shared library: JSONL errors, atomic writes, params validation, row ids."""

from __future__ import annotations

import importlib
import json
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
        "intent": "late_delivery", "slice": "deliveries", "source": "human", "origin": "case",
        "case_id": "c1", "seed_id": "x" * 20, "provenance": None, "meta": {},
    }  # fmt: skip
    row.update(changes)
    row["id"] = row_id(row)
    return row


def test_row_id_is_a_content_hash() -> None:
    assert row_id(_row()) == row_id(_row())
    assert row_id(_row()) != row_id(_row(intent="damaged_item"))
    assert schema_problem(_row()) is None


def test_schema_problems_are_described() -> None:
    assert "provenance" in (schema_problem(_row(source="synthetic")) or "")
    wrong_order = _row(messages=[{"role": "assistant", "content": "a"}, {"role": "user", "content": "b"}])
    assert "turn 1 should be 'user'" in (schema_problem(wrong_order) or "")


# Each stage's DVC-tracked outputs, as its command line names them (dvc.yaml runs every stage with defaults).
STAGE_OUTPUTS = {
    "seed": {"--out": "data/seed", "--metrics": "metrics/seed.json"},
    "generate": {"--out": "data/generate", "--metrics": "metrics/generate.json"},
    "filter": {"--out": "data/filter", "--metrics": "metrics/filter.json"},
    "dedup": {"--out": "data/dedup", "--metrics": "metrics/dedup.json"},
    "review": {"--out": "data/review", "--metrics": "metrics/review.json"},
    "mix": {"--out": "data/mix", "--metrics": "metrics/mix.json", "--composition": "metrics/mix_composition.csv"},
    "evaluate": {
        "--out": "data/evaluate",
        "--metrics": "metrics/evaluate.json",
        "--plot": "metrics/evaluate_slices.csv",
    },
}
# An input of each stage (the rows it reads, or its params) and its pipeline path.
INPUT = {"seed": ("--cases", "seeds/cases.jsonl"), "generate": ("--seeds", "data/seed/seeds.jsonl"),
         "filter": ("--rows", "data/generate/rows.jsonl"), "dedup": ("--rows", "data/filter/kept.jsonl"),
         "review": ("--rows", "data/dedup/kept.jsonl"), "mix": ("--reviewed", "data/review/rows.jsonl"),
         "evaluate": ("--params", "params.yaml")}  # fmt: skip


@pytest.mark.parametrize("stage", sorted(STAGE_OUTPUTS))
def test_a_stage_run_on_other_inputs_must_name_its_outputs(project: Path, stage: str) -> None:
    """A standalone run (an input or option that is not the pipeline's) would overwrite the pipeline's
    DVC-tracked outputs with what no pipeline stage made: without every output named it stops, in one
    line naming what to give, and writes nothing; --help says so, naming the outputs. The pipeline's
    own input named by its absolute path is still the pipeline's run."""
    outputs = STAGE_OUTPUTS[stage]
    flag, pipeline_path = INPUT[stage]
    (project / "mine").write_text("")
    for given in ([], list(outputs)[:1]):
        flags = [part for output in given for part in (output, f"elsewhere/{Path(outputs[output]).name}")]
        result = run_stage(stage, project, flag, "mine", *flags, check=False)
        left = [output for output in outputs if output not in given]
        missing = " and ".join([", ".join(left[:-1]), left[-1]]) if len(left) > 1 else left[0]
        assert result.returncode == 2 and result.stderr.count("\n") == 1, result.stderr
        assert result.stderr.startswith(f"error: this run is not the pipeline's ({flag} differs from its defaults)")
        assert f"so give {missing} too" in result.stderr
        assert not (project / "data").exists() and not (project / "metrics").exists()
        assert not (project / "elsewhere").exists()
    help_text = run_stage(stage, project, "--help").stdout
    assert "Standalone runs:" in help_text and all(path in help_text for path in outputs.values()), help_text
    result = run_stage(stage, project, flag, str(project / pipeline_path), check=False)
    assert "this run is not the pipeline's" not in result.stderr, result.stderr
    if stage == "seed":
        assert json.loads((project / "metrics/seed.json").read_text())["rows"] > 0


@pytest.mark.parametrize("stage", sorted(STAGE_OUTPUTS))
def test_every_pipeline_input_given_explicitly_is_still_the_pipeline_run(stage: str) -> None:
    """dvc.yaml and scripts (bench/bench_banking77.py runs `--params params.yaml`) may name the pipeline's
    own inputs: each given explicitly, alone, all together, as ./path or absolute, is still the pipeline's
    run, so its outputs default to the pipeline's. A None default must say which file it stands for."""
    parser = importlib.import_module(f"stages.{stage}.stage").build_parser()
    given: list[list[str]] = []
    for flag, value in parser.pipeline_inputs().items():
        assert value is not None, f"{stage} {flag}: a None default must name the pipeline file it stands for"
        if isinstance(value, Path):
            given.append([flag, str(value)])
            given.append([flag, f"./{value}" if not value.is_absolute() else str(value)])
            given.append([flag, str(value.resolve())])
        elif isinstance(value, list):
            given.append([flag, *(str(path) for path in value)])
    assert given
    for argv in [*given, [part for pair in given[::3] for part in pair]]:
        args = parser.parse(argv)
        assert {dest: str(path) for dest, path in vars(args).items() if dest in ("out", "metrics")} == {
            dest: outputs for dest, outputs in [("out", STAGE_OUTPUTS[stage]["--out"]),
                                                ("metrics", STAGE_OUTPUTS[stage]["--metrics"])]
        }, argv  # fmt: skip
