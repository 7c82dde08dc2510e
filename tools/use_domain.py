"""Make a domain folder the repository's domain: its files become seeds/, its taxonomy params.yaml's.

    python tools/use_domain.py examples/travel

A domain folder holds what seeds/ holds (domain.yaml, policy.md, cases.jsonl, failures.jsonl,
eval_traffic.jsonl, blocklist.txt; reviews/ and lexicon.yaml are created empty if absent; README.md) plus
taxonomy.yaml, the params.yaml `taxonomy` section for it. seeds/ is replaced as a whole; in
params.yaml only the `taxonomy:` block is replaced (its text, so every other line and comment stays).
Then: `python -m stages.validate`, `dvc repro`, and commit dvc.lock and metrics/ (README, "Start your
own data set"). Exits 2 with a one-line message if the folder lacks a file the pipeline needs or its
taxonomy.yaml (or params.yaml) cannot be read.
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

from stages.core.errors import UserError, run_main
from stages.core.files import read_text
from stages.core.params import Taxonomy, load_section

REQUIRED = ("domain.yaml", "policy.md", "cases.jsonl", "failures.jsonl", "eval_traffic.jsonl", "blocklist.txt")
TAXONOMY_FILE = "taxonomy.yaml"
LABEL_STUDIO_CONFIG = Path(__file__).resolve().parents[1] / "stages/review/label_studio_config.xml"


def _taxonomy_start(lines: list[str], path: Path, purpose: str = "") -> int:
    """The index of the top-level `taxonomy:` line; a UserError naming `path` if there is none."""
    start = next((i for i, line in enumerate(lines) if line.startswith("taxonomy:")), None)
    if start is None:
        raise UserError(f"{path}: no top-level 'taxonomy:' section{purpose}")
    return start


def taxonomy_block(path: Path) -> str:
    """The `taxonomy:` block of a taxonomy file, from its `taxonomy:` line to the end."""
    lines = read_text(path, "taxonomy file").splitlines(keepends=True)
    return "".join(lines[_taxonomy_start(lines, path) :]).rstrip("\n") + "\n"


def replace_taxonomy(params: Path, block: str) -> None:
    """params.yaml with its top-level `taxonomy:` block (up to the next top-level line) replaced by `block`."""
    lines = read_text(params, "params file").splitlines(keepends=True)
    start = _taxonomy_start(lines, params, " to replace")
    end = next((i for i in range(start + 1, len(lines)) if lines[i].strip() and not lines[i][0].isspace()), len(lines))
    while end > start + 1 and not lines[end - 1].strip():
        end -= 1  # keep the blank line(s) before the next section
    params.write_text("".join([*lines[:start], block, *lines[end:]]), encoding="utf-8")


def use_domain(folder: Path, seeds: Path, params: Path) -> list[str]:
    """Copy `folder` to `seeds` (replacing it) and its taxonomy into `params`; the files copied."""
    missing = [name for name in (*REQUIRED, TAXONOMY_FILE) if not (folder / name).is_file()]
    if missing:
        raise UserError(f"{folder}: missing {', '.join(missing)} (see README, 'Start your own data set')")
    load_section(folder / TAXONOMY_FILE, "taxonomy", Taxonomy)  # a bad taxonomy stops here, nothing changed
    block = taxonomy_block(folder / TAXONOMY_FILE)
    if seeds.exists():
        shutil.rmtree(seeds)
    shutil.copytree(folder, seeds, ignore=shutil.ignore_patterns(TAXONOMY_FILE, "__pycache__"))
    (seeds / "reviews").mkdir(exist_ok=True)
    empty = {  # reviewers' files, empty until someone reviews; no domain words: the neutral lexicon alone
        "reviews/decisions.csv": "id,verdict,reason,corrected_reply,reviewer,note\n",
        "reviews/label_studio_export.json": "[]\n",
        "lexicon.yaml": "# the built-in generator's domain words: none yet (its neutral default alone)\n",
        # the review queue's Label Studio config: the engine's, whose control names are the decision columns
        "reviews/label_studio_config.xml": LABEL_STUDIO_CONFIG.read_text(encoding="utf-8"),
    }
    for name, text in empty.items():
        if not (seeds / name).exists():
            (seeds / name).write_text(text, encoding="utf-8")
    replace_taxonomy(params, block)
    return sorted(str(path.relative_to(seeds)) for path in seeds.rglob("*") if path.is_file())


def main() -> None:
    """Parse the command line and switch the domain; print what changed and what to run next."""
    parser = argparse.ArgumentParser(prog="python tools/use_domain.py", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    parser.add_argument("folder", type=Path, help="the domain folder, e.g. examples/travel")
    parser.add_argument("--seeds", type=Path, default=Path("seeds"))
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    args = parser.parse_args()
    if not args.folder.is_dir():
        raise UserError(f"{args.folder}: not a folder")
    files = use_domain(args.folder, args.seeds, args.params)
    print(f"{args.seeds}/: {', '.join(files)}")
    print(f"{args.params}: taxonomy from {args.folder / TAXONOMY_FILE}")
    print("next: python -m stages.validate && dvc repro")


if __name__ == "__main__":
    run_main(main)
