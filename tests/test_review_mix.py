"""Stages review and mix: stratified sampling, verdicts gate the mix, ratios and lineage split, removed rows
with reasons; params.yaml shows every seed/review/mix/evaluate setting; a mix change reruns only mix (dvc)."""

from __future__ import annotations

import csv
import json
import shutil
from collections import Counter
from pathlib import Path

import pytest
import yaml

from stages.core.decisions import decision_problems
from stages.core.domain import load_domain
from stages.core.errors import UserError
from stages.core.hashing import unit_draw
from stages.core.params import Taxonomy, load_section
from stages.core.stats import wilson_interval
from stages.mix.params import ExclusionRule, MixParams
from stages.mix.preferences import choose_pair
from stages.mix.rules import Removals, apply_exclusions, max_synthetic, removal_note, select_rows
from stages.review.decisions import read_decisions
from stages.review.metrics import review_metrics
from stages.review.params import ReviewParams
from stages.review.sampling import sample_for_review
from tests.conftest import CRITICAL, ROOT, TAXONOMY, make_project, params_with, read_rows, run, run_stage

TAX = Taxonomy(slices=TAXONOMY, critical=CRITICAL)
CORRECTED = "Corrected reply that follows the policy exactly."


def _through(project: Path, last: str) -> None:
    for stage in ("seed", "generate", "filter", "dedup", "review", "mix"):
        run_stage(stage, project)
        if stage == last:
            return


def _fake_rows(count: int, slice_name: str) -> list[dict]:
    return [{"id": f"{slice_name[:4]}{i:016d}", "slice": slice_name} for i in range(count)]


def test_sampling_is_stratified_and_stable() -> None:
    rows = _fake_rows(400, "deliveries") + _fake_rows(400, "payments")
    params = ReviewParams(seed=1, critical_rate=1.0, default_rate=0.1, max_per_critical_slice=1000)
    sampled = sample_for_review(rows, params, TAX)
    payments = sum(1 for r in rows if r["slice"] == "payments" and r["id"] in sampled)
    deliveries = sum(1 for r in rows if r["slice"] == "deliveries" and r["id"] in sampled)
    assert payments == 400 and 20 <= deliveries <= 65
    more = sample_for_review(rows + _fake_rows(800, "deliveries")[400:], params, TAX)
    assert sampled <= more, "adding rows must not unsample rows already chosen"
    capped = sample_for_review(rows, params.model_copy(update={"max_per_critical_slice": 50}), TAX)
    assert sum(1 for r in rows if r["slice"] == "payments" and r["id"] in capped) == 50


def _write_decisions(path: Path, records: list[dict[str, str]]) -> None:
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=["id", "verdict", "reason", "corrected_reply", "reviewer", "note"])
        writer.writeheader()
        writer.writerows(records)


@pytest.mark.parametrize(
    ("records", "message"),
    [
        ([{"id": "nope", "verdict": "approve"}], "decisions.csv:2: field 'id': unknown row id 'nope'"),
        ([{"id": "a", "verdict": "maybe"}], "decisions.csv:2: field 'verdict': 'maybe' is not one of"),
        ([{"id": "a", "verdict": "reject"}], "decisions.csv:2: field 'reason': a reject needs a reason"),
        ([{"id": "a", "verdict": "edit"}], "decisions.csv:2: field 'corrected_reply': an edit needs"),
        (
            [{"id": "a", "verdict": "approve"}, {"id": "a", "verdict": "approve"}],
            "decisions.csv:3: field 'id': second decision for 'a'",
        ),
    ],
)
def test_bad_decisions_name_the_line(tmp_path: Path, records: list[dict[str, str]], message: str) -> None:
    path = tmp_path / "decisions.csv"
    _write_decisions(path, records)
    with pytest.raises(UserError, match=message.replace("(", r"\(")):
        read_decisions(path, {"a", "b"}, set())


