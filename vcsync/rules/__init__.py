"""The rule registry: each rule's identity, documentation and check declared once.

The checker, `vcsync rules`, SARIF rule metadata and docs/rules.md all read RULES.
A code registered twice is refused at import.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    from vcsync.rules.context import Context

ERROR, WARNING = "error", "warning"


class Finding(NamedTuple):
    """Sorts by position: (path, line, column, code)."""

    path: str
    line: int
    column: int
    code: str
    severity: str
    message: str


class Hit(NamedTuple):
    """What a rule's check reports; the runner adds the rule's code and severity."""

    path: str
    line: int
    column: int
    message: str


class Example(NamedTuple):
    """A small repository: its files, and for history rules the base branch's files."""

    files: Mapping[str, str]
    base: Mapping[str, str] | None = None


class Rule(NamedTuple):
    code: str
    name: str
    severity: str
    summary: str
    bad: Example
    good: Example
    check: Callable[[Context], Iterable[Hit]]


RULES: dict[str, Rule] = {}


def register(rule: Rule) -> Rule:
    if rule.code in RULES:
        raise RuntimeError(f"rule code {rule.code} is registered twice")
    RULES[rule.code] = rule
    return rule


def all_rules() -> list[Rule]:
    from vcsync.rules import files, history, text  # noqa: F401  (they register themselves)

    return [RULES[code] for code in sorted(RULES)]
