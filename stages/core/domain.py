"""The domain file (seeds/domain.yaml): what the engine needs to know about the product, as data.

The engine knows no domain. Everything that names the product or its rules beyond the policy
document lives in this file, which the user edits beside the seeds:

    product        the product's name ("Acme Travel")
    assistant      who speaks, as the teacher prompts say it (default "the support assistant of <product>")
    system_prompt  the system turn of every fine-tuning line (mix)
    rules          what the assistant never does beyond the policy, one sentence each (teacher prompts)
    action_claims  verbs that, after "I've" / "we've", claim an action the assistant cannot take (filter)
    pii            extra personal-data detectors beyond the filter's built-in kinds: a name, a regular
                   expression (group 1, if any, is the value) and optionally a checksum kind (filter)
    public_contacts  the product's own published contact points, which are not personal data: role
                   e-mail addresses ("privacy@example.io"), phone numbers ("+1 800 555 0199") and URLs
                   ("https://status.example.io"); the pii check does not report them (PublicContacts)

Validated on load: every problem is reported at once, each naming the file, the line (as an editor
counts it) and the field, e.g. "seeds/domain.yaml:7: field 'pii.0.pattern': not a valid regular
expression (...)". Stages that read it: generate (teacher prompts), filter (action claims, PII), mix
(system prompt); `python -m stages.validate` checks it with the rest of a domain.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

import phonenumbers
import yaml
from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, field_validator

from stages.core.errors import UserError
from stages.core.files import read_text
from stages.core.params import compose_yaml, yaml_problem

DEFAULT_DOMAIN_FILE = Path("seeds/domain.yaml")
# Verbs of account actions any support assistant is unable to take itself, whatever the product:
# used when the domain file lists none. A domain adds its own ("booked", "rebooked"...).
NEUTRAL_ACTION_CLAIMS: tuple[str, ...] = (
    "refunded", "cancelled", "canceled", "reversed", "processed", "approved", "credited", "waived",
    "changed", "updated", "deleted", "closed", "restored", "upgraded",
)  # fmt: skip
ChecksumKind = Literal["luhn", "mod97", "iban"]
# The kinds the filter's pii check finds itself (stages/filter/checks/pii.py): a detector takes another name.
BUILT_IN_PII_KINDS: tuple[str, ...] = ("email", "phone", "card_number", "iban")
PROMPT_PLACEHOLDERS = ("product", "assistant", "rules")  # what prompts/*.md may take from this file
# How each public contact point is written (contact_forms); the e-mail shape is the pii check's.
_EMAIL_ENTRY = re.compile(r"[\w.+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
_PHONE_ENTRY = re.compile(r"\+?[\d\s().\-/]+")
_HOST = re.compile(r"(?:[A-Za-z0-9-]+\.)+[A-Za-z]{2,}")
_SCHEME = re.compile(r"https?://", re.IGNORECASE)
PHONE_ENTRY_DIGITS = range(3, 16)  # E.164: at most 15 digits; a short helpline ("116 123") may be listed


class PiiDetector(BaseModel):
    """One extra personal-data detector: `pattern` finds it (group 1, if the pattern has groups, is the
    value that is checked and masked), `checksum` (luhn | mod97 | iban) confirms it, so that look-alikes pass."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    pattern: str = Field(min_length=1)
    checksum: ChecksumKind | None = None

    @field_validator("name")
    @classmethod
    def _not_built_in(cls, value: str) -> str:
        if value in BUILT_IN_PII_KINDS:
            raise ValueError(
                f"'{value}' is a built-in kind of the pii check ({', '.join(BUILT_IN_PII_KINDS)}); choose another name"
            )
        return value

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, value: str) -> str:
        try:
            compiled = re.compile(value)
        except re.error as err:
            raise ValueError(f"not a valid regular expression ({err})") from None
        if compiled.fullmatch(""):
            raise ValueError("the pattern matches empty text, so it would flag every row")
        return value

    def compiled(self) -> re.Pattern[str]:
        """The compiled pattern."""
        return re.compile(self.pattern)


def _phone_forms(entry: str) -> frozenset[str]:
    """The digit strings a phone number `entry` is written with. With its country code ("+44 20 7946
    0958", parsed by phonenumbers): international (442079460958), after the 00 exit code
    (00442079460958), the country code before the national form ("+44 (0)20...": 4402079460958),
    national as the country dials it (02079460958) and its national significant number (2079460958).
    Without one ("0800 123 4567"): its own digits only, since the country is unknown. ValueError for
    what is no phone number."""
    digits = re.sub(r"\D", "", entry)
    if len(digits) not in PHONE_ENTRY_DIGITS:
        raise ValueError(f"{entry!r} is not a phone number: 3 to 15 digits (E.164)")
    if not entry.startswith("+"):
        return frozenset({digits})
    try:
        number = phonenumbers.parse(entry, None)
    except phonenumbers.NumberParseException as err:
        raise ValueError(f"{entry!r} is not a phone number ({err})") from None
    if not phonenumbers.is_possible_number(number):
        raise ValueError(f"{entry!r} is not a possible phone number of country code +{number.country_code}")
    significant = phonenumbers.national_significant_number(number)
    national = re.sub(r"\D", "", phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL))
    international = f"{number.country_code}{significant}"
    # "+44 (0)20 7946 0958": the country code, then the national form with its trunk prefix
    return frozenset({international, "00" + international, f"{number.country_code}{national}", national, significant})


