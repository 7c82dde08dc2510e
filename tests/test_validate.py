"""`python -m stages.validate`: a whole domain checked without running the pipeline, every problem at once."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from stages.core.errors import UserError
from stages.filter.checks.base import CheckInputs
from stages.filter.checks.echo import EchoCheck, EchoParams
from stages.validate import validate_domain
from tests.conftest import ROOT, make_project, run_stage, seed_line


def _project(tmp_path: Path) -> Path:
    project = make_project(tmp_path)
    shutil.copytree(ROOT / "prompts", project / "prompts")
    return project


def test_a_valid_domain_says_what_it_checked(tmp_path: Path) -> None:
    result = run_stage("validate", _project(tmp_path))
    assert result.stdout.startswith("valid:\n  params.yaml: 8 of 8 sections valid\n")
    assert "seeds/cases.jsonl: 24 valid rows" in result.stdout and "prompts/: 5 templates" in result.stdout
    assert "seeds/lexicon.yaml: the built-in generator's words" in result.stdout


def test_every_problem_is_listed_at_once_with_file_line_and_field(tmp_path: Path) -> None:
    project = _project(tmp_path)
    (project / "seeds/domain.yaml").write_text(
        "product: Freshbox\nrules: [ok]\npii:\n  - name: loyalty\n    pattern: '(unclosed'\n", encoding="utf-8"
    )
    cases = project / "seeds/cases.jsonl"
    lines = cases.read_text().splitlines()
    lines[1] = json.dumps(seed_line("teleport_request", "deliveries", 50))
    lines[2] = "{not json"
    lines[3] = json.dumps({**json.loads(lines[3]), "policy_refs": ["9.9"]})
    invented = json.loads(lines[4])
    invented["messages"][1]["content"] = "Your delivery fee of €7 is refunded within 3 working days."
    lines[4] = json.dumps(invented)
    cases.write_text("\n".join(lines) + "\n")
    (project / "prompts/broken.md").write_text(
        "---\nkind: variation\n---\n=== system ===\n{{brand}}\n=== user ===\nx\n"
    )
    (project / "seeds/lexicon.yaml").write_text("substitutions:\n  - [only one]\n")
    result = run_stage("validate", project, check=False)
    assert result.returncode == 2
    errors = result.stderr
    assert "error: 8 problem(s):" in errors, errors
    assert "seeds/lexicon.yaml:2: substitutions" in errors  # the built-in generator's own validator
    assert "seeds/domain.yaml:1: field 'system_prompt': Field required" in errors
    assert "seeds/domain.yaml:5: field 'pii.0.pattern': not a valid regular expression" in errors
    assert "seeds/cases.jsonl:2: field 'intent': 'teleport_request' is not in params taxonomy.slices" in errors
    assert "seeds/cases.jsonl:3: not valid JSON" in errors
    assert "seeds/cases.jsonl:4: field 'policy_refs': rule '9.9' is not in seeds/policy.md" in errors
    assert "seeds/cases.jsonl:5: field 'messages': the filter would reject this row (policy_facts: '€7'" in errors
    assert "prompts/broken.md: unknown placeholder(s) ['brand']" in errors
    assert "Traceback" not in errors


def test_too_few_cases_per_intent_is_listed_with_the_intents(tmp_path: Path) -> None:
    project = make_project(tmp_path, cases_per_intent=1)
    shutil.copytree(ROOT / "prompts", project / "prompts")
    params = (project / "params.yaml").read_text().replace("min_cases_per_intent: 1", "min_cases_per_intent: 3")
    (project / "params.yaml").write_text(params)
    result = run_stage("validate", project, check=False)
    assert "intents with fewer than seed.min_cases_per_intent=3 training seeds: account_locked" in result.stderr


def test_seed_files_are_read_as_the_seed_stage_reads_them(tmp_path: Path) -> None:
    """Lines as an editor counts them (a U+2028 inside a JSON string is no line break), bytes that are
    not UTF-8 and an empty eval file: the problems the seed stage would raise, listed, never a traceback."""
    project = _project(tmp_path)
    cases = project / "seeds/cases.jsonl"
    lines = cases.read_text(encoding="utf-8").splitlines()
    first = json.loads(lines[0])
    first["messages"][0]["content"] += "\u2028and one more line"
    lines[0] = json.dumps(first, ensure_ascii=False)
    lines[2] = "{not json"
    cases.write_text("\n".join(lines) + "\n", encoding="utf-8")
    failures = project / "seeds/failures.jsonl"
    failures.write_bytes(failures.read_bytes().replace(b"I cannot help", b"I cann\xf6t help", 1))
    (project / "seeds/eval_traffic.jsonl").write_text("")
    result = run_stage("validate", project, check=False)
    errors = result.stderr
    assert result.returncode == 2 and "Traceback" not in errors, errors
    assert "seeds/cases.jsonl:1" not in errors  # the U+2028 line is valid
    assert "seeds/cases.jsonl:3: not valid JSON: " in errors
    assert "seeds/failures.jsonl:1: not valid UTF-8 (byte 0xf6" in errors
    assert "seeds/eval_traffic.jsonl: the file is empty (no JSON lines)" in errors


def test_a_prompt_template_that_is_not_utf8_is_a_problem_not_a_traceback(tmp_path: Path) -> None:
    """prompts/ is the user's to edit (the domain's parts come from domain.yaml): the teacher's loader and
    the filter's echo check read it as every other input is read (core.files)."""
    project = _project(tmp_path)
    template = project / "prompts/variation_rephrase.md"
    template.write_bytes(template.read_bytes() + "the caf\u00e9 is closed\n".encode("latin-1"))
    line = template.read_bytes().count(b"\n")
    result = run_stage("validate", project, check=False)
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    assert f"prompts/variation_rephrase.md:{line}: not valid UTF-8 (byte 0xe9" in result.stderr
    with pytest.raises(UserError, match=rf"variation_rephrase.md:{line}: not valid UTF-8"):
        EchoCheck.build(EchoParams(), CheckInputs(prompts=project / "prompts"))


