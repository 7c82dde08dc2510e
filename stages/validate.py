"""`python -m stages.validate`: check a whole domain and params.yaml without running the pipeline.

Lists every problem at once, each naming its file, line and field where one is known, and exits 2 if
there is any (0 and one line per part when all is valid). A line that is not UTF-8, in any file, is
one problem naming it and the encoding its bytes look like; the file's other lines are still checked:
    params     every params.yaml section (each stage's pydantic model)
    domain     seeds/domain.yaml (core.domain: product, system prompt, rules, verbs, PII detectors)
    seeds      cases.jsonl, failures.jsonl, eval_traffic.jsonl line by line (the seed stage's rules
               against params `taxonomy`), then as a set (ids, duplicates, eval kept apart, enough
               cases per intent)
    policy     seeds/policy.md states figures; every `policy_refs` rule a seed names is in it
    replies    every expert reply passes the filter's blocklist, PII and policy_facts checks (a
               reply the filter would reject means the policy, blocklist or reply needs a fix)
    prompts    prompts/*.md parse, with their domain placeholders filled from the domain file
    lexicon    the built-in generator's word lists (params `generate.builtin.lexicon`, e.g.
               seeds/lexicon.yaml), by the generator's own validator
Not a stage and no stage's dependency: it imports every stage's code.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from stages.core.decisions import DECISIONS_FILE, LABEL_STUDIO_EXPORT, decision_problems
from stages.core.domain import PROMPT_PLACEHOLDERS, Domain, domain_problems
from stages.core.errors import UserError, run_main
from stages.core.files import collecting_encoding_problems
from stages.core.params import DEFAULT_PARAMS_FILE, Section, Taxonomy, load_section
from stages.dedup.params import DedupParams
from stages.evaluate.params import EvaluateParams
from stages.filter.checks.base import CheckInputs
from stages.filter.checks.blocklist import BlocklistCheck
from stages.filter.checks.pii import PiiCheck, PiiParams
from stages.filter.checks.policy_facts import PolicyFactsCheck, PolicyFactsParams
from stages.filter.params import FilterParams
from stages.filter.policy import PolicyFacts
from stages.generate.builtin.lexicon import validate_lexicon
from stages.generate.params import GenerateParams
from stages.generate.teacher.prompts import TEMPLATE_SUFFIX, load_template
from stages.mix.params import MixParams
from stages.review.params import ReviewParams
from stages.seed.params import SeedParams
from stages.seed.stage import Located, Origin, seed_file_problems, seed_set_problems

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


def reply_problems(seeds: Located, inputs: CheckInputs, params: FilterParams | None) -> list[str]:
    """Expert replies the filter's blocklist, pii or policy_facts check would reject, naming the line; a
    check that cannot be built (a bad blocklist, a PII detector named like a built-in kind) is a problem
    and the others still run. Without `inputs.policy` there is no policy_facts check."""
    settings = [
        (BlocklistCheck, None),
        (PiiCheck, params.pii if params else PiiParams()),
        (PolicyFactsCheck, params.policy_facts if params else PolicyFactsParams()),  # type: ignore[attr-defined]
    ]
    problems, checks = [], []
    for check_type, check_params in settings:
        try:
            checks.append(check_type.build(check_params, inputs))
        except UserError as err:
            problems.append(str(err))
    for where, row in seeds:
        for check in checks:
            reason = check.check(row) if check is not None else None
            if reason:
                problems.append(f"{where}: field 'messages': the filter would reject this row ({reason})")
    return problems


def prompt_problems(prompts_dir: Path, domain: Domain | None) -> tuple[int, list[str]]:
    """(templates read, problems) for every template of `prompts_dir`."""
    # without a valid domain file (reported already) templates are still parsed, placeholders left in
    values = domain.prompt_values() if domain else {name: f"<{name}>" for name in PROMPT_PLACEHOLDERS}
    problems, count = [], 0
    for path in sorted(prompts_dir.glob(f"*{TEMPLATE_SUFFIX}")):
        count += 1
        try:
            load_template(path, values)
        except UserError as err:
            problems.append(str(err))
    return count, problems


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
    return report, encoding.messages + encoding.unrelated(problems)


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
    if isinstance(taxonomy, Taxonomy):
        for name, origin in SEED_FILES.items():
            rows, found = seed_file_problems(seeds_dir / name, origin, taxonomy)
            (evaluation if origin == "eval" else train).extend(rows)
            problems += found
            report.append(f"{seeds_dir / name}: {len(rows)} valid rows")
        seed_params = sections.get("seed")
        if isinstance(seed_params, SeedParams):
            problems += seed_set_problems(train, evaluation, taxonomy, seed_params)
    policy = seeds_dir / "policy.md"
    readable, found = policy_problems(policy, train + evaluation)
    problems += found  # an unreadable policy is said once: the replies are then checked without it
    inputs = CheckInputs(blocklist=seeds_dir / "blocklist.txt", policy=policy if readable else None, domain=domain)
    problems += reply_problems(train + evaluation, inputs, sections.get("filter"))  # type: ignore[arg-type]
    report.append(f"{seeds_dir / 'policy.md'}, {seeds_dir / 'blocklist.txt'}: checked against every expert reply")
    reviews = seeds_dir / DECISIONS_FILE.parent.name
    decided, found = decision_problems(reviews / DECISIONS_FILE.name, reviews / LABEL_STUDIO_EXPORT.name)
    problems += found
    report.append(f"{reviews}/: {decided} reviewer decisions (which row ids exist is checked by the review stage)")
    count, found = prompt_problems(prompts_dir, domain)
    problems += found
    report.append(f"{prompts_dir}/: {count} templates")
    generate = sections.get("generate")
    checked, found = lexicon_problems(generate if isinstance(generate, GenerateParams) else None)
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
