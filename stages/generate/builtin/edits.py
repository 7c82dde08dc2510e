"""Word-level edits over the words a customer may change: EDA's four operations, typing noise, slang.

Protected spans (stages/core/spans.py: numbers, dates, names, places, quoted phrases) are masked
before any edit (`mask`: each becomes an opaque placeholder) and put back after (`unmask`), so no
edit can drop or change them; negation words are never deleted, misspelt or swapped for a phrase
without one. EDA (Wei and Zou, 2019) replaces, inserts, swaps and deletes random words, which
often breaks grammar; here each operation is kept to edits that English allows:
- synonym replacement: the lexicon's interchangeable phrases (`substitute`), each only before the words
  its entry allows ("a bit of a rush" keeps its "a bit");
- insertion: a hedge ("really", "actually") between "I"/"we" and a verb of wanting or thinking (`insert_hedge`);
- swap: a question that stands on its own moved to the front (`question_first`);
- deletion: hedges and politeness words (`delete_hedges`; grammar.strip_politeness).
"""

from __future__ import annotations

import random
import re
from functools import lru_cache

from stages.core.spans import is_negation, protected_spans
from stages.generate.builtin.grammar import capitalise_first, sentences
from stages.generate.builtin.lexicon import Lexicon, Substitution

MARK_OPEN, MARK_CLOSE = "\ue000", "\ue001"
_PLACEHOLDER = re.compile(f"{MARK_OPEN}(\\d+){MARK_CLOSE}")
# Where a hedge can go after "I"/"we": before a verb of wanting or thinking ("I really need"). Never
# before a past tense: "I just sent" says it was recent, "I really ordered" insists: both change meaning.
_PRESENT_VERB = re.compile(r"(?:need|want|think|keep|can't|cannot|don't|have to|hope)\b", re.IGNORECASE)
_PARTICLE_END = re.compile(r"\b(?:up|down|off|out|back|in|on|over|away)$", re.IGNORECASE)
_PRONOUN_NEXT = re.compile(r"\s+(?:it|them|him|her|me|us)\b", re.IGNORECASE)
_NEXT_WORD = re.compile(r"\s+([^\s.,!?;:\"()]+)")
_INVERSION = re.compile(r"\b(?:can|could|do|did|does|should|will|would|shall|am|have|may|must)\s+$", re.I)
_ANAPHORIC = re.compile(r"^(?:is (?:that|this|it)|what now|why|how come|and|but|so|or|any|can i\?|what\?)", re.I)
KEYBOARD_NEIGHBOURS = {
    "a": "sq", "b": "vn", "c": "xv", "d": "sf", "e": "wr", "f": "dg", "g": "fh", "h": "gj", "i": "uo",
    "j": "hk", "k": "jl", "l": "k", "m": "n", "n": "bm", "o": "ip", "p": "o", "q": "w", "r": "et",
    "s": "ad", "t": "ry", "u": "yi", "v": "cb", "w": "qe", "x": "zc", "y": "tu", "z": "x",
}  # fmt: skip


def mask(text: str) -> tuple[str, list[str]]:
    """`text` with every protected span replaced by a placeholder, and the spans in placeholder order."""
    spans = protected_spans(text)
    out, last, originals = [], 0, []
    for span in spans:
        out.append(text[last : span.start])
        out.append(f"{MARK_OPEN}{len(originals)}{MARK_CLOSE}")
        originals.append(span.text)
        last = span.end
    out.append(text[last:])
    return "".join(out), originals


def unmask(text: str, originals: list[str]) -> str:
    """The placeholders of `text` replaced by their spans again."""
    return _PLACEHOLDER.sub(lambda m: originals[int(m.group(1))], text)


def is_protected(word: str) -> bool:
    """True for a word no edit may touch: a placeholder or a negation."""
    return MARK_OPEN in word or is_negation(word)


@lru_cache(maxsize=512)
def _entry_pattern(entry: Substitution) -> re.Pattern[str]:
    phrases = sorted({*entry.sources, *entry.targets}, key=len, reverse=True)
    alternation = "|".join(re.escape(p).replace(r"\ ", r"\s+") for p in phrases)
    return re.compile(rf"(?<![\w'{MARK_OPEN}])(?:{alternation})(?![\w'{MARK_CLOSE}])", re.IGNORECASE)


def _next_word(text: str, end: int) -> str | None:
    """The word after position `end` (lowercase; a placeholder is a word), or None at a mark or the end."""
    match = _NEXT_WORD.match(text, end)
    return match.group(1).casefold() if match else None


