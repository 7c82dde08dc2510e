"""Benchmark: at a cold start (3, 5, 10 seeds per intent), does the built-in generator help, and does
it at least match plain EDA?

For each seeds-per-intent k and each of several draws, k real BANKING77 train queries per intent
(never one that is also a test query) become seed rows (user turn = the query, assistant turn = a
fixed reply). Three training sets, all built in this process from the same seeds:

- human:            the seed rows alone;
- human + built-in: plus the built-in generator's rows (stages.generate.stage.generate_builtin with
                    the repository's params and seeds/lexicon.yaml) that pass the filter's checks
                    (defaults; policy_facts off: the fixed reply states no figure) and dedup (defaults,
                    against the seeds), exactly as the pipeline runs them;
- human + EDA:      plus plain EDA (Wei and Zou, 2019, implemented below as in the authors' code:
                    letters-only lower case, synonym replacement, random insertion, random swap,
                    random deletion, alpha 0.1), the same number of rows per seed as the generator is
                    asked for (`variations_per_seed`), ungated; synonyms from WordNet 3.0 when the
                    Debian package wordnet-base is installed (/usr/share/wordnet), else from the lexicon.

Each set trains the evaluate stage's probe (TF-IDF word 1-2-grams + logistic regression, params
evaluate.probe), scored on BANKING77's test queries. Differences are paired: the same test rows and
the same seeds; the 95% interval resamples the draws and the test rows together (2,000 bootstrap
samples), so it covers both the luck of the seeds and of the test set.

Data from ../shared/data/banking77/ (or $BANKING77_DIR), read in place and never copied; without it
the script says so and exits 0.

    python -m bench.bench_cold_start                              # k = 3 5 10, 5 draws, all 77 intents
    python -m bench.bench_cold_start --seeds-per-intent 3 --draws 2 --split validation
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.bench_banking77 import FIXED_REPLY, banking77_dir, read_csv  # noqa: E402
from stages.core.errors import run_main  # noqa: E402
from stages.core.params import load_section  # noqa: E402
from stages.core.rows import row_id  # noqa: E402
from stages.core.text import match_key  # noqa: E402
from stages.dedup.params import DedupParams  # noqa: E402
from stages.dedup.stage import deduplicate  # noqa: E402
from stages.evaluate.params import EvaluateParams  # noqa: E402
from stages.evaluate.probe import train_probe  # noqa: E402
from stages.filter.checks.base import CheckInputs  # noqa: E402
from stages.filter.params import FilterParams  # noqa: E402
from stages.filter.runner import assemble_checks, filter_batches  # noqa: E402
from stages.generate.builtin import load_lexicon  # noqa: E402
from stages.generate.params import GenerateParams  # noqa: E402
from stages.generate.stage import generate_builtin  # noqa: E402

ARMS = ("human", "builtin", "eda")
BOOTSTRAP = 2000
WORDNET = Path("/usr/share/wordnet")
# The stop words of the EDA authors' code (github.com/jasonwei20/eda_nlp, code/eda.py).
_STOP_WORDS_TEXT = (
    "i me my myself we our ours ourselves you your yours yourself yourselves he him his himself she her "
    "hers herself it its itself they them their theirs themselves what which who whom this that these "
    "those am is are was were be been being have has had having do does did doing a an the and but if or "
    "because as until while of at by for with about against between into through during before after "
    "above below to from up down in out on off over under again further then once here there when where "
    "why how all any both each few more most other some such no nor not only own same so than too very s "
    "t can will just don should now"
)
EDA_STOP_WORDS = frozenset(_STOP_WORDS_TEXT.split(" "))


def wordnet_synonyms(folder: Path = WORDNET) -> dict[str, set[str]] | None:
    """word -> its WordNet synonyms (lemmas of every synset it is in), from the data.* files; None without them."""
    if not (folder / "data.noun").exists():
        return None
    synonyms: dict[str, set[str]] = defaultdict(set)
    for part in ("noun", "verb", "adj", "adv"):
        for line in (folder / f"data.{part}").read_text(encoding="utf-8", errors="replace").splitlines():
            if line.startswith(" "):
                continue  # the licence header
            fields = line.split()
            count = int(fields[3], 16)
            lemmas = [re.sub(r"\(.*\)$", "", fields[4 + 2 * i]).replace("_", " ").replace("-", " ").lower()
                      for i in range(count)]  # fmt: skip
            lemmas = [lemma for lemma in lemmas if re.fullmatch(r"[a-z ]+", lemma)]
            for lemma in lemmas:
                synonyms[lemma].update(other for other in lemmas if other != lemma)
    return dict(synonyms)


def lexicon_synonyms() -> dict[str, set[str]]:
    """word -> synonyms from the repository lexicon's one-word substitutions (EDA's fallback)."""
    synonyms: dict[str, set[str]] = defaultdict(set)
    for entry in load_lexicon(ROOT / "seeds/lexicon.yaml").substitutions:
        for source in entry.sources:
            synonyms[source].update(t for t in entry.targets if t != source)
    return dict(synonyms)


class PlainEDA:
    """The four EDA operations as in the authors' `eda()` (alpha for each, `num_aug` sentences per input)."""

    def __init__(self, synonyms: dict[str, set[str]], alpha: float = 0.1) -> None:
        self.synonyms, self.alpha = synonyms, alpha

    def _synonym(self, word: str, rng: random.Random) -> str | None:
        options = sorted(self.synonyms.get(word, set()) - {word})
        return rng.choice(options) if options else None

    def replace(self, words: list[str], n: int, rng: random.Random) -> list[str]:
        new, candidates, done = list(words), sorted({w for w in words if w not in EDA_STOP_WORDS}), 0
        rng.shuffle(candidates)
        for word in candidates:
            synonym = self._synonym(word, rng)
            if synonym:
                new, done = [synonym if w == word else w for w in new], done + 1
            if done >= n:
                break
        return " ".join(new).split()

    def insert(self, words: list[str], n: int, rng: random.Random) -> list[str]:
        new = list(words)
        for _ in range(n):
            for _attempt in range(10):
                synonym = self._synonym(rng.choice(new), rng) if new else None
                if synonym:
                    new.insert(rng.randrange(len(new) + 1), synonym)
                    break
        return new

    def swap(self, words: list[str], n: int, rng: random.Random) -> list[str]:
        new = list(words)
        for _ in range(n if len(new) > 1 else 0):
            i, j = rng.randrange(len(new)), rng.randrange(len(new))
            new[i], new[j] = new[j], new[i]
        return new

    def delete(self, words: list[str], rng: random.Random) -> list[str]:
        if len(words) == 1:
            return words
        kept = [w for w in words if rng.random() > self.alpha]
        return kept or [rng.choice(words)]

    def augment(self, sentence: str, num_aug: int, rng: random.Random) -> list[str]:
        words = re.sub(r"[^a-z ]", " ", sentence.lower().replace("’", "").replace("'", "")).split()
        if not words:
            return []
        n = max(1, int(self.alpha * len(words)))
        per_op = int(num_aug / 4) + 1
        out = [self.replace(words, n, rng) for _ in range(per_op)]
        out += [self.insert(words, n, rng) for _ in range(per_op)]
        out += [self.swap(words, n, rng) for _ in range(per_op)]
        out += [self.delete(words, rng) for _ in range(per_op)]
        rng.shuffle(out)
        return [" ".join(w) for w in out[:num_aug]]


