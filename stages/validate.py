"""`python -m stages.validate`: check a whole domain and params.yaml without running the pipeline.

Lists every problem at once, each naming its file, line and field where one is known, and exits 2 if
there is any (0 and one line per part when all is valid). A line that is not UTF-8, in any file, is
one problem naming it and the encoding its bytes look like; the file's other lines are still checked:
    params     every params.yaml section (each stage's pydantic model)
    domain     seeds/domain.yaml (core.domain: product, system prompt, rules, verbs, PII detectors)
    seeds      cases.jsonl, failures.jsonl, eval_traffic.jsonl line by line (the seed stage's rules
               against params `taxonomy`), then as a set (ids, duplicates, eval kept apart, enough
               cases per intent). A line with a problem of its own brings no follow-on about the set:
               it counts for the intent it names, even as text that is not JSON (one that names none
               leaves a short intent said as "after the rows above are fixed"), and the set is not
               empty while it has such lines
    eval set   the file params `evaluate.eval_set` names when it is not the seed stage's split (an
               imported csv/jsonl log), read by evaluate's and dedup's reader (core.eval_set) with every
               problem listed (spreadsheet row and text lines, field), intents and slices against the
               taxonomy; its texts against the training seeds by evaluate's leak check (a problem with
               `on_leak: error`, counted with drop) and through the eval text checks below
    policy     seeds/policy.md states figures; every `policy_refs` rule a seed names is in it
    human text every training seed row (cases, corrected failures) through the checks the pipeline
               applies to it: the filter's checks of params `filter.checks`, built and run by the
               filter's own code as for data/filter/human.jsonl (the intent model trained on these
               rows, as the filter trains it), and the mix's token limit. A seed they fail would
               silently leave the mix (rule `human_checks`): here it is a problem, one line per
               reason. Eval traffic (eval_traffic.jsonl, and an imported eval set's user text, what
               evaluate reads of it), which the filter never sees, goes through its blocklist, pii and
               policy_facts checks. Reviewers' edits are checked by the filter stage only: an edit
               replaces a generated row's reply, and there are no generated rows before the pipeline
    prompts    prompts/*.md parse, with their domain placeholders filled from the domain file; with
               `generate.backend: openai`, the templates `generate.openai` names are there and of the
               kind their list needs, by the teacher's own loader
    lexicon    the built-in generator's word lists (params `generate.builtin.lexicon`, e.g.
               seeds/lexicon.yaml), by the generator's own validator
Not a stage and no stage's dependency: it imports every stage's code.
"""

from __future__ import annotations

import argparse
import tempfile
from dataclasses import replace
from pathlib import Path

from stages.core.decisions import DECISIONS_FILE, LABEL_STUDIO_EXPORT, decision_problems
from stages.core.domain import PROMPT_PLACEHOLDERS, Domain, domain_problems
from stages.core.errors import UserError, run_main
from stages.core.eval_set import (
    SEED_EVAL_SPLIT,
    EvalExample,
    eval_set_file,
    eval_set_params,
    eval_set_problems,
)
from stages.core.files import collecting_encoding_problems
from stages.core.jsonl import write_jsonl
from stages.core.params import DEFAULT_PARAMS_FILE, Section, Taxonomy, load_section
from stages.core.rows import reason_code
from stages.dedup.params import DedupParams
from stages.evaluate.leaks import find_leaks
from stages.evaluate.params import EvaluateParams
from stages.filter.checks.base import CheckInputs
from stages.filter.human import human_reasons
from stages.filter.params import FilterParams, FilterSection
from stages.filter.policy import PolicyFacts
from stages.filter.runner import assemble_checks
from stages.generate.builtin.lexicon import validate_lexicon
from stages.generate.params import GenerateParams
from stages.generate.teacher.prompts import TEMPLATE_SUFFIX, load_template, template_problems
from stages.mix.finetune import TokenCounter
from stages.mix.gates import token_gate
from stages.mix.params import MixParams
from stages.mix.rules import Removals
from stages.review.params import ReviewParams
from stages.seed.params import SeedParams
from stages.seed.stage import Located, Origin, Rejected, seed_file_problems, seed_set_problems

SECTIONS: dict[str, type[Section]] = {
    "taxonomy": Taxonomy,
    "seed": SeedParams,
    "generate": GenerateParams,
    "filter": FilterParams,
    "dedup": DedupParams,
    "review": ReviewParams,
    "mix": MixParams,
    "evaluate": EvaluateParams,
}
SEED_FILES: dict[str, Origin] = {"cases.jsonl": "case", "failures.jsonl": "failure", "eval_traffic.jsonl": "eval"}


