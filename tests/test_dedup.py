"""Stage dedup: datasketch-compatible signatures, exact and near duplicates, eval decontamination."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from datasketch import MinHash, MinHashLSH

from stages.common.minhash import BandIndex, Signer, shingle_hash, shingle_set, shingles
from stages.common.params import DedupParams
from stages.common.rows import row_id
from stages.dedup import dedup_metrics, deduplicate
from tests.conftest import read_rows, run_stage

TEXTS = [
    "my card has not arrived yet and I ordered it two weeks ago what can I do",
    "my card has not arrived yet and i ordered it 2 weeks ago what can i do now",
    "how do I activate the card I just received in the post",
    "there is a fee on my statement for a card payment abroad that I do not understand",
]


def test_signatures_are_identical_to_datasketch() -> None:
    signer = Signer(128)
    for text in TEXTS:
        reference = MinHash(num_perm=128, seed=1, hashfunc=shingle_hash, scheme="affine32")
        for shingle in shingles(text, 2):
            reference.update(shingle)
        ours = signer.signature(shingle_set(text, 2))
        assert np.array_equal(ours, reference.hashvalues)


def test_band_index_finds_what_datasketch_lsh_finds() -> None:
    signer = Signer(128)
    ours = BandIndex(16, 8)
    theirs = MinHashLSH(num_perm=128, params=(16, 8))
    for key, text in enumerate(TEXTS):
        signature = signer.signature(shingle_set(text, 1))
        ours.insert(key, signature)
        theirs.insert(key, MinHash(num_perm=128, hashvalues=signature, scheme="affine32"))
    for text in TEXTS:
        signature = signer.signature(shingle_set(text, 1))
        assert set(ours.candidates(signature)) == set(
            theirs.query(MinHash(num_perm=128, hashvalues=signature, scheme="affine32"))
        )


def _row(text: str, source: str = "synthetic", template: str = "t1", slice_name: str = "cards") -> dict:
    provenance = None
    if source == "synthetic":
        provenance = {"generator": "builtin", "generator_version": "1", "model": "m", "template_id": template,
                      "template_hash": "h", "temperature": 0.5, "sampling_seed": len(text),
                      "seed_ids": ["s" * 20], "params_hash": "p"}  # fmt: skip
    row = {
        "messages": [{"role": "user", "content": text}, {"role": "assistant", "content": "the same reply every time"}],
        "intent": "card_arrival", "slice": slice_name, "source": source, "origin": "variation",
        "case_id": "c", "seed_id": "s" * 20, "provenance": provenance, "meta": {},
    }  # fmt: skip
    row["id"] = row_id(row)
    return row


def test_exact_near_seed_and_eval_duplicates_are_removed_with_their_match() -> None:
    seed = _row("I lost my card on the bus this morning and need a new one", source="human")
    evaluation = _row("somebody nicked my wallet with my card inside what now", source="human")
    rows = [
        _row(TEXTS[0]),
        _row(TEXTS[0].upper() + "!!"),  # exact after normalisation
        _row(TEXTS[1], template="t2"),  # near copy of TEXTS[0]
        _row("I lost my card on the bus this morning and need a new one please"),  # near the seed
        _row("somebody nicked my wallet with my card inside what now ?"),  # the eval row
        _row(TEXTS[2]),
        _row(TEXTS[3]),
    ]
    kept, removed = deduplicate(rows, [seed], [evaluation], DedupParams())
    assert [row["messages"][0]["content"] for row in kept] == [TEXTS[0], TEXTS[2], TEXTS[3]]
    by_text = {row["messages"][0]["content"]: row for row in removed}
    assert by_text[TEXTS[0].upper() + "!!"]["reasons"] == ["exact_synthetic"]
    assert by_text[TEXTS[1]]["reasons"] == ["near_synthetic"] and by_text[TEXTS[1]]["duplicate_of"] == rows[0]["id"]
    assert by_text[rows[3]["messages"][0]["content"]]["duplicate_of"] == seed["id"]
    assert by_text[rows[4]["messages"][0]["content"]]["reasons"] == ["exact_eval"]
    metrics = dedup_metrics(kept, removed)
    assert metrics["removed"] == 4 and metrics["eval_contamination"] == 1
    assert metrics["templates"]["t2"]["duplicate_rate"] == 1.0


def test_no_chaining_through_removed_rows() -> None:
    # a ~ b and b ~ c but a !~ c: b is removed as a copy of a, and c is kept because b never entered the index.
    a = "one two three four five six seven eight nine ten"
    b = "one two three four five six seven eight nine ten eleven twelve"
    c = "three four five six seven eight nine ten eleven twelve thirteen fourteen"
    kept, removed = deduplicate([_row(a), _row(b), _row(c)], [], [], DedupParams(threshold=0.8))
    assert [r["messages"][0]["content"] for r in kept] == [a, c]
    assert removed[0]["duplicate_of"] == _row(a)["id"]


def test_dedup_stage_runs_in_the_pipeline_and_standalone(project: Path) -> None:
    for stage in ("seed", "generate", "filter", "dedup"):
        run_stage(stage, project)
    kept = read_rows(project / "data/dedup/kept.jsonl")
    removed = read_rows(project / "data/dedup/removed.jsonl")
    assert len(kept) + len(removed) == len(read_rows(project / "data/filter/kept.jsonl"))
    assert all(row["duplicate_of"] and row["reasons"] for row in removed)
    metrics = json.loads((project / "metrics/dedup.json").read_text())
    assert metrics["kept"] == len(kept) and set(metrics["slices"]) <= {"cards", "billing", "fraud_security"}

    result = run_stage("dedup", project, "--rows", "data/generate/rows.jsonl", "--out", "standalone",
                       "--metrics", "standalone/metrics.json")  # fmt: skip
    assert "dedup: kept" in result.stdout and (project / "standalone/kept.jsonl").exists()
