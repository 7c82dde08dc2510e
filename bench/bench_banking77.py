"""Benchmark: on real BANKING77 traffic, do the built-in generator's synthetic rows help or hurt?

For the taxonomy's intents that exist in BANKING77, a few real queries per intent from train.csv
become the seed cases (user turn = the query, assistant turn = a fixed short reply). The pipeline's
own stages run on them in a temporary directory (seed, generate, filter, dedup, review, mix,
evaluate, each as `python -m stages.X`), and evaluate scores the three probes on the BANKING77
test rows of those intents, read straight from test.csv through the CSV column mapping.

The data is read at run time from ../shared/data/banking77/ (or $BANKING77_DIR) and never copied
into the project; without it the script says so and exits 0.

Settings that differ from params.yaml, because a benchmark has no human in the loop:
- mix.critical_requires_approval: false (nobody reviews, so critical slices would get no synthetic rows);
- seed.min_cases_per_intent: 1; the taxonomy keeps only the chosen intents.
The test rows also go in as the eval split (seeds/eval_traffic.jsonl), so dedup decontaminates
against them exactly as it does against the repository's eval split.

`--repository-seeds` adds a run on the repository's own expert seeds (seeds/, params.yaml unchanged)
with only the eval set swapped for the BANKING77 test rows: the default pipeline on real traffic.

    python bench/bench_banking77.py                      # 5 seeds per intent, all taxonomy intents
    python bench/bench_banking77.py --seeds-per-intent 5 10 --repository-seeds
    python bench/bench_banking77.py --seeds-per-intent 3 --intents card_arrival,age_limit
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from stages.core.errors import run_main  # noqa: E402
from stages.core.text import match_key  # noqa: E402  (after the sys.path line, for `python bench/...`)

PIPELINE = ("seed", "generate", "filter", "dedup", "review", "mix", "evaluate")
TRAIN_SETS = ("human", "synthetic", "mix")
FLAGS = ("mix_worse_than_human", "mix_better_than_human", "synthetic_collapse")
FIXED_REPLY = (
    "Thanks for getting in touch. I can help with that: open the app, go to Help, pick this topic and "
    "follow the steps, and I will hand you to an agent if anything looks wrong."
)


def banking77_dir() -> Path:
    return Path(os.environ.get("BANKING77_DIR", ROOT.parent / "shared" / "data" / "banking77"))


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def chosen_taxonomy(taxonomy: dict[str, Any], available: set[str], intents: list[str] | None) -> dict[str, Any]:
    """The repository taxonomy cut down to the intents that exist in BANKING77 (and were asked for)."""
    wanted = set(intents) if intents else None
    unknown = sorted((wanted or set()) - {i for names in taxonomy["slices"].values() for i in names})
    if unknown:
        raise SystemExit(f"bench_banking77: intents {unknown} are not in params.yaml taxonomy.slices")
    slices = {}
    for slice_name, names in taxonomy["slices"].items():
        kept = [i for i in names if i in available and (wanted is None or i in wanted)]
        if kept:
            slices[slice_name] = kept
    return {"slices": slices, "critical": [name for name in taxonomy["critical"] if name in slices]}


def seed_queries(
    train: list[dict[str, str]], test_keys: set[str], intents: list[str], per_intent: int, sample_seed: int
) -> dict[str, list[str]]:
    """`per_intent` real train queries per intent, drawn with a fixed seed; none that is also a test query."""
    chosen = {}
    for intent in intents:
        pool = sorted({r["text"].strip() for r in train if r["category"] == intent} - {""})
        pool = [text for text in pool if match_key(text) not in test_keys]
        chosen[intent] = random.Random(f"{sample_seed}:{intent}").sample(pool, min(per_intent, len(pool)))
    return chosen


def write_jsonl(path: Path, records: list[dict[str, Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")


def banking77_eval_set(data_dir: Path) -> dict[str, Any]:
    """params evaluate.eval_set reading BANKING77's test.csv in place (outside the repository, so allowed
    explicitly), through the column mapping."""
    return {
        "allow_outside_repository": True,
        "path": str((data_dir / "test.csv").resolve()),
        "format": "csv",
        "columns": {"text": "text", "intent": "category", "slice": None},
        "unknown_intents": "skip",  # the other BANKING77 intents
    }


BENCH_DOMAIN = "product: BANKING77\nsystem_prompt: You are a bank's support assistant.\n"  # no policy, no PII


def build_project(workdir: Path, data_dir: Path, per_intent: int, intents: list[str] | None, sample_seed: int) -> None:
    """params.yaml and seeds/ of a throwaway project in `workdir`, seeded with BANKING77 train queries."""
    params = yaml.safe_load((ROOT / "params.yaml").read_text(encoding="utf-8"))
    train, test = read_csv(data_dir / "train.csv"), read_csv(data_dir / "test.csv")
    taxonomy = chosen_taxonomy(params["taxonomy"], {r["category"] for r in train}, intents)
    slice_of = {i: name for name, names in taxonomy["slices"].items() for i in names}
    test_rows = [r for r in test if r["category"] in slice_of]
    queries = seed_queries(train, {match_key(r["text"]) for r in test_rows}, list(slice_of), per_intent, sample_seed)

    params["taxonomy"] = taxonomy
    params["seed"]["min_cases_per_intent"] = 1
    params["mix"]["critical_requires_approval"] = False
    params["evaluate"]["eval_set"] = banking77_eval_set(data_dir)
    (workdir / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False), encoding="utf-8")

    def message_pair(text: str) -> list[dict[str, str]]:
        return [{"role": "user", "content": text}, {"role": "assistant", "content": FIXED_REPLY}]

    cases = [
        {"case_id": f"b77-{intent}-{i:03d}", "intent": intent, "slice": slice_of[intent],
         "messages": message_pair(text), "author": "banking77"}
        for intent, texts in queries.items() for i, text in enumerate(texts)
    ]  # fmt: skip
    seen: set[str] = set()
    eval_lines = []
    for i, row in enumerate(test_rows):
        key = match_key(row["text"])
        if key and key not in seen:  # the seed stage rejects two identical eval conversations
            seen.add(key)
            intent = row["category"]
            eval_lines.append(
                {"case_id": f"b77-test-{i:04d}", "intent": intent, "slice": slice_of[intent],
                 "messages": message_pair(row["text"].strip())}
            )  # fmt: skip
    write_jsonl(workdir / "seeds/cases.jsonl", cases)
    write_jsonl(workdir / "seeds/failures.jsonl", [])
    write_jsonl(workdir / "seeds/eval_traffic.jsonl", eval_lines)
    (workdir / "seeds/blocklist.txt").write_text((ROOT / "seeds/blocklist.txt").read_text(encoding="utf-8"))
    (workdir / "seeds/domain.yaml").write_text(BENCH_DOMAIN, encoding="utf-8")  # the mix's system prompt
    # BANKING77 is a bank's traffic: the built-in generator uses the example domain's lexicon.
    (workdir / "seeds/lexicon.yaml").write_text((ROOT / "seeds/lexicon.yaml").read_text(encoding="utf-8"))
    (workdir / "seeds/reviews").mkdir(parents=True, exist_ok=True)
    (workdir / "seeds/reviews/decisions.csv").write_text("id,verdict,reason,corrected_reply,reviewer,note\n")


def build_repository_project(workdir: Path, data_dir: Path) -> None:
    """The repository's own seeds/ and params.yaml, with only the eval set swapped for BANKING77 test."""
    params = yaml.safe_load((ROOT / "params.yaml").read_text(encoding="utf-8"))
    params["evaluate"]["eval_set"] = banking77_eval_set(data_dir)
    (workdir / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False), encoding="utf-8")
    shutil.copytree(ROOT / "seeds", workdir / "seeds", dirs_exist_ok=True)


