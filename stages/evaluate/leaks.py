"""The leak check: eval rows whose text reached a training set, found as dedup's decontamination finds them.

An eval example leaks into a training set when a training row's user text
    exact   has the same normalised text (text.match_key);
    ngram   contains a run of `leak_check.ngram` words of it (the whole text when it is shorter; eval
            texts under `min_words` words give no n-gram), dedup's rule (core.decontamination);
    near    has a word set with Jaccard >= `near_duplicate_threshold` with it (a paraphrase by edits),
reported in that order of preference, with the first matching training row (in set order) and the
word-set Jaccard. Word sets are compared for all pairs at once as a sparse product (scipy).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import sparse

from stages.core.decontamination import EvalNgramIndex
from stages.core.errors import UserError
from stages.core.eval_set import EvalExample
from stages.core.rows import user_text
from stages.core.text import match_key, tokens
from stages.evaluate.params import LeakCheckParams

Row = dict[str, Any]
LEAK_KINDS = ("exact", "ngram", "near")


@dataclass(frozen=True)
class Leak:
    """An eval example found in a training set: how (exact | ngram | near), which sets, the first
    training row that matched and the word-set Jaccard of the two texts (rounded to 4 places)."""

    example: EvalExample
    kind: str
    train_sets: tuple[str, ...]
    train_row_id: str
    similarity: float


@dataclass(frozen=True)
class _Training:
    """The distinct training rows (by id, first seen first), their user texts' tokens (text.tokens: the
    words, or a wordless text's visible characters, as match_key compares them) and their sets."""

    ids: list[str]
    tokens: list[list[str]]
    sets: list[list[str]]

    @classmethod
    def of(cls, train_sets: dict[str, list[Row]]) -> _Training:
        index: dict[str, int] = {}
        training = cls([], [], [])
        for set_name, rows in train_sets.items():
            for row in rows:
                at = index.setdefault(str(row["id"]), len(training.ids))
                if at == len(training.ids):
                    training.ids.append(str(row["id"]))
                    training.tokens.append(tokens(user_text(row)))
                    training.sets.append([])
                if set_name not in training.sets[at]:
                    training.sets[at].append(set_name)
        return training


def _word_sets(token_lists: list[list[str]], vocabulary: dict[str, int]) -> sparse.csr_matrix:
    """Binary rows x vocabulary matrix of the word sets."""
    rows, columns = [], []
    for row, found in enumerate(token_lists):
        for column in {vocabulary.setdefault(token, len(vocabulary)) for token in found}:
            rows.append(row)
            columns.append(column)
    shape = (len(token_lists), max(len(vocabulary), 1))
    return sparse.csr_matrix((np.ones(len(rows), dtype=np.float64), (rows, columns)), shape=shape)


def _jaccard(eval_tokens: list[list[str]], train_tokens: list[list[str]]) -> np.ndarray:
    """Word-set Jaccard of every (eval, training) pair, as a dense eval x training array."""
    vocabulary: dict[str, int] = {}
    first, second = _word_sets(eval_tokens, vocabulary), _word_sets(train_tokens, vocabulary)
    first.resize((first.shape[0], max(len(vocabulary), 1)))
    second.resize((second.shape[0], max(len(vocabulary), 1)))
    common = (first @ second.T).toarray()
    sizes_a = np.asarray(first.sum(axis=1)).reshape(-1, 1)
    sizes_b = np.asarray(second.sum(axis=1)).reshape(1, -1)
    union = sizes_a + sizes_b - common
    return np.divide(common, union, out=np.ones_like(common), where=union > 0)


def _ngram_hits(eval_tokens: list[list[str]], train: _Training, params: LeakCheckParams) -> dict[int, int]:
    """{eval row: the first training row containing one of its n-grams} (core.decontamination's rule)."""
    index = EvalNgramIndex(params.ngram, params.min_words)
    for row, found in enumerate(eval_tokens):
        index.add(found, row)
    first: dict[int, int] = {}
    if index:
        for at, found in enumerate(train.tokens):  # in set order: the first row a hit is seen in is kept
            for row in index.hits(found):
                first.setdefault(row, at)
    return first


def find_leaks(
    examples: list[EvalExample], train_sets: dict[str, list[Row]], params: LeakCheckParams
) -> tuple[list[EvalExample], list[Leak]]:
    """Split eval examples into clean ones and leaks (module docstring), both in input order."""
    train = _Training.of(train_sets)
    if not train.ids or not examples:
        return list(examples), []
    eval_tokens = [tokens(example.text) for example in examples]
    similarity = _jaccard(eval_tokens, train.tokens)
    exact: dict[str, int] = {}
    for index, found in enumerate(train.tokens):
        exact.setdefault(" ".join(found), index)
    ngram = _ngram_hits(eval_tokens, train, params)
    clean: list[EvalExample] = []
    leaks: list[Leak] = []
    for row, example in enumerate(examples):
        kind, hit = "exact", exact.get(match_key(example.text))
        if hit is None:
            kind, hit = "ngram", ngram.get(row)
        if hit is None and params.near_duplicate_threshold is not None:
            best = int(np.argmax(similarity[row]))
            kind, hit = "near", best if similarity[row, best] >= params.near_duplicate_threshold else None
        if hit is None:
            clean.append(example)
        else:
            score = round(float(similarity[row, hit]), 4)
            leaks.append(Leak(example, kind, tuple(train.sets[hit]), train.ids[hit], score))
    return clean, leaks


def leak_error(leaks: list[Leak]) -> UserError:
    """The error for `on_leak: error`: names the first leaking eval row's file:line and how many leak."""
    first = leaks[0]
    return UserError(
        f"{first.example.where}: eval text also in training set(s) {', '.join(first.train_sets)}"
        f" ({first.kind} match, row {first.train_row_id}); {len(leaks)} eval row(s) leak in all"
        " (set evaluate.on_leak: drop to leave them out of the eval set)"
    )


def leak_records(leaks: list[Leak]) -> list[dict[str, Any]]:
    """data/evaluate/leaked.jsonl: each leaking eval row with how it matched, the sets and the first row."""
    return [
        {
            "where": leak.example.where,
            "text": leak.example.text,
            "intent": leak.example.intent,
            "slice": leak.example.slice,
            "match": leak.kind,
            "similarity": leak.similarity,
            "train_sets": list(leak.train_sets),
            "train_row_id": leak.train_row_id,
        }
        for leak in leaks
    ]
