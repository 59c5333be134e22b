"""VC301: the rollback undoes its migration, judged on both scripts' statement effects.

Every change the up makes puts an obligation on the down: an object created must be
dropped (or go with its table or schema), an object dropped re-created, a rename reversed,
an alteration altered back, a function that `CREATE OR REPLACE` replaced re-replaced. What
nothing can undo (a dropped table's or column's data, an enum value) needs the
`irreversible` directive. A down that drops an object of another kind than the up made
(the up builds a unique *index*, the down drops a *constraint* of that name) fails in
PostgreSQL, so it is reported at that statement.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import NamedTuple

from vcsync.migrations.layouts import Migration
from vcsync.rules import ERROR, Example, Hit, Rule, register
from vcsync.rules.context import Context
from vcsync.rules.files import DOWN, UP
from vcsync.rules.lineage import TABLE_KINDS, Lineage, bare
from vcsync.sql.effects import DbObject, StatementEffect

IRREVERSIBLE = "mark the migration `-- vcsync: irreversible -- <reason>` if that is intended"
# Kinds a DROP of one kind also drops (DROP ROUTINE drops a function or a procedure).
_SAME_KIND = {"DOMAIN": "TYPE", "ROUTINE": "FUNCTION", "PROCEDURE": "FUNCTION"}
_REPLACEABLE = ("FUNCTION", "PROCEDURE", "VIEW")
# Alterations that change no definition, so a rollback has nothing to put back.
_NOTHING_TO_UNDO = ("VALIDATE CONSTRAINT", "REINDEX")
_PAIRED = {
    "SET NOT NULL": ("DROP NOT NULL",),
    "DROP NOT NULL": ("SET NOT NULL",),
    "SET DEFAULT": ("SET DEFAULT", "DROP DEFAULT"),
    "DROP DEFAULT": ("SET DEFAULT",),
    "ALTER COLUMN TYPE": ("ALTER COLUMN TYPE",),
}


def _kind(kind: str) -> str:
    return _SAME_KIND.get(kind, kind)


def _label(kind: str, name: str) -> str:
    suffix = "()" if kind in ("FUNCTION", "PROCEDURE") else ""
    return f"{kind.lower()} {name}{suffix}"


def _unnamed(constraint: str) -> bool:
    """A constraint the model labels by its type (`UNIQUE`): PostgreSQL names it itself."""
    return not constraint or (constraint.isupper() and constraint.replace("_", "").isalpha())


class _Down(NamedTuple):
    """What the rollback does, indexed for the obligations' questions."""

    dropped: dict[tuple[str, str], StatementEffect]  # (kind, bare name) -> the statement
    by_name: dict[str, tuple[str, StatementEffect]]  # bare name -> (kind, statement)
    tables: frozenset[str]  # tables dropped
    schemas: frozenset[str]
    created: frozenset[tuple[str, str]]  # incl. ("COLUMN", "t.c") and ("CONSTRAINT", name)
    renamed: frozenset[tuple[str, str, str]]  # (kind, bare old, bare new)
    altered: frozenset[tuple[str, str, str]]  # (bare object, action, part)
    touched: frozenset[str]  # every object the down alters


def _read_down(effects: list[StatementEffect]) -> _Down:
    dropped: dict[tuple[str, str], StatementEffect] = {}
    created, renamed, altered, touched = set(), set(), set(), set()
    for effect in effects:
        for obj in effect.objects_dropped:
            dropped.setdefault((_kind(obj.kind), bare(obj.name)), effect)
        for obj in effect.objects_created:
            created.add((_kind(obj.kind), bare(obj.name)))
        for rename in effect.objects_renamed:
            old = rename.object
            renamed.add((old.kind, _qualified(old), _qualified(old, rename.new_name)))
        for change in effect.objects_altered:
            table = bare(change.object.name)
            touched.add(table)
            altered.add((table, change.action, change.part))
            if change.action == "DROP COLUMN":
                dropped.setdefault(("COLUMN", f"{table}.{change.part}"), effect)
            elif change.action == "DROP CONSTRAINT":
                dropped.setdefault(("CONSTRAINT", change.part), effect)
            elif change.action == "ADD COLUMN":
                created.add(("COLUMN", f"{table}.{change.part}"))
            elif change.action == "ADD CONSTRAINT":
                created.add(("CONSTRAINT", change.part))
    return _Down(
        dropped,
        {name: (kind, effect) for (kind, name), effect in dropped.items()},
        frozenset(n for (k, n) in dropped if k in TABLE_KINDS),
        frozenset(n for (k, n) in dropped if k == "SCHEMA"),
        frozenset(created),
        frozenset(renamed),
        frozenset(altered),
        frozenset(touched) | {name for _kind_, name in dropped},
    )


def _qualified(obj: DbObject, name: str | None = None) -> str:
    """A column as `table.column`, anything else by its bare name."""
    own = bare(name if name is not None else obj.name)
    return f"{bare(obj.on)}.{own}" if obj.kind == "COLUMN" and obj.on else own