def test_a_broken_policy_is_one_problem_and_the_other_reply_checks_still_run(tmp_path: Path) -> None:
    project = _project(tmp_path)
    (project / "seeds/policy.md").write_text("# Policy\n\nBe kind to every customer.\n")
    (project / "seeds/blocklist.txt").write_text("hand you over\n")  # in every fixture reply
    result = run_stage("validate", project, check=False)
    no_figures = "seeds/policy.md: no figures found in the policy"
    assert result.stderr.count(no_figures) == 1, result.stderr
    assert "the filter would reject this row (blocklist: " in result.stderr


def test_review_files_are_checked_row_by_row_every_problem_listed(tmp_path: Path) -> None:
    project = _project(tmp_path)
    # As a spreadsheet saves it: byte-order mark, CRLF, ';' as the delimiter, a multi-line quoted cell.
    rows = [
        "id;verdict;reason;corrected_reply;reviewer;note",
        "aaa;approve;;;ana;",
        "bbb;approved;;;ana;",  # not a verdict
        ";;;;;",  # delimiters only: skipped
        "ccc;reject;;;ana;",  # a reject without a reason
        'ddd;edit;;"first line\r\nsecond line";ana;',
        "eee;edit;;;ana;",  # an edit without the corrected reply
        "aaa;reject;off topic;;bo;",  # a second decision (the spreadsheet row, then the line an editor shows)
    ]
    (project / "seeds/reviews/decisions.csv").write_bytes(("\ufeff" + "\r\n".join(rows) + "\r\n").encode())
    export = [{"id": 1, "data": {"id": "fff"}, "annotations": [{"result": [
        {"from_name": "verdict", "type": "choices", "value": {"choices": ["maybe"]}}]}]}]  # fmt: skip
    (project / "seeds/reviews/label_studio_export.json").write_text(json.dumps(export), encoding="utf-8")
    result = run_stage("validate", project, check=False)
    errors = result.stderr
    assert result.returncode == 2 and "Traceback" not in errors
    assert "error: 5 problem(s):" in errors, errors
    decisions = "seeds/reviews/decisions.csv"
    assert f"{decisions}:3: field 'verdict': 'approved' is not one of ['approve', 'reject', 'edit']" in errors
    assert f"{decisions}:5: field 'reason': a reject needs a reason" in errors
    assert f"{decisions}:7 (text line 8): field 'corrected_reply': an edit needs the corrected reply" in errors
    assert f"{decisions}:8 (text line 9): field 'id': second decision for 'aaa' (first at {decisions}:2)" in errors
    assert "label_studio_export.json: task 1 (Label Studio id 1, row fff): field 'verdict': 'maybe'" in errors


