"""Stage filter: quality checks on synthetic rows; every rejected row is kept with its reasons.

Outputs: data/filter/kept.jsonl, data/filter/rejected.jsonl, metrics/filter.json
(per check, per slice and per template rejection counts and rates).
"""

from __future__ import annotations

import argparse
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

from stages.common.checks import Check, build_checks, reason_code, run_checks
from stages.common.errors import run_main
from stages.common.jsonl import iter_jsonl, write_json, write_jsonl
from stages.common.metrics import share
from stages.common.params import FilterParams, load_section


def filter_rows(
    rows: list[dict[str, Any]], checks: list[tuple[str, Check]]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    kept, rejected = [], []
    for row in rows:
        reasons = run_checks(row, checks)
        if reasons:
            rejected.append({**row, "reasons": reasons})
        else:
            kept.append(row)
    return kept, rejected


def filter_metrics(kept: list[dict[str, Any]], rejected: list[dict[str, Any]]) -> dict[str, Any]:
    total = len(kept) + len(rejected)
    by_reason: Counter[str] = Counter()
    groups: dict[str, dict[str, dict[str, int]]] = {"slices": defaultdict(dict), "templates": defaultdict(dict)}
    for row in kept + rejected:
        codes = sorted({reason_code(reason) for reason in row.get("reasons", [])})
        by_reason.update(codes)
        for group, key in (("slices", row.get("slice", "?")), ("templates", _template(row))):
            figures = groups[group][key]
            figures["rows"] = figures.get("rows", 0) + 1
            figures["rejected"] = figures.get("rejected", 0) + (1 if codes else 0)
            for code in codes:
                figures[f"rejected_{code}"] = figures.get(f"rejected_{code}", 0) + 1
    for group in groups.values():
        for figures in group.values():
            figures["reject_rate"] = share(figures["rejected"], figures["rows"])
    return {
        "rows": total,
        "kept": len(kept),
        "rejected": len(rejected),
        "reject_rate": share(len(rejected), total),
        "by_reason": dict(sorted(by_reason.items())),
        "slices": {name: groups["slices"][name] for name in sorted(groups["slices"])},
        "templates": {name: groups["templates"][name] for name in sorted(groups["templates"])},
    }


def _template(row: dict[str, Any]) -> str:
    provenance = row.get("provenance") or {}
    return str(provenance.get("template_id", "none"))


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m stages.filter", description=__doc__)
    parser.add_argument("--rows", type=Path, default=Path("data/generate/rows.jsonl"))
    parser.add_argument("--blocklist", type=Path, default=Path("seeds/blocklist.txt"))
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    parser.add_argument("--out", type=Path, default=Path("data/filter"))
    parser.add_argument("--metrics", type=Path, default=Path("metrics/filter.json"))
    args = parser.parse_args()

    params = load_section(args.params, "filter", FilterParams)
    checks = build_checks(params, args.blocklist)
    rows = [row for _, row in iter_jsonl(args.rows)]
    kept, rejected = filter_rows(rows, checks)
    write_jsonl(args.out / "kept.jsonl", kept)
    write_jsonl(args.out / "rejected.jsonl", rejected)
    write_json(args.metrics, filter_metrics(kept, rejected))
    print(f"filter: kept {len(kept)} of {len(rows)} ({len(rejected)} rejected)")


if __name__ == "__main__":
    run_main(main)
