"""The encoding hint (core.encoding, in core.files' errors): how often the encodings it names read a file right.

    python -m bench.bench_encoding_hint

For each text of tests/encoding_texts.py (sentences and single words, in cp1252, cp1250, shift_jis, gbk
and cp1251; alone, in a CSV cell, in a JSONL line) saved in its encoding: whether one of the encodings the
hint names decodes the file to the original text, and how many it names; for the hint as built
(core.encoding.guess_encodings, with SECOND_ENCODING at 0.7, 0.85 and 0.95, and without the
FEW_TELLING_BYTES rule) and, in the same run, the one it replaced (charset-normalizer's best guess for the whole file;
charset-normalizer is installed with requests, which dvc needs).
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path

from charset_normalizer import from_path

from stages.core import encoding as encoding_hint
from stages.core.errors import run_main
from tests.encoding_texts import CONTEXTS, SENTENCES, WORDS, placed


def _before(path: Path) -> list[str]:
    best = from_path(path).best()
    return [best.encoding] if best is not None else []


def _now(path: Path) -> list[str]:
    guess = encoding_hint.guess_encodings(path)
    return list(guess.encodings) if guess is not None else []


def score(
    texts: dict[str, list[str]], hint: Callable[[Path], list[str]], scratch: Path
) -> tuple[int, int, int, int, int]:
    """(files, files whose named encodings include one that reads them right, files named one right
    encoding alone, files named two encodings, files named three)."""
    total = right = alone = two = three = 0
    for encoding, items in texts.items():
        for text in items:
            for context in CONTEXTS:
                original = placed(text, context)
                path = scratch / "file.txt"
                path.write_bytes(original.encode(encoding))
                named = hint(path)
                reads = [name for name in named if path.read_bytes().decode(name, errors="replace") == original]
                total += 1
                right += bool(reads)
                alone += bool(reads) and len(named) == 1
                two += len(named) == 2
                three += len(named) == 3
    return total, right, alone, two, three


VARIANTS = ((0.70, 3), (0.85, 3), (0.95, 3), (0.85, 0))  # (SECOND_ENCODING, FEW_TELLING_BYTES); 0: no such rule


def main() -> None:
    """Print one line per hint and text set."""
    with tempfile.TemporaryDirectory() as scratch:
        for label, texts in (("sentences", SENTENCES), ("words", WORDS)):
            total, right, alone, _, _ = score(texts, _before, Path(scratch))
            print(f"{label:9} charset-normalizer (before)   right among named {right}/{total}, right alone {alone}")
            for second, few in VARIANTS:
                encoding_hint.SECOND_ENCODING, encoding_hint.FEW_TELLING_BYTES = second, few
                total, right, alone, two, three = score(texts, _now, Path(scratch))
                name = f"chardet {second:.2f}, few bytes {few}"
                print(
                    f"{label:9} {name:29} right among named {right}/{total}, right alone {alone}, "
                    f"two named {two}, three named {three}"
                )
    encoding_hint.SECOND_ENCODING, encoding_hint.FEW_TELLING_BYTES = 0.85, 3


if __name__ == "__main__":
    run_main(main)