def test_a_review_file_of_the_wrong_shape_is_one_problem_and_the_rest_is_still_checked(tmp_path: Path) -> None:
    project = _project(tmp_path)
    (project / "seeds/reviews/decisions.csv").write_bytes(b"row,decision\nabc,approve\n")
    (project / "seeds/reviews/label_studio_export.json").write_text("{}", encoding="utf-8")
    errors = run_stage("validate", project, check=False).stderr
    assert "error: 2 problem(s):" in errors and "Traceback" not in errors, errors
    assert "seeds/reviews/decisions.csv" in errors and "'id'" in errors
    assert "label_studio_export.json: expected Label Studio's JSON export (a list of tasks), got dict" in errors


def test_a_decisions_line_not_in_utf8_names_the_spreadsheet_row_as_its_other_problems(tmp_path: Path) -> None:
    """The encoding error and a field error after a multi-line cell name the row the same way."""
    project = _project(tmp_path)
    rows = [
        "id,verdict,reason,corrected_reply,reviewer,note",
        'aaa,edit,,"first line\r\nsecond line\r\nthird line",ana,',
        "bbb,reject,caf\u00e9 closed,,ana,",
        "ccc,maybe,,,ana,",
    ]
    (project / "seeds/reviews/decisions.csv").write_bytes("\r\n".join(rows).encode("cp1252") + b"\r\n")
    errors = run_stage("validate", project, check=False).stderr
    assert "error: 2 problem(s):" in errors and "Traceback" not in errors, errors
    assert "\nseeds/reviews/decisions.csv:3 (text line 5): not valid UTF-8 (byte 0xe9 at character 15)" in errors
    assert "\nseeds/reviews/decisions.csv:4 (text line 6): field 'verdict': 'maybe' is not one of" in errors


def _latin1(path: Path, line: int, old: str, new: str) -> None:
    """Line `line` of `path` with `old` replaced by `new` saved as Latin-1 (bytes that are not UTF-8)."""
    lines = path.read_bytes().split(b"\n")
    assert old.encode() in lines[line - 1], (path, line)
    lines[line - 1] = lines[line - 1].replace(old.encode(), new.encode("latin-1"), 1)
    path.write_bytes(b"\n".join(lines))