def test_verdicts_gate_the_mix(project: Path) -> None:
    _through(project, "review")
    queue = read_rows(project / "data/review/queue.jsonl")
    critical = [row for row in queue if row["slice"] in CRITICAL]
    assert len(critical) >= 3
    with (project / "data/review/queue.csv").open(encoding="utf-8-sig", newline="") as handle:
        assert {r["id"] for r in csv.DictReader(handle)} == {row["id"] for row in queue}
    approve, reject, edit = critical[0], critical[1], critical[2]
    _write_decisions(project / "seeds/reviews/decisions.csv", [
        {"id": approve["id"], "verdict": "approve", "reviewer": "MK"},
        {"id": reject["id"], "verdict": "reject", "reason": "wrong fee", "reviewer": "MK"},
        {"id": edit["id"], "verdict": "edit", "corrected_reply": CORRECTED, "reviewer": "JL"},
    ])  # fmt: skip
    run_stage("filter", project)  # checks the edit, as `dvc repro` does when the decisions change
    run_stage("review", project)
    run_stage("mix", project)
    mixed = {row.get("edited_from", row["id"]): row for row in read_rows(project / "data/mix/rows.jsonl")}
    assert approve["id"] in mixed and reject["id"] not in mixed
    assert mixed[edit["id"]]["messages"][-1]["content"] == CORRECTED
    assert mixed[edit["id"]]["provenance"]["human_edited"] is True
    unapproved = {row["id"] for row in critical[3:]}
    assert not unapproved & set(mixed)
    review = json.loads((project / "metrics/review.json").read_text())
    slice_figures = [review["slices"][name] for name in CRITICAL]
    assert sum(s["reviewed"] for s in slice_figures) == 3 and sum(s["rejected"] for s in slice_figures) == 1


def test_mix_enforces_shares_and_splits_by_lineage(project: Path) -> None:
    params = yaml.safe_load((project / "params.yaml").read_text())
    params["generate"]["variations_per_seed"] = 8
    params["mix"]["critical_requires_approval"] = False
    (project / "params.yaml").write_text(yaml.safe_dump(params))
    _through(project, "mix")
    rows = read_rows(project / "data/mix/rows.jsonl")
    metrics = json.loads((project / "metrics/mix.json").read_text())
    mix = MixParams.model_validate(params["mix"])
    assert metrics["human_share"] >= mix.min_human_share
    for name in CRITICAL:
        assert metrics["slices"][name]["synthetic_share"] <= mix.max_synthetic_share_critical
    sides: dict[str, set[str]] = {}
    for row in rows:
        sides.setdefault(row["seed_id"], set()).add(row["split"])
    assert all(len(s) == 1 for s in sides.values()), "a seed lineage spans train and eval"
    train = read_rows(project / "data/mix/train.jsonl")
    assert len(train) == sum(1 for row in rows if row["split"] == "train")
    for record in train:
        assert set(record) == {"messages"}
        assert record["messages"][0] == {
            "role": "system",
            "content": load_domain(project / "seeds/domain.yaml").system_prompt,
        }
        assert record["messages"][-1]["role"] == "assistant"
    composition = (project / "metrics/mix_composition.csv").read_text().splitlines()
    assert composition[0] == "slice,source,rows" and len(composition) == 1 + 2 * len(TAXONOMY)

    # Every reviewed row is in the mix or in removed.jsonl with the rule that removed it, as counted.
    reviewed = read_rows(project / "data/review/rows.jsonl")
    removed = read_rows(project / "data/mix/removed.jsonl")
    mixed_ids = {row["id"] for row in rows if row["source"] == "synthetic"}
    removed_ids = [row["id"] for row in removed]
    assert len(set(removed_ids)) == len(removed_ids) and not mixed_ids & set(removed_ids)
    assert mixed_ids | set(removed_ids) == {row["id"] for row in reviewed}
    assert removed_ids == [row["id"] for row in reviewed if row["id"] in set(removed_ids)]  # input order
    codes = Counter(row["reasons"][0].split(":")[0] for row in removed)
    assert all(len(row["reasons"]) == 1 and ": " in row["reasons"][0] for row in removed)
    assert dict(codes) == {rule: count for rule, count in metrics["removed_by_rule"].items() if count}
    assert codes["intent_balance"] > 0 and codes["min_human_share"] + codes["critical_share_cap"] > 0
    by_id = {row["id"]: row for row in reviewed}
    assert all({k: v for k, v in row.items() if k != "reasons"} == by_id[row["id"]] for row in removed)


