"""The mix rules: which synthetic rows enter the mix, and why each of the others was removed.

Rules (params `mix`), applied in this order; a row is removed by the first rule that drops it:
1. `exclusion`: rules by provenance (targeted rollback: a model version, template, seed, date...);
2. `review_rejected`: reviewer-rejected rows never enter; `edit_failed`: nor do rows whose reviewer edit
   failed the filter's checks; `critical_unapproved`: in critical slices only reviewer-approved (or
   edited) rows enter when `critical_requires_approval`;
3. `critical_share_cap`: in each critical slice synthetic rows are at most `max_synthetic_share_critical`
   of the slice;
4. `target_rows`: optional per-slice caps on rows (synthetic rows are trimmed, human rows never);
5. `intent_balance`: no intent has more than `max_intent_rows_vs_median` times the median intent's human
   rows, or `min_intent_cap` rows if that is more (synthetic rows trimmed): rows per intent are a
   classifier's prior, so synthetic volume in some intents would pull other intents' traffic towards
   them (BENCHMARKS.md, issue 6); the floor lets a cold start (3 cases per intent) take synthetic rows;
6. `min_human_share`: overall, human rows are at least `min_human_share` of the mix.
Rows dropped to meet a share or a cap keep the lowest seeded per-row draws (`unit_draw(seed, salt, row id)`),
so the choice is stable and does not depend on row order. Human rows are never removed.
"""

from __future__ import annotations

import math
import statistics
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from stages.core.hashing import unit_draw
from stages.core.params import Taxonomy
from stages.mix.params import ExclusionRule, MixParams

Row = dict[str, Any]
ADMITTED_REVIEW = ("approved", "edited")
HUMAN_RULES = ("human_checks",)  # gates on human rows (stages/mix/gates.py): not in the synthetic-rows note
# The salt of each trimming rule's seeded draw: part of the params' meaning, so never renamed.
DRAW_SALTS = {
    "critical_share_cap": "critical-share",
    "target_rows": "target-rows",
    "intent_balance": "intent-balance",
    "min_human_share": "human-share",
}


@dataclass
class Removals:
    """What the rules removed: rows per rule and per exclusion rule (for metrics), a reason per row id.

    `by_rule` holds a trimming rule's key, at zero too, once the rule has looked at a slice, as
    metrics/mix.json always has; `by_exclusion` holds every exclusion rule by name, in params order.
    `reasons` maps a removed row's id to its reason, "rule: detail" (e.g. "intent_balance: intent ...").
    """

    by_rule: Counter[str] = field(default_factory=Counter)
    by_exclusion: dict[str, int] = field(default_factory=dict)
    reasons: dict[str, str] = field(default_factory=dict)

    def drop(self, rule: str, rows: Iterable[Row], detail: str) -> None:
        """Record `rows` (possibly none) as removed by `rule`, each with the reason "rule: detail"."""
        rows = list(rows)
        self.by_rule[rule] += len(rows)
        for row in rows:
            self.reasons[row["id"]] = f"{rule}: {detail}"


def max_synthetic(humans: int, synthetic_share: float) -> int:
    """Most synthetic rows allowed beside `humans` human rows for a synthetic share cap (inf at share 1)."""
    if synthetic_share >= 1:
        return math.inf  # type: ignore[return-value]
    return math.floor(humans * synthetic_share / (1 - synthetic_share) + 1e-9)


@dataclass(frozen=True)
class _Trimmer:
    """Trims a list of rows to a limit by the rule's seeded draw, recording what it removed."""

    seed: int
    removals: Removals

    def trim(self, rows: list[Row], limit: int, rule: str, detail: str) -> list[Row]:
        if len(rows) <= limit:
            self.removals.drop(rule, [], detail)
            return rows
        salt = DRAW_SALTS[rule]
        chosen = {row["id"] for row in sorted(rows, key=lambda r: unit_draw(self.seed, salt, r["id"]))[:limit]}
        self.removals.drop(rule, [row for row in rows if row["id"] not in chosen], detail)
        return [row for row in rows if row["id"] in chosen]


