"""VC0xx: files and versions — every migration paired, named and numbered right."""

from __future__ import annotations

from collections.abc import Iterator

from vcsync.migrations.layouts import Script, rollback_path
from vcsync.migrations.markers import MARKERS, marker_style
from vcsync.migrations.versions import version_from_user
from vcsync.rules import ERROR, Example, Hit, Rule, register
from vcsync.rules.context import Context
from vcsync.sql.comments import is_blank_sql

UP = "database/migrations/V1__create_users.sql"
DOWN = "database/rollback/V1__create_users_rollback.sql"
CREATE = "CREATE TABLE users (id bigint PRIMARY KEY);\n"
DROP = "DROP TABLE users;\n"


def _missing_rollback(ctx: Context) -> Iterator[Hit]:
    layout = ctx.discovery.layout
    for migration in ctx.discovery.migrations:
        if migration.version is None or not ctx.in_scope(migration.up.path):
            continue
        if migration.down is None:
            where = rollback_path(migration, layout, ctx.folders)
            yield Hit(
                migration.up.path,
                1,
                1,
                f"migration {migration.version} has no rollback script; add {where}.",
            )
        elif migration.down.section and not ctx.load(migration.down).present:
            whole = ctx.load(Script(migration.up.path)).text or ""
            marker = MARKERS[marker_style(whole)][1]
            yield Hit(
                migration.up.path,
                1,
                1,
                f"migration {migration.version} has no `{marker}` section; add one that undoes it.",
            )


register(
    Rule(
        code="VC001",
        name="missing-rollback",
        severity=ERROR,
        summary="A migration has no rollback script.",
        bad=Example({UP: CREATE}),
        good=Example({UP: CREATE, DOWN: DROP}),
        check=_missing_rollback,
    )
)


def _orphan_rollback(ctx: Context) -> Iterator[Hit]:
    for path in ctx.discovery.orphan_rollbacks:
        yield Hit(
            path,
            1,
            1,
            "this rollback has no migration with its version; "
            "rename it to match its migration or delete it.",
        )


register(
    Rule(
        code="VC002",
        name="orphan-rollback",
        severity=ERROR,
        summary="A rollback script has no migration.",
        bad=Example(
            {
                UP: CREATE,
                DOWN: DROP,
                "database/rollback/V2__add_email_rollback.sql": "ALTER TABLE users DROP email;\n",
            }
        ),
        good=Example({UP: CREATE, DOWN: DROP}),
        check=_orphan_rollback,
    )
)


def _duplicate_version(ctx: Context) -> Iterator[Hit]:
    by_version: dict[tuple[int, ...], list[str]] = {}
    for migration in ctx.discovery.migrations:
        if migration.version is not None:
            by_version.setdefault(migration.version.key, []).append(migration.up.path)
    versioned = [m for m in ctx.discovery.migrations if m.version is not None]
    highest = versioned[-1].version if versioned else None
    for migration in versioned:
        paths = by_version[migration.version.key] if migration.version else []
        if len(paths) > 1:
            others = ", ".join(p for p in paths if p != migration.up.path)
            yield Hit(
                migration.up.path,
                1,
                1,
                f"version {migration.version} is also taken by {others}; "
                f"give one of them a version above {highest}.",
            )


register(
    Rule(
        code="VC003",
        name="duplicate-version",
        severity=ERROR,
        summary="Two migrations share a version.",
        bad=Example(
            {
                UP: CREATE,
                DOWN: DROP,
                "database/migrations/V1__create_orders.sql": "CREATE TABLE orders (id bigint);\n",
                "database/rollback/V1__create_orders_rollback.sql": "DROP TABLE orders;\n",
            }
        ),
        good=Example(
            {
                UP: CREATE,
                DOWN: DROP,
                "database/migrations/V2__create_orders.sql": "CREATE TABLE orders (id bigint);\n",
                "database/rollback/V2__create_orders_rollback.sql": "DROP TABLE orders;\n",
            }
        ),
        check=_duplicate_version,
    )
)

_NAMING = {
    "split": "V<version>__<desc>.sql, its rollback V<version>__<desc>_rollback.sql",
    "flyway": "V<version>__<desc>.sql, U<version>__<desc>.sql or R__<desc>.sql",
    "updown": "<version>_<desc>.up.sql and .down.sql, or <version>_<desc>/up.sql",
    "markers": "<version>_<desc>.sql",
}


def _misnamed(ctx: Context) -> Iterator[Hit]:
    """Files `migrate` and `rollback` refuse to start with (see deploy/plan.py)."""
    naming = _NAMING[ctx.discovery.layout]
    for path in ctx.discovery.misnamed:
        yield Hit(
            path,
            1,
            1,
            f"this file looks like a migration but does not follow the "
            f"{ctx.discovery.layout} layout's naming ({naming}); rename it.",
        )
    baseline = version_from_user(ctx.config.baseline) if ctx.config.baseline else None
    for migration in ctx.discovery.not_runnable(baseline):
        yield Hit(
            migration.up.path,
            1,
            1,
            "this is a goose Go migration, which vcsync cannot run (it runs SQL only); "
            "rewrite it as a SQL migration with `-- +goose Up` and `-- +goose Down` "
            "sections, or remove it.",
        )


register(
    Rule(
        code="VC005",
        name="misnamed-file",
        severity=ERROR,
        summary=(
            "A file in the migrations folder looks like a migration but is misnamed, or is "
            "one vcsync cannot run (goose's Go migrations); `migrate` and `rollback` refuse "
            "to start while one is there."
        ),
        bad=Example(
            {
                UP: CREATE,
                DOWN: DROP,
                "database/migrations/V2_add_email.sql": "ALTER TABLE users ADD email text;\n",
            }
        ),
        good=Example(
            {UP: CREATE, DOWN: DROP, "database/migrations/README.md": "Our migrations.\n"}
        ),
        check=_misnamed,
    )
)


def _empty_script(ctx: Context) -> Iterator[Hit]:
    for migration, script in ctx.scripts():
        loaded = ctx.load(script)
        if script is migration.up and not loaded.present:
            marker = MARKERS[marker_style(ctx.load(Script(script.path)).text or "")][0]
            yield Hit(
                script.path,
                1,
                1,
                f"migration {migration.label} has no `{marker}` "
                "marker, so nothing of it would run; add the marker "
                "above its statements.",
            )
            continue
        if loaded.text is None or not loaded.present or not is_blank_sql(loaded.text):
            continue
        if script is migration.up:
            yield Hit(
                script.path,
                loaded.first_line,
                1,
                f"migration {migration.label} is empty or holds only comments; "
                "write its statements or delete it.",
            )
        elif (
            loaded.directives.irreversible is None
            and ctx.load(migration.up).directives.irreversible is None
        ):
            yield Hit(
                script.path,
                loaded.first_line,
                1,
                f"the rollback of {migration.label} is empty or holds only comments; "
                "write the statements that undo it, or state "
                "`-- vcsync: irreversible -- <reason>`.",
            )


register(
    Rule(
        code="VC006",
        name="empty-script",
        severity=ERROR,
        summary="A migration or rollback is empty, or holds only comments.",
        bad=Example({UP: CREATE, DOWN: "-- TODO\n"}),
        good=Example(
            {UP: CREATE, DOWN: "-- vcsync: irreversible -- the table is dropped by V9 anyway\n"}
        ),
        check=_empty_script,
    )
)