def test_select_rows_rules() -> None:
    humans = [{"id": f"h{i}", "slice": "deliveries", "source": "human"} for i in range(3)]
    humans += [{"id": f"b{i}", "slice": "payments", "source": "human"} for i in range(2)]
    candidates = [
        {"id": f"s{i}", "slice": "deliveries", "source": "synthetic", "review": {"status": "not_sampled"}}
        for i in range(20)
    ]
    candidates += [
        {"id": f"x{i}", "slice": "payments", "source": "synthetic", "review": {"status": "approved"}} for i in range(5)
    ]
    candidates += [{"id": "r", "slice": "deliveries", "source": "synthetic", "review": {"status": "rejected"}}]
    params = MixParams(min_human_share=0.4, max_synthetic_share_critical=0.5, max_intent_rows_vs_median=None)
    chosen, removed = select_rows(humans, candidates, params, TAX)
    payments = [r for r in chosen if r["slice"] == "payments"]
    assert len(payments) == 2 and removed.by_rule["critical_share_cap"] == 3
    assert removed.by_rule["review_rejected"] == 1
    assert removed.reasons["r"] == "review_rejected: rejected by a reviewer: "
    capped = sorted(row_id for row_id, reason in removed.reasons.items() if row_id.startswith("x"))
    assert len(capped) == 3 and removed.reasons[capped[0]] == (
        "critical_share_cap: slice payments takes at most 2 synthetic rows beside its 2 human rows"
        " (max_synthetic_share_critical 0.5)"
    )
    # every candidate is either chosen or removed with exactly one reason
    assert {r["id"] for r in chosen} | set(removed.reasons) == {r["id"] for r in candidates}
    assert not {r["id"] for r in chosen} & set(removed.reasons)
    assert sum(removed.by_rule.values()) == len(removed.reasons)
    assert len(humans) / (len(humans) + len(chosen)) >= 0.4
    assert max_synthetic(10, 0.5) == 10 and max_synthetic(7, 0.6) == 10


@pytest.mark.parametrize(("share", "approved", "flexible"), [(0.9, 12, 3), (0.8, 20, 0), (0.5, 60, 10), (0.95, 5, 1)])
def test_min_human_share_holds_when_approved_critical_rows_alone_exceed_it(
    share: float, approved: int, flexible: int
) -> None:
    """Reviewer-approved critical rows are trimmed too when they alone are more than the share allows."""
    humans = [{"id": f"h{i}", "slice": "deliveries", "source": "human"} for i in range(40)]
    humans += [{"id": f"b{i}", "slice": "payments", "source": "human"} for i in range(8)]
    candidates = [{"id": f"x{i}", "slice": "payments", "source": "synthetic", "review": {"status": "approved"}}
                  for i in range(approved)]  # fmt: skip
    candidates += [{"id": f"s{i}", "slice": "deliveries", "source": "synthetic", "review": {"status": "not_sampled"}}
                   for i in range(flexible)]  # fmt: skip
    params = MixParams(min_human_share=share, max_synthetic_share_critical=1.0, max_intent_rows_vs_median=None)
    chosen, removed = select_rows(humans, candidates, params, TAX)
    assert len(humans) / (len(humans) + len(chosen)) >= share
    assert {r["id"] for r in chosen} | set(removed.reasons) == {r["id"] for r in candidates}
    trimmed = [reason for row_id, reason in removed.reasons.items() if row_id.startswith("x")]
    assert all(reason.startswith("min_human_share:") and "for the critical slices" in reason for reason in trimmed)


def test_wilson_interval() -> None:
    low, high = wilson_interval(0, 20)
    assert low == 0 and 0.16 < high < 0.17
    low, high = wilson_interval(5, 10)
    assert 0.23 < low < 0.24 and 0.76 < high < 0.77


def _synthetic(row_id: str, slice_name: str = "deliveries", **provenance: object) -> dict:
    base = {"generator": "teacher", "generator_version": "1", "model": "m-1", "model_version": "2026-01",
            "template_id": "t", "seed_ids": ["seed-a"], "created_at": "2026-10-02T10:00:00Z"}  # fmt: skip
    base.update(provenance)
    return {"id": row_id, "slice": slice_name, "source": "synthetic", "seed_id": "seed-a", "case_id": "c",
            "provenance": base, "review": {"status": "not_sampled"}}  # fmt: skip


