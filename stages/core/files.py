"""One reader for every file a person or another tool hands over: seed JSONL, the reviewers' CSV, an
imported eval log, the blocklist, the policy, a Label Studio export.

Every problem is a UserError that names the file, the place as a person finds it and what is wrong:
  encoding   the text must be UTF-8 (a byte-order mark is accepted and dropped). Otherwise the error
             names the line, the character and the byte, and the encoding the bytes look like, with
             the word the bad byte is in as that encoding reads it (core.encoding: chardet's guess from
             the lines that are not UTF-8; two encodings, each with its reading, when both are about as
             likely, and up to three when too few bytes tell: "the bytes look like cp1250 ("Łódź") or
             cp1252 ("£ódŸ")"), so the person sees which reading is right and saves the file again as
             UTF-8 from it. The file is never decoded by a guess: a wrong guess would put garbled text
             into the training data.
             Inside `collecting_encoding_problems()` (python -m stages.validate, which writes nothing)
             such a line does not stop its file: its problem is collected, once per file and line, and
             the line is read with U+FFFD for each bad byte, so every other line, and the rest of that
             line, is still checked; `EncodingProblems.unrelated` leaves out the problems the bytes
             may have caused (at that line, or about that file as a whole).
  lines      split at "\\n" only (a CRLF file's "\\r" is dropped): a stray carriage return or Unicode line
             separator inside a line never splits it, so line numbers are an editor's.
  CSV        as spreadsheets save it (Python's csv module): quoted cells may hold line breaks, commas and
             quotes; the delimiter is the one of ",", ";" or tab that makes the header hold the required
             columns (spreadsheets in some locales save with ";"; without one, the missing columns are
             named as the closest of the three reads the header); rows that are blank or only delimiters
             are skipped; a lone "\\r" ends a row too (old Mac spreadsheets), not a text line. `path:N`
             names the spreadsheet row N (the header is row 1), with the text editor's lines (counted as
             above, at "\\n") beside it when they differ: "path:3 (text lines 3-5)" for a quoted cell
             over several lines, and for a line that is not UTF-8 the line of the bad byte, "path:4
             (text line 6): not valid UTF-8 ...", as every other CSV problem.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import re
from collections.abc import Iterator, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stages.core.encoding import Guess, guess_encodings, looks_like
from stages.core.errors import UserError

BOM = "\ufeff"
DELIMITERS = (",", ";", "\t")


def _encoding_error(place: str, data: bytes, err: UnicodeDecodeError, guess: Guess | None) -> UserError:
    """The error for the line at `place` ("path:N", or a CSV row's "path:N (text line L)") whose bytes
    `data` are not UTF-8, with the encoding(s) the file looks like."""
    column = len(data[: err.start].decode("utf-8", errors="replace")) + 1
    looks = looks_like(guess, data, err)
    return UserError(
        f"{place}: not valid UTF-8 (byte 0x{data[err.start]:02x} at character {column}){looks}; save the file as UTF-8"
    )


# The place after "path:" at the start of a problem: "N" or "N (text line(s) A[-B])" (see _where), or
# " task N" (a Label Studio task, core.decisions)
_PLACE = re.compile(r"(?P<line>\d+)(?: \(text lines? (?P<first>\d+)(?:-(?P<last>\d+))?\))?[:\s]| task \d")


@dataclass
class EncodingProblems:
    """The lines that are not UTF-8, read inside `collecting_encoding_problems()`: `messages` in the
    order they were met, each file and line once."""

    by_line: dict[tuple[str, int], str] = field(default_factory=dict)
    guesses: dict[str, Guess | None] = field(default_factory=dict)

    def add(self, path: Path, line: int, data: bytes, err: UnicodeDecodeError, place: str | None = None) -> None:
        """Collect the problem of text line `line` of `path` (its bytes `data`), once per file and line;
        `place` names it ("path:line" by default)."""
        if str(path) not in self.guesses:
            self.guesses[str(path)] = guess_encodings(path)
        message = str(_encoding_error(place or f"{path}:{line}", data, err, self.guesses[str(path)]))
        self.by_line.setdefault((str(path), line), message)

    @property
    def messages(self) -> list[str]:
        """One problem per line that is not UTF-8."""
        return list(self.by_line.values())

    def unrelated(self, problems: Sequence[str]) -> list[str]:
        """`problems` without those the bad bytes may have caused, which are named already: a problem at
        a line that is not UTF-8 ("path:N: ...", or a CSV row whose text lines hold one), one about such a
        file as a whole ("path: ...": a YAML document, a prompt's header), or one quoting a value read
        with U+FFFD (a Label Studio task's verdict)."""
        if not self.by_line:
            return list(problems)
        return [problem for problem in problems if "\ufffd" not in problem and not self._caused(problem)]

    def _caused(self, problem: str) -> bool:
        for path in self.guesses:
            if not problem.startswith(f"{path}:"):
                continue
            match = _PLACE.match(problem, len(path) + 1)
            if match is None:  # about the whole file
                return True
            if match["line"] is None:  # a task: its values read with U+FFFD are caught above
                continue
            first = int(match["first"] or match["line"])
            last = int(match["last"] or first)
            if any((path, line) in self.by_line for line in range(first, last + 1)):
                return True
        return False


_COLLECTING: ContextVar[EncodingProblems | None] = ContextVar("collecting_encoding_problems", default=None)


@contextlib.contextmanager
def collecting_encoding_problems() -> Iterator[EncodingProblems]:
    """Within the block, a line that is not UTF-8 is collected rather than raised, and read with U+FFFD
    for each bad byte (module docstring): for checking every line of every file, never for writing."""
    collected = EncodingProblems()
    token = _COLLECTING.set(collected)
    try:
        yield collected
    finally:
        _COLLECTING.reset(token)


def _existing(path: str | Path, what: str) -> Path:
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: {what} not found")
    return path


@dataclass(frozen=True)
class _Fault:
    """A text line that is not UTF-8: its bytes and where decoding failed."""

    data: bytes
    err: UnicodeDecodeError


def _report(path: Path, line: int, fault: _Fault, place: str) -> None:
    """Raise the encoding error of text line `line` of `path`, named `place`; inside
    `collecting_encoding_problems()` collect it instead."""
    collected = _COLLECTING.get()
    if collected is None:
        raise _encoding_error(place, fault.data, fault.err, guess_encodings(path)) from None
    collected.add(path, line, fault.data, fault.err, place)


def _decoded_lines(path: Path) -> Iterator[tuple[int, str, _Fault | None]]:
    """(line number, line without its line end, the fault if it is not UTF-8) for each text line; a
    line that is not UTF-8 is read with U+FFFD for each bad byte."""
    with path.open("rb") as handle:
        for number, data in enumerate(handle, start=1):
            fault = None
            try:
                line = data.decode("utf-8")
            except UnicodeDecodeError as err:
                fault = _Fault(data, err)
                line = data.decode("utf-8", errors="replace")
            if number == 1:
                line = line.removeprefix(BOM)
            yield number, line.removesuffix("\n").removesuffix("\r"), fault


def text_lines(path: str | Path, what: str = "file") -> Iterator[tuple[int, str]]:
    """(1-based line number, line without its "\\n" or "\\r\\n") for each line, streamed: memory does
    not grow with the file. A missing file or a line that is not UTF-8 is a UserError (module docstring;
    inside `collecting_encoding_problems()` the second is collected instead); `what` names the file's
    role in the first."""
    path = _existing(path, what)
    for number, line, fault in _decoded_lines(path):
        if fault is not None:
            _report(path, number, fault, f"{path}:{number}")
        yield number, line


def read_text(path: str | Path, what: str = "file") -> str:
    """The whole file's text: UTF-8 without a byte-order mark, line ends as "\\n" (see `text_lines`)."""
    return "".join(line + "\n" for _, line in text_lines(path, what))


def json_error_detail(err: json.JSONDecodeError, line: str) -> str:
    """What is wrong with a JSON text and where, as a person looks for it: the character (column) of
    the fault, and for a string that never ends, where it starts and that the line ends first."""
    if err.msg.startswith("Unterminated string"):
        return f"a string that starts at character {err.colno} has no closing quote before the line ends"
    near = line[max(0, err.pos - 15) : err.pos + 15].replace("\t", " ")
    if err.msg.startswith("Invalid control character"):
        char = line[err.pos] if err.pos < len(line) else "?"
        return f"a raw control character U+{ord(char):04X} at character {err.colno}; write it escaped (\\n, \\t)"
    return f"{err.msg.lower()} at character {err.colno} (near {near!r})"


def read_json(path: str | Path, what: str = "file") -> Any:
    """A whole JSON document (a Label Studio export); bad JSON is a UserError naming line and character."""
    text = read_text(path, what)
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        line = text.split("\n")[err.lineno - 1]
        err.pos = err.colno - 1  # the detail reads the fault's own line
        raise UserError(f"{path}:{err.lineno}: not valid JSON: {json_error_detail(err, line)}") from None


@dataclass(frozen=True)
class CsvRecord:
    """One CSV row with a value: `values` maps each header column to its cell ("" when absent);
    `where` is "path:row", plus the text lines when they differ from the row number. `problem`: why the
    row cannot be read (then `values` is empty), only from `iter_csv(..., past_bad_rows=True)`."""

    row: int
    where: str
    values: dict[str, str]
    problem: str | None = None


def _where(path: Path, row: int, first: int, last: int) -> str:
    """ "path:row", with the text editor's lines when they are not just line `row`."""
    if first == last == row:
        return f"{path}:{row}"
    lines = f"text line {first}" if first == last else f"text lines {first}-{last}"
    return f"{path}:{row} ({lines})"


class _CsvText:
    """A CSV file's text as the csv module reads it (records may end at "\\r" too), and the text line
    (counted at "\\n", as `text_lines` counts them) that each piece it hands out starts on."""

    def __init__(self, text: str) -> None:
        self._pieces = io.StringIO(text, newline="")
        self.newlines = 0  # "\\n" handed out so far
        self.line = 1  # the text line of the last piece handed out

    def __iter__(self) -> Iterator[str]:
        for piece in self._pieces:
            self.line = self.newlines + 1
            self.newlines += piece.count("\n")
            yield piece


def _rows(path: Path, text: str, delimiter: str) -> Iterator[tuple[int, int, int, list[str]]]:
    """(spreadsheet row, first and last text line, cells) of each CSV record, the header (row 1) and
    blank ones included; bad quoting is a UserError naming the row (after any line in it that is not UTF-8)."""
    source = _CsvText(text)
    reader = csv.reader(source, delimiter=delimiter, strict=True)
    row = 0
    while True:
        row += 1
        first = source.newlines + 1
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as err:
            last = max(first, source.newlines)  # the reader read to the end of the text
            yield row, first, last, []  # its lines' encoding is checked first
            where = _where(path, row, first, last)
            raise UserError(f"{where}: not valid CSV ({err}): a quote opened in this row is never closed") from None
        yield row, first, source.line, cells


def _header(path: Path, text: str, required: Sequence[str], hint: str) -> tuple[str, list[str]]:
    """The delimiter whose header row holds every required column, and that header (stripped). Without
    one, the error names only the columns missing from the header as the delimiter that holds the most
    of them, else splits it in the most cells, reads it (so a ';' header without `id` lacks only `id`)."""
    first_line = next(iter(_CsvText(text)), "")
    splits = [
        (delimiter, [cell.strip() for cell in next(csv.reader([first_line], delimiter=delimiter), [])])
        for delimiter in DELIMITERS
    ]
    for delimiter, header in splits:
        if all(name in header for name in required):
            return delimiter, header
    _, header = max(splits, key=lambda split: (sum(name in split[1] for name in required), len(split[1])))
    shown = [name[:30] for name in header[:12]]
    missing = [name for name in required if name not in header]
    raise UserError(f"{path}:1: column(s) {missing} not in the header {shown}{hint}")


def iter_csv(
    path: str | Path, required: Sequence[str], what: str = "file", hint: str = "", past_bad_rows: bool = False
) -> Iterator[CsvRecord]:
    """The rows of a CSV file with a header, as a spreadsheet numbers them (module docstring); rows that
    are blank or hold only delimiters and spaces are skipped. A header without every `required` column
    (the error ends with `hint`), a row with more cells than the header or an unclosed quote is a
    UserError naming the row; with `past_bad_rows` a row with more cells is yielded with its `problem`
    instead, and the rows after it are still read (the header and a quote left open end the reading)."""
    path = _existing(path, what)
    faults: dict[int, _Fault] = {}
    lines = []
    for number, line, fault in _decoded_lines(path):
        lines.append(line + "\n")
        if fault is not None:
            faults[number] = fault
    text = "".join(lines)
    if 1 in faults:
        _report(path, 1, faults[1], f"{path}:1")
    delimiter, header = _header(path, text, required, hint)
    pending = sorted(faults)  # the lines not UTF-8 that no row has reported yet, in order
    done = 0
    for row, first, last, cells in _rows(path, text, delimiter):
        while done < len(pending) and pending[done] <= last:
            line = pending[done]
            done += 1
            if line > 1:  # the header's line was reported before reading the header
                _report(path, line, faults[line], _where(path, row, line, line))
        where = _where(path, row, first, last)
        if row == 1 or not any(cell.strip() for cell in cells):
            continue
        if len(cells) > len(header):
            problem = (
                f"{where}: {len(cells)} cells but the header has {len(header)} columns;"
                f" a cell holding '{delimiter}' must be quoted"
            )
            if not past_bad_rows:
                raise UserError(problem)
            yield CsvRecord(row, where, {}, problem)
            continue
        yield CsvRecord(row, where, {name: (cells[i] if i < len(cells) else "") for i, name in enumerate(header)})
