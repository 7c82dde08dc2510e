"""The stages' command line (`python -m stages.<stage>`): a run on other inputs names its outputs.

Every argument of a stage defaults to the pipeline's file, so `dvc repro` runs each stage with none. Its
outputs (`--out`, `--metrics`, a plot table) default to the pipeline's DVC-tracked outputs. A standalone
run, one with any input or option that is not the pipeline's (another `--rows`, `--params`, a `--no-eval`),
must name every output: written to the defaults, its results would replace the pipeline's with what no
pipeline stage made (`dvc status` then shows them and every later stage changed, and `dvc checkout`
needs --force to bring them back). Without them it stops before reading anything, with a one-line error
naming what to give; each stage's --help says so.
"""

from __future__ import annotations

import argparse
import textwrap
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from stages.core.errors import UserError


def _same(value: Any, default: Any) -> bool:
    """Whether an argument's value is its default: paths by where they lead (an absolute or ./ path to
    the pipeline's file is the pipeline's), lists item by item."""
    if isinstance(value, Path) and isinstance(default, Path):
        return value.resolve() == default.resolve()
    if isinstance(value, list) and isinstance(default, list):
        return len(value) == len(default) and all(_same(a, b) for a, b in zip(value, default, strict=True))
    return bool(value == default)


def _listed(names: Sequence[str]) -> str:
    """ "a", "a and b", "a, b and c"."""
    return " and ".join([", ".join(names[:-1]), names[-1]]) if len(names) > 1 else "".join(names)


class StageParser(argparse.ArgumentParser):
    """A stage's argument parser: inputs are added as usual (their defaults the pipeline's files), outputs
    with `add_output`; `parse` refuses a standalone run that leaves an output to its default (module
    docstring). `untracked` names arguments that change no tracked output (a run log)."""

    def __init__(self, stage: str, description: str | None, raw: bool = False, untracked: Sequence[str] = ()) -> None:
        self._inputs: list[argparse.Action] = []
        self._pipeline: dict[str, Any] = {}  # dest: the value the pipeline runs it with
        self._outputs: dict[str, tuple[str, Path]] = {}  # dest: (flag, the pipeline's path)
        self._untracked = set(untracked) | {"help"}
        formatter = argparse.RawDescriptionHelpFormatter if raw else argparse.HelpFormatter
        super().__init__(prog=f"python -m stages.{stage}", description=description, formatter_class=formatter)

    def add_argument(self, *args: Any, pipeline: Any = None, **kwargs: Any) -> argparse.Action:
        """argparse's add_argument, remembering the argument as an input (see `add_output` for outputs).
        `pipeline` is the value a None default stands for (the stage reads that file when none is given),
        so giving it explicitly is still the pipeline's run."""
        action = super().add_argument(*args, **kwargs)
        if action.dest not in self._untracked:
            self._inputs.append(action)
            self._pipeline[action.dest] = action.default if pipeline is None else pipeline
        return action

    def pipeline_inputs(self) -> dict[str, Any]:
        """Each input's flag and the value the pipeline runs it with (what dvc repro runs)."""
        return {a.option_strings[0]: self._pipeline[a.dest] for a in self._inputs}

    def add_output(self, flag: str, pipeline: str, help: str | None = None) -> None:
        """An output argument: the pipeline's path `pipeline` by default, required in a standalone run."""
        shown = f"{help} (default {pipeline})" if help else f"default {pipeline}"
        action = super().add_argument(flag, type=Path, default=None, help=shown)
        self._outputs[action.dest] = (flag, Path(pipeline))
        flags = _listed([flag for flag, _ in self._outputs.values()])
        paths = ", ".join(str(path) for _, path in self._outputs.values())
        self.epilog = textwrap.fill(
            f"Standalone runs: every default is the pipeline's (what dvc repro runs). With any other input or"
            f" option, give {flags} too: their defaults, {paths}, are the pipeline's DVC-tracked outputs,"
            " which only dvc repro should write.",
            width=100,
        )

    def parse(self, argv: Sequence[str] | None = None) -> argparse.Namespace:
        """The arguments, outputs at the pipeline's paths unless given; a UserError for a standalone run
        (an input or option not at its default) that does not give every output."""
        args = self.parse_args(argv)
        changed = [
            a.option_strings[0]
            for a in self._inputs
            if not _same(getattr(args, a.dest), a.default) and not _same(getattr(args, a.dest), self._pipeline[a.dest])
        ]
        missing = [flag for dest, (flag, _) in self._outputs.items() if getattr(args, dest) is None]
        if changed and missing:
            paths = ", ".join(str(self._outputs[dest][1]) for dest in self._outputs if getattr(args, dest) is None)
            raise UserError(
                f"this run is not the pipeline's ({', '.join(changed)} {'differs' if len(changed) == 1 else 'differ'}"
                f" from its defaults), so give {_listed(missing)} too: their defaults ({paths}) are the"
                " pipeline's DVC-tracked outputs, which this run would overwrite"
            )
        for dest, (_, pipeline) in self._outputs.items():
            if getattr(args, dest) is None:
                setattr(args, dest, pipeline)
        return args
