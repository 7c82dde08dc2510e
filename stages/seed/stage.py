"""Stage seed: validate and normalise the expert seed files, give rows stable ids.

Inputs: seeds/cases.jsonl (expert cases), seeds/failures.jsonl (logged failures, corrected),
seeds/eval_traffic.jsonl (real-traffic-style eval split, never given to generation).
Outputs: data/seed/seeds.jsonl (human training rows and generation seeds), data/seed/eval.jsonl,
data/seed/where.jsonl (each row's file and line, {"id", "case_id", "where": "seeds/cases.jsonl:4"}, so
later stages name a seed as a person finds it), metrics/seed.json.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal, NamedTuple

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from stages.core.cli import StageParser
from stages.core.errors import UserError
from stages.core.files import text_lines
from stages.core.jsonl import parse_jsonl_line, write_json, write_jsonl
from stages.core.params import Taxonomy, load_section, read_params_file, repository_path
from stages.core.rows import Message, row_id, turn_order_problem
from stages.core.tally import count_by
from stages.core.text import control_characters, has_visible, match_key, tidy
from stages.seed.params import SeedParams

Origin = Literal["case", "failure", "eval"]
Located = list[tuple[str, dict[str, Any]]]  # ("file:line", row) pairs


class SeedLine(BaseModel):
    """One line of a seed file, as the experts write it."""

    model_config = ConfigDict(extra="forbid")
    case_id: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    intent: str
    slice: str
    messages: list[Message] = Field(min_length=2)
    policy_refs: list[str] = Field(default_factory=list)
    pair: bool = False
    author: str | None = None
    channel: str | None = None
    failed_reply: str | None = Field(default=None, min_length=1)
    failure_mode: str | None = None
    logged_at: str | None = None


REQUIRED_BY_ORIGIN: dict[str, tuple[str, ...]] = {
    "case": (),
    "failure": ("failed_reply", "failure_mode"),
    "eval": (),
}


def field_problems(where: str, err: ValidationError) -> list[str]:
    """Each problem of a seed line's validation, as "file:line: field 'x': why"."""
    problems = []
    for item in err.errors():
        field = ".".join(str(part) for part in item["loc"]) or "line"
        problems.append(f"{where}: field '{field}': {item['msg'].removeprefix('Value error, ')}")
    return problems


def text_fields(line: SeedLine) -> list[tuple[str, str]]:
    """(field name as the file spells it, text) for every text a person wrote on the line."""
    fields = [(f"messages.{index}.content", message.content) for index, message in enumerate(line.messages)]
    if line.failed_reply is not None:
        fields.append(("failed_reply", line.failed_reply))
    return fields


def check_texts(line: SeedLine, where: str) -> None:
    """Refuse control characters (a bell, a NUL: pasted from a terminal or a log) and texts that show
    nothing once invisible characters are removed; the UserError names `where` and the field."""
    for field, text in text_fields(line):
        found = control_characters(text)
        if found:
            position, code = found[0]
            raise UserError(
                f"{where}: field '{field}': control character {code} at character {position}"
                f" ({len(found)} in all); remove it (a line break is written \\n in JSON)"
            )
        if not has_visible(text):
            raise UserError(f"{where}: field '{field}': empty once spaces and invisible characters are removed")


def check_failure_pair(row: dict[str, Any], where: str) -> None:
    """A logged failure whose failed reply is the corrected reply up to case, spacing, punctuation and
    typographic forms teaches no preference: a UserError naming `where`."""
    failed = row["meta"].get("failed_reply")
    if failed is not None and match_key(failed) == match_key(row["messages"][-1]["content"]):
        last = len(row["messages"]) - 1
        raise UserError(
            f"{where}: field 'failed_reply': the same as the corrected reply (messages.{last}.content) once case,"
            " spacing and punctuation are ignored: it shows no failure to learn from"
        )


