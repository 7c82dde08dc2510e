"""Two gates on every row of the mix, human rows included: the filter's verdict on human text, and the
fine-tuning token limit.

  human_checks  a seed row whose text failed the filter's checks (data/filter/human.jsonl,
                stages/filter/human.py) leaves the mix and gives no preference pair;
  token_limit   a row whose fine-tuning line has more tokens than `mix.fine_tuning.max_tokens_per_example`
                would be cut by the provider (stages/mix/finetune.py), so it leaves the mix.
Both record each removed row in `Removals` with its reason, as the other mix rules do.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from stages.core.jsonl import iter_jsonl
from stages.mix.finetune import TokenCounter
from stages.mix.formats import chat_record
from stages.mix.rules import Removals

Row = dict[str, Any]


def failing_seeds(path: Path) -> dict[str, Row]:
    """Seed row id -> its verdict record (`reasons`, and `where`, its file:line, when the filter knew it),
    for the seed rows the filter rejected (an absent file: none, said on stderr: the filter stage writes it)."""
    if not path.exists():
        print(f"mix: {path} not found, so seed rows are taken unchecked (run the filter stage)", file=sys.stderr)
        return {}
    return {
        record["id"]: record for _, record in iter_jsonl(path) if record.get("kind") == "seed" and record.get("reasons")
    }


def human_gate(humans: list[Row], failing: dict[str, Row], removals: Removals) -> list[Row]:
    """The human rows whose text passed the filter's checks; the others recorded under `human_checks`,
    named by file and line where the verdict has them ("seed seeds/cases.jsonl:4 (case a-001) fails ...")."""
    removals.drop("human_checks", [], "")  # the rule ran: metrics list it, at zero too
    kept = []
    for row in humans:
        verdict = failing.get(row["id"])
        if verdict:
            place = f"{verdict['where']} (case {row['case_id']})" if verdict.get("where") else row["case_id"]
            reasons = "; ".join(verdict["reasons"])
            removals.drop("human_checks", [row], f"seed {place} fails the filter's checks: {reasons}")
        else:
            kept.append(row)
    return kept


def token_gate(
    mixed: list[Row], counter: TokenCounter, system_prompt: str, limit: int, removals: Removals
) -> tuple[list[Row], list[int]]:
    """The rows whose fine-tuning line fits in `limit` tokens, with their token counts; the others are
    recorded under `token_limit`."""
    removals.drop("token_limit", [], "")
    kept, counts = [], []
    for row in mixed:
        tokens = counter.example(chat_record(row, system_prompt))
        if tokens > limit:
            detail = f"the fine-tuning line has {tokens} tokens, over mix.fine_tuning.max_tokens_per_example {limit}"
            removals.drop("token_limit", [row], detail)
        else:
            kept.append(row)
            counts.append(tokens)
    return kept, counts