def load_all(path: str | Path = DEFAULT_PARAMS_FILE) -> dict[str, Section]:
    """Every section validated, by name; raises UserError listing every section's problems."""
    loaded, problems = params_problems(path)
    if problems:
        raise UserError("\n".join(problems))
    return loaded


def params_problems(path: str | Path) -> tuple[dict[str, Section], list[str]]:
    """(the sections that are valid, by name; every problem of the others)."""
    loaded: dict[str, Section] = {}
    problems: list[str] = []
    for name, model in SECTIONS.items():
        try:
            loaded[name] = load_section(path, name, model)
        except UserError as err:
            problems.append(str(err))
    return loaded, problems


def policy_problems(path: Path, seeds: Located) -> tuple[bool, list[str]]:
    """(whether the policy file reads as a policy, its problems): it states figures, and has every rule
    the seeds' `policy_refs` name."""
    try:
        facts = PolicyFacts.from_file(path)
    except UserError as err:
        return False, [str(err)]
    refs = facts.refs()
    if not refs:
        return True, []
    return True, [
        f"{where}: field 'policy_refs': rule {ref!r} is not in {path}"
        for where, row in seeds
        for ref in row["meta"].get("policy_refs", [])
        if ref not in refs
    ]


# The filter's checks that eval traffic also goes through: what it must not hold (blocked phrases,
# personal data, figures the policy does not state), though the filter never sees it.
EVAL_TEXT_CHECKS = ("blocklist", "pii", "policy_facts")


EvalTexts = tuple[Located, str]  # eval rows and the field their text is in ("messages", a log's text column)


def human_text_problems(
    train: Located,
    evaluation: list[EvalTexts],
    inputs: CheckInputs,
    sections: dict[str, Section],
    domain: Domain | None,
) -> tuple[list[str], list[str]]:
    """(report lines, problems): the checks the pipeline applies to human text (module docstring), run
    by the pipeline's own code on the valid seed rows and eval rows, each failure naming its line. A
    check that cannot be built (a bad blocklist, a PII detector named like a built-in kind) is a problem
    and the others still run; one whose input is missing is said in the report, as the filter says it."""
    filter_params = sections.get("filter")
    params = filter_params if isinstance(filter_params, FilterSection) else FilterParams()
    problems: list[str] = []
    rows = [row for _, row in train]
    with tempfile.TemporaryDirectory() as folder:
        seeds_file = Path(folder) / "seeds.jsonl"  # what the seed stage would write: cases, then failures
        write_jsonl(seeds_file, rows)
        check_set = assemble_checks(params, replace(inputs, seeds=seeds_file), problems)
        found = human_reasons(rows, check_set.checks)
    problems += [
        f"{where}: field 'messages': the filter would reject this row ({reason})"
        for (where, _), reasons in zip(train, found, strict=True)
        for reason in reasons
    ]
    eval_checks = [check for check in check_set.checks if check.name in EVAL_TEXT_CHECKS]
    for located, field in evaluation:
        problems += [
            f"{where}: field '{field}': eval traffic the filter's {reason_code(reason)} check would reject ({reason})"
            for (where, _), reasons in zip(located, human_reasons([r for _, r in located], eval_checks), strict=True)
            for reason in reasons
        ]
    eval_rows = [pair for located, _ in evaluation for pair in located]
    problems += token_limit_problems(train, sections.get("mix"), domain)
    report = [
        f"{_files(train) or 'training seeds'}: {len(rows)} rows through the filter's {len(check_set.checks)}"
        " checks, as the filter checks them, and the mix's token limit",
        f"{_files(eval_rows) or 'eval traffic'}: {len(eval_rows)} rows through the filter's"
        f" {', '.join(EVAL_TEXT_CHECKS[:-1])} and {EVAL_TEXT_CHECKS[-1]} checks (the filter never sees eval traffic)",
        *(f"filter check {name} not run, as in the filter: {why}" for name, why in check_set.skipped.items()),
    ]
    return report, problems


def _files(located: Located) -> str:
    """The files `located` rows come from, "a and b"."""
    return " and ".join(sorted({where.rsplit(":", 1)[0] for where, _ in located}))


def token_limit_problems(train: Located, mix: Section | None, domain: Domain | None) -> list[str]:
    """The seed rows whose fine-tuning line is over `mix.fine_tuning.max_tokens_per_example`, by the
    mix's own gate (none to say without valid mix params or domain file: both are reported already)."""
    if not isinstance(mix, MixParams) or domain is None:
        return []
    removals = Removals()
    tuning = mix.fine_tuning
    rows = [row for _, row in train]
    token_gate(rows, TokenCounter(tuning.encoding), domain.system_prompt, tuning.max_tokens_per_example, removals)
    return [
        f"{where}: field 'messages': the mix would leave this row out ({removals.reasons[row['id']]})"
        for where, row in train
        if row["id"] in removals.reasons
    ]


