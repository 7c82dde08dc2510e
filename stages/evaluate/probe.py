"""A cheap, deterministic intent probe: TF-IDF on the user turns and a logistic regression.

The probe is not the product model. It answers one question cheaply: trained on these rows, how
well can a simple model tell the intents of real traffic apart? Same rows and params, same
predictions (the solver is deterministic and `random_state` is fixed). The model itself is the
pipeline's one intent model (stages/core/intent_model.py), here with the `evaluate.probe` settings.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from stages.core.intent_model import fit_intent_model
from stages.evaluate.params import ProbeParams

if TYPE_CHECKING:
    from sklearn.pipeline import Pipeline

# What a probe with no training rows answers: never an intent, so it is never right.
NO_PREDICTION = "<no training rows>"


@dataclass(frozen=True)
class Probe:
    """A fitted probe, or a constant answer when the training set has fewer than two intents."""

    pipeline: Pipeline | None
    constant: str | None  # the only intent seen; None with no training rows at all

    def predict(self, texts: Sequence[str]) -> list[str]:
        """One intent name per text, in order."""
        if self.pipeline is not None:
            return [str(label) for label in self.pipeline.predict(list(texts))]
        # A classifier needs two classes; with one (or none) the honest answer is a constant.
        return [self.constant or NO_PREDICTION] * len(texts)


def train_probe(texts: Sequence[str], intents: Sequence[str], params: ProbeParams) -> Probe:
    """Fit the probe on (text, intent) pairs; fewer than two distinct intents give a constant probe."""
    if len(set(intents)) < 2:
        return Probe(None, intents[0] if intents else None)
    pipeline = fit_intent_model(
        texts, intents, [params], C=params.C, max_iter=params.max_iter, random_state=params.random_state
    )
    return Probe(pipeline, None)
