"""`python -m stages.validate` runs on the seed texts exactly the checks the pipeline applies to them.

A seed the filter's checks reject (data/filter/human.jsonl) silently leaves the mix as a `human_checks`
removal; validate names it first, by file:line and field, with the same reasons, from the same code.
Redactions written as README says ("[PHONE]", "XXXX XXXX", "<NAME>") pass every check and the built-in
generator keeps them; real personal data beside one is still found. Every command ends quietly when
its reader closes standard output early (`| head -1`). Texts are the grocery fixture's (tests/conftest.py).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT, env_with_venv, read_rows, run_stage

STAGES = ("seed", "generate", "filter", "dedup", "review", "mix")
# Lines of the fixture's seed files (as a person counts them) and what is written into them.
FAILING = {  # (file, line, role): (the text, the reason code it fails with); none was a validate problem before
    ("failures.jsonl", 2, "user"): ("My number is [phone] and nobody has called me back", "ai_boilerplate"),
    ("cases.jsonl", 3, "assistant"): ("I'm sorry, but I'm unable to help with that. Ask somewhere else.", "refusal"),
    ("cases.jsonl", 6, "assistant"): ("Okay then.", "assistant_too_short"),
}  # fmt: skip
REDACTIONS = ["[PHONE]", "[EMAIL]", "[ACCOUNT NUMBER]", "XXXXX XXXXX", "***", "<NAME>"]
FILTER_REJECTS = re.compile(r"^(seeds/\S+:\d+): field 'messages': the filter would reject this row \((.*)\)$")
DOUBLED_WORD = re.compile(r"\b([A-Za-z]+) \1\b", re.IGNORECASE)


def _edit_lines(path: Path, changes: dict[int, tuple[str, str]]) -> None:
    """Line number -> (role, text): that line's first turn of the role gets the text (user) or becomes it."""
    lines = path.read_text(encoding="utf-8").splitlines()
    for number, (role, text) in changes.items():
        line = json.loads(lines[number - 1])
        turn = next(message for message in line["messages"] if message["role"] == role)
        turn["content"] = text
        lines[number - 1] = json.dumps(line)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def _redacted(project: Path) -> dict[str, str]:
    """Each redaction written into a user turn of cases.jsonl (lines 9...), with the reply thanking a [NAME]
    on one of them; returns placeholder -> its seed's case id."""
    cases = project / "seeds/cases.jsonl"
    changes = {9 + i: ("user", f"You can reach me on {p}, my order never came and I want to know why") for i, p in
               enumerate(REDACTIONS)}  # fmt: skip
    _edit_lines(cases, changes)
    lines = cases.read_text(encoding="utf-8").splitlines()
    reply = json.loads(lines[8])
    reply["messages"][-1]["content"] = "Thanks, [NAME]. " + reply["messages"][-1]["content"]
    lines[8] = json.dumps(reply)
    cases.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return {p: json.loads(lines[8 + i])["case_id"] for i, p in enumerate(REDACTIONS)}


def _failing(project: Path) -> None:
    for name in ("cases.jsonl", "failures.jsonl"):
        changes = {line: (role, text) for (file, line, role), (text, _) in FAILING.items() if file == name}
        _edit_lines(project / "seeds" / name, changes)


def _rejections(stderr: str) -> set[tuple[str, str]]:
    return {match.groups() for line in stderr.splitlines() if (match := FILTER_REJECTS.match(line))}


def test_validate_names_every_seed_any_filter_check_rejects_with_the_pipelines_reasons(project: Path) -> None:
    """Refusal, ai_boilerplate and length were not validate's checks: those seeds passed validate, then
    left the mix. Now validate lists them, and its (file:line, reason) pairs are exactly the failing
    seeds of data/filter/human.jsonl, which names them by file:line too, as do the filter's stderr and
    the mix's removals; no message built from parts doubles a word ("seed seed case")."""
    _failing(project)
    redacted = _redacted(project)
    validate = run_stage("validate", project, check=False)
    assert validate.returncode == 2 and "Traceback" not in validate.stderr, validate.stderr
    found = _rejections(validate.stderr)
    for (name, line, _), (_, code) in FAILING.items():
        assert any(where == f"seeds/{name}:{line}" and reason.startswith(f"{code}:") for where, reason in found), (
            name,
            line,
            validate.stderr,
        )
    assert validate.stderr.startswith(f"error: {len(found)} problem(s):\n"), validate.stderr  # redactions pass

    outputs = [validate.stderr]
    for stage in STAGES:
        result = run_stage(stage, project)
        outputs += [result.stdout, result.stderr]
    verdicts = [r for r in read_rows(project / "data/filter/human.jsonl") if r["kind"] == "seed"]
    failing = {(r["where"], reason) for r in verdicts for reason in r["reasons"]}
    assert failing == found
    assert all(r["where"].startswith(("seeds/cases.jsonl:", "seeds/failures.jsonl:")) for r in verdicts)
    filter_stderr = outputs[STAGES.index("filter") * 2 + 2]
    assert "filter: human text fails the checks: seed seeds/failures.jsonl:2 (case fail-" in filter_stderr
    removed = {row["case_id"]: row["reasons"][0] for row in read_rows(project / "data/mix/removed.jsonl")}
    assert removed[verdicts[2]["case_id"]].startswith(
        f"human_checks: seed seeds/cases.jsonl:3 (case {verdicts[2]['case_id']}) fails the filter's checks: refusal"
    )
    outputs += [reason for reason in removed.values()]
    doubled = [(match.group(0), text[:200]) for text in outputs for match in DOUBLED_WORD.finditer(text)]
    assert not doubled, doubled
    assert not {r["case_id"] for r in verdicts if r["reasons"]} & set(redacted.values())


