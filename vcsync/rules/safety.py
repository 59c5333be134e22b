"""VC302-VC311: statements that destroy data or lock a live table, read from the one
statement-effects model (PostgreSQL's own tree; sqlglot's for VC302 in other dialects).

The lock rules judge only *live* tables (see lineage.py) and only migrations' ups: a
rollback runs in an emergency, when its locks are the lesser evil. Each statement is
judged as PostgreSQL's documentation for `postgres_version` says it behaves.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from vcsync.migrations.layouts import Migration
from vcsync.rules import ERROR, WARNING, Example, Hit, Rule, register
from vcsync.rules.context import Context
from vcsync.rules.lineage import Lineage, bare
from vcsync.rules.reversal import IRREVERSIBLE
from vcsync.scripts import LoadedScript
from vcsync.sql.effects import Alteration, StatementEffect
from vcsync.sql.effects.model import POSTGRES

ACCESS_EXCLUSIVE = "ACCESS EXCLUSIVE"
NO_TRANSACTION = "`-- vcsync: no-transaction`"
_DESTROYED = ("TABLE", "SCHEMA", "DATABASE")


class Up:
    """One migration's up as the rules read it: its statements, and which came before."""

    def __init__(self, migration: Migration, loaded: LoadedScript, effects: list[StatementEffect]):
        self.migration = migration
        self.loaded = loaded
        self.effects = effects
        self.path = migration.up.path

    def hit(self, effect: StatementEffect, message: str) -> Hit:
        return Hit(self.path, effect.line, effect.column, message)

    def before(self, effect: StatementEffect) -> list[StatementEffect]:
        return self.effects[: self.effects.index(effect)]


def _ups(ctx: Context, postgres_only: bool = True) -> list[Up]:
    if postgres_only and ctx.config.dialect != POSTGRES:
        return []
    return ctx.shared(_ups_in_scope)


def _ups_in_scope(ctx: Context) -> list[Up]:
    """The ups in scope that hold statements, read once for every rule."""
    ups = []
    for migration in ctx.discovery.migrations:
        if ctx.in_scope(migration.up.path):
            effects = ctx.effects(migration.up)
            if effects:
                ups.append(Up(migration, ctx.load(migration.up), effects))
    return ups


def _alterations(
    ctx: Context, actions: tuple[str, ...]
) -> Iterator[tuple[Up, StatementEffect, Alteration]]:
    """Each alteration of a live table by one of `actions`, in the ups in scope."""
    lineage = ctx.shared(Lineage)
    for up in _ups(ctx):
        for effect in up.effects:
            for change in effect.objects_altered:
                table = change.object
                wanted = change.action in actions and table.kind == "TABLE"
                if wanted and lineage.is_live(up.migration, table.name):
                    yield up, effect, change


def _rule(
    code: str,
    name: str,
    severity: str,
    summary: str,
    bad: Example,
    good: Example,
    check: Callable[[Context], Iterator[Hit]],
    *,
    uses_bases: bool = True,  # the lock rules ask which tables are new on the branch
    opt_in: bool = False,
) -> None:
    register(Rule(code, name, severity, summary, bad, good, check, uses_bases, opt_in))


# --- examples: a users table that reached main, then a change on a branch ---------------

V1 = "database/migrations/V1__create_users.sql"
V1_DOWN = "database/rollback/V1__create_users_rollback.sql"
V2 = "database/migrations/V2__change_users.sql"
V2_DOWN = "database/rollback/V2__change_users_rollback.sql"
ON_MAIN = {
    V1: "CREATE TABLE users (\n    id bigint PRIMARY KEY,\n    email varchar(200),\n"
    "    name text,\n    team_id bigint\n);\n",
    V1_DOWN: "DROP TABLE users;\n",
}


def _change(up: str, down: str, **extra: str) -> Example:
    return Example({**ON_MAIN, V2: up, V2_DOWN: down, **extra}, base=ON_MAIN)


