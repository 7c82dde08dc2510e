"""Stage evaluate: metrics layout, imported eval sets and their errors, the leak check, determinism, verdicts."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from sklearn.metrics import accuracy_score, f1_score

from stages.core.errors import UserError
from stages.core.eval_set import EvalExample, load_eval_set
from stages.core.params import Taxonomy, load_section
from stages.evaluate.diversity import DiversityMeter, distinct_n
from stages.evaluate.leaks import find_leaks
from stages.evaluate.params import EvalSetColumns, EvalSetParams, EvaluateParams, LeakCheckParams, ProbeParams
from stages.evaluate.probe import NO_PREDICTION, train_probe
from stages.evaluate.scoring import TRAIN_SETS, EvalScorer, score_probes, verdict
from tests.conftest import CRITICAL, TAXONOMY, make_project, read_rows, run_stage, write_lines

TAX = Taxonomy(slices=TAXONOMY, critical=CRITICAL)
PIPELINE = ("seed", "generate", "filter", "dedup", "review", "mix")


def set_params(project: Path, section: str, values: dict[str, Any]) -> None:
    params = yaml.safe_load((project / "params.yaml").read_text())
    params[section] = {**params[section], **values}
    (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))


@pytest.fixture(scope="module")
def mixed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small project run through mix, with synthetic rows in every slice (no review needed)."""
    project = make_project(tmp_path_factory.mktemp("evaluate"))
    set_params(project, "mix", {"critical_requires_approval": False})
    for stage in PIPELINE:
        run_stage(stage, project)
    run_stage("evaluate", project)
    return project


def train_user_text(project: Path) -> tuple[str, str]:
    """(user text, intent) of one human training row of the mix."""
    rows = read_rows(project / "data/mix/rows.jsonl")
    row = next(r for r in rows if r["split"] == "train" and r["source"] == "human")
    return row["messages"][0]["content"], row["intent"]


# --- the stage end to end ------------------------------------------------------------------------


def test_metrics_layout_reads_well_in_dvc_metrics_diff(mixed: Path) -> None:
    metrics = json.loads((mixed / "metrics/evaluate.json").read_text())
    assert metrics["eval_set"] == {"rows": 6, "leaked_removed": 0, "skipped_unknown_intent": 0, "intents": 6,
                                   "leaked_by_match": {"exact": 0, "ngram": 0, "near": 0}}  # fmt: skip
    for block in [metrics["overall"], *metrics["slices"].values()]:
        for name in TRAIN_SETS:
            figures = block[name]
            assert figures["accuracy_ci_low"] <= figures["accuracy"] <= figures["accuracy_ci_high"]
            assert 0 <= figures["macro_f1_ci_low"] <= figures["macro_f1_ci_high"] <= 1
        assert {"mix_worse_than_human", "mix_better_than_human", "synthetic_collapse"} <= set(block)
        assert set(block["mix_minus_human"]) == {"accuracy", "accuracy_ci_low", "accuracy_ci_high"}
    assert set(metrics["slices"]) == set(TAXONOMY)
    deliveries = metrics["slices"]["deliveries"]
    assert deliveries["critical"] is False and deliveries["eval_rows"] == 2
    assert (
        deliveries["train_rows"]["mix"] == deliveries["train_rows"]["human"] + deliveries["train_rows"]["synthetic"] > 0
    )
    assert set(metrics["intents"]) == {i for intents in TAXONOMY.values() for i in intents}
    assert metrics["intents"]["late_delivery"]["mix"]["f1"] >= 0
    assert set(metrics["flagged_slices"]) == {"mix_worse_than_human", "mix_better_than_human", "synthetic_collapse"}
    assert metrics["in_distribution"]["eval_rows"] >= 0
    diversity = metrics["diversity"]
    assert set(diversity["slices"]) == set(TAXONOMY)
    assert diversity["templates"] and all("distinct_2" in t for t in diversity["templates"].values())
    assert 0 < diversity["synthetic"]["mean_max_similarity_to_eval"] <= 1

    with (mixed / "metrics/evaluate_slices.csv").open(newline="") as handle:
        plot = list(csv.DictReader(handle))
    assert [row["group"] for row in plot[:3]] == ["overall / human", "overall / synthetic", "overall / mix"]
    assert len(plot) == 3 * (1 + len(TAXONOMY))
    assert float(plot[0]["accuracy"]) == metrics["overall"]["human"]["accuracy"]
    predictions = read_rows(mixed / "data/evaluate/predictions.jsonl")
    assert len(predictions) == 6 and predictions[0]["where"].endswith("eval.jsonl:1")
    assert set(predictions[0]["predicted"]) == set(TRAIN_SETS)
    assert read_rows(mixed / "data/evaluate/leaked.jsonl") == []


