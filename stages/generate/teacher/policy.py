"""The part of the policy a prompt quotes: the rules a seed's `policy_refs` name, not the whole document.

Quoting the whole policy makes every prompt several thousand tokens, more than a small local
model's context. The policy is read as markdown (see seeds/README.md): the text before the first
numbered section is its general part (title and introduction); `#` headings open sections,
numbered ("## 5. Security") or not; a
paragraph that starts with a rule number ("5.1 ...", "**5.1** ...") is a rule. A seed's
`policy_refs` name rules ("5.1") or whole sections ("5").

`PolicyIndex.quote(refs, level)` gives the excerpt at one of LEVELS, from most to least text;
the prompt planner takes the first level that fits the model's context:

- "cited": general part, the named rules, and the rules those cite ("follow 2.3");
- "named": general part and the named rules;
- "rules": the named rules only.

A seed without refs (or whose refs name nothing in the policy) gets the whole policy, then the
general part alone.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

LEVELS = ("cited", "named", "rules")
_HEADING = re.compile(r"^#{1,6}\s+(.*?)\s*$")
_RULE_START = re.compile(r"^\**\s*(\d+(?:\.\d+)+)\b")
_SECTION_NUMBER = re.compile(r"^(\d+)\b")
# A rule number cited inside a rule: not part of an amount ("£1.5", "0.5%") or a longer number.
_CITED = re.compile(r"(?<![\d.£$€])(\d+\.\d+)(?![\d%.]\d?)")


@dataclass
class _Section:
    heading: str
    number: str | None
    paragraphs: list[str] = field(default_factory=list)
    rules: dict[str, str] = field(default_factory=dict)  # rule number -> paragraph


class PolicyIndex:
    """A policy document split into its general part, sections and numbered rules."""

    def __init__(self, text: str) -> None:
        self.text = text.strip()
        self.general = ""
        self.sections: list[_Section] = []
        self._parse()
        self.rule_section = {rule: section for section in self.sections for rule in section.rules}

    def _parse(self) -> None:
        general: list[str] = []
        for paragraph in (p.strip() for p in re.split(r"\n\s*\n", self.text)):
            if not paragraph:
                continue
            first_line, _, rest = paragraph.partition("\n")
            heading = _HEADING.match(first_line)
            number = _SECTION_NUMBER.match(heading.group(1)) if heading else None
            if heading and (number or self.sections):
                self.sections.append(_Section(first_line, number.group(1) if number else None))
                paragraph = rest.strip()
                if not paragraph:
                    continue
            if not self.sections:
                general.append(paragraph)
                continue
            section = self.sections[-1]
            section.paragraphs.append(paragraph)
            rule = _RULE_START.match(paragraph)
            if rule:
                section.rules.setdefault(rule.group(1), paragraph)
        self.general = "\n\n".join(general)

    def known(self, refs: list[str]) -> list[str]:
        """The refs that name a rule or a numbered section of this policy, in their given order."""
        sections = {section.number for section in self.sections if section.number}
        return [ref for ref in refs if ref in self.rule_section or ref in sections]

    def quote(self, refs: list[str], level: str) -> str:
        """The excerpt for `refs` at `level` (one of LEVELS), in the policy's own order."""
        known = self.known(refs)
        if not known:
            return self.text if level == LEVELS[0] else self.general
        wanted = set(known)
        if level == "cited":
            wanted |= self._cited(wanted)
        parts = [self.general] if level != "rules" and self.general else []
        for section in self.sections:
            if section.number in wanted:
                parts.append("\n\n".join([section.heading, *section.paragraphs]))
                continue
            rules = [text for rule, text in section.rules.items() if rule in wanted]
            if rules:
                parts.append("\n\n".join([section.heading, *rules]))
        return "\n\n".join(parts)

    def _cited(self, wanted: set[str]) -> set[str]:
        cited: set[str] = set()
        for section in self.sections:
            texts = section.paragraphs if section.number in wanted else [
                text for rule, text in section.rules.items() if rule in wanted
            ]  # fmt: skip
            for text in texts:
                cited.update(ref for ref in _CITED.findall(text) if ref in self.rule_section)
        return cited - wanted
