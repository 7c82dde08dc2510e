"""bench/bench_banking77.py: a small run on real BANKING77 traffic (skipped where the data is absent)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from bench.bench_banking77 import banking77_dir, markdown_table, run_benchmark
from tests.conftest import ROOT, env_with_venv, read_rows

INTENTS = ["card_arrival", "activate_my_card", "lost_or_stolen_card", "compromised_card"]
TEST_ROWS_PER_INTENT = 40  # BANKING77's test split has 40 rows for every intent


def test_benchmark_skips_cleanly_without_the_data(tmp_path: Path) -> None:
    env = {**env_with_venv(), "BANKING77_DIR": str(tmp_path / "absent")}
    result = subprocess.run(
        [sys.executable, str(ROOT / "bench/bench_banking77.py")], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert "bench_banking77: skipped, BANKING77 not found" in result.stdout


def _taxonomy_intents() -> set[str]:
    """The intents of the repository's taxonomy (params.yaml): the benchmark runs on those BANKING77 has."""
    taxonomy = yaml.safe_load((ROOT / "params.yaml").read_text(encoding="utf-8"))["taxonomy"]
    return {intent for names in taxonomy["slices"].values() for intent in names}


@pytest.mark.skipif(not (banking77_dir() / "test.csv").exists(), reason="BANKING77 not in ../shared/data/banking77")
@pytest.mark.skipif(
    not set(INTENTS) <= _taxonomy_intents(),
    reason="the repository's taxonomy is another domain's: BANKING77 traffic has none of its intents",
)
def test_small_benchmark_run_on_banking77(tmp_path: Path) -> None:
    metrics = run_benchmark(banking77_dir(), per_intent=3, intents=INTENTS, keep=tmp_path)
    assert len(read_rows(tmp_path / "seeds/cases.jsonl")) == 3 * len(INTENTS)
    eval_set = metrics["eval_set"]
    assert eval_set["intents"] == len(INTENTS)
    assert eval_set["rows"] + eval_set["leaked_removed"] == TEST_ROWS_PER_INTENT * len(INTENTS)
    assert eval_set["skipped_unknown_intent"] > 2000  # the other 73 intents of test.csv
    assert set(metrics["slices"]) == {"cards", "fraud_security"}
    for block in metrics["slices"].values():
        assert 0 < block["train_rows"]["human"] <= 2 * 3  # two intents a slice, 3 seeds each at most
        assert block["train_rows"]["synthetic"] > 0  # critical slices too: the bench has no human approval
        assert all(0 <= block[name]["accuracy"] <= 1 for name in ("human", "synthetic", "mix"))
    table = markdown_table(metrics).splitlines()
    assert table[2].startswith("| **overall** | ") and len(table) == 2 + 1 + len(metrics["slices"])
