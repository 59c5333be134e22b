"""`-- vcsync: …` directives in SQL comments, read once per script.

-- vcsync: no-transaction
-- vcsync: ignore VC201, VC302 -- the reason
-- vcsync: irreversible -- the reason
"""

from __future__ import annotations

import re
from typing import NamedTuple

_DIRECTIVE = re.compile(r"^\s*--\s*vcsync:\s*(?P<body>.*?)\s*$", re.IGNORECASE)
_CODE = re.compile(r"^VC\d{3}$")


class DirectiveProblem(NamedTuple):
    line: int
    column: int
    message: str


class Directives(NamedTuple):
    no_transaction: bool = False
    irreversible: str | None = None
    ignored: frozenset[str] = frozenset()
    problems: tuple[DirectiveProblem, ...] = ()


def read_directives(text: str, first_line: int = 1) -> Directives:
    no_transaction = False
    irreversible: str | None = None
    ignored: set[str] = set()
    problems: list[DirectiveProblem] = []
    for number, line in enumerate(text.splitlines(), start=first_line):
        if "vcsync" not in line:
            continue
        match = _DIRECTIVE.match(line)
        if match is None:
            continue
        column = line.index("--") + 1
        words, _, reason = match["body"].partition("--")
        reason = reason.strip()
        name, _, argument = words.strip().partition(" ")
        name = name.lower()
        if name == "no-transaction":
            no_transaction = True
        elif name == "irreversible":
            if not reason:
                problems.append(DirectiveProblem(number, column, _needs_reason("irreversible")))
            irreversible = reason or "no reason given"
        elif name == "ignore":
            codes = [c.strip().upper() for c in argument.replace(",", " ").split()]
            bad = [c for c in codes if not _CODE.match(c)]
            if not codes or bad:
                got = argument.strip()
                message = f"`vcsync: ignore` needs rule codes such as VC201, got {got!r}."
                problems.append(DirectiveProblem(number, column, message))
            elif not reason:
                problems.append(DirectiveProblem(number, column, _needs_reason("ignore")))
            ignored.update(c for c in codes if _CODE.match(c))
        else:
            message = (
                f"unknown directive `vcsync: {name}`; use no-transaction, ignore or irreversible."
            )
            problems.append(DirectiveProblem(number, column, message))
    return Directives(no_transaction, irreversible, frozenset(ignored), tuple(problems))


def _needs_reason(name: str) -> str:
    return (
        f"`vcsync: {name}` needs a reason after a second `--`, e.g. `-- vcsync: {name} … -- why`."
    )
