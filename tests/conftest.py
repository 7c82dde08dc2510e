"""Shared fixtures: a small valid project (params + seed files) and helpers to run stages."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
VENV_BIN = str(Path(sys.executable).parent)

TAXONOMY = {
    "cards": ["card_arrival", "activate_my_card"],
    "billing": ["card_payment_fee_charged", "request_refund"],
    "fraud_security": ["lost_or_stolen_card", "compromised_card"],
}
CRITICAL = ["billing", "fraud_security"]
USER_OPENINGS = [
    "My new card still has not arrived and I ordered it last week",
    "How do I switch on the card that came in the post today",
    "There is a charge on my statement for a card payment I made abroad",
    "I returned a jacket to the shop and want my money back",
    "Somebody took my wallet on the bus with my card in it",
    "I got a text saying my card was used in another country",
]
REPLY = (
    "Thanks for telling us. Open the app, go to Help, choose this topic and follow the steps; "
    "if anything looks wrong I will hand you over to an agent straight away."
)


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
    """A small valid project: params.yaml (repo's, with a small taxonomy) and seed files."""
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
    shutil.copy(ROOT / "seeds/blocklist.txt", root / "seeds/blocklist.txt")
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
