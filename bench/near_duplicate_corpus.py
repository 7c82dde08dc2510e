"""A labelled near-duplicate corpus built at run time from BANKING77 (read in place, never copied).

Rows are real customer queries: one query (5-30 words), 2-5 queries of one intent (about 20-60 words)
or 8-25 of one intent (about 100-300 words), the range of chat rows the dedup stage sees. Labels:
- positive pairs: an original row and a copy with about `edit_rate` of its words edited by realistic
  edits (paraphrase-like word swaps, typos, inserted filler, reordered clauses);
- distinct pairs sharing a template: two different queries of the same intent wrapped in the same
  opener/closer, as a generation template does. Every pair not labelled positive is distinct.
Originals are made distinct first: queries whose word-set Jaccard with an earlier one is >= 0.5 are
dropped (BANKING77 has its own near-duplicates), so a "false positive" is a real mistake.
"""

from __future__ import annotations

import csv
import os
import random
import re
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy import sparse

from stages.core.text import match_key, words

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_BANKING77_DIR = ROOT.parent / "shared" / "data" / "banking77"
MAX_WORDS = 300
DISTINCT_BELOW = 0.5  # originals must have word-set Jaccard below this with every other original

# Paraphrase-like single-word swaps a rewriter or a customer would make.
SWAPS: dict[str, list[str]] = {
    "want": ["need", "wish"], "need": ["want", "require"], "get": ["receive", "obtain"],
    "money": ["funds", "cash"], "help": ["assist", "support"], "buy": ["purchase"], "purchase": ["buy"],
    "payment": ["transaction"], "transaction": ["payment"], "account": ["profile"], "cancel": ["stop"],
    "charged": ["billed"], "fee": ["charge"], "charge": ["fee"], "received": ["got"], "arrived": ["come"],
    "still": ["yet"], "why": ["how"], "can": ["could"], "check": ["verify"], "show": ["display"],
    "use": ["utilise"], "app": ["application"], "phone": ["mobile"], "wrong": ["incorrect"],
    "problem": ["issue"], "issue": ["problem"], "know": ["understand"], "send": ["transfer"],
    "think": ["believe"], "bought": ["purchased"], "used": ["utilised"], "take": ["need"],
    "long": ["much time"], "please": ["pls"], "hi": ["hello"], "hello": ["hi"], "quickly": ["fast"],
    "order": ["request"], "new": ["fresh"], "my": ["the"], "the": ["my"], "a": ["one"], "is": ["seems"],
}  # fmt: skip
FILLERS = ["really", "just", "actually", "please", "basically", "um", "like", "so", "honestly", "now"]
KEY_NEIGHBOURS = "qwertyuiopasdfghjklzxcvbnm"
TEMPLATE_FRAMES: list[tuple[str, str]] = [
    ("Hello, I hope you can help me.", "Thank you in advance for your assistance."),
    ("This is getting ridiculous.", "Sort it out!"),
    ("Quick question while I'm on my lunch break:", ""),
    ("I'm travelling abroad at the moment and", ""),
    ("Good afternoon. I am writing to ask about the following.", "Kind regards."),
    ("Hi there, hoping someone can help.", "Many thanks for looking into this."),
    ("Honestly, I'm losing my patience here.", "I need an answer today."),
    ("My partner normally handles this, but", "Cheers."),
]
# (shape, queries per row min/max, share of originals); long rows may reuse queries of other long rows,
# since BANKING77 has too few distinct queries otherwise (the distinctness filter still applies).
ROW_SHAPES = [("single", 1, 1, 0.55), ("multi", 2, 5, 0.32), ("long", 8, 25, 0.13)]


@dataclass
class LabelledCorpus:
    """Texts with their shape, and the labelled pairs (indices into `texts`); every other pair is distinct."""

    texts: list[str]
    shapes: list[str]  # single / multi / long / template
    positive_pairs: set[tuple[int, int]] = field(default_factory=set)  # (i, j), i < j
    template_pairs: set[tuple[int, int]] = field(default_factory=set)

    def length_bucket(self, index: int) -> str:
        """The length range of text `index`, for recall by length."""
        count = len(words(self.texts[index]))
        return "5-14 words" if count < 15 else "15-49 words" if count < 50 else "50-300 words"


def banking77_dir() -> Path | None:
    """The BANKING77 folder (env BANKING77_DIR overrides), or None when it is not there."""
    directory = Path(os.environ.get("BANKING77_DIR", DEFAULT_BANKING77_DIR))
    return directory if (directory / "train.csv").exists() else None


def load_banking77(directory: Path) -> list[tuple[str, str]]:
    """(text, intent) of train and test, in file order."""
    examples = []
    for name in ("train.csv", "test.csv"):
        path = directory / name
        if path.exists():
            with path.open(encoding="utf-8", newline="") as handle:
                examples += [(row["text"].strip(), row["category"]) for row in csv.DictReader(handle)]
    return examples