def prompt_problems(
    prompts_dir: Path, domain: Domain | None, generate: GenerateParams | None, params_path: Path
) -> tuple[str, list[str]]:
    """(what was checked, problems) of every template of `prompts_dir` and, when `generate.backend` is
    openai, of the templates `generate.openai` names, by the teacher's own loader (there, of their list's kind)."""
    # without a valid domain file (reported already) templates are still parsed, placeholders left in
    values = domain.prompt_values() if domain else {name: f"<{name}>" for name in PROMPT_PLACEHOLDERS}
    problems, count = [], 0
    for path in sorted(prompts_dir.glob(f"*{TEMPLATE_SUFFIX}")):
        count += 1
        try:
            load_template(path, values)
        except UserError as err:
            problems.append(str(err))
    checked = f"{prompts_dir}/: {count} templates"
    if generate is not None and generate.backend == "openai":
        named, found = template_problems(generate.openai, prompts_dir, params_path, values)
        checked += f"; the {len(named)} that generate.openai names are there, each of its list's kind"
        problems += found
    return checked, problems


def eval_set_part(
    params_path: Path, sections: dict[str, Section], seeds_dir: Path, train: Located
) -> tuple[list[str], EvalTexts, list[str]]:
    """(report lines, the eval rows for the eval text checks, problems) of the eval set params
    `evaluate.eval_set` names. An imported log is read by evaluate's and dedup's own reader
    (core.eval_set: every problem at once, intents and slices against the taxonomy), and its texts are
    compared with the training seeds by evaluate's leak check. The default, the seed stage's eval split,
    is made from eval_traffic.jsonl, checked as a seed file. Without valid `taxonomy` and
    `evaluate.eval_set` params (their problems are listed already) nothing is read."""
    taxonomy = sections.get("taxonomy")
    try:
        settings = eval_set_params(params_path)
    except UserError:
        return [], ([], ""), []
    if not isinstance(taxonomy, Taxonomy):
        return [], ([], ""), []
    if Path(settings.path).resolve() == Path(SEED_EVAL_SPLIT).resolve():
        line = f"evaluate.eval_set: {SEED_EVAL_SPLIT}, the seed stage's split of {seeds_dir / 'eval_traffic.jsonl'}"
        if settings.format == "rows":
            return [line], ([], ""), []
        return [line], ([], ""), [f"{params_path}: evaluate.eval_set.format: '{settings.format}', but it is rows"]
    try:
        path = eval_set_file(params_path, settings)
    except UserError as err:
        return [], ([], ""), [str(err)]
    loaded, problems = eval_set_problems(path, settings, taxonomy)
    field = "messages" if settings.format == "rows" else settings.columns.text
    rows: Located = [
        (e.where, {"messages": [{"role": "user", "content": e.text}], "intent": e.intent, "slice": e.slice})
        for e in loaded.examples
    ]
    left_out, found = seed_leak_problems(loaded.examples, train, sections.get("evaluate"), field)
    line = f"{path}: {len(rows)} valid eval rows (params evaluate.eval_set, {settings.format}), read as evaluate does"
    if loaded.skipped_unknown_intent:
        line += f"; {loaded.skipped_unknown_intent} left out for an intent outside the taxonomy (unknown_intents: skip)"
    if left_out:
        line += f"; {left_out} a training seed's text, which evaluate leaves out (on_leak: drop) if that seed trains"
    return [line], (rows, field), problems + found


def seed_leak_problems(
    examples: list[EvalExample], train: Located, evaluate: Section | None, field: str
) -> tuple[int, list[str]]:
    """(how many eval examples are a training seed's text by evaluate's own leak check and params
    `evaluate.leak_check`; with `on_leak: error`, a problem for each, naming the text `field`). Evaluate
    compares them with the mix's training rows, and which seeds train is decided by the mix's split, so
    here every training seed counts."""
    if not isinstance(evaluate, EvaluateParams) or not examples or not train:
        return 0, []
    _, leaks = find_leaks(examples, {"human": [row for _, row in train]}, evaluate.leak_check)
    if evaluate.on_leak == "drop":
        return len(leaks), []
    seed_at = {row["id"]: where for where, row in train}
    return len(leaks), [
        f"{leak.example.where}: field '{field}': eval text also a training seed's, at {seed_at[leak.train_row_id]}"
        f" ({leak.kind} match); evaluate.on_leak: error stops evaluate if that seed trains the probes"
        for leak in leaks
    ]


