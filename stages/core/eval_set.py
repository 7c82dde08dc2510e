"""The real held-out traffic: read by evaluate (which scores on it) and dedup (which decontaminates against it).

Three file formats (params `evaluate.eval_set.format`):
    rows    the pipeline's row schema (data/seed/eval.jsonl): user turns of `messages`, `intent`, `slice`
    csv     an imported log with a header line; `columns` maps the text, intent and optional slice column
    jsonl   an imported log, one object a line; the text field may also hold a chat `messages` list
Every example remembers its `file:line`, so errors and leak reports point at the line to fix. Each
problem names file, line (a CSV's spreadsheet row, with its text lines where they differ: core.files)
and field. The stages stop at the first (`load_eval_set`, `eval_texts`); `python -m stages.validate`
lists them all (`eval_set_problems`), read by the same code (`_records`).
The file is set by params `evaluate.eval_set` (EvalSetParams, here so that dedup reads the same block).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError, ValidationInfo, field_validator

from stages.core.errors import UserError
from stages.core.files import iter_csv, text_lines
from stages.core.jsonl import parse_jsonl_line
from stages.core.params import Section, Taxonomy, describe_errors, read_params_file, repository_path
from stages.core.rows import user_text
from stages.core.text import tidy

# The seed stage's eval split (made from seeds/eval_traffic.jsonl), the default eval set, in the rows format.
SEED_EVAL_SPLIT = "data/seed/eval.jsonl"


class EvalSetColumns(Section):
    """Column (CSV) or field (JSONL) names of an imported log."""

    text: str = Field(default="text", min_length=1)
    intent: str = Field(default="intent", min_length=1)
    slice: str | None = None  # None: each row's slice comes from params taxonomy


class EvalSetParams(Section):
    """`evaluate.eval_set`: the real held-out traffic, the repository's eval split or an imported log.

    `path` is relative to the repository and, when read from a params file (core.params.load_section:
    the file's folder is the repository), must stay inside it (a ValueError naming the key that allows
    it, never the file's content) unless `allow_outside_repository`.
    """

    allow_outside_repository: bool = False
    path: str = Field(default=SEED_EVAL_SPLIT, min_length=1)
    format: Literal["rows", "csv", "jsonl"] = "rows"
    columns: EvalSetColumns = EvalSetColumns()
    unknown_intents: Literal["error", "skip"] = "error"

    @field_validator("path")
    @classmethod
    def _inside_repository(cls, value: str, info: ValidationInfo) -> str:
        root = (info.context or {}).get("repository")
        if root is not None:
            allowed = bool(info.data.get("allow_outside_repository"))
            repository_path(value, allowed, "evaluate.eval_set.allow_outside_repository", root)
        return value


@dataclass(frozen=True)
class EvalExample:
    """One eval row: its "file:line", the tidied user text, its intent and the taxonomy's slice for it."""

    where: str  # file:line
    text: str
    intent: str
    slice: str


@dataclass(frozen=True)
class LoadedEvalSet:
    """The eval examples in file order, and how many rows were left out for an intent outside the taxonomy."""

    examples: list[EvalExample]
    skipped_unknown_intent: int


def _text_value(value: Any, where: str, column: str) -> str:
    """A text cell: a string, or a chat `messages` list whose user turns are joined."""
    if isinstance(value, list) and all(isinstance(m, dict) and "role" in m and "content" in m for m in value):
        value = "\n".join(str(m["content"]) for m in value if m["role"] == "user")
    if not isinstance(value, str):
        raise UserError(f"{where}: field '{column}': expected text, got {type(value).__name__}")
    text = tidy(value)
    if not text:
        raise UserError(f"{where}: field '{column}': empty text")
    return text


Record = tuple[str, str, str, str | None]  # (where, text, intent, the slice given or None)
RecordReader = Callable[[dict[str, Any], str, EvalSetColumns], Record]  # (value, where, columns) -> Record


def _records(path: Path, params: EvalSetParams) -> Iterator[Record | UserError]:
    """Each record of the file in order, before taxonomy checks, or the problem that record has (a CSV
    row with more cells than the header too: the reading goes on); a fault that ends the file's reading
    (missing, a header without the columns, a quote never closed, a line that is not UTF-8 outside
    core.files' collecting) is raised."""
    columns = params.columns
    if params.format == "csv":
        wanted = [name for name in (columns.text, columns.intent, columns.slice) if name is not None]
        hint = "; set evaluate.eval_set.columns to the file's column names"
        for record in iter_csv(path, wanted, "eval set", hint, past_bad_rows=True):
            # record.where names the spreadsheet row (and the text lines when a cell spans several)
            yield (
                UserError(record.problem)
                if record.problem
                else _problem_or(_mapped, record.values, record.where, columns)
            )
        return
    read = _row_record if params.format == "rows" else _mapped
    for line_no, line in text_lines(path):
        where = f"{path}:{line_no}"
        try:
            value = parse_jsonl_line(path, line_no, line)
        except UserError as err:
            yield err
            continue
        if value is not None:
            yield _problem_or(read, value, where, columns)


def _problem_or(read: RecordReader, value: dict[str, Any], where: str, columns: EvalSetColumns) -> Record | UserError:
    """`read`'s record of `value`, or the UserError it raises."""
    try:
        return read(value, where, columns)
    except UserError as err:
        return err


def _row_record(row: dict[str, Any], where: str, _: EvalSetColumns) -> Record:
    """A rows-format line: the user turns of `messages`, `intent` and the optional `slice`."""
    for field in ("messages", "intent"):
        if field not in row:
            raise UserError(f"{where}: field '{field}': missing in a rows-format file")
    try:
        text = user_text(row)
    except (KeyError, TypeError):
        raise UserError(f"{where}: field 'messages': not a list of chat messages") from None
    return where, _text_value(text, where, "messages"), str(row["intent"]), row.get("slice")


def _mapped(record: dict[str, Any], where: str, columns: EvalSetColumns) -> Record:
    """A csv row or jsonl object: its text, intent and optional slice by the names `columns` gives."""
    for column in (columns.text, columns.intent):
        if record.get(column) is None:
            raise UserError(f"{where}: field '{column}': missing")
    label = str(record[columns.intent]).strip()
    if not label:
        raise UserError(f"{where}: field '{columns.intent}': empty intent")
    slice_label = None
    if columns.slice is not None:
        raw_slice = record.get(columns.slice)
        slice_label = str(raw_slice).strip() if raw_slice not in (None, "") else None
    return where, _text_value(record[columns.text], where, columns.text), label, slice_label


def eval_set_problems(path: Path, params: EvalSetParams, taxonomy: Taxonomy) -> tuple[LoadedEvalSet, list[str]]:
    """(the valid eval examples, every problem), reading the whole file: what `load_eval_set` reads, for
    `python -m stages.validate`. Each problem names file, line (a CSV's spreadsheet row, with its text
    lines where they differ) and field; a fault that ends the reading (see `_records`) is the last one.

    An intent outside the taxonomy is a problem, or skipped and counted when `unknown_intents: skip`
    (an imported log usually holds intents this data set does not cover). A given slice must be the
    taxonomy's slice for the intent: a mismatch is a labelling mistake. A file without one usable row
    is a problem when it has no other.
    """
    examples: list[EvalExample] = []
    problems: list[str] = []
    skipped = 0
    intent_column = "intent" if params.format == "rows" else params.columns.intent
    slice_column = "slice" if params.format == "rows" else params.columns.slice
    try:
        for record in _records(path, params):
            if isinstance(record, UserError):
                problems.append(str(record))
                continue
            where, text, intent, given_slice = record
            slice_name = taxonomy.slice_of(intent)
            if slice_name is None and params.unknown_intents == "skip":
                skipped += 1
            elif slice_name is None:
                problems.append(
                    f"{where}: field '{intent_column}': '{intent}' is not in params taxonomy.slices "
                    "(set evaluate.eval_set.unknown_intents: skip to leave such rows out)"
                )
            elif given_slice is not None and given_slice != slice_name:
                problems.append(
                    f"{where}: field '{slice_column}': '{given_slice}' does not match intent '{intent}'"
                    f" (taxonomy says '{slice_name}')"
                )
            else:
                examples.append(EvalExample(where, text, intent, slice_name))
    except UserError as err:
        problems.append(str(err))
    if not examples and not problems:
        problems.append(f"{path}: no eval rows with an intent of params taxonomy.slices")
    return LoadedEvalSet(examples, skipped), problems


def load_eval_set(path: Path, params: EvalSetParams, taxonomy: Taxonomy) -> LoadedEvalSet:
    """The eval examples, with intents checked against the taxonomy (`eval_set_problems`, whose first
    problem is a UserError)."""
    loaded, problems = eval_set_problems(path, params, taxonomy)
    if problems:
        raise UserError(problems[0])
    return loaded


def eval_set_params(params_path: str | Path) -> EvalSetParams:
    """The `evaluate.eval_set` block of a params file (defaults where absent), for stages other than
    evaluate that read the eval set; a bad block is a UserError naming the key."""
    raw = (read_params_file(params_path).get("evaluate") or {}).get("eval_set") or {}
    try:
        return EvalSetParams.model_validate(raw, context={"repository": Path(params_path).resolve().parent})
    except ValidationError as err:  # worded as the evaluate stage's own load_section words it
        raise UserError(describe_errors(err, Path(params_path), "evaluate.eval_set")) from None


def eval_set_file(params_path: str | Path, params: EvalSetParams) -> Path:
    """The eval set's file, relative to where the stages run (the repository's root); one that is not
    there is a UserError naming the params key, said before any data is read."""
    path = Path(params.path)
    if not path.is_file():
        raise UserError(f"{params_path}: evaluate.eval_set.path: '{path}' does not exist (or is not a file)")
    return path


def eval_texts(path: Path, params: EvalSetParams) -> Iterator[tuple[str, str]]:
    """("file:line", user text) of every record of the eval set, whatever its intent: what decontamination
    compares training rows with (a row outside the taxonomy is real traffic too)."""
    for record in _records(path, params):
        if isinstance(record, UserError):
            raise record
        yield record[0], record[1]
