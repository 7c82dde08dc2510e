"""English rules the templates apply so that a rewording stays grammatical.

- contractions made ("do not" -> "don't") only where English allows it (not at the end of a clause:
  "Yes, I am."), and undone ("It's been" -> "It has been", "I'd ordered" -> "I had ordered") except
  in a question's inversion ("Why hasn't it..." stays: "Why has not it" is not English);
- politeness removed only where it is politeness: a greeting that opens the text, "please" next to
  the request, a thank-you that is its own sentence; never a phrase the customer is asking about
  ("what is thank you in Spanish" keeps its words);
- "a"/"an" agreeing with the next word after a substitution; spacing tidied after removals.
"""

from __future__ import annotations

import re

_SUBJECTS = r"(?:i|you|he|she|it|we|they|this|that|there|my|your|the|a|an|its|their|our|his|her|anyone|someone)"
_PARTICIPLES = (
    "been|got|gotten|had|gone|done|taken|come|become|arrived|happened|sent|said|shown|left|stopped|"
    "worked|received|made|given|seen|heard|tried|asked|paid|charged|moved|changed|lost|used|put|set"
)
# Full form -> contraction, made only when the next word goes on the clause (not "Yes, I am.").
_MAKE = [
    (r"\bI am\b", "I'm"), (r"\byou are\b", "you're"), (r"\bwe are\b", "we're"), (r"\bthey are\b", "they're"),
    (r"\bit is\b", "it's"), (r"\bthat is\b", "that's"), (r"\bthere is\b", "there's"), (r"\bwhat is\b", "what's"),
    (r"\bdo not\b", "don't"), (r"\bdoes not\b", "doesn't"), (r"\bdid not\b", "didn't"), (r"\bis not\b", "isn't"),
    (r"\bare not\b", "aren't"), (r"\bwas not\b", "wasn't"), (r"\bwere not\b", "weren't"),
    (r"\bhave not\b", "haven't"), (r"\bhas not\b", "hasn't"), (r"\bhad not\b", "hadn't"), (r"\bcannot\b", "can't"),
    (r"\bwill not\b", "won't"), (r"\bwould not\b", "wouldn't"), (r"\bcould not\b", "couldn't"),
    (r"\bshould not\b", "shouldn't"), (r"\bI would\b", "I'd"), (r"\bI will\b", "I'll"),
    (rf"\bI have(?= (?:{_PARTICIPLES}|just|already|never|not|been)\b)", "I've"),
]  # fmt: skip
_NOT_FORMS = {
    "don't": "do not", "doesn't": "does not", "didn't": "did not", "isn't": "is not", "aren't": "are not",
    "wasn't": "was not", "weren't": "were not", "haven't": "have not", "hasn't": "has not", "hadn't": "had not",
    "can't": "cannot", "won't": "will not", "wouldn't": "would not", "couldn't": "could not",
    "shouldn't": "should not", "mustn't": "must not", "needn't": "need not",
}  # fmt: skip
_NOT_CONTRACTION = re.compile(r"\b(" + "|".join(re.escape(k) for k in _NOT_FORMS) + r")(?!\s+" + _SUBJECTS + r"\b)",
                              re.IGNORECASE)  # fmt: skip
_PRONOUN_CONTRACTION = re.compile(r"\b(I|you|we|they|he|she|it|that|there|what|who|where)'(m|re|ve|ll|s|d)\b",
                                  re.IGNORECASE)  # fmt: skip
_HAS_NEXT = re.compile(rf"\s+(?:(?:just|already|never|not|also|still|only)\s+)?(?:{_PARTICIPLES}|\w+ed)\b", re.I)
_GREETING = re.compile(
    r"^\s*(?:hi|hello|hey|hiya|dear \w+|good (?:morning|afternoon|evening))(?: there| team| guys| all)?"
    r"(?:\s*[,!.:-]+\s*|\s+(?=\w))",
    re.IGNORECASE,
)
_PLEASE = [
    re.compile(r"^(\s*)please,?\s+(?=[a-z])", re.IGNORECASE),  # "Please stop the payment"
    re.compile(r"\b((?:can|could|would|will) (?:you|u)) please\b", re.IGNORECASE),  # "can you please..."
    re.compile(r",?\s+please(?=\s*[?.!]*\s*$)", re.IGNORECASE),  # "...for me please?"
    re.compile(r"([.!?] )please,?\s+(?=[a-z])", re.IGNORECASE),
]
# A thank-you that stands as its own sentence or closes the text ("..., thanks!").
_THANKS = re.compile(
    r"(?:^|(?<=[.!?])\s+|,\s+)(?:(?:many |thanks? )?thanks(?: a lot| so much| in advance)?"
    r"|thank (?:you|u)(?: so much| very much| in advance)?|cheers|ta|thx|thnx|thanx|tysm|ty)"
    r"(?: for (?:your|the|any) help)?\s*[.!]*(?=\s*$|\s+(?-i:[A-Z]))",
    re.IGNORECASE,
)
_VOWEL_SOUND = re.compile(r"^(?:[aeio]|u(?![nr]i|se|su|tu|ni|ro|k\b)|hour|honest|heir)", re.IGNORECASE)
_ARTICLE = re.compile(r"\b(a|an|A|An)\s+([A-Za-z][\w'-]*)")