def contact_forms(entry: str) -> tuple[Literal["email", "phone", "url"], frozenset[str]]:
    """(kind, the forms the pii check compares) of one `public_contacts` entry: an e-mail address
    (lower-cased), a phone number (its digit strings, _phone_forms) or an http(s) URL (lower-cased,
    without its scheme and a last "/"). ValueError saying what is wrong otherwise. A whole e-mail domain
    ("@example.io") or a domain alone is refused: an employee's name@ the company's domain is personal
    data, so each role address is listed."""
    if not entry:
        raise ValueError("an entry is empty")
    if "@" in entry:
        if entry.startswith("@") or _HOST.fullmatch(entry.lstrip("*@")):
            host = entry.lstrip("*@")
            raise ValueError(
                f"a whole e-mail domain is not a contact point: list each role address ('support@{host}'):"
                " an employee's name@ the company's domain is personal data"
            )
        if not _EMAIL_ENTRY.fullmatch(entry):
            raise ValueError(f"{entry!r} is not an e-mail address")
        return "email", frozenset({entry.lower()})
    if _SCHEME.match(entry):
        parts = urlsplit(entry)
        if not _HOST.fullmatch(parts.hostname or "") or any(char.isspace() for char in entry):
            raise ValueError(f"{entry!r} is not a URL with a host name (https://status.example.io)")
        return "url", frozenset({_SCHEME.sub("", entry, count=1).rstrip("/").lower()})
    if _HOST.fullmatch(entry):
        raise ValueError(
            f"a domain alone is not a contact point: list each role address at it ('support@{entry}') or a"
            f" page's URL ('https://{entry}'): an employee's name@ the company's domain is personal data"
        )
    if _PHONE_ENTRY.fullmatch(entry):
        return "phone", _phone_forms(entry)
    raise ValueError(
        f"{entry!r} is not an e-mail address, a phone number (digits, spaces, dashes, dots, brackets, a"
        " leading +) or a URL (http:// or https://)"
    )


def _contact_entry(value: Any) -> Any:
    """A contact point as written, stripped; a YAML number is refused (its leading zeros and + are gone)."""
    if not isinstance(value, str):
        raise ValueError("a contact point is text: write a phone number in quotes ('+1 800 555 0199')")
    return value.strip()


def _valid_contact(value: str) -> str:
    contact_forms(value)  # ValueError for a bad entry
    return value


PublicContact = Annotated[str, BeforeValidator(_contact_entry), AfterValidator(_valid_contact)]


@dataclass(frozen=True)
class PublicContacts:
    """The product's own contact points (domain file `public_contacts`) in the forms the pii check compares
    (contact_forms): `emails` lower-cased, `phones` each number's digit strings, `urls` lower-cased without
    their scheme. What matches one is the company's, not a person's: a role address, a helpline, a page."""

    emails: frozenset[str] = frozenset()
    phones: frozenset[str] = frozenset()
    urls: tuple[str, ...] = ()

    @classmethod
    def of(cls, entries: list[str]) -> PublicContacts:
        """The forms of validated `public_contacts` entries."""
        forms: dict[str, set[str]] = {"email": set(), "phone": set(), "url": set()}
        for entry in entries:
            kind, found = contact_forms(entry)
            forms[kind] |= found
        return cls(frozenset(forms["email"]), frozenset(forms["phone"]), tuple(sorted(forms["url"])))

    def __bool__(self) -> bool:
        """Whether any contact point is listed."""
        return bool(self.emails or self.phones or self.urls)

    def holds(self, value: str) -> bool:
        """Whether `value` (what a finder found) is a listed e-mail address (any case) or phone number (by digits)."""
        return value.lower() in self.emails or re.sub(r"\D", "", value) in self.phones

    @cached_property
    def _url_pattern(self) -> re.Pattern[str]:
        """A listed URL as written in a text: any case, with or without its scheme or a last "/", not part
        of a longer host before it nor of a longer path, query or host after it."""
        urls = "|".join(re.escape(url) for url in sorted(self.urls, key=len, reverse=True))
        return re.compile(rf"(?<![\w./@-])(?:https?://)?(?:{urls})/?(?![\w/?#&=%~+@-]|\.\w)", re.IGNORECASE)

    def url_spans(self, text: str) -> list[tuple[int, int]]:
        """(start, end) of each listed URL as written in `text`."""
        return [match.span() for match in self._url_pattern.finditer(text)] if self.urls else []

    def without_urls(self, text: str) -> str:
        """`text` with each listed URL replaced by a word ("link"), so nothing inside one is reported."""
        return self._url_pattern.sub("link", text) if self.urls else text


