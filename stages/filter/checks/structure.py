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

from dataclasses import dataclass
from typing import ClassVar

from pydantic import Field

from stages.core.params import Section
from stages.core.text import match_key, word_jaccard
from stages.filter.checks.base import Check, CheckInputs, Row
from stages.filter.seeds import conversation_turns, seed_index


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

    @classmethod
    def build(cls, params: StructureParams, inputs: CheckInputs) -> StructureCheck | None:
        """The check with the seed rows of `inputs.seeds` (None without them)."""
        return cls(params, seed_index(inputs.seeds)) if inputs.seeds else None

    def check(self, row: Row) -> str | None:
        """The first structural fault of `row` against its seed, or None."""
        seed = self.seeds.get(row.get("seed_id", ""))
        if seed is None or row.get("source") != "synthetic":  # a seed (human text) is its own seed
            return None
        turns, seed_turns = conversation_turns(row), conversation_turns(seed)
        roles, seed_roles = [t["role"] for t in turns], [t["role"] for t in seed_turns]
        if roles != seed_roles:
            return f"turn_structure: {len(roles)} turns ({'/'.join(roles)}); its seed has {len(seed_roles)}"
        for index, turn in enumerate(turns):
            other = [t["content"] for t in seed_turns if t["role"] != turn["role"]]
            if any(word_jaccard(turn["content"], text) >= self.params.role_swap_similarity for text in other):
                return f"role_swap: messages.{index} ({turn['role']}) repeats a {_other(turn['role'])} turn of its seed"
        users = [match_key(t["content"]) for t in turns if t["role"] == "user"]
        seed_users = [match_key(t["content"]) for t in seed_turns if t["role"] == "user"]
        if row.get("origin") == "variation" and users == seed_users:
            return "seed_copy: the user turns are its seed's"
        return None


def _other(role: str) -> str:
    return "user" if role == "assistant" else "assistant"
