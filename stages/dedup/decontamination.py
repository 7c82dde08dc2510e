"""Decontamination in dedup: rows that contain an eval row's n-gram (the rule: core.decontamination).

Words are `words()` tokens compared by their 64-bit hashes (signatures.tokenise). Fast path: every
eval n-gram contains a run of `min_words` words, so rows are screened in numpy by their
`min_words`-gram hashes (one lookup per word) and only the few hits are looked up in the eval n-grams.
"""

from __future__ import annotations

import numpy as np

from stages.core.decontamination import EvalNgramIndex
from stages.core.text import jaccard
from stages.dedup.arrays import sorted_unique
from stages.dedup.signatures import TokenisedBatch, ngram_hashes


class NgramDecontaminator:
    """The eval rows' n-gram index (core.decontamination.EvalNgramIndex) behind a numpy screen.

    `ngram` and `min_words` are the `dedup` params `decontaminate_ngram` and `decontaminate_min_words`;
    ValueError unless 1 <= min_words <= ngram. `eval_texts_indexed` and `eval_texts_too_short` count
    the eval rows added, for the metrics.
    """

    def __init__(self, ngram: int, min_words: int) -> None:
        self.index = EvalNgramIndex(ngram, min_words)
        self._screen_sorted = np.zeros(0, dtype=np.uint64)
        self._eval_words: dict[int, frozenset[int]] = {}

    @property
    def eval_texts_indexed(self) -> int:
        """Eval rows whose n-grams are indexed."""
        return self.index.eval_texts_indexed

    @property
    def eval_texts_too_short(self) -> int:
        """Eval rows under `min_words` words: no n-gram."""
        return self.index.eval_texts_too_short

    def add_eval(self, batch: TokenisedBatch, indices: range) -> None:
        """Index a batch of eval rows; `indices` (one per row) are the row indices a hit reports."""
        for row, index in enumerate(indices):
            tokens = batch.row(row).tolist()
            if self.index.add(tokens, index):
                self._eval_words[index] = frozenset(tokens)
        hashes, _ = ngram_hashes(batch, self.index.min_words, whole_short_rows=False)
        self._screen_sorted = sorted_unique(np.concatenate([self._screen_sorted, hashes]))

    def find(self, batch: TokenisedBatch) -> dict[int, tuple[int, float]]:
        """{row number in batch: (eval row index, word-set Jaccard with it, rounded to 4 places)} for
        the contaminated rows of `batch`; a row holding several eval n-grams reports the longest."""
        if not self.index or not len(self._screen_sorted):
            return {}
        hashes, rows = ngram_hashes(batch, self.index.min_words, whole_short_rows=False)
        screen = self._screen_sorted
        at = np.minimum(np.searchsorted(screen, hashes), len(screen) - 1)
        suspects = sorted_unique(rows[screen[at] == hashes])
        found = {}
        for row in suspects.tolist():
            tokens = batch.row(row).tolist()
            hit = self.index.first_hit(tokens)
            if hit is not None:
                found[row] = (hit, round(jaccard(frozenset(tokens), self._eval_words[hit]), 4))
        return found
