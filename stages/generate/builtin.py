"""The offline built-in generator: rule-based variations of a seed's user turns.

Each template changes how the customer asks (wording, length, register, typing noise, situation)
while the assistant's target behaviour stays the seed's expert reply, so the policy facts in the
replies are never invented here. `temperature` scales how hard a template perturbs the text.
Everything is driven by a `random.Random` seeded per (params seed, seed row, template, variation),
so a row's text never depends on which other rows are generated.
"""

from __future__ import annotations

import inspect
import random
import re
from collections.abc import Callable
from typing import Any

from stages.core.hashing import int_seed, sha256_hex

GENERATOR_NAME = "builtin"
GENERATOR_VERSION = "1.1.0"
MODEL_NAME = "builtin-rules"

# Bank-domain rewrites: (pattern, alternatives). Patterns are matched case-insensitively on words.
SYNONYMS: list[tuple[str, list[str]]] = [
    (r"(?<!credit )(?<!debit )(?<!bank )\bcard\b", ["debit card", "bank card"]),
    (r"\bmoney\b", ["funds", "cash"]),
    (r"\b(haven't|have not) received\b", ["still don't have", "never got", "am still waiting for"]),
    (r"\b(hasn't|has not) arrived\b", ["still isn't here", "hasn't turned up", "never showed up"]),
    (r"\barrived\b", ["turned up", "come through", "shown up"]),
    (r"\breceived\b", ["got", "been sent"]),
    (r"\bapp\b", ["mobile app", "banking app"]),
    (r"\bcharged\b", ["billed", "debited"]),
    (r"\bfee\b", ["charge", "cost"]),
    (r"\bpayment\b", ["transaction", "purchase"]),
    (r"\btransfer\b", ["bank transfer", "payment out"]),
    (r"\baccount\b", ["bank account", "profile"]),
    (r"\bcan you\b", ["could you", "would you be able to", "is it possible to"]),
    (r"\bhow do i\b", ["what's the way to", "how can i", "what do i do to"]),
    (r"\bi want to\b", ["i'd like to", "i need to", "i'm trying to"]),
    (r"\bi need\b", ["i have to get", "i'm after", "i require"]),
    (r"\bwhy\b", ["how come", "for what reason"]),
    (r"\bhelp\b", ["assist", "give me a hand", "support"]),
    (r"\bproblem\b", ["issue", "trouble"]),
    (r"\bcheck\b", ["look into", "confirm"]),
    (r"\btop up\b", ["top-up", "add money", "load money"]),
    (r"\bstolen\b", ["nicked", "taken"]),
    (r"\blost\b", ["misplaced", "can't find"]),
    (r"\bcancel\b", ["stop", "call off", "reverse"]),
    (r"\bwrong\b", ["incorrect", "not right"]),
    (r"\bweek\b", ["few days", "while"]),
    (r"\btoday\b", ["this morning", "earlier on"]),
    (r"\byesterday\b", ["the other day", "last night"]),
    (r"\bbank\b", ["Northwind", "you guys"]),
    (r"\bsee\b", ["notice", "spot"]),
    (r"\bnow\b", ["at this point", "right now"]),
    (r"\bwhat\b", ["which", "what exactly"]),
    (r"\bknow\b", ["find out", "understand"]),
    (r"\bstill\b", ["yet again", "even now"]),
    (r"\bworking\b", ["going through", "functioning"]),
    (r"\brefund\b", ["money back", "reimbursement"]),
    (r"\bverify\b", ["confirm", "prove"]),
    (r"\bclose\b", ["shut down", "terminate"]),
    (r"\bthink\b", ["believe", "reckon"]),
    (r"\bpending\b", ["stuck", "on hold"]),
]

CONTRACTIONS = [
    ("I am", "I'm"),
    ("I have", "I've"),
    ("do not", "don't"),
    ("does not", "doesn't"),
    ("did not", "didn't"),
    ("cannot", "can't"),
    ("it is", "it's"),
    ("have not", "haven't"),
    ("has not", "hasn't"),
    ("I would", "I'd"),
]

