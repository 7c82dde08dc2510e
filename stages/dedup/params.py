"""Params of the dedup stage: the `dedup` section of params.yaml, the only place its defaults live."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from stages.core.params import Section


class DedupParams(Section):
    """The `dedup` section. Defaults equal params.yaml, where each setting has its one-line reason; the
    near-duplicate choices were measured with bench/bench_dedup.py (BENCHMARKS.md, "Near-duplicate
    accuracy"). A bad combination is a ValueError naming both keys (bands x rows_per_band above num_perm,
    decontaminate_min_words above decontaminate_ngram)."""

    text: Literal["user", "conversation"] = "user"  # what is compared: the user turns or the whole conversation
    # near-duplicates
    ngram: int = Field(default=1, ge=1, le=13)  # words per shingle
    threshold: float = Field(default=0.75, gt=0, le=1)  # exact Jaccard of the shingle sets
    max_difference: int = Field(default=2, ge=0)  # ...or at most this many differing shingles (Jaccard >= 0.5)
    num_perm: int = Field(default=128, ge=16, le=1024)  # MinHash permutations
    bands: int = Field(default=16, ge=1)  # LSH bands
    rows_per_band: int = Field(default=8, ge=1)  # signature values per band
    against_seeds: bool = True  # also remove near-copies of the training seeds
    # true: compare each row within its seed's lineage first (stages/dedup/flat.py): cost per row flat in
    # the variations per seed; decisions differ from the default's (README, "Lineage-first comparison")
    lineage_walk: bool = False
    # decontamination
    decontaminate_eval: bool = True  # remove rows matching the eval split (exact, n-gram or near)
    decontaminate_ngram: int = Field(default=13, ge=1, le=16)  # words per eval n-gram
    decontaminate_min_words: int = Field(default=8, ge=1)  # shorter eval texts give no n-gram

    @model_validator(mode="after")
    def _bands_fit(self) -> DedupParams:
        if self.bands * self.rows_per_band > self.num_perm:
            raise ValueError(
                f"bands x rows_per_band = {self.bands * self.rows_per_band} exceeds num_perm = {self.num_perm}"
            )
        if self.decontaminate_min_words > self.decontaminate_ngram:
            raise ValueError(
                f"decontaminate_min_words = {self.decontaminate_min_words} exceeds"
                f" decontaminate_ngram = {self.decontaminate_ngram}"
            )
        return self
