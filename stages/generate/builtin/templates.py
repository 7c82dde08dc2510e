"""The built-in templates: each rewrites a customer's opening turn in one way, keeping its meaning.

Every template works on the masked text (protected spans are placeholders: stages/generate/builtin/
edits.py) and draws its phrases from the lexicon. `temperature` (0-2) scales how much it changes:
the chance of each edit, never whether the meaning survives. No fixed string goes on every row:
openers, closers and situations are optional, drawn from lists, and several per register.

    word_edits      EDA's operations kept grammatical: synonym phrases, a hedge in, hedges out, question first
    casual_short    texting register: no greeting or please, contractions, slang, lower case
    formal_verbose  formal register: contractions undone, texting words spelt out, an opener and/or closer
    noisy_typing    input noise as in logged traffic: typos, dropped apostrophes and punctuation, a hesitation
    frustrated      an upset customer: a complaint before and/or a demand after, one word shouted
    situational     a sentence about where the customer is or what they are doing
    recombined      the opening of another case of the same intent before this case's request
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from stages.core.spans import negation_count, protected_spans
from stages.core.text import word_jaccard
from stages.generate.builtin import edits
from stages.generate.builtin.grammar import (
    after_opener,
    capitalise_first,
    end_sentence,
    fix_articles,
    make_contractions,
    sentences,
    strip_politeness,
    tidy_spacing,
    undo_contractions,
)
from stages.generate.builtin.lexicon import REGISTERS, Lexicon

_SPELT_OUT = {
    "u": "you", "ur": "your", "pls": "please", "plz": "please", "thx": "thanks", "cos": "because",
    "tmrw": "tomorrow", "msg": "message", "b4": "before", "im": "I'm", "dont": "don't", "cant": "can't",
    "didnt": "didn't", "doesnt": "doesn't", "isnt": "isn't", "wont": "won't", "ive": "I've", "idk": "I don't know",
    "acc": "account", "txn": "transaction", "i": "I",
}  # fmt: skip
_REQUEST_START = re.compile(
    r"^(?:can|could|would|will|how|what|why|when|where|which|who|is|are|do|does|did|please|i want|i need|"
    r"i'd like|i would like|is there|help)\b",
    re.IGNORECASE,
)


@dataclass
class Context:
    """What a template draws from: the row's random source, its temperature and the lexicon."""

    rng: random.Random
    temperature: float
    lexicon: Lexicon

    def chance(self, low: float, high: float) -> bool:
        """True with a probability from `low` (temperature 0) to `high` (temperature 1 and above)."""
        return self.rng.random() < low + (high - low) * min(self.temperature, 1.0)

    def pick(self, choices: Sequence[str]) -> str | None:
        """One of `choices`, or None if there are none."""
        return self.rng.choice(list(choices)) if choices else None


def word_edits(text: str, ctx: Context) -> str:
    """EDA's four operations, each kept grammatical (see stages/generate/builtin/edits.py)."""
    before = text
    text = edits.substitute(text, ctx.lexicon, ctx.rng, 0.45 + 0.35 * min(ctx.temperature, 1.0))
    if ctx.chance(0.3, 0.6):
        text = edits.delete_hedges(text, ctx.lexicon, ctx.rng, 0.7)
    if ctx.chance(0.2, 0.5):
        text = edits.insert_hedge(text, ctx.lexicon, ctx.rng)
    if ctx.chance(0.2, 0.4):
        text = edits.question_first(text)
    if text == before:  # nothing matched: at least one operation that always applies
        text = edits.question_first(edits.insert_hedge(strip_politeness(text), ctx.lexicon, ctx.rng))
    return fix_articles(capitalise_first(text))


def casual_short(text: str, ctx: Context) -> str:
    """Texting register: greeting and please gone, contractions, some slang, hedges dropped, lower case."""
    text = make_contractions(strip_politeness(text))
    text = edits.delete_hedges(text, ctx.lexicon, ctx.rng, 0.6)
    text = edits.noisy_words(text, ctx.lexicon, ctx.rng, typo_rate=0.0, slang_rate=0.2 + 0.4 * ctx.temperature)
    text = re.sub(r"[.]$", "", text.strip())
    if ctx.chance(0.5, 0.8):
        text = text.lower()
    opener = ctx.pick(ctx.lexicon.opener("casual")) if ctx.chance(0.2, 0.35) else None
    closer = ctx.pick(ctx.lexicon.closer("casual")) if ctx.chance(0.1, 0.2) else None
    return " ".join(part for part in (after_opener(opener, text), closer) if part)


