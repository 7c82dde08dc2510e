"""Stage filter: checks switched on and ordered by params, every rejected row kept with all its reasons,
metrics, the CLI, a new check as one module, and what `dvc status` says after a check changes."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from stages.core.errors import UserError
from stages.core.params import load_section
from stages.filter.checks.base import CheckInputs
from stages.filter.params import FilterParams
from stages.filter.runner import assemble_checks, run_checks_batch
from stages.filter.stage import filter_metrics, write_filtered
from stages.generate.params import GenerateParams
from stages.generate.stage import generate_builtin
from tests.conftest import ROOT, env_with_venv, read_rows, run, run_stage, write_fixture_domain
from tests.test_filter_checks import chat

# The checks that need an input (policy, seed rows, prompts) and say so when it is not given.
SKIPPED_WITHOUT_INPUTS = {"intent": 1, "policy_facts": 1, "structure": 1, "meaning": 1, "answers": 1, "echo": 1}


def _fixture() -> Path:
    """A folder holding the fixture domain's seeds/ (domain.yaml, policy.md, blocklist.txt)."""
    import tempfile

    return write_fixture_domain(Path(tempfile.mkdtemp(prefix="fixture-domain-"))) / "seeds"


FIXTURE = _fixture()


def _full_row(user: str, reply: str) -> dict:
    """A schema-valid synthetic row with the given user text and reply."""
    provenance = {
        "generator": "g",
        "generator_version": "1",
        "model": "m",
        "template_id": "t",
        "template_hash": "h",
        "temperature": 0.5,
        "sampling_seed": 1,
        "seed_ids": ["s" * 20],
        "params_hash": "p",
    }
    return {
        "id": "x" * 20,
        "intent": "late_delivery",
        "slice": "deliveries",
        "source": "synthetic",
        "origin": "variation",
        "case_id": "c",
        "seed_id": "s" * 20,
        "meta": {},
        "provenance": provenance,
        **chat(user, reply),
    }


def _synthetic(project: Path) -> list[dict]:
    run_stage("seed", project)
    rows, _ = generate_builtin(read_rows(project / "data/seed/seeds.jsonl"), GenerateParams(variations_per_seed=2))
    return rows


def _with_reply(row: dict, reply: str) -> dict:
    messages = [dict(m) for m in row["messages"]]
    messages[-1]["content"] = reply
    return {**row, "messages": messages}


def _filter(rows: list[dict], params: FilterParams, out: Path, **inputs: Path) -> tuple[list, list, dict]:
    """Run the stage's own functions over `rows`: (kept, rejected, metrics) as the stage writes them."""
    check_set = assemble_checks(params, CheckInputs(blocklist=FIXTURE / "blocklist.txt", **inputs))
    counts = write_filtered(iter(rows), check_set.checks, out)
    return read_rows(out / "kept.jsonl"), read_rows(out / "rejected.jsonl"), filter_metrics(counts, check_set)


def test_filter_keeps_every_rejected_row_with_all_reasons(project: Path, tmp_path: Path) -> None:
    rows = _synthetic(project)
    bad_schema = {**rows[0], "source": "alien"}
    blocked = _with_reply(rows[1], "As an AI language model I guarantee nothing. " * 2)
    too_long = _with_reply(rows[2], "word " * 400)
    given = [bad_schema, blocked, too_long, *rows[3:]]
    kept, rejected, metrics = _filter(given, FilterParams(), tmp_path / "out")
    assert len(kept) + len(rejected) == len(rows)
    assert [row["id"] for row in kept] == [row["id"] for row in given if row["id"] in {k["id"] for k in kept}]
    reasons = {row["id"]: row["reasons"] for row in rejected}
    assert reasons[bad_schema["id"]] == [reasons[bad_schema["id"]][0]] and reasons[bad_schema["id"]][0].startswith(
        "schema: source"
    )  # schema failures stop the other checks
    assert reasons[blocked["id"]][0] == "blocklist: as an ai"
    assert reasons[blocked["id"]][1].startswith("ai_boilerplate:")  # all reasons are kept
    assert reasons[too_long["id"]][0].startswith("assistant_too_long")
    assert any(r.startswith("repetition") for r in reasons[too_long["id"]])
    # "word " x 400 is also one clause of 400 words with no function word
    assert metrics["by_reason"] == {"ai_boilerplate": 1, "assistant_too_long": 1, "blocklist": 1, "repetition": 1,
                                    "schema": 1, "word_salad": 1}  # fmt: skip
    assert metrics["checks"]["length"] == {"rejected": 1, "reject_rate": round(1 / len(rows), 4),
                                           "rejected_by_this_check_only": 0}  # fmt: skip
    assert metrics["checks"]["schema"]["rejected_by_this_check_only"] == 1
    assert metrics["checks_skipped"] == SKIPPED_WITHOUT_INPUTS  # no policy, seed rows or prompts given
    assert sum(s["rejected"] for s in metrics["slices"].values()) == 3
    assert sum(t["rows"] for t in metrics["templates"].values()) == len(rows)
    template = bad_schema["provenance"]["template_id"]
    assert metrics["templates"][template]["rejected_schema"] == 1
    assert all(rejected_row["messages"] for rejected_row in rejected)  # the full row is kept
    assert {k: v for k, v in rejected[0].items() if k != "reasons"} == bad_schema


