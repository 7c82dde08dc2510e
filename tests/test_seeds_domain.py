"""What must hold for the domain seeds/ holds, whichever it is (the bank example as shipped, or another
team's): the whole domain validates, every expert reply passes the filter, and the intent check
trained on the seeds keeps their built-in variations and catches wrong labels. Nothing here names a
domain's intents, slices or figures."""

from __future__ import annotations

import json
import random
import re

from stages.core.domain import load_domain
from stages.filter.checks.boilerplate import AiBoilerplateCheck, RefusalCheck
from stages.filter.checks.intent import IntentCheck, IntentClassifier, IntentParams
from stages.filter.checks.language import LanguageCheck, LanguageParams
from stages.filter.checks.salad import WordSaladCheck, WordSaladParams
from stages.generate.params import GenerateParams
from stages.generate.stage import generate_builtin
from tests.conftest import ROOT, read_rows, run_stage, seeds_training_rows

SEED_FILES = ("cases.jsonl", "failures.jsonl", "eval_traffic.jsonl")


def _expert_rows() -> list[dict]:
    return [row for name in SEED_FILES for row in read_rows(ROOT / "seeds" / name)]


def test_the_repository_domain_validates() -> None:
    """seeds/, params.yaml and prompts/ as a whole: this covers every expert reply against the blocklist,
    the PII kinds and the policy's figures, and every policy rule the seeds name."""
    result = run_stage("validate", ROOT)
    assert result.stdout.startswith("valid:"), result.stdout
    assert load_domain(ROOT / "seeds/domain.yaml").system_prompt


def test_expert_replies_pass_the_text_checks() -> None:
    refusal, boilerplate = RefusalCheck().check, AiBoilerplateCheck().check
    language, salad = LanguageCheck(LanguageParams()).check, WordSaladCheck(WordSaladParams()).check
    for row in _expert_rows():
        assert refusal(row) is None and boilerplate(row) is None and language(row) is None, row["case_id"]
        assert salad(row) is None, row["case_id"]  # real customer turns and expert replies are not word salad


def test_numbers_in_expert_replies_are_written_as_in_the_policy() -> None:
    """The seeds' own rule (seeds/README.md): every number in a reply appears literally in policy.md."""
    policy = (ROOT / "seeds/policy.md").read_text()
    for row in _expert_rows():
        for message in row["messages"]:
            if message["role"] == "assistant":
                for number in re.findall(r"\d+(?:[.,]\d+)?", message["content"]):
                    assert number in policy, f"{row['case_id']}: {number} not in policy.md"


def intent_check_counts(check: IntentCheck) -> tuple[int, int, int]:
    """(the seeds' built-in variations, one per seed; how many `check` flags; how many it flags once each
    is given another of their intents at random, seeded)."""
    rows, _ = generate_builtin(seeds_training_rows(), GenerateParams(variations_per_seed=1))
    rng = random.Random(1)
    intents = sorted({row["intent"] for row in rows})
    wrong = [{**row, "intent": rng.choice([i for i in intents if i != row["intent"]])} for row in rows]
    return (
        len(rows),
        sum(1 for reason in check.check_batch(rows) if reason),
        sum(1 for reason in check.check_batch(wrong) if reason),
    )


def test_the_intent_check_keeps_variations_and_catches_wrong_labels() -> None:
    classifier = IntentClassifier.train(seeds_training_rows())
    assert classifier is not None
    rows, flagged, flagged_wrong = intent_check_counts(IntentCheck(classifier, IntentParams()))
    assert flagged <= 0.05 * rows
    assert flagged_wrong >= 0.9 * rows


def test_every_taxonomy_intent_has_seeds_and_eval_rows() -> None:
    import yaml

    taxonomy = yaml.safe_load((ROOT / "params.yaml").read_text())["taxonomy"]
    train = {row["intent"] for row in seeds_training_rows()}
    evaluation = {json.loads(line)["intent"] for line in (ROOT / "seeds/eval_traffic.jsonl").read_text().splitlines()}
    for intents in taxonomy["slices"].values():
        assert set(intents) <= train and set(intents) <= evaluation
