"""The whole pipeline through the real `dvc` CLI, in a fresh git repository copied from this one.

One repository is built per module and the tests run in order on it: first repro (with the invariants
any domain's data set must keep: counts add up, provenance complete, schema valid, no eval text in
training, a byte-identical rebuild), no-op repro, a param change that reruns only generate and what
follows, metrics, branches and diff, rollback to a tag byte for byte, and push/pull with a
local-folder remote. Nothing here depends on the domain seeds/ holds: slices come from params.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from stages.core.rows import schema_problem, user_text
from stages.core.text import match_key
from tests.conftest import ROOT, read_rows, run

pytestmark = pytest.mark.dvc

STAGES = ["seed", "generate", "filter", "dedup", "review", "mix", "evaluate"]
DATA_FILES = [
    "data/seed/seeds.jsonl",
    "data/generate/rows.jsonl",
    "data/dedup/kept.jsonl",
    "data/mix/train.jsonl",
    "data/mix/rows.jsonl",
]


def project_files() -> list[str]:
    """Files of this checkout that a clone would have (tracked, plus new ones git does not ignore)."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    return [name for name in listed if (ROOT / name).is_file()]


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def ran_stages(output: str) -> list[str]:
    return [stage for stage in STAGES if f"Running stage '{stage}'" in output]


def taxonomy(repo: Path) -> dict:
    return yaml.safe_load((repo / "params.yaml").read_text())["taxonomy"]


def set_param(repo: Path, section: str, key: str, value: object) -> None:
    params = yaml.safe_load((repo / "params.yaml").read_text())
    params[section][key] = value
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("clone")
    for name in project_files():
        if name.startswith(("data/", ".dvc/cache", ".dvc/tmp")):
            continue
        target = root / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, target)
    run(["git", "init", "-q", "-b", "main"], root)
    run(["git", "add", "-A"], root)
    run(["git", "commit", "-q", "-m", "clone"], root)
    return root


def test_first_repro_builds_every_stage(repo: Path) -> None:
    committed_lock = (repo / "dvc.lock").read_text() if (repo / "dvc.lock").exists() else None
    result = run(["dvc", "repro"], repo)
    if committed_lock is not None:
        # Determinism: rebuilding from a clone gives exactly the data set version committed here.
        assert (repo / "dvc.lock").read_text() == committed_lock, "dvc.lock in git does not match a rebuild"
    assert ran_stages(result.stdout) == STAGES
    for name in DATA_FILES:
        assert (repo / name).stat().st_size > 0, name
    lock = yaml.safe_load((repo / "dvc.lock").read_text())
    assert set(lock["stages"]) == set(STAGES)
    check_invariants(repo)
    run(["git", "add", "-A"], repo)
    run(["git", "commit", "-q", "-m", "v1 data set"], repo)
    run(["git", "tag", "v1"], repo)


def check_invariants(repo: Path) -> None:
    """What every data set must keep, whatever its domain: counts add up stage to stage, every row is
    schema-valid and traces back to its seed with complete provenance, and no eval text is in training."""
    count = {name: len(read_rows(repo / name)) for name in (
        "data/generate/rows.jsonl", "data/filter/kept.jsonl", "data/filter/rejected.jsonl", "data/dedup/kept.jsonl",
        "data/dedup/removed.jsonl", "data/review/rows.jsonl", "data/mix/rows.jsonl", "data/mix/removed.jsonl",
        "data/seed/seeds.jsonl", "data/mix/train.jsonl", "data/mix/eval.jsonl")}  # fmt: skip
    assert count["data/filter/kept.jsonl"] + count["data/filter/rejected.jsonl"] == count["data/generate/rows.jsonl"]
    assert count["data/dedup/kept.jsonl"] + count["data/dedup/removed.jsonl"] == count["data/filter/kept.jsonl"]
    assert count["data/review/rows.jsonl"] == count["data/dedup/kept.jsonl"]
    mix = read_rows(repo / "data/mix/rows.jsonl")
    synthetic = [row for row in mix if row["source"] == "synthetic"]
    assert len(synthetic) + count["data/mix/removed.jsonl"] == count["data/review/rows.jsonl"]
    assert len(mix) - len(synthetic) == count["data/seed/seeds.jsonl"]  # human rows are never removed
    assert count["data/mix/train.jsonl"] + count["data/mix/eval.jsonl"] == len(mix)
    assert {row["source"] for row in mix} == {"human", "synthetic"}
    seeds = {row["id"] for row in read_rows(repo / "data/seed/seeds.jsonl")}
    slices = taxonomy(repo)["slices"]
    for row in mix:
        assert schema_problem(row) is None, row["id"]
        assert row["seed_id"] in seeds  # every row traces back to its seed
        assert row["intent"] in slices[row["slice"]]
        if row["source"] == "synthetic":
            assert set(row["provenance"]["seed_ids"]) <= seeds and row["provenance"]["params_hash"]
    evaluation = {match_key(user_text(row)) for row in read_rows(repo / "data/seed/eval.jsonl")}
    assert not [row["id"] for row in mix if row["split"] == "train" and match_key(user_text(row)) in evaluation]
    metrics = json.loads((repo / "metrics/evaluate.json").read_text())
    assert metrics["eval_set"]["leaked_removed"] == 0