def test_checks_run_in_the_listed_order_and_can_be_switched_off(tmp_path: Path, project: Path) -> None:
    rows = _synthetic(project)
    blocked = _with_reply(rows[0], "As an AI I cannot help you with this request today, sorry.")
    inputs = CheckInputs(blocklist=FIXTURE / "blocklist.txt")
    few = assemble_checks(FilterParams(checks=["schema", "length"]), inputs)
    assert few.names() == ["schema", "length"] and run_checks_batch([blocked], few.checks) == [[]]
    reordered = assemble_checks(FilterParams(checks=["ai_boilerplate", "blocklist", "refusal"]), inputs)
    assert [reason.split(":")[0] for reason in run_checks_batch([blocked], reordered.checks)[0]] == [
        "ai_boilerplate", "blocklist", "refusal"
    ]  # fmt: skip
    every = assemble_checks(FilterParams(), inputs)
    # they need the policy, the seed rows or the prompts
    assert set(every.skipped) == {"policy_facts", "intent", "structure", "meaning", "answers", "echo"}
    inputs = CheckInputs(
        FIXTURE / "blocklist.txt", FIXTURE / "policy.md", project / "data/seed/seeds.jsonl", ROOT / "prompts"
    )
    with_inputs = assemble_checks(FilterParams(), inputs)
    assert with_inputs.names() == FilterParams().checks and with_inputs.skipped == {}
    assert with_inputs.metrics()["intent_classifier"]["intents"] == 6


def test_params_are_validated_with_the_key_named(tmp_path: Path) -> None:
    import yaml

    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    for change, message in [
        ({"checks": ["schema", "spellcheck"]}, "filter.checks.1: Input should be"),
        ({"checks": ["pii", "pii"]}, "filter: checks: a check is listed twice"),
        ({"checks": ["length", "schema"]}, "filter: checks: schema must come first"),
        ({"intent": {"margin": 0}}, "filter.intent.margin: Input should be greater than 0"),
        ({"length": {"min_user_chars": 900}}, "filter.length: min_user_chars (900) exceeds max_user_chars (600)"),
        ({"pii": {"kinds": []}}, "filter.pii.kinds: List should have at least 1 item"),
        (
            {"intent": {"features": [{"analyzer": "word", "ngram_range": [3, 1]}]}},
            "filter.intent.features.0.ngram_range",
        ),
        ({"refusal": {"strict": True}}, "filter.refusal: Extra inputs are not permitted"),  # a check with no settings
        ({"min_user_chars": 8}, "filter.min_user_chars: Extra inputs are not permitted"),  # the old flat key
    ]:
        path = tmp_path / "params.yaml"
        path.write_text(yaml.safe_dump({**params, "filter": {**params["filter"], **change}}))
        with pytest.raises(UserError, match=message.replace("(", r"\(").replace(")", r"\)")):
            load_section(path, "filter", FilterParams)


