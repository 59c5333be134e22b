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
    # compares with ctx.bases: runs after the other rules, while git lists the bases
    uses_bases: bool = False
    # runs only when `select` names its code (not a prefix of it): noisy on most projects
    opt_in: bool = False


class GateCheck(NamedTuple):
    """A finding only `vcsync verify` can make: it needs ledgers, tags or a scratch database,
    so its bad and good cases are described, and proven in tests/test_verify.py."""

    code: str
    name: str
    severity: str
    summary: str
    bad: str
    good: str


RULES: dict[str, Rule] = {}
GATES: dict[str, GateCheck] = {}


def register(rule: Rule) -> Rule:
    if rule.code in RULES or rule.code in GATES:
        raise RuntimeError(f"rule code {rule.code} is registered twice")
    RULES[rule.code] = rule
    return rule


def register_gate(gate: GateCheck) -> GateCheck:
    if gate.code in RULES or gate.code in GATES:
        raise RuntimeError(f"rule code {gate.code} is registered twice")
    GATES[gate.code] = gate
    return gate


def all_rules() -> list[Rule]:
    """The rules `check` runs."""
    from vcsync.rules import files, history, reversal, safety, text  # noqa: F401 (registering)

    return [RULES[code] for code in sorted(RULES)]


def all_codes() -> list[Rule | GateCheck]:
    """Every code a finding can carry: the rules and verify's gate checks."""
    from vcsync.rules import gate  # noqa: F401  (it registers itself)

    return sorted([*all_rules(), *GATES.values()], key=lambda r: r.code)


def finding_for(code: str, message: str, path: str = "") -> Finding:
    """A finding of a rule or gate check that reads no file position (verify's database
    and round-trip findings): at line 1 of `path`, or nowhere."""
    rule = RULES.get(code) or GATES[code]
    return Finding(path, 1 if path else 0, 1 if path else 0, code, rule.severity, message)
