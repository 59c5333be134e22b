"""What the safety rules know of the schema a migration meets: which tables are live, and
what earlier migrations made of a table, index or function.

A table is *live* (holds data in some environment) unless the same migration creates it
or a migration new on this branch does (absent from the base ref and from the release
tag): no environment has such a table yet, so locking it blocks nobody. Without a base
ref only the same-migration exemption applies, and a note says so.

Earlier facts (a column's type, whether a function already exists, an index's table, a
validated `CHECK (col IS NOT NULL)`) are read on demand from the earlier migrations whose
text names the object, so a hook over 2,000 migrations parses only the few that matter.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from functools import cached_property

from vcsync.migrations.layouts import Migration
from vcsync.rules.context import Context
from vcsync.sql.effects import StatementEffect

TABLE_KINDS = ("TABLE", "MATERIALIZED VIEW", "FOREIGN TABLE")


def bare(name: str) -> str:
    """An object's name without its schema: migrations name `public.users` and `users`."""
    return name.rsplit(".", 1)[-1]


class Lineage:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self._versioned = [m for m in ctx.discovery.migrations if m.version is not None]
        self._position = {m.up.path: i for i, m in enumerate(self._versioned)}
        self._noted = False

    # --- live tables ------------------------------------------------------------------

    @cached_property
    def _new_on_branch(self) -> tuple[Migration, ...] | None:
        """Migrations absent from every base; None when there is no base ref to ask."""
        bases = getattr(self.ctx, "bases", ())
        if not any(base.linear for base in bases):
            return None
        known = {m.version.key for base in bases for m in base.discovery.migrations if m.version}
        return tuple(m for m in self._versioned if m.version and m.version.key not in known)

    @cached_property
    def _branch_created(self) -> frozenset[tuple[str, str]]:
        made: set[tuple[str, str]] = set()
        for migration in self._new_on_branch or ():
            made |= self.created_in(migration)
        return frozenset(made)

    def created_in(self, migration: Migration) -> frozenset[tuple[str, str]]:
        """(kind, bare name) of every table and index the migration's up creates."""
        return frozenset(
            ("TABLE" if o.kind in TABLE_KINDS else o.kind, bare(o.name))
            for effect in self.ctx.effects(migration.up)
            for o in effect.objects_created
            if o.kind in (*TABLE_KINDS, "INDEX")
        )

    def is_live(self, migration: Migration, table: str) -> bool:
        key = ("TABLE", bare(table))
        if key in self.created_in(migration):
            return False
        if self._new_on_branch is None:
            self._note_no_base()
            return True
        return key not in self._branch_created

    def index_is_new(self, migration: Migration, index: str) -> bool:
        key = ("INDEX", bare(index))
        return key in self.created_in(migration) or key in self._branch_created

    def _note_no_base(self) -> None:
        if not self._noted:
            self._noted = True
            self.ctx.note(
                f"live tables: the base ref {self.ctx.config.base_ref} is not available, so "
                "only tables created in the same migration count as new for VC303-VC311; "
                "tables made earlier on this branch are treated as live."
            )

    # --- what earlier migrations made -------------------------------------------------

    def earlier(self, migration: Migration, name: str) -> Iterator[StatementEffect]:
        """The statements of the ups before `migration` that may concern `name` (oldest
        first), as read from the checked tree."""
        end = self._position.get(migration.up.path, 0)
        if self._mentions is not None:
            key = bare(name).lower()
            for position in self._mentions.get(key, ()):
                if position >= end:
                    break
                yield from self.ctx.effects(self._versioned[position].up)
            return
        earlier = self._versioned[:end]
        named = self.ctx.source.mentioning(bare(name), [m.up.path for m in earlier])
        for before in earlier:
            if before.up.path in named:
                yield from self.ctx.effects(before.up)

    @cached_property
    def _mentions(self) -> dict[str, list[int]] | None:
        """Over a whole tree, where every up is parsed anyway: which ups' statements name
        each object (a bare, lower-case name); None when only a few files are in scope and
        reading the earlier ups' text for one name is cheaper."""
        if self.ctx.scope is not None:
            return None
        mentions: dict[str, list[int]] = {}
        for position, migration in enumerate(self._versioned):
            names: set[str] = set()
            for effect in self.ctx.effects(migration.up):
                names.update(bare(o.name).lower() for o in effect.objects_created)
                names.update(bare(o.name).lower() for o in effect.objects_dropped)
                names.update(bare(r.object.name).lower() for r in effect.objects_renamed)
                names.update(bare(r.object.on).lower() for r in effect.objects_renamed)
                names.update(bare(c.object.name).lower() for c in effect.objects_altered)
            for name in names:
                mentions.setdefault(name, []).append(position)
        return mentions

    def index_table(self, migration: Migration, index: str) -> str | None:
        """The table an index is on, from the statement that created it."""
        for effect in [*self.earlier(migration, index), *self.ctx.effects(migration.up)]:
            for obj in effect.objects_created:
                if obj.kind == "INDEX" and bare(obj.name) == bare(index) and obj.on:
                    return obj.on
        return None

    def existed(self, migration: Migration, kind: str, name: str) -> bool:
        """Whether an earlier migration created the object (and none dropped it since)."""
        exists = False
        for effect in self.earlier(migration, name):
            if any(o.kind == kind and bare(o.name) == bare(name) for o in effect.objects_created):
                exists = True
            if any(o.kind == kind and bare(o.name) == bare(name) for o in effect.objects_dropped):
                exists = False
        return exists

    def column_type(
        self, migration: Migration, table: str, column: str, before: Sequence[StatementEffect]
    ) -> str | None:
        """The column's type when `before` (the migration's earlier statements) ran."""
        found: str | None = None
        for effect in [*self.earlier(migration, table), *before]:
            for created in effect.objects_created:
                if created.kind == "TABLE" and bare(created.name) == bare(table):
                    found = next((c.type_name for c in effect.columns if c.name == column), found)
            for change in effect.objects_altered:
                same = bare(change.object.name) == bare(table) and change.part == column
                if same and change.action in ("ADD COLUMN", "ALTER COLUMN TYPE"):
                    found = change.type_name or found
        return found

    def validated_not_null_check(
        self, migration: Migration, table: str, column: str, before: Sequence[StatementEffect]
    ) -> bool:
        """Whether a validated `CHECK (column IS NOT NULL)` constraint is on the table: added
        without NOT VALID, or NOT VALID and validated since (PostgreSQL 12+ then skips
        SET NOT NULL's full scan)."""
        pending: set[str] = set()
        valid = False
        for effect in [*self.earlier(migration, table), *before]:
            for change in effect.objects_altered:
                if bare(change.object.name) != bare(table):
                    continue
                if change.checks_not_null == column:
                    if change.validated:
                        valid = True
                    else:
                        pending.add(change.part)
                elif change.action == "VALIDATE CONSTRAINT" and change.part in pending:
                    valid = True
        return valid
