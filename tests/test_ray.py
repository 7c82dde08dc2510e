"""The executor switch (PIPELINE_EXECUTOR) and the filter and dedup on Ray: byte-identical to local.

Tests marked `ray` need the `[distributed]` extra and are skipped, with the reason, without it. They run
filter and dedup over a few thousand rows (near-copies, a bucket of 600 copies that takes the walked
path, eval n-gram contamination, rows the filter rejects) on an in-process local Ray and, through the
stage commands and the real dvc CLI, against a `ray start --head` on 127.0.0.1, which is stopped by
its process id (never `ray stop`: that would end every Ray on the machine).
"""

from __future__ import annotations

import importlib.util
import json
import random
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from stages.core.errors import UserError
from stages.core.executor import Executor, executor_from_env
from stages.core.jsonl import iter_jsonl
from stages.core.params import load_section
from stages.core.rows import row_id
from stages.dedup.params import DedupParams
from stages.dedup.stage import deduplicate
from stages.filter.checks.base import CheckInputs
from stages.filter.params import FilterParams
from stages.filter.runner import assemble_checks
from stages.filter.stage import filter_metrics, write_filtered
from stages.generate.params import GenerateParams
from stages.generate.stage import generate_builtin
from tests.conftest import ROOT, env_with_venv, make_project, read_rows, run, run_stage, write_lines

needs_ray = pytest.mark.skipif(
    importlib.util.find_spec("ray") is None, reason="Ray is not installed (pip install -e '.[distributed]')"
)
OUTPUTS = ("data/filter/kept.jsonl", "data/filter/rejected.jsonl", "data/dedup/kept.jsonl",
           "data/dedup/removed.jsonl", "metrics/filter.json", "metrics/dedup.json")  # fmt: skip


def _variant(row: dict, user: str, reply: str) -> dict:
    messages = [{"role": "user", "content": user}, {"role": "assistant", "content": reply}]
    changed = {**row, "messages": messages}
    changed["id"] = row_id(changed)
    return changed