def test_filter_stage_outputs_and_metrics(project: Path) -> None:
    shutil.copytree(ROOT / "prompts", project / "prompts")
    run_stage("seed", project)
    run_stage("generate", project)
    run_stage("filter", project)
    kept = read_rows(project / "data/filter/kept.jsonl")
    rejected = read_rows(project / "data/filter/rejected.jsonl")
    generated = read_rows(project / "data/generate/rows.jsonl")
    assert len(kept) + len(rejected) == len(generated)
    metrics = json.loads((project / "metrics/filter.json").read_text())
    assert metrics["kept"] == len(kept) and metrics["rows"] == len(generated)
    assert metrics["checks_skipped"] == {} and metrics["intent_classifier"]["intents"] == 6
    assert set(metrics["checks"]) == set(FilterParams().checks)
    assert all(row["reasons"] for row in rejected)


def test_filter_runs_standalone_and_says_what_it_skips(tmp_path: Path) -> None:
    def filter_cli(*args: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "stages.filter", "--params", str(ROOT / "params.yaml"),
                   "--blocklist", str(FIXTURE / "blocklist.txt"), *args]  # fmt: skip
        return subprocess.run(command, cwd=tmp_path, env=env_with_venv(), capture_output=True, text=True)

    help_text = subprocess.run([sys.executable, "-m", "stages.filter", "--help"], cwd=tmp_path, env=env_with_venv(),
                               capture_output=True, text=True)  # fmt: skip
    assert help_text.returncode == 0 and "--policy" in help_text.stdout and "policy_facts" in help_text.stdout
    # what a row needs: the rows a user brings are otherwise all rejected as `schema`
    assert "README.md, The row schema" in help_text.stdout and "20 characters" in help_text.stdout
    rows = [
        _full_row("where is my order, I placed it hours ago", "A €3 fee applies to every cancellation of this kind.")
    ]
    (tmp_path / "rows.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    result = filter_cli("--rows", "rows.jsonl")  # the pipeline's outputs would be overwritten
    assert result.returncode == 2 and "so give --out and --metrics too" in result.stderr
    assert not (tmp_path / "data").exists() and not (tmp_path / "metrics").exists()
    out = ["--out", "checked", "--metrics", "checked/metrics.json"]
    result = filter_cli("--rows", "rows.jsonl", *out)
    assert result.returncode == 0, result.stderr
    assert "seeds/policy.md not found, so the policy_facts check is skipped" in result.stderr
    metrics = json.loads((tmp_path / "checked/metrics.json").read_text())
    assert metrics["checks_skipped"] == SKIPPED_WITHOUT_INPUTS
    result = filter_cli("--rows", "rows.jsonl", "--policy", str(FIXTURE / "policy.md"), *out)
    assert result.returncode == 0 and "kept 0 of 1" in result.stdout
    assert read_rows(tmp_path / "checked/rejected.jsonl")[0]["reasons"] == [
        "policy_facts: '€3' is not a figure the policy states"
    ]
    result = filter_cli("--rows", "rows.jsonl", "--policy", "missing.md", *out)
    assert result.returncode == 2 and "missing.md: policy file not found" in result.stderr


def test_missing_blocklist_is_a_clear_error(project: Path) -> None:
    run_stage("seed", project)
    run_stage("generate", project)
    result = run_stage("filter", project, "--blocklist", "seeds/nope.txt", "--out", "o", "--metrics", "o/m.json",
                       check=False)  # fmt: skip
    assert result.returncode == 2 and "seeds/nope.txt: blocklist file not found" in result.stderr


NEW_CHECK = '''"""The shouting check: a user side written mostly in capitals."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from pydantic import Field

from stages.core.params import Section
from stages.core.rows import user_text
from stages.filter.checks.base import Check, Row


class ShoutingParams(Section):
    """`filter.shouting`."""

    max_capital_share: float = Field(default=0.8, gt=0, le=1)


@dataclass(frozen=True)
class ShoutingCheck(Check):
    """Rejects a user side whose letters are mostly capitals."""

    name: ClassVar[str] = "shouting"
    Params: ClassVar[type[Section]] = ShoutingParams
    run_order: ClassVar[int] = 65

    params: ShoutingParams

    def check(self, row: Row) -> str | None:
        """`shouting: <share> capitals`, or None."""
        letters = [char for char in user_text(row) if char.isalpha()]
        capitals = sum(char.isupper() for char in letters) / max(1, len(letters))
        return f"shouting: {capitals:.0%} capitals" if capitals > self.params.max_capital_share else None
'''


def test_a_new_check_is_one_module_and_one_params_block(tmp_path: Path) -> None:
    """Drop a module into a copy of stages/filter/checks/, add its block to params.yaml: the stage runs it."""
    import yaml

    code = tmp_path / "code"
    shutil.copytree(ROOT / "stages", code / "stages", ignore=shutil.ignore_patterns("__pycache__"))
    (code / "stages/filter/checks/shouting.py").write_text(NEW_CHECK)
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["filter"]["checks"].append("shouting")
    params["filter"]["shouting"] = {"max_capital_share": 0.5}
    (code / "params.yaml").write_text(yaml.safe_dump(params))
    rows = [
        _full_row("WHERE IS MY ORDER, I PLACED IT HOURS AGO", "Open the app and go to Orders > Report a problem."),
        _full_row("where is my order, I placed it hours ago", "Open the app and go to Orders > Report a problem."),
    ]
    (code / "rows.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    env = {**env_with_venv(), "PYTHONPATH": str(code)}
    command = [
        sys.executable,
        "-m",
        "stages.filter",
        "--rows",
        "rows.jsonl",
        "--blocklist",
        str(FIXTURE / "blocklist.txt"),
        *("--out", "checked", "--metrics", "checked/metrics.json"),
    ]
    result = subprocess.run(command, cwd=code, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert [row["reasons"] for row in read_rows(code / "checked/rejected.jsonl")] == [["shouting: 100% capitals"]]
    metrics = json.loads((code / "checked/metrics.json").read_text())
    assert metrics["checks"]["shouting"] == {"rejected": 1, "reject_rate": 0.5, "rejected_by_this_check_only": 1}
    params["filter"]["shouting"] = {"max_capital_share": 2}
    (code / "params.yaml").write_text(yaml.safe_dump(params))
    result = subprocess.run(
        [sys.executable, "-m", "stages.validate"], cwd=code, env=env, capture_output=True, text=True
    )
    assert result.returncode == 2 and "filter.shouting.max_capital_share: Input should be less than or equal to 1" in (
        result.stderr
    )


@pytest.mark.dvc
def test_editing_one_check_reruns_only_the_filter(tmp_path: Path) -> None:
    """In a clone driven by the real dvc CLI: a check's params block or module marks only filter as
    changed; the stages after it rerun only when the filter's outputs change."""
    import yaml

    from tests.test_pipeline_dvc import project_files, ran_stages

    repo = tmp_path / "repo"
    for name in project_files():
        if not name.startswith(("data/", ".dvc/cache", ".dvc/tmp")):
            (repo / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, repo / name)
    run(["git", "init", "-q", "-b", "main"], repo)
    run(["git", "add", "-A"], repo)
    run(["git", "commit", "-q", "-m", "clone"], repo)
    run(["dvc", "repro"], repo)

    def status() -> dict:
        return json.loads(run(["dvc", "status", "--json"], repo).stdout)

    def set_length(key: str, value: int) -> None:
        params = yaml.safe_load((repo / "params.yaml").read_text())
        params["filter"]["length"][key] = value
        (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))

    assert status() == {}
    set_length("max_user_chars", 601)  # no row is near the limit: the filter's outputs stay the same
    assert status() == {"filter": [{"changed deps": {"params.yaml": {"filter": "modified"}}}]}
    assert ran_stages(run(["dvc", "repro"], repo).stdout) == ["filter"]
    assert status() == {}

    with (repo / "stages/filter/checks/length.py").open("a") as module:
        module.write("# an edit that changes no behaviour\n")
    assert status() == {"filter": [{"changed deps": {"stages/filter": "modified"}}]}
    assert ran_stages(run(["dvc", "repro"], repo).stdout) == ["filter"]

    set_length("min_user_chars", 60)  # rejects the shorter user turns: the filter's outputs change
    assert list(status()) == ["filter"]
    assert ran_stages(run(["dvc", "repro", "--single-item", "filter"], repo).stdout) == ["filter"]
    assert json.loads((repo / "metrics/filter.json").read_text())["by_reason"]["user_too_short"] > 0
    # now the stages reading the filter's outputs are out of date (evaluate reads only mix's), earlier ones not
    assert sorted(status()) == ["dedup", "mix", "review"]
