"""Stage evaluate: do the synthetic rows help or hurt on real traffic, slice by slice?

A cheap deterministic probe (stages/common/probe.py: TF-IDF + logistic regression on the user
turns, predicting intent) is trained three times on the mix's train split: human rows only,
synthetic rows only, and the whole mix. Each is scored on held-out REAL traffic (params
`evaluate.eval_set`: the repository's eval split by default, or an imported CSV/JSONL log).

- Accuracy (95% Wilson interval) and macro-F1 (95% bootstrap interval, fixed seed) overall, per
  slice and per intent; mix - human and synthetic - human with paired-bootstrap intervals.
- Per slice, flags: `mix_worse_than_human` (the interval of mix - human lies below zero),
  `mix_better_than_human`, `synthetic_collapse` (synthetic-only `collapse_gap` or more below human).
- Leak check: an eval row whose normalised user text (text.match_key) is in any training set is
  removed from the eval set, counted in metrics and written to data/evaluate/leaked.jsonl
  (`on_leak: error` stops instead). Removing it from the eval side keeps the three training sets
  exactly the mix that will be trained on.
- Diversity per slice and per template of the synthetic rows after dedup (all of them, also those
  the mix left out), with the human training rows beside them for reference.
- `in_distribution`: the same probes on the mix's own eval split, for the gap to real traffic.

metrics/evaluate.json, flattened the way `dvc metrics diff` shows it (<set> = human|synthetic|mix):
    eval_set.{rows,leaked_removed,skipped_unknown_intent,intents}
    overall.<set>.{accuracy,accuracy_ci_low,accuracy_ci_high,macro_f1,macro_f1_ci_low,macro_f1_ci_high}
    overall.{mix_minus_human,synthetic_minus_human}.<metric>[_ci_low|_ci_high], overall.<flag>
    slices.<slice>.<set>.accuracy ... as overall, plus .critical, .eval_rows, .train_rows.<set>
    intents.<intent>.<set>.{accuracy,accuracy_ci_low,accuracy_ci_high,f1}, intents.<intent>.eval_rows
    flagged_slices.<flag>                      how many slices carry the flag
    in_distribution.<set>.accuracy[_ci_low|_ci_high]
    diversity.{synthetic,human}.<figure>, diversity.slices.<slice>.{synthetic,human}.<figure>,
    diversity.templates.<template>.<figure>    figures: rows, distinct_1, distinct_2,
                                               mean_pairwise_similarity, mean_max_similarity_to_eval
Outputs: that file, metrics/evaluate_slices.csv (`dvc plots`: accuracy per slice and training set),
data/evaluate/predictions.jsonl (each eval row with the three predictions), data/evaluate/leaked.jsonl.
"""

from __future__ import annotations

import argparse
import csv
import io
from pathlib import Path
from typing import Any

from stages.core.errors import UserError
from stages.core.jsonl import read_jsonl, write_json, write_jsonl, write_text
from stages.core.params import Taxonomy, load_section
from stages.core.rows import user_text
from stages.evaluate.diversity import DiversityMeter
from stages.evaluate.eval_set import EvalExample, Leak, find_leaks, load_eval_set
from stages.evaluate.params import EvaluateParams
from stages.evaluate.probe import Probe, train_probe
from stages.evaluate.scoring import EvalScorer, Figures, accuracy_figures, difference, probe_figures, verdict

TRAIN_SETS = ("human", "synthetic", "mix")
FLAGS = ("mix_worse_than_human", "mix_better_than_human", "synthetic_collapse")