def test_second_repro_is_a_no_op(repo: Path) -> None:
    result = run(["dvc", "repro"], repo)
    assert ran_stages(result.stdout) == []
    assert "up to date" in result.stdout.lower()
    assert run(["dvc", "status"], repo).stdout.strip().startswith("Data and pipelines are up to date")


def test_a_standalone_filter_run_leaves_the_pipeline_up_to_date(repo: Path, tmp_path: Path) -> None:
    """As a new user tried it: `--rows mine.jsonl` once overwrote data/filter and metrics/filter.json."""
    mine = tmp_path / "mine.jsonl"
    mine.write_text("".join(line for line in (repo / "data/generate/rows.jsonl").open() if "synthetic" in line))
    command = [sys.executable, "-m", "stages.filter", "--rows", str(mine)]
    metrics_before = digest(repo / "metrics/filter.json")
    refused = run(command, repo, check=False)
    assert refused.returncode == 2 and "so give --out and --metrics too" in refused.stderr
    ran = run([*command, "--out", str(tmp_path / "checked"), "--metrics", str(tmp_path / "filter.json")], repo)
    assert "filter: kept" in ran.stdout and (tmp_path / "checked/kept.jsonl").exists()
    assert run(["dvc", "status"], repo).stdout.strip().startswith("Data and pipelines are up to date")
    assert digest(repo / "metrics/filter.json") == metrics_before


def test_generate_param_reruns_generate_and_later_only(repo: Path) -> None:
    seeds_before = digest(repo / "data/seed/seeds.jsonl")
    set_param(repo, "generate", "variations_per_seed", 6)
    result = run(["dvc", "repro"], repo)
    assert ran_stages(result.stdout) == STAGES[1:]
    assert digest(repo / "data/seed/seeds.jsonl") == seeds_before
    metrics = json.loads((repo / "metrics/generate.json").read_text())
    assert metrics["rows"] + metrics["rejected"] == 6 * metrics["seeds"]
    run(["git", "add", "-A"], repo)
    run(["git", "commit", "-q", "-m", "v2: six variations per seed"], repo)


def test_metrics_show_has_per_slice_figures_of_every_stage(repo: Path) -> None:
    shown = json.loads(run(["dvc", "metrics", "show", "--json"], repo).stdout)
    files = next(iter(shown.values()))["data"]
    critical = taxonomy(repo)["critical"][0]
    for stage in ("seed", "generate", "filter", "dedup", "review", "mix", "evaluate"):
        data = files[f"metrics/{stage}.json"]["data"]
        assert "slices" in data and critical in data["slices"], stage


