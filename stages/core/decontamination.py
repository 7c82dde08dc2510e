"""Decontamination: eval texts found in other texts by long word n-gram overlap, as in GPT-3 (appendix C).

GPT-3 called an example contaminated when it shared an N-gram with the training data, N between 8 and
13 words depending on the data set; datatrove uses 12. Chat turns are often shorter than that, so the
rule here is per eval text: a text of L words contributes its n-grams with n = min(`ngram`, L), i.e.
the whole text when it is shorter than `ngram` words, and a text of fewer than `min_words` words
contributes none: a 5-word prompt such as "it still does not work" is a phrase many people type, so
sharing it proves nothing (exact and near-duplicate matching still cover short eval texts). A text is
contaminated by an eval text when it contains one of its n-grams as a contiguous run of words.

One rule for dedup (rows removed before training, words as 64-bit hashes) and evaluate (eval rows
left out when a training row has one, words as `core.text.tokens` strings): the words are any
hashable tokens, compared by equality.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterator, Sequence


class EvalNgramIndex:
    """The eval texts' n-grams (module docstring), and the search for texts that contain one.

    `ngram` and `min_words` are GPT-3's 13 and 8 by default in the params (dedup
    `decontaminate_ngram`/`decontaminate_min_words`, evaluate `leak_check.ngram`/`min_words`).
    ValueError unless 1 <= min_words <= ngram. `eval_texts_indexed` and `eval_texts_too_short`
    count the eval texts added, for the metrics.
    """

    def __init__(self, ngram: int, min_words: int) -> None:
        if not 1 <= min_words <= ngram:
            raise ValueError(f"min_words must be between 1 and ngram ({ngram}), got {min_words}")
        self.ngram = ngram
        self.min_words = min_words
        self._ngrams: dict[tuple[Hashable, ...], list[int]] = {}  # eval n-gram -> eval texts holding it, in order added
        self._sizes: list[int] = []  # the n-gram lengths indexed, longest first
        self.eval_texts_indexed = 0
        self.eval_texts_too_short = 0

    def __bool__(self) -> bool:
        return bool(self._ngrams)

    def add(self, tokens: Sequence[Hashable], index: int) -> bool:
        """Index one eval text's n-grams under `index` (what a hit reports); False if it is too short."""
        if len(tokens) < self.min_words:
            self.eval_texts_too_short += 1
            return False
        self.eval_texts_indexed += 1
        size = min(self.ngram, len(tokens))
        if size not in self._sizes:
            self._sizes = sorted([*self._sizes, size], reverse=True)
        for start in range(len(tokens) - size + 1):
            holders = self._ngrams.setdefault(tuple(tokens[start : start + size]), [])
            if not holders or holders[-1] != index:
                holders.append(index)
        return True

    def hits(self, tokens: Sequence[Hashable]) -> Iterator[int]:
        """The eval texts with an n-gram in `tokens`: longest n-gram first, then by position in
        `tokens`, then in the order added (an eval text may come more than once)."""
        for size in self._sizes:
            for start in range(len(tokens) - size + 1):
                yield from self._ngrams.get(tuple(tokens[start : start + size]), ())

    def first_hit(self, tokens: Sequence[Hashable]) -> int | None:
        """The first of `hits(tokens)`, or None for a clean text."""
        return next(self.hits(tokens), None)