def test_same_inputs_give_byte_identical_outputs(mixed: Path) -> None:
    outputs = ["metrics/evaluate.json", "metrics/evaluate_slices.csv", "data/evaluate/predictions.jsonl"]
    before = {name: (mixed / name).read_bytes() for name in outputs}
    run_stage("evaluate", mixed)
    assert {name: (mixed / name).read_bytes() for name in outputs} == before


def test_imported_csv_log_with_leak_and_unknown_intent(mixed: Path, tmp_path: Path) -> None:
    leaked_text, leaked_intent = train_user_text(mixed)
    log = tmp_path / "traffic.csv"
    with log.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["utterance", "label", "team"])
        writer.writerow(["where is my order, placed ages ago", "late_delivery", "deliveries"])
        writer.writerow(["someone logged into my account from abroad", "account_locked", ""])
        writer.writerow(["can i get a mortgage", "mortgage_question", ""])
        writer.writerow([f"  {leaked_text.upper()}!! ", leaked_intent, ""])  # same text once normalised
        writer.writerow(["I was charged for a delivery on a sunday", "delivery_fee", "payments"])
    eval_set = {"path": str(log), "format": "csv", "unknown_intents": "skip",
                "columns": {"text": "utterance", "intent": "label", "slice": "team"}}  # fmt: skip
    params = yaml.safe_load((mixed / "params.yaml").read_text())
    params["evaluate"]["eval_set"] = eval_set
    params_file = tmp_path / "params.yaml"
    params_file.write_text(yaml.safe_dump(params))
    out = ["--params", str(params_file), "--out", str(tmp_path / "out")]
    out += ["--metrics", str(tmp_path / "evaluate.json"), "--plot", str(tmp_path / "plot.csv")]
    run_stage("evaluate", mixed, *out)
    metrics = json.loads((tmp_path / "evaluate.json").read_text())
    assert metrics["eval_set"] == {"rows": 3, "leaked_removed": 1, "skipped_unknown_intent": 1, "intents": 3,
                                   "leaked_by_match": {"exact": 1, "ngram": 0, "near": 0}}  # fmt: skip
    assert set(metrics["slices"]) == {"deliveries", "payments", "account"}
    leaked = read_rows(tmp_path / "out/leaked.jsonl")
    assert len(leaked) == 1 and leaked[0]["where"] == f"{log}:5" and "human" in leaked[0]["train_sets"]

    params["evaluate"]["on_leak"] = "error"
    params_file.write_text(yaml.safe_dump(params))
    failed = run_stage("evaluate", mixed, *out, check=False)
    assert failed.returncode == 2 and "Traceback" not in failed.stderr
    assert f"{log}:5: eval text also in training set(s) human, mix" in failed.stderr


# --- the eval set: formats, column mapping, errors -----------------------------------------------