# --- VC302 ----------------------------------------------------------------------------


def _destructive(ctx: Context) -> Iterator[Hit]:
    for up in _ups(ctx, postgres_only=False):
        down = up.migration.down
        if up.loaded.directives.irreversible or (
            down is not None and ctx.load(down).directives.irreversible
        ):
            continue
        made: set[str] = set()
        for effect in up.effects:
            made.update(bare(o.name) for o in effect.objects_created)
            what = [*_drops(effect, made), *_wipes(effect, made)]
            made.update(
                f"{bare(c.object.name)}.{c.part}"
                for c in effect.objects_altered
                if c.action == "ADD COLUMN"
            )
            if what:
                yield up.hit(effect, f"{'; '.join(what)}; {IRREVERSIBLE}.")


def _drops(effect: StatementEffect, made: set[str]) -> Iterator[str]:
    for obj in effect.objects_dropped:
        if obj.kind in _DESTROYED and bare(obj.name) not in made:
            yield f"DROP {obj.kind} {obj.name} destroys it and its data"
    for change in effect.objects_altered:
        table = bare(change.object.name)
        column = f"{table}.{change.part}"
        if change.action == "DROP COLUMN" and table not in made and column not in made:
            yield f"DROP COLUMN {change.object.name}.{change.part} destroys the column's data"


def _wipes(effect: StatementEffect, made: set[str]) -> Iterator[str]:
    for rows in effect.rows:
        if rows.filtered or rows.verb == "INSERT" or bare(rows.table) in made:
            continue
        if rows.verb == "TRUNCATE":
            yield f"TRUNCATE removes every row of {rows.table}"
        elif rows.verb == "DELETE":
            yield f"DELETE without WHERE removes every row of {rows.table}"
        elif rows.verb == "UPDATE":
            yield f"UPDATE without WHERE overwrites every row of {rows.table}"


_rule(
    "VC302",
    "destructive-statement",
    ERROR,
    "A destructive statement in a migration — DROP TABLE/COLUMN/SCHEMA/DATABASE, TRUNCATE, "
    "DELETE or UPDATE without WHERE — on an object the same migration did not create, "
    "without an `irreversible` or `ignore` directive.",
    _change("DROP TABLE legacy_users;\n", "CREATE TABLE legacy_users (id bigint);\n"),
    _change(
        "-- vcsync: irreversible -- legacy_users was archived to S3 in release 1.3.0\n"
        "DROP TABLE legacy_users;\n",
        "CREATE TABLE legacy_users (id bigint);\n",
    ),
    _destructive,
    uses_bases=False,
)


# --- VC303 ----------------------------------------------------------------------------


def _blocking_index(ctx: Context) -> Iterator[Hit]:
    lineage = ctx.shared(Lineage)
    for up in _ups(ctx):
        for effect in up.effects:
            if effect.transaction_control or effect.kind not in (
                "IndexStmt",
                "DropStmt",
                "ReindexStmt",
            ):
                continue
            if effect.kind == "IndexStmt":
                table = effect.lock_on[0] if effect.lock_on else ""
                if table and lineage.is_live(up.migration, table):
                    yield up.hit(
                        effect,
                        f"CREATE INDEX on live table {table} blocks writes to it while the "
                        f"index builds; use CREATE INDEX CONCURRENTLY in a {NO_TRANSACTION} "
                        "migration.",
                    )
                continue
            for table, index in _indexed_tables(lineage, up, effect):
                verb = "DROP INDEX" if effect.kind == "DropStmt" else "REINDEX"
                yield up.hit(
                    effect,
                    f"{verb} {index} locks live table {table} until it finishes; use {verb} "
                    f"CONCURRENTLY in a {NO_TRANSACTION} migration.",
                )
                break


