"""Stage dedup: datasketch-compatible signatures, exact and near duplicates, eval decontamination."""

from __future__ import annotations

import json
import random
import subprocess
import sys
from itertools import combinations
from pathlib import Path

import numpy as np
import pytest
from datasketch import MinHash, MinHashLSH

from stages.core.rows import row_id
from stages.core.text import jaccard, words
from stages.dedup.candidates import band_keys, candidate_pairs
from stages.dedup.config import NearDuplicateConfig
from stages.dedup.decontamination import NgramDecontaminator
from stages.dedup.near_duplicates import NearDuplicateFinder
from stages.dedup.params import DedupParams
from stages.dedup.signatures import (
    ShingleSets,
    Signer,
    exact_key,
    shingle_hash,
    shingle_set,
    shingle_sets,
    shingles,
    tokenise,
    word_hash,
)
from stages.dedup.stage import deduplicate
from stages.dedup.verification import common_counts, is_near_duplicate
from tests.conftest import env_with_venv, read_rows, run_stage, write_lines

TEXTS = [
    "my order has not arrived yet and I placed it two hours ago what can I do",
    "my order has not arrived yet and i placed it 2 hours ago what can i do now",
    "how do I return the bag of apples that came with my delivery",
    "there is a fee on my receipt for a delivery slot that I do not understand",
]
AWKWARD = ["", "hi", "Straße ÉCOLE ﬁle", "x\x00y", "ＦＵＬＬ width", "e\u0301 composed", "one two three"]
FRAME = ("Good afternoon. I am writing to ask about the following.", "Thank you in advance for your assistance.")


_VOCABULARY_TEXT = (
    "order delivery parcel driver address street door window kitchen garden box bag bottle milk bread "
    "fruit apple banana coffee tea sugar rice pasta sauce cheese butter eggs fish chicken soup salad "
    "water juice morning evening night today yesterday tomorrow week month weekend monday friday hour "
    "minute time late early soon again still never always sometimes maybe really quite very just only "
    "also even please thanks hello sorry help need want wait call send bring leave take find check change "
    "cancel return replace pay price cost money receipt app screen button message email phone account "
    "password login profile list shop store basket trolley shelf brand size small large fresh frozen cold "
    "warm broken missing wrong extra neighbour family friend child kids guest party dinner lunch "
    "breakfast recipe oven fridge freezer table"
)
VOCABULARY = _VOCABULARY_TEXT.split()


def _seed_user_texts(count: int = 120) -> list[str]:
    """`count` distinct user turns of 16-30 distinct words from VOCABULARY (pairwise word-set Jaccard ~0.1)."""
    rng = random.Random(21)
    return [" ".join(rng.sample(VOCABULARY, rng.randint(16, 30))) for _ in range(count)]


def _row(text: str, source: str = "synthetic", template: str = "t1", slice_name: str = "deliveries") -> dict:
    provenance = None
    if source == "synthetic":
        provenance = {"generator": "builtin", "generator_version": "1", "model": "m", "template_id": template,
                      "template_hash": "h", "temperature": 0.5, "sampling_seed": len(text),
                      "seed_ids": ["s" * 20], "params_hash": "p"}  # fmt: skip
    row = {
        "messages": [{"role": "user", "content": text}, {"role": "assistant", "content": "the same reply every time"}],
        "intent": "late_delivery", "slice": slice_name, "source": source, "origin": "variation",
        "case_id": "c", "seed_id": "s" * 20, "provenance": provenance, "meta": {},
    }  # fmt: skip
    row["id"] = row_id(row)
    return row


def _texts(rows: list[dict]) -> list[str]:
    return [row["messages"][0]["content"] for row in rows]


def _dedup(
    folder: Path, rows: list[dict], seeds: list[dict], evaluation: list[dict], params: DedupParams
) -> tuple[list[dict], list[dict], dict]:
    """The stage's own `deduplicate` on JSONL files in `folder`: (kept rows, removed rows, metrics)."""
    paths = [folder / name for name in ("rows.jsonl", "seeds.jsonl", "eval.jsonl")]
    for path, lines in zip(paths, (rows, seeds, evaluation), strict=True):
        write_lines(path, lines)
    metrics = deduplicate(*paths, params, folder / "out")
    return read_rows(folder / "out/kept.jsonl"), read_rows(folder / "out/removed.jsonl"), metrics