def test_metrics_diff_between_branches(repo: Path) -> None:
    run(["git", "checkout", "-q", "-b", "fewer-synthetic"], repo)
    params = yaml.safe_load((repo / "params.yaml").read_text())
    params["mix"]["min_human_share"] = 0.9
    params["mix"]["exclude"] = [{"name": "drop-noisy-typing", "template_id": "noisy_typing"}]
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    result = run(["dvc", "repro"], repo)
    assert ran_stages(result.stdout) == ["mix", "evaluate"]
    run(["git", "commit", "-q", "-am", "more human share, no noisy_typing rows"], repo)
    diff = json.loads(run(["dvc", "metrics", "diff", "main", "fewer-synthetic", "--json"], repo).stdout)
    mix = diff["metrics/mix.json"]
    assert mix["human_share"]["new"] >= 0.9 > mix["human_share"]["old"]
    assert mix["synthetic"]["diff"] < 0
    assert mix["removed_by_exclusion.drop-noisy-typing"]["new"] > 0
    changed = next(name for name in taxonomy(repo)["slices"] if f"slices.{name}.synthetic" in mix)
    assert f"slices.{changed}.synthetic_share" in mix
    assert "metrics/seed.json" not in diff  # unchanged stages show no difference
    rows = read_rows(repo / "data/mix/rows.jsonl")
    assert not [r for r in rows if r["source"] == "synthetic" and r["provenance"]["template_id"] == "noisy_typing"]

    compared = run(
        [sys.executable, str(ROOT / "tools/compare_versions.py"), "main", "fewer-synthetic", "--out", "plots"], repo
    )
    assert (repo / "plots/composition.png").read_bytes().startswith(b"\x89PNG")
    assert f"| {changed} | synthetic_share |" in compared.stdout
    shown = json.loads(run(["dvc", "plots", "diff", "main", "fewer-synthetic", "--json"], repo).stdout)
    assert "metrics/mix_composition.csv" in json.dumps(shown)
    run(["git", "checkout", "-q", "main"], repo)
    run(["dvc", "checkout"], repo)


def test_experiment_with_a_param_override(repo: Path) -> None:
    # Fewer variations drop rows a reviewer may have decided on (a team's own reviews): warn, not stop.
    overrides = ["-S", "generate.variations_per_seed=2", "-S", "review.on_unknown_id=warn"]
    run(["dvc", "exp", "run", *overrides, "-n", "two-variations"], repo)
    shown = json.loads(run(["dvc", "exp", "show", "--json"], repo).stdout)
    assert "two-variations" in json.dumps(shown)
    generated = json.loads((repo / "metrics/generate.json").read_text())
    assert generated["rows"] + generated["rejected"] == 2 * generated["seeds"]
    run(["git", "checkout", "-q", "--", "params.yaml", "dvc.lock", "metrics/"], repo)
    run(["dvc", "checkout"], repo)
    assert ran_stages(run(["dvc", "repro"], repo).stdout) == []


def test_rollback_to_tag_restores_bytes(repo: Path) -> None:
    # A later version that changed a seed as well as params: the README's rollback restores both.
    cases = repo / "seeds/cases.jsonl"
    first, rest = cases.read_text(encoding="utf-8").split("\n", 1)
    cases.write_text(first.replace('"content": "', '"content": "Hello, ', 1) + "\n" + rest, encoding="utf-8")
    run(["dvc", "repro"], repo)
    run(["git", "add", "-A"], repo)
    run(["git", "commit", "-qm", "v2: a seed reworded"], repo)
    run(["git", "checkout", "-q", "v1"], repo)
    run(["dvc", "checkout"], repo)
    v1_lock = yaml.safe_load((repo / "dvc.lock").read_text())
    for name in DATA_FILES:
        outs = [o for stage in v1_lock["stages"].values() for o in stage.get("outs", []) if o["path"] == name]
        assert outs and hashlib.md5((repo / name).read_bytes()).hexdigest() == outs[0]["md5"], name
    for name in ("metrics/generate.json", "metrics/mix.json"):
        assert (repo / name).read_text() == run(["git", "show", f"v1:{name}"], repo).stdout
    assert ran_stages(run(["dvc", "repro"], repo).stdout) == []  # rolled-back state is consistent
    assert cases.read_bytes() == run(["git", "show", "v1:seeds/cases.jsonl"], repo).stdout.encode()
    run(["git", "checkout", "-q", "main"], repo)
    run(["dvc", "checkout"], repo)


def test_push_and_pull_with_a_local_remote(repo: Path, tmp_path: Path) -> None:
    remote = tmp_path / "remote"
    run(["dvc", "remote", "add", "-d", "local", str(remote)], repo)
    run(["dvc", "push"], repo)
    expected = {name: digest(repo / name) for name in DATA_FILES}
    shutil.rmtree(repo / ".dvc" / "cache")
    for name in DATA_FILES:
        (repo / name).unlink()
    run(["dvc", "pull"], repo)
    assert {name: digest(repo / name) for name in DATA_FILES} == expected
    assert ran_stages(run(["dvc", "repro"], repo).stdout) == []