def _indexed_tables(lineage: Lineage, up: Up, effect: StatementEffect) -> Iterator[tuple[str, str]]:
    """(live table, index) for a DROP INDEX or REINDEX; an index whose table vcsync cannot
    find (made outside the migrations) is taken to be on a live table."""
    if effect.kind == "ReindexStmt" and effect.lock_on:
        for table in effect.lock_on:
            if lineage.is_live(up.migration, table):
                yield table, table
        return
    named = [*effect.objects_dropped, *(c.object for c in effect.objects_altered)]
    for index in (o.name for o in named if o.kind == "INDEX"):
        if lineage.index_is_new(up.migration, index):
            continue
        owner = lineage.index_table(up.migration, index)
        if owner is None or lineage.is_live(up.migration, owner):
            yield owner or "(its table)", index


_rule(
    "VC303",
    "blocking-index-change",
    WARNING,
    "An index created, dropped or rebuilt without CONCURRENTLY on a live table: writes to "
    "the table wait for the whole build.",
    _change("CREATE INDEX users_email_idx ON users (email);\n", "DROP INDEX users_email_idx;\n"),
    _change(
        "-- vcsync: no-transaction\nCREATE INDEX CONCURRENTLY users_email_idx ON users (email);\n",
        "-- vcsync: no-transaction\nDROP INDEX CONCURRENTLY users_email_idx;\n",
    ),
    _blocking_index,
)


# --- VC304 ----------------------------------------------------------------------------


def _concurrently_in_transaction(ctx: Context) -> Iterator[Hit]:
    if ctx.config.dialect != POSTGRES:
        return
    for _migration, script in ctx.scripts():
        loaded = ctx.load(script)
        if loaded.no_transaction:
            continue
        for effect in ctx.effects(script):
            what = effect.transaction_control
            if what and "CONCURRENTLY" in what:
                yield Hit(
                    script.path,
                    effect.line,
                    effect.column,
                    f"{what} cannot run inside a transaction block, and this script runs in "
                    f"one; mark it {NO_TRANSACTION}.",
                )


_rule(
    "VC304",
    "concurrently-in-transaction",
    ERROR,
    "CONCURRENTLY (index create/drop/reindex, DETACH PARTITION) in a script that runs in a "
    "transaction: PostgreSQL refuses it; mark the script `no-transaction`.",
    Example(
        {
            **ON_MAIN,
            V2: "CREATE INDEX CONCURRENTLY users_email_idx ON users (email);\n",
            V2_DOWN: "-- vcsync: no-transaction\nDROP INDEX CONCURRENTLY users_email_idx;\n",
        }
    ),
    Example(
        {
            **ON_MAIN,
            V2: "-- vcsync: no-transaction\n"
            "CREATE INDEX CONCURRENTLY users_email_idx ON users (email);\n",
            V2_DOWN: "-- vcsync: no-transaction\nDROP INDEX CONCURRENTLY users_email_idx;\n",
        }
    ),
    _concurrently_in_transaction,
    uses_bases=False,
)


# --- VC305 ----------------------------------------------------------------------------


def _risky_new_column(ctx: Context) -> Iterator[Hit]:
    version = ctx.config.postgres_version
    for up, effect, change in _alterations(ctx, ("ADD COLUMN",)):
        column = f"{change.object.name}.{change.part}"
        if change.not_null and not change.default:
            yield up.hit(
                effect,
                f"ADD COLUMN {column} NOT NULL without a default fails on a table that has "
                "rows; add it with a constant default, or nullable, backfill, then SET NOT "
                "NULL.",
            )
        elif change.default == "volatile":
            yield up.hit(
                effect,
                f"ADD COLUMN {column} with a volatile default rewrites live table "
                f"{change.object.name} under an ACCESS EXCLUSIVE lock; add it without a "
                "default, then set the default and backfill in batches.",
            )
        elif change.default and version < 11:
            yield up.hit(
                effect,
                f"ADD COLUMN {column} with a default rewrites live table {change.object.name} "
                f"on PostgreSQL {version} (only 11 and later keep a constant default without "
                "rewriting); add it without a default, then backfill in batches.",
            )