def test_numpy_tokeniser_matches_words_and_the_reference_hashes() -> None:
    texts = TEXTS + AWKWARD + ["€5 fee’s ÄRGER", "tab\there\nnew line", "a_b don't 3.5%"]
    batch = tokenise(texts)
    for index, text in enumerate(texts):
        assert batch.row(index).tolist() == [word_hash(word.encode("utf-8")) for word in words(text)], text
        assert int(batch.exact_keys[index]) == exact_key(text)
    assert exact_key("Hello,   WORLD!") == exact_key("hello world") != exact_key("world hello")
    assert len(tokenise([])) == 0


@pytest.mark.parametrize("ngram", [1, 2, 3, 5])
def test_batch_signatures_are_identical_to_datasketch(ngram: int) -> None:
    texts = TEXTS + AWKWARD
    sets = shingle_sets(tokenise(texts), ngram)
    batch_signatures = Signer(128).signatures(sets)
    for index, text in enumerate(texts):
        reference = MinHash(num_perm=128, seed=1, hashfunc=shingle_hash, scheme="affine32")
        for shingle in shingles(text, ngram):
            reference.update(shingle)
        assert np.array_equal(batch_signatures[index], reference.hashvalues), text
        assert set(sets.row(index).tolist()) == shingle_set(text, ngram), text
        assert np.array_equal(Signer(128).signature(shingle_set(text, ngram)), reference.hashvalues)


def test_banding_finds_exactly_what_datasketch_lsh_finds() -> None:
    rng = random.Random(3)
    texts = _seed_user_texts()[:60]
    texts += [" ".join(rng.sample(t.split(), len(t.split()))[:-1]) for t in texts[:30]]  # near-ish variants
    signatures = Signer(128).signatures(shingle_sets(tokenise(texts), 1))
    ours = candidate_pairs(band_keys(signatures, 25, 5))
    lsh = MinHashLSH(num_perm=128, params=(25, 5))
    sketches = [MinHash(num_perm=128, hashvalues=s, scheme="affine32") for s in signatures]
    for key, sketch in enumerate(sketches):
        lsh.insert(key, sketch)
    theirs = {(min(a, b), max(a, b)) for a, sketch in enumerate(sketches) for b in lsh.query(sketch) if a != b}
    assert ours == theirs and len(ours) > 30


def test_exact_near_seed_and_eval_duplicates_are_removed_with_their_match(tmp_path: Path) -> None:
    seed = _row("I locked out of my account on the bus this morning and need a new one", source="human")
    evaluation = _row("somebody took my parcel from the doorstep what now", source="human")
    rows = [
        _row(TEXTS[0]),
        _row(TEXTS[0].upper() + "!!"),  # exact after normalisation
        _row(TEXTS[1], template="t2"),  # near copy of TEXTS[0]
        _row("I locked out of my account on the bus this morning and need a new one please"),  # near the seed
        _row("somebody took my parcel from the doorstep what now ?"),  # the eval row
        _row(TEXTS[2]),
        _row(TEXTS[3]),
    ]
    kept, removed, metrics = _dedup(tmp_path, rows, [seed], [evaluation], DedupParams())
    assert _texts(kept) == [TEXTS[0], TEXTS[2], TEXTS[3]]
    by_text = {row["messages"][0]["content"]: row for row in removed}
    assert by_text[TEXTS[0].upper() + "!!"]["reasons"] == ["exact_synthetic"]
    assert by_text[TEXTS[1]]["reasons"] == ["near_synthetic"] and by_text[TEXTS[1]]["duplicate_of"] == rows[0]["id"]
    assert 0.7 <= by_text[TEXTS[1]]["similarity"] < 1
    assert by_text[_texts(rows)[3]]["duplicate_of"] == seed["id"]
    assert by_text[_texts(rows)[4]]["reasons"] == ["exact_eval"]
    assert all(row["messages"] for row in removed)  # the full row is kept
    assert metrics["removed"] == 4 and metrics["eval_contamination"] == 1
    assert metrics["templates"]["t2"]["duplicate_rate"] == 1.0
    assert metrics["templates"]["t1"]["synthetic_duplicate_rate"] == round(1 / 6, 4)
    assert metrics["templates"]["t1"]["seed_duplicate_rate"] == round(1 / 6, 4)


