"""Decontamination: eval rows found in the rows by long word n-gram overlap, as in GPT-3 (appendix C) and datatrove.

GPT-3 called an example contaminated when it shared an N-gram with the training data, N between 8 and
13 words depending on the data set; datatrove uses 12. Chat turns are often shorter than that, so the
rule here is per eval text: a text of L words contributes its n-grams with n = min(`ngram`, L), i.e.
the whole text when it is shorter than `ngram` words, and a text of fewer than `min_words` words
contributes none: a 5-word prompt such as "it still does not work" is a phrase many people type,
so sharing it proves nothing; exact and MinHash matching still cover short eval texts. A row is
contaminated when it contains any eval n-gram as a contiguous run of words (`words()` tokens, compared
by their 64-bit hashes).

Fast path: every eval n-gram contains a run of `min_words` words, so rows are screened in numpy by
their `min_words`-gram hashes (one lookup per word) and only the few hits are checked exactly.
"""

from __future__ import annotations

import numpy as np

from stages.dedup.arrays import sorted_unique
from stages.dedup.signatures import TokenisedBatch, jaccard, ngram_hashes


class NgramDecontaminator:
    """An index of the eval rows' n-grams, and the search for rows that contain one.

    `ngram` and `min_words` are the `dedup` params `decontaminate_ngram` and `decontaminate_min_words`
    (GPT-3's 13 and 8, see the module docstring). ValueError unless 1 <= min_words <= ngram.
    `eval_texts_indexed` and `eval_texts_too_short` count the eval rows added, for the metrics.
    """

    def __init__(self, ngram: int, min_words: int) -> None:
        if not 1 <= min_words <= ngram:
            raise ValueError(f"min_words must be between 1 and ngram ({ngram}), got {min_words}")
        self.ngram = ngram
        self.min_words = min_words
        self._screen: list[np.ndarray] = []
        self._screen_sorted = np.zeros(0, dtype=np.uint64)
        self._ngrams: dict[tuple[int, ...], int] = {}  # eval n-gram (word hashes) -> first eval row holding it
        self._lengths: set[int] = set()
        self._eval_words: dict[int, frozenset[int]] = {}
        self.eval_texts_indexed = 0
        self.eval_texts_too_short = 0

    def add_eval(self, batch: TokenisedBatch, indices: range) -> None:
        """Index a batch of eval rows; `indices` (one per row) are the row indices a hit reports."""
        for row, index in enumerate(indices):
            tokens = batch.row(row).tolist()
            if len(tokens) < self.min_words:
                self.eval_texts_too_short += 1
                continue
            self.eval_texts_indexed += 1
            self._eval_words[index] = frozenset(tokens)
            size = min(self.ngram, len(tokens))
            self._lengths.add(size)
            for start in range(len(tokens) - size + 1):
                self._ngrams.setdefault(tuple(tokens[start : start + size]), index)
        hashes, _ = ngram_hashes(batch, self.min_words, whole_short_rows=False)
        self._screen.append(hashes)
        self._screen_sorted = sorted_unique(np.concatenate([self._screen_sorted, *self._screen]))
        self._screen = []

    def find(self, batch: TokenisedBatch) -> dict[int, tuple[int, float]]:
        """{row number in batch: (eval row index, word-set Jaccard with it, rounded to 4 places)} for
        the contaminated rows of `batch`; a row holding several eval n-grams reports the longest."""
        if not self._ngrams or not len(self._screen_sorted):
            return {}
        hashes, rows = ngram_hashes(batch, self.min_words, whole_short_rows=False)
        screen = self._screen_sorted
        at = np.minimum(np.searchsorted(screen, hashes), len(screen) - 1)
        suspects = sorted_unique(rows[screen[at] == hashes])
        found = {}
        for row in suspects.tolist():
            tokens = batch.row(row).tolist()
            hit = self._exact_hit(tokens)
            if hit is not None:
                own, theirs = frozenset(tokens), self._eval_words[hit]
                found[row] = (hit, round(jaccard(own, theirs), 4))
        return found

    def _exact_hit(self, tokens: list[int]) -> int | None:
        for size in sorted(self._lengths, reverse=True):
            for start in range(len(tokens) - size + 1):
                hit = self._ngrams.get(tuple(tokens[start : start + size]))
                if hit is not None:
                    return hit
        return None