_rule(
    "VC305",
    "risky-new-column",
    ERROR,
    "ADD COLUMN … NOT NULL without a default on a live table (fails on a non-empty table), "
    "or with a volatile default (rewrites the table).",
    _change(
        "ALTER TABLE users ADD COLUMN plan text NOT NULL;\n",
        "ALTER TABLE users DROP COLUMN plan;\n",
    ),
    _change(
        "ALTER TABLE users ADD COLUMN plan text NOT NULL DEFAULT 'free';\n",
        "ALTER TABLE users DROP COLUMN plan;\n",
    ),
    _risky_new_column,
)


# --- VC306 ----------------------------------------------------------------------------


def _rewriting_type_change(ctx: Context) -> Iterator[Hit]:
    from vcsync.sql.effects.pg_values import binary_compatible

    lineage = ctx.shared(Lineage)
    for up, effect, change in _alterations(ctx, ("ALTER COLUMN TYPE",)):
        table, new = change.object.name, change.type_name
        old = lineage.column_type(up.migration, table, change.part, up.before(effect))
        if not change.using:
            if old is not None and binary_compatible(old, new):
                continue
            if old is None and new in ("text", "varchar"):
                continue  # a widening to text from the usual varchar(n): no rewrite
        was = f" from {old}" if old else ""
        yield up.hit(
            effect,
            f"changing {table}.{change.part} to {new}{was} rewrites live table {table} under "
            "an ACCESS EXCLUSIVE lock; add a new column, backfill it in batches and switch "
            "over.",
        )


_rule(
    "VC306",
    "rewriting-type-change",
    WARNING,
    "A column type change that rewrites a live table (not a binary-compatible widening "
    "such as `varchar(n)` → `text`).",
    _change(
        "ALTER TABLE users ALTER COLUMN team_id TYPE integer;\n",
        "ALTER TABLE users ALTER COLUMN team_id TYPE bigint;\n",
    ),
    _change(
        "ALTER TABLE users ALTER COLUMN email TYPE text;\n",
        "ALTER TABLE users ALTER COLUMN email TYPE varchar(200);\n",
    ),
    _rewriting_type_change,
)


# --- VC307 ----------------------------------------------------------------------------


def _validated_under_lock(ctx: Context) -> Iterator[Hit]:
    actions = ("ADD CONSTRAINT", "VALIDATE CONSTRAINT")
    for up, effect, change in _alterations(ctx, actions):
        table = change.object.name
        if change.action == "ADD CONSTRAINT":
            if change.constraint in ("FOREIGN KEY", "CHECK") and change.validated:
                name = f" {change.part}" if change.part else ""
                yield up.hit(
                    effect,
                    f"{change.constraint} constraint{name} is validated against every row of "
                    f"live table {table} under lock; add it NOT VALID, then VALIDATE "
                    "CONSTRAINT in a later migration.",
                )
        elif not up.loaded.no_transaction and _added_not_valid(up, effect, change):
            yield up.hit(
                effect,
                f"VALIDATE CONSTRAINT {change.part} runs in the transaction that added it NOT "
                f"VALID, which still holds that lock on {table}; validate in a later "
                "migration.",
            )


def _added_not_valid(up: Up, effect: StatementEffect, validate: Alteration) -> bool:
    return any(
        c.action == "ADD CONSTRAINT" and c.part == validate.part and not c.validated
        for e in up.before(effect)
        for c in e.objects_altered
    )


