"""The offline built-in generator: variations of a seed's opening user turn that keep its meaning.

Each template (templates.py) changes how the customer asks (wording, length, register, typing
noise, situation, another case's opening) while the assistant's target behaviour stays the seed's
expert reply, so no policy fact is invented here. Numbers, amounts, dates, names, places, quoted
phrases and negations are protected (stages/core/spans.py): no template may drop or change them.
The words come from a lexicon (lexicon.py): a neutral default plus the domain's own file.
Every draw comes from a `random.Random` seeded per (params seed, seed row, variation), so a row's
text depends only on its seed, the params, the lexicon and, for `recombined`, the other seeds of its
intent (the donors of openings), never on which other rows are generated.
"""

from __future__ import annotations

import inspect
import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from stages.core.hashing import int_seed, sha256_hex
from stages.core.text import match_key
from stages.generate.builtin import edits, grammar, templates
from stages.generate.builtin.lexicon import Lexicon, load_lexicon, validate_lexicon
from stages.generate.builtin.templates import EMPATHY_TEMPLATES, RECOMBINED, TEMPLATES, Context

GENERATOR_NAME = "builtin"
GENERATOR_VERSION = "2.1.0"
MODEL_NAME = "builtin-rules"
TEMPLATE_IDS = (*TEMPLATES, RECOMBINED)
# Recombination needs this many donor openings in the intent, so that no one opening starts more
# than a few percent of an intent's rows (a seventh of the rows are recombined, spread over the donors).
MIN_DONORS = 3

__all__ = [
    "GENERATOR_NAME", "GENERATOR_VERSION", "MODEL_NAME", "TEMPLATE_IDS", "Lexicon", "Variation",
    "assign_template", "load_lexicon", "template_hash", "validate_lexicon", "vary",
]  # fmt: skip


@dataclass(frozen=True)
class Variation:
    """A variation's messages and the seed rows it is made of (the seed first, then any donor)."""

    messages: list[dict[str, str]]
    seed_ids: list[str]


def template_hash(template_id: str, lexicon: Lexicon) -> str:
    """16 hex chars over the generator version, the template's code, the shared edit and grammar
    code and the lexicon's content: changes whenever what the template writes can change."""
    code = inspect.getsource(templates.recombine if template_id == RECOMBINED else TEMPLATES[template_id])
    shared = [inspect.getsource(edits), inspect.getsource(grammar)]
    return sha256_hex([GENERATOR_VERSION, template_id, code, shared, lexicon.content_hash()])[:16]


def assign_template(templates_: Sequence[str], params_seed: int, seed_id: str, variation: int) -> list[str]:
    """The templates to try for one (seed, variation), in order: a rotation from a per-seed offset,
    so no template dominates; the first one that applies to the seed is used."""
    offset = int_seed(params_seed, seed_id, "template-offset") % len(templates_)
    return [templates_[(offset + variation + step) % len(templates_)] for step in range(len(templates_))]


def _with_empathy(reply: str, rng: random.Random, lexicon: Lexicon) -> str:
    if not lexicon.empathy or reply.lower().lstrip().startswith(("sorry", "i'm sorry", "i am sorry", "we're sorry")):
        return reply
    return f"{rng.choice(lexicon.empathy)} {reply}"


def _opening(seed_row: dict[str, Any]) -> str:
    return next(m["content"] for m in seed_row["messages"] if m["role"] == "user")


def _rewrite_opening(
    seed_row: dict[str, Any], template_id: str, ctx: Context, donors: Sequence[dict[str, Any]]
) -> tuple[str, list[str]] | None:
    """The new opening turn and the donor ids it uses, or None when the template cannot apply."""
    text = _opening(seed_row)
    if template_id != RECOMBINED:
        masked, originals = edits.mask(text)
        changed = templates.with_variety(template_id, masked, TEMPLATES[template_id](masked, ctx), ctx)
        return grammar.tidy_spacing(edits.unmask(changed, originals)), []
    own = templates.recombination_parts(text)
    if own is None or not own[1]:
        return None
    candidates = []
    for donor in donors:
        parts = templates.recombination_parts(_opening(donor)) if donor["id"] != seed_row["id"] else None
        if parts and parts[0]:
            candidates.append((donor["id"], parts[0]))
    if len(candidates) < MIN_DONORS:
        return None
    donor_id, opening = ctx.rng.choice(candidates)
    return templates.recombine(opening, own[1]), [donor_id]


def vary(
    seed_row: dict[str, Any],
    template_id: str,
    temperature: float,
    sampling_seed: int,
    lexicon: Lexicon,
    donors: Sequence[dict[str, Any]] = (),
) -> Variation | None:
    """The variation of one seed row: its opening user turn rewritten, later turns and replies kept
    (a frustrated customer's first reply gets an apology first). `donors` are other seed rows of the
    same intent, for `recombined`. None when the template cannot apply to this seed or changes nothing
    but case and punctuation."""
    ctx = Context(random.Random(sampling_seed), temperature, lexicon)
    rewritten = _rewrite_opening(seed_row, template_id, ctx, donors)
    if rewritten is None or match_key(rewritten[0]) == match_key(_opening(seed_row)):
        return None  # cannot apply, or changed only case and punctuation: the next template is tried
    opening, donor_ids = rewritten
    messages = []
    acknowledged = template_id not in EMPATHY_TEMPLATES
    rewrote_user = False
    for message in seed_row["messages"]:
        content = message["content"]
        if message["role"] == "user" and not rewrote_user:
            # Only the opening turn: a reply to a clarifying question would not restate the situation.
            content, rewrote_user = opening, True
        elif message["role"] == "assistant" and not acknowledged:
            content, acknowledged = _with_empathy(content, ctx.rng, lexicon), True
        messages.append({"role": message["role"], "content": content})
    return Variation(messages, [seed_row["id"], *donor_ids])