def seed_rows(train: list[dict[str, str]], test_keys: set[str], k: int, draw: int) -> list[dict[str, Any]]:
    """k train queries per intent as seed rows (the seed stage's shape), drawn with (draw, intent)."""
    pools: dict[str, list[str]] = defaultdict(list)
    for row in train:
        if match_key(row["text"]) not in test_keys:
            pools[row["category"]].append(" ".join(row["text"].split()))
    rows = []
    for intent in sorted(pools):
        for index, text in enumerate(random.Random(f"{draw}:{intent}").sample(sorted(set(pools[intent])), k)):
            row = {
                "case_id": f"b77-{intent}-{index}", "intent": intent, "slice": "all", "source": "human",
                "origin": "case", "provenance": None, "meta": {"policy_refs": []},
                "messages": [{"role": "user", "content": text}, {"role": "assistant", "content": FIXED_REPLY}],
            }  # fmt: skip
            row["id"] = row["seed_id"] = row_id(row)
            rows.append(row)
    return rows


def _write(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def builtin_rows(seeds: list[dict[str, Any]], work: Path) -> tuple[list[str], list[str], dict[str, int]]:
    """(texts, intents, counts) of the built-in rows that pass filter and dedup."""
    params = load_section(ROOT / "params.yaml", "generate", GenerateParams)
    rows, _ = generate_builtin(seeds, params, load_lexicon(ROOT / "seeds/lexicon.yaml"))
    seeds_path = _write(work / "seeds.jsonl", seeds)
    filter_params = load_section(ROOT / "params.yaml", "filter", FilterParams)
    checks_on = [name for name in filter_params.checks if name != "policy_facts"]
    filter_params = filter_params.model_copy(update={"checks": checks_on})
    inputs = CheckInputs(blocklist=ROOT / "seeds/blocklist.txt", seeds=seeds_path, prompts=ROOT / "prompts")
    checks = assemble_checks(filter_params, inputs).checks
    kept = [row for row, reasons in filter_batches(rows, checks) if not reasons]
    dedup_params = load_section(ROOT / "params.yaml", "dedup", DedupParams)
    deduplicate(_write(work / "kept.jsonl", kept), seeds_path, _write(work / "eval.jsonl", []), dedup_params, work)
    final = [json.loads(line) for line in (work / "kept.jsonl").read_text(encoding="utf-8").splitlines()]
    texts = [row["messages"][0]["content"] for row in final]
    counts = {"generated": len(rows), "after_filter": len(kept), "after_dedup": len(final)}
    return texts, [row["intent"] for row in final], counts


def run_draw(k: int, draw: int, data: dict[str, Any], eda: PlainEDA, per_seed: int) -> dict[str, Any]:
    """Per-test-row correctness of each arm for one draw of k seeds per intent."""
    seeds = seed_rows(data["train"], data["test_keys"], k, draw)
    human = ([s["messages"][0]["content"] for s in seeds], [s["intent"] for s in seeds])
    with tempfile.TemporaryDirectory(prefix="cold_start_") as scratch:
        texts, intents, counts = builtin_rows(seeds, Path(scratch))
    rng = random.Random(f"eda:{k}:{draw}")
    eda_pairs = [(t, s["intent"]) for s in seeds for t in eda.augment(s["messages"][0]["content"], per_seed, rng)]
    sets = {
        "human": human,
        "builtin": (human[0] + texts, human[1] + intents),
        "eda": (human[0] + [t for t, _ in eda_pairs], human[1] + [i for _, i in eda_pairs]),
    }
    correct = {}
    for arm, (train_texts, train_intents) in sets.items():
        probe = train_probe(train_texts, train_intents, data["probe"])
        predicted = probe.predict(data["test_texts"])
        correct[arm] = np.array([p == t for p, t in zip(predicted, data["test_intents"], strict=True)])
    counts |= {f"{arm}_rows": len(sets[arm][0]) for arm in sets}
    return {"correct": correct, "counts": counts}


def interval(draws: list[dict[str, Any]], first: str, second: str, seed: int = 14) -> tuple[float, float, float]:
    """Mean accuracy difference first - second over draws, and its 95% interval (draws and test rows resampled)."""
    diffs = np.stack([d["correct"][first].astype(float) - d["correct"][second] for d in draws])  # (draws, rows)
    rng = np.random.default_rng(seed)
    samples = np.empty(BOOTSTRAP)
    for b in range(BOOTSTRAP):
        rows = rng.integers(0, diffs.shape[1], diffs.shape[1])
        chosen = rng.integers(0, diffs.shape[0], diffs.shape[0])
        samples[b] = diffs[np.ix_(chosen, rows)].mean()
    low, high = np.percentile(samples, [2.5, 97.5])
    return float(diffs.mean()), float(low), float(high)


def load_data(data_dir: Path, split: str) -> dict[str, Any]:
    """Train queries, evaluation queries (BANKING77 test, or a validation split carved from train) and probe params."""
    train, test = read_csv(data_dir / "train.csv"), read_csv(data_dir / "test.csv")
    if split == "validation":  # for tuning without looking at test: every 10th train query per intent held out
        held = {i for i in range(len(train)) if i % 10 == 0}
        test, train = [train[i] for i in sorted(held)], [r for i, r in enumerate(train) if i not in held]
    return {
        "train": train,
        "test_keys": {match_key(r["text"]) for r in test},
        "test_texts": [r["text"] for r in test],
        "test_intents": [r["category"] for r in test],
        "probe": load_section(ROOT / "params.yaml", "evaluate", EvaluateParams).probe,
    }


def report(k: int, draws: list[dict[str, Any]]) -> str:
    mean_acc = {arm: float(np.mean([d["correct"][arm].mean() for d in draws])) for arm in ARMS}
    counts = {key: int(np.mean([d["counts"][key] for d in draws])) for key in draws[0]["counts"]}
    rows = [f"| {k} | {len(draws)} | {counts['human_rows']} / {counts['builtin_rows']} / {counts['eda_rows']} | "
            + " | ".join(f"{mean_acc[a]:.3f}" for a in ARMS)]  # fmt: skip
    for first, second in (("builtin", "human"), ("eda", "human"), ("builtin", "eda")):
        mean, low, high = interval(draws, first, second)
        rows.append(f"{mean * 100:+.1f} [{low * 100:+.1f}, {high * 100:+.1f}]")
    per_draw = " ".join(f"{(d['correct']['builtin'].mean() - d['correct']['human'].mean()) * 100:+.1f}" for d in draws)
    gates = f"{counts['generated']} → {counts['after_filter']} → {counts['after_dedup']}"
    return " | ".join(rows) + f" | {per_draw} | {gates} |"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds-per-intent", type=int, nargs="+", default=[3, 5, 10])
    parser.add_argument("--draws", type=int, default=5)
    parser.add_argument("--split", choices=("test", "validation"), default="test")
    args = parser.parse_args()
    data_dir = banking77_dir()
    if not (data_dir / "train.csv").exists():
        print(f"bench_cold_start: skipped, BANKING77 not found at {data_dir}")
        return
    data = load_data(data_dir, args.split)
    synonyms = wordnet_synonyms()
    source = "WordNet 3.0 (wordnet-base)" if synonyms else "the lexicon (no WordNet found)"
    eda = PlainEDA(synonyms or lexicon_synonyms())
    per_seed = load_section(ROOT / "params.yaml", "generate", GenerateParams).variations_per_seed
    print(f"{len(data['test_texts'])} {args.split} queries, {len(set(data['test_intents']))} intents; "
          f"EDA synonyms from {source}, {per_seed} EDA rows per seed\n")  # fmt: skip
    print("| seeds/intent | draws | train rows h / h+b / h+e | human | h + built-in | h + EDA | built-in − human "
          "[95%] | EDA − human [95%] | built-in − EDA [95%] | built-in − human per draw | built-in rows: made → "
          "filter → dedup (mean) |")  # fmt: skip
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|")
    for k in args.seeds_per_intent:
        started = time.perf_counter()
        draws = [run_draw(k, draw, data, eda, per_seed) for draw in range(args.draws)]
        print(report(k, draws), flush=True)
        print(f"  ({time.perf_counter() - started:.0f} s)", file=sys.stderr)


if __name__ == "__main__":
    run_main(main)
