"""Decontamination against every evaluation set the pipeline knows: the eval split and the traffic
params `evaluate.eval_set` names (an imported CSV or JSONL log), by exact text, n-gram and near-copy."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import yaml

from stages.core.decontamination import EvalNgramIndex
from stages.core.errors import UserError
from stages.core.eval_set import EvalSetColumns, EvalSetParams, eval_set_params
from stages.core.params import load_section
from stages.core.text import words
from stages.dedup.params import DedupParams
from stages.dedup.stage import deduplicate
from stages.evaluate.params import EvaluateParams
from tests.conftest import params_with, read_rows, run_stage, write_lines
from tests.test_dedup import _row

LOGGED = [
    "the driver rang the bell twice and then drove off with our whole weekly shopping still in the van",
    "why is there a charge for delivery on my receipt",
    "cannot log in since the update",
]


def _log(path: Path) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["utterance", "label"])
        for text in LOGGED:
            writer.writerow([text, "not_in_the_taxonomy"])  # decontamination reads every row, whatever its intent
    return path


def test_the_eval_ngram_rule_shared_by_dedup_and_evaluate() -> None:
    index = EvalNgramIndex(ngram=4, min_words=3)
    assert index.add(words("a b c d e f"), 0)  # 4-grams
    assert index.add(words("x y z"), 1)  # under 4 words: the whole text
    assert not index.add(words("p q"), 2)  # under 3 words: no n-gram
    assert index.add(words("c d e f g"), 3)  # shares "c d e f" with text 0
    assert (index.eval_texts_indexed, index.eval_texts_too_short) == (3, 1)
    assert index.first_hit(words("well x y z and c d e f")) == 0  # the longer n-gram first
    assert list(index.hits(words("well x y z and c d e f"))) == [0, 3, 1]
    assert index.first_hit(words("a b c x y p q")) is None  # runs shorter than an n-gram, a short text
    with pytest.raises(ValueError, match="min_words"):
        EvalNgramIndex(ngram=3, min_words=4)


def test_rows_holding_imported_eval_traffic_are_removed(tmp_path: Path) -> None:
    imported = EvalSetParams(path=str(_log(tmp_path / "log.csv")), format="csv",
                             columns=EvalSetColumns(text="utterance", intent="label"))  # fmt: skip
    rows = [
        _row(f"hello, so {LOGGED[0][:-12]}, what now"),  # a 13-word run of the log's first row
        _row("Why is there a charge for delivery on my receipt?"),  # the second, exactly
        _row("cannot log in since the update, please"),  # near the third (6 words: no n-gram)
        _row("my basket was missing the bread"),
    ]
    for path, lines in ((tmp_path / "rows.jsonl", rows), (tmp_path / "seeds.jsonl", []), (tmp_path / "eval.jsonl", [])):
        write_lines(path, lines)
    paths = [tmp_path / name for name in ("rows.jsonl", "seeds.jsonl", "eval.jsonl")]
    metrics = deduplicate(*paths, DedupParams(against_seeds=False), tmp_path / "out", imported)
    removed = {row["messages"][0]["content"]: row for row in read_rows(tmp_path / "out/removed.jsonl")}
    reasons = {text[:12]: (row["reasons"], row["duplicate_of"]) for text, row in removed.items()}
    log = tmp_path / "log.csv"
    assert reasons == {
        "hello, so th": (["ngram_eval"], f"{log}:2"),
        "Why is there": (["exact_eval"], f"{log}:3"),
        "cannot log i": (["near_eval"], f"{log}:4"),
    }
    assert metrics["eval_contamination"] == 3 and metrics["search"]["eval_rows"] == len(LOGGED)
    without = deduplicate(*paths, DedupParams(against_seeds=False), tmp_path / "out2")
    assert without["eval_contamination"] == 0  # without the imported traffic these rows stay


def test_the_stage_reads_evaluate_eval_set_from_params(project: Path) -> None:
    run_stage("seed", project)
    run_stage("generate", project)
    run_stage("filter", project)
    generated = read_rows(project / "data/filter/kept.jsonl")
    text = next(m["content"] for m in generated[0]["messages"] if m["role"] == "user")
    write_lines(project / "imported.jsonl", [{"text": text, "intent": generated[0]["intent"]}])
    params = yaml.safe_load((project / "params.yaml").read_text())
    params["evaluate"]["eval_set"] = {"path": "imported.jsonl", "format": "jsonl"}
    (project / "params.yaml").write_text(yaml.safe_dump(params))
    run_stage("dedup", project)
    removed = read_rows(project / "data/dedup/removed.jsonl")
    assert any(row["duplicate_of"] == "imported.jsonl:1" for row in removed)
    metrics = json.loads((project / "metrics/dedup.json").read_text())
    assert metrics["search"]["eval_rows"] == len(read_rows(project / "data/seed/eval.jsonl")) + 1
    dvc = yaml.safe_load((Path(__file__).resolve().parents[1] / "dvc.yaml").read_text())["stages"]["dedup"]
    assert "${evaluate.eval_set.path}" in dvc["deps"] and "evaluate.eval_set" in dvc["params"]


def test_a_bad_eval_set_block_is_worded_as_the_evaluate_stage_words_it(tmp_path: Path) -> None:
    """dedup reads `evaluate.eval_set` on its own: every problem, as evaluate's load_section says it."""
    path = params_with(tmp_path, "evaluate", "eval_set", {"path": "../elsewhere.csv", "format": "xml"})
    with pytest.raises(UserError) as from_dedup:
        eval_set_params(path)
    with pytest.raises(UserError) as from_evaluate:
        load_section(path, "evaluate", EvaluateParams)
    assert str(from_dedup.value) == str(from_evaluate.value)
    assert "evaluate.eval_set.path: '../elsewhere.csv' is outside the repository" in str(from_dedup.value)
    assert "evaluate.eval_set.format: Input should be 'rows', 'csv' or 'jsonl' (got 'xml')" in str(from_dedup.value)
