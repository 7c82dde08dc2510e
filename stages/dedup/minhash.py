"""MinHash signatures and banding for near-duplicate detection, vectorised over many rows at once.

Shingles are word n-grams of `words(text)`. Words are found and hashed in numpy, on the bytes of a
whole batch at once (no Python object per word: ASCII texts, the common case, are lowercased as bytes;
other texts go through `words()` first, so the tokens are the same). A word's 64-bit hash is a
polynomial over its bytes, finalised with MurmurHash3's fmix64; an n-gram's 32-bit hash combines its
words' hashes (a position-weighted sum mod 2^64, folded to 32 bits). So the batch path never builds
n-gram strings, while `shingle_hash` stays a function of the shingle's bytes that datasketch can call.

Signatures are bit-identical to datasketch's `MinHash(num_perm, seed=1, hashfunc=shingle_hash,
scheme="affine32")` updated with `shingles(text, ngram)` (tests check this); they are computed in a
(num_perm x shingles) layout, a few thousand shingles per block, as measured fastest in
../shared/notes/dedup.md. Banding hashes each band's `rows_per_band` values to 64 bits; rows whose keys
agree on a band are candidates, the same pairs datasketch's `MinHashLSH` with those (bands, rows) finds
(tests check this; a 64-bit collision could only add a candidate, and callers verify every candidate).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
from datasketch import MinHash
from scipy import sparse

from stages.core.text import words

PERMUTATION_SEED = 1
EMPTY_SHINGLE = b"\x00"  # stands for "no words" so that empty texts still get a signature
MAX_NGRAM = 16
SIGNATURE_BLOCK = 8192  # shingles per numpy block: 128 x 8192 uint32 = 4 MB, cache-friendly
_MASK32 = 0xFFFFFFFF
_MASK64 = 0xFFFFFFFFFFFFFFFF


def _splitmix64(count: int, salt: int) -> np.ndarray:
    """`count` well-mixed odd 64-bit constants (splitmix64), fixed forever: they define the hashes."""
    values, state = [], salt
    for _ in range(count):
        state = (state + 0x9E3779B97F4A7C15) & _MASK64
        z = state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK64
        values.append((z ^ (z >> 31)) | 1)
    return np.array(values, dtype=np.uint64)


# One multiplier per word position in an n-gram, so "card lost" and "lost card" hash differently.
POSITION_MULTIPLIERS = _splitmix64(MAX_NGRAM, salt=4)
_POSITION_INTS = [int(value) for value in POSITION_MULTIPLIERS]
# One multiplier per value inside a band, to hash a band's values to one 64-bit key.
BAND_MULTIPLIERS = _splitmix64(1024, salt=77)


WORD_PRIME = 0x100000001B3  # odd: a word's bytes are the coefficients of a polynomial in it
EXACT_PRIME = 0x9E3779B97F4A7C15  # odd: a row's word hashes, likewise, for the exact-match key
_LENGTH_SALT = 0xC2B2AE3D27D4EB4F


def _fmix64_int(value: int) -> int:
    value ^= value >> 33
    value = (value * 0xFF51AFD7ED558CCD) & _MASK64
    value ^= value >> 33
    value = (value * 0xC4CEB9FE1A85EC53) & _MASK64
    return value ^ (value >> 33)


def word_hash(word: bytes) -> int:
    """64-bit hash of one word's UTF-8 bytes (the reference for the numpy path in `tokenise`)."""
    total, power = 0, 1
    for byte in word:
        total = (total + byte * power) & _MASK64
        power = (power * WORD_PRIME) & _MASK64
    return _fmix64_int((total + len(word) * _LENGTH_SALT) & _MASK64)


def shingle_hash(shingle: bytes) -> int:
    """32-bit hash of a shingle (space-joined words): the `hashfunc` to give datasketch."""
    total = 0
    for position, word in enumerate(shingle.split(b" ")):
        total = (total + word_hash(word) * _POSITION_INTS[position]) & _MASK64
    return (total ^ (total >> 32)) & _MASK32