def test_exclusion_rules_remove_by_provenance_and_count() -> None:
    rows = [
        _synthetic("a", model_version="2026-01"),
        _synthetic("b", model_version="2026-02"),
        _synthetic("c", template_id="bad_template"),
        _synthetic("d", created_at="2026-11-20T08:00:00Z"),
        _synthetic("e", created_at=None),
    ]
    rules = [
        ExclusionRule(name="bad model version", model="m-1", model_version="2026-02"),
        ExclusionRule(name="bad template", template_id="bad_template"),
        ExclusionRule(name="november batch", generated_from="2026-11-01", generated_until="2026-11-30"),
    ]
    removals = Removals()
    kept = apply_exclusions(rows, rules, removals)
    assert [row["id"] for row in kept] == ["a", "e"]
    assert removals.by_exclusion == {"bad model version": 1, "bad template": 1, "november batch": 1}
    assert removals.reasons == {
        "b": "exclusion: bad model version (model=m-1, model_version=2026-02)",
        "c": "exclusion: bad template (template_id=bad_template)",
        "d": "exclusion: november batch (generated_from=2026-11-01, generated_until=2026-11-30)",
    }


def test_exclusion_rule_needs_a_condition(tmp_path: Path) -> None:
    path = params_with(tmp_path, "mix", "exclude", [{"name": "everything"}])
    with pytest.raises(UserError, match=r"mix\.exclude\.0: rule 'everything' has no condition"):
        load_section(path, "mix", MixParams)


def test_target_rows_trim_synthetic_only() -> None:
    humans = [{"id": f"h{i}", "slice": "deliveries", "source": "human"} for i in range(4)]
    candidates = [_synthetic(f"s{i}") for i in range(10)]
    params = MixParams(min_human_share=0.0, target_rows={"deliveries": 6}, max_intent_rows_vs_median=None)
    chosen, removed = select_rows(humans, candidates, params, TAX)
    assert len(chosen) == 2 and removed.by_rule["target_rows"] == 8
    assert set(removed.reasons.values()) == {"target_rows: slice deliveries targets 6 rows and has 4 human: room for 2"}
    params = params.model_copy(update={"target_rows": {"deliveries": 2}})
    chosen, _ = select_rows(humans, candidates, params, TAX)
    assert chosen == []  # human rows are never dropped to meet a target


def test_intent_balance_caps_each_intent_at_a_multiple_of_the_median_human_count(tmp_path: Path) -> None:
    # human rows per intent: a 4, b 4, c 8 (median 4); ratio 1.5 -> at most 6 rows per intent
    intents = ["a"] * 4 + ["b"] * 4 + ["c"] * 8
    humans = [
        {"id": f"h{i}", "slice": "deliveries", "intent": name, "source": "human"} for i, name in enumerate(intents)
    ]
    wanted = {"a": 10, "b": 1, "c": 5, "d": 9}  # d has no human rows at all
    candidates = [{**_synthetic(f"s{name}{i}"), "intent": name} for name, count in wanted.items() for i in range(count)]
    params = MixParams(min_human_share=0.0, max_intent_rows_vs_median=1.5, min_intent_cap=0)
    chosen, removed = select_rows(humans, candidates, params, TAX)
    assert Counter(row["intent"] for row in chosen) == {"a": 2, "b": 1, "d": 6}  # c's 8 human rows all stay
    assert removed.by_rule["intent_balance"] == 8 + 5 + 3
    assert {reason for row_id, reason in removed.reasons.items() if row_id.startswith("sa")} == {
        "intent_balance: intent a takes at most 6 rows (1.5 x the median intent's 4 human rows) and has 4 human"
    }
    assert select_rows(humans, candidates, params, TAX)[0] == chosen  # a seeded draw: the same rows again
    looser, _ = select_rows(humans, candidates, params.model_copy(update={"max_intent_rows_vs_median": 2.0}), TAX)
    assert {row["id"] for row in chosen} < {row["id"] for row in looser}  # raising the ratio only adds rows
    off, removed = select_rows(humans, candidates, params.model_copy(update={"max_intent_rows_vs_median": None}), TAX)
    assert len(off) == len(candidates) and "intent_balance" not in removed.by_rule

    path = params_with(tmp_path, "mix", "max_intent_rows_vs_median", 0.5)
    with pytest.raises(UserError, match=r"mix\.max_intent_rows_vs_median: .*greater than or equal to 1"):
        load_section(path, "mix", MixParams)