def lexicon_problems(settings: GenerateParams | None) -> tuple[str, list[str]]:
    """(what was checked, the problems) of the lexicon params `generate.builtin.lexicon` names."""
    path = settings.builtin.lexicon if settings is not None else None
    if path is None:
        return "no domain lexicon (the neutral default alone)", []
    return path, validate_lexicon(path)


def validate_domain(params_path: Path, seeds_dir: Path, prompts_dir: Path) -> tuple[list[str], list[str]]:
    """(one line per part checked, every problem found), without running any stage. A line that is not
    UTF-8 is one problem, first, and its file's other lines are still checked (core.files
    `collecting_encoding_problems`); what the bad bytes may have caused on that line is left out."""
    with collecting_encoding_problems() as encoding:
        report, problems = _validate_parts(params_path, seeds_dir, prompts_dir)
    # one problem found twice (a template that is broken and named by params) is listed once
    return report, list(dict.fromkeys(encoding.messages + encoding.unrelated(problems)))


def _validate_parts(params_path: Path, seeds_dir: Path, prompts_dir: Path) -> tuple[list[str], list[str]]:
    """(one line per part checked, every problem found): validate_domain's parts in turn."""
    sections, problems = params_problems(params_path)
    report = [f"{params_path}: {len(sections)} of {len(SECTIONS)} sections valid"]
    domain, found = domain_problems(seeds_dir / "domain.yaml")
    problems += found
    report.append(f"{seeds_dir / 'domain.yaml'}: {'valid' if domain else 'invalid'}")
    taxonomy = sections.get("taxonomy")
    train: Located = []
    evaluation: Located = []
    rejected: list[Rejected] = []  # training lines with problems of their own: no follow-ons from them
    if isinstance(taxonomy, Taxonomy):
        for name, origin in SEED_FILES.items():
            rows, found, refused = seed_file_problems(seeds_dir / name, origin, taxonomy)
            (evaluation if origin == "eval" else train).extend(rows)
            rejected += refused if origin != "eval" else []
            problems += found
            report.append(f"{seeds_dir / name}: {len(rows)} valid rows")
        seed_params = sections.get("seed")
        if isinstance(seed_params, SeedParams):
            problems += seed_set_problems(train, evaluation, taxonomy, seed_params, rejected)
    lines, imported, found = eval_set_part(params_path, sections, seeds_dir, train)
    report += lines
    problems += found
    policy = seeds_dir / "policy.md"
    readable, found = policy_problems(policy, train + evaluation)
    problems += found  # an unreadable policy is said once: the replies are then checked without it
    inputs = CheckInputs(
        blocklist=seeds_dir / "blocklist.txt",
        policy=policy if readable else None,
        prompts=prompts_dir if prompts_dir.is_dir() else None,
        domain=domain,
    )
    lines, found = human_text_problems(train, [(evaluation, "messages"), imported], inputs, sections, domain)
    report += lines
    problems += found
    reviews = seeds_dir / DECISIONS_FILE.parent.name
    decided, found = decision_problems(reviews / DECISIONS_FILE.name, reviews / LABEL_STUDIO_EXPORT.name)
    problems += found
    report.append(
        f"{reviews}/: {decided} reviewer decisions (row ids are checked by the review stage, and edits by the"
        " filter stage, which has the generated rows they edit)"
    )
    generate = sections.get("generate")
    generate = generate if isinstance(generate, GenerateParams) else None
    checked, found = prompt_problems(prompts_dir, domain, generate, params_path)
    problems += found
    report.append(checked)
    checked, found = lexicon_problems(generate)
    problems += found
    report.append(f"{checked}: the built-in generator's words")
    return report, problems


def main() -> None:
    """Validate --params, the domain in --seeds and the templates in --prompts; list every problem."""
    parser = argparse.ArgumentParser(
        prog="python -m stages.validate", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--params", type=Path, default=DEFAULT_PARAMS_FILE)
    parser.add_argument("--seeds", type=Path, default=Path("seeds"), help="the domain folder")
    parser.add_argument("--prompts", type=Path, default=Path("prompts"))
    args = parser.parse_args()
    report, problems = validate_domain(args.params, args.seeds, args.prompts)
    if problems:
        raise UserError(f"{len(problems)} problem(s):\n" + "\n".join(problems))
    print("\n".join(["valid:", *(f"  {line}" for line in report)]))


if __name__ == "__main__":
    run_main(main)
