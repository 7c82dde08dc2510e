"""Scores of several probes on one eval set: accuracy and macro-F1 with 95% intervals, and verdicts.

Intervals:
- accuracy: Wilson score interval on (correct, rows). Closed form, so no seed is involved, and it
  stays inside [0, 1] on the small slices where the normal approximation breaks down.
- macro-F1 and differences between probes: percentile bootstrap over eval rows with a fixed seed.
  Every replicate reweights the same rows for every probe (a *paired* bootstrap), so a difference
  is judged against the noise of the difference, not the sum of two independent noises.
A replicate is a vector of row weights (how often each row was drawn): every figure is computed
from weights, so the point estimate is the same code with all weights 1.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from stages.core.eval_set import EvalExample
from stages.core.params import Taxonomy
from stages.core.stats import wilson_interval
from stages.evaluate.params import EvaluateParams

CONFIDENCE = 0.95
DECIMALS = 4
TRAIN_SETS = ("human", "synthetic", "mix")  # the probes' training sets, all from the mix's train split
FLAGS = ("mix_worse_than_human", "mix_better_than_human", "synthetic_collapse")


def _round(value: float) -> float:
    return round(float(value), DECIMALS)


def _onehot(indices: np.ndarray, size: int) -> np.ndarray:
    """(rows, size) indicator matrix; index -1 (a label outside `size`) gives a zero row."""
    matrix = np.zeros((len(indices), size))
    known = indices >= 0
    matrix[np.flatnonzero(known), indices[known]] = 1.0
    return matrix


def _nanmean_rows(values: np.ndarray) -> np.ndarray:
    """Row means ignoring NaN; NaN where a row has no number at all (without numpy's warning)."""
    present = ~np.isnan(values)
    counts = present.sum(axis=1)
    sums = np.where(present, values, 0.0).sum(axis=1)
    return np.divide(sums, counts, out=np.full(len(counts), np.nan), where=counts > 0)


@dataclass(frozen=True)
class Figures:
    """Figures of one probe per replicate: row 0 is the point estimate (all weights 1)."""

    accuracy: np.ndarray  # (replicates,)
    macro_f1: np.ndarray  # (replicates,)
    slice_accuracy: dict[str, np.ndarray]
    slice_macro_f1: dict[str, np.ndarray]
    intent_f1: np.ndarray  # (replicates, intents)

    def metric(self, name: str, slice_name: str | None = None) -> np.ndarray:
        """The replicates of `name` ("accuracy" or "macro_f1"), overall or in one slice."""
        if slice_name is None:
            return self.accuracy if name == "accuracy" else self.macro_f1
        return (self.slice_accuracy if name == "accuracy" else self.slice_macro_f1)[slice_name]


class EvalScorer:
    """Holds the eval set's true intents and slices and the bootstrap weights shared by all probes."""

    def __init__(
        self, intents: Sequence[str], slices: Sequence[str], bootstrap_samples: int, bootstrap_seed: int
    ) -> None:
        self.labels = sorted(set(intents))
        index = {label: i for i, label in enumerate(self.labels)}
        self.truth = np.array([index[intent] for intent in intents])
        self.truth_onehot = _onehot(self.truth, len(self.labels))
        self.slices = list(dict.fromkeys(slices))
        self.slice_rows = {name: np.array([s == name for s in slices]) for name in self.slices}
        label_slice = {intent: slice_name for intent, slice_name in zip(intents, slices, strict=True)}
        self.slice_labels = {
            name: np.array([label_slice[label] == name for label in self.labels]) for name in self.slices
        }
        rows = len(intents)
        rng = np.random.default_rng(bootstrap_seed)
        draws = rng.multinomial(rows, np.full(rows, 1.0 / rows), size=bootstrap_samples).astype(float)
        self.weights = np.vstack([np.ones(rows), draws])

    def figures(self, predicted: Sequence[str]) -> Figures:
        """The figures of one probe's predictions (one label per eval row, in the scorer's row order)."""
        index = {label: i for i, label in enumerate(self.labels)}
        guesses = np.array([index.get(label, -1) for label in predicted])
        correct = (guesses == self.truth).astype(float)
        weights = self.weights
        true_positive = weights @ (self.truth_onehot * correct[:, None])
        true_count = weights @ self.truth_onehot
        guessed_count = weights @ _onehot(guesses, len(self.labels))
        # F1 = 2TP / (true + guessed); undefined (NaN) for an intent a replicate did not draw.
        with np.errstate(invalid="ignore", divide="ignore"):
            intent_f1 = np.where(true_count > 0, 2 * true_positive / (true_count + guessed_count), np.nan)
        slice_accuracy, slice_macro_f1 = {}, {}
        for name in self.slices:
            in_slice = self.slice_rows[name]
            drawn = weights[:, in_slice].sum(axis=1)
            hits = weights[:, in_slice] @ correct[in_slice]
            slice_accuracy[name] = np.divide(hits, drawn, out=np.full(len(drawn), np.nan), where=drawn > 0)
            slice_macro_f1[name] = _nanmean_rows(intent_f1[:, self.slice_labels[name]])
        return Figures(
            accuracy=(weights @ correct) / weights.sum(axis=1),
            macro_f1=_nanmean_rows(intent_f1),
            slice_accuracy=slice_accuracy,
            slice_macro_f1=slice_macro_f1,
            intent_f1=intent_f1,
        )


def interval(replicates: np.ndarray) -> tuple[float, float]:
    """Percentile interval of the bootstrap replicates (row 0, the point estimate, left out)."""
    draws = replicates[1:]
    draws = draws[~np.isnan(draws)]
    if len(draws) == 0:  # no replicate drew the rows: nothing to go on but the point estimate
        return float(replicates[0]), float(replicates[0])
    tail = (1 - CONFIDENCE) / 2 * 100
    low, high = np.percentile(draws, [tail, 100 - tail])
    return float(low), float(high)


def accuracy_figures(correct: int, rows: int) -> dict[str, float]:
    """Accuracy with its 95% Wilson interval."""
    low, high = wilson_interval(correct, rows)
    return {
        "accuracy": _round(correct / rows if rows else 0.0),
        "accuracy_ci_low": _round(low),
        "accuracy_ci_high": _round(high),
    }


def probe_figures(figures: Figures, truth_hits: int, rows: int, slice_name: str | None = None) -> dict[str, float]:
    """Accuracy (Wilson interval) and macro-F1 (bootstrap interval) of one probe, overall or in a slice."""
    macro_f1 = figures.metric("macro_f1", slice_name)
    low, high = interval(macro_f1)
    return {
        **accuracy_figures(truth_hits, rows),
        "macro_f1": _round(macro_f1[0]),
        "macro_f1_ci_low": _round(low),
        "macro_f1_ci_high": _round(high),
    }


def difference(new: Figures, baseline: Figures, metric: str, slice_name: str | None = None) -> dict[str, float]:
    """`new - baseline` in `metric`, with its paired-bootstrap 95% interval."""
    delta = new.metric(metric, slice_name) - baseline.metric(metric, slice_name)
    low, high = interval(delta)
    return {metric: _round(delta[0]), f"{metric}_ci_low": _round(low), f"{metric}_ci_high": _round(high)}


def verdict(
    mix_minus_human: dict[str, float],
    synthetic_minus_human: dict[str, float],
    metric: str,
    collapse_gap: float,
    has_synthetic_rows: bool,
) -> dict[str, bool]:
    """Flags for one slice (or overall).

    mix_worse_than_human: the whole 95% interval of (mix - human) is below zero, i.e. worse beyond
    the noise of this eval set; mix_better_than_human is the mirror image.
    synthetic_collapse: synthetic-only is at least `collapse_gap` below human-only. Only where the
    synthetic set has rows of the slice: without any, a low score says nothing about their quality.
    """
    return {
        "mix_worse_than_human": bool(mix_minus_human[f"{metric}_ci_high"] < 0),
        "mix_better_than_human": bool(mix_minus_human[f"{metric}_ci_low"] > 0),
        "synthetic_collapse": bool(has_synthetic_rows and -synthetic_minus_human[metric] >= collapse_gap - 1e-9),
    }


@dataclass(frozen=True)
class _Blocks:
    """What every metrics block (overall, a slice) is computed from: the probes' figures and per-row hits."""

    figures: dict[str, Figures]
    hits: dict[str, list[bool]]
    metric: str
    collapse_gap: float

    def block(self, rows: list[int], slice_name: str | None, has_synthetic: bool) -> dict[str, Any]:
        """Each probe's figures on `rows` (eval row indices), the differences to human-only and the flags."""
        result: dict[str, Any] = {
            name: probe_figures(self.figures[name], sum(self.hits[name][i] for i in rows), len(rows), slice_name)
            for name in TRAIN_SETS
        }
        result["mix_minus_human"] = difference(self.figures["mix"], self.figures["human"], self.metric, slice_name)
        result["synthetic_minus_human"] = difference(
            self.figures["synthetic"], self.figures["human"], self.metric, slice_name
        )
        flags = verdict(
            result["mix_minus_human"], result["synthetic_minus_human"], self.metric, self.collapse_gap, has_synthetic
        )
        return {**result, **flags, "eval_rows": len(rows)}


def _intent_blocks(examples: list[EvalExample], labels: list[str], blocks: _Blocks) -> dict[str, Any]:
    intents = {}
    for k, intent in enumerate(labels):
        rows = [i for i, e in enumerate(examples) if e.intent == intent]
        intents[intent] = {
            "eval_rows": len(rows),
            **{
                name: {
                    **accuracy_figures(sum(blocks.hits[name][i] for i in rows), len(rows)),
                    "f1": _round(blocks.figures[name].intent_f1[0, k]),
                }
                for name in TRAIN_SETS
            },
        }
    return intents


def score_probes(
    examples: list[EvalExample],
    predictions: dict[str, list[str]],
    train: dict[str, list[dict[str, Any]]],
    params: EvaluateParams,
    taxonomy: Taxonomy,
) -> dict[str, Any]:
    """`overall`, `slices`, `intents` and `flagged_slices` of metrics/evaluate.json.

    predictions: per training set (TRAIN_SETS), one predicted intent per example; train: the training
    rows per set (for row counts and whether a slice had synthetic rows).
    """
    scorer = EvalScorer(
        [e.intent for e in examples], [e.slice for e in examples], params.bootstrap_samples, params.bootstrap_seed
    )
    blocks = _Blocks(
        figures={name: scorer.figures(predictions[name]) for name in TRAIN_SETS},
        hits={name: [p == e.intent for p, e in zip(predictions[name], examples, strict=True)] for name in TRAIN_SETS},
        metric=params.verdict_metric,
        collapse_gap=params.collapse_gap,
    )
    overall = blocks.block(list(range(len(examples))), None, bool(train["synthetic"]))
    overall["train_rows"] = {name: len(rows) for name, rows in train.items()}
    slices = {}
    for slice_name in [name for name in taxonomy.slices if name in scorer.slices]:
        rows = [i for i, e in enumerate(examples) if e.slice == slice_name]
        train_rows = {name: sum(1 for r in train[name] if r["slice"] == slice_name) for name in TRAIN_SETS}
        slices[slice_name] = {
            **blocks.block(rows, slice_name, train_rows["synthetic"] > 0),
            "critical": taxonomy.is_critical(slice_name),
            "train_rows": train_rows,
        }
    flagged = {flag: sum(1 for figures in slices.values() if figures[flag]) for flag in FLAGS}
    intents = _intent_blocks(examples, scorer.labels, blocks)
    return {"overall": overall, "slices": slices, "intents": intents, "flagged_slices": flagged}