def word_sets_matrix(texts: list[str]) -> sparse.csr_matrix:
    """Binary text x word matrix of word sets."""
    vocabulary: dict[str, int] = {}
    indptr, indices = [0], []
    for text in texts:
        ids = {vocabulary.setdefault(word, len(vocabulary)) for word in words(text)}
        indices.extend(sorted(ids))
        indptr.append(len(indices))
    data = np.ones(len(indices), dtype=np.float32)
    return sparse.csr_matrix((data, indices, indptr), shape=(len(texts), max(1, len(vocabulary))))


def similar_pairs(texts: list[str], threshold: float, block: int = 2000) -> list[tuple[int, int, float]]:
    """All pairs (i < j) with exact word-set Jaccard >= threshold, by blocked sparse products."""
    matrix = word_sets_matrix(texts)
    sizes = np.asarray(matrix.sum(axis=1)).ravel()
    found = []
    for start in range(0, len(texts), block):
        inter = (matrix[start : start + block] @ matrix.T).toarray()
        union = sizes[start : start + block, None] + sizes[None, :] - inter
        jac = np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)
        rows, cols = np.nonzero(jac >= threshold)
        for r, c in zip(rows.tolist(), cols.tolist(), strict=True):
            i = start + r
            if i < c:
                found.append((i, c, float(jac[r, c])))
    return found