def test_the_intent_cap_has_a_floor_for_a_cold_start() -> None:
    # 3 cases and a failure per intent: a 1.5x cap would be 6 rows, 2 synthetic rows per intent
    humans = [
        {"id": f"h{n}{i}", "slice": "deliveries", "intent": n, "source": "human"} for n in "abc" for i in range(4)
    ]
    candidates = [{**_synthetic(f"s{n}{i}"), "intent": n} for n in "abc" for i in range(30)]
    params = MixParams(min_human_share=0.0, max_intent_rows_vs_median=1.5, min_intent_cap=20)
    chosen, removed = select_rows(humans, candidates, params, TAX)
    assert Counter(row["intent"] for row in chosen) == {"a": 16, "b": 16, "c": 16}
    assert {reason for row_id, reason in removed.reasons.items() if row_id.startswith("sa")} == {
        "intent_balance: intent a takes at most 20 rows (min_intent_cap; 1.5 x the median intent's 4 human rows"
        " would be 6) and has 4 human"
    }
    no_floor, _ = select_rows(humans, candidates, params.model_copy(update={"min_intent_cap": 0}), TAX)
    assert len(no_floor) == 3 * 2


def test_a_mix_that_keeps_few_synthetic_rows_says_which_rule_and_param() -> None:
    pairs = (("deliveries", "late_delivery"), ("payments", "refund_request"))
    humans = [{"id": f"h{n}{i}", "slice": s, "intent": n, "source": "human"} for s, n in pairs for i in range(4)]
    candidates = [{**_synthetic(f"d{i}"), "intent": "late_delivery"} for i in range(30)]
    candidates += [{**_synthetic(f"p{i}", "payments"), "intent": "refund_request"} for i in range(60)]
    params = MixParams(min_human_share=0.0)
    chosen, removed = select_rows(humans, candidates, params, TAX)
    note = removal_note(len(candidates), len(chosen), removed, params)
    assert note == (
        f"mix: {len(chosen)} of 90 synthetic rows kept; removed by critical_unapproved 60"
        " (mix.critical_requires_approval: critical slices take only reviewer-approved rows,"
        " verdicts go in seeds/reviews/decisions.csv);"
        " intent_balance 14 (mix.max_intent_rows_vs_median: 1.5, mix.min_intent_cap: 20)"
    )
    assert removal_note(10, 6, removed, params) is None  # most rows kept: nothing to say


def test_decisions_for_removed_rows_are_counted_and_unknown_can_warn(tmp_path: Path) -> None:
    path = tmp_path / "decisions.csv"
    _write_decisions(path, [{"id": "a", "verdict": "approve"}, {"id": "gone", "verdict": "approve"},
                            {"id": "typo", "verdict": "approve"}])  # fmt: skip
    with pytest.raises(UserError, match=r"decisions\.csv:4: field 'id': unknown row id 'typo'"):
        read_decisions(path, {"a"}, {"gone"})
    decisions = read_decisions(path, {"a"}, {"gone"}, on_unknown="warn")
    assert set(decisions.by_id) == {"a"} and decisions.for_removed_rows == 1 and decisions.unknown == 1


BAD_DECISIONS = [
    {"id": "a", "verdict": "approve"},
    {"id": "b", "verdict": "maybe"},  # row 3: verdict
    {"id": "typo1", "verdict": "approve"},  # row 4: unknown id
    {"id": "c", "verdict": "reject"},  # row 5: a reject needs a reason
    {"id": "a", "verdict": "approve"},  # row 6: second decision
    {"id": "typo2", "verdict": "edit", "corrected_reply": "A reply."},  # row 7: unknown id
]