_rule(
    "VC307",
    "constraint-validated-under-lock",
    WARNING,
    "A FOREIGN KEY or CHECK constraint added to a live table without NOT VALID (validated "
    "under lock; add it NOT VALID, then VALIDATE CONSTRAINT in a later migration).",
    _change(
        "ALTER TABLE users ADD CONSTRAINT users_email_check CHECK (email LIKE '%@%');\n",
        "ALTER TABLE users DROP CONSTRAINT users_email_check;\n",
    ),
    _change(
        "ALTER TABLE users ADD CONSTRAINT users_email_check CHECK (email LIKE '%@%') NOT VALID;\n",
        "ALTER TABLE users DROP CONSTRAINT users_email_check;\n",
    ),
    _validated_under_lock,
)


# --- VC308 ----------------------------------------------------------------------------


def _scanning_set_not_null(ctx: Context) -> Iterator[Hit]:
    lineage = ctx.shared(Lineage)
    version = ctx.config.postgres_version
    for up, effect, change in _alterations(ctx, ("SET NOT NULL",)):
        table, column = change.object.name, change.part
        if version >= 12 and lineage.validated_not_null_check(
            up.migration, table, column, up.before(effect)
        ):
            continue
        advice = (
            f"first add CHECK ({column} IS NOT NULL) NOT VALID and validate it in an earlier "
            "migration (PostgreSQL 12+ then skips the scan)"
            if version >= 12
            else f"on PostgreSQL {version} no constraint lets it skip the scan (12+ can)"
        )
        yield up.hit(
            effect,
            f"SET NOT NULL on {table}.{column} scans live table {table} under an ACCESS "
            f"EXCLUSIVE lock; {advice}.",
        )


_rule(
    "VC308",
    "scanning-set-not-null",
    WARNING,
    "SET NOT NULL on a live table's column without a validated `CHECK (col IS NOT NULL)` "
    "constraint (a full scan under an exclusive lock).",
    _change(
        "ALTER TABLE users ALTER COLUMN email SET NOT NULL;\n",
        "ALTER TABLE users ALTER COLUMN email DROP NOT NULL;\n",
    ),
    Example(
        {
            **ON_MAIN,
            V2: "ALTER TABLE users ADD CONSTRAINT users_email_not_null "
            "CHECK (email IS NOT NULL) NOT VALID;\n",
            V2_DOWN: "ALTER TABLE users DROP CONSTRAINT users_email_not_null;\n",
            "database/migrations/V3__validate_email.sql": "ALTER TABLE users "
            "VALIDATE CONSTRAINT users_email_not_null;\n",
            "database/rollback/V3__validate_email_rollback.sql": "SELECT 1; -- nothing to undo\n",
            "database/migrations/V4__email_not_null.sql": "ALTER TABLE users "
            "ALTER COLUMN email SET NOT NULL;\n",
            "database/rollback/V4__email_not_null_rollback.sql": "ALTER TABLE users "
            "ALTER COLUMN email DROP NOT NULL;\n",
        },
        base=ON_MAIN,
    ),
    _scanning_set_not_null,
)


# --- VC309 ----------------------------------------------------------------------------


def _index_built_under_lock(ctx: Context) -> Iterator[Hit]:
    for up, effect, change in _alterations(ctx, ("ADD CONSTRAINT",)):
        if change.constraint in ("UNIQUE", "PRIMARY KEY") and not change.using_index:
            name = f" {change.part}" if change.part and not change.column else ""
            yield up.hit(
                effect,
                f"{change.constraint} constraint{name} builds its index on live table "
                f"{change.object.name} under an ACCESS EXCLUSIVE lock; build it with CREATE "
                "UNIQUE INDEX CONCURRENTLY, then ADD CONSTRAINT … USING INDEX.",
            )