class _Gap(NamedTuple):
    message: str
    at: StatementEffect | None  # the down's wrong statement; None: the down lacks the undo


class _Judge:
    """The obligations one migration's up puts on its down."""

    def __init__(self, lineage: Lineage, migration: Migration, down: _Down) -> None:
        self.lineage = lineage
        self.migration = migration
        self.down = down
        self.made: set[tuple[str, str]] = set()  # what the up itself created
        self.later_names: dict[tuple[str, str], str] = {}

    def gaps(self, up: list[StatementEffect]) -> Iterator[_Gap]:
        # an object the up creates and then renames is dropped by the down under its new name
        self.later_names = {
            (_kind(r.object.kind), bare(r.object.name)): bare(r.new_name)
            for effect in up
            for r in effect.objects_renamed
        }
        for effect in up:
            for obj in effect.objects_created:
                yield from self._created(effect, obj)
                self.made.add((_kind(obj.kind), bare(obj.name)))
            for obj in effect.objects_dropped:
                yield from self._dropped(obj)
            for change in effect.objects_renamed:
                yield from self._renamed(change.object, change.new_name)
            yield from self._altered(effect)

    def _gone_with_owner(self, obj: DbObject) -> bool:
        schema = obj.name.rsplit(".", 1)[0] if "." in obj.name else None
        return (bool(obj.on) and bare(obj.on) in self.down.tables) or (
            schema is not None and schema in self.down.schemas
        )

    def _created(self, effect: StatementEffect, obj: DbObject) -> Iterator[_Gap]:
        kind, name = _kind(obj.kind), bare(obj.name)
        if not name:
            return
        replaced = kind in _REPLACEABLE and effect.summary.startswith("CREATE OR REPLACE")
        if replaced and self.lineage.existed(self.migration, obj.kind, obj.name):
            drop = self.down.dropped.get((kind, name))
            if drop is not None:
                yield _Gap(
                    f"{_label(kind, obj.name)} existed before this migration replaced it, so "
                    "its rollback must restore the previous definition with CREATE OR REPLACE, "
                    "not drop it.",
                    drop,
                )
            elif (kind, name) not in self.down.created:
                yield _Gap(
                    f"{_label(kind, obj.name)} is replaced by the migration but its rollback "
                    "never restores the previous definition (CREATE OR REPLACE it again).",
                    None,
                )
            return
        renamed = self.later_names.get((kind, name), name)
        if {(kind, name), (kind, renamed)} & self.down.dropped.keys() or self._gone_with_owner(obj):
            return
        if kind in TABLE_KINDS and renamed in self.down.tables:
            return
        if kind in TABLE_KINDS and name in self.down.tables:
            return
        other = self.down.by_name.get(name)
        if other is not None:
            yield _Gap(
                f"{_label(kind, obj.name)} is created by the migration, but its rollback drops "
                f"a {other[0].lower()} of that name instead.",
                other[1],
            )
            return
        yield _Gap(
            f"{_label(kind, obj.name)} is created by the migration but never dropped by its "
            "rollback.",
            None,
        )

    def _dropped(self, obj: DbObject) -> Iterator[_Gap]:
        kind, name = _kind(obj.kind), bare(obj.name)
        if (kind, name) in self.made:
            return
        if kind in ("TABLE", "SCHEMA", "DATABASE"):
            yield _Gap(
                f"{_label(kind, obj.name)} is dropped with its data, which no rollback can "
                f"restore; {IRREVERSIBLE}.",
                None,
            )
        elif (kind, name) not in self.down.created:
            yield _Gap(
                f"{_label(kind, obj.display)} is dropped by the migration but never re-created "
                "by its rollback.",
                None,
            )

    def _renamed(self, obj: DbObject, new_name: str) -> Iterator[_Gap]:
        old, new = _qualified(obj), _qualified(obj, new_name)
        if (obj.kind, new, old) in self.down.renamed:
            return
        table = bare(obj.on) if obj.kind == "COLUMN" else ""
        if table and (("TABLE", table) in self.made or table in self.down.tables):
            return  # a column of a table the up made, or that the down drops whole
        if obj.kind in TABLE_KINDS and (
            ("TABLE", bare(obj.name)) in self.made or new in self.down.tables
        ):
            return
        yield _Gap(
            f"{_label(obj.kind, _shown(obj))} is renamed to {new_name} by the migration but "
            "never renamed back by its rollback.",
            None,
        )

    def _altered(self, effect: StatementEffect) -> Iterator[_Gap]:
        for change in effect.objects_altered:
            table, part, action = bare(change.object.name), change.part, change.action
            if ("TABLE", table) in self.made or ("TYPE", table) in self.made:
                continue
            if table in self.down.tables or ("TYPE", table) in self.down.dropped:
                continue
            column = f"{table}.{part}"
            if action == "ADD COLUMN":
                if ("COLUMN", column) not in self.down.dropped:
                    yield _Gap(
                        f"column {column} is added by the migration but never dropped by its "
                        "rollback.",
                        None,
                    )
            elif action == "DROP COLUMN":
                yield _Gap(
                    f"column {column} is dropped with its data, which no rollback can restore; "
                    f"{IRREVERSIBLE}.",
                    None,
                )
            elif action == "ADD CONSTRAINT":
                yield from self._constraint_added(change.object.name, change.part, change.column)
            elif action == "DROP CONSTRAINT":
                if ("CONSTRAINT", part) not in self.down.created:
                    yield _Gap(
                        f"constraint {part} on {change.object.name} is dropped by the migration "
                        "but never added back by its rollback.",
                        None,
                    )
            elif action == "ADD VALUE":
                yield _Gap(
                    f"enum value '{part}' is added to type {change.object.name}, and PostgreSQL "
                    f"cannot remove an enum value; {IRREVERSIBLE}.",
                    None,
                )
            elif action in _PAIRED:
                undone = any((table, a, part) in self.down.altered for a in _PAIRED[action])
                if not undone and ("COLUMN", column) not in self.down.dropped:
                    yield _Gap(
                        f"{action} on column {column} is never reversed by the rollback.",
                        None,
                    )
            elif action not in _NOTHING_TO_UNDO and table not in self.down.touched:
                what = f"{action} {part}".strip()
                yield _Gap(
                    f"{change.object.kind.lower()} {change.object.name} is altered ({what}) "
                    "by the migration but never altered back by its rollback.",
                    None,
                )

    def _constraint_added(self, table: str, name: str, column: str) -> Iterator[_Gap]:
        if _unnamed(name):
            return  # PostgreSQL names it; a down can only drop it with its column or table
        if ("CONSTRAINT", name) in self.down.dropped:
            return
        if column and ("COLUMN", f"{bare(table)}.{column}") in self.down.dropped:
            return
        other = self.down.by_name.get(name)
        if other is not None:
            yield _Gap(
                f"constraint {name} on {table} is added by the migration, but its rollback "
                f"drops a {other[0].lower()} of that name instead (drop the constraint: it "
                "owns its index).",
                other[1],
            )
            return
        yield _Gap(
            f"constraint {name} on {table} is added by the migration but never dropped by its "
            "rollback.",
            None,
        )


