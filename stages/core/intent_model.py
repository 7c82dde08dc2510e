"""The one intent model of the pipeline: TF-IDF features of a text feeding a logistic regression.

Two stages fit it: the filter's intent check (on the human seed rows, to catch mislabelled synthetic
rows) and the evaluate stage's probe (on each training set, scored on real traffic). Each passes its
own settings from params.yaml; the construction is here once. Both parts are deterministic (lbfgs,
the default solver, draws no random numbers), so the same texts and settings give the same model.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Literal

from pydantic import field_validator

from stages.core.params import Section

if TYPE_CHECKING:
    from sklearn.pipeline import Pipeline


class TextFeatures(Section):
    """One TF-IDF feature set: words or characters (within word bounds), n-gram lengths, log term counts."""

    analyzer: Literal["word", "char_wb"] = "word"
    ngram_range: tuple[int, int] = (1, 2)
    sublinear_tf: bool = True  # 1 + log(tf): a word said twice is not twice the evidence

    @field_validator("ngram_range")
    @classmethod
    def _ordered_range(cls, value: tuple[int, int]) -> tuple[int, int]:
        if not 1 <= value[0] <= value[1] <= 8:
            raise ValueError(f"needs 1 <= low <= high <= 8, got {list(value)}")
        return value


def fit_intent_model(
    texts: Sequence[str],
    intents: Sequence[str],
    features: Sequence[TextFeatures],
    C: float,  # scikit-learn's name for the inverse regularisation strength
    max_iter: int,
    random_state: int | None = None,
) -> Pipeline:
    """A scikit-learn pipeline fitted on (text, intent) pairs: `predict` gives intents, `predict_proba`
    an (n_texts, n_intents) array with columns in `classes_` order.

    Several feature sets are joined side by side (a FeatureUnion); one is used as it is. `C` is the
    inverse L2 strength, `max_iter` the lbfgs iteration cap; `random_state` only matters to solvers
    that shuffle (lbfgs does not). Needs at least two distinct intents (scikit-learn raises otherwise).
    """
    # imported here: scikit-learn takes ~1.5 s to import, and most runs of other stages never need it
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline, make_union

    if not features:
        raise ValueError("fit_intent_model needs at least one feature set")
    vectorisers = [
        TfidfVectorizer(
            analyzer=spec.analyzer, ngram_range=spec.ngram_range, sublinear_tf=spec.sublinear_tf, lowercase=True
        )
        for spec in features
    ]
    joined = vectorisers[0] if len(vectorisers) == 1 else make_union(*vectorisers)
    model = make_pipeline(joined, LogisticRegression(C=C, max_iter=max_iter, random_state=random_state))
    model.fit(list(texts), list(intents))
    return model