def test_redactions_pass_every_check_and_the_generator_keeps_them(project: Path) -> None:
    """Each documented form passes validate and the filter's human checks; the built-in generator's
    variations of those seeds keep it and pass the filter; a template's lowercase slot ("[phone]") is a
    problem that says how to write the redaction, and a real number beside a redaction is still found."""
    redacted = _redacted(project)
    assert run_stage("validate", project).stdout.startswith("valid:")
    for stage in ("seed", "generate", "filter"):
        run_stage(stage, project)
    verdicts = {r["case_id"]: r["reasons"] for r in read_rows(project / "data/filter/human.jsonl")}
    assert {case: verdicts[case] for case in redacted.values()} == {case: [] for case in redacted.values()}
    seeds = {row["case_id"]: row["id"] for row in read_rows(project / "data/seed/seeds.jsonl")}
    kept = read_rows(project / "data/filter/kept.jsonl")
    rejected = read_rows(project / "data/filter/rejected.jsonl")
    for placeholder, case in redacted.items():
        variations = [row for row in kept if row["seed_id"] == seeds[case]]
        assert variations, placeholder
        assert all(placeholder in row["messages"][0]["content"] for row in variations), placeholder
        others = [row["reasons"] for row in rejected if row["seed_id"] == seeds[case]]
        assert not [reasons for reasons in others if any("ai_boilerplate" in r for r in reasons)], others

    _edit_lines(project / "seeds/failures.jsonl", {
        1: ("user", "My number is [phone] and my email is [e-mail], nobody has called me back yet"),
        2: ("user", "Call me on [PHONE] or 020 7946 0958 because my order never turned up today"),
    })  # fmt: skip
    errors = run_stage("validate", project, check=False).stderr
    assert "seeds/failures.jsonl:1: field 'messages': the filter would reject this row (ai_boilerplate: '[phone]'" in (
        errors
    )
    assert "a redaction is written in capitals: '[PHONE]')" in errors, errors
    assert "seeds/failures.jsonl:2: field 'messages': the filter would reject this row (pii: phone in user text" in (
        errors
    )


def test_a_seed_over_the_mixs_token_limit_is_a_problem(project: Path) -> None:
    """The mix's token gate removes human rows too: validate runs it on every training seed."""
    params = project / "params.yaml"
    params.write_text(params.read_text().replace("max_tokens_per_example: 65536", "max_tokens_per_example: 40"))
    errors = run_stage("validate", project, check=False).stderr
    over = [line for line in errors.splitlines() if "the mix would leave this row out (token_limit: " in line]
    training = len(read_rows(project / "seeds/cases.jsonl")) + len(read_rows(project / "seeds/failures.jsonl"))
    assert len(over) == training, errors
    assert over[0].startswith("seeds/cases.jsonl:1: field 'messages': the mix would leave this row out"), over[0]


def _closed_pipe_run(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    """`args` with standard output a pipe whose reader has already gone (as `| head -1` leaves it after its
    line): the read end is closed before the command starts, so its first write finds no reader."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        return subprocess.run(args, cwd=cwd, stdout=write_end, stderr=subprocess.PIPE, text=True, env=env_with_venv())
    finally:
        os.close(write_end)


@pytest.mark.parametrize(
    "command",
    [
        ["-m", "stages.validate"],
        ["-m", "stages.seed"],
        ["-m", "stages.filter"],
        [str(ROOT / "tools/use_domain.py"), str(ROOT / "examples/travel")],
    ],
)
def test_a_reader_that_closes_stdout_early_gets_no_traceback(project: Path, command: list[str]) -> None:
    """Validate, stages (every one runs through core.errors.run_main) and a tool, each printing to a
    pipe nobody reads any more: no traceback, and a stage's outputs were written before it printed."""
    (project / "prompts").symlink_to(ROOT / "prompts")
    if command[1] == "stages.filter":
        run_stage("seed", project)
        run_stage("generate", project)
    result = _closed_pipe_run([sys.executable, *command], project)
    assert "Traceback" not in result.stderr and "BrokenPipeError" not in result.stderr, result.stderr
    assert result.returncode in (0, 1), result
    if command[1].startswith("stages.") and command[1] != "stages.validate":
        assert json.loads((project / f"metrics/{command[1].split('.')[1]}.json").read_text())