def _shown(obj: DbObject) -> str:
    return f"{obj.on}.{obj.name}" if obj.kind == "COLUMN" and obj.on else obj.name


def _unreversed(ctx: Context) -> Iterator[Hit]:
    lineage = ctx.shared(Lineage)
    for migration in ctx.discovery.migrations:
        down = migration.down
        if down is None or not (ctx.in_scope(migration.up.path) or ctx.in_scope(down.path)):
            continue
        loaded_up, loaded_down = ctx.load(migration.up), ctx.load(down)
        if not loaded_down.present or loaded_up.directives.irreversible:
            continue
        if loaded_down.directives.irreversible:
            continue
        parsed_up, parsed_down = ctx.parsed(migration.up), ctx.parsed(down)
        if not (parsed_up and parsed_down) or parsed_up.problem or parsed_down.problem:
            continue  # VC101 or VC102 says why these scripts cannot be read
        down_effects = ctx.effects(down)
        judge = _Judge(lineage, migration, _read_down(down_effects))
        gaps = list(judge.gaps(ctx.effects(migration.up)))
        misplaced = [g for g in gaps if g.at is not None]
        for gap in misplaced:
            assert gap.at is not None
            yield Hit(down.path, gap.at.line, gap.at.column, gap.message)
        missing = [g.message for g in gaps if g.at is None]
        if missing:
            first = down_effects[0] if down_effects else None
            line, column = (first.line, first.column) if first else (loaded_down.first_line, 1)
            more = f" (and {len(missing) - 1} more: run `vcsync changelog` to compare)"
            message = missing[0] if len(missing) == 1 else missing[0][:-1] + more + "."
            yield Hit(down.path, line, column, message)


FUNCTION_UP = (
    "CREATE FUNCTION om_func_generate_ulid() RETURNS text LANGUAGE sql\n"
    "AS $$ SELECT md5(random()::text) $$;\n"
)

register(
    Rule(
        code="VC301",
        name="rollback-does-not-undo",
        severity=ERROR,
        summary="The rollback does not undo the migration: an object the up creates, drops, "
        "renames or alters is left as the up made it, or the up does what nothing can undo "
        "without an `irreversible` directive.",
        bad=Example({UP: FUNCTION_UP, DOWN: "SELECT 1;\n"}),
        good=Example({UP: FUNCTION_UP, DOWN: "DROP FUNCTION om_func_generate_ulid();\n"}),
        check=_unreversed,
    )
)