def shingles(text: str, ngram: int) -> list[bytes]:
    """Word n-grams of the normalised text (the whole text if it is shorter than n words)."""
    tokens = words(text)
    if not tokens:
        return [EMPTY_SHINGLE]
    if len(tokens) <= ngram:
        return [" ".join(tokens).encode("utf-8")]
    return [" ".join(tokens[i : i + ngram]).encode("utf-8") for i in range(len(tokens) - ngram + 1)]


def shingle_set(text: str, ngram: int) -> frozenset[int]:
    return frozenset(shingle_hash(s) for s in shingles(text, ngram))


def jaccard(a: frozenset[int] | set[int], b: frozenset[int] | set[int]) -> float:
    if not a and not b:
        return 1.0
    return len(a & b) / len(a | b)


def fmix64(values: np.ndarray) -> np.ndarray:
    values = values ^ (values >> np.uint64(33))
    values = values * np.uint64(0xFF51AFD7ED558CCD)
    values = values ^ (values >> np.uint64(33))
    values = values * np.uint64(0xC4CEB9FE1A85EC53)
    return values ^ (values >> np.uint64(33))


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
# Bytes that belong to words once text is lowercased: [a-z0-9_'] as in `words()`, and every byte of a
# multi-byte UTF-8 character (non-ASCII texts only get here as `words()` tokens joined by spaces).
_WORD_BYTE = np.array([chr(b).isalnum() or chr(b) in "_'" if b < 128 else True for b in range(256)], dtype=bool)
_ROW_SEPARATOR = b"\x00"


@dataclass
class TokenisedBatch:
    """The word hashes of a batch of texts, row after row, and one exact-match key per row."""

    word_hashes: np.ndarray  # uint64, every word of every row, in order
    starts: np.ndarray  # int64, rows + 1 offsets into word_hashes
    exact_keys: np.ndarray  # uint64 per row: equal iff the rows' `match_key` texts are equal (64-bit hash)

    def __len__(self) -> int:
        return len(self.starts) - 1

    def row(self, index: int) -> np.ndarray:
        return self.word_hashes[self.starts[index] : self.starts[index + 1]]


def _normalised(text: str) -> str:
    """Text whose lowercased bytes split into exactly the tokens of `words(text)`."""
    if text.isascii():  # NFKC and casefold leave ASCII as lowercase does
        return text.replace("\x00", " ")
    return " ".join(words(text))


def tokenise(texts: Sequence[str]) -> TokenisedBatch:
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


def _tokenise_bytes(pieces: list[bytes]) -> TokenisedBatch:
    buffer = np.frombuffer(_ROW_SEPARATOR.join(pieces).lower(), dtype=np.uint8)
    edges = np.diff(_WORD_BYTE[buffer].astype(np.int8), prepend=np.int8(0), append=np.int8(0))
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


def exact_key(text: str) -> int:
    """The exact-match key `tokenise` gives this text (reference implementation, for tests)."""
    total = 0
    tokens = words(text)
    for position, token in enumerate(tokens):
        total = (total + word_hash(token.encode("utf-8")) * pow(EXACT_PRIME, position, 1 << 64)) & _MASK64
    return _fmix64_int((total + len(tokens) * _LENGTH_SALT) & _MASK64)


