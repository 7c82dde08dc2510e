"""The filter's new checks (turns, echo, structure, meaning, answers) on what a weak teacher writes.

Fixtures are this file's own (a travel help desk; the span table beside figures also a phone shop, an
app, a utility and a parcel service); the prompts are the repository's prompts/ folder, whatever domain
it is written for.
"""

from __future__ import annotations

import json
import random
import re
from pathlib import Path

import pytest

from stages.core.rows import row_id
from stages.core.spans import missing_spans, protected_spans
from stages.filter.checks.answers import AnswersCheck, AnswersParams
from stages.filter.checks.base import CheckInputs
from stages.filter.checks.echo import EchoCheck, EchoParams
from stages.filter.checks.meaning import MeaningCheck, MeaningParams
from stages.filter.checks.structure import StructureCheck, StructureParams
from stages.filter.checks.turns import TurnsCheck, TurnsParams
from stages.filter.grammar import grammar_problems
from stages.filter.params import FilterParams
from stages.filter.runner import assemble_checks
from stages.filter.stage import filter_metrics, write_filtered
from tests.conftest import ROOT, read_rows, write_fixture_domain

REPLY = "I can help with that. Open the app, go to your trips and choose the booking to see its options."
CASES = {
    "lost_luggage": ["My suitcase did not arrive in Madrid. Where is it?", "The airline lost my bag, what now?",
                     "My luggage never came off the plane.", "I can't find my bag at the baggage belt."],
    "change_train": ["Can I move my train to Sunday?", "I need to change my train time.",
                     "How do I swap my train ticket to a later one?", "Can I change the date of my rail booking?"],
    "hotel_refund": ["I want my money back for the hotel.", "The hotel was closed, can I get a refund?",
                     "How do I get a refund for my room?", "Refund my hotel stay please."],
}  # fmt: skip


def _row(user: list[str], intent: str, replies: list[str] | None = None, **extra: object) -> dict:
    messages = []
    for index, text in enumerate(user):
        messages += [{"role": "user", "content": text}, {"role": "assistant", "content": (replies or [REPLY])[index]}]
    row = {"messages": messages, "intent": intent, "slice": "travel", "source": "human", "origin": "case",
           "case_id": f"{intent}-x", "provenance": None, "meta": {"policy_refs": []}, **extra}  # fmt: skip
    row["id"] = row_id(row)
    row.setdefault("seed_id", row["id"])
    return row


def _variation(seed: dict, messages: list[dict], template: str = "teacher_rephrase") -> dict:
    provenance = {"generator": "t", "generator_version": "1", "model": "m", "template_id": template,
                  "template_hash": "h", "temperature": 1.0, "sampling_seed": 1, "seed_ids": [seed["id"]],
                  "params_hash": "p"}  # fmt: skip
    row = {**seed, "messages": messages, "source": "synthetic", "origin": "variation", "provenance": provenance}
    row["seed_id"] = seed["id"]
    row["id"] = row_id(row)
    return row


@pytest.fixture
def seeds(tmp_path: Path) -> tuple[Path, dict[str, dict]]:
    rows = [_row([text], intent, case_id=f"{intent}-{i}") for intent, texts in CASES.items() for i, text in
            enumerate(texts)]  # fmt: skip
    two_turns = _row(["My bag is lost.", "It was a red suitcase, flight BA123 on 2 June."], "lost_luggage",
                     ["Sorry! Which flight were you on, and what does the bag look like?", REPLY],
                     case_id="lost_luggage-9")  # fmt: skip
    rows.append(two_turns)
    path = tmp_path / "seeds.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path, {row["case_id"]: row for row in rows}


def test_a_dots_turn_fails_beside_a_real_one() -> None:
    check = TurnsCheck(TurnsParams())
    seed = _row(["My bag is lost.", "A red suitcase."], "lost_luggage", ["Which flight were you on?", REPLY])
    dots = [dict(m) for m in seed["messages"]]
    dots[2]["content"] = "..."
    assert check.check(_variation(seed, dots)) == "turn_empty: messages.2 (user) is '...'"
    short = [dict(m) for m in seed["messages"]]
    short[3]["content"] = "Ok."
    assert check.check(_variation(seed, short)).startswith("turn_too_short: messages.3 (assistant)")
    assert check.check(seed) is None


