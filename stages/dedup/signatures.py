"""Phase 1, signatures: words, shingles and MinHash signatures, vectorised over a batch of rows.

Shingles are n-grams of `tokens(text)` (core.text: words, or a wordless text's visible characters).
Words are found and hashed in numpy, on the bytes of a whole batch at once (no Python object per word:
ASCII texts with a word, the common case, are lowercased as bytes; other texts go through `tokens()`
first, so the tokens are the same in every script). A word's 64-bit hash is a
polynomial over its bytes, finalised with MurmurHash3's fmix64; an n-gram's 32-bit hash combines its
words' hashes (a position-weighted sum mod 2^64, folded to 32 bits). So the batch path never builds
n-gram strings, while `shingle_hash` stays a function of the shingle's bytes that datasketch can call.

Signatures are bit-identical to datasketch's `MinHash(num_perm, seed=1, hashfunc=shingle_hash,
scheme="affine32")` updated with `shingles(text, ngram)` (tests check this); they are computed in a
(num_perm x shingles) layout, a few thousand shingles per block, as measured fastest in
../shared/notes/dedup.md. A b-bit sketch (the low 4 bits of each signature value) is kept per row for
the candidate screen. The pure-Python functions (`word_hash`, `shingle_hash`, `shingles`,
`shingle_set`, `exact_key`) are the reference the numpy path is tested against.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from datasketch import MinHash

from stages.core.text import tokens
from stages.dedup.arrays import (
    MASK32,
    MASK64,
    fmix32,
    fmix64,
    fmix64_int,
    fold32,
    ragged_ranges,
    sorted_unique,
    splitmix64,
)

PERMUTATION_SEED = 1
EMPTY_SHINGLE = b"\x00"  # stands for "no words" so that empty texts still get a signature
MAX_NGRAM = 16
SIGNATURE_BLOCK = 8192  # shingles per numpy block: 128 x 8192 uint32 = 4 MB, cache-friendly

# One multiplier per word position in an n-gram, so "card lost" and "lost card" hash differently.
POSITION_MULTIPLIERS = splitmix64(MAX_NGRAM, salt=4)
_POSITION_INTS = [int(value) for value in POSITION_MULTIPLIERS]

WORD_PRIME = 0x100000001B3  # odd: a word's bytes are the coefficients of a polynomial in it
EXACT_PRIME = 0x9E3779B97F4A7C15  # odd: a row's word hashes, likewise, for the exact-match key
_LENGTH_SALT = 0xC2B2AE3D27D4EB4F


# --- reference (pure Python): what the numpy path must equal -----------------------------------------


def word_hash(word: bytes) -> int:
    """64-bit hash of one word's UTF-8 bytes (the reference for the numpy path in `tokenise`)."""
    total, power = 0, 1
    for byte in word:
        total = (total + byte * power) & MASK64
        power = (power * WORD_PRIME) & MASK64
    return fmix64_int((total + len(word) * _LENGTH_SALT) & MASK64)


def shingle_hash(shingle: bytes) -> int:
    """32-bit hash of a shingle (space-joined words): the `hashfunc` to give datasketch."""
    total = 0
    for position, word in enumerate(shingle.split(b" ")):
        total = (total + word_hash(word) * _POSITION_INTS[position]) & MASK64
    return (total ^ (total >> 32)) & MASK32


def shingles(text: str, ngram: int) -> list[bytes]:
    """Word n-grams of the normalised text as UTF-8 bytes (the whole text if it is shorter than
    `ngram` words; [EMPTY_SHINGLE] if it has no words)."""
    found = tokens(text)
    if not found:
        return [EMPTY_SHINGLE]
    if len(found) <= ngram:
        return [" ".join(found).encode("utf-8")]
    return [" ".join(found[i : i + ngram]).encode("utf-8") for i in range(len(found) - ngram + 1)]


def shingle_set(text: str, ngram: int) -> frozenset[int]:
    """The text's set of 32-bit shingle hashes (what `shingle_sets` computes for a whole batch)."""
    return frozenset(shingle_hash(s) for s in shingles(text, ngram))


def exact_key(text: str) -> int:
    """The 64-bit exact-match key `tokenise` gives this text (reference implementation, for tests)."""
    total = 0
    found = tokens(text)
    for position, token in enumerate(found):
        total = (total + word_hash(token.encode("utf-8")) * pow(EXACT_PRIME, position, 1 << 64)) & MASK64
    return fmix64_int((total + len(found) * _LENGTH_SALT) & MASK64)


