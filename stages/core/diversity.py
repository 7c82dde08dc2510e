"""How varied a group of texts is, and how close it comes to real traffic (used by generate's variety
gate and evaluate's diversity figures).

- distinct-1 / distinct-2: distinct word n-grams over all n-grams of the group (Li et al., 2016).
  Lower means more repetition; it falls with group size, so compare groups of similar size.
- mean pairwise similarity: mean cosine between the TF-IDF vectors of every pair of rows in the
  group. A template that produces near-identical rows shows up close to 1.
- mean max similarity to eval: for each row, the cosine of its nearest real eval row, averaged.
  Low means the rows read unlike anything customers actually write.
Words are `stages.core.text.words` (casefolded), the unit dedup matches on too.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer

from stages.core.text import words

DECIMALS = 4


def distinct_n(texts: Sequence[str], n: int) -> float | None:
    """Distinct n-grams / all n-grams over the texts; None when they hold no n-gram."""
    seen: set[tuple[str, ...]] = set()
    total = 0
    for text in texts:
        tokens = words(text)
        grams = [tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1)]
        seen.update(grams)
        total += len(grams)
    return round(len(seen) / total, DECIMALS) if total else None


class DiversityMeter:
    """TF-IDF space fitted once on every text involved, so all groups are measured alike."""

    def __init__(self, corpus: Sequence[str], eval_texts: Sequence[str]) -> None:
        self.vectorizer = TfidfVectorizer(analyzer=words)
        self.vectorizer.fit([*corpus, *eval_texts])
        self.eval_matrix = self.vectorizer.transform(list(eval_texts)) if eval_texts else None

    def figures(self, texts: Sequence[str]) -> dict[str, float | int]:
        """Row count and the diversity figures of one group (undefined figures are left out)."""
        result: dict[str, float | int] = {"rows": len(texts)}
        for n in (1, 2):
            value = distinct_n(texts, n)
            if value is not None:
                result[f"distinct_{n}"] = value
        if not texts:
            return result
        matrix = self.vectorizer.transform(list(texts))  # rows are L2-normalised (or all zero)
        if len(texts) >= 2:
            # Sum of all pairwise cosines = |sum of vectors|^2 - sum of |vector|^2: no n x n matrix.
            column_sums = np.asarray(matrix.sum(axis=0)).ravel()
            self_similarity = float(matrix.multiply(matrix).sum())
            pairs = len(texts) * (len(texts) - 1)
            result["mean_pairwise_similarity"] = round((column_sums @ column_sums - self_similarity) / pairs, DECIMALS)
        if self.eval_matrix is not None:
            nearest = (matrix @ self.eval_matrix.T).max(axis=1).toarray().ravel()
            result["mean_max_similarity_to_eval"] = round(float(nearest.mean()), DECIMALS)
        return result