def test_structure_catches_one_turn_answers_role_swaps_and_copies(seeds: tuple[Path, dict]) -> None:
    path, by_case = seeds
    check = StructureCheck.build(StructureParams(), CheckInputs(seeds=path))
    two = by_case["lost_luggage-9"]
    one_turn = _variation(two, [{"role": "user", "content": "My red bag is lost."}, two["messages"][-1]])
    assert check.check(one_turn) == "turn_structure: 2 turns (user/assistant); its seed has 4"
    single = by_case["lost_luggage-0"]
    swapped = _variation(single, [{"role": "user", "content": REPLY},
                                  {"role": "assistant", "content": single["messages"][0]["content"]}])  # fmt: skip
    assert check.check(swapped).startswith("role_swap: messages.0 (user) repeats a assistant turn")
    copy = _variation(single, [dict(m) for m in single["messages"]])
    assert check.check(copy) == "seed_copy: the user turns are its seed's"
    assert check.check({**copy, "origin": "pair_candidate"}) is None  # candidates keep the user turns by design
    fine = _variation(single, [{"role": "user", "content": "My case never showed up in Madrid, where is it?"},
                               single["messages"][1]])  # fmt: skip
    assert check.check(fine) is None


def test_echoes_of_the_prompt_are_caught_and_the_seeds_pass(seeds: tuple[Path, dict]) -> None:
    _, by_case = seeds
    check = EchoCheck.build(EchoParams(), CheckInputs(prompts=ROOT / "prompts"))
    seed = by_case["lost_luggage-0"]
    format_copy = _variation(seed, [seed["messages"][0], {"role": "assistant",
                                    "content": '{"role": "assistant", "content": "..."}'}])  # fmt: skip
    assert check.check(format_copy) == "prompt_echo: messages.1 (assistant) repeats the answer format"
    instruction = next(
        line
        for path in sorted((ROOT / "prompts").glob("*.md"))
        for line in path.read_text().splitlines()
        if len(line.split()) >= 12 and "{{" not in line
    )
    echoed = _variation(seed, [{"role": "user", "content": instruction}, seed["messages"][1]])
    assert check.check(echoed).startswith("prompt_echo: messages.0 (user) repeats the prompt")
    assert all(check.check(row) is None for row in by_case.values())


def test_meaning_keeps_spans_negations_and_grammar(seeds: tuple[Path, dict]) -> None:
    path, by_case = seeds
    check = MeaningCheck.build(MeaningParams(), CheckInputs(seeds=path))
    two = by_case["lost_luggage-9"]

    def with_second_turn(text: str) -> dict:
        messages = [dict(m) for m in two["messages"]]
        messages[2]["content"] = text
        return _variation(two, messages)

    assert check.check(with_second_turn("A red case, flight BA123 on 2 June.")) is None
    assert check.check(with_second_turn("A red case, flight BA123 last week.")) == (
        "span_missing: '2 June' of the seed not kept"
    )
    seed = by_case["lost_luggage-0"]
    dropped = _variation(seed, [{"role": "user", "content": "My suitcase did arrive in Madrid. Where is it?"},
                                seed["messages"][1]])  # fmt: skip
    assert check.check(dropped) == "negation_dropped: 1 negation(s) in the seed's user turns, 0 here"
    broken = _variation(seed, [{"role": "user", "content": "Why has not it arrived in Madrid? It did not come."},
                               seed["messages"][1]])  # fmt: skip
    assert check.check(broken) == 'ungrammatical: messages.0 (user) broken_inversion: "Why has not it"'
    assert check.check(broken) is not None and MeaningCheck(MeaningParams(grammar=False), check.seeds).check(
        broken
    ) is None  # fmt: skip


@pytest.mark.parametrize(
    ("text", "rule"),
    [
        ("It is been 12 days.", "broken_contraction"),
        ("Which's not right?", "broken_contraction"),
        ("I has a booking.", "agreement"),
        ("I have a issue with it.", "article"),
        ("The the hotel is closed.", "repeated_word"),
        ("my tbh ebergy company", "filler_inside"),
        ("How can I set up it?", "phrasal_object"),
        ("You can to book it.", "modal_to"),
        ("I'm in a little of a rush.", "quantifier"),
        ("I booked the.", "dangling"),
    ],
)
def test_grammar_rules_fire_on_the_errors_they_name(text: str, rule: str) -> None:
    assert grammar_problems(text)[0].split(":")[0] == rule