def distinct_pool(examples: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """Queries of at least 5 words, none a near-copy (Jaccard >= 0.5) of an earlier kept one."""
    seen, pool = set(), []
    for text, intent in examples:
        key = match_key(text)
        if len(key.split()) >= 5 and key not in seen:
            seen.add(key)
            pool.append((text, intent))
    drop = {j for _, j, _ in similar_pairs([t for t, _ in pool], DISTINCT_BELOW)}
    return [example for index, example in enumerate(pool) if index not in drop]


def edit_text(text: str, rate: float, rng: random.Random) -> str:
    """`max(1, round(rate * words))` realistic edits: word swaps, typos, filler, one clause reorder."""
    tokens = text.split()
    edits = max(1, round(rate * len(words(text))))
    reordered = False
    for _ in range(edits):
        kinds = ["swap", "typo", "filler"] + ([] if reordered else ["reorder"])
        for kind in rng.sample(kinds, len(kinds)):
            if kind == "swap" and _swap(tokens, rng):
                break
            if kind == "typo" and _typo(tokens, rng):
                break
            if kind == "filler":
                tokens.insert(rng.randrange(len(tokens) + 1), rng.choice(FILLERS))
                break
            if kind == "reorder":
                moved = _reorder(" ".join(tokens), rng)
                if moved is not None:
                    tokens, reordered = moved.split(), True
                    break
    return " ".join(tokens)


def _swap(tokens: list[str], rng: random.Random) -> bool:
    options = [i for i, t in enumerate(tokens) if t.lower().strip(",.?!") in SWAPS]
    if not options:
        return False
    i = rng.choice(options)
    bare = tokens[i].lower().strip(",.?!")
    tail = tokens[i][len(tokens[i].rstrip(",.?!")) :]
    tokens[i] = rng.choice(SWAPS[bare]) + tail
    return True


def _typo(tokens: list[str], rng: random.Random) -> bool:
    options = [i for i, t in enumerate(tokens) if len(t.strip(",.?!")) >= 4]
    if not options:
        return False
    i = rng.choice(options)
    word = tokens[i]
    at = rng.randrange(1, len(word.rstrip(",.?!")) - 1)
    kind = rng.randrange(4)
    if kind == 0:
        word = word[:at] + word[at + 1] + word[at] + word[at + 2 :]
    elif kind == 1:
        word = word[:at] + word[at + 1 :]
    elif kind == 2:
        word = word[:at] + word[at] + word[at:]
    else:
        word = word[:at] + rng.choice(KEY_NEIGHBOURS) + word[at + 1 :]
    tokens[i] = word
    return True


def _reorder(text: str, rng: random.Random) -> str | None:
    """Two adjacent clauses (sentences, or parts split at a comma/and/but) swapped."""
    clauses = [c for c in re.split(r"(?<=[.?!])\s+|,\s+|\s+(?=(?:and|but|so)\s)", text) if c]
    if len(clauses) < 2:
        return None
    i = rng.randrange(len(clauses) - 1)
    clauses[i], clauses[i + 1] = clauses[i + 1], clauses[i]
    return " ".join(clauses)


class _QueryPool:
    """Distinct queries by intent, shuffled; taken without reuse (short rows) or sampled (long rows)."""

    def __init__(self, examples: list[tuple[str, str]], rng: random.Random) -> None:
        self.rng = rng
        self.by_intent: dict[str, list[str]] = defaultdict(list)
        for text, intent in distinct_pool(examples):
            self.by_intent[intent].append(text)
        for texts in self.by_intent.values():
            rng.shuffle(texts)
        self.intents = sorted(self.by_intent)
        self.everything = {intent: list(texts) for intent, texts in self.by_intent.items()}

    def take(self, count: int, reuse: bool = False) -> list[str] | None:
        """`count` queries of one random intent that has them, or None."""
        for intent in self.rng.sample(self.intents, len(self.intents)):
            if reuse and len(self.everything[intent]) >= count:
                return self.rng.sample(self.everything[intent], count)
            if not reuse and len(self.by_intent[intent]) >= count:
                return [self.by_intent[intent].pop() for _ in range(count)]
        return None


def _original_rows(pool: _QueryPool, originals: int, rng: random.Random) -> list[tuple[str, str]]:
    """(text, shape) of the originals: ROW_SHAPES' shares of `originals`, made distinct."""
    rows: list[tuple[str, str]] = []
    for name, low, high, share in ROW_SHAPES:
        for _ in range(round(originals * share)):
            taken = pool.take(rng.randint(low, high), reuse=name == "long")
            while taken and len(taken) > 1 and len(words(" ".join(taken))) > MAX_WORDS:
                taken.pop()
            if taken:
                rows.append((" ".join(taken), name))
    # Composed rows of one intent can share much vocabulary: keep them distinct too.
    drop = {j for _, j, _ in similar_pairs([t for t, _ in rows], DISTINCT_BELOW)}
    return [row for index, row in enumerate(rows) if index not in drop]


def _framed_entries(framed: list[list[str]], first_group: int) -> list[tuple[str, str, int, str]]:
    """Each pair of queries wrapped in one template frame: (text, "template", group, "template")."""
    entries = []
    for index, pair in enumerate(framed):
        opener, closer = TEMPLATE_FRAMES[index % len(TEMPLATE_FRAMES)]
        for text in pair:
            body = text[:1].lower() + text[1:] if opener.endswith(("and", "but")) else text
            framed_text = " ".join(part for part in (opener, body, closer) if part)
            entries.append((framed_text, "template", first_group + index, "template"))
    return entries


def build_corpus(
    examples: list[tuple[str, str]],
    originals: int = 1600,
    duplicate_share: float = 0.5,
    template_pairs: int = 300,
    edit_rate: float = 0.10,
    seed: int = 4,
) -> LabelledCorpus:
    """The labelled corpus (see the module docstring), shuffled; the same for the same arguments."""
    rng = random.Random(seed)
    pool = _QueryPool(examples, rng)
    framed = [taken for _ in range(template_pairs) if (taken := pool.take(2))]
    rows = _original_rows(pool, originals, rng)
    entries: list[tuple[str, str, int, str]] = []  # text, shape, group, role
    for group, (text, shape) in enumerate(rows):
        entries.append((text, shape, group, "original"))
        if rng.random() < duplicate_share:
            entries.append((edit_text(text, edit_rate, rng), shape, group, "edited"))
    entries += _framed_entries(framed, len(rows))
    rng.shuffle(entries)

    corpus = LabelledCorpus(texts=[e[0] for e in entries], shapes=[e[1] for e in entries])
    members: dict[int, list[int]] = defaultdict(list)
    for index, (_, _, group, _) in enumerate(entries):
        members[group].append(index)
    for group, indices in members.items():
        if len(indices) == 2:
            target = corpus.template_pairs if group >= len(rows) else corpus.positive_pairs
            target.add((min(indices), max(indices)))
    return corpus


def stream_rows(
    examples: list[tuple[str, str]],
    count: int,
    queries_per_row: tuple[int, int] = (2, 3),
    duplicate_share: float = 0.2,
    edit_rate: float = 0.10,
    seed: int = 9,
    vocabulary_block: int = 0,
) -> Iterator[str]:
    """`count` rows for throughput runs, generated lazily (so 1M rows cost no memory up front): each
    joins 2-3 random BANKING77 queries (~30 words); `duplicate_share` of them are edited copies of a
    recent row.

    BANKING77 has 13k queries, so a long stream reuses each query more and more often: at 1M rows
    every query is in ~190 rows, and the pairs of rows sharing one (Jaccard ~0.4-0.7, which LSH must
    check) grow with the square of the rows. With `vocabulary_block` = B, every B rows start a fresh
    vocabulary (each word gets the block number as a suffix, and copies come from the same block), so
    reuse, and the share of near-threshold pairs per row, stay what they are at B rows: the stream
    then measures how the dedup scales with rows alone."""
    rng = random.Random(seed)
    texts = [text for text, _ in examples]
    recent: list[str] = []
    for index in range(count):
        block = index // vocabulary_block if vocabulary_block else 0
        if vocabulary_block and index % vocabulary_block == 0:
            recent = []
        if recent and rng.random() < duplicate_share:
            text = edit_text(rng.choice(recent), edit_rate, rng)
        else:
            text = " ".join(rng.choice(texts) for _ in range(rng.randint(*queries_per_row)))
            if len(recent) < 10_000:
                recent.append(text)
            else:
                recent[rng.randrange(len(recent))] = text
        yield " ".join(f"{word}x{block}" for word in words(text)) if block else text