def _spell_out(text: str) -> str:
    words = [_SPELT_OUT.get(w.lower(), w) if w.isalnum() else w for w in re.split(r"(\W+)", text)]
    return "".join(words)


def formal_verbose(text: str, ctx: Context) -> str:
    """Formal register: texting words spelt out, contractions undone, sentences capitalised, courtesy lines."""
    text = undo_contractions(_spell_out(strip_politeness(text)))
    text = re.sub(r"([!?])\1+", r"\1", re.sub(r"!+\?|\?+!", "?", text))
    text = " ".join(end_sentence(capitalise_first(s)) for s in sentences(text))
    opener = ctx.pick(ctx.lexicon.opener("formal")) if ctx.chance(0.5, 0.7) else None
    closer = ctx.pick(ctx.lexicon.closer("formal")) if ctx.chance(0.4, 0.7) or not opener else None
    return " ".join(part for part in (after_opener(opener, text), closer) if part)


def noisy_typing(text: str, ctx: Context) -> str:
    """Input noise: typos and texting spellings, then maybe lower case, no apostrophes, no final stop."""
    typo_rate = 0.04 + 0.06 * min(ctx.temperature, 1.5)
    text = edits.noisy_words(text, ctx.lexicon, ctx.rng, typo_rate=typo_rate, slang_rate=0.3)
    if ctx.chance(0.3, 0.6):  # not a protected span's possessive: "last month's" kept, or its span is lost
        text = re.sub(f"(?<!{edits.MARK_CLOSE})'", "", text)
    if ctx.chance(0.4, 0.7):
        text = text.lower()
    if ctx.chance(0.3, 0.6):
        text = re.sub(r"[.]\s*$", "", text)
    if ctx.chance(0.1, 0.3):
        text = text.replace("?", "??")
    filler = ctx.pick(ctx.lexicon.fillers) if ctx.chance(0.1, 0.3) else None
    return f"{filler} {text[:1].lower()}{text[1:]}" if filler else text


def frustrated(text: str, ctx: Context) -> str:
    """An upset customer: a complaint before and/or a demand after, maybe one word in capitals."""
    text = end_sentence(strip_politeness(text))
    words = text.split(" ")
    shoutable = [i for i, w in enumerate(words) if sum(c.isalpha() for c in w) > 3 and not edits.is_protected(w)]
    if shoutable and ctx.chance(0.2, 0.5):
        index = ctx.rng.choice(shoutable)
        words[index] = words[index].upper()
    text = " ".join(words)
    opener = ctx.pick(ctx.lexicon.opener("frustrated")) if ctx.chance(0.5, 0.7) else None
    closer = ctx.pick(ctx.lexicon.closer("frustrated")) if ctx.chance(0.4, 0.6) or not opener else None
    return " ".join(part for part in (after_opener(opener, text), closer) if part)


def place_situation(text: str, situation: str | None, rng: random.Random) -> str:
    """`situation` before the request (half the time), after its first statement, or at the end."""
    if situation is None:
        return text
    parts = sentences(text)
    draw = rng.random()
    if draw < 0.25 and len(parts) > 1 and not parts[0].endswith("?"):
        return " ".join([end_sentence(parts[0]), situation, *parts[1:]])
    if draw < 0.5:
        return f"{end_sentence(text)} {situation}"
    return f"{situation} {capitalise_first(text)}"


def situational(text: str, ctx: Context) -> str:
    """A sentence about where the customer is or what they are doing, before, inside or after the request."""
    return place_situation(strip_politeness(text), ctx.pick(ctx.lexicon.situations), ctx.rng)


def split_opening(text: str) -> tuple[list[str], list[str]]:
    """(opening, request): the sentences before the first question or request, and the rest."""
    parts = sentences(text)
    for index, sentence in enumerate(parts):
        if sentence.endswith("?") or _REQUEST_START.match(strip_politeness(sentence)):
            return parts[:index], parts[index:]
    return parts, []