def test_grammar_rules_leave_real_customer_text_alone() -> None:
    for text in ["If I were to book, what would it cost?", "I need to top up up to 50 euros.", "i cant find my bag",
                 "Does it have wifi?", "We flew to Bora Bora.", "is there an hourly rate", "a uk number is fine",
                 "Can you do it for me?", "whats the deal with my room??", "a user said it was ok",
                 "I spent a little of the deposit", "I'm in a bit of a rush"]:  # fmt: skip
        assert grammar_problems(text) == [], text


def test_answers_catches_a_user_turn_about_something_else(seeds: tuple[Path, dict]) -> None:
    path, by_case = seeds
    check = AnswersCheck.build(AnswersParams(), CheckInputs(seeds=path))
    seed = by_case["hotel_refund-0"]
    drifted = _variation(seed, [{"role": "user", "content": "Can I swap my train ticket to Sunday?"},
                                seed["messages"][1]])  # fmt: skip
    kept = _variation(seed, [{"role": "user", "content": "I would like my money back for the hotel room."},
                             seed["messages"][1]])  # fmt: skip
    reasons = check.check_batch([drifted, kept])
    assert reasons[0].startswith("answers_other_intent: the user turn reads as 'change_train'")
    assert reasons[1] is None


def test_rejections_keep_their_reason_and_metrics_give_the_rate_per_template(
    seeds: tuple[Path, dict], tmp_path: Path
) -> None:
    path, by_case = seeds
    seed = by_case["lost_luggage-0"]
    good = _variation(seed, [{"role": "user", "content": "My case never showed up in Madrid. Where is it?"},
                             seed["messages"][1]], template="good")  # fmt: skip
    bad = _variation(seed, [{"role": "user", "content": "..."}, seed["messages"][1]], template="bad")
    blocklist = write_fixture_domain(tmp_path / "domain") / "seeds/blocklist.txt"  # the tests' own, not seeds/
    inputs = CheckInputs(blocklist=blocklist, seeds=path, prompts=ROOT / "prompts")
    check_set = assemble_checks(FilterParams(checks=["schema", "turns", "structure", "meaning"]), inputs)
    counts = write_filtered(iter([good, bad]), check_set.checks, tmp_path)
    metrics = filter_metrics(counts, check_set)
    assert read_rows(tmp_path / "rejected.jsonl")[0]["reasons"][0] == "turn_empty: messages.0 (user) is '...'"
    assert metrics["templates"]["bad"]["reject_rate"] == 1.0 and metrics["templates"]["good"]["reject_rate"] == 0.0


# A figure beside each mark a rewording keeps: + / - · ( ) % # : , . – × ~ @ & = ' and currency signs and
# symbols, in several domains' shapes (prices, speeds, phone prefixes, ratios, versions, dates, times,
# percentages). [Brackets] mark the figure the "changed" and "dropped" rewordings alter.
FIGURE_SHAPES = [
    "I was charged ₹799 +[18]% GST", "₹[799] +18% GST", "Plan [100]Mbps/20Mbps please", "Plan 100Mbps/[20]Mbps please",
    "call +[91] for help", "dial +44 (0)[20] 7946 0000", "ring 0800-[123]-456", "fee [3]/month", "screen is [16]:9",
    "a 2×[3] grid", "a [4]x4 van", "app v2.[1] crashes", "updated to iOS [17].2", "build #[4521] fails",
    "due [2026]/11/29", "due 2026/11/[29]", "due 29.[11].2026", "due 29-11-[2026]", "open [09]:30–18:00",
    "open 09:30–[18]:00", "from [9]:30am", "[20]% off everything", "up +[3]% (was 2%)", "about [5],000 a year",
    "€[5].99 · 2 days delivery", "€5.99 · [2] days delivery", "about ~[5] min wait", "2 seats @ £[40] each",
    "tea & [2] cakes", "size=[42] shoes", "(£[12].50)", "₩[5000] fee", "฿[250] taxi", "₽[900] total", "[5]€ fee",
    "¥[1500] lunch", "$[30] (USD)", "it is [5]°C outside", "±[2] mm", "the [90]'s songs", "I got [5] amazing offers",
    "Sam’s [3] parcels", "parcel [3]·[4] kg",
]  # fmt: skip
FIGURE_PLACES = ["{}", "Hello. Then {}, thanks!", "My question: {}?"]  # the figure at the start, middle, end


