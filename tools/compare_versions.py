"""Compare data set versions offline: slice composition as a PNG and per-slice metric changes.

`dvc plots diff` renders HTML that loads Vega from a CDN, so it is blank without internet; this
draws the same comparison with matplotlib. Revisions are git revisions (branches, tags, commits);
`workspace` means the files on disk.

    python tools/compare_versions.py main my-branch --out plots/
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from stages.core.errors import run_main

COMPOSITION = "metrics/mix_composition.csv"
MIX_METRICS = "metrics/mix.json"
SLICE_FIGURES = ("rows", "synthetic_share", "synthetic_reviewed_share", "review_error_rate", "duplicate_rate")


def read_at(revision: str, path: str) -> str:
    """The text of `path` at a git revision ("workspace": on disk); exits with a one-line error if absent."""
    if revision == "workspace":
        return Path(path).read_text(encoding="utf-8")
    result = subprocess.run(["git", "show", f"{revision}:{path}"], capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(f"error: cannot read {path} at {revision}: {result.stderr.strip()}")
    return result.stdout


def composition(revision: str) -> dict[str, dict[str, int]]:
    """slice -> source -> rows at a revision."""
    table: dict[str, dict[str, int]] = {}
    for record in csv.DictReader(io.StringIO(read_at(revision, COMPOSITION))):
        table.setdefault(record["slice"], {})[record["source"]] = int(record["rows"])
    return table


def slice_changes(old: dict[str, Any], new: dict[str, Any]) -> list[tuple[str, str, Any, Any]]:
    """(slice, figure, old value, new value) for each SLICE_FIGURES entry that differs between two
    metrics/mix.json documents, slices sorted; a slice missing on one side shows None there."""
    changes = []
    for name in sorted(set(old.get("slices", {})) | set(new.get("slices", {}))):
        before, after = old.get("slices", {}).get(name, {}), new.get("slices", {}).get(name, {})
        for figure in SLICE_FIGURES:
            if before.get(figure) != after.get(figure):
                changes.append((name, figure, before.get(figure), after.get(figure)))
    return changes


def plot(revisions: list[str], tables: list[dict[str, dict[str, int]]], out: Path) -> Path:
    """Draw human and synthetic rows per slice, one bar group per revision, to `out`/composition.png."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    slices = list(dict.fromkeys(name for table in tables for name in table))
    width = 0.8 / len(revisions)
    figure, axis = plt.subplots(figsize=(9, 0.7 * len(slices) + 1.5))
    for index, (revision, table) in enumerate(zip(revisions, tables, strict=True)):
        positions = [i + index * width for i in range(len(slices))]
        human = [table.get(name, {}).get("human", 0) for name in slices]
        synthetic = [table.get(name, {}).get("synthetic", 0) for name in slices]
        axis.barh(positions, human, height=width, color=f"C{2 * index}", label=f"{revision}: human")
        axis.barh(
            positions, synthetic, left=human, height=width, color=f"C{2 * index + 1}", label=f"{revision}: synthetic"
        )
    axis.set_yticks([i + width * (len(revisions) - 1) / 2 for i in range(len(slices))], slices)
    axis.invert_yaxis()
    axis.set_xlabel("rows in the mix")
    axis.set_title("Slice composition by version")
    axis.legend(fontsize="small", loc="lower right")
    figure.tight_layout()
    out.mkdir(parents=True, exist_ok=True)
    path = out / "composition.png"
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path


def main() -> None:
    """Plot the composition of two revisions and print the per-slice figures that changed (Markdown)."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("old", help="baseline revision, e.g. main")
    parser.add_argument("new", nargs="?", default="workspace", help="revision to compare (default: workspace)")
    parser.add_argument("--out", type=Path, default=Path("plots"))
    args = parser.parse_args()

    revisions = [args.old, args.new]
    path = plot(revisions, [composition(rev) for rev in revisions], args.out)
    old, new = (json.loads(read_at(rev, MIX_METRICS)) for rev in revisions)
    print(f"wrote {path}")
    print(f"| slice | figure | {args.old} | {args.new} |\n|---|---|---|---|")
    for name, figure, before, after in slice_changes(old, new):
        print(f"| {name} | {figure} | {before} | {after} |")
    sys.stdout.flush()


if __name__ == "__main__":
    run_main(main)
