"""Stage generate (built-in backend): variety, provenance, determinism, stable ids."""

from __future__ import annotations

import json
import random
from collections import Counter
from pathlib import Path

import pytest
import yaml

from stages.core.errors import UserError
from stages.core.hashing import sha256_hex
from stages.core.params import load_section
from stages.core.rows import Provenance, schema_problem, user_text
from stages.generate import builtin
from stages.generate.builtin.templates import TEMPLATES, Context
from stages.generate.params import BUILTIN_TEMPLATES, GenerateParams
from stages.generate.stage import generate_builtin
from tests.conftest import params_with, read_rows, run_stage

LEXICON = builtin.load_lexicon(None)  # the neutral default: these tests carry no domain words


def _seeds(project: Path) -> list[dict]:
    run_stage("seed", project)
    return read_rows(project / "data/seed/seeds.jsonl")


def test_rows_are_valid_and_fully_traceable(project: Path) -> None:
    seeds = _seeds(project)
    rows, rejected = generate_builtin(seeds, GenerateParams(seed=3, variations_per_seed=4), LEXICON)
    assert len(rows) + len(rejected) == 4 * len(seeds)
    seed_ids = {seed["id"] for seed in seeds}
    for row in rows + rejected:
        assert schema_problem({k: v for k, v in row.items() if k != "reasons"}) is None
        provenance = Provenance.model_validate(row["provenance"])
        assert provenance.generator == "builtin" and provenance.generator_version == builtin.GENERATOR_VERSION
        assert provenance.seed_ids[0] == row["seed_id"] and set(provenance.seed_ids) <= seed_ids
        assert provenance.template_hash == builtin.template_hash(provenance.template_id, LEXICON)
    assert all(row["reasons"] == ["no_change"] for row in rejected)


def test_every_template_is_used_and_changes_the_user_turn(project: Path) -> None:
    seeds = _seeds(project)
    rows, _ = generate_builtin(seeds, GenerateParams(seed=3, variations_per_seed=7), LEXICON)
    per_template = Counter(row["provenance"]["template_id"] for row in rows)
    # The fixture's seeds are one question each: no opening to lend, so no recombination
    # (tests/test_builtin_generator.py covers it).
    assert set(per_template) == set(BUILTIN_TEMPLATES) - {"recombined"}
    assert max(per_template.values()) <= 2 * min(per_template.values()), per_template
    by_seed = {seed["id"]: seed for seed in seeds}
    for row in rows:
        assert user_text(row) != user_text(by_seed[row["seed_id"]])
        assert row["messages"][-1]["content"].endswith(by_seed[row["seed_id"]]["messages"][-1]["content"])


def test_templates_differ_in_register() -> None:
    text = "Hello, I have not received my parcel and I want to know why. Can you help me please?"
    outputs = {name: fn(text, Context(random.Random(5), 0.8, LEXICON)) for name, fn in TEMPLATES.items()}
    assert len(set(outputs.values())) == len(outputs)
    assert "have not" in outputs["formal_verbose"] and "haven't" in outputs["casual_short"]
    assert len(outputs["casual_short"]) < len(text) < len(outputs["formal_verbose"])
    assert not outputs["casual_short"].lower().startswith("hello")


def test_same_params_same_bytes_and_ids_stable_when_n_grows(project: Path) -> None:
    run_stage("seed", project)
    run_stage("generate", project)
    first = (project / "data/generate/rows.jsonl").read_bytes()
    run_stage("generate", project)
    assert (project / "data/generate/rows.jsonl").read_bytes() == first

    params = yaml.safe_load((project / "params.yaml").read_text())
    params["generate"]["variations_per_seed"] += 2
    (project / "params.yaml").write_text(yaml.safe_dump(params))
    run_stage("generate", project)
    before = {row["id"] for row in (json.loads(line) for line in first.decode().splitlines())}
    after = {row["id"] for row in read_rows(project / "data/generate/rows.jsonl")}
    assert before < after


def test_metrics_report_per_template_and_slice(project: Path) -> None:
    run_stage("seed", project)
    run_stage("generate", project)
    metrics = json.loads((project / "metrics/generate.json").read_text())
    rows = read_rows(project / "data/generate/rows.jsonl")
    assert metrics["rows"] == len(rows)
    assert sum(metrics["by_template"].values()) == len(rows)
    assert sum(s["rows"] for s in metrics["slices"].values()) == len(rows)
    assert set(metrics["slices"]) == {"deliveries", "payments", "account"}
    rejected = read_rows(project / "data/generate/rejected.jsonl")
    assert metrics["rejected"] == len(rejected) == sum(s["rejected"] for s in metrics["slices"].values())
    assert metrics["rejected_by_reason"] == ({"no_change": len(rejected)} if rejected else {})
    assert all(row["reasons"] == ["no_change"] for row in rejected)


def test_zero_variations_is_allowed(project: Path) -> None:
    seeds = _seeds(project)
    assert generate_builtin(seeds, GenerateParams(variations_per_seed=0), LEXICON) == ([], [])


def test_builtin_params_hash_is_the_hash_of_its_content(project: Path) -> None:
    """The builtin settings sit under `generate.builtin`, but rows hash the same content as before."""
    params = GenerateParams(seed=3, variations_per_seed=2)
    content = {
        "backend": "builtin",
        "seed": 3,
        "variations_per_seed": 2,
        "templates": list(BUILTIN_TEMPLATES),
        "temperatures": [0.4, 0.8, 1.2],
        "lexicon": "seeds/lexicon.yaml",
    }
    expected = sha256_hex(content)[:16]
    assert params.provenance_hash("builtin") == expected
    rows, rejected = generate_builtin(_seeds(project), params, LEXICON)
    assert {row["provenance"]["params_hash"] for row in rows + rejected} == {expected}
    warmer = GenerateParams.model_validate({"seed": 3, "variations_per_seed": 2, "builtin": {"temperatures": [1.5]}})
    assert warmer.provenance_hash("builtin") != expected
    assert warmer.provenance_hash("openai") == params.provenance_hash("openai")  # not the teacher's content


@pytest.mark.parametrize(
    ("builtin_params", "message"),
    [
        ({"templates": ["casual_short", "casual_short"]}, "generate.builtin.templates: a template is listed twice"),
        ({"temperatures": [0.4, 2.5]}, "generate.builtin.temperatures: each must be between 0 and 2"),
        ({"templates": []}, "generate.builtin.templates: List should have at least 1 item"),
        ({"temperature": [0.4]}, "generate.builtin.temperature: Extra inputs are not permitted"),
    ],
)
def test_bad_builtin_params_name_the_key(tmp_path: Path, builtin_params: dict, message: str) -> None:
    path = params_with(tmp_path, "generate", "builtin", builtin_params)
    with pytest.raises(UserError) as caught:
        load_section(path, "generate", GenerateParams)
    assert message in str(caught.value)
