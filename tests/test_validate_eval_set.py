"""`python -m stages.validate` and the files params name: the imported eval set (`evaluate.eval_set`), read
by evaluate's own reader with every problem listed at once, and the teacher templates `generate.openai` names."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from stages.core.errors import UserError
from stages.core.eval_set import eval_set_params, load_eval_set
from stages.core.params import Taxonomy
from stages.validate import validate_domain
from tests.conftest import CRITICAL, ROOT, TAXONOMY, make_project, run_stage, write_lines

LOG = "seeds/traffic.csv"
HEADER = "Utterance;Label;Team"
GOOD = [  # fixture-domain traffic, as a person types it
    '"hi, my groceries were due at 6 and still nothing";late_delivery;deliveries',
    '"the eggs were not in the bag";missing_item;deliveries',
    "why is there a fee on a big basket;delivery_fee;payments",
    '"I sent the spoiled fruit back; where is my money";refund_request;payments',
    "locked out after typing my password wrong;account_locked;account",
    "please erase my profile;delete_account;",
]


def _project(tmp_path: Path, **eval_set: Any) -> Path:
    """The fixture project with its eval set at LOG (a spreadsheet's CSV by default) and `eval_set` params."""
    project = make_project(tmp_path)
    shutil.copytree(ROOT / "prompts", project / "prompts")
    settings = {"path": LOG, "format": "csv", "columns": {"text": "Utterance", "intent": "Label", "slice": "Team"}}
    _set(project, "evaluate", {"eval_set": {**settings, **eval_set}})
    return project


def _set(project: Path, section: str, values: dict[str, Any]) -> None:
    params = yaml.safe_load((project / "params.yaml").read_text())
    params[section] = {**params[section], **values}
    (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))


def _spreadsheet(project: Path, rows: list[str], encoding: str = "utf-8") -> Path:
    """rows saved as a spreadsheet saves a CSV: byte-order mark, CRLF line ends."""
    path = project / LOG
    path.write_bytes(b"\xef\xbb\xbf" + "\r\n".join([HEADER, *rows]).encode(encoding) + b"\r\n")
    return path


