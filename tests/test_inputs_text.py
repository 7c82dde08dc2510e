"""Issue 12, kind 1: text that is the same to a person is the same to the pipeline, in every script.

One normalisation in core.text; dedup's byte tokeniser and decontamination agree with it; wordless
texts are compared by their characters; the seed stage refuses control characters and turns that show
nothing, naming file, line and field.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from stages.core.rows import schema_problem
from stages.core.text import has_visible, match_key, tidy, tokens, words
from stages.dedup.params import DedupParams
from stages.dedup.signatures import exact_key, tokenise, word_hash
from stages.dedup.stage import deduplicate
from tests.conftest import read_rows, run_stage, write_lines

SAME_TO_A_PERSON = [
    ("مَرْحَبًا، بطاقتي لم تصل", "مرحبا، بطاقتي لم تصل"),  # Arabic with and without harakat
    ("בַּנְק הַכַּרְטִיס", "בנק הכרטיס"),  # Hebrew with and without niqqud
    ("Ma carte n’est pas arrivée", "ma carte n'est pas arrivée"),  # typographic apostrophe, case
    ("cafe\u0301 — re\u0301sume\u0301", "café - résumé"),  # decomposed accents, em dash
    ("ＭＹ　ＰＡＲＣＥＬ", "my parcel"),  # full-width forms
    ("Моя КАРТА", "моя карта"),  # Cyrillic case
    ("my\u200b order\u00ad number\ufeff", "my order number"),  # invisible characters
    ("“quoted” text", '"quoted" text'),
]
DIFFERENT_TO_A_PERSON = [
    ("año", "ano"),  # Spanish: the accent makes another word
    ("मेरा कार्ड", "मरा करड"),  # Devanagari vowel signs are part of the word
    ("???", "!!!"),  # wordless texts differ by their characters
    ("🙏", "😡"),
]
SCRIPTS = {
    "hindi": ("मेरा कार्ड खो गया", ["मेरा", "कार्ड", "खो", "गया"]),
    "arabic": ("مَرْحَبًا بكم", ["مرحبا", "بكم"]),
    "cyrillic": ("Моя карта не пришла", ["моя", "карта", "не", "пришла"]),
    "latin accents": ("Ça coûte combien?", ["ça", "coûte", "combien"]),
    "japanese": ("カードが届きません", ["カー", "ード", "ドが", "が届", "届き", "きま", "ませ", "せん"]),
    "chinese": ("我的卡丢了", ["我的", "的卡", "卡丢", "丢了"]),
    "thai": ("บัตรหาย", ["บัต", "ตร", "รห", "หา", "าย"]),
    "english": ("I didn't get my parcel 'yet'", ["i", "didn't", "get", "my", "parcel", "yet"]),
}


@pytest.mark.parametrize(("first", "second"), SAME_TO_A_PERSON)
def test_texts_that_read_the_same_match(first: str, second: str) -> None:
    assert words(first) == words(second)
    assert match_key(first) == match_key(second)
    assert exact_key(first) == exact_key(second)


@pytest.mark.parametrize(("first", "second"), DIFFERENT_TO_A_PERSON)
def test_texts_that_read_differently_do_not(first: str, second: str) -> None:
    assert match_key(first) != match_key(second)


@pytest.mark.parametrize("script", sorted(SCRIPTS))
def test_words_keep_marks_inside_words(script: str) -> None:
    text, expected = SCRIPTS[script]
    assert words(text) == expected


def test_dedup_tokeniser_agrees_with_core_on_every_script() -> None:
    texts = [text for text, _ in SCRIPTS.values()] + [a for a, _ in SAME_TO_A_PERSON] + [
        "???", "🙏🙏", "'''", "a''b 'c' d'", "didn''t", "plain ascii words", "", "\u200b",
    ]  # fmt: skip
    batch = tokenise(texts)
    for index, text in enumerate(texts):
        assert batch.row(index).tolist() == [word_hash(token.encode()) for token in tokens(text)], text
        assert int(batch.exact_keys[index]) == exact_key(text), text


def test_wordless_texts_are_compared_by_their_characters() -> None:
    assert words("🙏🙏") == [] and len(tokens("🙏🙏")) == 2
    assert tokens("???") != tokens("!!!") and tokens("?!") == tokens("?!")
    assert tokens("\u200b \u2060") == []  # nothing visible: nothing to compare
    assert not has_visible("\u200b\u00ad \t\ufeff") and has_visible("🙏")


def _row(index: int, user: str, seed_id: str = "s") -> dict:
    return {"id": f"{index:020d}", "messages": [{"role": "user", "content": user},
            {"role": "assistant", "content": "A reply long enough to pass every length rule here."}],
            "intent": "card_arrival", "slice": "cards", "source": "synthetic", "origin": "variation",
            "case_id": "c", "seed_id": seed_id, "provenance": {}, "meta": {}}  # fmt: skip


def test_dedup_matches_across_scripts_and_keeps_wordless_rows_apart(tmp_path: Path) -> None:
    users = [
        "مَرْحَبًا، بطاقتي لم تصل بعد",  # 0 kept
        "مرحبا، بطاقتي لم تصل بعد",  # 1 the same without harakat: exact duplicate of 0
        "मेरा कार्ड अभी तक नहीं आया",  # 2 kept
        "मेरा कार्ड अभी तक नहीं आया है",  # 3 one word more: near-duplicate of 2
        "???",  # 4 kept
        "!!!",  # 5 kept: other characters
        "🙏🙏",  # 6 kept
        "🙏🙏",  # 7 exact duplicate of 6
        "カードが届きません",  # 8 kept
        "カードが届きません。",  # 9 exact duplicate of 8 (punctuation)
    ]
    write_lines(tmp_path / "rows.jsonl", [_row(i, text) for i, text in enumerate(users)])
    params = DedupParams(against_seeds=False, decontaminate_eval=False)
    deduplicate(tmp_path / "rows.jsonl", tmp_path / "none", tmp_path / "none", params, tmp_path / "out")
    kept = {int(row["id"]) for row in read_rows(tmp_path / "out/kept.jsonl")}
    removed = {int(row["id"]): row for row in read_rows(tmp_path / "out/removed.jsonl")}
    assert kept == {0, 2, 4, 5, 6, 8}
    assert removed[1]["reasons"] == ["exact_synthetic"] and removed[3]["reasons"] == ["near_synthetic"]
    assert removed[7]["reasons"] == ["exact_synthetic"] and removed[9]["reasons"] == ["exact_synthetic"]


@pytest.mark.parametrize(
    "eval_text",
    [
        "मेरे खाते से दो बार पैसे कट गए हैं और मुझे समझ नहीं आ रहा कि क्यों ऐसा हुआ",
        "لقد تم خصم المبلغ مرتين من حسابي ولا أعرف لماذا حدث ذلك مع بطاقتي الجديدة اليوم",
        "С моей карты дважды списали деньги и я не понимаю почему это случилось сегодня утром",
    ],
)
def test_decontamination_finds_eval_text_in_other_scripts(tmp_path: Path, eval_text: str) -> None:
    eval_row = {**_row(99, eval_text), "source": "human", "origin": "eval", "provenance": None}
    write_lines(tmp_path / "eval.jsonl", [eval_row])
    pointed = eval_text.replace("ا", "اَ")  # Arabic: the same text with harakat; others unchanged
    write_lines(tmp_path / "rows.jsonl", [_row(1, f"Hello. {pointed} Thanks!"), _row(2, "an unrelated request")])
    params = DedupParams(against_seeds=False, decontaminate_eval=True)
    metrics = deduplicate(tmp_path / "rows.jsonl", tmp_path / "none", tmp_path / "eval.jsonl", params, tmp_path / "o")
    removed = read_rows(tmp_path / "o/removed.jsonl")
    assert [row["id"] for row in removed] == [f"{1:020d}"] and removed[0]["reasons"] == ["ngram_eval"]
    assert metrics["eval_contamination"] == 1


def _seed_error(project: Path) -> str:
    result = run_stage("seed", project, check=False)
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    return result.stderr


def _set_first_case(project: Path, **changes: object) -> None:
    path = project / "seeds/cases.jsonl"
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    for key, value in changes.items():
        if key == "user":
            lines[0]["messages"][0]["content"] = value
        elif key == "reply":
            lines[0]["messages"][1]["content"] = value
    write_lines(path, lines)


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("ring\u0007 the bell", "U+0007"),
        ("nul\u0000here", "U+0000"),
        ("\u001b[31mred", "U+001B"),
        ("a\u0085b", "U+0085"),
    ],
)
def test_seed_refuses_control_characters_naming_file_line_field(project: Path, text: str, code: str) -> None:
    _set_first_case(project, user=text)
    error = _seed_error(project)
    assert f"seeds/cases.jsonl:1: field 'messages.0.content': control character {code}" in error


@pytest.mark.parametrize("text", ["\u200b", "\u2060\ufeff", " \u00ad ", "\u200d\u200c", "\t \n"])
def test_seed_refuses_turns_that_show_nothing(project: Path, text: str) -> None:
    _set_first_case(project, reply=text)
    assert "seeds/cases.jsonl:1: field 'messages.1.content': empty once spaces and invisible characters" in _seed_error(
        project
    )


def test_stored_text_loses_invisible_junk_and_carriage_returns_but_keeps_joiners() -> None:
    assert tidy("a\u200bb\r\nc\rd\ufeff") == "ab\nc\nd"
    assert tidy("क्\u200dष") == "क्\u200dष"  # a zero-width joiner shapes the letters: kept


@pytest.mark.parametrize("content", ["\u200b", "\u2060 \ufeff", "\u00ad"])
def test_row_schema_refuses_content_that_shows_nothing(content: str) -> None:
    row = _row(1, content)
    row["provenance"] = {"generator": "g", "generator_version": "1", "model": "m", "template_id": "t",
                         "template_hash": "h", "temperature": 0.5, "sampling_seed": 1, "seed_ids": ["s"],
                         "params_hash": "p"}  # fmt: skip
    assert "empty once spaces and invisible characters are removed" in (schema_problem(row) or "")