def write_csv(path: Path, rows: list[list[str]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows(rows)
    return path


def csv_params(**overrides: Any) -> EvalSetParams:
    columns = EvalSetColumns(text="text", intent="category", slice=overrides.pop("slice_column", None))
    return EvalSetParams(path="x", format="csv", columns=columns, **overrides)


def test_csv_import_derives_slices_and_counts_skips(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "log.csv", [["text", "category"], ["my order never came", "late_delivery"],
                                            ["what is the meaning of life", "chit_chat"],
                                            ["Refund\nplease", "refund_request"]])  # fmt: skip
    loaded = load_eval_set(path, csv_params(unknown_intents="skip"), TAX)
    assert [(e.intent, e.slice) for e in loaded.examples] == [
        ("late_delivery", "deliveries"),
        ("refund_request", "payments"),
    ]
    assert loaded.skipped_unknown_intent == 1
    assert loaded.examples[1].where == f"{path}:4 (text lines 4-5)"  # spreadsheet row 4, a cell over two lines


@pytest.mark.parametrize(
    ("rows", "params", "message"),
    [
        ([["text", "category"], ["hi", "late_delivery"], ["hello", "chit_chat"]], {},
         r"log.csv:3: field 'category': 'chit_chat' is not in params taxonomy.slices"),
        ([["utterance", "category"], ["hi", "late_delivery"]], {},
         r"log.csv:1: column\(s\) \['text'\] not in the header \['utterance', 'category'\]"),
        ([["text", "category"], ["   ", "late_delivery"]], {}, r"log.csv:2: field 'text': empty text"),
        ([["text", "category"], ["hi", ""]], {}, r"log.csv:2: field 'category': empty intent"),
        ([["text", "category", "area"], ["hi", "late_delivery", "payments"]], {"slice_column": "area"},
         r"log.csv:2: field 'area': 'payments' does not match intent 'late_delivery' \(taxonomy says 'deliveries'\)"),
        ([["text", "category"], ["hi", "chit_chat"]], {"unknown_intents": "skip"},
         r"log.csv: no eval rows with an intent of params taxonomy.slices"),
    ],
)  # fmt: skip
def test_csv_import_errors_name_file_and_line(
    tmp_path: Path, rows: list[list[str]], params: dict[str, Any], message: str
) -> None:
    path = write_csv(tmp_path / "log.csv", rows)
    with pytest.raises(UserError, match=message):
        load_eval_set(path, csv_params(**params), TAX)


@pytest.mark.parametrize(
    ("cells", "place"),
    [
        ([["text", "category"], ["Refund\nplease\nnow", "refund_request"], ["caf\u00e9 order", "late_delivery"]],
         "3 (text line 5)"),
        ([["text", "category"], ["Refund\ncaf\u00e9", "refund_request"]], "2 (text line 3)"),
        ([["text", "category"], ["caf\u00e9 order", "late_delivery"]], "2"),
    ],
)  # fmt: skip
def test_a_csv_import_not_in_utf8_names_the_spreadsheet_row(tmp_path: Path, cells: list[list[str]], place: str) -> None:
    """An imported log saved by a Windows spreadsheet: named as its other problems are, by spreadsheet row."""
    path = tmp_path / "log.csv"
    with path.open("w", newline="", encoding="cp1252") as handle:
        csv.writer(handle).writerows(cells)
    with pytest.raises(UserError) as caught:
        load_eval_set(path, csv_params(), TAX)
    assert str(caught.value).startswith(f"{path}:{place}: not valid UTF-8 (byte 0xe9 at character "), caught.value


def test_jsonl_import_reads_text_or_chat_messages(tmp_path: Path) -> None:
    path = tmp_path / "log.jsonl"
    write_lines(path, [
        {"query": "order still not here", "label": "late_delivery"},
        {"query": [{"role": "system", "content": "s"}, {"role": "user", "content": "locked out of my account"},
                   {"role": "assistant", "content": "ok"}], "label": "account_locked"},
    ])  # fmt: skip
    params = EvalSetParams(path="x", format="jsonl", columns=EvalSetColumns(text="query", intent="label"))
    loaded = load_eval_set(path, params, TAX)
    assert [e.text for e in loaded.examples] == ["order still not here", "locked out of my account"]
    assert [e.slice for e in loaded.examples] == ["deliveries", "account"]
    write_lines(path, [{"query": 3, "label": "late_delivery"}])
    with pytest.raises(UserError, match=r"log.jsonl:1: field 'query': expected text, got int"):
        load_eval_set(path, params, TAX)
    write_lines(path, [{"label": "late_delivery"}])
    with pytest.raises(UserError, match=r"log.jsonl:1: field 'query': missing"):
        load_eval_set(path, params, TAX)


def test_rows_format_checks_slice_against_taxonomy(tmp_path: Path) -> None:
    path = tmp_path / "eval.jsonl"
    messages = [{"role": "user", "content": "order?"}, {"role": "assistant", "content": "ok"}]
    write_lines(path, [{"messages": messages, "intent": "late_delivery", "slice": "payments"}])
    with pytest.raises(UserError, match=r"eval.jsonl:1: field 'slice': 'payments' does not match intent"):
        load_eval_set(path, EvalSetParams(path=str(path)), TAX)
    with pytest.raises(UserError, match=r"missing.jsonl: file not found"):
        load_eval_set(tmp_path / "missing.jsonl", EvalSetParams(), TAX)


def test_leak_check_finds_exact_ngram_and_near_copies_in_every_training_set() -> None:
    def row(row_id: str, text: str) -> dict[str, Any]:
        return {"id": row_id, "messages": [{"role": "user", "content": text}, {"role": "assistant", "content": "a"}]}

    long_text = "the driver left my whole weekly order at the wrong house on the other side of town"
    train = {
        "human": [row("h1", "My order has not arrived")],
        "synthetic": [row("s1", "order never came, pls help"), row("s2", f"hi, so {long_text}, what now?")],
        "mix": [row("h1", "My order has not arrived"), row("s1", "order never came, pls help")],
    }
    examples = [
        EvalExample("f:1", "my ORDER has not arrived!", "late_delivery", "deliveries"),  # exact once normalised
        EvalExample("f:2", "Order never came -- pls help", "late_delivery", "deliveries"),
        EvalExample("f:3", "my order has not arrived yet", "late_delivery", "deliveries"),  # near: Jaccard 5/6
        EvalExample("f:4", long_text, "missing_item", "deliveries"),  # a 13-word run of s2
        EvalExample("f:5", "where is the milk I paid for", "missing_item", "deliveries"),  # clean
    ]
    clean, leaks = find_leaks(examples, train, LeakCheckParams())
    assert [e.where for e in clean] == ["f:5"]
    assert [(leak.example.where, leak.kind, leak.train_sets, leak.train_row_id) for leak in leaks] == [
        ("f:1", "exact", ("human", "mix"), "h1"),
        ("f:2", "exact", ("synthetic", "mix"), "s1"),
        ("f:3", "near", ("human", "mix"), "h1"),
        ("f:4", "ngram", ("synthetic",), "s2"),
    ]
    assert leaks[2].similarity == round(5 / 6, 4)
    exact_only = LeakCheckParams(near_duplicate_threshold=None, ngram=32, min_words=32)
    assert [e.where for e in find_leaks(examples, train, exact_only)[0]] == ["f:3", "f:4", "f:5"]
    # texts without a word are compared by their visible characters (text.tokens), as match_key does
    wordless = {"mix": [row("m1", "🙏🙏"), row("m2", "???")]}
    emoji = [
        EvalExample("f:6", "🙏 🙏", "late_delivery", "deliveries"),
        EvalExample("f:7", "!!", "late_delivery", "deliveries"),
    ]
    clean, leaks = find_leaks(emoji, wordless, LeakCheckParams())
    assert [(leak.example.where, leak.kind, leak.train_row_id) for leak in leaks] == [("f:6", "exact", "m1")]
    assert [e.where for e in clean] == ["f:7"]  # "!!" is not "???", though neither has a word


# --- scores, intervals and verdicts on constructed cases -----------------------------------------


def constructed_examples(per_slice: int) -> list[EvalExample]:
    """`per_slice` eval rows in each slice, spread over its intents."""
    examples = []
    for slice_name, intents in TAXONOMY.items():
        for i in range(per_slice):
            examples.append(EvalExample(f"f:{len(examples) + 1}", f"t{i}", intents[i % len(intents)], slice_name))
    return examples


def with_errors(examples: list[EvalExample], wrong: dict[str, int]) -> list[str]:
    """True intents, except the first `wrong[slice]` rows of a slice answered with a wrong intent."""
    predicted, seen = [], dict.fromkeys(TAXONOMY, 0)
    for e in examples:
        seen[e.slice] += 1
        predicted.append("late_delivery" if e.intent != "late_delivery" else "refund_request")
        if seen[e.slice] > wrong.get(e.slice, 0):
            predicted[-1] = e.intent
    return predicted


def train_rows(synthetic_slices: list[str]) -> dict[str, list[dict[str, Any]]]:
    humans = [{"slice": name, "source": "human"} for name in TAXONOMY]
    synthetic = [{"slice": name, "source": "synthetic"} for name in synthetic_slices]
    return {"human": humans, "synthetic": synthetic, "mix": humans + synthetic}


def test_verdict_flags_on_constructed_cases() -> None:
    examples = constructed_examples(60)
    predictions = {
        "human": with_errors(examples, {"deliveries": 6, "payments": 6, "account": 6}),
        # deliveries: far worse; payments: one row worse (noise); account: clearly better
        "mix": with_errors(examples, {"deliveries": 30, "payments": 7, "account": 0}),
        # deliveries: collapsed; payments: collapsed but has no synthetic rows; account: 10 points down only
        "synthetic": with_errors(examples, {"deliveries": 40, "payments": 50, "account": 12}),
    }
    params = EvaluateParams(bootstrap_samples=500, collapse_gap=0.2)
    scores = score_probes(examples, predictions, train_rows(["deliveries", "account"]), params, TAX)
    flags = {name: {f for f in ("mix_worse_than_human", "mix_better_than_human", "synthetic_collapse") if block[f]}
             for name, block in scores["slices"].items()}  # fmt: skip
    assert flags == {
        "deliveries": {"mix_worse_than_human", "synthetic_collapse"},
        "payments": set(),
        "account": {"mix_better_than_human"},
    }
    assert scores["flagged_slices"] == {"mix_worse_than_human": 1, "mix_better_than_human": 1, "synthetic_collapse": 1}
    deliveries = scores["slices"]["deliveries"]
    assert deliveries["human"]["accuracy"] == 0.9 and deliveries["mix"]["accuracy"] == 0.5
    assert deliveries["mix_minus_human"]["accuracy"] == -0.4 and deliveries["mix_minus_human"]["accuracy_ci_high"] < 0
    assert scores["slices"]["payments"]["train_rows"] == {"human": 1, "synthetic": 0, "mix": 1}

    by_f1_params = params.model_copy(update={"verdict_metric": "macro_f1"})
    by_f1 = score_probes(examples, predictions, train_rows(["deliveries"]), by_f1_params, TAX)
    assert set(by_f1["slices"]["deliveries"]["mix_minus_human"]) == {"macro_f1", "macro_f1_ci_low", "macro_f1_ci_high"}
    assert by_f1["slices"]["deliveries"]["mix_worse_than_human"]


def test_verdict_thresholds() -> None:
    difference = {"accuracy": -0.05, "accuracy_ci_low": -0.1, "accuracy_ci_high": 0.001}
    assert not verdict(difference, {"accuracy": -0.2}, "accuracy", 0.2, True)["mix_worse_than_human"]
    assert verdict(difference, {"accuracy": -0.2}, "accuracy", 0.2, True)["synthetic_collapse"]
    assert not verdict(difference, {"accuracy": -0.19}, "accuracy", 0.2, True)["synthetic_collapse"]
    assert not verdict(difference, {"accuracy": -0.9}, "accuracy", 0.2, False)["synthetic_collapse"]


def test_point_estimates_match_sklearn_and_bootstrap_is_seeded() -> None:
    rng = np.random.default_rng(3)
    intents = [i for names in TAXONOMY.values() for i in names]
    truth = list(rng.choice(intents, 200))
    predicted = [t if rng.random() < 0.7 else str(rng.choice([*intents, "other_intent"])) for t in truth]
    slices = [TAX.slice_of(t) or "" for t in truth]
    figures = EvalScorer(truth, slices, 300, 1).figures(predicted)
    assert figures.accuracy[0] == pytest.approx(accuracy_score(truth, predicted))
    assert figures.macro_f1[0] == pytest.approx(f1_score(truth, predicted, labels=sorted(set(truth)), average="macro"))
    deliveries = [k for k, s in enumerate(slices) if s == "deliveries"]
    assert figures.slice_accuracy["deliveries"][0] == pytest.approx(
        np.mean([truth[k] == predicted[k] for k in deliveries])
    )
    again = EvalScorer(truth, slices, 300, 1).figures(predicted)
    assert np.array_equal(figures.macro_f1, again.macro_f1, equal_nan=True)
    assert not np.array_equal(figures.macro_f1, EvalScorer(truth, slices, 300, 2).figures(predicted).macro_f1)


# --- probe, diversity, params ---------------------------------------------------------------------


def test_probe_learns_and_degrades_gracefully() -> None:
    texts = ["order not arrived", "card never came", "refund my money", "want money back"]
    probe = train_probe(texts, ["late_delivery", "late_delivery", "refund_request", "refund_request"], ProbeParams())
    assert probe.predict(["my order never arrived", "money back please"]) == ["late_delivery", "refund_request"]
    assert train_probe(texts[:2], ["late_delivery"] * 2, ProbeParams()).predict(["x", "y"]) == ["late_delivery"] * 2
    assert train_probe([], [], ProbeParams()).predict(["x"]) == [NO_PREDICTION]


def test_diversity_figures() -> None:
    assert distinct_n(["a b a b", "a b"], 1) == 0.3333  # 2 distinct of 6 words
    assert distinct_n(["a b a b", "a b"], 2) == 0.5  # ab, ba of ab, ba, ab, ab
    assert distinct_n(["one"], 2) is None
    meter = DiversityMeter(["order not here", "refund please", "totally different words"], ["order not here"])
    identical = meter.figures(["order not here"] * 3)
    assert identical["mean_pairwise_similarity"] == 1.0 and identical["mean_max_similarity_to_eval"] == 1.0
    disjoint = meter.figures(["refund please", "totally different words"])
    assert disjoint["mean_pairwise_similarity"] == 0.0 and disjoint["mean_max_similarity_to_eval"] == 0.0
    assert meter.figures([]) == {"rows": 0}


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ({"eval_set": {"format": "xml"}}, "evaluate.eval_set.format: Input should be 'rows', 'csv' or 'jsonl'"),
        ({"eval_set": {"columns": {"txt": "a"}}}, "evaluate.eval_set.columns.txt: Extra inputs are not permitted"),
        ({"probe": {"ngram_range": [3, 1]}}, r"evaluate.probe.ngram_range: needs 1 <= low <= high <= 8, got \[3, 1\]"),
        ({"collapse_gap": 0}, "evaluate.collapse_gap: Input should be greater than 0"),
        ({"on_leak": "ignore"}, "evaluate.on_leak: Input should be 'drop' or 'error'"),
    ],
)
def test_bad_params_name_the_key(tmp_path: Path, section: dict[str, Any], message: str) -> None:
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump({"evaluate": section}))
    with pytest.raises(UserError, match=message):
        load_section(path, "evaluate", EvaluateParams)


def test_repository_params_validate() -> None:
    params = load_section(Path(__file__).resolve().parents[1] / "params.yaml", "evaluate", EvaluateParams)
    assert params.eval_set.path == "data/seed/eval.jsonl" and params.eval_set.format == "rows"