# --- words of a batch ----------------------------------------------------------------------------------


class _Powers:
    """prime^0, prime^1, ... mod 2^64 (or the inverse prime's), grown on demand."""

    def __init__(self, prime: int, inverse: bool = False) -> None:
        self.factor = pow(prime, -1, 1 << 64) if inverse else prime
        self.values = np.ones(1, dtype=np.uint64)

    def __call__(self, count: int) -> np.ndarray:
        if len(self.values) < count:
            factors = np.full(max(count, 2 * len(self.values)), self.factor, dtype=np.uint64)
            factors[0] = 1
            self.values = np.cumprod(factors, dtype=np.uint64)
        return self.values


_WORD_POWERS = _Powers(WORD_PRIME)
_WORD_INVERSE_POWERS = _Powers(WORD_PRIME, inverse=True)
_EXACT_POWERS = _Powers(EXACT_PRIME)
_TOKENISE_BYTES = 1 << 20  # text per numpy pass: bounds the power tables (2 x 8 bytes per byte of text)
# Bytes that belong to words once text is lowercased: [a-z0-9_] as in `words()`, and every byte of a
# multi-byte UTF-8 character (non-ASCII texts only get here as `tokens()` joined by spaces); apostrophes
# belong to a word only inside it ("don't"; 'quoted' is `quoted`).
_WORD_BYTE = np.array([chr(b).isalnum() or chr(b) == "_" if b < 128 else True for b in range(256)], dtype=bool)
_APOSTROPHE = ord("'")
_ROW_SEPARATOR = b"\x00"
_HAS_ASCII_WORD = re.compile(r"[A-Za-z0-9_]")


@dataclass
class TokenisedBatch:
    """The word hashes of a batch of texts, row after row, and one exact-match key per row."""

    word_hashes: np.ndarray  # uint64, every word of every row, in order
    starts: np.ndarray  # int64, rows + 1 offsets into word_hashes
    exact_keys: np.ndarray  # uint64 per row: equal iff the rows' `match_key` texts are equal (64-bit hash)

    def __len__(self) -> int:
        return len(self.starts) - 1

    def row(self, index: int) -> np.ndarray:
        """The word hashes of row `index` (uint64, one per word, in order)."""
        return self.word_hashes[self.starts[index] : self.starts[index + 1]]


def _normalised(text: str) -> str:
    """Text whose lowercased bytes split into exactly the tokens of `tokens(text)`."""
    if text.isascii() and _HAS_ASCII_WORD.search(text):  # NFKC and casefold leave ASCII as lowercase does
        return text.replace("\x00", " ")
    return " ".join(tokens(text))


def tokenise(texts: Sequence[str]) -> TokenisedBatch:
    """The tokens of each text (`tokens()`) as 64-bit hashes, and each text's exact-match key.
    Text is processed about 1 MB at a time (~2.3 us per 30-word row, BENCHMARKS.md)."""
    encoded = [_normalised(text).encode("utf-8") for text in texts]
    parts, start, size = [], 0, 0
    for end, piece in enumerate(encoded):
        size += len(piece) + 1
        if size > _TOKENISE_BYTES and end > start:
            parts.append(_tokenise_bytes(encoded[start:end]))
            start, size = end, len(piece) + 1
    parts.append(_tokenise_bytes(encoded[start:]))
    if len(parts) == 1:
        return parts[0]
    counts = np.concatenate([np.diff(part.starts) for part in parts])
    starts = np.zeros(len(counts) + 1, dtype=np.int64)
    np.cumsum(counts, out=starts[1:])
    return TokenisedBatch(
        np.concatenate([part.word_hashes for part in parts]),
        starts,
        np.concatenate([part.exact_keys for part in parts]),
    )


