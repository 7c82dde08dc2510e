"""Two domains through the whole pipeline: rows per stage, mix minus human on each domain's own eval
traffic (overall and per slice, 95% intervals), and synthetic rows carrying a word of the other domain.

    python -m bench.bench_domains            # the domain seeds/ holds and every examples/ domain

Each domain is built in a temporary copy of this repository (seeds/ and params.yaml's taxonomy
replaced by tools/use_domain.py for an examples/ domain), running the seven stages in order with the
repository's params. "A word of the other domain" is a word of the other domain's files (seeds, eval
traffic, policy, domain file, blocklist, lexicon) that is in neither this domain's files nor the
built-in generator's neutral lexicon: it can only have come from somewhere else (before issue 14 moved
the generator's word lists out of the code, the bank's synonyms reached the travel rows). Prints one
Markdown table per figure; ratios are not timed, so the figures do not depend on the machine.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

import yaml

from stages.core.errors import run_main

ROOT = Path(__file__).resolve().parents[1]
STAGES = ("seed", "generate", "filter", "dedup", "review", "mix", "evaluate")
NEUTRAL_LEXICON = ROOT / "stages/generate/builtin/default_lexicon.yaml"  # issue 14's neutral word lists
DOMAIN_FILES = ("cases.jsonl", "failures.jsonl", "eval_traffic.jsonl", "policy.md", "domain.yaml", "blocklist.txt",
                "lexicon.yaml")  # fmt: skip
_WORD = re.compile(r"[a-z][a-z']+")


def words(text: str) -> set[str]:
    """Lower-case words of two or more letters."""
    return set(_WORD.findall(text.lower()))


def vocabulary(seeds: Path) -> set[str]:
    """Every word of a domain folder's files."""
    found: set[str] = set()
    for name in DOMAIN_FILES:
        if (seeds / name).exists():
            found |= words((seeds / name).read_text(encoding="utf-8"))
    return found


def neutral_vocabulary() -> set[str]:
    """The words of the built-in generator's neutral lexicon (none before issue 14 added the file)."""
    return words(NEUTRAL_LEXICON.read_text(encoding="utf-8")) if NEUTRAL_LEXICON.exists() else set()


def build(domain: Path | None, workdir: Path) -> Path:
    """A copy of the repository with `domain` (None: seeds/ as it is), all seven stages run; its root."""
    repo = workdir / (domain.name if domain else "seeds")
    listed = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                            capture_output=True, text=True, check=True).stdout.splitlines()  # fmt: skip
    for name in listed:
        if (ROOT / name).is_file() and not name.startswith(("data/", "metrics/", ".dvc/")):
            (repo / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, repo / name)
    env = {"PYTHONPATH": str(repo), "PATH": str(Path(sys.executable).parent)}
    if domain is not None:
        subprocess.run([sys.executable, "tools/use_domain.py", str(domain.relative_to(ROOT))], cwd=repo, env=env,
                       check=True, capture_output=True)  # fmt: skip
    for stage in STAGES:
        result = subprocess.run([sys.executable, "-m", f"stages.{stage}"], cwd=repo, env=env, capture_output=True,
                                text=True)  # fmt: skip
        if result.returncode:
            raise SystemExit(f"{repo}: stage {stage} failed:\n{result.stderr}")
    return repo