def ngram_hashes(batch: TokenisedBatch, ngram: int, whole_short_rows: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """(64-bit n-gram hashes, their row numbers) for all rows; rows shorter than `ngram` words give
    one hash of their whole text if `whole_short_rows`, else none. Empty rows give none."""
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
                total_hash = (total_hash + value * _POSITION_INTS[position]) & _MASK64
            extra.append(total_hash)
        values = np.concatenate([values, np.array(extra, dtype=np.uint64)])
        rows = np.concatenate([rows, short.astype(np.int64)])
    return values, rows


def ragged_ranges(starts: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """The ranges starts[i] .. starts[i] + counts[i] - 1, one after another: the indices of many
    slices of a flat array at once (int64)."""
    counts = np.asarray(counts, dtype=np.int64)
    firsts = np.cumsum(counts) - counts
    return np.repeat(np.asarray(starts, dtype=np.int64) - firsts, counts) + np.arange(int(counts.sum()), dtype=np.int64)


def sorted_unique(values: np.ndarray, in_place: bool = False) -> np.ndarray:
    """np.unique for flat integer arrays, by sort + mask: numpy 2.x's np.unique is 10-50x slower here.
    `in_place` sorts `values` itself (for temporaries: saves a copy of the largest arrays)."""
    if in_place:
        values.sort()
    ordered = values if in_place else np.sort(values)
    return ordered[np.concatenate([[True], ordered[1:] != ordered[:-1]])] if len(ordered) else ordered


def dense_ids(values: np.ndarray) -> np.ndarray:
    """0, 1, 2, ... numbering the distinct values (like np.unique's inverse, but fast)."""
    order = np.argsort(values)
    new = np.ones(len(values), dtype=bool)
    new[1:] = values[order][1:] != values[order][:-1]
    ids = np.empty(len(values), dtype=np.int64)
    ids[order] = np.cumsum(new) - 1
    return ids


def fold32(values: np.ndarray) -> np.ndarray:
    return ((values ^ (values >> np.uint64(32))) & np.uint64(_MASK32)).astype(np.uint32)


@dataclass
class ShingleSets:
    """Sorted distinct 32-bit shingle hashes per row, in one flat array (CSR layout)."""

    values: np.ndarray  # uint32
    offsets: np.ndarray  # int64, rows + 1

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def row(self, index: int) -> np.ndarray:
        return self.values[self.offsets[index] : self.offsets[index + 1]]


_EMPTY_HASH = shingle_hash(EMPTY_SHINGLE)
_COMMON_CHUNK = 65_536  # pairs intersected per scipy call: bounds the gathered copies (~21 bytes per shingle)


def common_counts(sets: ShingleSets, first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """|A & B| for each pair of rows (first[i], second[i]). Both sides' sorted shingles are gathered into
    sparse matrices and intersected by scipy's merge of sorted rows (C++): ~0.8 us per pair of ~30-word
    rows, against ~4 us for a Python set intersection."""
    counts = np.empty(len(first), dtype=np.int64)
    for low in range(0, len(first), _COMMON_CHUNK):
        part = slice(low, low + _COMMON_CHUNK)
        product = _rows_matrix(sets, first[part]).multiply(_rows_matrix(sets, second[part]))
        counts[part] = np.diff(product.indptr)
    return counts


def _rows_matrix(sets: ShingleSets, rows: np.ndarray) -> sparse.csr_array:
    """The given rows as a 0/1 matrix with one column per 32-bit shingle hash."""
    starts = sets.offsets[rows]
    sizes = sets.offsets[rows + 1] - starts
    indptr = np.zeros(len(rows) + 1, dtype=np.int64)
    np.cumsum(sizes, out=indptr[1:])
    members = ragged_ranges(starts, sizes)
    # Rows are sorted and free of repeats (canonical), which keeps scipy on its merge path; its general
    # path would allocate per column, and there are 2^32 columns.
    columns = sets.values[members].astype(np.int64)
    return sparse.csr_array((np.ones(len(members), dtype=np.int8), columns, indptr), shape=(len(rows), 1 << 32))


def shingle_sets(batch: TokenisedBatch, ngram: int) -> ShingleSets:
    values64, rows = ngram_hashes(batch, ngram)
    values = fold32(values64)
    empty = np.flatnonzero(np.diff(batch.starts) == 0)
    if len(empty):
        values = np.concatenate([values, np.full(len(empty), _EMPTY_HASH, dtype=np.uint32)])
        rows = np.concatenate([rows, empty])
    keys = sorted_unique((rows.astype(np.uint64) << np.uint64(32)) | values.astype(np.uint64))
    offsets = np.searchsorted(keys >> np.uint64(32), np.arange(len(batch) + 1, dtype=np.uint64)).astype(np.int64)
    return ShingleSets((keys & np.uint64(_MASK32)).astype(np.uint32), offsets)


def _fmix32(values: np.ndarray) -> np.ndarray:
    """MurmurHash3 finalizer, as datasketch's affine32 scheme applies before permuting."""
    values = values ^ (values >> np.uint32(16))
    values = values * np.uint32(0x85EBCA6B)
    values = values ^ (values >> np.uint32(13))
    values = values * np.uint32(0xC2B2AE35)
    return values ^ (values >> np.uint32(16))


class Signer:
    """Computes datasketch-compatible MinHash signatures for shingle-hash sets."""

    def __init__(self, num_perm: int, seed: int = PERMUTATION_SEED) -> None:
        template = MinHash(num_perm=num_perm, seed=seed, hashfunc=shingle_hash, scheme="affine32")
        a, b = template.permutations
        self.num_perm = num_perm
        self._a = a.astype(np.uint32).reshape(-1, 1)
        self._b = b.astype(np.uint32).reshape(-1, 1)

    def signature(self, hashes: frozenset[int] | Sequence[int] | np.ndarray) -> np.ndarray:
        """One row's signature (uint32, num_perm values)."""
        values = _fmix32(np.fromiter(hashes, dtype=np.uint32, count=len(hashes)))
        return (self._a * values + self._b).min(axis=1)

    def signatures(self, sets: ShingleSets) -> np.ndarray:
        """Signatures of every row, shape (rows, num_perm). Rows must be non-empty (see `shingle_sets`)."""
        offsets = sets.offsets
        result = np.empty((len(sets), self.num_perm), dtype=np.uint32)
        mixed = _fmix32(sets.values)
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


def band_keys(signatures: np.ndarray, bands: int, rows_per_band: int) -> np.ndarray:
    """64-bit hash of each band of each signature, shape (bands, rows): equal bands give equal keys."""
    used = signatures[:, : bands * rows_per_band].astype(np.uint64).reshape(len(signatures), bands, rows_per_band)
    keys = used[:, :, 0] * BAND_MULTIPLIERS[0]
    for position in range(1, rows_per_band):
        keys += used[:, :, position] * BAND_MULTIPLIERS[position]
    return np.ascontiguousarray(keys.T)


def shared_runs(keys: np.ndarray, rows: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The rows whose key another row holds too, grouped by key: (members, bounds), the members of the
    i-th key being members[bounds[i] : bounds[i + 1]], in no particular order. `rows` names the entries
    (default 0, 1, 2, ...). Rows alone with their key, most of them, never leave this function."""
    if rows is None:
        rows = np.arange(len(keys), dtype=np.int64)
    order = np.argsort(keys)  # not stable (2.5x faster): callers do not rely on the order inside a key
    ordered = keys[order]
    same = ordered[1:] == ordered[:-1]
    shared = np.zeros(len(keys), dtype=bool)
    shared[1:] |= same
    shared[:-1] |= same
    members, shared_keys = rows[order[shared]], ordered[shared]
    if not len(members):
        return members, np.zeros(1, dtype=np.int64)
    starts = np.flatnonzero(np.concatenate([[True], shared_keys[1:] != shared_keys[:-1]]))
    return members, np.append(starts, len(members))


def candidate_pairs(keys: np.ndarray) -> set[tuple[int, int]]:
    """Every pair (i < j) sharing a band: for evaluation and tests (quadratic in bucket sizes)."""
    pairs: set[tuple[int, int]] = set()
    for band in keys:
        members, bounds = shared_runs(band)
        for low, high in zip(bounds[:-1].tolist(), bounds[1:].tolist(), strict=True):
            rows = sorted(members[low:high].tolist())
            pairs.update((a, b) for index, a in enumerate(rows) for b in rows[index + 1 :])
    return pairs


def candidate_probability(similarity: float, bands: int, rows_per_band: int) -> float:
    """Chance that a pair with this Jaccard shares at least one band: 1 - (1 - s^r)^b."""
    return 1.0 - (1.0 - similarity**rows_per_band) ** bands


def texts_signatures(texts: Iterable[str], ngram: int, num_perm: int) -> np.ndarray:
    """Signatures of a few texts in one call (convenience for tests and tools)."""
    return Signer(num_perm).signatures(shingle_sets(tokenise(list(texts)), ngram))
