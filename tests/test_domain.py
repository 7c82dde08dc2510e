"""The domain file (core.domain): validated on load, every problem named by file, line and field; its
values fill the teacher prompts and the mix's system turn, so no template or param names a product."""

from __future__ import annotations

from pathlib import Path

import pytest

from stages.core.domain import NEUTRAL_ACTION_CLAIMS, domain_problems, load_domain
from stages.core.errors import UserError
from stages.generate.teacher.prompts import load_template
from tests.conftest import FIXTURE_DOMAIN, ROOT, params_with


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "domain.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_a_minimal_domain_gets_neutral_defaults(tmp_path: Path) -> None:
    domain = load_domain(_write(tmp_path, "product: Acme Repairs\nsystem_prompt: You help Acme's customers.\n"))
    assert domain.speaker() == "the support assistant of Acme Repairs"
    assert tuple(domain.action_claims) == NEUTRAL_ACTION_CLAIMS and domain.pii == []
    assert domain.prompt_values() == {
        "product": "Acme Repairs",
        "assistant": "the support assistant of Acme Repairs",
        "rules": "- (no rules beyond the policy)",
    }


def test_every_problem_names_file_line_and_field(tmp_path: Path) -> None:
    text = (
        "product: Acme\n"  # 1
        "rules:\n"  # 2
        "  - ''\n"  # 3
        "action_claims: [booked, 'two words!']\n"  # 4
        "pii:\n"  # 5
        "  - name: Passport\n"  # 6
        "    pattern: '(unclosed'\n"  # 7
        "    checksum: crc32\n"  # 8
        "colour: blue\n"  # 9
    )
    path = _write(tmp_path, text)
    _, problems = domain_problems(path)
    expected = [
        f"{path}:1: field 'system_prompt': Field required",
        f"{path}:2: field 'rules': a rule is empty",
        f"{path}:4: field 'action_claims': verbs are words",
        f"{path}:6: field 'pii.0.name': String should match pattern",
        f"{path}:7: field 'pii.0.pattern': not a valid regular expression",
        f"{path}:8: field 'pii.0.checksum': Input should be 'luhn', 'mod97' or 'iban'",
        f"{path}:9: field 'colour': Extra inputs are not permitted",
    ]
    assert len(problems) == len(expected)
    for start in expected:
        assert any(problem.startswith(start) for problem in problems), (start, problems)
    with pytest.raises(UserError) as raised:
        load_domain(path)
    assert str(raised.value).count("\n") == len(expected) - 1  # all at once, one a line


def test_missing_or_broken_files_are_one_line_errors(tmp_path: Path) -> None:
    with pytest.raises(UserError, match=r"domain.yaml: file not found \(the domain file"):
        load_domain(tmp_path / "domain.yaml")
    with pytest.raises(UserError, match=r"domain.yaml:2: not valid YAML"):
        load_domain(_write(tmp_path, "product: Acme\n  system_prompt: [\n"))
    with pytest.raises(UserError, match=r"domain.yaml:1: expected a mapping"):
        load_domain(_write(tmp_path, "- a list\n"))
    with pytest.raises(UserError, match=r"pattern matches empty text"):
        load_domain(_write(tmp_path, "product: A\nsystem_prompt: s\npii: [{name: x, pattern: 'a*'}]\n"))
    built_in = "product: A\nsystem_prompt: s\npii:\n  - name: iban\n    pattern: 'X\\d+'\n"
    with pytest.raises(UserError, match=r"domain.yaml:4: field 'pii.0.name': 'iban' is a built-in kind of the pii"):
        load_domain(_write(tmp_path, built_in))
    twice = "product: A\nsystem_prompt: s\npii:\n  - {name: x, pattern: 'a1'}\n  - {name: x, pattern: 'b2'}\n"
    with pytest.raises(UserError, match=r"domain.yaml:3: field 'pii': detector names must be unique"):
        load_domain(_write(tmp_path, twice))
    (tmp_path / "domain.yaml").write_bytes(b"product: Caf\xe9\nsystem_prompt: s\n")
    with pytest.raises(UserError, match=r"domain.yaml:1: not valid UTF-8 \(byte 0xe9"):
        load_domain(tmp_path / "domain.yaml")
    bomb = "".join(f"a{n}: &a{n} [{', '.join([f'*a{n - 1}'] * 9)}]\n" for n in range(1, 7))
    with pytest.raises(UserError, match=r"domain.yaml: YAML aliases would add \d+ values"):
        load_domain(_write(tmp_path, "a0: &a0 [x]\n" + bomb))


def test_prompts_name_no_product_and_are_filled_from_the_domain(tmp_path: Path) -> None:
    product = load_domain(ROOT / "seeds/domain.yaml").product
    for path in sorted((ROOT / "prompts").glob("*.md")):
        assert product not in path.read_text(), path  # the product's name comes from the domain file
    fixture = load_domain(_write(tmp_path, FIXTURE_DOMAIN))
    template = load_template(ROOT / "prompts/variation_rephrase.md", fixture.prompt_values())
    assert "the support assistant of Freshbox" in template.system and "- Never ask for a password." in template.system
    other = fixture.model_copy(update={"rules": ["Never ask for a PIN."]})
    changed = load_template(ROOT / "prompts/variation_rephrase.md", other.prompt_values())
    assert changed.content_hash != template.content_hash  # a domain edit re-requests the rows it made
    with pytest.raises(UserError, match=r"uses \['assistant', 'rules'\] from the domain file, none given"):
        load_template(ROOT / "prompts/variation_rephrase.md")


def test_the_system_prompt_is_no_longer_a_param(tmp_path: Path) -> None:
    from stages.core.params import load_section
    from stages.mix.params import MixParams

    path = params_with(tmp_path, "mix", "system_prompt", "You are ...")
    with pytest.raises(UserError, match=r"system_prompt: moved to the domain file seeds/domain.yaml"):
        load_section(path, "mix", MixParams)