def _reworded(shape: str, place: str, figure: str) -> str:
    """`shape` in `place` with each [bracketed] figure replaced by `figure(its digits)`."""
    return place.format(re.sub(r"\[(\d+)\]", lambda m: figure(m.group(1)), shape))


@pytest.mark.parametrize("place", FIGURE_PLACES)
@pytest.mark.parametrize("shape", FIGURE_SHAPES)
def test_a_span_beside_any_mark_is_found_when_kept_and_missed_when_changed(shape: str, place: str) -> None:
    source = _reworded(shape, place, lambda digits: digits)
    figures = re.findall(r"\[(\d+)\]", shape)
    for kept in [source, f"Sure. {source} Thanks.", source.upper(), source.replace(" ", "  ")]:
        assert missing_spans(source, kept) == [], kept
    changed = _reworded(shape, place, lambda digits: "".join(str((int(d) + 1) % 10) for d in digits))
    dropped = _reworded(shape, place, lambda digits: "")
    for variation in (changed, dropped):
        missing = missing_spans(source, variation)
        assert missing and all(any(figure in span for figure in figures) for span in missing), (variation, missing)


def test_every_span_of_a_text_is_found_in_that_text() -> None:
    """Random texts of figures, words and marks: a text kept verbatim inside another loses no span."""
    draw = random.Random(20261129)
    pieces = [*"0123456789", *"+/-·()%#:,.–×~@&='’\"!?;", "£", "€", "₹", "₩", "°", " ", " ", " ", "ab", "Mbps", "am",
              "GST", "Lee", "v", "x", "May", "pm", "k", "weeks", "please", "the"]  # fmt: skip
    for _ in range(3000):
        text = "".join(draw.choice(pieces) for _ in range(draw.randint(1, 14)))
        assert missing_spans(text, f"Hello. {text} Thanks.") == [], text


def test_a_figure_glued_to_its_letters_is_a_span_alone() -> None:
    """Its letters say what it counts; a bare figure, or one with % or a currency sign, takes the next word."""
    spans = {text: [span.text for span in protected_spans(text)] for text in [
        "Plan 100Mbps/20Mbps please", "see you 4pm tomorrow", "the 2nd floor", "a 2% fee", "€40 fee", "3 weeks ago",
    ]}  # fmt: skip
    assert list(spans.values()) == [["100Mbps", "20Mbps"], ["4pm", "tomorrow"], ["2nd"], ["2% fee"], ["€40 fee"],
                                    ["3 weeks"]]  # fmt: skip
    assert missing_spans("Plan 100Mbps/20Mbps please", "Please, the 100Mbps/20Mbps plan.") == []
    assert missing_spans("see you 4pm tomorrow", "tomorrow at 4pm then") == []
    assert missing_spans("see you 4pm tomorrow", "tomorrow at 5pm then") == ["4pm"]


def test_the_meaning_check_keeps_a_figure_beside_a_mark() -> None:
    seed = _row(["My bill says ₹799 +18% GST, plan 100Mbps/20Mbps."], "hotel_refund")
    check = MeaningCheck(MeaningParams(), {seed["id"]: seed})
    kept = _variation(seed, [{"role": "user", "content": "Why does my bill say ₹799 +18% GST for 100Mbps/20Mbps?"},
                             seed["messages"][1]])  # fmt: skip
    assert check.check(kept) is None
    changed = _variation(seed, [{"role": "user", "content": "Why does my bill say ₹799 +12% GST for 100Mbps/20Mbps?"},
                                seed["messages"][1]])  # fmt: skip
    assert check.check(changed) == "span_missing: '18% GST' of the seed not kept"
