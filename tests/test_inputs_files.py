"""Issue 12, kinds 2 and 8: files from spreadsheets and other tools, and errors that point to the place.

Every user file goes through core.files: encodings named, rows numbered as a spreadsheet shows them,
CRLF, byte-order marks, quoted multi-line cells and delimiter-only rows handled; a Label Studio export
reads back as decisions; broken JSON names the character of the fault; an empty seed file says so.
"""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import pytest
import regex

from stages.core.decisions import label_studio_decisions, read_decision_files
from stages.core.errors import UserError
from stages.core.files import collecting_encoding_problems, iter_csv, text_lines
from stages.core.jsonl import iter_jsonl
from stages.filter.checks.blocklist import read_blocklist
from tests.conftest import CRITICAL, read_rows, run_stage
from tests.encoding_texts import CONTEXTS, SENTENCES, placed

HEADER = "id,verdict,reason,corrected_reply,reviewer,note"
FIX = "Thanks for waiting. Open the app, go to Help and follow the steps there; an agent can help too."


def _decisions(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.write_bytes(text.encode(encoding))
    return path


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # Excel "CSV UTF-8": byte-order mark, CRLF, a quoted reply over two lines with a comma and quotes
        (f'\ufeff{HEADER}\r\na,edit,,"First line,\r\nsecond ""line""",MK,\r\n', [("a", 'First line,\nsecond "line"')]),
        # a lone CR (old Mac line end) inside a quoted cell
        (f'{HEADER}\na,edit,,"one\rtwo",MK,\n', [("a", "one\ntwo")]),
        # comma-only and blank rows between records, as spreadsheets leave them
        (f"{HEADER}\n,,,,,\n\n , , ,,,\nb,approve,,,MK,\n", [("b", "")]),
        # a semicolon-separated file (spreadsheets in some locales)
        ("id;verdict;reason\r\nc;reject;wrong figure\r\n;;\r\n", [("c", "")]),
    ],
)
def test_spreadsheet_csv_variants_read_as_decisions(tmp_path: Path, text: str, expected: list[tuple[str, str]]) -> None:
    decisions = list(read_decision_files(_decisions(tmp_path / "d.csv", text), None))
    assert [(d.row_id, d.corrected_reply) for d in decisions] == expected
    assert all("\r" not in d.corrected_reply for d in decisions)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            f'{HEADER}\na,approve,,,MK,\nb,edit,,"two\nlines",MK,\nc,maybe,,,MK,\n',
            r"d\.csv:4 \(text line 5\): field 'verdict'",
        ),
        (f'{HEADER}\n"a\nb",approve,,,MK,\nc,maybe,,,MK,\n', r"d\.csv:3 \(text line 4\): field 'verdict'"),
        (f"{HEADER}\na,approve,,,MK,\n,,,,,\nc,edit,,,MK,\n", r"d\.csv:4: field 'corrected_reply': an edit needs"),
        (f'{HEADER}\na,edit,,"never closed,MK,\nb,approve,,,MK,\n', r"d\.csv:2 \(text lines 2-3\): not valid CSV"),
        (f"{HEADER}\na,reject,too long, really,,MK,\n", r"d\.csv:2: 7 cells but the header has 6 columns"),
        ("identifier,verdict\nx,approve\n", r"d\.csv:1: column\(s\) \['id'\] not in the header"),
        # a lone CR inside a quoted cell splits no text line (core.files counts lines at "\n", as text_lines)
        (f'{HEADER}\na,edit,,"one\rtwo",MK,\nc,maybe,,,MK,\n', r"d\.csv:3: field 'verdict'"),
        (f'{HEADER}\na,edit,,"one\rtwo\nthree",MK,\nc,maybe,,,MK,\n', r"d\.csv:3 \(text line 4\): field 'verdict'"),
        # an old Mac spreadsheet's file: CR alone ends every row, so it is one text line
        (f"{HEADER}\ra,approve,,,MK,\rc,maybe,,,MK,\r", r"d\.csv:3 \(text line 1\): field 'verdict'"),
    ],
)
def test_csv_errors_name_the_spreadsheet_row(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(UserError, match=message):
        list(read_decision_files(_decisions(tmp_path / "d.csv", text), None))


@pytest.mark.parametrize(
    ("text", "place"),
    [
        # as found: a corrected reply over three lines in row 2, then a bad byte in row 3's reason
        (f'{HEADER}\na,edit,,"one\ntwo\nthree",MK,\nb,reject,caf\u00e9 closed,,MK,\n', "3 (text line 5)"),
        # the bad byte in the second line of a multi-line cell
        (f'{HEADER}\na,edit,,"one\ncaf\u00e9 two",MK,\nb,approve,,,MK,\n', "2 (text line 3)"),
        # no multi-line cell before it: the row is the line
        (f"{HEADER}\r\na,approve,,,MK,\r\nb,reject,caf\u00e9,,MK,\r\n", "3"),
        # blank and delimiter-only rows count as the spreadsheet counts them
        (f'{HEADER}\n\n,,,,,\na,edit,,"x\ny",MK,\nb,reject,caf\u00e9,,MK,\n', "5 (text line 6)"),
        # in the header
        ("id,verdict,r\u00e9ason\na,approve,\n", "1"),
        # in a row a quote left open swallows: the encoding is named first
        (f'{HEADER}\na,edit,,"never closed,MK,\nb,reject,caf\u00e9,,MK,\n', "2 (text line 3)"),
    ],
)
def test_encoding_errors_in_a_csv_name_the_spreadsheet_row(tmp_path: Path, text: str, place: str) -> None:
    """A line that is not UTF-8 is named as every other CSV problem: the spreadsheet row, then the text
    line when it differs (the line of the bad byte, which the character count refers to)."""
    path = _decisions(tmp_path / "d.csv", text, "latin-1")
    with pytest.raises(UserError) as caught:
        list(read_decision_files(path, None))
    assert str(caught.value).startswith(f"{path}:{place}: not valid UTF-8 (byte 0xe9 at character "), caught.value
    with pytest.raises(UserError) as caught:
        list(iter_csv(path, ["id"], "eval set"))  # every CSV reader: core.files.iter_csv
    assert str(caught.value).startswith(f"{path}:{place}: not valid UTF-8 (byte 0xe9 at character "), caught.value


@pytest.mark.parametrize("delimiter", [",", ";", "\t"])
@pytest.mark.parametrize("missing", [[], ["id"], ["verdict"], ["id", "verdict"]])
def test_a_header_names_only_the_columns_it_lacks_whatever_the_delimiter(
    tmp_path: Path, delimiter: str, missing: list[str]
) -> None:
    """The delimiter is read from the header even when required columns are missing from it, so a ';'
    or tab header without `id` lacks `id` alone; a header with them all reads its rows."""
    columns = [name for name in HEADER.split(",") if name not in missing]
    cells = {"id": "a", "verdict": "approve", "reviewer": "MK"}
    row = delimiter.join(cells.get(name, "") for name in columns)
    path = _decisions(tmp_path / "d.csv", f"{delimiter.join(columns)}\r\n{row}\r\n")
    if not missing:
        assert [(d.row_id, d.verdict) for d in read_decision_files(path, None)] == [("a", "approve")]
        return
    with pytest.raises(UserError) as caught:
        list(read_decision_files(path, None))
    assert str(caught.value) == f"{path}:1: column(s) {missing} not in the header {columns}"
    with pytest.raises(UserError, match=r"column\(s\) \['intent'\] not in the header \['text', 'slice'\]$"):
        list(
            iter_csv(
                _decisions(tmp_path / "log.csv", f"text{delimiter}slice\nhi{delimiter}cards\n"), ["text", "intent"]
            )
        )


@pytest.mark.parametrize(
    ("encoding", "reason"),
    [("cp1252", "the charge is €5, café"), ("latin-1", "naïve reply"), ("utf-16", "any text"), ("cp1251", "Привет")],
)
def test_files_not_in_utf8_name_line_character_and_encoding(tmp_path: Path, encoding: str, reason: str) -> None:
    path = _decisions(tmp_path / "d.csv", f"{HEADER}\na,reject,{reason},,MK,\n", encoding)
    with pytest.raises(UserError) as caught:
        list(iter_csv(path, ["id"]))
    message = str(caught.value)
    assert "d.csv:" in message and "not valid UTF-8 (byte 0x" in message and "save the file as UTF-8" in message
    assert "the bytes look like" in message and "\n" not in message


def test_a_stage_names_the_spreadsheet_row_of_a_decisions_line_not_in_utf8(project: Path) -> None:
    """As a reviewer found it: a reply over three lines, then 'caf\xe9' saved by a Windows spreadsheet."""
    rows = [HEADER, 'a,edit,,"one\r\ntwo\r\nthree",MK,', "b,reject,caf\u00e9 closed,,MK,"]
    (project / "seeds/reviews/decisions.csv").write_bytes("\r\n".join(rows).encode("cp1252") + b"\r\n")
    for stage in ("seed", "generate"):
        run_stage(stage, project)
    result = run_stage("filter", project, check=False)
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    assert "error: seeds/reviews/decisions.csv:3 (text line 5): not valid UTF-8 (byte 0xe9 at character 13)" in (
        result.stderr
    )


_HINT = re.compile(
    r'the bytes look like (\S+) \("([^"]*)"\)'
    r'(?: or (\S+) \("([^"]*)"\))?(?: or (\S+) \("([^"]*)"\))?; save the file as UTF-8$'
)


def _hint(path: Path, context: str) -> list[tuple[str, str]]:
    """(encoding, the word as it reads it) for each encoding the first encoding error names."""
    with pytest.raises(UserError) as caught:
        list(iter_csv(path, ["id"])) if context == "csv" else list(text_lines(path))
    match = _HINT.search(str(caught.value))
    assert match is not None, caught.value
    names, words = match.groups()[::2], match.groups()[1::2]
    return [(name, word) for name, word in zip(names, words, strict=True) if name is not None]


@pytest.mark.parametrize("context", CONTEXTS)
@pytest.mark.parametrize(("encoding", "text"), [(enc, text) for enc, texts in SENTENCES.items() for text in texts])
def test_the_encoding_hint_names_an_encoding_that_reads_the_text_right(
    tmp_path: Path, encoding: str, text: str, context: str
) -> None:
    """Windows Western and Central European text, Shift-JIS, GBK, Cyrillic: one of the (at most three)
    encodings named decodes the file to the text, and each is shown with its reading of a word, the
    right one's a word of the text, so a person sees which to save from."""
    original = placed(text, context)
    path = tmp_path / "f.txt"
    path.write_bytes(original.encode(encoding))
    named = _hint(path, context)
    assert 1 <= len(named) <= 3 and len({word for _, word in named}) == len(named), named
    right = [(name, word) for name, word in named if path.read_bytes().decode(name, errors="replace") == original]
    assert right and right[0][1] in original, named


@pytest.mark.parametrize(
    ("encoding", "text", "named"),
    [
        # as found: Windows Western text with € “ ” – and naïve was named cp1250 (naďve)
        ("cp1252", "The “naïve” reply was wrong – the fee is €5, not £5; see the café’s receipt.",
         [("cp1252", "“naïve”")]),
        ("cp1250", "Zażółć gęślą jaźń – łódź płynie po rzece, a żółw śpi.", [("cp1250", "Zażółć")]),
        ("cp1250", "Árvíztűrő tükörfúrógép, a díj összege nem egyezik a szerződéssel.", [("cp1250", "Árvíztűrő")]),
        ("shift_jis", "振込の手数料はいくらですか。", [("cp932", "振込の手数料はいくらですか。")]),
        # one byte outside ASCII tells too little: the readings in Latin letters, for the person to choose
        ("cp1252", "Thanks for waiting, the naïve reply was wrong.",
         [("cp1252", "naïve"), ("cp1250", "naďve"), ("cp1257", "naļve")]),
    ],
)  # fmt: skip
def test_the_encoding_hint_in_a_spreadsheet_cell(
    tmp_path: Path, encoding: str, text: str, named: list[tuple[str, str]]
) -> None:
    path = tmp_path / "d.csv"
    path.write_bytes(placed(text, "csv").encode(encoding))
    assert _hint(path, "csv") == named


def test_the_same_few_letters_on_many_lines_still_tell_too_little(tmp_path: Path) -> None:
    """Two distinct bytes outside ASCII, however often repeated, are two letters of evidence: both
    readings are named, the words shown where they differ (the bad byte's own word reads alike)."""
    rows = [HEADER] + [f"r{i},reject,caf\u00e9 {i} was na\u00efve,,ana," for i in range(200)]
    path = _decisions(tmp_path / "d.csv", "\r\n".join(rows) + "\r\n", "cp1252")
    assert sorted(_hint(path, "csv")) == [("cp1250", "naďve"), ("cp1252", "naïve"), ("cp1257", "naļve")]


_LATIN_WORD = regex.compile(r"[\p{Latin}\u0300-\u036f]+")  # Latin letters, maybe with combining accents


# One word with two or three bytes outside ASCII, and the places it was named wrong before: "csv" a reviewer's
# cell, "line" a blocklist line, "jsonl" one line of six.
_FEW_LETTERS_WRONG_BEFORE = {
    # as found: Renée in a reviewer's cell was named cp1250 or cp874 ("Ren้e"), never cp1252
    ("cp1252", "Renée"): "csv line jsonl", ("cp1252", "André"): "csv line jsonl",
    ("cp1252", "Chloé"): "csv line jsonl", ("cp1252", "José"): "csv line jsonl",
    ("cp1252", "Müller"): "csv jsonl", ("cp1252", "Straße"): "csv jsonl", ("cp1252", "Grüße"): "csv line jsonl",
    ("cp1252", "Jürgen"): "csv", ("cp1252", "Iñaki"): "jsonl",  # Iñaki named cp1254 for cp1252's reading
    # as found: Łódź in the blocklist was named cp1252 ("£ódŸ") alone
    ("cp1250", "Łódź"): "line", ("cp1250", "Śląsk"): "csv line jsonl", ("cp1250", "žluť"): "csv line jsonl",
    ("cp1250", "Tomáš"): "csv line jsonl", ("cp1250", "Pécs"): "csv line jsonl",
    ("cp1250", "Kraków"): "csv line jsonl", ("cp1250", "őrző"): "line jsonl",
}  # fmt: skip
# Named right before, and still: Spanish ñ, Polish, Czech, Hungarian.
_FEW_LETTERS_KEPT = {
    ("cp1252", "Señor"): "csv line jsonl", ("cp1252", "niño"): "csv line jsonl",
    ("cp1252", "mañana"): "csv line jsonl", ("cp1252", "Begoña"): "csv line jsonl",
    ("cp1250", "Wrocław"): "csv line jsonl", ("cp1250", "Dvořák"): "csv line jsonl",
    ("cp1250", "Plzeň"): "csv line jsonl", ("cp1250", "Jiří"): "csv line jsonl",
    ("cp1250", "Győr"): "csv line jsonl", ("cp1250", "Szőke"): "csv line jsonl",
}  # fmt: skip


@pytest.mark.parametrize(
    ("encoding", "word", "context"),
    [(*case, context) for few in (_FEW_LETTERS_WRONG_BEFORE, _FEW_LETTERS_KEPT)
     for case, contexts in few.items() for context in contexts.split()],
)  # fmt: skip
def test_a_word_of_few_telling_letters_is_named_in_its_plausible_readings(
    tmp_path: Path, encoding: str, word: str, context: str
) -> None:
    """One word, two or three bytes outside ASCII, in a reviewer's cell, a blocklist line or a JSONL line:
    at most three encodings, the first reading Latin letters (never Thai marks, CJK or a symbol among
    them), one reading the file right, cp1252 among them when its reading is Latin letters; any reading
    not in Latin letters only cp1252's, named beside a single plausible one."""
    text = {"csv": f"{HEADER}\nfc8b522cbae7ef890d54,reject,off-topic,,{word},\n", "line": f"phrase {word} here\n",
            "jsonl": '{"a": "x"}\n' * 5 + '{"a": "' + word + ' ok"}\n'}[context]  # fmt: skip
    path = tmp_path / "f.csv"
    path.write_bytes(text.encode(encoding))
    named = _hint(path, context)
    right = [reading for name, reading in named if path.read_bytes().decode(name, errors="replace") == text]
    assert 1 <= len(named) <= 3 and right == [word], named
    assert _LATIN_WORD.fullmatch(named[0][1]), named
    assert all(_LATIN_WORD.fullmatch(reading) or name == "cp1252" for name, reading in named), named
    cp1252 = word.encode(encoding).decode("cp1252", errors="replace")
    assert ("cp1252", cp1252) in named or not _LATIN_WORD.fullmatch(cp1252), named


@pytest.mark.parametrize("name", ["cases.jsonl", "failures.jsonl", "eval_traffic.jsonl"])
def test_a_seed_file_not_in_utf8_is_an_error_naming_file_and_line(project: Path, name: str) -> None:
    path = project / "seeds" / name
    lines = path.read_text().splitlines()
    lines[1] = lines[1].replace("case", "caf\u00e9")
    path.write_bytes("\n".join(lines).encode("cp1252") + b"\n")
    result = run_stage("seed", project, check=False)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert f"seeds/{name}:2: not valid UTF-8 (byte 0xe9 at character" in result.stderr


def test_blocklist_and_policy_read_through_the_same_reader(tmp_path: Path) -> None:
    (tmp_path / "block.txt").write_bytes("\ufeffas an AI\r\n# comment\r\n\r\nguaranteed result\r\n".encode())
    assert read_blocklist(tmp_path / "block.txt") == ["as an AI", "guaranteed result"]
    (tmp_path / "bad.txt").write_bytes("na\xefve phrase\n".encode("latin-1"))
    with pytest.raises(UserError, match=r"bad\.txt:1: not valid UTF-8"):
        read_blocklist(tmp_path / "bad.txt")
    with pytest.raises(UserError, match=r"missing\.txt: blocklist file not found"):
        read_blocklist(tmp_path / "missing.txt")


def test_lines_split_at_newline_only(tmp_path: Path) -> None:
    (tmp_path / "f.jsonl").write_bytes(b'{"a": "x\\u2028y"}\r\n{"b": 1}\n')
    assert [number for number, _ in text_lines(tmp_path / "f.jsonl")] == [1, 2]
    assert [row for _, row in iter_jsonl(tmp_path / "f.jsonl")] == [{"a": "x\u2028y"}, {"b": 1}]


GOOD = '{"case_id": "x", "intent": "card_arrival", "slice": "cards", "messages": [{"role": "user", "content": "'


@pytest.mark.parametrize(
    ("fault", "kind", "at"),  # `at`: the faulty character's place in `fault` (1-based)
    [
        ('"}],}', "expecting property name", 5),  # trailing comma
        ('" "role": "x"}]}', "expecting ',' delimiter", 3),  # missing comma
        ('\\q"}]}', "invalid \\escape", 1),
        ('"}]}}', "extra data", 5),
        ('\u0007"}]}', "control character U+0007", 1),
        ("'}]}", "a string that starts at character", 0),  # never closed: named by where it starts
    ],
)
def test_broken_json_names_the_character_of_the_fault(tmp_path: Path, fault: str, kind: str, at: int) -> None:
    padding = "y" * 700
    (tmp_path / "seeds.jsonl").write_text('{"ok": 1}\n' + GOOD + padding + fault + "\n", encoding="utf-8")
    with pytest.raises(UserError) as caught:
        list(iter_jsonl(tmp_path / "seeds.jsonl"))
    message = str(caught.value)
    assert message.startswith(f"{tmp_path / 'seeds.jsonl'}:2: not valid JSON: ") and kind in message
    expected = len(GOOD) if at == 0 else len(GOOD) + len(padding) + at
    assert f"character {expected}" in message


def test_a_byte_order_mark_is_not_a_json_fault(tmp_path: Path) -> None:
    (tmp_path / "s.jsonl").write_bytes('\ufeff{"a": 1}\r\n'.encode())
    assert [row for _, row in iter_jsonl(tmp_path / "s.jsonl")] == [{"a": 1}]


@pytest.mark.parametrize(
    ("name", "content"), [("cases.jsonl", ""), ("cases.jsonl", "\n\n"), ("eval_traffic.jsonl", "")]
)
def test_an_empty_seed_file_says_so(project: Path, name: str, content: str) -> None:
    (project / "seeds" / name).write_text(content)
    result = run_stage("seed", project, check=False)
    assert result.returncode == 2
    assert f"seeds/{name}: the file is empty (no JSON lines)" in result.stderr


def test_too_few_cases_names_the_seed_files(project: Path) -> None:
    params = (project / "params.yaml").read_text().replace("min_cases_per_intent: 1", "min_cases_per_intent: 9")
    (project / "params.yaml").write_text(params)
    result = run_stage("seed", project, check=False)
    assert "seeds/cases.jsonl and seeds/failures.jsonl: intents with fewer than" in result.stderr


# --- Label Studio, end to end --------------------------------------------------------------------------


def _annotation(verdict: str, when: str, **texts: str) -> dict:
    result = [{"from_name": "verdict", "to_name": "conversation", "type": "choices", "value": {"choices": [verdict]}}]
    result += [
        {"from_name": k, "to_name": "conversation", "type": "textarea", "value": {"text": [v]}}
        for k, v in texts.items()
    ]
    return {"id": 1, "completed_by": {"id": 3, "email": "jl@example.invalid"}, "result": result,
            "was_cancelled": False, "created_at": when, "updated_at": when}  # fmt: skip


def _export(tasks: list[dict], annotations: list[list[dict]]) -> list[dict]:
    """What Label Studio exports (JSON) for the imported queue tasks, with ids it gave them."""
    return [{"id": 100 + i, "data": task["data"], "annotations": a, "predictions": [], "project": 1}
            for i, (task, a) in enumerate(zip(tasks, annotations, strict=True))]  # fmt: skip


def test_label_studio_export_reads_back_latest_annotation(tmp_path: Path) -> None:
    tasks = [{"data": {"id": f"row{i}", "conversation": "USER: hi"}} for i in range(4)]
    export = _export(tasks, [
        [_annotation("approve", "2026-01-01T10:00:00Z")],
        [_annotation("approve", "2026-01-01T10:00"), _annotation("reject", "2026-01-02T10:00", reason="wrong figure")],
        [{**_annotation("reject", "2026-01-03T10:00:00Z", reason="x"), "was_cancelled": True}],
        [{**_annotation("edit", "2026-01-01T10:00:00Z", corrected_reply=FIX + "\r\n"), "completed_by": 7}],
    ])  # fmt: skip
    (tmp_path / "export.json").write_text(json.dumps(export))
    decisions = {d.row_id: d for d in label_studio_decisions(tmp_path / "export.json")}
    assert set(decisions) == {"row0", "row1", "row3"}  # the cancelled-only task is still pending
    assert decisions["row1"].verdict == "reject" and decisions["row1"].reason == "wrong figure"
    assert decisions["row0"].reviewer == "jl@example.invalid" and decisions["row3"].reviewer == "label-studio user 7"
    assert decisions["row3"].corrected_reply == FIX


@pytest.mark.parametrize(
    ("export", "message"),
    [
        ('{"id": 1}', "expected Label Studio's JSON export"),
        ("[1, 2]", "task 1: no `data` object"),
        ('[{"data": {"id": "r"},\n "annotations": [}', r"export\.json:2: not valid JSON"),
        (
            '[{"id": 5, "data": {"id": "r"}, "annotations": [{"result": []}]}]',
            r"task 1 \(Label Studio id 5, row r\): field 'verdict'",
        ),
    ],
)
def test_bad_label_studio_exports_name_the_task(tmp_path: Path, export: str, message: str) -> None:
    (tmp_path / "export.json").write_text(export)
    with pytest.raises(UserError, match=message):
        list(label_studio_decisions(tmp_path / "export.json"))


def _through(project: Path, last: str) -> None:
    for stage in ("seed", "generate", "filter", "dedup", "review", "mix"):
        run_stage(stage, project)
        if stage == last:
            return


def test_reviewers_work_in_label_studio_and_a_spreadsheet_end_to_end(project: Path) -> None:
    _through(project, "review")
    tasks = json.loads((project / "data/review/label_studio.json").read_text())
    by_intent = {task["data"]["intent"]: task for task in tasks if task["data"]["slice"] in CRITICAL}
    approve, edit, in_csv = list(by_intent.values())[:3]  # three intents: the intent balance trims none
    fix_over_lines = FIX.replace(". ", ".\r\n")
    edited = _annotation("edit", "2026-01-01", corrected_reply=fix_over_lines)
    annotations = [[_annotation("approve", "2026-01-01")], [edited]]
    export = _export([approve, edit], annotations)
    (project / "seeds/reviews/label_studio_export.json").write_text(json.dumps(export))
    with (project / "seeds/reviews/decisions.csv").open("w", encoding="utf-8-sig", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\r\n")  # as a spreadsheet saves it
        writer.writerows([HEADER.split(","), [in_csv["data"]["id"], "approve", "", "", "MK", ""], [""] * 6])
    for stage in ("filter", "review", "mix"):
        run_stage(stage, project)
    mixed = {row.get("edited_from", row["id"]): row for row in read_rows(project / "data/mix/rows.jsonl")}
    assert {approve["data"]["id"], edit["data"]["id"], in_csv["data"]["id"]} <= set(mixed)
    assert mixed[edit["data"]["id"]]["messages"][-1]["content"] == FIX.replace(". ", ".\n")
    train = (project / "data/mix/train.jsonl").read_bytes() + (project / "data/mix/eval.jsonl").read_bytes()
    assert b"\\r" not in train and b"\r" not in train
    with (project / "seeds/reviews/decisions.csv").open("a", encoding="utf-8", newline="") as handle:
        csv.writer(handle).writerow(
            [approve["data"]["id"], "reject", "no", "", "MK", ""]
        )  # also decided in Label Studio
    result = run_stage("review", project, check=False)
    assert (
        result.returncode == 2
        and "second decision for" in result.stderr
        and "label_studio_export.json" in result.stderr
    )


@pytest.mark.parametrize(
    ("first", "second", "own_word"),
    [
        (b"caf\xe9", b"card \xff payment", "café"),
        (b"na\xefve", b"\xa3\xf3d\x9f here", "naïve"),
        (b"Ren\xe9e", b"x \xfe y", "Renée"),
    ],
)
def test_encoding_hint_quotes_a_word_of_its_own_line(
    tmp_path: Path, first: bytes, second: bytes, own_word: str
) -> None:
    """Each bad line's hint reads a word of that line, never a word of another bad line of the file."""
    path = tmp_path / "cases.jsonl"
    ok = b'{"text": "fine"}\n'
    path.write_bytes(ok * 4 + b'{"text": "' + first + b' please"}\n' + ok * 5 + b'{"text": "' + second + b'"}\n')
    with collecting_encoding_problems() as collected:
        list(text_lines(path))
    line5, line11 = collected.messages
    assert line5.startswith(f"{path}:5:") and line11.startswith(f"{path}:11:")
    assert f'"{own_word}")' in line5, line5
    other_words = set(re.findall(r'"([^"]*)"\)', line11))
    assert not other_words & set(re.findall(r'"([^"]*)"\)', line5)), (line5, line11)


@pytest.mark.parametrize("word", [b"I\x92m", b"caf\xe9", b"na\xefve", b"Ren\xe9e", b"\x93quoted\x94"])
def test_encodings_that_read_a_line_alike_are_named_with_one_reading(tmp_path: Path, word: bytes) -> None:
    """When every encoding named reads the bad line the same, the hint says so once ('E1 or E2 (each reads
    "x")'), not the same word in brackets after each name; encodings that read it alike are never shown
    with two equal readings."""
    path = tmp_path / "cases.jsonl"
    # the third line's byte makes the file's guess name several encodings (its þ/ţ/ş reads differently)
    path.write_bytes(b'{"text": "fine"}\n' + b'{"text": "' + word + b' here"}\n' + b'{"text": "x \xfe y"}\n')
    with collecting_encoding_problems() as collected:
        list(text_lines(path))
    message = collected.messages[0]
    readings = re.findall(r'"([^"]*)"\)', message)
    assert readings and len(readings) == len(set(readings)), message
    named = re.search(r"look like (.*); save", message)
    assert named and re.search(r" or |/", named.group(1)), message  # several named: what the test is about
    if len(readings) == 1:
        assert "(each reads " in message, message