def make_contractions(text: str) -> str:
    """Contract full forms where the clause goes on after them; keeps the first letter's case."""
    for pattern, short in _MAKE:
        text = re.sub(
            pattern + r"(?=\s+[A-Za-z\d£$€])(?!\s+(?:it|this|that|he|she|they|you|we|i|there)\s*(?:[?.!,]|$))",
            lambda m, s=short: s[:1].upper() + s[1:] if m.group(0)[:1].isupper() else s,
            text,
            flags=re.IGNORECASE if not pattern.startswith(r"\bI ") else 0,
        )
    return text


def _expand_pronoun(match: re.Match[str]) -> str:
    pronoun, ending = match.group(1), match.group(2).lower()
    text_after = match.string[match.end() :]
    if ending == "s":
        if pronoun.lower() in ("what", "who", "where") and not _HAS_NEXT.match(text_after):
            return f"{pronoun} is"
        return f"{pronoun} has" if _HAS_NEXT.match(text_after) else f"{pronoun} is"
    if ending == "d":
        return f"{pronoun} had" if _HAS_NEXT.match(text_after) else f"{pronoun} would"
    full = {"m": "am", "re": "are", "ve": "have", "ll": "will"}[ending]
    return f"{pronoun} {full}"


def undo_contractions(text: str) -> str:
    """Expand contractions the way a formal writer would; a question's inversion keeps its contraction."""
    text = text.replace("’", "'")

    def not_form(match: re.Match[str]) -> str:
        full = _NOT_FORMS[match.group(1).lower()]
        return full[:1].upper() + full[1:] if match.group(1)[:1].isupper() else full

    text = _NOT_CONTRACTION.sub(not_form, text)
    return _PRONOUN_CONTRACTION.sub(_expand_pronoun, text)


def strip_politeness(text: str) -> str:
    """`text` without an opening greeting, a request's "please" and a closing thank-you (see the module)."""
    stripped = _GREETING.sub("", text, count=1)
    if len(stripped.split()) >= 3:
        text = stripped
    for pattern in _PLEASE:
        text = pattern.sub(lambda m: m.group(1) if m.groups() else "", text)
    without_thanks = _THANKS.sub(lambda m: "." if m.group(0).startswith(",") else "", text)
    if len(without_thanks.split()) >= 3:
        text = without_thanks
    return capitalise_first(tidy_spacing(text))


def fix_articles(text: str) -> str:
    """ "a" before a vowel sound becomes "an" and "an" before a consonant "a" (after word swaps)."""

    def agree(match: re.Match[str]) -> str:
        article, word = match.group(1), match.group(2)
        wanted = "an" if _VOWEL_SOUND.match(word) and not word.isupper() else "a"
        if word.isupper() and len(word) > 1:  # acronyms are read letter by letter: "an ATM", "a UK bank"
            wanted = "an" if word[0] in "AEFHILMNORSX" else "a"
        if article.lower() == wanted:
            return match.group(0)
        return f"{wanted.capitalize() if article[0].isupper() else wanted} {word}"

    return _ARTICLE.sub(agree, text)


def sentences(text: str) -> list[str]:
    """The sentences of `text` (split after . ! ? followed by a space), trimmed."""
    return [part for part in re.split(r"(?<=[.!?])\s+", text.strip()) if part]


def tidy_spacing(text: str) -> str:
    """No space before punctuation, no doubled commas or spaces, no leading punctuation."""
    text = re.sub(r"\s+([?!.,;:])", r"\1", text)
    text = re.sub(r",\s*([,.!?])", r"\1", text)
    text = re.sub(r"[ \t]{2,}", " ", text)
    return text.strip().lstrip(",;: ")


def capitalise_first(text: str) -> str:
    """The first letter upper-case (a lowercase opener after a removed greeting)."""
    for index, char in enumerate(text):
        if char.isalpha():
            return text[:index] + char.upper() + text[index + 1 :]
        if not char.isspace() and char not in "\"'“(":
            return text
    return text


def after_opener(opener: str | None, text: str) -> str:
    """`opener` and `text` joined; after an opener ending with a comma the text goes on in lower case
    ("Dear team, sent 80 quid..."), unless it starts with "I" or an acronym."""
    if not opener:
        return text
    first = text.split(" ", 1)[0].strip(",.!?")
    if opener.endswith(",") and first[:1].isupper() and not (first.isupper() or re.match(r"I\b", first)):
        text = text[:1].lower() + text[1:]
    return f"{opener} {text}"


_QUESTION = re.compile(r"^(?:can|could|would|will|how|what|why|when|where|which|who|is|are|do|does|did)\b", re.I)


def end_sentence(text: str) -> str:
    """`text` ending with sentence punctuation: a question mark after a question's opening word, else a stop."""
    text = text.rstrip()
    if text.endswith((".", "?", "!", ":")) or not text:
        return text
    return text + ("?" if _QUESTION.match(text) else ".")
