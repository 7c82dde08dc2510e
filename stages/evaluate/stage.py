"""Stage evaluate: do the synthetic rows help or hurt on real traffic, slice by slice?

A cheap deterministic probe (TF-IDF + logistic regression on the user turns, predicting intent) is
trained three times on the mix's train split: human rows only, synthetic rows only, and the whole mix.
Each is scored on held-out REAL traffic (params `evaluate.eval_set`: the repository's eval split by
default, or an imported CSV/JSONL log; stages/core/eval_set.py). Scores and verdicts:
stages/evaluate/scoring.py; diversity figures: stages/evaluate/diversity.py.

- Accuracy (95% Wilson interval) and macro-F1 (95% bootstrap interval, fixed seed) overall, per
  slice and per intent; mix - human and synthetic - human with paired-bootstrap intervals.
- Per slice, flags: `mix_worse_than_human` (the interval of mix - human lies below zero),
  `mix_better_than_human`, `synthetic_collapse` (synthetic-only `collapse_gap` or more below human).
- Leak check (stages/evaluate/leaks.py): an eval row found in any training set, by the same
  normalised text, a shared 13-word run or a near-duplicate word set (params `leak_check`), is
  removed from the eval set, counted in metrics and written to data/evaluate/leaked.jsonl
  (`on_leak: error` stops instead). Removing it from the eval side keeps the three training sets
  exactly the mix that will be trained on.
- Diversity per slice and per template of the synthetic rows after dedup (all of them, also those
  the mix left out), with the human training rows beside them for reference.
- `in_distribution`: the same probes on the mix's own eval split, for the gap to real traffic.

metrics/evaluate.json, flattened the way `dvc metrics diff` shows it (<set> = human|synthetic|mix):
    eval_set.{rows,leaked_removed,skipped_unknown_intent,intents}, eval_set.leaked_by_match.{exact,ngram,near}
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

import csv
import io
from pathlib import Path
from typing import Any

from stages.core.cli import StageParser
from stages.core.errors import UserError
from stages.core.eval_set import EvalExample, eval_set_file, load_eval_set
from stages.core.jsonl import read_jsonl, write_json, write_jsonl, write_text
from stages.core.params import Taxonomy, load_section
from stages.core.rows import user_text
from stages.evaluate.diversity import diversity_figures
from stages.evaluate.leaks import LEAK_KINDS, find_leaks, leak_error, leak_records
from stages.evaluate.params import EvaluateParams
from stages.evaluate.probe import Probe, train_probe
from stages.evaluate.scoring import FLAGS, TRAIN_SETS, accuracy_figures, score_probes

Row = dict[str, Any]


def training_sets(mix_rows: list[Row]) -> dict[str, list[Row]]:
    """The three training sets (TRAIN_SETS: human, synthetic, mix), all from the mix's train split."""
    train = [row for row in mix_rows if row.get("split") == "train"]
    return {
        "human": [row for row in train if row["source"] == "human"],
        "synthetic": [row for row in train if row["source"] == "synthetic"],
        "mix": train,
    }


def train_probes(train: dict[str, list[Row]], params: EvaluateParams) -> dict[str, Probe]:
    """One probe per training set, trained on its rows' user turns and intents."""
    return {
        name: train_probe([user_text(row) for row in rows], [row["intent"] for row in rows], params.probe)
        for name, rows in train.items()
    }


def in_distribution(mix_rows: list[Row], probes: dict[str, Probe]) -> dict[str, Any]:
    """Accuracy on the mix's own eval split: what an offline eval drawn from the mix would report."""
    rows = [row for row in mix_rows if row.get("split") == "eval"]
    result: dict[str, Any] = {"eval_rows": len(rows)}
    if rows:
        texts = [user_text(row) for row in rows]
        for name, probe in probes.items():
            correct = sum(p == row["intent"] for p, row in zip(probe.predict(texts), rows, strict=True))
            result[name] = accuracy_figures(correct, len(rows))
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
    """data/evaluate/predictions.jsonl: each eval row (where, text, intent, slice) with the three predictions."""
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


def summary(scores: dict[str, Any]) -> str:
    """The lines printed at the end: accuracy of each probe overall and per slice, and the flags raised."""
    lines = ["evaluate: accuracy on real traffic (human / synthetic / mix)"]
    for slice_name, block in [("overall", scores["overall"]), *scores["slices"].items()]:
        accuracies = " / ".join(f"{block[name]['accuracy']:.3f}" for name in TRAIN_SETS)
        flags = ", ".join(flag for flag in FLAGS if block[flag])
        lines.append(f"  {slice_name:<20} {accuracies}  n={block['eval_rows']}{'  ' + flags if flags else ''}")
    return "\n".join(lines)


def build_parser() -> StageParser:
    """The stage's command line (see stages.core.cli)."""
    parser = StageParser("evaluate", __doc__)
    parser.add_argument("--mix", type=Path, default=Path("data/mix/rows.jsonl"), help="mix rows with metadata")
    parser.add_argument(
        "--synthetic", type=Path, default=Path("data/dedup/kept.jsonl"), help="synthetic rows for diversity"
    )
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    parser.add_output("--out", "data/evaluate", "folder for predictions.jsonl and leaked.jsonl")
    parser.add_output("--metrics", "metrics/evaluate.json")
    parser.add_output("--plot", "metrics/evaluate_slices.csv", "the per-slice accuracy plot table")
    return parser


def main() -> None:
    """Train the three probes on the mix, score them on the eval set, write predictions, leaks and metrics."""
    args = build_parser().parse()
    taxonomy = load_section(args.params, "taxonomy", Taxonomy)
    params = load_section(args.params, "evaluate", EvaluateParams)
    eval_path = eval_set_file(args.params, params.eval_set)
    mix_rows = read_jsonl(args.mix)
    train = training_sets(mix_rows)
    if not train["mix"]:
        raise UserError(f"{args.mix}: no rows in the train split to train a probe on")
    loaded = load_eval_set(eval_path, params.eval_set, taxonomy)
    examples, leaks = find_leaks(loaded.examples, train, params.leak_check)
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
            "leaked_by_match": {kind: sum(1 for leak in leaks if leak.kind == kind) for kind in LEAK_KINDS},
            "skipped_unknown_intent": loaded.skipped_unknown_intent,
            "intents": len({e.intent for e in examples}),
        },
        **scores,
        "in_distribution": in_distribution(mix_rows, probes),
        "diversity": diversity_figures(synthetic, train["human"], [e.text for e in examples], taxonomy),
    }
    write_jsonl(args.out / "predictions.jsonl", prediction_records(examples, predictions))
    write_jsonl(args.out / "leaked.jsonl", leak_records(leaks))
    write_json(args.metrics, metrics)
    write_text(args.plot, slices_csv(scores))
    print(summary(scores))
    if leaks:
        print(f"evaluate: {len(leaks)} eval row(s) also in a training set were left out (see {args.out}/leaked.jsonl)")
