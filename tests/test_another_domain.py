"""Acceptance: another team's domain in place of the shipped one, and the tests still pass.

In a copy of this repository, `tools/use_domain.py` replaces seeds/ and params.yaml's taxonomy with an
examples/ domain other than the one seeds/ holds (README, "Start your own data set"); the domain
validates, `dvc repro` builds it, the result is committed, and then the tests that read the
repository's own domain (DOMAIN_TESTS) run there and pass. The other tests use fixtures of their own
(a guard below keeps that true), so they cannot tell the domains apart; the README's whole test
command was run on such a copy too (BENCHMARKS.md, issue 11).
"""

from __future__ import annotations

import os
import re
import shutil
import sys
from pathlib import Path

import pytest

from stages.core.domain import load_domain
from tests.conftest import ROOT, env_with_venv, run

# Tests that read the repository's own seeds/, its taxonomy or its pipeline outputs.
DOMAIN_TESTS = (
    "tests/test_seeds_domain.py",
    "tests/test_example_bank.py",
    "tests/test_params_shown.py",
    "tests/test_pipeline_dvc.py",
    "tests/test_common.py",
    "tests/test_filter.py::test_editing_one_check_reruns_only_the_filter",
    "tests/test_domain.py::test_prompts_name_no_product_and_are_filled_from_the_domain",
    "tests/test_evaluate_banking77.py",
)
SWITCHED = "SYNTHETIC_SUPPORT_DOMAIN_SWITCHED"  # set inside the copy: no copy within the copy
_READS_DOMAIN = re.compile(r'ROOT / "seeds|project_files\(\)|\["taxonomy"\]')


def _other_domain() -> Path | None:
    """An examples/ domain folder whose product differs from the one seeds/ holds."""
    current = load_domain(ROOT / "seeds/domain.yaml").product
    for folder in sorted((ROOT / "examples").glob("*/")):
        if (folder / "domain.yaml").exists() and load_domain(folder / "domain.yaml").product != current:
            return folder
    return None


def test_tests_that_read_the_repository_domain_are_listed() -> None:
    """A test reading seeds/ or the taxonomy of this repository must be in DOMAIN_TESTS, so that the
    acceptance run covers it (or use a fixture of its own instead)."""
    listed = {name.split("::")[0] for name in DOMAIN_TESTS}
    # whole-repository runs of the teacher backend (a fake server; a local llama.cpp server, skipped
    # without one) and on a Ray cluster (skipped without Ray): they assert the plumbing, not the
    # domain's figures
    exempt = {"tests/test_another_domain.py", "tests/test_teacher.py", "tests/test_teacher_llama_cpp.py",
              "tests/test_ray.py"}  # fmt: skip
    for path in sorted((ROOT / "tests").glob("test_*.py")):
        name = f"tests/{path.name}"
        if name not in listed | exempt and _READS_DOMAIN.search(path.read_text(encoding="utf-8")):
            raise AssertionError(f"{name} reads the repository's domain: add it to DOMAIN_TESTS or use a fixture")


@pytest.mark.dvc
@pytest.mark.skipif(SWITCHED in os.environ, reason="already inside a copy with another domain")
def test_another_domain_builds_and_its_tests_pass(tmp_path: Path) -> None:
    from tests.test_pipeline_dvc import project_files

    folder = _other_domain()
    if folder is None:
        pytest.skip("examples/ has no domain other than the one seeds/ holds")
    repo = tmp_path / "repo"
    for name in project_files():
        if not name.startswith(("data/", ".dvc/cache", ".dvc/tmp")):
            (repo / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, repo / name)
    switched = run([sys.executable, "tools/use_domain.py", str(folder.relative_to(ROOT))], repo)
    assert "taxonomy from" in switched.stdout
    assert run([sys.executable, "-m", "stages.validate"], repo).stdout.startswith("valid:")
    run(["git", "init", "-q", "-b", "main"], repo)
    run(["git", "add", "-A"], repo)
    run(["git", "commit", "-q", "-m", "another domain"], repo)
    run(["dvc", "repro"], repo)
    run(["git", "add", "-A"], repo)
    run(["git", "commit", "-q", "-m", "its data set"], repo)
    env = {**env_with_venv(), "PYTHONPATH": str(repo), SWITCHED: "1"}
    import subprocess

    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *DOMAIN_TESTS],
        cwd=repo, env=env, capture_output=True, text=True,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-4000:]
    assert " failed" not in result.stdout and "skipped" in result.stdout  # the bank's own tests skip there