def seed_row(line: SeedLine, origin: Origin, taxonomy: Taxonomy, where: str) -> dict[str, Any]:
    """Turn one validated seed line into a schema row (raises UserError naming `where`)."""
    check_texts(line, where)
    expected_slice = taxonomy.slice_of(line.intent)
    if expected_slice is None:
        raise UserError(f"{where}: field 'intent': '{line.intent}' is not in params taxonomy.slices")
    if line.slice != expected_slice:
        raise UserError(
            f"{where}: field 'slice': '{line.slice}' does not match intent '{line.intent}'"
            f" (taxonomy says '{expected_slice}')"
        )
    problem = turn_order_problem([m.role for m in line.messages])
    if problem:
        raise UserError(f"{where}: field 'messages': {problem}")
    for field in REQUIRED_BY_ORIGIN[origin]:
        if getattr(line, field) is None:
            raise UserError(f"{where}: field '{field}': required in a {origin} file")
    messages = [{"role": m.role, "content": tidy(m.content)} for m in line.messages]
    for index, message in enumerate(messages):
        if not message["content"]:
            raise UserError(f"{where}: field 'messages.{index}.content': empty after trimming")
    meta = line.model_dump(exclude={"case_id", "intent", "slice", "messages"}, exclude_none=True)
    if "failed_reply" in meta:
        meta["failed_reply"] = tidy(meta["failed_reply"])
    row: dict[str, Any] = {
        "messages": messages,
        "intent": line.intent,
        "slice": line.slice,
        "source": "human",
        "origin": origin,
        "case_id": line.case_id,
        "seed_id": "",
        "provenance": None,
        "meta": meta,
    }
    check_failure_pair(row, where)
    row["id"] = row_id(row)
    row["seed_id"] = row["id"]
    return row


# A project may have logged no failures yet; expert cases and eval traffic it must have.
MAY_BE_EMPTY: dict[str, bool] = {"case": False, "failure": True, "eval": False}


class Rejected(NamedTuple):
    """A seed line with a problem of its own: its file, its line (None: the file cannot be read from some
    line on) and the taxonomy intent it names (None: no intent of the taxonomy can be read from it)."""

    file: str
    line: int | None
    intent: str | None


class SeedFile(NamedTuple):
    """One seed file read line by line: its valid rows ("file:line", row), every problem of its lines,
    and the lines those problems reject (so set-level rules do not report what only they cause)."""

    rows: Located
    problems: list[str]
    rejected: list[Rejected]


# An "intent" key and its string value in a line that is not valid JSON (a comma or a brace missing)
_INTENT_TEXT = re.compile(r'"intent"\s*:\s*"([^"\\]*)"')


def _named_intent(raw: Any, text: str, taxonomy: Taxonomy) -> str | None:
    """The taxonomy intent a rejected seed line names, if any: its `intent` once parsed (`raw`), or for
    a line that is not JSON, the one its text gives an "intent" key."""
    if raw is None:
        found = _INTENT_TEXT.findall(text)
        intent = found[0] if len(found) == 1 else None
    else:
        intent = raw.get("intent") if isinstance(raw, dict) else None
    return intent if isinstance(intent, str) and taxonomy.slice_of(intent) is not None else None


def seed_file_problems(path: Path, origin: Origin, taxonomy: Taxonomy) -> SeedFile:
    """One seed file (`SeedFile`), read by core.files (UTF-8, lines as an editor counts them). A file that
    cannot be read (missing, or not UTF-8 from some line on, unless core.files collects such lines) adds
    that one problem; a file of cases or eval traffic with no line says so."""
    result = SeedFile([], [], [])
    try:
        for line_no, line in text_lines(path):
            where = f"{path}:{line_no}"
            raw = None
            try:
                raw = parse_jsonl_line(path, line_no, line)
                if raw is not None:
                    result.rows.append((where, seed_row(SeedLine.model_validate(raw), origin, taxonomy, where)))
                continue
            except ValidationError as err:
                result.problems.extend(field_problems(where, err))
            except UserError as err:
                result.problems.append(str(err))
            result.rejected.append(Rejected(str(path), line_no, _named_intent(raw, line, taxonomy)))
    except UserError as err:  # raised by text_lines: nothing after it can be read
        result.problems.append(str(err))
        result.rejected.append(Rejected(str(path), None, None))
    if not result.rows and not result.problems and not MAY_BE_EMPTY[origin]:
        what = "expert cases" if origin == "case" else "eval rows"
        result.problems.append(f"{path}: the file is empty (no JSON lines), so the seed set is empty of {what}")
    return result