def corpus_rows(project: Path) -> list[dict]:
    """About 3,000 synthetic rows: built-in variations of the project's seeds, 600 rows with one user
    text (one bucket over the 512-row pairing cap), 300 one-word edits of one long text, rows holding
    an eval text, and rows the filter rejects (an e-mail address, a one-word request)."""
    seeds = read_rows(project / "data/seed/seeds.jsonl")
    rows, _ = generate_builtin(seeds, GenerateParams(variations_per_seed=80))
    base, reply = rows[0], rows[0]["messages"][-1]["content"]
    rng = random.Random(15)
    long_text = " ".join(f"word{rng.randrange(60)}" for _ in range(40))
    rows += [_variant(base, "my card never came and I need it for a trip", f"{reply} ({i})") for i in range(600)]
    for i in range(300):
        words = long_text.split()
        words[rng.randrange(len(words))] = f"edit{i}"
        rows.append(_variant(base, " ".join(words), reply))
    evaluation = read_rows(project / "data/seed/eval.jsonl")
    rows += [_variant(base, f"hello again, {row['messages'][0]['content']} thanks", reply) for row in evaluation]
    rows += [_variant(base, f"write to me at person{i}@example.com about my card", reply) for i in range(20)]
    rows += [_variant(base, "help", f"{reply} [{i}]") for i in range(10)]
    rng.shuffle(rows)
    return rows


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A project with its seed stage run and the corpus as data/generate/rows.jsonl."""
    project = make_project(tmp_path_factory.mktemp("corpus"))
    run_stage("seed", project)
    write_lines(project / "data/generate/rows.jsonl", corpus_rows(project))
    return project


def test_the_executor_comes_from_the_environment_only() -> None:
    assert executor_from_env({}) == Executor("local", None, None, None)
    chosen = executor_from_env({"PIPELINE_EXECUTOR": "ray", "RAY_ADDRESS": "127.0.0.1:6379", "PIPELINE_WORKERS": "3"})
    assert chosen == Executor("ray", "127.0.0.1:6379", 3, None) and chosen.distributed
    for name, value in (("PIPELINE_EXECUTOR", "dask"), ("PIPELINE_WORKERS", "0"), ("PIPELINE_SHARD_ROWS", "x")):
        with pytest.raises(UserError, match=name):
            executor_from_env({name: value})
    for name in ("PIPELINE_EXECUTOR", "RAY_ADDRESS", "PIPELINE_WORKERS"):
        assert name not in (ROOT / "params.yaml").read_text()  # never a param: switching reruns nothing


def _stages_in_one_process(project: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """filter then dedup, in one Python process that then says whether `ray` was imported."""
    script = (
        "import sys\n"
        "from stages.filter.stage import main as filter_main\n"
        "from stages.dedup.stage import main as dedup_main\n"
        "from stages.core.errors import run_main\n"
        "sys.argv = ['filter']; run_main(filter_main)\n"
        "sys.argv = ['dedup']; run_main(dedup_main)\n"
        "print('ray imported:', 'ray' in sys.modules)\n"
    )
    return subprocess.run([sys.executable, "-c", script], cwd=project, env=env, capture_output=True, text=True)


def test_the_local_executor_never_imports_ray(corpus: Path) -> None:
    env = {key: value for key, value in env_with_venv().items() if not key.startswith(("PIPELINE_", "RAY_"))}
    result = _stages_in_one_process(corpus, env)
    assert result.returncode == 0, result.stderr
    assert "ray imported: False" in result.stdout


def test_ray_chosen_but_missing_is_one_clear_line(corpus: Path, tmp_path: Path) -> None:
    script = "import sys; sys.modules['ray'] = None\nfrom stages.core.errors import run_main\n"
    script += "from stages.filter.stage import main\nsys.argv = ['filter', '--out', sys.argv[1]]; run_main(main)\n"
    env = {**env_with_venv(), "PIPELINE_EXECUTOR": "ray"}
    result = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path)], cwd=corpus, env=env, capture_output=True, text=True
    )
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "PIPELINE_EXECUTOR=ray: Ray is not installed (pip install -e '.[distributed]')" in result.stderr


# --- on an in-process local Ray ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def local_ray() -> Iterator[None]:
    import ray

    ray.init(num_cpus=2, include_dashboard=False, logging_level="WARNING")
    yield
    ray.shutdown()


def _files(folder: Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in sorted(folder.iterdir())}


@needs_ray
@pytest.mark.ray
def test_filter_on_ray_writes_the_same_bytes(corpus: Path, tmp_path: Path, local_ray: None) -> None:
    from stages.filter.distributed import write_filtered_on_ray

    params = load_section(corpus / "params.yaml", "filter", FilterParams)
    inputs = CheckInputs(corpus / "seeds/blocklist.txt", corpus / "seeds/policy.md", corpus / "data/seed/seeds.jsonl")
    check_set = assemble_checks(params, inputs)
    rows = corpus / "data/generate/rows.jsonl"
    local = write_filtered((row for _, row in iter_jsonl(rows)), check_set.checks, tmp_path / "local")
    on_ray = write_filtered_on_ray(
        (row for _, row in iter_jsonl(rows)), check_set.checks, tmp_path / "ray", Executor("ray", None, 2, 250)
    )
    assert _files(tmp_path / "ray") == _files(tmp_path / "local")
    assert json.dumps(filter_metrics(on_ray, check_set), sort_keys=True) == json.dumps(
        filter_metrics(local, check_set), sort_keys=True
    )
    metrics = filter_metrics(local, check_set)
    assert metrics["rows"] > 2500 and metrics["by_reason"]["pii"] >= 20 and metrics["rejected"] >= 30


def _dedup_local_and_on_ray(
    corpus: Path, tmp_path: Path, params: DedupParams, monkeypatch: pytest.MonkeyPatch
) -> dict[str, Any]:
    """Dedup of `corpus` locally, then on Ray with 2 and 3 workers and two shard sizes; asserts every
    output file and the metrics are the same bytes; returns the local metrics."""
    inputs = (corpus / "data/generate/rows.jsonl", corpus / "data/seed/seeds.jsonl", corpus / "data/seed/eval.jsonl")
    monkeypatch.setenv("PIPELINE_EXECUTOR", "local")
    local = deduplicate(*inputs, params, tmp_path / "local")
    for workers, shard_rows in (("2", "300"), ("3", "1000")):
        monkeypatch.setenv("PIPELINE_EXECUTOR", "ray")
        monkeypatch.setenv("PIPELINE_WORKERS", workers)
        monkeypatch.setenv("PIPELINE_SHARD_ROWS", shard_rows)
        on_ray = deduplicate(*inputs, params, tmp_path / f"ray{workers}")
        assert _files(tmp_path / f"ray{workers}") == _files(tmp_path / "local")
        assert json.dumps(on_ray, sort_keys=True) == json.dumps(local, sort_keys=True)
    return local


@needs_ray
@pytest.mark.ray
def test_dedup_on_ray_writes_the_same_bytes(
    corpus: Path, tmp_path: Path, local_ray: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    local = _dedup_local_and_on_ray(
        corpus, tmp_path, load_section(corpus / "params.yaml", "dedup", DedupParams), monkeypatch
    )
    by_reason = local["by_reason"]
    assert by_reason["exact_synthetic"] >= 599 and by_reason["near_synthetic"] > 100 and by_reason["ngram_eval"] > 0
    assert local["search"]["pairs_confirmed"] > 0
    assert local["search"]["pairs_verified"] < local["search"]["candidate_pairs"]  # reference first: pruned alike


@needs_ray
@pytest.mark.ray
def test_dedup_lineage_walk_on_ray_writes_the_same_bytes(
    corpus: Path, tmp_path: Path, local_ray: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The flat option (dedup.lineage_walk): its lineage walks run in Ray tasks per lineage partition."""
    params = load_section(corpus / "params.yaml", "dedup", DedupParams).model_copy(update={"lineage_walk": True})
    local = _dedup_local_and_on_ray(corpus, tmp_path, params, monkeypatch)
    walked = local["search"]["lineage_walk"]
    assert walked["removed_within_lineages"] > 100 and walked["lineages"] > 10 and local["by_reason"]["ngram_eval"] > 0
    assert local["by_reason"]["exact_synthetic"] >= 599  # the 600 copies of one text: one lineage, walked