@pytest.mark.parametrize(
    ("name", "where"),
    [("cases.jsonl", "first"), ("cases.jsonl", "middle"), ("cases.jsonl", "last"),
     ("failures.jsonl", "first"), ("failures.jsonl", "last"), ("eval_traffic.jsonl", "middle")],
)  # fmt: skip
def test_a_seed_line_that_is_not_utf8_is_named_and_every_other_line_still_checked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, where: str
) -> None:
    """One bad byte is one problem naming its line: the file's other lines (and that line's fields) are
    still read, so no intent looks short of cases; the last line has no final newline."""
    project = _project(tmp_path)
    params = project / "params.yaml"
    params.write_text(params.read_text().replace("min_cases_per_intent: 1", "min_cases_per_intent: 4"))
    path = project / "seeds" / name
    path.write_bytes(path.read_bytes().rstrip(b"\n"))
    count = path.read_bytes().count(b"\n") + 1
    line = {"first": 1, "middle": count // 2 + 1, "last": count}[where]
    _latin1(path, line, '"content": "', '"content": "Caf\u00e9 ')
    monkeypatch.chdir(project)
    report, problems = validate_domain(Path("params.yaml"), Path("seeds"), Path("prompts"))
    assert len(problems) == 1, problems
    assert problems[0].startswith(f"seeds/{name}:{line}: not valid UTF-8 (byte 0xe9 at character ")
    assert problems[0].endswith("; save the file as UTF-8") and "the bytes look like " in problems[0]
    assert f"seeds/{name}: {count} valid rows" in report


def test_a_word_of_few_letters_is_named_in_its_plausible_readings(tmp_path: Path) -> None:
    """As found: a reviewer's cell "Renée" in cp1252 was named cp1250 or cp874 ("Ren้e"), never cp1252; a
    blocklist phrase "Łódź" in cp1250 was named cp1252 ("£ódŸ") alone."""
    project = _project(tmp_path)
    (project / "seeds/reviews/decisions.csv").write_bytes(
        b"id,verdict,reason,corrected_reply,reviewer,note\nfc8b522cbae7ef890d54,reject,off-topic,,Ren\xe9e,\n"
    )
    with (project / "seeds/blocklist.txt").open("ab") as blocklist:
        blocklist.write(b"phrase \xa3\xf3d\x9f here\n")
    errors = run_stage("validate", project, check=False).stderr
    assert "Traceback" not in errors and "error: 2 problem(s):" in errors, errors
    assert 'decisions.csv:2: not valid UTF-8 (byte 0xe9 at character 43); the bytes look like cp1252 ("Renée");' in (
        errors
    )
    assert 'the bytes look like cp1250 ("Łódź") or cp1252 ("£ódŸ"); save the file as UTF-8' in errors, errors


def test_a_bad_byte_in_every_file_validate_reads_is_one_problem_each(tmp_path: Path) -> None:
    """params, domain, policy, blocklist, both review files, a prompt and the lexicon: each bad line is
    named once (a file read twice too), its file still checked; a real problem elsewhere still listed,
    and none that the bad bytes cause (a verdict or header cell read with U+FFFD)."""
    project = _project(tmp_path)
    (project / "params.yaml").write_bytes("# caf\u00e9\n".encode("latin-1") + (project / "params.yaml").read_bytes())
    _latin1(project / "seeds/domain.yaml", 1, "Freshbox", "Fr\u00eashbox")
    _latin1(project / "seeds/policy.md", 3, "groceries", "groc\u00e9ries")
    _latin1(project / "seeds/blocklist.txt", 1, "phrases", "phr\u00e4ses")
    _latin1(project / "prompts/variation_rephrase.md", 2, "", "\u00ab")
    (project / "seeds/lexicon.yaml").write_bytes("# na\u00efve words\n".encode("latin-1"))
    rows = [
        "id,verdict,reason,corrected_reply,reviewer,note",
        "aaa,approve,,,Jos\u00e9,",
        'bbb,edit,,"first line\r\nsecond caf\u00e9 line",ana,',  # a bad byte in a cell's second line
        "ccc,appr\u00f6ve,,,ana,",  # the bad byte is all that is wrong here
        "ddd,maybe,,,ana,",  # a real problem after them
    ]
    (project / "seeds/reviews/decisions.csv").write_bytes("\r\n".join(rows).encode("latin-1"))
    export = [{"id": task, "data": {"id": row}, "annotations": [{"result": [
        {"from_name": "verdict", "type": "choices", "value": {"choices": [verdict]}}]}]}
        for task, row, verdict in [(1, "fff", "appr\u00f6ve"), (2, "ggg", "maybe")]]  # fmt: skip
    (project / "seeds/reviews/label_studio_export.json").write_bytes(
        json.dumps(export, ensure_ascii=False).encode("latin-1")
    )
    result = run_stage("validate", project, check=False)
    errors = result.stderr
    assert result.returncode == 2 and "Traceback" not in errors, errors
    assert "error: 12 problem(s):" in errors, errors
    reviews = "seeds/reviews"
    bad = ["params.yaml:1", "seeds/domain.yaml:1", "seeds/policy.md:3", "seeds/blocklist.txt:1",
           f"{reviews}/decisions.csv:2", f"{reviews}/decisions.csv:3 (text line 4)",
           f"{reviews}/decisions.csv:4 (text line 5)",
           f"{reviews}/label_studio_export.json:1", "prompts/variation_rephrase.md:2",
           "seeds/lexicon.yaml:1"]  # fmt: skip
    for place in bad:
        assert errors.count(f"\n{place}: not valid UTF-8 (byte 0x") == 1, (place, errors)
    assert "seeds/reviews/decisions.csv:5 (text line 6): field 'verdict': 'maybe' is not one of" in errors
    assert "label_studio_export.json: task 2 (Label Studio id 2, row ggg): field 'verdict': 'maybe'" in errors


def _break(row: dict, how: str) -> str:
    """Seed line `row` with one problem of its own, as JSON text."""
    if how == "json":  # a closing brace missing: the text still names the intent
        return json.dumps(row)[:-1]
    if how == "not json":
        return "{not json"
    broken = json.loads(json.dumps(row))
    if how == "slice":
        broken["slice"] = "nowhere"
    elif how == "role":
        broken["messages"][-1]["role"] = "user"
    elif how == "missing":
        del broken["messages"]
    elif how == "intent":
        broken["intent"] = "late_delivry"
    return json.dumps(broken)


def _validate_with_breaks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, minimum: int, broken: dict) -> list[str]:
    """validate_domain's problems for a project of 3 training seeds per intent (2 cases, 1 failure) with
    `broken` {(file, line): how} seed lines broken."""
    project = make_project(tmp_path, cases_per_intent=2)
    shutil.copytree(ROOT / "prompts", project / "prompts")
    params = project / "params.yaml"
    params.write_text(params.read_text().replace("min_cases_per_intent: 1", f"min_cases_per_intent: {minimum}"))
    for name in ("cases.jsonl", "failures.jsonl"):
        path = project / "seeds" / name
        lines = path.read_text().splitlines()
        lines = [_break(json.loads(text), broken[name, n]) if (name, n) in broken else text
                 for n, text in enumerate(lines, start=1)]  # fmt: skip
        path.write_text("\n".join(lines) + "\n")
    monkeypatch.chdir(project)
    return validate_domain(Path("params.yaml"), Path("seeds"), Path("prompts"))[1]


