"""Where a finding points in machine output, including findings that have no file.

A live database's findings (verify's VC204-VC209, VC402) carry no path, but GitHub code
scanning refuses a whole SARIF upload when one result has no location
(github/codeql-action#2459), and an annotation without a file shows on no line. Such a
finding points at the config file vcsync loaded, on the line of the environment its message
names (where that database is configured), else on line 1.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import NamedTuple

from vcsync.rules import Finding

# without any config file there is nothing better to point at; it is where one would go
FALLBACK_CONFIG = "pyproject.toml"

_TABLE = re.compile(r"\s*\[\s*([^\[\]]+?)\s*\]\s*(?:#.*)?$")
_KEY = re.compile(r"""\s*(?:"([^"]+)"|'([^']+)'|([A-Za-z0-9_-]+))\s*=""")


class Location(NamedTuple):
    path: str
    line: int
    column: int


class ConfigAnchor(NamedTuple):
    """The config file, relative to the repository root, and each environment's line."""

    path: str
    environments: Mapping[str, int]

    def locate(self, finding: Finding) -> Location:
        if finding.path:
            return Location(finding.path, max(finding.line, 1), max(finding.column, 1))
        env = environment_named(finding.message, list(self.environments))
        return Location(self.path, self.environments[env] if env else 1, 1)


def environment_named(message: str, environments: Sequence[str]) -> str | None:
    """The environment a database finding is about: its messages start `<env>: `,
    `<env> differs`, `<env> recorded`, or say `applied in <env>`."""
    for env in sorted(environments, key=len, reverse=True):  # `prod-eu` before `prod`
        if re.match(rf"{re.escape(env)}[: ]", message) or f" in {env} " in message:
            return env
    return None


def config_anchor(config_file: Path | None, findings: Sequence[Finding]) -> ConfigAnchor:
    """Reads the config file only when some finding has no file of its own."""
    if config_file is None or all(f.path for f in findings):
        return ConfigAnchor(FALLBACK_CONFIG, {})
    try:
        text = config_file.read_text("utf-8", "replace")
    except OSError:
        text = ""
    return ConfigAnchor(
        _relative_to_repository(config_file),
        environment_lines(text, bare=config_file.name != "pyproject.toml"),
    )


def environment_lines(text: str, *, bare: bool) -> dict[str, int]:
    """1-based line of each `[tool.vcsync.environments.<env>]` table (with `bare`, as in
    vcsync.toml, also `[environments.<env>]`), or of `<env> = {…}` in an environments table."""
    lines: dict[str, int] = {}
    exact: dict[str, int] = {}
    in_environments = False
    for number, line in enumerate(text.splitlines(), start=1):
        table = _TABLE.match(line)
        if table:
            keys = _dotted(table.group(1))
            if keys[:2] == ["tool", "vcsync"]:
                keys = keys[2:]
            elif not bare:  # in pyproject.toml a bare [environments] is another tool's
                keys = []
            in_environments = keys == ["environments"]
            if len(keys) == 2 and keys[0] == "environments":
                exact.setdefault(keys[1], number)
            elif len(keys) > 2 and keys[0] == "environments":  # a sub-table, if nothing better
                lines.setdefault(keys[1], number)
            continue
        key = _KEY.match(line) if in_environments else None
        if key:
            exact.setdefault(next(g for g in key.groups() if g), number)
    return {**lines, **exact}


def _dotted(header: str) -> list[str]:
    """`tool.vcsync.environments."eu.prod"` -> its keys, quotes removed."""
    parts = re.findall(r'"([^"]*)"|\'([^\']*)\'|([^.\s]+)', header)
    return [next((p for p in part if p), "") for part in parts]


def _relative_to_repository(config_file: Path) -> str:
    """Finding paths are relative to the repository root, so the config's path is too;
    the root is the nearest folder holding `.git` (a folder, or a file in a worktree)."""
    path = config_file.resolve()
    for folder in path.parents:
        if (folder / ".git").exists():
            return path.relative_to(folder).as_posix()
    return path.name
