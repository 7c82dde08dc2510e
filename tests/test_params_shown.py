"""params.yaml shows every setting of every stage, so a user sees (and `dvc params diff` compares) them all.

Whether the values are the code's defaults is a property of the repository as shipped, not of a team's
data set (a team tunes its params): that test runs where CHECK_SHIPPED_DEFAULTS=1, as .ci/run sets it.
"""

from __future__ import annotations

import os

import pytest
import yaml
from pydantic import BaseModel

from stages.validate import SECTIONS
from tests.conftest import ROOT

STAGE_SECTIONS = sorted(name for name in SECTIONS if name != "taxonomy")


def unshown_keys(model: type[BaseModel], raw: dict, prefix: str) -> list[str]:
    """Fields of `model` (nested sections too) that `raw` does not show, and keys it has that the model lacks."""
    problems = [f"{prefix}{name}: not in params.yaml" for name in model.model_fields if name not in raw]
    problems += [f"{prefix}{name}: not a setting" for name in raw if name not in model.model_fields]
    for name, field in model.model_fields.items():
        if isinstance(field.annotation, type) and issubclass(field.annotation, BaseModel) and name in raw:
            problems += unshown_keys(field.annotation, raw[name], f"{prefix}{name}.")
    return problems


@pytest.mark.parametrize("section", STAGE_SECTIONS)
def test_params_yaml_shows_every_setting(section: str) -> None:
    model = SECTIONS[section]
    raw = yaml.safe_load((ROOT / "params.yaml").read_text())[section]
    assert unshown_keys(model, raw, f"{section}.") == []
    required = [name for name, field in model.model_fields.items() if field.is_required()]
    assert required == []  # every setting has a default: what names the product is in the domain file


def test_a_hidden_or_unknown_setting_is_named() -> None:
    model = SECTIONS["mix"]
    raw = yaml.safe_load((ROOT / "params.yaml").read_text())["mix"]
    hidden = {key: value for key, value in raw.items() if key != "seed"}
    nested = {**raw, "fine_tuning": {**raw["fine_tuning"], "typo": 1}}
    assert unshown_keys(model, hidden, "mix.") == ["mix.seed: not in params.yaml"]
    assert unshown_keys(model, nested, "mix.") == ["mix.fine_tuning.typo: not a setting"]


@pytest.mark.skipif(
    os.environ.get("CHECK_SHIPPED_DEFAULTS") != "1",
    reason="CHECK_SHIPPED_DEFAULTS=1 (set by .ci/run): the shipped params.yaml shows the code defaults",
)
@pytest.mark.parametrize("section", STAGE_SECTIONS)
def test_shipped_params_are_the_code_defaults(section: str) -> None:
    model = SECTIONS[section]
    shown = model.model_validate(yaml.safe_load((ROOT / "params.yaml").read_text())[section]).model_dump(mode="json")
    default = model().model_dump(mode="json")
    assert {key: shown[key] for key in shown if shown[key] != default[key]} == {}
