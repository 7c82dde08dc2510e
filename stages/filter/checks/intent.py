"""A cheap intent classifier trained on the human seed rows, to catch synthetic rows whose user text
does not look like their labelled intent (a wrong label at generation time, or a teacher that drifted).

TF-IDF on word 1-2-grams and character 3-5-grams (robust to the typos of logged traffic) feeding a
logistic regression; both are deterministic, so the same seeds give the same model. A row is rejected
when another intent is more probable than its label by at least `margin`, or when its label's
probability is below `min_probability`. Intents with fewer than `min_rows` seed rows are not judged.
On the repository's seeds (about 13 rows per intent; `python -m bench.bench_filter` measures it):
mislabelled built-in variations are caught ~98% of the time at margin 0.4, while real BANKING77 queries
of the same intents, a stand-in for what a teacher model writes, are wrongly rejected ~1% of the time.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from stages.core.rows import user_text

if TYPE_CHECKING:
    from sklearn.pipeline import Pipeline

# Chosen on bench_filter's classifier table: C = 1 catches far fewer mislabels, C = 30 doubles wrong
# rejections of real queries; character 2-grams add nothing over 3-5-grams and cost 40% more time;
# words alone are 4x faster but catch half as many mislabels in real text.
REGULARISATION_C = 10.0


@dataclass
class IntentClassifier:
    model: Pipeline
    intents: list[str]
    training_rows: int

    @classmethod
    def train(cls, seed_rows: Sequence[dict[str, Any]], min_rows: int = 3) -> IntentClassifier | None:
        """Fit on the user turns of the human seed rows; None if fewer than two intents have `min_rows`."""
        # imported here: scikit-learn takes ~1.5 s to import, and most runs of other stages never need it
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline, make_union

        human = [row for row in seed_rows if row.get("source") == "human" and row.get("origin") != "eval"]
        counts = Counter(row["intent"] for row in human)
        usable = [row for row in human if counts[row["intent"]] >= min_rows]
        if len({row["intent"] for row in usable}) < 2:
            return None
        features = make_union(
            TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True),
            TfidfVectorizer(analyzer="char_wb", ngram_range=(3, 5), sublinear_tf=True),
        )
        model = make_pipeline(features, LogisticRegression(C=REGULARISATION_C, max_iter=3000))
        model.fit([user_text(row) for row in usable], [row["intent"] for row in usable])
        return cls(model, list(model.classes_), len(usable))

    def probabilities(self, texts: Sequence[str]) -> np.ndarray:
        """(texts, intents) class probabilities, columns in `self.intents` order."""
        return self.model.predict_proba(list(texts))


@dataclass(frozen=True)
class IntentCheck:
    """Filter check: the user text must look like the row's labelled intent (batch-capable)."""

    classifier: IntentClassifier
    margin: float
    min_probability: float

    def __call__(self, row: dict[str, Any]) -> str | None:
        return self.check_batch([row])[0]

    def check_batch(self, rows: Sequence[dict[str, Any]]) -> list[str | None]:
        column = {intent: index for index, intent in enumerate(self.classifier.intents)}
        judged = [index for index, row in enumerate(rows) if row.get("intent") in column]
        results: list[str | None] = [None] * len(rows)
        if not judged:
            return results
        probabilities = self.classifier.probabilities([user_text(rows[index]) for index in judged])
        for index, row_probabilities in zip(judged, probabilities, strict=True):
            label = rows[index]["intent"]
            own = float(row_probabilities[column[label]])
            top = int(row_probabilities.argmax())
            best = float(row_probabilities[top])
            if best - own >= self.margin or own < self.min_probability:
                guess = self.classifier.intents[top]
                results[index] = f"intent: reads as '{guess}' ({best:.2f}), not its label '{label}' ({own:.2f})"
        return results
