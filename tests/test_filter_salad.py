"""The word_salad check (stages/filter/checks/salad.py): a clause of content words with no function word
is rejected, terse real queries are not. Fixture texts are this file's own; the false-alarm rate on
real customer queries is measured on BANKING77 when it is present (BENCHMARKS.md has every figure)."""

from __future__ import annotations

import pytest

from bench.near_duplicate_corpus import banking77_dir, load_banking77
from stages.filter.checks.salad import WordSaladCheck, WordSaladParams, salad_clause

SALAD = "Envelope partner urgent screen friend office airport weekend garden."
REQUEST = "Hi, my parcel was meant to come on Monday and it still hasn't. Where is it?"


def chat(user: str, assistant: str = "Open Orders > Track parcel; if it shows delivered, report it there.") -> dict:
    return {"messages": [{"role": "user", "content": user}, {"role": "assistant", "content": assistant}]}


def test_a_clause_of_content_words_is_word_salad_in_any_turn() -> None:
    check = WordSaladCheck(WordSaladParams()).check
    assert check(chat(f"{SALAD} {REQUEST}")) == (
        "word_salad: user text has 9 words with no function word: "
        "'Envelope partner urgent screen friend office airport weekend garden'"
    )
    assert check(chat(REQUEST, f"{SALAD} Please track it in the app.")).startswith("word_salad: assistant text has 9")
    assert check(chat(f"{SALAD.rstrip('.')}, {REQUEST}")) is not None  # a comma ends the clause, not the salad
    assert check(chat(REQUEST)) is None
    # min_words is the setting: the nine-word clause passes at 10, a six-word one fails at 5
    assert WordSaladCheck(WordSaladParams(min_words=10)).check(chat(f"{SALAD} {REQUEST}")) is None
    assert WordSaladCheck(WordSaladParams(min_words=5)).check(chat("Parcel tracking page shows wrong date. Why?"))


@pytest.mark.parametrize(
    "text",
    [
        "Order late. Why?",
        "refund status?",
        "app crash login screen",
        "parcel not arrived",
        "login failed twice",
        "urgent login broken need help today asap",  # seven content words: under min_words
        "Bring: passport, visa, insurance papers, hotel voucher, return ticket, boarding pass, phone charger",
        "Go to Settings > Security > Two-factor authentication > Turn on, then log in again.",
        "- Parcel lost\n- Replacement ordered\n- Refund requested yesterday evening",
        "I've been waiting 3 weeks for a refund on order 88213 and nobody answers my emails!!!",
        "erm hi ordered a laptop 4 days ago still not here, can u sned anothwr one",
    ],
)
def test_terse_real_queries_lists_and_menu_paths_are_not_word_salad(text: str) -> None:
    assert WordSaladCheck(WordSaladParams()).check(chat(text)) is None, salad_clause(text, 8)


def test_other_languages_and_scripts_are_left_to_the_language_check() -> None:
    for text in [
        "Hola mi pedido no ha llegado todavía y lo pedí hace dos semanas",  # Spanish function words
        "Meine Bestellung ist noch nicht angekommen obwohl ich sie bezahlt habe",
        "Мой заказ не пришёл что делать сегодня утром срочно очень",  # not Latin
        "我的包裹还没有到我该怎么办请帮帮我谢谢你们",
    ]:
        assert salad_clause(text, 8) is None, text


def test_banking77_real_queries_are_not_word_salad() -> None:
    """13,083 real customer queries, many terse: at most 1 in 1,000 rejected (measured: none)."""
    directory = banking77_dir()
    if directory is None:
        pytest.skip("BANKING77 not found (../shared/data/banking77 or $BANKING77_DIR)")
    check = WordSaladCheck(WordSaladParams()).check
    texts = [text for text, _ in load_banking77(directory)]
    rejected = [text for text in texts if check(chat(text))]
    assert len(texts) > 10_000 and len(rejected) <= len(texts) // 1000, rejected[:5]