def rule_matches(rule: ExclusionRule, row: Row) -> bool:
    """True when every condition of `rule` holds for this synthetic row (dates compare by day)."""
    provenance = row.get("provenance") or {}
    for name in ("generator", "generator_version", "model", "model_version", "template_id"):
        wanted = getattr(rule, name)
        if wanted is not None and provenance.get(name) != wanted:
            return False
    if rule.seed_id is not None and rule.seed_id not in provenance.get("seed_ids", [row.get("seed_id")]):
        return False
    if rule.case_id is not None and row.get("case_id") != rule.case_id:
        return False
    if rule.generated_from or rule.generated_until:
        created = str(provenance.get("created_at") or "")
        if not created:
            return False  # rows without a generation date (the offline generator) match no date rule
        if rule.generated_from and created[:10] < rule.generated_from[:10]:
            return False
        if rule.generated_until and created[:10] > rule.generated_until[:10]:
            return False
    return True


def apply_exclusions(candidates: list[Row], rules: list[ExclusionRule], removals: Removals) -> list[Row]:
    """The rows no rule matches; each other row is recorded under the first rule that matches it."""
    removals.by_exclusion.update({rule.name: 0 for rule in rules})
    conditions = {
        rule.name: ", ".join(f"{k}={v}" for k, v in rule.model_dump(exclude={"name"}, exclude_none=True).items())
        for rule in rules
    }
    kept = []
    for row in candidates:
        matched = next((rule for rule in rules if rule_matches(rule, row)), None)
        if matched is None:
            kept.append(row)
        else:
            removals.by_exclusion[matched.name] += 1
            removals.reasons[row["id"]] = f"exclusion: {matched.name} ({conditions[matched.name]})"
    return kept


def review_gate(candidates: list[Row], params: MixParams, taxonomy: Taxonomy, removals: Removals) -> list[Row]:
    """The rows reviewers let through: never a rejected one; in critical slices only approved or edited
    ones when `critical_requires_approval`."""
    admitted = []
    removals.drop("edit_failed", [], "")  # the rule ran: metrics list it, at zero too
    for row in candidates:
        review = row.get("review", {})
        status = review.get("status")
        if status == "edit_failed":
            detail = f"the edit by {review.get('reviewer') or 'a reviewer'} fails the filter's checks"
            removals.drop("edit_failed", [row], f"{detail}: {'; '.join(review.get('checks', []))}")
        elif status == "rejected":
            who = review.get("reviewer") or "a reviewer"
            removals.drop("review_rejected", [row], f"rejected by {who}: {review.get('reason', '')}")
        elif taxonomy.is_critical(row["slice"]) and params.critical_requires_approval and status not in ADMITTED_REVIEW:
            detail = f"slice {row['slice']} is critical and the row is {status or 'unreviewed'}, not approved"
            removals.drop("critical_unapproved", [row], detail)
        else:
            admitted.append(row)
    return admitted


def balance_intents(
    synthetic: list[Row], human_counts: Counter[str], ratio: float, trimmer: _Trimmer, floor: int = 0
) -> list[Row]:
    """The synthetic rows kept so that no intent has more than `ratio` x the median intent's human
    rows (`human_counts`: human rows per intent), or `floor` rows if that is more, human rows included
    (an intent with more human rows than that keeps them all and no synthetic row)."""
    if not human_counts:
        return synthetic
    median = statistics.median(human_counts.values())
    ceiling = math.floor(ratio * median + 1e-9)
    why = f"{ratio:g} x the median intent's {median:g} human rows"
    if floor > ceiling:
        ceiling, why = floor, f"min_intent_cap; {why} would be {ceiling}"
    by_intent: dict[str, list[Row]] = defaultdict(list)
    for row in synthetic:
        by_intent[row["intent"]].append(row)
    chosen = set()
    for intent, rows in by_intent.items():
        detail = f"intent {intent} takes at most {ceiling} rows ({why}) and has {human_counts[intent]} human"
        limit = max(0, ceiling - human_counts[intent])
        chosen.update(row["id"] for row in trimmer.trim(rows, limit, "intent_balance", detail))
    return [row for row in synthetic if row["id"] in chosen]