def run_pipeline(workdir: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    for stage in PIPELINE:
        result = subprocess.run(
            [sys.executable, "-m", f"stages.{stage}", "--params", "params.yaml"],
            cwd=workdir,
            env=env,
            capture_output=True,
            text=True,
        )
        if result.returncode != 0:
            raise RuntimeError(f"stage {stage} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")


def run_benchmark(
    data_dir: Path,
    per_intent: int | None,
    intents: list[str] | None = None,
    sample_seed: int = 77,
    keep: Path | None = None,
) -> dict[str, Any]:
    """metrics/evaluate.json of one benchmark run; `per_intent=None` runs on the repository's seeds."""
    with tempfile.TemporaryDirectory(prefix="bench_banking77_") as scratch:
        workdir = keep or Path(scratch)
        workdir.mkdir(parents=True, exist_ok=True)
        if per_intent is None:
            build_repository_project(workdir, data_dir)
        else:
            build_project(workdir, data_dir, per_intent, intents, sample_seed)
        run_pipeline(workdir)
        return json.loads((workdir / "metrics/evaluate.json").read_text(encoding="utf-8"))


def markdown_table(metrics: dict[str, Any]) -> str:
    """Accuracy per slice of the three probes, the mix-human difference and the flags."""
    lines = [
        "| slice | test rows | train rows h / s / mix | human | synthetic | mix | mix − human (95% CI) | flags |",
        "|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for name, block in [("**overall**", metrics["overall"]), *metrics["slices"].items()]:
        rows = " / ".join(str(block["train_rows"][s]) for s in TRAIN_SETS)
        accuracy = [f"{block[s]['accuracy']:.3f}" for s in TRAIN_SETS]
        delta = block["mix_minus_human"]
        delta_text = f"{delta['accuracy']:+.3f} [{delta['accuracy_ci_low']:+.3f}, {delta['accuracy_ci_high']:+.3f}]"
        flags = ", ".join(flag for flag in FLAGS if block[flag])
        lines.append(f"| {name} | {block['eval_rows']} | {rows} | {' | '.join(accuracy)} | {delta_text} | {flags} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds-per-intent", type=int, nargs="+", default=[5])
    parser.add_argument("--intents", help="comma-separated subset of the taxonomy's intents (default: all)")
    parser.add_argument("--sample-seed", type=int, default=77, help="which train queries become seeds")
    parser.add_argument("--repository-seeds", action="store_true", help="also run on the repository's own seeds")
    parser.add_argument("--keep", type=Path, help="run in this folder and keep it (a single run only)")
    args = parser.parse_args()

    data_dir = banking77_dir()
    if not (data_dir / "train.csv").exists() or not (data_dir / "test.csv").exists():
        print(f"bench_banking77: skipped, BANKING77 not found at {data_dir}")
        return
    intents = args.intents.split(",") if args.intents else None
    runs: list[int | None] = [*args.seeds_per_intent, *([None] if args.repository_seeds else [])]
    for per_intent in runs:
        metrics = run_benchmark(data_dir, per_intent, intents, args.sample_seed, args.keep)
        eval_set = metrics["eval_set"]
        title = f"{per_intent} BANKING77 train queries per intent as seeds" if per_intent else "The repository's seeds"
        print(f"\n### {title}\n")
        print(
            f"{eval_set['rows']} test rows of {eval_set['intents']} intents ({eval_set['leaked_removed']} dropped as"
            " also in a training set). Accuracy; interval of mix − human: paired bootstrap.\n"
        )
        print(markdown_table(metrics))
        in_dist = metrics["in_distribution"]
        figures = " / ".join(f"{in_dist[s]['accuracy']:.3f}" for s in TRAIN_SETS if s in in_dist)
        print(f"\nThe same probes on the mix's own eval split ({in_dist['eval_rows']} rows), h / s / mix: {figures}")


if __name__ == "__main__":
    run_main(main)
