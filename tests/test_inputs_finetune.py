"""Issue 12, kind 4: fine-tuning format limits.

train.jsonl and eval.jsonl are checked as the provider's format checker does; tokens are counted exactly
and offline (bpe-openai; the expected counts below are tiktoken's for the same encodings), examples over
the limit leave the mix with their reason, and the data card states total tokens and an estimated cost.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from stages.mix.finetune import TokenCounter, default_epochs
from stages.mix.formats import chat_record_problem
from tests.conftest import read_rows, run_stage

# (text, o200k_base tokens, cl100k_base tokens): counted by tiktoken 0.12 with OpenAI's encoding files
TIKTOKEN_COUNTS = [
    ("Hello world", 2, 2),
    ("My parcel has not arrived yet, what should I do?", 12, 12),
    ("मेरा कार्ड खो गया", 5, 17),
    ("カードが届きません", 5, 9),
    ("   spaces\n\nand lines", 5, 5),
    ("$5 charge on 3 to 5 working days", 11, 11),
]


@pytest.mark.parametrize(("text", "o200k", "cl100k"), TIKTOKEN_COUNTS)
def test_tokens_are_counted_exactly_offline(text: str, o200k: int, cl100k: int) -> None:
    assert TokenCounter("o200k_base").text(text) == o200k
    assert TokenCounter("cl100k_base").text(text) == cl100k
    assert TokenCounter(None).text(text) == -(-len(text) // 4)  # the labelled estimate


def test_an_example_counts_as_the_providers_notebook_counts_it() -> None:
    counter = TokenCounter("o200k_base")
    record = {"messages": [{"role": "system", "content": "Hello world"}, {"role": "user", "content": "Hello world"},
                           {"role": "assistant", "content": "Hello world", "name": "bot"}]}  # fmt: skip
    # 3 per message, each value's tokens ("system", "user", "assistant", "bot": 1 each), 1 per name, 3 to prime
    assert counter.example(record) == 3 * 3 + (1 + 2) * 3 + 1 + 1 + 3


@pytest.mark.parametrize(
    ("examples", "epochs"), [(3, 25), (10, 10), (20, 5), (40, 3), (8000, 3), (10_000, 2), (30_000, 1)]
)
def test_default_epochs_follow_the_providers_rule(examples: int, epochs: int) -> None:
    assert default_epochs(examples) == epochs


@pytest.mark.parametrize(
    ("record", "problem"),
    [
        ({"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": " "}]}, "content must be"),
        ({"messages": [{"role": "robot", "content": "hi"}, {"role": "assistant", "content": "ok"}]}, "role must be"),
        ({"messages": [{"role": "user", "content": "hi"}]}, "no assistant message"),
        ({"messages": [{"role": "user", "content": "hi", "mood": "x"}]}, "only role, content"),
        ({"messages": [], "id": 1}, "unexpected keys"),
    ],
)
def test_format_problems_are_named(record: dict, problem: str) -> None:
    assert problem in (chat_record_problem(record) or "")


def _params(project: Path, **fine_tuning: object) -> None:
    params = yaml.safe_load((project / "params.yaml").read_text())
    params["mix"]["fine_tuning"].update(fine_tuning)
    (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))


def _through_mix(project: Path) -> None:
    for stage in ("seed", "generate", "filter", "dedup", "review", "mix"):
        run_stage(stage, project)


def test_examples_over_the_limit_leave_the_mix_and_the_card_counts_tokens(project: Path) -> None:
    # The fixture's human examples count 123-129 tokens: a limit of 126 keeps some and removes others.
    _params(project, max_tokens_per_example=126)
    _through_mix(project)
    counter = TokenCounter("o200k_base")
    lines = read_rows(project / "data/mix/train.jsonl") + read_rows(project / "data/mix/eval.jsonl")
    assert lines and max(counter.example(line) for line in lines) <= 126
    removed = [
        row for row in read_rows(project / "data/mix/removed.jsonl") if row["reasons"][0].startswith("token_limit")
    ]
    assert removed and any(row["source"] == "human" for row in removed)
    assert "over mix.fine_tuning.max_tokens_per_example 126" in removed[0]["reasons"][0]
    figures = json.loads((project / "metrics/mix.json").read_text())["fine_tuning"]
    assert figures["token_count"] == "exact" and figures["max_example_tokens"] <= 126
    train = read_rows(project / "data/mix/train.jsonl")
    assert figures["train_tokens"] == sum(counter.example(line) for line in train)
    assert figures["epochs"] == default_epochs(len(train))
    assert figures["estimated_cost_usd"] == round(figures["train_tokens"] * figures["epochs"] * 3.0 / 1e6, 4)
    card = (project / "data/mix/CARD.md").read_text()
    assert "## Fine-tuning" in card and f"{figures['train_tokens']} train tokens" in card and "counted exactly" in card


def test_without_an_encoding_the_figure_is_labelled_an_estimate(project: Path) -> None:
    _params(project, encoding=None, epochs=2)
    _through_mix(project)
    figures = json.loads((project / "metrics/mix.json").read_text())["fine_tuning"]
    assert figures["token_count"] == "estimate" and figures["epochs"] == 2
    assert "estimated (4 characters a token)" in (project / "data/mix/CARD.md").read_text()


def test_a_huge_seed_reply_never_reaches_train_jsonl_even_with_the_length_check_off(project: Path) -> None:
    params = yaml.safe_load((project / "params.yaml").read_text())
    params["filter"]["checks"] = ["schema", "pii"]  # no length check: the token limit is the last guard
    (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    path = project / "seeds/cases.jsonl"
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    huge = " ".join(f"step{i} of the process" for i in range(12_000))  # ~306k characters, ~80k tokens
    lines[0]["messages"][-1]["content"] = huge
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    _through_mix(project)
    assert (
        "step11999"
        not in (project / "data/mix/train.jsonl").read_text() + (project / "data/mix/eval.jsonl").read_text()
    )
    removed = [row for row in read_rows(project / "data/mix/removed.jsonl") if row["case_id"] == lines[0]["case_id"]]
    assert removed and removed[0]["reasons"][0].startswith("token_limit: the fine-tuning line has")