def _rows(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _metrics(repo: Path, stage: str) -> dict[str, Any]:
    return json.loads((repo / f"metrics/{stage}.json").read_text(encoding="utf-8"))


def rows_per_stage(repo: Path) -> dict[str, int]:
    """Row counts at each stage's boundary."""
    seed, generate, dedup, mix = (_metrics(repo, name) for name in ("seed", "generate", "dedup", "mix"))
    filtered = _metrics(repo, "filter")
    return {
        "seeds": seed["rows"], "eval rows": seed["eval_rows"], "generated": generate["rows"],
        "generate rejected": generate["rejected"], "filter kept": filtered["kept"],
        "filter rejected": filtered["rejected"],
        "dedup kept": dedup["kept"], "dedup removed": dedup["removed"], "mix human": mix["human"],
        "mix synthetic": mix["synthetic"], "mix removed": sum(mix["removed_by_rule"].values()),
    }  # fmt: skip


def mix_minus_human(repo: Path) -> dict[str, str]:
    """Mix - human accuracy on the eval traffic, overall and per slice: "+0.042 [-0.03, +0.11] (n=72)"."""
    evaluate = _metrics(repo, "evaluate")
    result = {}
    for name, block in [("overall", evaluate["overall"]), *evaluate["slices"].items()]:
        diff = block["mix_minus_human"]
        result[name] = (f"{diff['accuracy']:+.3f} [{diff['accuracy_ci_low']:+.3f}, {diff['accuracy_ci_high']:+.3f}]"
                        f" (n={block['eval_rows']})")  # fmt: skip
    return result


def foreign_rows(repo: Path, own: set[str], other: set[str], neutral: set[str]) -> tuple[int, int, int, Counter]:
    """(generated synthetic rows, of them carrying a foreign word, mix rows carrying one, the words)."""
    foreign = other - own - neutral
    found: Counter[str] = Counter()
    generated = _rows(repo / "data/generate/rows.jsonl")
    carrying = 0
    for row in generated:
        hits = words(" ".join(m["content"] for m in row["messages"])) & foreign
        carrying += bool(hits)
        found.update(hits)
    mixed = [row for row in _rows(repo / "data/mix/rows.jsonl") if row["source"] == "synthetic"]
    in_mix = sum(1 for row in mixed if words(" ".join(m["content"] for m in row["messages"])) & foreign)
    return len(generated), carrying, in_mix, found


def _table(title: str, columns: list[str], rows: dict[str, list[Any]]) -> str:
    lines = [f"\n{title}\n", "| " + " | ".join(["", *columns]) + " |", "|" + "---|" * (len(columns) + 1)]
    lines += ["| " + " | ".join([name, *map(str, values)]) + " |" for name, values in rows.items()]
    return "\n".join(lines)


def main() -> None:
    """Build every domain, print the three tables."""
    domains: dict[str, Path | None] = {"seeds/": None}
    domains |= {f"examples/{p.name}": p for p in sorted((ROOT / "examples").glob("*/")) if (p / "domain.yaml").exists()}
    with tempfile.TemporaryDirectory(prefix="bench-domains-") as tmp:
        repos = {name: build(folder, Path(tmp)) for name, folder in domains.items()}
        products = {
            name: yaml.safe_load((repo / "seeds/domain.yaml").read_text())["product"] for name, repo in repos.items()
        }
        names = [f"{products[name]} ({name})" for name in repos]
        counts = {name: rows_per_stage(repo) for name, repo in repos.items()}
        print(_table("Rows per stage", names, {k: [counts[n][k] for n in repos] for k in next(iter(counts.values()))}))
        for name, repo in repos.items():
            diffs = mix_minus_human(repo)
            print(_table(f"Mix minus human accuracy on {products[name]}'s eval traffic (95% interval)",
                         ["mix - human"], {slice_name: [text] for slice_name, text in diffs.items()}))  # fmt: skip
        vocab = {name: vocabulary(repo / "seeds") for name, repo in repos.items()}
        neutral = neutral_vocabulary()
        table = {}
        for name, repo in repos.items():
            other = set().union(*(vocab[o] for o in repos if o != name))
            generated, carrying, in_mix, found = foreign_rows(repo, vocab[name], other, neutral)
            ranked = sorted(found.items(), key=lambda item: (-item[1], item[0]))[:6]  # ties by word: stable
            top = ", ".join(f"{word} ({count})" for word, count in ranked) or "-"
            table[f"{products[name]} ({name})"] = [generated, carrying, in_mix, top]
        print(_table("Synthetic rows carrying a word of the other domain (must be 0)",
                     ["generated rows", "carrying one", "of them in the mix", "words (rows)"], table))  # fmt: skip
        print(f"\nneutral lexicon: {NEUTRAL_LEXICON.relative_to(ROOT) if NEUTRAL_LEXICON.exists() else 'none yet'}")


if __name__ == "__main__":
    run_main(main)