def _label_studio_task(row_id: str, verdict: str) -> dict:
    region = {"from_name": "verdict", "type": "choices", "value": {"choices": [verdict]}}
    return {"id": 1, "data": {"id": row_id}, "annotations": [{"result": [region], "completed_by": 1}]}


def test_review_lists_every_problem_of_the_decision_files_at_once(tmp_path: Path) -> None:
    """Every problem, one line each in file order: validate's messages for the files, then unknown ids too."""
    path = tmp_path / "decisions.csv"
    _write_decisions(path, BAD_DECISIONS)
    export = tmp_path / "export.json"
    export.write_text(json.dumps([_label_studio_task("d", "perhaps")]))
    with pytest.raises(UserError) as raised:
        read_decisions(path, {"a", "b", "c", "d"}, set(), label_studio=export)
    lines = str(raised.value).splitlines()
    assert lines[0] == "6 problem(s):"
    assert [line.split(": field ")[0].rsplit("/", 1)[-1] for line in lines[1:]] == [
        "decisions.csv:3", "decisions.csv:4", "decisions.csv:5", "decisions.csv:6", "decisions.csv:7",
        "export.json: task 1 (Label Studio id 1, row d)",
    ]  # fmt: skip
    _, validate_lines = decision_problems(path, export)  # what python -m stages.validate lists
    assert [line for line in lines[1:] if "unknown row id" not in line] == validate_lines
    assert "unknown row id 'typo1'" in lines[2] and "set review.on_unknown_id: warn" in lines[2]
    assert "another generator" in lines[2]
    with pytest.raises(UserError) as raised:  # with warn, the unknown ids are counted, the rest still listed
        read_decisions(path, {"a", "b", "c", "d"}, set(), on_unknown="warn", label_studio=export)
    assert str(raised.value).startswith("4 problem(s):\n") and "unknown row id" not in str(raised.value)


def test_the_filter_and_review_stages_name_every_bad_decision(project: Path) -> None:
    _through(project, "dedup")
    _write_decisions(project / "seeds/reviews/decisions.csv", BAD_DECISIONS)
    for stage, rows in (("filter", (3, 5, 6)), ("review", (2, 3, 4, 5, 6, 7))):  # ids a, typo1, typo2: no row has them
        result = run_stage(stage, project, check=False)
        assert result.returncode == 2 and "Traceback" not in result.stderr
        error = result.stderr[result.stderr.index("error: ") :].splitlines()
        assert error[0] == f"error: {len(rows)} problem(s):"
        assert [line.split(": field ")[0] for line in error[1:]] == [f"seeds/reviews/decisions.csv:{r}" for r in rows]


def test_review_budget_goes_to_critical_slices_first() -> None:
    rows = _fake_rows(300, "deliveries") + _fake_rows(100, "payments")
    params = ReviewParams(seed=1, critical_rate=1.0, default_rate=0.5, budget_rows=120)
    sampled = sample_for_review(rows, params, TAX)
    assert len(sampled) == 120
    assert sum(1 for r in rows if r["slice"] == "payments" and r["id"] in sampled) == 100