def test_no_chaining_through_removed_rows(tmp_path: Path) -> None:
    # a ~ b and b ~ c but a !~ c: b is removed as a copy of a, and c is kept because b never entered the index.
    a = "one two three four five six seven eight nine ten"
    b = "one two three four five six seven eight nine ten eleven twelve"
    c = "three four five six seven eight nine ten eleven twelve thirteen fourteen"
    kept, removed, _ = _dedup(tmp_path, [_row(a), _row(b), _row(c)], [], [], DedupParams(threshold=0.8))
    assert _texts(kept) == [a, c]
    assert removed[0]["duplicate_of"] == _row(a)["id"]


def _greedy_by_brute_force(texts: list[str], threshold: float) -> list[int | None]:
    """Reference semantics: each row against every earlier kept row, exact Jaccard on word sets."""
    sets = [frozenset(words(text)) for text in texts]
    kept: list[int] = []
    matched: list[int | None] = []
    for index, own in enumerate(sets):
        scores = [(jaccard(own, sets[k]), -k) for k in kept if jaccard(own, sets[k]) >= threshold]
        best = max(scores, default=None)
        matched.append(None if best is None else -best[1])
        if best is None:
            kept.append(index)
    return matched


def test_greedy_decisions_equal_brute_force_greedy(tmp_path: Path) -> None:
    rng = random.Random(11)
    base = _seed_user_texts()[:40]
    texts = []
    for text in base:
        tokens = text.split()
        texts.append(text)
        for _ in range(2):  # variants with 1-3 words dropped: some above, some below the threshold
            drop = set(rng.sample(range(len(tokens)), rng.randint(1, 3)))
            texts.append(" ".join(t for i, t in enumerate(tokens) if i not in drop))
    rng.shuffle(texts)
    params = DedupParams(threshold=0.8, bands=32, rows_per_band=4, against_seeds=False, decontaminate_eval=False)
    _, removed, _ = _dedup(tmp_path, [_row(t) for t in texts], [], [], params)
    ids = [_row(t)["id"] for t in texts]
    expected = _greedy_by_brute_force(texts, 0.8)
    got = {row["id"]: row["duplicate_of"] for row in removed}
    assert len(removed) > 20
    for index, match in enumerate(expected):
        if match is None:
            assert ids[index] not in got
        else:  # same decision; the match may be any kept row above the threshold with the best similarity
            assert ids[index] in got
            matched = ids.index(got[ids[index]])
            assert jaccard(frozenset(words(texts[index])), frozenset(words(texts[matched]))) == pytest.approx(
                jaccard(frozenset(words(texts[index])), frozenset(words(texts[match])))
            )


def _edit(text: str, rng: random.Random) -> str:
    """About 10% of words edited: a filler word inserted, and from 20 words on a word garbled too."""
    tokens = text.split()
    tokens.insert(rng.randrange(len(tokens) + 1), "honestly")
    if len(tokens) > 20:
        i = rng.randrange(len(tokens))
        tokens[i] = tokens[i][::-1] if len(tokens[i]) > 3 else "please"
    return " ".join(tokens)


def test_precision_and_recall_on_varied_text(tmp_path: Path) -> None:
    """Near copies of varied turns go; distinct turns that share a template opener stay."""
    rng = random.Random(5)
    texts = _seed_user_texts()
    originals = texts[:60]
    copies = [_edit(text, rng) for text in originals]
    framed = [f"I'm travelling abroad at the moment and {text[:1].lower()}{text[1:]}" for text in texts[60:120]]
    rows = [_row(t) for t in originals + framed + copies]
    _, removed, _ = _dedup(tmp_path, rows, [], [], DedupParams(against_seeds=False, decontaminate_eval=False))
    removed_texts = set(_texts(removed))
    assert len(set(copies) & removed_texts) >= 0.95 * len(copies)  # recall (MinHash banding may miss a pair)
    assert not removed_texts & set(originals + framed)  # precision 1.0 here
    for row in removed:
        assert row["duplicate_of"] == rows[copies.index(row["messages"][0]["content"])]["id"]