def _word_bytes(buffer: np.ndarray) -> np.ndarray:
    """Whether each byte belongs to a word: a word byte, or an apostrophe in a run of them with a word
    byte on both sides (as `words()` reads "didn''t")."""
    inside = _WORD_BYTE[buffer]
    quotes = buffer == _APOSTROPHE
    if not quotes.any():
        return inside
    index = np.arange(len(buffer))
    before = np.maximum.accumulate(np.where(quotes, -1, index))  # last other byte at or before each byte
    after = np.minimum.accumulate(np.where(quotes, len(buffer), index)[::-1])[::-1]  # first at or after
    enclosed = quotes & (before >= 0) & (after < len(buffer))
    spots = np.flatnonzero(enclosed)
    inside[spots] = inside[before[spots]] & inside[after[spots]]
    return inside


def _tokenise_bytes(pieces: list[bytes]) -> TokenisedBatch:
    buffer = np.frombuffer(_ROW_SEPARATOR.join(pieces).lower(), dtype=np.uint8)
    edges = np.diff(_word_bytes(buffer).astype(np.int8), prepend=np.int8(0), append=np.int8(0))
    word_starts, word_ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    lengths = word_ends - word_starts
    # sum(byte_k * prime^k) over each word, k from the word's first byte: a difference of prefix sums
    # of byte_i * prime^i, times prime^-start (odd primes are invertible mod 2^64)
    prefix = np.zeros(len(buffer) + 1, dtype=np.uint64)
    np.cumsum(buffer * _WORD_POWERS(len(buffer))[: len(buffer)], out=prefix[1:])
    totals = (prefix[word_ends] - prefix[word_starts]) * _WORD_INVERSE_POWERS(len(buffer))[word_starts]
    hashes = fmix64(totals + lengths.astype(np.uint64) * np.uint64(_LENGTH_SALT))

    rows = len(pieces)
    row_of_word = np.searchsorted(np.flatnonzero(buffer == 0), word_starts)
    counts = np.bincount(row_of_word, minlength=rows).astype(np.int64)
    starts = np.zeros(rows + 1, dtype=np.int64)
    np.cumsum(counts, out=starts[1:])
    # exact key: the same kind of polynomial over the row's word hashes
    position = ragged_ranges(np.zeros(rows, dtype=np.int64), counts)  # of each word in its row
    terms = hashes * _EXACT_POWERS(int(counts.max(initial=1)))[position]
    row_totals = np.zeros(rows, dtype=np.uint64)
    filled = counts > 0
    if filled.any():
        row_totals[filled] = np.add.reduceat(terms, starts[:-1][filled])
    exact = fmix64(row_totals + counts.astype(np.uint64) * np.uint64(_LENGTH_SALT))
    return TokenisedBatch(hashes, starts, exact)


# --- shingles ------------------------------------------------------------------------------------------


