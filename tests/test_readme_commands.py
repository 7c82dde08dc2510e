"""The README's commands that remove or replace data files, run as written in a small DVC repository:
sharing through a remote (clear the cache and the data, pull) and rolling back to a tagged version.
After them `git status` must be clean: a command that deleted a file DVC wrote into git (a
`data/<stage>/.gitignore`) would leave the data untracked, and a `git add -A` would commit it to git.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from tests.conftest import ROOT, env_with_venv, run

# One stage with two outputs beside a DVC-written .gitignore, and a directory output (as the teacher cache)
MAKE = """import pathlib, sys
text = pathlib.Path("seeds/cases.txt").read_text()
pathlib.Path("data/mix").mkdir(parents=True, exist_ok=True)
pathlib.Path("data/mix/train.jsonl").write_text(text.upper())
pathlib.Path("data/mix/CARD.md").write_text("# card\\n" + text)
pathlib.Path("data/generate/cache").mkdir(parents=True, exist_ok=True)
pathlib.Path("data/generate/cache/answers.jsonl").write_text(text[::-1])
"""
DVC_YAML = """stages:
  mix:
    cmd: python make.py
    deps: [make.py, seeds/cases.txt]
    outs: [data/mix/train.jsonl, data/mix/CARD.md, data/generate/cache]
"""
OUTPUTS = ("data/mix/train.jsonl", "data/mix/CARD.md", "data/generate/cache/answers.jsonl")


def readme_commands(heading: str) -> list[str]:
    """The `$ ` commands of the first code block under the README's `heading`, without their comments."""
    section = (ROOT / "README.md").read_text(encoding="utf-8").split(f"\n{heading}\n", 1)[1]
    block = section.split("```", 2)[1]
    return [re.sub(r"\s{2,}#.*$", "", line[2:]) for line in block.splitlines() if line.startswith("$ ")]


def shell(command: str, repo: Path) -> str:
    """Run one README command line in `repo` (bash, as a user would); its output, or an AssertionError."""
    result = subprocess.run(["bash", "-c", command], cwd=repo, env=env_with_venv(), capture_output=True, text=True)
    assert result.returncode == 0, f"{command} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}"
    return result.stdout


def _repository(repo: Path) -> Path:
    """A git + DVC repository whose stage has been run and committed."""
    repo.mkdir()
    run(["git", "init", "-q", "-b", "main"], repo)
    run(["dvc", "init", "-q"], repo)
    (repo / "seeds").mkdir()
    (repo / "seeds/cases.txt").write_text("first version\n")
    (repo / "make.py").write_text(MAKE)
    (repo / "dvc.yaml").write_text(DVC_YAML)
    run(["dvc", "repro", "-q"], repo)
    run(["git", "add", "-A"], repo)
    run(["git", "commit", "-qm", "v1"], repo)
    return repo


def _outputs(repo: Path) -> dict[str, str]:
    return {name: (repo / name).read_text() for name in OUTPUTS}


def _git_status(repo: Path) -> str:
    return run(["git", "status", "--porcelain", "--untracked-files=all"], repo).stdout


def test_sharing_through_a_remote_leaves_git_clean(tmp_path: Path) -> None:
    repo = _repository(tmp_path / "repo")
    before = _outputs(repo)
    commands = readme_commands("### Share the data and the paid-for teacher answers")
    assert any("dvc pull" in command for command in commands)
    output = "".join(shell(command.replace("/path/or/s3/url", str(tmp_path / "remote")), repo) for command in commands)
    assert re.search(r"\b[1-9]\d* files? fetched", output)  # the cache was gone: the remote gave the data back
    assert _outputs(repo) == before
    assert _git_status(repo) == "", "a README command deleted a file git tracks (or left data untracked)"


def test_rolling_back_to_a_tag_leaves_git_clean(tmp_path: Path) -> None:
    repo = _repository(tmp_path / "repo")
    v1 = _outputs(repo)
    tag, *back = readme_commands("### Roll back")
    shell(tag, repo)
    (repo / "seeds/cases.txt").write_text("a later version\n")  # a later commit changes a seed
    run(["dvc", "repro", "-q"], repo)
    run(["git", "commit", "-qam", "a seed changed"], repo)
    assert _outputs(repo) != v1
    for command in back:
        shell(command, repo)
    assert _outputs(repo) == v1
    assert _git_status(repo) == ""
