"""docs/rules.md, rendered from the registry: `python -m vcsync.rules.docs > docs/rules.md`."""

from __future__ import annotations

from collections.abc import Mapping

from vcsync.rules import Example, GateCheck, Rule, all_codes

HEADER = """# vcsync rules

Generated from the rule declarations in `vcsync/rules/` by
`python -m vcsync.rules.docs > docs/rules.md`; a test fails when this file is stale.

Every finding prints as `path:line:col: CODE message`. Silence a rule for one file with
`-- vcsync: ignore CODE -- reason`, or for the project with `ignore = ["CODE"]`.
Migrations at or below `baseline` are exempt from the VC0xx and VC3xx rules.
`vcsync check` runs the rules with examples below; the gate checks (no example files:
they need ledgers, tags or a scratch database) are made by `vcsync verify`.

The safety rules (VC3xx) read what each statement does from PostgreSQL's own parse tree
(sqlglot's for VC301 and VC302 in other dialects). The lock rules (VC303, VC305-VC311)
and VC310 judge only *live* tables: a table created in the same migration, or by a
migration new on the branch (absent from the base ref and the release tag), holds no
production data yet and is exempt; without a base ref only the same-migration exemption
applies and a note says so. `postgres_version` (default 14) decides the version-dependent
cases; `[tool.vcsync.severity]` raises or lowers any code; VC311 is opt-in
(`select = ["VC", "VC311"]`). A `-- vcsync: irreversible -- reason` directive in a
migration or its rollback answers VC301 and VC302 for that migration.

| code | name | severity | what it finds |
| --- | --- | --- | --- |
"""


def _tree(example: Example) -> str:
    parts = []
    if example.base is not None:
        parts.append("On the base branch:\n")
        parts.extend(_files(example.base))
        parts.append("In the change:\n")
    parts.extend(_files(example.files))
    return "\n".join(parts)


def _files(files: Mapping[str, str]) -> list[str]:
    return [
        f"`{path}`\n```{'toml' if path.endswith('.toml') else 'sql'}\n{text.rstrip()}\n```\n"
        for path, text in sorted(files.items())
    ]


def _section(rule: Rule | GateCheck) -> str:
    if isinstance(rule, GateCheck):
        return (
            f"## {rule.code}\n\n**{rule.name}** ({rule.severity}, `vcsync verify`): "
            f"{rule.summary}\n\n- Bad: {rule.bad}\n- Good: {rule.good}\n"
        )
    return (
        f"## {rule.code}\n\n**{rule.name}** ({rule.severity}): {rule.summary}\n\n"
        f"### Bad\n\n{_tree(rule.bad)}\n### Good\n\n{_tree(rule.good)}"
    )


def render_rules_markdown() -> str:
    rules = all_codes()
    table = "".join(
        f"| [{r.code}](#{r.code.lower()}) | {r.name} | {r.severity} | {r.summary} |\n"
        for r in rules
    )
    return HEADER + table + "\n" + "\n".join(_section(r) for r in rules)


if __name__ == "__main__":
    print(render_rules_markdown(), end="")
