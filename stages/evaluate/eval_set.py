"""The real held-out traffic the evaluate stage scores on, and the check that it never trained anything.

Three file formats (params `evaluate.eval_set.format`):
    rows    the pipeline's row schema (data/seed/eval.jsonl): user turns of `messages`, `intent`, `slice`
    csv     an imported log with a header line; `columns` maps the text, intent and optional slice column
    jsonl   an imported log, one object a line; the text field may also hold a chat `messages` list
Every example remembers its `file:line`, so errors and leak reports point at the line to fix.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stages.core.errors import UserError
from stages.core.files import iter_csv
from stages.core.jsonl import iter_jsonl
from stages.core.params import Taxonomy
from stages.core.rows import user_text
from stages.core.text import match_key, tidy
from stages.evaluate.params import EvalSetParams


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


@dataclass(frozen=True)
class Leak:
    """An eval example whose normalised text (text.match_key) is also in a training set."""

    example: EvalExample
    train_sets: tuple[str, ...]  # the training sets whose rows have the same normalised text
    train_row_id: str  # the first matching training row


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


def find_leaks(
    examples: list[EvalExample], train_sets: dict[str, list[dict[str, Any]]]
) -> tuple[list[EvalExample], list[Leak]]:
    """Split eval examples into clean ones and ones whose normalised text is in a training set."""
    seen: dict[str, tuple[list[str], str]] = {}  # text key -> (training sets holding it, first row id)
    for set_name, rows in train_sets.items():
        for row in rows:
            set_names, _ = seen.setdefault(match_key(user_text(row)), ([], row["id"]))
            if set_name not in set_names:
                set_names.append(set_name)
    clean: list[EvalExample] = []
    leaks: list[Leak] = []
    for example in examples:
        match = seen.get(match_key(example.text))
        if match is None:
            clean.append(example)
        else:
            leaks.append(Leak(example, tuple(match[0]), match[1]))
    return clean, leaks


def leak_error(leaks: list[Leak]) -> UserError:
    """The error for `on_leak: error`: names the first leaking eval row's file:line and how many leak."""
    first = leaks[0]
    return UserError(
        f"{first.example.where}: eval text also in training set(s) {', '.join(first.train_sets)}"
        f" (row {first.train_row_id}); {len(leaks)} eval row(s) leak in all"
        " (set evaluate.on_leak: drop to leave them out of the eval set)"
    )


def leak_records(leaks: list[Leak]) -> list[dict[str, Any]]:
    """data/evaluate/leaked.jsonl: each leaking eval row with the training sets and first row it matched."""
    return [
        {
            "where": leak.example.where,
            "text": leak.example.text,
            "intent": leak.example.intent,
            "slice": leak.example.slice,
            "train_sets": list(leak.train_sets),
            "train_row_id": leak.train_row_id,
        }
        for leak in leaks
    ]
