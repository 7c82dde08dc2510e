"""The word-salad check: a sentence that is a run of content words with no function word.

A weak or over-heated teacher can write "Envelope partner urgent screen friend office airport weekend
garden." before a customer's request: English words, English script, no repeated n-gram, so
the language and repetition checks pass it. English grammar needs closed-class words (articles,
pronouns, prepositions, auxiliaries, conjunctions: `FUNCTION_WORDS`) to join content words, and even
a telegraphic real query keeps one within a few words ("order late, why?"; "app crash login screen"
is four words). So a turn is word salad when one of its clauses, the words between two
punctuation marks or line breaks, holds `min_words` or more words and not one function word of
English (nor of a language the language check knows, so a foreign clause is that check's to name).

Measured (`python -m bench.bench_filter salad`, BENCHMARKS.md): in the 14,065 real texts of the
shipped seeds (736 turns, replies included), examples/travel (246) and a public benchmark of
real customer queries (13,083; the data set is named in BENCHMARKS.md)
the longest such clause is 5 words (two texts of each set), and each extra word
divides the count by three or four (3+ words: 75 texts, 4+: 25, 5+: 6, 6+: 0). The default
`min_words` of 8 is three words past the longest real clause, room for a telegraphic "urgent login
broken need help today asap" (7), and one under the nine-word salad of the fake teacher
(tests/openai_server.py); the built-in generator's variations reach 5. A clause of other scripts
(Cyrillic, Han...) is left to the language check. No part-of-speech test: a suffix rule ("-ed",
"-ing") reads "morning" and "worried" as verbs, and an offline tagger needs a model download
(stages/filter/grammar.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import regex
from pydantic import Field

from stages.core.params import Section
from stages.filter.checks.base import Check, Row
from stages.filter.checks.language import language_of

# English closed classes: articles and determiners, pronouns, prepositions, conjunctions, auxiliaries
# and modals, wh-words, "not", existential "there"; with their contractions, spelt with or without the
# apostrophe, and texting spellings (u, ur, im, cos). Open-class adverbs ("still", "again", "never")
# are not here: a salad of content words may hold them.
_CLOSED_CLASSES = """
    a an the this that these those some any no every each all both either neither another other such
    what which whose who whom whatever whichever how why when where whether if
    i me my mine myself we us our ours ourselves you your yours yourself yourselves he him his himself
    she her hers herself it its itself they them their theirs themselves one ones
    someone something somebody anyone anything anybody everyone everything everybody nobody nothing
    am is are was were be been being do does did doing have has had having
    will would shall should can could may might must ought cannot
    to of in on at by for with from about as into onto over under after before since until till through
    during without within between among against toward towards up down out off above below upon via per
    than like across around behind beside near past
    and or but nor so yet because though although while whereas unless once
    not there
    i'm i've i'd i'll you're you've you'd you'll he's she's it's we're we've we'd we'll they're they've
    they'd they'll that's there's what's who's where's how's why's here's let's
    don't doesn't didn't isn't aren't wasn't weren't haven't hasn't hadn't won't wouldn't can't couldn't
    shouldn't mustn't
    im ive id ill youre youve dont doesnt didnt isnt arent wasnt werent havent hasnt hadnt wont wouldnt
    cant couldnt shouldnt thats theres whats u ur cos coz
"""
FUNCTION_WORDS = frozenset(_CLOSED_CLASSES.split())
# A clause ends at any mark that is not part of a word (an apostrophe or hyphen is) or at a line break.
_CLAUSE_BREAK = regex.compile(r"[^\w\s'’-]+|\n")
_WORD = regex.compile(r"[\p{L}\p{N}]+(?:[-'’][\p{L}\p{N}]+)*")
_NOT_LATIN_LETTER = regex.compile(r"(?V1)[\p{L}--\p{Latin}]")


class WordSaladParams(Section):
    """`filter.word_salad`: how many words without a function word one clause may hold."""

    min_words: int = Field(default=8, ge=2)


def salad_clause(text: str, min_words: int) -> list[str] | None:
    """The words of the first clause of `text` with `min_words` or more words and no function word
    (English or of a language the language check knows), or None. Clauses with letters of a non-Latin
    script are not judged."""
    for clause in _CLAUSE_BREAK.split(text):
        found = _WORD.findall(clause)
        if len(found) < min_words or (not clause.isascii() and _NOT_LATIN_LETTER.search(clause)):
            continue
        if not any(_is_function_word(word.lower().replace("’", "'")) for word in found):
            return found
    return None


def _is_function_word(word: str) -> bool:
    return word in FUNCTION_WORDS or language_of(word) not in (None, "English")


@dataclass(frozen=True)
class WordSaladCheck(Check):
    """Rejects a row with a user or assistant clause of `min_words`+ words and no function word."""

    name: ClassVar[str] = "word_salad"
    Params: ClassVar[type[Section]] = WordSaladParams
    run_order: ClassVar[int] = 65

    params: WordSaladParams

    def check(self, row: Row) -> str | None:
        """`word_salad: <role> text has N words with no function word: '<the words>'`, else None."""
        for message in row["messages"]:
            if message["role"] == "system":
                continue
            found = salad_clause(message["content"], self.params.min_words)
            if found:
                quoted = " ".join(found[:12]) + (" ..." if len(found) > 12 else "")
                return f"word_salad: {message['role']} text has {len(found)} words with no function word: {quoted!r}"
        return None
