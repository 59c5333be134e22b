"""VC004 and VC2xx: history — what reached the base branch or a release stays as it was.

Only paths Git reports as different between a base and the checked tree are read,
so a full check of 2,000 unchanged migrations reads none of them twice.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import NamedTuple

from vcsync.migrations.layouts import Migration
from vcsync.migrations.versions import Version
from vcsync.rules import ERROR, WARNING, Example, Hit, Rule, register
from vcsync.rules.context import Base, Context
from vcsync.rules.files import CREATE, DOWN, DROP, UP
from vcsync.sql.syntax import same_parse_tree

V2 = "database/migrations/V2__add_email.sql"
V2_DOWN = "database/rollback/V2__add_email_rollback.sql"
ADD_EMAIL = "ALTER TABLE users ADD COLUMN email text;\n"
DROP_EMAIL = "ALTER TABLE users DROP COLUMN email;\n"


def next_version_after(version: Version) -> str:
    """The smallest bump of the last segment, keeping its width (1.4.0 -> 1.4.1, 0099 -> 0100)."""
    head, sep, last = version.text.rpartition("." if "." in version.text else "_")
    digits = last if last.isdigit() else str(version.key[-1])
    return f"{head}{sep}{int(digits) + 1:0{len(digits)}d}"


def _versioned(migrations: tuple[Migration, ...]) -> dict[tuple[int, ...], Migration]:
    return {m.version.key: m for m in migrations if m.version is not None}


def _non_linear(ctx: Context) -> Iterator[Hit]:
    for base in ctx.bases:
        if not base.linear:
            continue
        on_base = _versioned(base.discovery.migrations)
        if not on_base:
            continue
        highest = max(on_base.values(), key=lambda m: m.version.key if m.version else ())
        assert highest.version is not None
        for migration in ctx.discovery.migrations:
            version = migration.version
            if version is None or version.key in on_base or not ctx.in_scope(migration.up.path):
                continue
            if version.key < highest.version.key:
                yield Hit(
                    migration.up.path,
                    1,
                    1,
                    f"version {version} is not above {highest.version}, the highest on "
                    f"{base.ref}; renumber it to {next_version_after(highest.version)} "
                    "or later.",
                )


register(
    Rule(
        code="VC004",
        name="non-linear-version",
        severity=ERROR,
        summary="A new migration's version is not above every version on the base ref.",
        bad=Example(
            {
                UP: CREATE,
                DOWN: DROP,
                V2: ADD_EMAIL,
                V2_DOWN: DROP_EMAIL,
                "database/migrations/V1.5__add_name.sql": "ALTER TABLE users ADD name text;\n",
                "database/rollback/V1.5__add_name_rollback.sql": "ALTER TABLE users DROP name;\n",
            },
            base={UP: CREATE, DOWN: DROP, V2: ADD_EMAIL, V2_DOWN: DROP_EMAIL},
        ),
        good=Example(
            {
                UP: CREATE,
                DOWN: DROP,
                V2: ADD_EMAIL,
                V2_DOWN: DROP_EMAIL,
                "database/migrations/V3__add_name.sql": "ALTER TABLE users ADD name text;\n",
                "database/rollback/V3__add_name_rollback.sql": "ALTER TABLE users DROP name;\n",
            },
            base={UP: CREATE, DOWN: DROP, V2: ADD_EMAIL, V2_DOWN: DROP_EMAIL},
        ),
        check=_non_linear,
        uses_bases=True,
    )
)


def _changed_on(ctx: Context, base: Base) -> Iterator[tuple[Migration, Migration | None]]:
    """Versioned migrations of the base whose up script Git reports as changed."""
    current = {m.up.path: m for m in ctx.discovery.migrations}
    for old in base.discovery.migrations:
        if old.version is not None and old.up.path in base.changed and ctx.in_scope(old.up.path):
            yield old, current.get(old.up.path)


class Edit(NamedTuple):
    path: str
    version: str
    ref: str
    before: str  # checksums
    after: str
    reformatted: bool  # same parse tree: whitespace, comments, keyword case only


def edits(ctx: Context) -> Iterator[Edit]:
    """Migrations of a base whose checksum changed since (each read once, parsed if changed)."""
    for base in ctx.bases:
        for old, new in _changed_on(ctx, base):
            if new is None:
                continue
            before, after = ctx.load(old.up, base.source), ctx.load(new.up)
            if before.checksum == after.checksum:
                continue
            same = (
                before.text is not None
                and after.text is not None
                and same_parse_tree(before.text, after.text, ctx.config.dialect)
            )
            yield Edit(
                new.up.path, str(old.version), base.ref, before.checksum, after.checksum, same
            )


def _modified(ctx: Context) -> Iterator[Hit]:
    for edit in edits(ctx):
        if not edit.reformatted:
            yield Hit(
                edit.path,
                1,
                1,
                f"migration {edit.version} was modified after it reached {edit.ref} "
                f"(checksum {edit.before[:12]} -> {edit.after[:12]}); restore it and put "
                "the change in a new migration.",
            )


def _reformatted(ctx: Context) -> Iterator[Hit]:
    for edit in edits(ctx):
        if edit.reformatted:
            yield Hit(
                edit.path,
                1,
                1,
                f"migration {edit.version} was reformatted after it reached {edit.ref} "
                "(same parse tree, new checksum); databases that applied it will report "
                "drift until it is restored.",
            )


register(
    Rule(
        code="VC201",
        name="applied-migration-modified",
        severity=ERROR,
        summary="A migration that exists on the base ref or in a release tag was modified.",
        bad=Example(
            {UP: "CREATE TABLE users (id bigint PRIMARY KEY, email text);\n", DOWN: DROP},
            base={UP: CREATE, DOWN: DROP},
        ),
        good=Example(
            {UP: CREATE, DOWN: DROP, V2: ADD_EMAIL, V2_DOWN: DROP_EMAIL},
            base={UP: CREATE, DOWN: DROP},
        ),
        check=_modified,
        uses_bases=True,
    )
)

register(
    Rule(
        code="VC203",
        name="applied-migration-reformatted",
        severity=WARNING,
        summary="An applied migration changed only its formatting (the same parse tree).",
        bad=Example(
            {UP: "-- the users\ncreate table users (\n    id bigint primary key\n);\n", DOWN: DROP},
            base={UP: CREATE, DOWN: DROP},
        ),
        good=Example({UP: CREATE, DOWN: DROP}, base={UP: CREATE, DOWN: DROP}),
        check=_reformatted,
        uses_bases=True,
    )
)


def _deleted(ctx: Context) -> Iterator[Hit]:
    for base in ctx.bases:
        by_version = _versioned(ctx.discovery.migrations)
        for old, new in _changed_on(ctx, base):
            if new is not None:
                continue
            assert old.version is not None
            renamed = by_version.get(old.version.key)
            what = f"was renamed to {renamed.up.path}" if renamed else "was deleted"
            yield Hit(
                old.up.path,
                1,
                1,
                f"migration {old.version} exists on {base.ref} but {what}; restore it "
                f"as it was (databases that applied it still expect it).",
            )


register(
    Rule(
        code="VC202",
        name="applied-migration-removed",
        severity=ERROR,
        summary=(
            "A migration that exists on the base ref or in a release tag was deleted or renamed."
        ),
        bad=Example(
            {UP: CREATE, DOWN: DROP},
            base={UP: CREATE, DOWN: DROP, V2: ADD_EMAIL, V2_DOWN: DROP_EMAIL},
        ),
        good=Example(
            {UP: CREATE, DOWN: DROP, V2: ADD_EMAIL, V2_DOWN: DROP_EMAIL},
            base={UP: CREATE, DOWN: DROP, V2: ADD_EMAIL, V2_DOWN: DROP_EMAIL},
        ),
        check=_deleted,
        uses_bases=True,
    )
)