def training_sets(mix_rows: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """The three training sets, all from the mix's train split."""
    train = [row for row in mix_rows if row.get("split") == "train"]
    return {
        "human": [row for row in train if row["source"] == "human"],
        "synthetic": [row for row in train if row["source"] == "synthetic"],
        "mix": train,
    }


def train_probes(train: dict[str, list[dict[str, Any]]], params: EvaluateParams) -> dict[str, Probe]:
    return {
        name: train_probe([user_text(row) for row in rows], [row["intent"] for row in rows], params.probe)
        for name, rows in train.items()
    }


def leak_error(leaks: list[Leak]) -> UserError:
    first = leaks[0]
    return UserError(
        f"{first.example.where}: eval text also in training set(s) {', '.join(first.train_sets)}"
        f" (row {first.train_row_id}); {len(leaks)} eval row(s) leak in all"
        " (set evaluate.on_leak: drop to leave them out of the eval set)"
    )


def score_probes(
    examples: list[EvalExample],
    predictions: dict[str, list[str]],
    train: dict[str, list[dict[str, Any]]],
    params: EvaluateParams,
    taxonomy: Taxonomy,
) -> dict[str, Any]:
    """overall / slices / intents / flagged_slices of metrics/evaluate.json."""
    scorer = EvalScorer(
        [e.intent for e in examples], [e.slice for e in examples], params.bootstrap_samples, params.bootstrap_seed
    )
    figures: dict[str, Figures] = {name: scorer.figures(predictions[name]) for name in TRAIN_SETS}
    hits = {name: [p == e.intent for p, e in zip(predictions[name], examples, strict=True)] for name in TRAIN_SETS}
    metric = params.verdict_metric

    def block(rows: list[int], slice_name: str | None, has_synthetic: bool) -> dict[str, Any]:
        result: dict[str, Any] = {
            name: probe_figures(figures[name], sum(hits[name][i] for i in rows), len(rows), slice_name)
            for name in TRAIN_SETS
        }
        result["mix_minus_human"] = difference(figures["mix"], figures["human"], metric, slice_name)
        result["synthetic_minus_human"] = difference(figures["synthetic"], figures["human"], metric, slice_name)
        flags = verdict(
            result["mix_minus_human"], result["synthetic_minus_human"], metric, params.collapse_gap, has_synthetic
        )
        return {**result, **flags, "eval_rows": len(rows)}

    overall = block(list(range(len(examples))), None, bool(train["synthetic"]))
    overall["train_rows"] = {name: len(rows) for name, rows in train.items()}
    slices = {}
    for slice_name in [name for name in taxonomy.slices if name in scorer.slices]:
        rows = [i for i, e in enumerate(examples) if e.slice == slice_name]
        train_rows = {name: sum(1 for r in train[name] if r["slice"] == slice_name) for name in TRAIN_SETS}
        slices[slice_name] = {
            **block(rows, slice_name, train_rows["synthetic"] > 0),
            "critical": taxonomy.is_critical(slice_name),
            "train_rows": train_rows,
        }
    intents = {}
    for k, intent in enumerate(scorer.labels):
        rows = [i for i, e in enumerate(examples) if e.intent == intent]
        intents[intent] = {
            "eval_rows": len(rows),
            **{
                name: {
                    **accuracy_figures(sum(hits[name][i] for i in rows), len(rows)),
                    "f1": round(float(figures[name].intent_f1[0, k]), 4),
                }
                for name in TRAIN_SETS
            },
        }
    flagged = {flag: sum(1 for figures_ in slices.values() if figures_[flag]) for flag in FLAGS}
    return {"overall": overall, "slices": slices, "intents": intents, "flagged_slices": flagged}


def in_distribution(mix_rows: list[dict[str, Any]], probes: dict[str, Probe]) -> dict[str, Any]:
    """Accuracy on the mix's own eval split: what an offline eval drawn from the mix would report."""
    rows = [row for row in mix_rows if row.get("split") == "eval"]
    result: dict[str, Any] = {"eval_rows": len(rows)}
    if rows:
        texts = [user_text(row) for row in rows]
        for name, probe in probes.items():
            correct = sum(p == row["intent"] for p, row in zip(probe.predict(texts), rows, strict=True))
            result[name] = accuracy_figures(correct, len(rows))
    return result


def diversity(
    synthetic: list[dict[str, Any]], human: list[dict[str, Any]], examples: list[EvalExample], taxonomy: Taxonomy
) -> dict[str, Any]:
    """Diversity of the synthetic user turns overall, per slice and per template; human rows beside them."""
    meter = DiversityMeter([user_text(r) for r in synthetic + human], [e.text for e in examples])

    def texts(rows: list[dict[str, Any]]) -> list[str]:
        return [user_text(row) for row in rows]

    result: dict[str, Any] = {"synthetic": meter.figures(texts(synthetic)), "human": meter.figures(texts(human))}
    result["slices"] = {
        name: {
            "synthetic": meter.figures(texts([r for r in synthetic if r["slice"] == name])),
            "human": meter.figures(texts([r for r in human if r["slice"] == name])),
        }
        for name in taxonomy.slices
    }
    templates = sorted({row["provenance"]["template_id"] for row in synthetic})
    result["templates"] = {
        name: meter.figures(texts([r for r in synthetic if r["provenance"]["template_id"] == name]))
        for name in templates
    }
    return result


def slices_csv(scores: dict[str, Any]) -> str:
    """One row per (slice, training set), `overall` first: what `dvc plots` draws as bars."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    columns = ["accuracy", "accuracy_ci_low", "accuracy_ci_high", "macro_f1"]
    writer.writerow(["group", "slice", "train_set", *columns, "eval_rows"])
    for slice_name, block in [("overall", scores["overall"]), *scores["slices"].items()]:
        for name in TRAIN_SETS:
            figures = block[name]
            row = [f"{slice_name} / {name}", slice_name, name, *(figures[c] for c in columns), block["eval_rows"]]
            writer.writerow(row)
    return buffer.getvalue()


def prediction_records(examples: list[EvalExample], predictions: dict[str, list[str]]) -> list[dict[str, Any]]:
    return [
        {
            "where": e.where,
            "text": e.text,
            "intent": e.intent,
            "slice": e.slice,
            "predicted": {name: predictions[name][i] for name in TRAIN_SETS},
        }
        for i, e in enumerate(examples)
    ]


def leak_records(leaks: list[Leak]) -> list[dict[str, Any]]:
    return [
        {
            "where": leak.example.where,
            "text": leak.example.text,
            "intent": leak.example.intent,
            "slice": leak.example.slice,
            "train_sets": list(leak.train_sets),
            "train_row_id": leak.train_row_id,
        }
        for leak in leaks
    ]


def summary(scores: dict[str, Any]) -> str:
    lines = ["evaluate: accuracy on real traffic (human / synthetic / mix)"]
    for slice_name, block in [("overall", scores["overall"]), *scores["slices"].items()]:
        accuracies = " / ".join(f"{block[name]['accuracy']:.3f}" for name in TRAIN_SETS)
        flags = ", ".join(flag for flag in FLAGS if block[flag])
        lines.append(f"  {slice_name:<20} {accuracies}  n={block['eval_rows']}{'  ' + flags if flags else ''}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m stages.evaluate", description=__doc__)
    parser.add_argument("--mix", type=Path, default=Path("data/mix/rows.jsonl"), help="mix rows with metadata")
    parser.add_argument(
        "--synthetic", type=Path, default=Path("data/dedup/kept.jsonl"), help="synthetic rows for diversity"
    )
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    parser.add_argument("--out", type=Path, default=Path("data/evaluate"))
    parser.add_argument("--metrics", type=Path, default=Path("metrics/evaluate.json"))
    parser.add_argument("--plot", type=Path, default=Path("metrics/evaluate_slices.csv"))
    args = parser.parse_args()

    taxonomy = load_section(args.params, "taxonomy", Taxonomy)
    params = load_section(args.params, "evaluate", EvaluateParams)
    mix_rows = read_jsonl(args.mix)
    train = training_sets(mix_rows)
    if not train["mix"]:
        raise UserError(f"{args.mix}: no rows in the train split to train a probe on")
    loaded = load_eval_set(Path(params.eval_set.path), params.eval_set, taxonomy)
    examples, leaks = find_leaks(loaded.examples, train)
    if leaks and params.on_leak == "error":
        raise leak_error(leaks)
    if not examples:
        raise UserError(f"{params.eval_set.path}: every eval row is also in a training set")

    probes = train_probes(train, params)
    predictions = {name: probes[name].predict([e.text for e in examples]) for name in TRAIN_SETS}
    scores = score_probes(examples, predictions, train, params, taxonomy)
    synthetic = [row for row in read_jsonl(args.synthetic) if row.get("source") == "synthetic"]
    metrics = {
        "eval_set": {
            "rows": len(examples),
            "leaked_removed": len(leaks),
            "skipped_unknown_intent": loaded.skipped_unknown_intent,
            "intents": len({e.intent for e in examples}),
        },
        **scores,
        "in_distribution": in_distribution(mix_rows, probes),
        "diversity": diversity(synthetic, train["human"], examples, taxonomy),
    }
    write_jsonl(args.out / "predictions.jsonl", prediction_records(examples, predictions))
    write_jsonl(args.out / "leaked.jsonl", leak_records(leaks))
    write_json(args.metrics, metrics)
    write_text(args.plot, slices_csv(scores))
    print(summary(scores))
    if leaks:
        print(f"evaluate: {len(leaks)} eval row(s) also in a training set were left out (see {args.out}/leaked.jsonl)")