POLITE = re.compile(
    r"^(hi|hello|hey|good (morning|afternoon|evening))[,!. ]*(there[,!. ]*)?|\b(please|thanks|thank you)\b[,.!]?",
    re.IGNORECASE,
)
FORMAL_OPENERS = [
    "Good morning.",
    "Hello, I hope you can help me.",
    "To the Northwind support team:",
    "Good afternoon. I am writing to ask about the following.",
]
FORMAL_CLOSERS = [
    "Thank you in advance for your assistance.",
    "I would be grateful for a prompt reply.",
    "Kind regards.",
    "Many thanks for looking into this.",
]
FRUSTRATED_OPENERS = [
    "This is getting ridiculous.",
    "Honestly, I'm losing my patience here.",
    "Third time asking now.",
    "Seriously?",
    "I'm really not happy.",
]
FRUSTRATED_CLOSERS = ["Sort it out!", "Why is this so hard?", "I need an answer today.", "Fix this please!!"]
EMPATHY = [
    "I'm sorry this has been so frustrating, and thank you for your patience.",
    "I understand how annoying this is, and I'm sorry for the trouble.",
    "I'm sorry for the hassle. Let's get this sorted.",
]
SITUATIONS = [
    "I'm travelling abroad at the moment and",
    "Quick question while I'm on my lunch break:",
    "I'm on the train with bad signal, so sorry if this sends twice, but",
    "My partner normally handles this, but",
    "I've just moved house and",
    "I'm using the app on a new phone and",
]
FILLERS = ["um", "like", "so", "pls", "basically", "erm", "idk", "tbh"]
# Words a hurried customer leaves out (never negations: they carry the meaning).
DROPPABLE = frozenset(
    {"i", "my", "the", "a", "an", "have", "has", "been", "is", "am", "are", "it", "that", "this", "to", "of",
     "for", "and", "so", "just", "really", "could", "would", "there", "any", "some", "please", "do", "does",
     "did", "was", "were", "me"}
)  # fmt: skip
SLANG = {
    "you": "u", "your": "ur", "please": "pls", "thanks": "thx", "because": "cos", "okay": "ok",
    "don't": "dont", "can't": "cant", "i'm": "im", "what": "wat", "are": "r", "tomorrow": "tmrw",
    "message": "msg", "account": "acc", "transaction": "txn", "before": "b4", "see": "c",
}  # fmt: skip
KEYBOARD_NEIGHBOURS = {
    "a": "sq", "b": "vn", "c": "xv", "d": "sf", "e": "wr", "f": "dg", "g": "fh", "h": "gj", "i": "uo",
    "j": "hk", "k": "jl", "l": "k", "m": "n", "n": "bm", "o": "ip", "p": "o", "q": "w", "r": "et",
    "s": "ad", "t": "ry", "u": "yi", "v": "cb", "w": "qe", "x": "zc", "y": "tu", "z": "x",
}  # fmt: skip

TextTransform = Callable[[str, random.Random, float], str]


def _strength(temperature: float) -> float:
    """Map temperature to a perturbation probability in [0.15, 0.9]."""
    return min(0.9, max(0.15, 0.2 + 0.5 * temperature))


def lexical_swap(text: str, rng: random.Random, temperature: float) -> str:
    """Reword: bank-domain synonyms and phrasings, and the question moved to the front."""
    p = 0.5 + 0.4 * min(temperature, 1.0)
    for pattern, choices in SYNONYMS:
        if rng.random() < p:
            replacement = rng.choice(choices)
            text = re.sub(pattern, lambda m, r=replacement: _match_case(m.group(0), r), text, flags=re.IGNORECASE)
    sentences = _sentences(text)
    if len(sentences) > 1 and rng.random() < p:
        questions = [s for s in sentences if s.endswith("?")]
        if questions:
            first = questions[-1]
            sentences = [first] + [s for s in sentences if s is not first]
    return " ".join(sentences)


def casual_short(text: str, rng: random.Random, temperature: float) -> str:
    """Telegraphic: greetings and function words dropped, texting abbreviations, lowercase."""
    for full, short in CONTRACTIONS:
        text = re.sub(rf"\b{full}\b", short, text, flags=re.IGNORECASE)
    sentences = _sentences(POLITE.sub("", text).strip(" ,.!"))
    if len(sentences) > 2:
        questions = [s for s in sentences if s.endswith("?")]
        sentences = questions[-1:] + [s for s in sentences if not s.endswith("?")][:1]
    p = _strength(temperature)
    kept = []
    for word in " ".join(sentences).split():
        bare = word.lower().strip(",.!?")
        if bare in DROPPABLE and rng.random() < p:
            continue
        kept.append(SLANG.get(bare, word) if rng.random() < p else word)
    text = " ".join(kept).rstrip(".").lower()
    return text if rng.random() < 0.5 else f"{rng.choice(['hey', 'hi', 'quick one', 'ok so'])} {text}"


def formal_verbose(text: str, rng: random.Random, temperature: float) -> str:
    """Formal register: contractions expanded, an opener and a closing courtesy."""
    for full, short in CONTRACTIONS:
        text = re.sub(re.escape(short), full, text, flags=re.IGNORECASE)
    text = POLITE.sub("", text).strip(" ,")
    text = text[:1].upper() + text[1:]
    if not text.endswith((".", "?", "!")):
        text += "."
    parts = [rng.choice(FORMAL_OPENERS), text]
    if rng.random() < 0.5 + 0.4 * min(temperature, 1.0):
        parts.append(rng.choice(FORMAL_CLOSERS))
    return " ".join(parts)