class Domain(BaseModel):
    """The validated domain file (see the module docstring for each field)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    product: str = Field(min_length=1)
    assistant: str | None = Field(default=None, min_length=1)
    system_prompt: str = Field(min_length=1)
    rules: list[str] = Field(default_factory=list)
    action_claims: list[str] = Field(default_factory=lambda: list(NEUTRAL_ACTION_CLAIMS), min_length=1)
    pii: list[PiiDetector] = Field(default_factory=list)
    public_contacts: list[PublicContact] = Field(default_factory=list)

    @field_validator("rules")
    @classmethod
    def _rules_are_sentences(cls, value: list[str]) -> list[str]:
        if any(not rule.strip() for rule in value):
            raise ValueError("a rule is empty")
        return [" ".join(rule.split()) for rule in value]

    @field_validator("action_claims")
    @classmethod
    def _verbs(cls, value: list[str]) -> list[str]:
        bad = [verb for verb in value if not re.fullmatch(r"[A-Za-z][A-Za-z'-]*(?: [A-Za-z'-]+)*", verb)]
        if bad:
            raise ValueError(f"verbs are words (letters, ' and -), got {bad}")
        return [verb.lower() for verb in value]

    @field_validator("pii")
    @classmethod
    def _unique_detectors(cls, value: list[PiiDetector]) -> list[PiiDetector]:
        names = [detector.name for detector in value]
        if len(set(names)) != len(names):
            raise ValueError(f"detector names must be unique, got {names}")
        return value

    def contacts(self) -> PublicContacts:
        """The listed public contact points in the forms the pii check compares."""
        return PublicContacts.of(self.public_contacts)

    def speaker(self) -> str:
        """Who speaks in the conversations: `assistant`, or "the support assistant of <product>"."""
        return self.assistant or f"the support assistant of {self.product}"

    def prompt_values(self) -> dict[str, str]:
        """The values of the teacher prompts' domain placeholders (PROMPT_PLACEHOLDERS)."""
        rules = "\n".join(f"- {rule}" for rule in self.rules) or "- (no rules beyond the policy)"
        return {"product": self.product, "assistant": self.speaker(), "rules": rules}


def _node_line(root: yaml.Node | None, loc: tuple[Any, ...]) -> int:
    """The 1-based line of the YAML node at `loc` (the deepest existing node on the way)."""
    node, line = root, (root.start_mark.line + 1 if root is not None else 1)
    for part in loc:
        child = None
        if isinstance(node, yaml.MappingNode):
            child = next((value for key, value in node.value if getattr(key, "value", None) == part), None)
            if child is not None:  # point at the key's line: a block value starts on the next one
                key_node = next(key for key, value in node.value if value is child)
                line = key_node.start_mark.line + 1
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            child = node.value[part]
            line = child.start_mark.line + 1
        if child is None:
            break
        node = child
    return line


def domain_problems(path: str | Path) -> tuple[Domain | None, list[str]]:
    """(the domain, []) for a valid file; (None, every problem) otherwise, each "file:line: field 'x': why"."""
    path = Path(path)
    if not path.exists():
        return None, [f"{path}: file not found (the domain file: product name, system prompt, teacher-prompt"
                      " rules, action-claim verbs, PII detectors; see README 'Start your own data set')"]  # fmt: skip
    try:
        text = read_text(path, "domain file")  # UTF-8, or an error naming the line
        root = compose_yaml(path, text, "a domain file")  # no alias bomb
        raw = yaml.safe_load(text)
    except UserError as err:
        return None, [str(err)]
    except yaml.YAMLError as err:
        return None, [yaml_problem(path, err)]
    if not isinstance(raw, dict):
        return None, [f"{path}:1: expected a mapping of fields (product, system_prompt, ...)"]
    try:
        return Domain.model_validate(raw), []
    except ValidationError as err:
        problems = []
        for item in err.errors():
            loc = tuple(item["loc"])
            field = ".".join(str(part) for part in loc) or "domain"
            message = item["msg"].removeprefix("Value error, ")
            problems.append(f"{path}:{_node_line(root, loc)}: field '{field}': {message}")
        return None, problems


def load_domain(path: str | Path = DEFAULT_DOMAIN_FILE) -> Domain:
    """The validated domain file; UserError listing every problem (file:line: field) otherwise."""
    domain, problems = domain_problems(path)
    if domain is None:
        raise UserError("\n".join(problems))
    return domain