def test_use_domain_refuses_a_folder_it_cannot_use_in_one_line(tmp_path: Path) -> None:
    """Exit 2 and one line naming the file: a missing file, a taxonomy.yaml that is not UTF-8."""
    folder = tmp_path / "domain"
    shutil.copytree(ROOT / "examples/travel", folder)
    shutil.copy2(ROOT / "params.yaml", tmp_path / "params.yaml")
    tool = [sys.executable, str(ROOT / "tools/use_domain.py"), "domain"]
    (folder / "taxonomy.yaml").write_bytes(b"taxonomy:\n  slices: {a: [caf\xe9]}\n")
    result = run(tool, tmp_path, check=False)
    assert result.returncode == 2 and result.stderr.startswith("error: domain/taxonomy.yaml:2: not valid UTF-8")
    assert result.stderr.count("\n") == 1
    (folder / "policy.md").unlink()
    result = run(tool, tmp_path, check=False)
    assert (result.returncode, result.stderr) == (
        2,
        "error: domain: missing policy.md (see README, 'Start your own data set')\n",
    )
    assert not (tmp_path / "seeds").exists()  # nothing replaced


@pytest.mark.parametrize(
    ("taxonomy", "message"),
    [
        ("taxonomy:\n  slices:\n    orders: [late_order\n  critical: []\n",
         "error: domain/taxonomy.yaml:4: not valid YAML (expected ',' or ']', but got ':'; while parsing a flow"
         " sequence that starts at line 3)\n"),
        ("taxonomy:\n  slices:\n    orders: [late_order]\n  critical: [order]\n",
         "error: domain/taxonomy.yaml: taxonomy: critical slice(s) ['order'] are not in taxonomy.slices\n"),
        ("taxonomy:\n  slices:\n    orders: 'late_order\n", "error: domain/taxonomy.yaml:4: not valid YAML"),
        ("taxonomy:\n  slices: [orders]\n", "error: domain/taxonomy.yaml"),
    ],
)  # fmt: skip
def test_use_domain_checks_the_taxonomy_before_changing_anything(tmp_path: Path, taxonomy: str, message: str) -> None:
    """A taxonomy.yaml that is not valid YAML, or not a valid taxonomy, stops the tool with one line per
    problem naming the file (and the line, for YAML), before seeds/ or params.yaml change."""
    folder = tmp_path / "domain"
    shutil.copytree(ROOT / "examples/travel", folder)
    shutil.copy2(ROOT / "params.yaml", tmp_path / "params.yaml")
    (tmp_path / "seeds").mkdir()
    (tmp_path / "seeds/cases.jsonl").write_text("{}\n")
    (folder / "taxonomy.yaml").write_text(taxonomy, encoding="utf-8")
    result = run([sys.executable, str(ROOT / "tools/use_domain.py"), "domain"], tmp_path, check=False)
    assert result.returncode == 2 and result.stderr.startswith(message), result
    assert all(
        line.startswith(("error: domain/taxonomy.yaml", "domain/taxonomy.yaml")) for line in result.stderr.splitlines()
    )
    assert (tmp_path / "params.yaml").read_bytes() == (ROOT / "params.yaml").read_bytes()
    assert (tmp_path / "seeds/cases.jsonl").read_text() == "{}\n"


def test_use_domain_gives_a_new_domain_the_review_files(tmp_path: Path) -> None:
    """A domain folder without reviewers' files gets the empty ones and the engine's Label Studio config,
    whose control names are the decision columns core.decisions reads back (the shipped domains' copies
    are the engine's)."""
    folder = tmp_path / "domain"
    shutil.copytree(ROOT / "examples/travel", folder)
    shutil.rmtree(folder / "reviews")
    shutil.copy2(ROOT / "params.yaml", tmp_path / "params.yaml")
    run([sys.executable, str(ROOT / "tools/use_domain.py"), "domain"], tmp_path)
    engine = (ROOT / "stages/review/label_studio_config.xml").read_text(encoding="utf-8")
    assert (tmp_path / "seeds/reviews/label_studio_config.xml").read_text(encoding="utf-8") == engine
    assert (tmp_path / "seeds/reviews/decisions.csv").read_text().startswith("id,verdict,reason,corrected_reply")
    assert (tmp_path / "seeds/reviews/label_studio_export.json").read_text() == "[]\n"
    for name in ("verdict", "reason", "corrected_reply", "note"):
        assert f'name="{name}"' in engine
    assert (ROOT / "examples/travel/reviews/label_studio_config.xml").read_text(encoding="utf-8") == engine