def _keep_human_share(
    by_slice: dict[str, list[Row]], humans: int, params: MixParams, taxonomy: Taxonomy, trimmer: _Trimmer
) -> None:
    """Trim synthetic rows, in proportion to each slice's size, until human rows are `min_human_share`
    of the mix: the non-critical slices first, then, when reviewer-approved critical rows alone are
    more than the share allows, the critical slices too."""
    limit = max_synthetic(humans, 1 - params.min_human_share)
    critical = [name for name in by_slice if taxonomy.is_critical(name)]
    for group in ([name for name in by_slice if name not in critical], critical):
        total = sum(len(rows) for rows in by_slice.values())
        if total <= limit:
            return
        group_total = sum(len(by_slice[name]) for name in group)
        room = max(0, limit - (total - group_total))
        for name in group:
            quota = math.floor(room * len(by_slice[name]) / group_total) if group_total else 0
            detail = (
                f"human rows must be at least {params.min_human_share:g} of the mix: {limit} synthetic rows beside"
                f" {humans} human, {room} of them for the {'critical' if name in critical else 'non-critical'}"
                f" slices, {quota} for slice {name}"
            )
            by_slice[name] = trimmer.trim(by_slice[name], quota, "min_human_share", detail)


def select_rows(
    humans: list[Row], candidates: list[Row], params: MixParams, taxonomy: Taxonomy, removals: Removals | None = None
) -> tuple[list[Row], Removals]:
    """The synthetic rows admitted to the mix (in input order), and what each rule removed and why
    (recorded in `removals`, a new one if None)."""
    removals = removals if removals is not None else Removals()
    trimmer = _Trimmer(params.seed, removals)
    admitted = review_gate(apply_exclusions(candidates, params.exclude, removals), params, taxonomy, removals)
    humans_per_slice = Counter(row["slice"] for row in humans)
    by_slice: dict[str, list[Row]] = defaultdict(list)
    for row in admitted:
        by_slice[row["slice"]].append(row)
    for name in taxonomy.critical:
        share = params.max_synthetic_share_critical
        limit = max_synthetic(humans_per_slice[name], share)
        detail = (
            f"slice {name} takes at most {limit} synthetic rows beside its {humans_per_slice[name]} human rows"
            f" (max_synthetic_share_critical {share:g})"
        )
        by_slice[name] = trimmer.trim(by_slice[name], limit, "critical_share_cap", detail)
    for name, target in params.target_rows.items():
        limit = max(0, target - humans_per_slice[name])
        detail = f"slice {name} targets {target} rows and has {humans_per_slice[name]} human: room for {limit}"
        by_slice[name] = trimmer.trim(by_slice[name], limit, "target_rows", detail)
    if params.max_intent_rows_vs_median is not None:
        human_intents = Counter(row["intent"] for row in humans)
        for name, rows in by_slice.items():
            removals.drop("intent_balance", [], "")  # the rule ran: metrics list it, at zero too
            by_slice[name] = balance_intents(
                rows, human_intents, params.max_intent_rows_vs_median, trimmer, params.min_intent_cap
            )
    _keep_human_share(by_slice, len(humans), params, taxonomy, trimmer)
    chosen = {row["id"] for rows in by_slice.values() for row in rows}
    return [row for row in admitted if row["id"] in chosen], removals


def _rule_params(params: MixParams) -> dict[str, str]:
    """Per rule, the params that set it, as the one-line note names them."""
    return {
        "exclusion": "mix.exclude",
        "review_rejected": "reviewer verdicts in seeds/reviews/decisions.csv",
        "critical_unapproved": "mix.critical_requires_approval: critical slices take only reviewer-approved rows,"
        " verdicts go in seeds/reviews/decisions.csv",
        "critical_share_cap": f"mix.max_synthetic_share_critical: {params.max_synthetic_share_critical:g}",
        "target_rows": "mix.target_rows",
        "intent_balance": f"mix.max_intent_rows_vs_median: {params.max_intent_rows_vs_median},"
        f" mix.min_intent_cap: {params.min_intent_cap}",
        "min_human_share": f"mix.min_human_share: {params.min_human_share:g}",
    }


def removal_note(candidates: int, kept: int, removals: Removals, params: MixParams) -> str | None:
    """One line saying which rules removed most synthetic rows, how many and which params set them,
    when the mix keeps fewer than half of the `candidates` synthetic rows that reached it; else None."""
    if not candidates or kept * 2 >= candidates:
        return None
    counts = Counter({rule: n for rule, n in removals.by_rule.items() if n and rule not in HUMAN_RULES})
    counts["exclusion"] = sum(removals.by_exclusion.values())
    named = _rule_params(params)
    parts = [f"{rule} {count} ({named.get(rule, rule)})" for rule, count in counts.most_common() if count]
    return f"mix: {kept} of {candidates} synthetic rows kept; removed by " + "; ".join(parts)
