"""Params of the dedup stage: the `dedup` section of params.yaml, the only place its defaults live."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from stages.core.params import Section


class DedupParams(Section):
    """Near-duplicate settings; the defaults are measured on bench/bench_dedup.py (see BENCHMARKS.md)."""

    text: Literal["user", "conversation"] = "user"
    ngram: int = Field(default=1, ge=1, le=13)
    threshold: float = Field(default=0.75, gt=0, le=1)
    max_difference: int = Field(default=2, ge=0)
    num_perm: int = Field(default=128, ge=16, le=1024)
    bands: int = Field(default=16, ge=1)
    rows_per_band: int = Field(default=8, ge=1)
    against_seeds: bool = True
    decontaminate_eval: bool = True
    decontaminate_ngram: int = Field(default=13, ge=1, le=16)
    decontaminate_min_words: int = Field(default=8, ge=1)

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