def ngram_hashes(batch: TokenisedBatch, ngram: int, whole_short_rows: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """(64-bit n-gram hashes, their row numbers), uint64 and int64, for all rows; rows shorter than
    `ngram` words give one hash of their whole text if `whole_short_rows`, else none. Empty rows give
    none. ValueError unless 1 <= ngram <= MAX_NGRAM."""
    if not 1 <= ngram <= MAX_NGRAM:
        raise ValueError(f"ngram must be between 1 and {MAX_NGRAM}, got {ngram}")
    hashes, starts = batch.word_hashes, batch.starts
    lengths = np.diff(starts)
    windows = np.maximum(lengths - ngram + 1, 0)
    total = len(hashes) - ngram + 1
    if total > 0:
        combined = hashes[:total] * POSITION_MULTIPLIERS[0]
        for position in range(1, ngram):
            combined += hashes[position : position + total] * POSITION_MULTIPLIERS[position]
    else:
        combined = np.zeros(0, dtype=np.uint64)
    rows = np.repeat(np.arange(len(lengths), dtype=np.int64), windows)
    values = combined[ragged_ranges(starts[:-1], windows)]  # each row's windows start at its first word
    short = np.flatnonzero((lengths > 0) & (lengths < ngram)) if whole_short_rows else []
    if len(short):
        extra = []
        for row in short.tolist():
            total_hash = 0
            for position, value in enumerate(hashes[starts[row] : starts[row + 1]].tolist()):
                total_hash = (total_hash + value * _POSITION_INTS[position]) & MASK64
            extra.append(total_hash)
        values = np.concatenate([values, np.array(extra, dtype=np.uint64)])
        rows = np.concatenate([rows, short.astype(np.int64)])
    return values, rows


@dataclass
class ShingleSets:
    """Sorted distinct 32-bit shingle hashes per row, in one flat array (CSR layout)."""

    values: np.ndarray  # uint32
    offsets: np.ndarray  # int64, rows + 1

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def row(self, index: int) -> np.ndarray:
        """The sorted distinct shingle hashes of row `index` (uint32)."""
        return self.values[self.offsets[index] : self.offsets[index + 1]]


_EMPTY_HASH = shingle_hash(EMPTY_SHINGLE)


def shingle_sets(batch: TokenisedBatch, ngram: int) -> ShingleSets:
    """Each row's set of 32-bit shingle hashes (word n-grams; an empty row gets EMPTY_SHINGLE's hash,
    so every set has at least one member)."""
    values64, rows = ngram_hashes(batch, ngram)
    values = fold32(values64)
    empty = np.flatnonzero(np.diff(batch.starts) == 0)
    if len(empty):
        values = np.concatenate([values, np.full(len(empty), _EMPTY_HASH, dtype=np.uint32)])
        rows = np.concatenate([rows, empty])
    keys = sorted_unique((rows.astype(np.uint64) << np.uint64(32)) | values.astype(np.uint64))
    offsets = np.searchsorted(keys >> np.uint64(32), np.arange(len(batch) + 1, dtype=np.uint64)).astype(np.int64)
    return ShingleSets((keys & np.uint64(MASK32)).astype(np.uint32), offsets)


# --- MinHash signatures and their b-bit sketches -------------------------------------------------------


class Signer:
    """Computes datasketch-compatible MinHash signatures (affine32 scheme) for shingle-hash sets.

    The permutations are datasketch's own for `num_perm` and `seed` (read from a template MinHash),
    so signatures equal `MinHash(num_perm, seed, hashfunc=shingle_hash, scheme="affine32")`'s.
    """

    def __init__(self, num_perm: int, seed: int = PERMUTATION_SEED) -> None:
        template = MinHash(num_perm=num_perm, seed=seed, hashfunc=shingle_hash, scheme="affine32")
        a, b = template.permutations
        self.num_perm = num_perm
        self._a = a.astype(np.uint32).reshape(-1, 1)
        self._b = b.astype(np.uint32).reshape(-1, 1)

    def signature(self, hashes: frozenset[int] | Sequence[int] | np.ndarray) -> np.ndarray:
        """One row's signature: (num_perm,) uint32."""
        values = fmix32(np.fromiter(hashes, dtype=np.uint32, count=len(hashes)))
        return (self._a * values + self._b).min(axis=1)

    def signatures(self, sets: ShingleSets) -> np.ndarray:
        """Signatures of every row: (rows, num_perm) uint32. Rows must be non-empty (`shingle_sets`
        makes them so). Computed ~18M shingles/s in (num_perm x SIGNATURE_BLOCK) blocks
        (../shared/notes/dedup.md)."""
        offsets = sets.offsets
        result = np.empty((len(sets), self.num_perm), dtype=np.uint32)
        mixed = fmix32(sets.values)
        row = 0
        while row < len(sets):
            # rows whose shingles fit in one block (at least one row, however long)
            end = int(np.searchsorted(offsets, offsets[row] + SIGNATURE_BLOCK, side="right")) - 1
            end = max(end, row + 1)
            low, high = offsets[row], offsets[end]
            block = self._a * mixed[None, low:high]
            block += self._b
            result[row:end] = np.minimum.reduceat(block, offsets[row:end] - low, axis=1).T
            row = end
        return result


def sketch_width(num_perm: int) -> int:
    """Bytes per b-bit sketch: two 4-bit lanes per byte, padded to whole 64-bit words (64 for 128 perms)."""
    return -(-num_perm // 16) * 8


def sketch_bytes(signatures: np.ndarray) -> np.ndarray:
    """Low 4 bits of each signature value, two per byte: (rows, num_perm) uint32 signatures give
    (rows, sketch_width(num_perm)) uint8 sketches."""
    lanes = (signatures & np.uint32(0xF)).astype(np.uint8)
    padding = 2 * sketch_width(lanes.shape[1]) - lanes.shape[1]
    if padding:  # zero lanes never differ
        lanes = np.concatenate([lanes, np.zeros((len(lanes), padding), dtype=np.uint8)], axis=1)
    return lanes[:, 0::2] | (lanes[:, 1::2] << np.uint8(4))
