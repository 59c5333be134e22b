"""VC1xx: text and syntax — every script is clean UTF-8 text that parses in its dialect."""

from __future__ import annotations

from collections.abc import Iterator

from vcsync.rules import ERROR, Example, Hit, Rule, register
from vcsync.rules.context import Context
from vcsync.rules.files import CREATE, DOWN, DROP, UP


def _syntax_error(ctx: Context) -> Iterator[Hit]:
    for _migration, script in ctx.scripts():
        loaded = ctx.load(script)
        if loaded.size > ctx.config.max_parse_bytes:
            ctx.note(
                f"{script.path}: VC101 skipped: {loaded.size:,} bytes is above "
                f"max_parse_bytes ({ctx.config.max_parse_bytes:,}). VC301-VC311 did not read "
                "it either; raise max_parse_bytes to check it."
            )
            continue
        parsed = ctx.parsed(script)  # None: VC102 already says why this text cannot be parsed
        problem = parsed.problem if parsed is not None else None
        if problem is not None:
            yield Hit(script.path, problem.line, problem.column, problem.message)


register(
    Rule(
        code="VC101",
        name="syntax-error",
        severity=ERROR,
        summary="SQL does not parse in the configured dialect.",
        bad=Example({UP: "CREATE TABLE users (id bigint PRIMARY KEY,);\n", DOWN: DROP}),
        good=Example({UP: CREATE, DOWN: DROP}),
        check=_syntax_error,
    )
)


def _unclean_text(ctx: Context) -> Iterator[Hit]:
    for _migration, script in ctx.scripts():
        if script.section == "down":  # a markers file is scanned once, through its up half
            continue
        for problem in ctx.load(script).problems:
            yield Hit(script.path, problem.line, problem.column, f"this file {problem.message}")


register(
    Rule(
        code="VC102",
        name="unclean-text",
        severity=ERROR,
        summary="A script holds merge-conflict markers, non-UTF-8 bytes or a NUL byte.",
        bad=Example(
            {
                UP: "<<<<<<< HEAD\nCREATE TABLE users (id bigint);\n=======\n"
                "CREATE TABLE users (id int);\n>>>>>>> feature\n",
                DOWN: DROP,
            }
        ),
        good=Example({UP: CREATE, DOWN: DROP}),
        check=_unclean_text,
    )
)


def _bad_directive(ctx: Context) -> Iterator[Hit]:
    for _migration, script in ctx.scripts():
        for problem in ctx.load(script).directives.problems:
            yield Hit(script.path, problem.line, problem.column, problem.message)


register(
    Rule(
        code="VC103",
        name="bad-directive",
        severity=ERROR,
        summary="A `-- vcsync:` directive is unknown, names no rule code, or gives no reason.",
        bad=Example(
            {
                UP: "-- vcsync: irreversible\nDROP TABLE legacy_users;\n",
                DOWN: "CREATE TABLE legacy_users (id bigint);\n",
            }
        ),
        good=Example(
            {
                UP: "-- vcsync: irreversible -- emptied and archived in 1.3.0\n"
                "DROP TABLE legacy_users;\n",
                DOWN: "CREATE TABLE legacy_users (id bigint);\n",
            }
        ),
        check=_bad_directive,
    )
)