_rule(
    "VC309",
    "index-built-under-lock",
    WARNING,
    "A UNIQUE or PRIMARY KEY constraint added to a live table without `USING INDEX` (an "
    "index build under an exclusive lock).",
    _change(
        "ALTER TABLE users ADD CONSTRAINT users_email_key UNIQUE (email);\n",
        "ALTER TABLE users DROP CONSTRAINT users_email_key;\n",
    ),
    Example(
        {
            **ON_MAIN,
            V2: "-- vcsync: no-transaction\n"
            "CREATE UNIQUE INDEX CONCURRENTLY users_email_key ON users (email);\n",
            V2_DOWN: "-- vcsync: no-transaction\nDROP INDEX CONCURRENTLY users_email_key;\n",
            "database/migrations/V3__email_unique.sql": "ALTER TABLE users ADD CONSTRAINT "
            "users_email_key UNIQUE USING INDEX users_email_key;\n",
            "database/rollback/V3__email_unique_rollback.sql": "ALTER TABLE users "
            "DROP CONSTRAINT users_email_key;\n"
            "CREATE UNIQUE INDEX users_email_key ON users (email);\n",
        },
        base=ON_MAIN,
    ),
    _index_built_under_lock,
)


# --- VC310 ----------------------------------------------------------------------------


def _renamed(ctx: Context) -> Iterator[Hit]:
    lineage = ctx.shared(Lineage)
    for up in _ups(ctx):
        for effect in up.effects:
            for change in effect.objects_renamed:
                obj = change.object
                if obj.kind not in ("TABLE", "COLUMN"):
                    continue
                table = obj.on if obj.kind == "COLUMN" else obj.name
                if not table or not lineage.is_live(up.migration, table):
                    continue
                old = f"{obj.on}.{obj.name}" if obj.kind == "COLUMN" else obj.name
                yield up.hit(
                    effect,
                    f"renaming {obj.kind.lower()} {old} to {change.new_name} breaks code "
                    "still running against the old name; add the new name alongside, move "
                    "the code, then drop the old one.",
                )


_rule(
    "VC310",
    "rename",
    WARNING,
    "A table or column renamed: code still running against the old name breaks.",
    _change(
        "ALTER TABLE users RENAME COLUMN name TO full_name;\n",
        "ALTER TABLE users RENAME COLUMN full_name TO name;\n",
    ),
    _change(
        "ALTER TABLE users ADD COLUMN full_name text;\n",
        "ALTER TABLE users DROP COLUMN full_name;\n",
    ),
    _renamed,
)


# --- VC311 ----------------------------------------------------------------------------


def _lock_without_timeout(ctx: Context) -> Iterator[Hit]:
    lineage = ctx.shared(Lineage)
    for up in _ups(ctx):
        timeout = False
        for effect in up.effects:
            timeout = timeout or "lock_timeout" in effect.settings
            if timeout or effect.lock != ACCESS_EXCLUSIVE:
                continue
            tables = [t for t in effect.lock_on if lineage.is_live(up.migration, t)]
            if not effect.lock_on:
                tables = [t for t, _index in _indexed_tables(lineage, up, effect)]
            if tables:
                yield up.hit(
                    effect,
                    f"this takes an ACCESS EXCLUSIVE lock on live table {tables[0]} with no "
                    "lock_timeout set; SET lock_timeout earlier in the migration so it gives "
                    "up instead of queueing every query behind it.",
                )


OPT_IN_CONFIG = """\
[tool.vcsync]
migrations = "database/migrations"
rollbacks = "database/rollback"
select = ["VC", "VC311"]
"""

_rule(
    "VC311",
    "lock-without-timeout",
    WARNING,
    "A statement that takes an ACCESS EXCLUSIVE lock on a live table with no `lock_timeout` "
    'set earlier in the migration. Opt-in: add "VC311" to `select`.',
    _change(
        "ALTER TABLE users ADD COLUMN bio text;\n",
        "ALTER TABLE users DROP COLUMN bio;\n",
        **{"pyproject.toml": OPT_IN_CONFIG},
    ),
    _change(
        "SET lock_timeout = '3s';\nALTER TABLE users ADD COLUMN bio text;\n",
        "ALTER TABLE users DROP COLUMN bio;\n",
        **{"pyproject.toml": OPT_IN_CONFIG},
    ),
    _lock_without_timeout,
    opt_in=True,
)