def _match_case(original: str, replacement: str) -> str:
    if original[:1].isupper() and not replacement.startswith("i "):
        return replacement[:1].upper() + replacement[1:]
    return replacement


def _fix_pronoun_i(text: str) -> str:
    return re.sub(r"(?<![\w'])i(?=(?:'m|'ve|'d|'ll)?(?![\w']))", "I", text)


def substitute(text: str, lexicon: Lexicon, rng: random.Random, p: float) -> str:
    """Each phrase of a substitution entry found in `text` replaced, with probability `p`, by another."""
    for entry in lexicon.substitutions:
        pattern = _entry_pattern(entry)
        if not pattern.search(text):
            continue

        def swap(match: re.Match[str], entry: Substitution = entry) -> str:
            found = " ".join(match.group(0).split())
            if found.casefold() not in entry.sources or not entry.allows(_next_word(match.string, match.end())):
                return match.group(0)  # the next word rules the swap out: no draw
            if rng.random() >= p:
                return match.group(0)
            choices = entry.alternatives(found)
            if _PRONOUN_NEXT.match(match.string, match.end()):  # "set up it" is not English: "activate it" stays
                choices = [c for c in choices if not _PARTICLE_END.search(c)]
            return _match_case(found, rng.choice(choices)) if choices else match.group(0)

        text = pattern.sub(swap, text)
    return _fix_pronoun_i(text)


def delete_hedges(text: str, lexicon: Lexicon, rng: random.Random, p: float) -> str:
    """Hedge words ("really", "basically") left out, each with probability `p`."""
    hedges = {h.casefold() for h in lexicon.hedges}
    kept = [w for w in text.split(" ") if w.casefold() not in hedges or rng.random() >= p]
    return " ".join(kept)


def insert_hedge(text: str, lexicon: Lexicon, rng: random.Random) -> str:
    """One hedge put between "I" or "we" and the verb after it, at a random such place (if any)."""
    places: list[tuple[int, list[str]]] = []
    for match in re.finditer(r"\b(?:I|we)\s+", text):
        if _INVERSION.search(text[: match.start()]):  # "Can I still join?" takes no hedge after "I"
            continue
        rest = text[match.end() :]
        if _PRESENT_VERB.match(rest):
            places.append((match.end(), list(lexicon.hedges)))
    if not places:
        return text
    at, hedges = rng.choice(places)
    hedge = rng.choice(hedges)
    if not hedges or text[at:].lower().startswith(hedge.lower() + " "):
        return text
    return f"{text[:at]}{hedge} {text[at:]}"


def question_first(text: str) -> str:
    """The last question moved before the statements when it stands on its own ("Is that normal?" does not)."""
    parts = sentences(text)
    questions = [i for i, s in enumerate(parts) if s.endswith("?") and len(s.split()) >= 4]
    if len(parts) < 2 or not questions or questions[-1] == 0:
        return text
    index = questions[-1]
    if _ANAPHORIC.match(parts[index]) or re.search(r"\b(?:it|that|this|them|they)\b", parts[index], re.I):
        return text
    moved = [parts[index]] + [s for i, s in enumerate(parts) if i != index]
    return " ".join(capitalise_first(s) if i == 0 else s for i, s in enumerate(moved))


def typo(word: str, rng: random.Random) -> str:
    """One keyboard slip in a word of 4+ letters: swapped, dropped, doubled or neighbouring letter."""
    core = word.rstrip(",.!?;:")
    if len(core) < 4 or not core.isalpha():
        return word
    tail = word[len(core) :]
    i = rng.randrange(1, len(core) - 1)
    kind = rng.randrange(4)
    if kind == 0:
        core = core[:i] + core[i + 1] + core[i] + core[i + 2 :]
    elif kind == 1:
        core = core[:i] + core[i + 1 :]
    elif kind == 2:
        core = core[:i] + core[i] + core[i:]
    else:
        neighbours = KEYBOARD_NEIGHBOURS.get(core[i].lower())
        core = core[:i] + (rng.choice(neighbours) if neighbours else core[i]) + core[i + 1 :]
    return core + tail


def noisy_words(text: str, lexicon: Lexicon, rng: random.Random, typo_rate: float, slang_rate: float) -> str:
    """Typos and texting spellings on unprotected words (negations keep their letters)."""
    out = []
    for word in text.split(" "):
        bare = word.lower().strip(",.!?;:")
        if MARK_OPEN in word:
            pass
        elif bare in lexicon.slang and rng.random() < slang_rate:
            word = word.lower().replace(bare, lexicon.slang[bare])
        elif not is_negation(word) and rng.random() < typo_rate:
            word = typo(word, rng)
        out.append(word)
    return " ".join(out)