def test_review_queue_is_ordered_critical_slices_first_in_the_budget_order(project: Path) -> None:
    """queue.csv, queue.jsonl and label_studio.json list critical slices first, then the others, each
    by the row's review draw (ties by id), so a reviewer who stops after N rows has reviewed what a
    budget of N rows would choose; a rerun writes the same bytes."""
    _through(project, "review")
    params = load_section(project / "params.yaml", "review", ReviewParams)
    with (project / "data/review/queue.csv").open(encoding="utf-8-sig", newline="") as handle:
        records = list(csv.DictReader(handle))
    flags = [record["critical"] for record in records]
    assert "no" in flags and "yes" in flags and flags == sorted(flags, key=lambda flag: flag == "no"), flags
    keys = [
        (record["critical"] == "no", unit_draw(params.seed, "review", record["id"]), record["id"]) for record in records
    ]
    assert keys == sorted(keys)
    ids = [record["id"] for record in records]
    assert [row["id"] for row in read_rows(project / "data/review/queue.jsonl")] == ids
    tasks = json.loads((project / "data/review/label_studio.json").read_text(encoding="utf-8"))
    assert [task["data"]["id"] for task in tasks] == ids
    candidates = read_rows(project / "data/dedup/kept.jsonl")
    for budget in (1, len(ids) // 2, len(ids) - 1):
        assert sample_for_review(candidates, params.model_copy(update={"budget_rows": budget}), TAX) == set(
            ids[:budget]
        )
    before = {name: (project / "data/review" / name).read_bytes() for name in ("queue.csv", "queue.jsonl")}
    run_stage("review", project)
    assert {name: (project / "data/review" / name).read_bytes() for name in before} == before


def test_mix_outputs_preferences_card_and_valid_chat_format(project: Path) -> None:
    from stages.mix.formats import chat_record_problem

    _through(project, "mix")
    for split in ("train", "eval"):
        for record in read_rows(project / f"data/mix/{split}.jsonl"):
            assert chat_record_problem(record) is None
    assert (
        chat_record_problem({"messages": [{"role": "user", "content": "only a question"}]})
        == "no assistant message to learn from"
    )
    assert chat_record_problem({"messages": [{"role": "bot", "content": "x"}]}).startswith("message 0: role")
    train_preferences = read_rows(project / "data/mix/preferences.jsonl")
    eval_preferences = read_rows(project / "data/mix/preferences_eval.jsonl")
    preferences = train_preferences + eval_preferences
    failures = [row for row in read_rows(project / "data/seed/seeds.jsonl") if row["origin"] == "failure"]
    assert len(preferences) == len(failures)
    # each pair on its seed lineage's side: a held-out conversation's pair is never in the DPO training file
    sides = {
        split: [line["messages"][:-1] for line in read_rows(project / f"data/mix/{split}.jsonl")]
        for split in ("train", "eval")
    }
    assert all(pair["prompt"] in sides["train"] for pair in train_preferences)
    assert all(pair["prompt"] in sides["eval"] for pair in eval_preferences)
    # a DPO pair's prompt is its fine-tuning line before the reply, system turn and all: SFT on train.jsonl
    # then DPO on preferences.jsonl sees one prompt format
    lines = read_rows(project / "data/mix/train.jsonl") + read_rows(project / "data/mix/eval.jsonl")
    prompts = [line["messages"][:-1] for line in lines]
    system = {"role": "system", "content": load_domain(project / "seeds/domain.yaml").system_prompt}
    for pair in preferences:
        assert set(pair) == {"prompt", "chosen", "rejected"} and pair["prompt"][0] == system
        assert pair["prompt"] in prompts and pair["prompt"][-1]["role"] == "user"
        assert [m["role"] for m in pair["chosen"] + pair["rejected"]] == ["assistant", "assistant"]
        assert pair["chosen"][0]["content"] != pair["rejected"][0]["content"]
    card = (project / "data/mix/CARD.md").read_text()
    metrics = json.loads((project / "metrics/mix.json").read_text())
    assert f"{metrics['rows']} rows: {metrics['human']} human" in card
    assert "| payments (critical) |" in card and "Mix params hash" in card and "`data/seed/seeds.jsonl` sha256" in card
    assert f"`preferences.jsonl` ({len(train_preferences)} DPO pairs) and `preferences_eval.jsonl`" in card
    assert f"({len(eval_preferences)}), {len(preferences)} in all: {len(failures)} from logged failures" in card
    assert "`prompt` is the conversation's fine-tuning line before its reply, the same system turn first" in card
    tasks = json.loads((project / "data/review/label_studio.json").read_text())
    assert len(tasks) == len(read_rows(project / "data/review/queue.jsonl")) and "conversation" in tasks[0]["data"]


def test_review_metrics_estimate_errors_and_flag_slices() -> None:
    def reviewed(slice_name: str, statuses: list[str]) -> list[dict]:
        return [
            {"id": f"{slice_name}{i}", "slice": slice_name, "review": {"status": s}} for i, s in enumerate(statuses)
        ]

    rows = reviewed("payments", ["approved"] * 8 + ["rejected"] * 2 + ["pending"] * 10)
    rows += reviewed("deliveries", ["approved"] * 30 + ["not_sampled"] * 70)
    sampled = {row["id"] for row in rows if row["review"]["status"] != "not_sampled"}
    metrics = review_metrics(rows, sampled, TAX, threshold=0.3)
    payments, deliveries = metrics["slices"]["payments"], metrics["slices"]["deliveries"]
    assert payments["error_rate"] == 0.2 and payments["error_rate_ci95"] == [0.0567, 0.5098]
    assert payments["estimated_bad_unreviewed"] == 2.0 and payments["flagged"] is True
    assert deliveries["error_rate"] == 0.0 and deliveries["flagged"] is False and deliveries["unreviewed"] == 70
    assert metrics["flagged_slices"] == ["payments"]


def _candidate(reply: str, reasons: list[str]) -> dict:
    return {"messages": [{"role": "user", "content": "my order never came"}, {"role": "assistant", "content": reply}],
            "reasons": reasons}  # fmt: skip


def test_teacher_pairs_need_one_clear_winner() -> None:
    good = "Orders arrive in the chosen slot; check the status in Orders > Track order."
    bad = "We guarantee a refund of everything today, no questions asked at all."
    record, outcome = choose_pair(
        {"candidates": [_candidate(bad, ["policy_facts: refund"]), _candidate(good, [])]}, 0.8, "Be brief."
    )
    assert outcome == "kept" and record is not None
    assert record["chosen"][0]["content"] == good and record["rejected"][0]["content"] == bad
    assert record["prompt"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "my order never came"},
    ]
    same = {"candidates": [_candidate(bad, ["blocklist: x"]), _candidate(good, ["blocklist: y"])]}
    assert choose_pair(same, 0.8, "s") == (None, "both_failed_same_check")
    assert choose_pair({"candidates": [_candidate(good, []), _candidate(good, [])]}, 0.8, "s") == (None, "no_winner")
    near = {"candidates": [_candidate(good, []), _candidate(good + " Thanks!", ["repetition: x"])]}
    assert choose_pair(near, 0.8, "s") == (None, "near_duplicate_candidates")


