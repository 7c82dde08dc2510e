"""Shared fixtures: a small valid project (params + seed files) and helpers to run stages."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
VENV_BIN = str(Path(sys.executable).parent)

# The engine tests' own fixture domain (a grocery delivery service), neither shipped example's: the
# engine must not depend on the domain that seeds/ holds.
TAXONOMY = {
    "deliveries": ["late_delivery", "missing_item"],
    "payments": ["delivery_fee", "refund_request"],
    "account": ["account_locked", "delete_account"],
}
CRITICAL = ["payments", "account"]
USER_OPENINGS = [
    "My grocery order was due at six and it still has not turned up tonight",
    "The bag from my weekly order came without the eggs and the bread I paid for",
    "There is a delivery fee on my receipt although my basket was big enough",
    "I sent back a box of spoiled fruit and want my money back",
    "I cannot log in since this morning after typing my password a few times",
    "Please remove my profile and every piece of data you keep about me",
]
REPLY = (
    "Thanks for telling us. Open the app, go to Help, choose this topic and follow the steps; "
    "if anything looks wrong I will hand you over to an agent straight away."
)
FIXTURE_POLICY = """# Freshbox - Support Policy (test fixture)

Freshbox delivers groceries. The assistant states only these rules.

## 1. Deliveries

1.1 **Late orders.** Orders arrive in the chosen 1-hour slot. An order more than 30 minutes late earns a €5 voucher.

1.2 **Missing items.** Missing items are refunded within 3 working days of a report in Orders > Report a problem.

## 2. Payments

2.1 **Delivery fee.** Delivery costs €4 and is free for baskets over €50.

2.2 **Refunds.** Refunds of returned goods reach the card within 5 working days.

## 3. Account

3.1 **Locked accounts.** After 5 wrong passwords the account is locked for 15 minutes.

## Facts

- late-order voucher: €5
- delivery fee: €4, free over €50
"""
FIXTURE_DOMAIN = """product: Freshbox
system_prompt: >-
  You are the support assistant of Freshbox, a grocery delivery service. Follow the Freshbox support
  policy, never ask for passwords or card details, and hand over to a human agent where the policy says so.
rules:
  - Never ask for a password.
action_claims: [refunded, cancelled, delivered, credited]
pii:
  - name: loyalty_number
    pattern: '\\bFB-(\\d{8})\\b'
    checksum: luhn
"""
FIXTURE_BLOCKLIST = "# phrases no row may contain\nas an ai\nas a language model\nwe guarantee\n"


def write_fixture_domain(root: Path) -> Path:
    """The fixture domain's seeds/domain.yaml, policy.md and blocklist.txt under `root`; returns root."""
    (root / "seeds").mkdir(parents=True, exist_ok=True)
    (root / "seeds/domain.yaml").write_text(FIXTURE_DOMAIN, encoding="utf-8")
    (root / "seeds/policy.md").write_text(FIXTURE_POLICY, encoding="utf-8")
    (root / "seeds/blocklist.txt").write_text(FIXTURE_BLOCKLIST, encoding="utf-8")
    return root


def env_with_venv() -> dict[str, str]:
    """Environment for subprocesses: this venv first on PATH, analytics off."""
    env = dict(os.environ)
    env["PATH"] = VENV_BIN + os.pathsep + env.get("PATH", "")
    env["DVC_NO_ANALYTICS"] = "1"
    env["PYTHONPATH"] = str(ROOT)
    for key, value in (("GIT_AUTHOR_NAME", "test"), ("GIT_AUTHOR_EMAIL", "test@example.invalid"),
                       ("GIT_COMMITTER_NAME", "test"), ("GIT_COMMITTER_EMAIL", "test@example.invalid")):  # fmt: skip
        env.setdefault(key, value)
    return env


def params_with(tmp_path: Path, section: str, key: str, value: Any) -> Path:
    """A copy of the repository's params.yaml in tmp_path with one key of one section changed."""
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params[section][key] = value
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(params))
    return path


def run(args: list[str], cwd: Path, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(args, cwd=cwd, env=env_with_venv(), capture_output=True, text=True)
    if check and result.returncode != 0:
        raise AssertionError(f"{' '.join(args)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
    return result


def run_stage(stage: str, cwd: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return run([sys.executable, "-m", f"stages.{stage}", *args], cwd, check=check)


def seed_line(intent: str, slice_name: str, index: int, **extra: Any) -> dict[str, Any]:
    opening = USER_OPENINGS[(index + len(intent)) % len(USER_OPENINGS)]
    line = {
        "case_id": f"{intent}-{index:03d}",
        "intent": intent,
        "slice": slice_name,
        "messages": [
            {"role": "user", "content": f"{opening}, case {intent} number {index}, what should I do now?"},
            {"role": "assistant", "content": REPLY},
        ],
        "policy_refs": ["1.1"],
        "pair": index == 0,
        "author": "MK",
    }
    line.update(extra)
    return line


def write_lines(path: Path, lines: list[dict[str, Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")


def make_project(root: Path, cases_per_intent: int = 4) -> Path:
    """A small valid project: params.yaml (repo's, with the fixture taxonomy), the fixture domain and seed files."""
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["taxonomy"] = {"slices": TAXONOMY, "critical": CRITICAL}
    params["seed"]["min_cases_per_intent"] = 1
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    cases, failures, evaluation = [], [], []
    for slice_name, intents in TAXONOMY.items():
        for intent in intents:
            cases += [seed_line(intent, slice_name, i) for i in range(cases_per_intent)]
            failure = seed_line(intent, slice_name, 90, failed_reply="I cannot help with that.",
                                failure_mode="unhelpful_refusal", logged_at="2026-09-01")  # fmt: skip
            failure["case_id"] = f"fail-{intent}"
            failure.pop("pair")
            failures.append(failure)
            evaluation.append({
                "case_id": f"eval-{intent}", "intent": intent, "slice": slice_name, "channel": "app_chat",
                "messages": [{"role": "user", "content": f"hey so whats up with {intent.replace('_', ' ')} for me"},
                             {"role": "assistant", "content": REPLY}],
            })  # fmt: skip
    write_lines(root / "seeds/cases.jsonl", cases)
    write_lines(root / "seeds/failures.jsonl", failures)
    write_lines(root / "seeds/eval_traffic.jsonl", evaluation)
    write_fixture_domain(root)
    # No domain words: the built-in generator uses its neutral default lexicon alone.
    (root / "seeds/lexicon.yaml").write_text("# the built-in generator's domain words: none here\n")
    (root / "seeds/reviews").mkdir(parents=True, exist_ok=True)
    (root / "seeds/reviews/decisions.csv").write_text("id,verdict,reason,corrected_reply,reviewer,note\n")
    (root / "seeds/reviews/label_studio_export.json").write_text("[]\n")  # no Label Studio decisions
    return root


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return make_project(tmp_path)


def read_rows(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def seeds_training_rows() -> list[dict[str, Any]]:
    """The repository's `seeds/` training cases and failures as seed-stage rows (ids by position), whatever domain."""
    rows = read_rows(ROOT / "seeds/cases.jsonl") + read_rows(ROOT / "seeds/failures.jsonl")
    return [{"id": f"seed{i:016d}", "case_id": r["case_id"], "intent": r["intent"], "slice": r["slice"],
             "messages": r["messages"], "source": "human", "origin": "case", "meta": {}}
            for i, r in enumerate(rows)]  # fmt: skip
