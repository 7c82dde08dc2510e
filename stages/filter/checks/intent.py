"""The intent check: a cheap classifier trained on the human seed rows catches synthetic rows whose
user text does not look like their labelled intent (a wrong label at generation time, or a teacher
that drifted).

The classifier is the pipeline's intent model (stages/core/intent_model.py: TF-IDF feeding a logistic
regression) with the `filter.intent` settings: word 1-2-grams and character 3-5-grams (robust to the
typos of logged traffic), C = 10. It is deterministic, so the same seeds give the same model. A row is
rejected when another intent is more probable than its label by at least `margin`, or when its label's
probability is below `min_probability`. Intents with fewer than `min_seed_rows` seed rows are not judged.
On the repository's seeds (about 13 rows per intent; `python -m bench.bench_filter quality` measures it):
mislabelled built-in variations are caught ~98% of the time at margin 0.4, while real customer queries
of the same intents from the benchmark's public data set (BENCHMARKS.md, "What the judgement checks
catch"), a stand-in for what a teacher model writes, are wrongly rejected ~1% of the time.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, NamedTuple

import numpy as np
from pydantic import Field

from stages.core.hashing import canonical_json, sha256_hex
from stages.core.intent_model import TextFeatures, fit_intent_model
from stages.core.jsonl import read_jsonl
from stages.core.params import Section
from stages.core.rows import user_text
from stages.filter.checks.base import Check, CheckInputs, Row

if TYPE_CHECKING:
    from sklearn.pipeline import Pipeline

# Trained classifiers by (seed texts, intents, settings): the intent and answers checks share one.
_TRAINED: dict[str, IntentClassifier] = {}


class IntentParams(Section):
    """`filter.intent`: when a row's label is doubted, and the classifier's features and regularisation.

    Defaults chosen on bench_filter's classifier table (BENCHMARKS.md, issue 4): C = 1 catches far fewer
    mislabels, C = 30 doubles wrong rejections of real queries; character 2-grams add nothing over 3-5-grams
    and cost 40% more time; words alone are 4x faster but catch half as many mislabels in real text.
    """

    margin: float = Field(default=0.4, gt=0, le=1)
    min_probability: float = Field(default=0.0, ge=0, le=1)
    min_seed_rows: int = Field(default=3, ge=1)
    features: list[TextFeatures] = Field(
        default=[
            TextFeatures(analyzer="word", ngram_range=(1, 2)),
            TextFeatures(analyzer="char_wb", ngram_range=(3, 5)),
        ],
        min_length=1,
    )
    C: float = Field(default=10.0, gt=0)
    max_iter: int = Field(default=3000, ge=10)


class Reading(NamedTuple):
    """How one row's user text reads to the classifier (probabilities in [0, 1])."""

    index: int
    label: str
    own: float
    guess: str
    best: float


@dataclass
class IntentClassifier:
    """The fitted model, its intents (the columns of `probabilities`) and how many seed rows it saw.

    The intent and answers checks read the same user texts with, by default, the same settings: `train`
    returns one instance for the same seed rows and settings, and `probabilities` answers a repeated call
    for the same texts from its last result, so the TF-IDF transform (the filter's largest cost) runs
    once per batch, not twice. Both are exact: training is deterministic, and so is a transform."""

    model: Pipeline
    intents: list[str]
    training_rows: int
    _last: tuple[tuple[str, ...], np.ndarray] | None = field(default=None, repr=False, compare=False)

    @classmethod
    def train(cls, seed_rows: Sequence[Row], params: IntentParams | None = None) -> IntentClassifier | None:
        """Fit on the user turns of the human seed rows (not the eval split); None if fewer than two
        intents have `params.min_seed_rows` rows."""
        params = params or IntentParams()
        human = [row for row in seed_rows if row.get("source") == "human" and row.get("origin") != "eval"]
        counts = Counter(row["intent"] for row in human)
        usable = [row for row in human if counts[row["intent"]] >= params.min_seed_rows]
        if len({row["intent"] for row in usable}) < 2:
            return None
        texts, intents = [user_text(row) for row in usable], [row["intent"] for row in usable]
        features = [feature.model_dump(mode="json") for feature in params.features]
        key = sha256_hex(canonical_json([texts, intents, features, params.C, params.max_iter]))
        if key not in _TRAINED:
            if len(_TRAINED) >= 8:  # a long-lived process (tests, benches) training on many seed sets
                _TRAINED.clear()
            model = fit_intent_model(texts, intents, params.features, C=params.C, max_iter=params.max_iter)
            _TRAINED[key] = cls(model, list(model.classes_), len(usable))
        return _TRAINED[key]

    def probabilities(self, texts: Sequence[str]) -> np.ndarray:
        """(texts, intents) class probabilities, columns in `self.intents` order (read-only: a repeated
        call for the same texts returns the same array)."""
        asked = tuple(texts)
        if self._last is None or self._last[0] != asked:
            self._last = (asked, self.model.predict_proba(list(asked)))
        return self._last[1]

    def readings(self, rows: Sequence[Row], judge: Callable[[Row], bool] = lambda row: True) -> list[Reading]:
        """How the user text of each row that `judge` accepts and whose label the model knows reads, from
        one model call: (row index, its label, the label's probability, the top intent, its probability)."""
        column = {intent: index for index, intent in enumerate(self.intents)}
        judged = [index for index, row in enumerate(rows) if row.get("intent") in column and judge(row)]
        if not judged:
            return []
        probabilities = self.probabilities([user_text(rows[index]) for index in judged])
        found = []
        for index, row_probabilities in zip(judged, probabilities, strict=True):
            label = rows[index]["intent"]
            top = int(row_probabilities.argmax())
            own, best = float(row_probabilities[column[label]]), float(row_probabilities[top])
            found.append(Reading(index, label, own, self.intents[top], best))
        return found


@dataclass(frozen=True)
class IntentCheck(Check):
    """Rejects a row whose user text reads as another intent than its label (scores a batch at once).

    Reason: "intent: reads as '<guess>' (<its probability>), not its label '<label>' (<the label's>)".
    Rows whose label the classifier was not trained on are not judged.
    """

    name: ClassVar[str] = "intent"
    Params: ClassVar[type[Section]] = IntentParams
    run_order: ClassVar[int] = 90
    needs: ClassVar[str] = "no seed rows, or fewer than two intents with intent.min_seed_rows seed rows"

    classifier: IntentClassifier
    params: IntentParams

    @classmethod
    def build(cls, params: IntentParams, inputs: CheckInputs) -> IntentCheck | None:
        """The check with a classifier trained on `inputs.seeds` (None without usable seed rows)."""
        classifier = IntentClassifier.train(read_jsonl(inputs.seeds), params) if inputs.seeds else None
        return cls(classifier, params) if classifier else None

    def check(self, row: Row) -> str | None:
        """The reason for one row (a batch of one)."""
        return self.check_batch([row])[0]

    def check_batch(self, rows: Sequence[Row]) -> list[str | None]:
        """One reason or None per row, from one classifier call for all judged rows."""
        results: list[str | None] = [None] * len(rows)
        for index, label, own, guess, best in self.classifier.readings(rows):
            if best - own >= self.params.margin or own < self.params.min_probability:
                results[index] = f"intent: reads as '{guess}' ({best:.2f}), not its label '{label}' ({own:.2f})"
        return results

    def metrics(self) -> dict[str, Any]:
        """The classifier's training size for metrics: {"intent_classifier": {"training_rows", "intents"}}."""
        return {
            "intent_classifier": {
                "training_rows": self.classifier.training_rows,
                "intents": len(self.classifier.intents),
            }
        }