def test_long_shared_frame_is_the_known_limit_and_threshold_is_the_knob(tmp_path: Path) -> None:
    """Two different short turns in one 17-word frame share most of their words (Jaccard 0.76): at the
    default 0.75 they count as near-duplicates, at 0.8 they do not (BENCHMARKS.md has the trade-off)."""
    a = f"{FRAME[0]} I've been charged twice for my music subscription this month. {FRAME[1]}"
    b = f"{FRAME[0]} I've been charged twice for the same coffee this morning! {FRAME[1]}"
    assert jaccard(shingle_set(a, 1), shingle_set(b, 1)) == pytest.approx(0.7586, abs=1e-4)
    settings = {"against_seeds": False, "decontaminate_eval": False}
    assert len(_dedup(tmp_path, [_row(a), _row(b)], [], [], DedupParams(**settings))[1]) == 1
    assert len(_dedup(tmp_path, [_row(a), _row(b)], [], [], DedupParams(threshold=0.8, **settings))[1]) == 0


LONG_EVAL = (
    "I was charged twice for the same coffee this morning and the second payment is still showing "
    "as pending in my app after the weekend"
)


def test_ngram_decontamination_rules(tmp_path: Path) -> None:
    evaluation = [
        _row(LONG_EVAL, source="human"),
        _row("why did my online payment fail again today", source="human"),  # 8 words: whole-text rule
        _row("order not arrived yet", source="human"),  # 4 words: too short for n-grams
    ]
    thirteen = " ".join(words(LONG_EVAL)[3:16])
    twelve = " ".join(words(LONG_EVAL)[3:15])
    rows = [
        _row(f"Hello there, so {thirteen}, can you explain what happens next with the refund please"),
        _row(f"Hello there, so {twelve}, can you explain what happens next with the refund money today"),
        _row("Quick one: why did my online payment fail again today? It worked last week with the same app."),
        _row("Quick one: why did my online payment fail today? It worked last week with the same phone app."),
        _row("Honestly my new order not arrived yet and I ordered it ages ago, what do I do about that"),
    ]
    _, removed, metrics = _dedup(tmp_path, rows, [], evaluation, DedupParams(against_seeds=False))
    reasons = {row["messages"][0]["content"]: row["reasons"][0] for row in removed}
    assert reasons == {_texts(rows)[0]: "ngram_eval", _texts(rows)[2]: "ngram_eval"}
    by_text = {row["messages"][0]["content"]: row for row in removed}
    assert by_text[_texts(rows)[0]]["duplicate_of"] == evaluation[0]["id"]
    assert by_text[_texts(rows)[2]]["duplicate_of"] == evaluation[1]["id"]
    assert metrics["eval_contamination"] == 2 and metrics["eval_contamination_by"]["ngram"] == 2

    decontaminator = NgramDecontaminator(ngram=13, min_words=8)
    batch = tokenise(_texts(evaluation))
    decontaminator.add_eval(batch, range(3))
    assert (decontaminator.eval_texts_indexed, decontaminator.eval_texts_too_short) == (2, 1)


def test_exact_eval_copy_beats_ngram_and_decontamination_can_be_switched_off(tmp_path: Path) -> None:
    evaluation = [_row(LONG_EVAL, source="human")]
    copy = _row(LONG_EVAL.upper())
    _, removed, _ = _dedup(tmp_path, [copy], [], evaluation, DedupParams())
    assert removed[0]["reasons"] == ["exact_eval"] and removed[0]["similarity"] == 1.0
    kept, _, _ = _dedup(tmp_path, [copy], [], evaluation, DedupParams(decontaminate_eval=False))
    assert len(kept) == 1


def test_params_name_the_key() -> None:
    with pytest.raises(ValueError, match="exceeds num_perm"):
        DedupParams(bands=30, rows_per_band=5)
    with pytest.raises(ValueError, match="decontaminate_min_words"):
        DedupParams(decontaminate_ngram=8, decontaminate_min_words=9)