def noisy_typing(text: str, rng: random.Random, temperature: float) -> str:
    """Typing noise as in logged traffic: typos, dropped punctuation, casing, filler words."""
    typo_rate = 0.1 + 0.12 * min(temperature, 1.5)
    out = []
    for word in text.split():
        bare = word.lower().strip(",.!?")
        if bare in SLANG and rng.random() < 0.5:
            word = SLANG[bare]
        elif len(word) > 3 and rng.random() < typo_rate:
            word = _typo(word, rng)
        out.append(word)
        if rng.random() < typo_rate / 3:
            out.append(rng.choice(FILLERS))
    text = " ".join(out)
    if rng.random() < 0.6:
        text = re.sub(r"[.,;:]", "", text)
    if rng.random() < 0.6:
        text = text.lower()
    if rng.random() < 0.3:
        text = text.replace("?", "??")
    return text


def frustrated(text: str, rng: random.Random, temperature: float) -> str:
    """Angry register: a complaint before, a demand after, some shouting."""
    words = POLITE.sub("", text).strip(" ,").split()
    shout = min(0.25, 0.05 + 0.1 * temperature)
    words = [w.upper() if len(w) > 3 and rng.random() < shout else w for w in words]
    text = " ".join(words).rstrip(".")
    return f"{rng.choice(FRUSTRATED_OPENERS)} {text}! {rng.choice(FRUSTRATED_CLOSERS)}"


def situational(text: str, rng: random.Random, temperature: float) -> str:
    """Add a situation the customer is in, without changing what they ask."""
    situation = rng.choice(SITUATIONS)
    body = POLITE.sub("", text).strip(" ,")
    body = body[:1].lower() + body[1:] if body[:2] != "I " else body
    return f"{situation} {body}"


def _sentences(text: str) -> list[str]:
    return [s for s in re.split(r"(?<=[.!?])\s+", text.strip()) if s]


def _typo(word: str, rng: random.Random) -> str:
    i = rng.randrange(1, len(word) - 1)
    kind = rng.randrange(4)
    if kind == 0:
        return word[:i] + word[i + 1] + word[i] + word[i + 2 :]
    if kind == 1:
        return word[:i] + word[i + 1 :]
    if kind == 2:
        return word[:i] + word[i] + word[i:]
    neighbours = KEYBOARD_NEIGHBOURS.get(word[i].lower())
    return word[:i] + (rng.choice(neighbours) if neighbours else word[i]) + word[i + 1 :]


def _tidy_spacing(text: str) -> str:
    """Undo the gaps that removing words leaves: no space before punctuation, single spaces."""
    text = re.sub(r"\s+([?!.,;:])", r"\1", text)
    return re.sub(r"[ \t]{2,}", " ", text).strip()


def _match_case(original: str, replacement: str) -> str:
    if original.isupper() and len(original) > 1:
        return replacement.upper()
    if original[:1].isupper():
        return replacement[:1].upper() + replacement[1:]
    return replacement


def _with_empathy(reply: str, rng: random.Random) -> str:
    if re.match(r"^(i'm|i am|we're|we are)?\s*(so |really |very )?sorry", reply, re.IGNORECASE):
        return reply
    return f"{rng.choice(EMPATHY)} {reply}"


TEMPLATES: dict[str, TextTransform] = {
    "lexical_swap": lexical_swap,
    "casual_short": casual_short,
    "formal_verbose": formal_verbose,
    "noisy_typing": noisy_typing,
    "frustrated": frustrated,
    "situational": situational,
}
# Templates whose customer is upset get an acknowledging first sentence in the reply.
EMPATHY_TEMPLATES = {"frustrated"}


def template_hash(template_id: str) -> str:
    """Hash of the template's code and the shared word lists: changes when the template does."""
    source = inspect.getsource(TEMPLATES[template_id])
    tables = [SYNONYMS, CONTRACTIONS, FORMAL_OPENERS, FORMAL_CLOSERS, FRUSTRATED_OPENERS, FRUSTRATED_CLOSERS]
    words = [SITUATIONS, FILLERS, EMPATHY, sorted(DROPPABLE), SLANG]
    return sha256_hex([GENERATOR_VERSION, source, tables, words])[:16]


def assign_template(templates: list[str], params_seed: int, seed_id: str, variation: int) -> str:
    """Rotate templates across variations from a per-seed offset, so no template dominates."""
    offset = int_seed(params_seed, seed_id, "template-offset") % len(templates)
    return templates[(offset + variation) % len(templates)]


def vary(seed_row: dict[str, Any], template_id: str, temperature: float, sampling_seed: int) -> list[dict[str, str]]:
    """The varied messages of one seed row (user turns rewritten, replies kept)."""
    rng = random.Random(sampling_seed)
    transform = TEMPLATES[template_id]
    messages = []
    acknowledged = template_id not in EMPATHY_TEMPLATES
    rewrote_user = False
    for message in seed_row["messages"]:
        content = message["content"]
        if message["role"] == "user" and not rewrote_user:
            # Only the opening turn: a reply to a clarifying question would not restate the situation.
            content = _tidy_spacing(transform(content, rng, temperature))
            rewrote_user = True
        elif message["role"] == "assistant" and not acknowledged:
            content = _with_empathy(content, rng)
            acknowledged = True
        messages.append({"role": message["role"], "content": content})
    return messages