def _dvc_status(repo: Path) -> set[str]:
    """The stages `dvc status` reports as changed."""
    return set(json.loads(run(["dvc", "status", "--json"], repo).stdout))


PIPELINE_STAGES = ["seed", "generate", "filter", "dedup", "review", "mix", "evaluate"]


def _ran(output: str) -> list[str]:
    return [stage for stage in PIPELINE_STAGES if f"Running stage '{stage}'" in output]


@pytest.mark.dvc
def test_a_mix_change_marks_only_mix_changed_in_dvc_status(tmp_path: Path) -> None:
    """Mix's schema and params are mix's alone: editing them leaves seed..review up to date."""
    repo = make_project(tmp_path)
    shutil.copy(ROOT / "dvc.yaml", repo / "dvc.yaml")
    for folder in ("stages", "prompts"):
        shutil.copytree(ROOT / folder, repo / folder, ignore=shutil.ignore_patterns("__pycache__"))
    run(["git", "init", "-q", "-b", "main"], repo)
    run(["dvc", "init", "-q"], repo)
    run(["dvc", "config", "core.analytics", "false"], repo)
    assert _ran(run(["dvc", "repro"], repo).stdout) == PIPELINE_STAGES
    assert _dvc_status(repo) == set()

    # The schema: a default that params.yaml overrides, so only the code's hash changes.
    schema = repo / "stages/mix/params.py"
    old = "pair_max_similarity: float = Field(default=0.8,"
    assert old in schema.read_text()
    schema.write_text(schema.read_text().replace(old, "pair_max_similarity: float = Field(default=0.9,"))
    assert _dvc_status(repo) == {"mix"}
    assert _ran(run(["dvc", "repro"], repo).stdout) == ["mix"]  # same rows out: evaluate stays up to date
    assert _dvc_status(repo) == set()

    # A mix param that changes the rows: mix, then evaluate, which reads them.
    params = yaml.safe_load((repo / "params.yaml").read_text())
    params["mix"]["min_human_share"] = 0.9
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    assert _dvc_status(repo) == {"mix"}
    assert _ran(run(["dvc", "repro"], repo).stdout) == ["mix", "evaluate"]
