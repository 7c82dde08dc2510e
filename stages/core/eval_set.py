"""The real held-out traffic: read by evaluate (which scores on it) and dedup (which decontaminates against it).

Three file formats (params `evaluate.eval_set.format`):
    rows    the pipeline's row schema (data/seed/eval.jsonl): user turns of `messages`, `intent`, `slice`
    csv     an imported log with a header line; `columns` maps the text, intent and optional slice column
    jsonl   an imported log, one object a line; the text field may also hold a chat `messages` list
Every example remembers its `file:line`, so errors and leak reports point at the line to fix.
The file is set by params `evaluate.eval_set` (EvalSetParams, here so that dedup reads the same block).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError, ValidationInfo, field_validator

from stages.core.errors import UserError
from stages.core.files import iter_csv
from stages.core.jsonl import iter_jsonl
from stages.core.params import Section, Taxonomy, describe_errors, read_params_file, repository_path
from stages.core.rows import user_text
from stages.core.text import tidy


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
    path: str = Field(default="data/seed/eval.jsonl", min_length=1)
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


def _raw_records(path: Path, params: EvalSetParams) -> Iterator[tuple[str, str, str, str | None]]:
    """(where, text, intent, slice or None) for each record of the file, before taxonomy checks."""
    columns = params.columns
    if params.format == "rows":
        for line_no, row in iter_jsonl(path):
            where = f"{path}:{line_no}"
            for field in ("messages", "intent"):
                if field not in row:
                    raise UserError(f"{where}: field '{field}': missing in a rows-format file")
            try:
                text = user_text(row)
            except (KeyError, TypeError):
                raise UserError(f"{where}: field 'messages': not a list of chat messages") from None
            yield where, _text_value(text, where, "messages"), str(row["intent"]), row.get("slice")
        return
    if params.format == "jsonl":
        for line_no, record in iter_jsonl(path):
            where = f"{path}:{line_no}"
            yield where, *_mapped(record, where, columns.text, columns.intent, columns.slice)
        return
    wanted = [name for name in (columns.text, columns.intent, columns.slice) if name is not None]
    hint = "; set evaluate.eval_set.columns to the file's column names"
    for record in iter_csv(path, wanted, "eval set", hint):
        # record.where names the spreadsheet row (and the text lines when a cell spans several)
        yield record.where, *_mapped(record.values, record.where, columns.text, columns.intent, columns.slice)


def _mapped(
    record: dict[str, Any], where: str, text_column: str, intent_column: str, slice_column: str | None
) -> tuple[str, str, str | None]:
    for column in (text_column, intent_column):
        if record.get(column) is None:
            raise UserError(f"{where}: field '{column}': missing")
    label = str(record[intent_column]).strip()
    if not label:
        raise UserError(f"{where}: field '{intent_column}': empty intent")
    slice_label = None
    if slice_column is not None:
        raw_slice = record.get(slice_column)
        slice_label = str(raw_slice).strip() if raw_slice not in (None, "") else None
    return _text_value(record[text_column], where, text_column), label, slice_label


def load_eval_set(path: Path, params: EvalSetParams, taxonomy: Taxonomy) -> LoadedEvalSet:
    """The eval examples, with intents checked against the taxonomy.

    An intent outside the taxonomy is an error naming file:line, or skipped and counted when
    `unknown_intents: skip` (an imported log usually holds intents this data set does not cover).
    A given slice must be the taxonomy's slice for the intent: a mismatch is a labelling mistake.
    """
    examples: list[EvalExample] = []
    skipped = 0
    intent_column = "intent" if params.format == "rows" else params.columns.intent
    slice_column = "slice" if params.format == "rows" else params.columns.slice
    for where, text, intent, given_slice in _raw_records(path, params):
        slice_name = taxonomy.slice_of(intent)
        if slice_name is None:
            if params.unknown_intents == "skip":
                skipped += 1
                continue
            raise UserError(
                f"{where}: field '{intent_column}': '{intent}' is not in params taxonomy.slices "
                "(set evaluate.eval_set.unknown_intents: skip to leave such rows out)"
            )
        if given_slice is not None and given_slice != slice_name:
            raise UserError(
                f"{where}: field '{slice_column}': '{given_slice}' does not match intent '{intent}'"
                f" (taxonomy says '{slice_name}')"
            )
        examples.append(EvalExample(where, text, intent, slice_name))
    if not examples:
        raise UserError(f"{path}: no eval rows with an intent of params taxonomy.slices")
    return LoadedEvalSet(examples, skipped)


def eval_set_params(params_path: str | Path) -> EvalSetParams:
    """The `evaluate.eval_set` block of a params file (defaults where absent), for stages other than
    evaluate that read the eval set; a bad block is a UserError naming the key."""
    raw = (read_params_file(params_path).get("evaluate") or {}).get("eval_set") or {}
    try:
        return EvalSetParams.model_validate(raw, context={"repository": Path(params_path).resolve().parent})
    except ValidationError as err:  # worded as the evaluate stage's own load_section words it
        raise UserError(describe_errors(err, Path(params_path), "evaluate.eval_set")) from None


def eval_texts(path: Path, params: EvalSetParams) -> Iterator[tuple[str, str]]:
    """("file:line", user text) of every record of the eval set, whatever its intent: what decontamination
    compares training rows with (a row outside the taxonomy is real traffic too)."""
    for where, text, _, _ in _raw_records(path, params):
        yield where, text
