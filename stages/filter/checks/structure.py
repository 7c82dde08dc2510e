"""The structure check: a synthetic row keeps its seed's turns, in their roles, and is no copy of it.

What a weak teacher does (a 0.5B model on llama.cpp, issue 14): answers a two-turn seed with one
turn, puts the seed's user turn in the assistant's place and the reply in the user's, or hands the
seed back unchanged. Each is caught against the row's seed (its `seed_id` in data/seed/seeds.jsonl):

    turn_structure  not the seed's sequence of roles ("2 turns (user/assistant); its seed has 4")
    role_swap       a turn close to the seed's turn of the other role (word Jaccard >= role_swap_similarity)
    seed_copy       a variation whose user turns are the seed's, word for word (case and punctuation aside)

Human rows and rows without a known seed are not judged. Preference-pair candidates keep the seed's user turns by
design, so `seed_copy` applies to variations only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

from pydantic import Field

from stages.core.params import Section
from stages.core.text import jaccard, tokens
from stages.filter.checks.base import Check, CheckInputs, Row
from stages.filter.seeds import conversation_turns, seed_index


@dataclass(frozen=True)
class TurnForms:
    """A conversation's turns as the check compares them: roles, token sets (`core.text.tokens`, for word
    Jaccard) and the user turns' match keys (`core.text.match_key`: tokens joined by spaces)."""

    roles: list[str]
    token_sets: list[frozenset[str]]
    user_keys: list[str]

    @classmethod
    def of(cls, row: Row) -> TurnForms:
        """The forms of `row`'s user and assistant turns, each text tokenised once."""
        turns = conversation_turns(row)
        found = [tokens(turn["content"]) for turn in turns]
        roles = [turn["role"] for turn in turns]
        keys = [" ".join(words) for role, words in zip(roles, found, strict=True) if role == "user"]
        return cls(roles, [frozenset(words) for words in found], keys)


class StructureParams(Section):
    """`filter.structure`: how close a turn may come to the seed's turn of the other role (word Jaccard)."""

    role_swap_similarity: float = Field(default=0.6, gt=0, le=1)


@dataclass(frozen=True)
class StructureCheck(Check):
    """Rejects rows whose turns do not follow their seed's (see the module docstring)."""

    name: ClassVar[str] = "structure"
    codes: ClassVar[tuple[str, ...]] = ("turn_structure", "role_swap", "seed_copy")
    Params: ClassVar[type[Section]] = StructureParams
    run_order: ClassVar[int] = 15
    needs: ClassVar[str] = "no seed rows"
    reads: ClassVar[frozenset[str]] = frozenset({"seeds"})

    params: StructureParams
    seeds: dict[str, Row]
    seed_forms: dict[str, TurnForms] = field(init=False, repr=False, compare=False)  # tokenised once per seed

    def __post_init__(self) -> None:
        """Tokenise each seed's turns."""
        object.__setattr__(self, "seed_forms", {seed_id: TurnForms.of(seed) for seed_id, seed in self.seeds.items()})

    @classmethod
    def build(cls, params: StructureParams, inputs: CheckInputs) -> StructureCheck | None:
        """The check with the seed rows of `inputs.seeds` (None without them)."""
        return cls(params, seed_index(inputs.seeds)) if inputs.seeds else None

    def check(self, row: Row) -> str | None:
        """The first structural fault of `row` against its seed, or None."""
        seed = self.seed_forms.get(row.get("seed_id", ""))
        if seed is None or row.get("source") != "synthetic":  # a seed (human text) is its own seed
            return None
        forms = TurnForms.of(row)
        if forms.roles != seed.roles:
            return f"turn_structure: {len(forms.roles)} turns ({'/'.join(forms.roles)}); its seed has {len(seed.roles)}"
        for index, (role, words) in enumerate(zip(forms.roles, forms.token_sets, strict=True)):
            other = [
                seed_words
                for seed_role, seed_words in zip(seed.roles, seed.token_sets, strict=True)
                if seed_role != role
            ]
            if any(jaccard(words, seed_words) >= self.params.role_swap_similarity for seed_words in other):
                return f"role_swap: messages.{index} ({role}) repeats a {_other(role)} turn of its seed"
        if row.get("origin") == "variation" and forms.user_keys == seed.user_keys:
            return "seed_copy: the user turns are its seed's"
        return None


def _other(role: str) -> str:
    return "user" if role == "assistant" else "assistant"