def load_seed_file(path: Path, origin: Origin, taxonomy: Taxonomy) -> Located:
    """Rows of one seed file, each with its 'file:line' for later error messages; the first problem
    (`seed_file_problems`) is a UserError."""
    rows, problems, _ = seed_file_problems(path, origin, taxonomy)
    if problems:
        raise UserError(problems[0])
    return rows


def seed_set_problems(
    train: Located,
    evaluation: Located,
    taxonomy: Taxonomy,
    params: SeedParams,
    rejected: Sequence[Rejected] = (),
) -> list[str]:
    """Every broken set-level rule: unique case ids and contents, eval kept apart, enough cases per intent.

    `train` and `evaluation` hold ("file:line", row) pairs; each problem names the line (or, for too few
    cases, the intents). `rejected` are the training lines with problems of their own (reported already):
    what only they cause is not a problem here. A rejected line counts for the intent it names, so an
    intent is short only if it stays short once they are fixed, and the set is not empty; when some name
    no intent of the taxonomy, the short intents say that they are counted without those.
    """
    if not train and not rejected:
        return ["the seed set is empty: seeds/cases.jsonl and seeds/failures.jsonl hold no rows"]
    problems = []
    first_seen: dict[str, str] = {}
    for where, row in train + evaluation:
        previous = first_seen.setdefault(row["case_id"], where)
        if previous != where:
            problems.append(f"{where}: field 'case_id': '{row['case_id']}' already used at {previous}")
    ids: dict[str, str] = {}
    for where, row in train + evaluation:
        previous = ids.setdefault(row["id"], where)
        if previous != where:
            problems.append(f"{where}: same conversation as {previous}")
    train_prompts = {match_key(_first_user(row)): where for where, row in train}
    for where, row in evaluation:
        leak = train_prompts.get(match_key(_first_user(row)))
        if leak:
            problems.append(f"{where}: field 'messages': eval user turn also appears in training seeds at {leak}")
    short = _short_intents(train, rejected, taxonomy, params.min_cases_per_intent)
    return problems + ([short] if short else [])


def _short_intents(train: Located, rejected: Sequence[Rejected], taxonomy: Taxonomy, minimum: int) -> str | None:
    """The problem of the taxonomy intents with fewer than `minimum` training seeds, counting each
    rejected line for the intent it names (seed_set_problems), or None."""
    per_intent = Counter([row["intent"] for _, row in train] + [line.intent for line in rejected if line.intent])
    short = sorted(intent for intents in taxonomy.slices.values() for intent in intents if per_intent[intent] < minimum)
    if not short:
        return None
    files = " and ".join(sorted({where.rsplit(":", 1)[0] for where, _ in train} | {line.file for line in rejected}))
    unread = sum(1 for line in rejected if line.intent is None)
    after = (
        f" (after the rows above are fixed: {unread} of them name{'s' if unread == 1 else ''} no intent of the"
        " taxonomy and may be of these)"
        if unread
        else ""
    )
    intents = ", ".join(short)
    return f"{files}: intents with fewer than seed.min_cases_per_intent={minimum} training seeds: {intents}{after}"


def check_seed_set(train: Located, evaluation: Located, taxonomy: Taxonomy, params: SeedParams) -> None:
    """`seed_set_problems` as a UserError naming the first problem, if there is one."""
    problems = seed_set_problems(train, evaluation, taxonomy, params)
    if problems:
        raise UserError(problems[0])


def _first_user(row: dict[str, Any]) -> str:
    return next(m["content"] for m in row["messages"] if m["role"] == "user")


