"""`python -m stages.validate`: check params.yaml (every section) without running the pipeline.

Not a stage and no stage's dependency: it imports every stage's params model.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from stages.core.errors import UserError, run_main
from stages.core.params import DEFAULT_PARAMS_FILE, Section, Taxonomy, load_section
from stages.dedup.params import DedupParams
from stages.evaluate.params import EvaluateParams
from stages.filter.params import FilterParams
from stages.generate.params import GenerateParams
from stages.mix.params import MixParams
from stages.review.params import ReviewParams
from stages.seed.params import SeedParams

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


def load_all(path: str | Path = DEFAULT_PARAMS_FILE) -> dict[str, Section]:
    """Every section validated, by name; raises UserError listing every section's problems."""
    loaded: dict[str, Section] = {}
    problems: list[str] = []
    for name, model in SECTIONS.items():
        try:
            loaded[name] = load_section(path, name, model)
        except UserError as err:
            problems.append(str(err))
    if problems:
        raise UserError("\n".join(problems))
    return loaded


def main() -> None:
    """Validate the params file given by --params and print one line naming its sections."""
    parser = argparse.ArgumentParser(prog="python -m stages.validate", description=__doc__)
    parser.add_argument("--params", type=Path, default=DEFAULT_PARAMS_FILE)
    args = parser.parse_args()
    print(f"{args.params}: valid ({', '.join(load_all(args.params))})")


if __name__ == "__main__":
    run_main(main)