@pytest.mark.parametrize("how", ["slice", "role", "missing", "json"])
def test_a_rejected_seed_line_brings_no_follow_on_problem_of_the_set(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, how: str
) -> None:
    """A line with its own problem is counted for the intent it names: its intent is not short of cases."""
    problems = _validate_with_breaks(tmp_path, monkeypatch, 3, {("cases.jsonl", 1): how})
    assert problems and all(problem.startswith("seeds/cases.jsonl:1: ") for problem in problems), problems


def test_with_every_seed_line_rejected_the_set_is_not_called_empty(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    broken = {("cases.jsonl", n): "slice" for n in range(1, 13)} | {("failures.jsonl", n): "role" for n in range(1, 7)}
    problems = _validate_with_breaks(tmp_path, monkeypatch, 3, broken)
    assert len(problems) == 18, problems  # each line's own problem, and nothing about the set
    assert not any("empty" in problem or "fewer than" in problem for problem in problems), problems


@pytest.mark.parametrize("how", ["not json", "intent"])
def test_a_line_that_names_no_intent_leaves_a_short_intent_said_as_after_the_fix(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, how: str
) -> None:
    """Which intent a broken line (no JSON shape, an intent misspelt) is of cannot be told: the short intent is
    still listed, saying that the count may change once the line is fixed."""
    problems = _validate_with_breaks(tmp_path, monkeypatch, 3, {("cases.jsonl", 1): how})
    assert len(problems) == 2 and problems[0].startswith("seeds/cases.jsonl:1: "), problems
    assert problems[1] == (
        "seeds/cases.jsonl and seeds/failures.jsonl: intents with fewer than seed.min_cases_per_intent=3 training"
        " seeds: late_delivery (after the rows above are fixed: 1 of them names no intent of the taxonomy and may"
        " be of these)"
    )


def test_an_intent_short_even_with_its_rejected_lines_is_still_a_problem(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    problems = _validate_with_breaks(tmp_path, monkeypatch, 4, {("cases.jsonl", 1): "slice"})
    assert len(problems) == 2 and problems[0].startswith("seeds/cases.jsonl:1: field 'slice'"), problems
    assert problems[1] == (
        "seeds/cases.jsonl and seeds/failures.jsonl: intents with fewer than seed.min_cases_per_intent=4 training"
        " seeds: account_locked, delete_account, delivery_fee, late_delivery, missing_item, refund_request"
    )