# --- against `ray start --head` on 127.0.0.1, through the stage commands and dvc ---------------------------


@pytest.fixture(scope="module")
def ray_head() -> Iterator[dict[str, str]]:
    """A Ray head on 127.0.0.1 with 2 CPUs and token authentication (bench/ray_cluster.py): yields the
    environment a driver needs to join it, and stops it by its process id afterwards."""
    from bench.ray_cluster import ray_head as started_head

    with started_head(2, env_with_venv()) as (env, _):
        yield env


@needs_ray
@pytest.mark.ray
def test_stage_commands_on_a_ray_cluster_write_the_same_bytes(corpus: Path, ray_head: dict[str, str]) -> None:
    run_stage("filter", corpus)
    run_stage("dedup", corpus)
    local = {name: (corpus / name).read_bytes() for name in OUTPUTS}
    env = {**ray_head, "PIPELINE_WORKERS": "2", "PIPELINE_SHARD_ROWS": "400"}
    for stage in ("filter", "dedup"):
        result = subprocess.run([sys.executable, "-m", f"stages.{stage}"], cwd=corpus, env=env, capture_output=True,
                                text=True)  # fmt: skip
        assert result.returncode == 0, result.stderr
    assert {name: (corpus / name).read_bytes() for name in OUTPUTS} == local


@needs_ray
@pytest.mark.ray
@pytest.mark.dvc
def test_switching_to_ray_leaves_dvc_nothing_to_do(tmp_path: Path, ray_head: dict[str, str]) -> None:
    from tests.test_pipeline_dvc import project_files

    for name in project_files():
        if not name.startswith(("data/", ".dvc/cache", ".dvc/tmp")):
            (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
            (tmp_path / name).write_bytes((ROOT / name).read_bytes())
    run(["git", "init", "-q", "-b", "main"], tmp_path)
    run(["dvc", "repro", "-q"], tmp_path)
    run(["git", "add", "-A"], tmp_path)
    run(["git", "commit", "-q", "-m", "built locally"], tmp_path)
    for stage in ("filter", "dedup"):  # forced: both stages rerun on the cluster
        forced = subprocess.run(["dvc", "repro", "-f", "-s", stage], cwd=tmp_path, env=ray_head, capture_output=True,
                                text=True)  # fmt: skip
        assert forced.returncode == 0 and f"Running stage '{stage}'" in forced.stdout, forced.stderr
    assert run(["git", "status", "--porcelain"], tmp_path).stdout == ""  # dvc.lock and metrics unchanged
    again = run(["dvc", "repro"], tmp_path).stdout
    assert "Running stage" not in again and "Data and pipelines are up to date." in again
    assert run(["dvc", "params", "diff"], tmp_path).stdout == ""