def recombination_parts(text: str) -> tuple[str, str] | None:
    """(opening, request) of a case's opening turn for recombination, or None when it cannot take part.

    The opening is what a donor case gives (empty: it gives nothing): only one without protected spans,
    so no details of one story land in another. A case takes another's opening only if its own holds
    no protected span or negation (nothing it says is lost) and its request is a question or a plain
    request, not more of a story.
    """
    opening, request = split_opening(text)
    if not request:
        return None
    own = " ".join(opening)
    gives = strip_politeness(own) if len(own.split()) > 2 and not protected_spans(own) else ""
    takes = not protected_spans(own) and not negation_count(own) and _REQUEST_START.match(strip_politeness(request[0]))
    return (gives, " ".join(request) if takes else "")


def recombine(opening: str, request: str) -> str:
    """Another case's opening, then this case's request (its greeting and please kept out)."""
    return tidy_spacing(f"{end_sentence(capitalise_first(opening))} {capitalise_first(strip_politeness(request))}")


def _prepend(text: str, line: str | None, lexicon: Lexicon) -> str:
    """`line` before `text`, unless the text already opens with an opener of any register."""
    openers = (o for r in REGISTERS for o in lexicon.opener(r))
    return after_opener(line, text) if line and not any(text.startswith(o) for o in openers) else text


def _append(text: str, line: str | None, lexicon: Lexicon) -> str:
    """`line` after `text`, unless the text already ends with a closer of any register."""
    closers = (c for r in REGISTERS for c in lexicon.closer(r))
    return f"{end_sentence(text)} {line}" if line and not any(text.endswith(c) for c in closers) else text


def _extras(template_id: str, ctx: Context) -> list[Callable[[str], str]]:
    """Further meaning-keeping edits of the template's own kind, for a row still too close to its seed."""
    lex, rng = ctx.lexicon, ctx.rng
    substitute_all: Callable[[str], str] = lambda t: fix_articles(edits.substitute(t, lex, rng, 1.0))  # noqa: E731
    situation: Callable[[str], str] = lambda t: place_situation(strip_politeness(t), ctx.pick(lex.situations), rng)  # noqa: E731
    hedge: Callable[[str], str] = lambda t: edits.insert_hedge(t, lex, rng)  # noqa: E731
    by_register = {
        register: [
            lambda t, r=register: _prepend(t, ctx.pick(lex.opener(r)), lex),
            lambda t, r=register: _append(t, ctx.pick(lex.closer(r)), lex),
        ]
        for register in ("formal", "frustrated", "casual")
    }
    slang: Callable[[str], str] = lambda t: edits.noisy_words(t, lex, rng, typo_rate=0.0, slang_rate=1.0)  # noqa: E731
    typos: Callable[[str], str] = lambda t: edits.noisy_words(t, lex, rng, typo_rate=0.08, slang_rate=0.0)  # noqa: E731
    return {
        "word_edits": [substitute_all, hedge, situation],
        "casual_short": [substitute_all, slang, *by_register["casual"]],
        "formal_verbose": [substitute_all, *by_register["formal"]],
        "noisy_typing": [substitute_all, slang, typos],
        "frustrated": [substitute_all, *by_register["frustrated"]],
        "situational": [substitute_all, hedge],
    }.get(template_id, [])


def with_variety(template_id: str, original: str, text: str, ctx: Context) -> str:
    """`text` with further edits of its template's kind, in a random order, until its word set is less
    than VARIETY_JACCARD like the original's (or the edits run out). Dedup removes a row whose word set
    is 0.75 like its seed's (params dedup.threshold) as adding no variety."""
    extras = _extras(template_id, ctx)
    ctx.rng.shuffle(extras)
    for extra in extras:
        if word_jaccard(original, text) < VARIETY_JACCARD:
            break
        text = extra(text)
    return text


TextTransform = Callable[[str, Context], str]
TEMPLATES: dict[str, TextTransform] = {
    "word_edits": word_edits,
    "casual_short": casual_short,
    "formal_verbose": formal_verbose,
    "noisy_typing": noisy_typing,
    "frustrated": frustrated,
    "situational": situational,
}
RECOMBINED = "recombined"
VARIETY_JACCARD = 0.7
# Templates whose customer is upset get an acknowledging first sentence in the reply.
EMPATHY_TEMPLATES = frozenset({"frustrated"})