def test_dedup_stage_runs_in_the_pipeline_and_standalone(project: Path, tmp_path: Path) -> None:
    for stage in ("seed", "generate", "filter", "dedup"):
        run_stage(stage, project)
    kept = read_rows(project / "data/dedup/kept.jsonl")
    removed = read_rows(project / "data/dedup/removed.jsonl")
    assert len(kept) + len(removed) == len(read_rows(project / "data/filter/kept.jsonl"))
    assert all(row["duplicate_of"] and row["reasons"] for row in removed)
    metrics = json.loads((project / "metrics/dedup.json").read_text())
    assert metrics["kept"] == len(kept) and set(metrics["slices"]) <= {"deliveries", "payments", "account"}
    assert metrics["search"]["eval_rows"] == len(read_rows(project / "data/seed/eval.jsonl"))

    result = run_stage("dedup", project, "--rows", "data/generate/rows.jsonl", "--out", "standalone",
                       "--metrics", "standalone/metrics.json")  # fmt: skip
    assert "dedup: kept" in result.stdout and (project / "standalone/kept.jsonl").exists()

    # any JSONL of rows, outside a project: no params.yaml, no seeds, no eval
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    rows = [_row(TEXTS[0]), _row(TEXTS[1]), _row(TEXTS[2])]
    (elsewhere / "mine.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    command = [sys.executable, "-m", "stages.dedup", "--rows", "mine.jsonl", "--no-seeds", "--no-eval",
               "--out", "out", "--metrics", "out/metrics.json"]  # fmt: skip
    result = subprocess.run(command, cwd=elsewhere, env=env_with_venv(), capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "built-in dedup defaults" in result.stderr and "kept 2 of 3" in result.stdout
    assert [row["reasons"] for row in read_rows(elsewhere / "out/removed.jsonl")] == [["near_synthetic"]]


def test_help_and_bad_input_are_clear(tmp_path: Path) -> None:
    help_text = subprocess.run([sys.executable, "-m", "stages.dedup", "--help"], cwd=tmp_path, env=env_with_venv(),
                               capture_output=True, text=True)  # fmt: skip
    assert help_text.returncode == 0 and "--rows" in help_text.stdout and "ngram_eval" in help_text.stdout
    assert "Standalone runs:" in help_text.stdout and "data/dedup, metrics/dedup.json" in help_text.stdout

    def dedup_cli(*args: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "stages.dedup", *args, "--no-seeds", "--no-eval"]
        return subprocess.run(command, cwd=tmp_path, env=env_with_venv(), capture_output=True, text=True)

    (tmp_path / "bad.jsonl").write_text('{"id": "x", "text": "no messages here"}\n')
    result = dedup_cli("--rows", "bad.jsonl")  # the pipeline's outputs would be overwritten
    assert result.returncode == 2 and "so give --out and --metrics too" in result.stderr
    result = dedup_cli("--rows", "bad.jsonl", "--out", "out", "--metrics", "out/metrics.json")
    assert result.returncode == 2 and "bad.jsonl: a row has no readable 'messages'" in result.stderr
    (tmp_path / "no_id.jsonl").write_text(json.dumps({"messages": [{"role": "user", "content": "hi"}]}) + "\n")
    result = dedup_cli("--rows", "no_id.jsonl", "--out", "out", "--metrics", "out/metrics.json")
    assert result.returncode == 2 and "no_id.jsonl: a row has no 'id'" in result.stderr


def test_all_pairs_of_small_sets_agree_with_exact_jaccard() -> None:
    """With generous banding, every pair at or above the threshold is a candidate (sanity of banding)."""
    texts = _seed_user_texts()[:80]
    sets = [shingle_set(text, 1) for text in texts]
    signatures = Signer(128).signatures(shingle_sets(tokenise(texts), 1))
    found = candidate_pairs(band_keys(signatures, 25, 5))
    for a, b in combinations(range(len(texts)), 2):
        if jaccard(sets[a], sets[b]) >= 0.9:
            assert (a, b) in found


def test_bulk_intersection_counts_equal_python_sets() -> None:
    rng = np.random.default_rng(4)
    rows = [np.unique(rng.integers(0, 2**32, rng.integers(1, 60), dtype=np.uint64)).astype(np.uint32)
            for _ in range(300)]  # fmt: skip
    rows += [rows[0].copy(), rows[1][:1].copy(), np.array([2**32 - 1, 0], dtype=np.uint32)[::-1].copy()]
    for index in range(0, 280, 7):  # overlapping rows: a share of another row's values plus new ones
        rows[index + 1] = np.unique(np.concatenate([rows[index][::2], rows[index + 1]]))
    offsets = np.zeros(len(rows) + 1, dtype=np.int64)
    np.cumsum([len(row) for row in rows], out=offsets[1:])
    sets = ShingleSets(np.concatenate(rows), offsets)
    first = rng.integers(0, len(rows), 200_000)  # more than one chunk of pairs
    second = rng.integers(0, len(rows), 200_000)
    counts = common_counts(sets, first, second)
    python_sets = [set(row.tolist()) for row in rows]
    expected = [len(python_sets[a] & python_sets[b]) for a, b in zip(first.tolist(), second.tolist(), strict=True)]
    assert counts.tolist() == expected
    assert counts.max() > 30 and (counts == 0).any()


def _greedy_reference(texts: list[str], threshold: float, max_difference: int) -> list[tuple[int, bool] | None]:
    """Each row against every earlier kept row: (matched row, exact) or None. An exact copy of a kept row
    wins; otherwise the most similar near-duplicate, the earliest on ties."""
    sets = [shingle_set(text, 1) for text in texts]
    keys = [exact_key(text) for text in texts]
    kept: list[int] = []
    decisions: list[tuple[int, bool] | None] = []
    for index, own in enumerate(sets):
        twin = next((k for k in kept if keys[k] == keys[index]), None)
        near = [
            (-jaccard(own, sets[k]), k)
            for k in kept
            if k != twin and is_near_duplicate(len(own & sets[k]), len(own | sets[k]), threshold, max_difference)
        ]
        decisions.append((twin, True) if twin is not None else (min(near)[1], False) if near else None)
        if decisions[-1] is None:
            kept.append(index)
    return decisions


@pytest.mark.parametrize(
    ("always_paired", "pairs_per_row"),
    [(32, 8), (2, 0), (10**6, 10**6)],
    ids=["defaults", "every-bucket-walked", "every-bucket-paired"],
)
def test_paired_and_walked_buckets_decide_like_brute_force(always_paired: int, pairs_per_row: int) -> None:
    """Hundreds of variations of one text put hundreds of rows in one bucket: such buckets are either
    turned into pairs (checked in bulk) or walked (each row against the bucket's kept rows); both must
    give exactly the greedy decisions of the brute-force reference."""
    rng = random.Random(3)
    sentence = "my grocery order was left at the wrong door twice today although my address is right"
    base = [*sentence.split(" "), "and", "the", "driver", "is", "not", "new"]
    vocabulary = ["order", "refund", "driver", "why", "again", "shop", "address", "app", "help", "urgent"]
    texts = []
    for _ in range(400):
        tokens = list(base)
        for _ in range(rng.choice([0, 1, 2, 3, 4, 6, 8])):
            tokens[rng.randrange(len(tokens))] = rng.choice(vocabulary)
        texts.append(" ".join(tokens))
    texts += [" ".join(rng.sample(base, 6)) for _ in range(100)]  # short rows: the max_difference clause
    config = NearDuplicateConfig(
        ngram=1, num_perm=128, bands=32, rows_per_band=4, threshold=0.8, max_difference=2,
        always_paired=always_paired, pairs_per_row=pairs_per_row,
    )  # fmt: skip
    finder = NearDuplicateFinder(("rows",), config)
    finder.add(tokenise(texts), 0)
    resolution = finder.resolve()
    got = [None if m is None else (m.index, m.kind == "exact") for m in resolution.matches]
    expected = _greedy_reference(texts, 0.8, 2)
    assert got == expected
    assert 100 < sum(match is not None for match in got) < 450


def test_hundreds_of_copies_stay_one_walked_bucket() -> None:
    """600 copies of one text share every band: paired, that bucket would make 180k pairs in each band
    (within the per-row budget of 60k rows). Above `max_paired` (512) it stays a bucket, checked against its
    one kept row, so hardly any pair is verified."""
    rng = random.Random(8)
    vocabulary = [f"word{i}" for i in range(3000)]
    distinct = [" ".join(rng.sample(vocabulary, rng.randint(8, 30))) for _ in range(60_000)]
    copy = "my grocery payment was declined twice today although my basket is fine and the app is not blocked"
    texts = distinct[:1500] + [copy] * 600 + distinct[1500:]
    config = NearDuplicateConfig(ngram=1, num_perm=128, bands=16, rows_per_band=8, threshold=0.75, max_difference=2)
    finder = NearDuplicateFinder(("rows",), config)
    finder.add(tokenise(texts), 0)
    resolution = finder.resolve()
    removed = [index for index, match in enumerate(resolution.matches) if match is not None]
    assert removed == list(range(1501, 2100))  # every copy but the first, as exact copies of it
    assert {resolution.matches[index].index for index in removed} == {1500}
    assert resolution.verified < 5000