def seed_metrics(train: list[dict[str, Any]], evaluation: list[dict[str, Any]], taxonomy: Taxonomy) -> dict[str, Any]:
    """metrics/seed.json: training rows, eval rows, intents, pair-marked seeds, rows per origin, and per
    taxonomy slice its training rows, logged failures and eval rows."""
    return {
        "rows": len(train),
        "eval_rows": len(evaluation),
        "intents": len({row["intent"] for row in train}),
        "pair_marked": sum(1 for row in train if row["meta"].get("pair")),
        "by_origin": count_by(train, lambda row: row["origin"]),
        "slices": {
            name: {
                "critical": taxonomy.is_critical(name),
                "rows": sum(1 for row in train if row["slice"] == name),
                "failures": sum(1 for row in train if row["slice"] == name and row["origin"] == "failure"),
                "eval_rows": sum(1 for row in evaluation if row["slice"] == name),
            }
            for name in taxonomy.slices
        },
    }


def seed_places(located: Located) -> list[dict[str, Any]]:
    """data/seed/where.jsonl's records: each row's id, case id and "file:line", in output order. Kept apart
    from the rows, so that a line number is never part of a row or of anything made from it."""
    return [{"id": row["id"], "case_id": row["case_id"], "where": where} for where, row in located]


def check_eval_set_param(params_path: Path, produced: Path) -> None:
    """Check params `evaluate.eval_set.path` (read raw: no stage imports another's schema) before DVC does.

    DVC hashes every dependency of the evaluate stage, the eval set among them, before running it, so a
    missing or outside file would surface as DVC's own errno message. This stage runs first and lists
    those two keys as its params, so when they change it names the key instead. The eval split this
    stage writes (`produced`) is not checked: it is made here.
    """
    eval_set = (read_params_file(params_path).get("evaluate") or {}).get("eval_set") or {}
    value = eval_set.get("path")
    if not isinstance(value, str) or Path(value) == produced:
        return
    key = f"{params_path}: evaluate.eval_set.path"
    allowed = eval_set.get("allow_outside_repository") is True
    try:
        repository_path(value, allowed, "evaluate.eval_set.allow_outside_repository", params_path.resolve().parent)
    except ValueError as err:
        raise UserError(f"{key}: {err}") from None
    if not Path(value).is_file():
        raise UserError(f"{key}: '{value}' does not exist (or is not a file)")


def build_parser() -> StageParser:
    """The stage's command line (see stages.core.cli)."""
    parser = StageParser("seed", __doc__)
    parser.add_argument("--cases", type=Path, default=Path("seeds/cases.jsonl"))
    parser.add_argument("--failures", type=Path, default=Path("seeds/failures.jsonl"))
    parser.add_argument("--eval", dest="eval_file", type=Path, default=Path("seeds/eval_traffic.jsonl"))
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    parser.add_output("--out", "data/seed", "folder for seeds.jsonl, eval.jsonl and where.jsonl")
    parser.add_output("--metrics", "metrics/seed.json")
    return parser


def main() -> None:
    """Validate the three seed files, check the set, write the training and eval rows and the metrics."""
    args = build_parser().parse()

    taxonomy = load_section(args.params, "taxonomy", Taxonomy)
    params = load_section(args.params, "seed", SeedParams)
    check_eval_set_param(args.params, args.out / "eval.jsonl")
    train = load_seed_file(args.cases, "case", taxonomy) + load_seed_file(args.failures, "failure", taxonomy)
    evaluation = load_seed_file(args.eval_file, "eval", taxonomy)
    check_seed_set(train, evaluation, taxonomy, params)
    train_rows = [row for _, row in train]
    eval_rows = [row for _, row in evaluation]
    write_jsonl(args.out / "seeds.jsonl", train_rows)
    write_jsonl(args.out / "eval.jsonl", eval_rows)
    write_jsonl(args.out / "where.jsonl", seed_places(train + evaluation))
    write_json(args.metrics, seed_metrics(train_rows, eval_rows, taxonomy))
    print(f"seed: {len(train_rows)} training seeds, {len(eval_rows)} eval rows")