def _validate(project: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[list[str], list[str]]:
    monkeypatch.chdir(project)  # as the stages run: params paths are relative to the repository root
    return validate_domain(Path("params.yaml"), Path("seeds"), Path("prompts"))


def _pipeline_error(project: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """The first problem evaluate stops at, by its own loader."""
    monkeypatch.chdir(project)
    with pytest.raises(UserError) as caught:
        load_eval_set(Path(LOG), eval_set_params("params.yaml"), Taxonomy(slices=TAXONOMY, critical=CRITICAL))
    return str(caught.value)


def test_a_spreadsheet_eval_set_is_read_as_evaluate_reads_it(tmp_path: Path) -> None:
    project = _project(tmp_path)
    _spreadsheet(project, GOOD)
    result = run_stage("validate", project)
    assert f"  {LOG}: 6 valid eval rows (params evaluate.eval_set, csv), read as evaluate does\n" in result.stdout
    assert f"seeds/eval_traffic.jsonl and {LOG}: 12 rows through the filter's blocklist, pii" in result.stdout


def test_every_problem_of_an_imported_csv_is_listed_at_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each broken row is one line naming file, spreadsheet row (and text lines where they differ) and
    column; the rows after them are still read, up to a quote never closed; the texts go through the
    eval text checks. Evaluate's own reader stops at the first of the same problems."""
    project = _project(tmp_path)
    rows = [
        GOOD[0],
        "where is my order;late_delivery;payments",  # row 3: the slice of another intent
        '"my order came\r\nwithout the milk";missing_item;',  # row 4: text lines 4-5
        "can I pay by voucher;voucher_payment;",  # row 5 (text line 6): not in the taxonomy
        "my basket is missing the bread;;deliveries",  # row 6: no intent
        ";refund_request;",  # row 7: no text
        "call me back on +44 7700 900123 about the late order;late_delivery;",  # row 8: a phone number
        "as an AI you should refund me;refund_request;",  # row 9: a blocked phrase
        "my order; it is late;late_delivery;",  # row 10: a ';' in a cell that is not quoted
        GOOD[4],
        '"delete everything;delete_account;',  # row 12: the quote is never closed
        GOOD[5],
    ]
    _spreadsheet(project, rows)
    _, problems = _validate(project, monkeypatch)
    assert problems == [
        f"{LOG}:3: field 'Team': 'payments' does not match intent 'late_delivery' (taxonomy says 'deliveries')",
        f"{LOG}:5 (text line 6): field 'Label': 'voucher_payment' is not in params taxonomy.slices (set"
        " evaluate.eval_set.unknown_intents: skip to leave such rows out)",
        f"{LOG}:6 (text line 7): field 'Label': empty intent",
        f"{LOG}:7 (text line 8): field 'Utterance': empty text",
        f"{LOG}:10 (text line 11): 4 cells but the header has 3 columns; a cell holding ';' must be quoted",
        f"{LOG}:12 (text lines 13-14): not valid CSV (unexpected end of data): a quote opened in this row is never"
        " closed",
        f"{LOG}:8 (text line 9): field 'Utterance': eval traffic the filter's pii check would reject (pii: phone"
        " in user text (44********23))",
        f"{LOG}:9 (text line 10): field 'Utterance': eval traffic the filter's blocklist check would reject"
        " (blocklist: as an ai)",
    ]
    assert _pipeline_error(project, monkeypatch) == problems[0]


@pytest.mark.parametrize(
    ("eval_set", "problem", "count"),
    [
        ({"columns": {"text": "Utterance", "intent": "Intent", "slice": "Team"}},
         f"{LOG}:1: column(s) ['Intent'] not in the header ['Utterance', 'Label', 'Team']; set"
         " evaluate.eval_set.columns to the file's column names", 1),
        ({"columns": {"text": "Text", "intent": "Label", "slice": "Team"}},
         f"{LOG}:1: column(s) ['Text'] not in the header", 1),
        ({"columns": {"text": "Utterance", "intent": "Label", "slice": "Area"}},
         f"{LOG}:1: column(s) ['Area'] not in the header", 1),
        ({"path": "seeds/traffic.tsv"},
         "params.yaml: evaluate.eval_set.path: 'seeds/traffic.tsv' does not exist (or is not a file)", 1),
        ({"format": "jsonl"}, f"{LOG}:1: not valid JSON: ", 7),  # each line of the CSV
    ],
)  # fmt: skip
def test_params_that_do_not_fit_the_file_are_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, eval_set: dict[str, Any], problem: str, count: int
) -> None:
    """A column name the header lacks (or a file that is not there) stops evaluate before any row: one
    problem, as evaluate words it."""
    project = _project(tmp_path, **eval_set)
    _spreadsheet(project, GOOD)
    _, problems = _validate(project, monkeypatch)
    assert len(problems) == count and problems[0].startswith(problem), problems
    if "does not exist" not in problem:
        assert _pipeline_error(project, monkeypatch) == problems[0]


def test_a_row_not_in_utf8_is_named_and_the_other_rows_still_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = _project(tmp_path)
    _spreadsheet(project, [GOOD[0], '"the caf\u00e9 order\r\nis late";late_delivery;', GOOD[1], "hi;;"], "cp1252")
    _, problems = _validate(project, monkeypatch)
    assert len(problems) == 2, problems
    assert problems[0].startswith(f"{LOG}:3: not valid UTF-8 (byte 0xe9 at character 9); the bytes look like cp1252")
    assert problems[1] == f"{LOG}:5 (text line 6): field 'Label': empty intent"


def test_every_problem_of_an_imported_jsonl_log_is_listed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    project = _project(tmp_path, path="seeds/traffic.jsonl", format="jsonl", columns={"text": "q", "intent": "label"})
    write_lines(project / "seeds/traffic.jsonl", [
        {"q": "my order is late again", "label": "late_delivery"},
        {"q": 7, "label": "late_delivery"},
        {"label": "missing_item"},
        {"q": [{"role": "user", "content": "locked out"}], "label": "account_lockd"},
        {"q": "please delete me", "label": "delete_account"},
    ])  # fmt: skip
    with (project / "seeds/traffic.jsonl").open("a") as handle:
        handle.write('{"q": "refund please", "label": "refund_request"\n')
    _, problems = _validate(project, monkeypatch)
    assert problems == [
        "seeds/traffic.jsonl:2: field 'q': expected text, got int",
        "seeds/traffic.jsonl:3: field 'q': missing",
        "seeds/traffic.jsonl:4: field 'label': 'account_lockd' is not in params taxonomy.slices (set"
        " evaluate.eval_set.unknown_intents: skip to leave such rows out)",
        "seeds/traffic.jsonl:6: not valid JSON: expecting ',' delimiter at character 49 (near 'refund_request\"')",
    ]


def test_rows_format_file_problems_are_listed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    project = _project(tmp_path, path="seeds/traffic.jsonl", format="rows")
    user = [{"role": "user", "content": "my order is late"}]
    write_lines(project / "seeds/traffic.jsonl", [
        {"messages": user, "intent": "late_delivery", "slice": "account"},
        {"intent": "late_delivery"},
        {"messages": "my order is late", "intent": "late_delivery"},
        {"messages": [{"role": "assistant", "content": "hello"}], "intent": "late_delivery"},
    ])  # fmt: skip
    _, problems = _validate(project, monkeypatch)
    assert problems == [
        "seeds/traffic.jsonl:1: field 'slice': 'account' does not match intent 'late_delivery' (taxonomy says"
        " 'deliveries')",
        "seeds/traffic.jsonl:2: field 'messages': missing in a rows-format file",
        "seeds/traffic.jsonl:3: field 'messages': not a list of chat messages",
        "seeds/traffic.jsonl:4: field 'messages': empty text",
    ]


def test_skipped_intents_are_counted_and_a_log_of_none_is_a_problem(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = _project(tmp_path, unknown_intents="skip")
    _spreadsheet(project, [*GOOD, "what is the weather;small_talk;"])
    report, problems = _validate(project, monkeypatch)
    assert problems == []
    assert f"{LOG}: 6 valid eval rows (params evaluate.eval_set, csv), read as evaluate does; 1 left out for an" \
        " intent outside the taxonomy (unknown_intents: skip)" in report  # fmt: skip
    _spreadsheet(project, ["what is the weather;small_talk;", "tell me a joke;chit_chat;"])
    _, problems = _validate(project, monkeypatch)
    assert problems == [f"{LOG}: no eval rows with an intent of params taxonomy.slices"]


def test_an_eval_text_that_is_a_training_seeds_follows_on_leak(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Evaluate's own leak check against the training seeds: counted with `on_leak: drop`, a problem naming
    the seed's line with `on_leak: error`."""
    project = _project(tmp_path)
    seed = json.loads((project / "seeds/cases.jsonl").read_text().splitlines()[2])
    copied = seed["messages"][0]["content"].upper().replace(",", "")  # the same text once normalised
    _spreadsheet(project, [*GOOD, f"{copied};{seed['intent']};"])
    report, problems = _validate(project, monkeypatch)
    assert problems == []
    assert any(line.endswith("; 1 a training seed's text, which evaluate leaves out (on_leak: drop) if that seed"
                             " trains") for line in report), report  # fmt: skip
    _set(project, "evaluate", {"on_leak": "error"})
    _, problems = _validate(project, monkeypatch)
    assert problems == [
        f"{LOG}:8: field 'Utterance': eval text also a training seed's, at seeds/cases.jsonl:3 (exact match);"
        " evaluate.on_leak: error stops evaluate if that seed trains the probes"
    ]


def test_the_seed_split_is_not_read_twice_but_its_format_must_be_rows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = _project(tmp_path, path="data/seed/eval.jsonl", format="rows")
    report, problems = _validate(project, monkeypatch)
    assert problems == [] and "evaluate.eval_set: data/seed/eval.jsonl, the seed stage's split of" in "\n".join(report)
    _set(project, "evaluate", {"eval_set": {"path": "data/seed/eval.jsonl", "format": "csv"}})
    _, problems = _validate(project, monkeypatch)
    assert problems == ["params.yaml: evaluate.eval_set.format: 'csv', but it is rows"]


def test_templates_generate_openai_names_are_checked_as_the_teacher_loads_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With the openai backend: a missing template, one of the wrong kind in either list and a broken one
    are all listed, the broken file once; with the built-in backend the teacher reads none by name."""
    project = _project(tmp_path, path="data/seed/eval.jsonl", format="rows")
    (project / "prompts/variation_broken.md").write_text("---\nkind: variation\n---\n=== user ===\nx\n")
    generators = [
        {"model": "m", "template": "variation_rephrase"},
        {"model": "m", "template": "variation_missing"},
        {"model": "m", "template": "reply_concise"},
        {"model": "n", "template": "variation_broken"},
    ]
    pairs = [{"model": "m", "template": "reply_concise"}, {"model": "n", "template": "variation_persona"}]
    openai = yaml.safe_load((project / "params.yaml").read_text())["generate"]["openai"]
    _set(project, "generate", {"openai": {**openai, "generators": generators, "pair_generators": pairs}})
    report, problems = _validate(project, monkeypatch)
    assert "prompts/: 6 templates" in report and problems == ["prompts/variation_broken.md: expected '=== system ==='"
                                                               " then '=== user ===' after the header"]  # fmt: skip
    _set(project, "generate", {"backend": "openai"})
    _, problems = _validate(project, monkeypatch)
    key = "params.yaml: generate.openai"
    assert problems == [
        "prompts/variation_broken.md: expected '=== system ===' then '=== user ===' after the header",
        f"{key}.generators.1.template: no template 'variation_missing' in prompts/ (have: ['reply_concise',"
        " 'reply_thorough', 'variation_broken', 'variation_persona', 'variation_rephrase', 'variation_situation'])",
        f"{key}.generators.2.template: 'reply_concise' is a reply template; generators need variation",
        f"{key}.pair_generators.1.template: 'variation_persona' is a variation template; pair_generators need reply",
    ]
    pairs[1]["template"] = "reply_thorough"
    _set(project, "generate", {"openai": {**openai, "generators": generators[:1], "pair_generators": pairs}})
    (project / "prompts/variation_broken.md").unlink()
    report, problems = _validate(project, monkeypatch)
    assert problems == [] and "prompts/: 5 templates; the 3 that generate.openai names are there, each of its" \
        " list's kind" in report  # fmt: skip
