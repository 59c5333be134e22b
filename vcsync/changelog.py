"""`vcsync changelog FROM TO`: release notes between two refs, read from Git alone.

The migrations TO has and FROM has not (matched by version), in order; what each one
changes, statement by statement (PostgreSQL's own grammar through pglast for `postgres`,
sqlglot for the other dialects, the statement's first words when neither can parse it);
the destructive steps among them; and the rollback plan back to FROM, newest first.
"""

from __future__ import annotations

from typing import NamedTuple

from vcsync.config import Config
from vcsync.migrations.layouts import Discovery, Migration
from vcsync.project import Project, discover_in, open_project
from vcsync.release import migration_folders, require_repo, resolve_ref
from vcsync.scripts import LoadedScript, load_script
from vcsync.source import GitTree, ref_source
from vcsync.sql.comments import is_blank_sql
from vcsync.sql.effects import Alteration, DbObject, StatementEffect, statement_effects

ADDED, CHANGED = "added", "changed"  # CHANGED: a repeatable migration whose text changed
SCRIPT, IRREVERSIBLE, MISSING = "script", "irreversible", "missing"


class Change(NamedTuple):
    """One statement: where it starts, what it does, and why it is destructive (if it is)."""

    line: int
    summary: str  # "ALTER TABLE customers ADD COLUMN status"
    destructive: tuple[str, ...] = ()


class Danger(NamedTuple):
    line: int
    summary: str
    reason: str


class Entry(NamedTuple):
    version: str
    description: str
    path: str
    status: str  # added, changed
    changes: tuple[Change, ...]
    irreversible: str | None  # the reason of a `-- vcsync: irreversible` directive
    notes: tuple[str, ...]

    @property
    def destructive(self) -> list[Danger]:
        return [Danger(c.line, c.summary, r) for c in self.changes for r in c.destructive]


class RollbackStep(NamedTuple):
    version: str
    description: str
    path: str | None
    kind: str  # script, irreversible, missing
    changes: tuple[Change, ...]
    note: str | None


class RollbackPlan(NamedTuple):
    to_version: str | None  # FROM's schema version
    steps: tuple[RollbackStep, ...]  # newest first
    notes: tuple[str, ...]

    @property
    def command(self) -> str | None:
        """The `vcsync rollback` that runs this plan in an environment at TO."""
        if not self.steps:
            return None
        where = f"--to {self.to_version}" if self.to_version else f"--steps {len(self.steps)}"
        return f'vcsync rollback --env ENV {where} --reason "..."'


class Endpoint(NamedTuple):
    ref: str
    commit: str
    schema_version: str | None


class Changelog(NamedTuple):
    start: Endpoint  # FROM
    end: Endpoint  # TO
    migrations: tuple[Entry, ...]
    rollback: RollbackPlan
    notes: tuple[str, ...]


class _Tree(NamedTuple):
    source: GitTree
    discovery: Discovery


def changelog(config: Config, from_ref: str, to_ref: str) -> Changelog:
    project = open_project(config)
    repo = require_repo(project)
    try:
        start_commit, end_commit = resolve_ref(repo, from_ref), resolve_ref(repo, to_ref)
        folders = migration_folders(project)
        end_source = ref_source(repo, end_commit, folders)
        end = _Tree(end_source, discover_in(end_source, config, project.folders))
        start_source = ref_source(repo, start_commit, folders)
        layout = end.discovery.layout
        start = _Tree(start_source, discover_in(start_source, config, project.folders, layout))
        return _compare(project, start, end, from_ref, to_ref, start_commit, end_commit)
    finally:
        repo.close()


def _compare(
    project: Project,
    start: _Tree,
    end: _Tree,
    from_ref: str,
    to_ref: str,
    start_commit: str,
    end_commit: str,
) -> Changelog:
    known = {m.version.key: m for m in start.discovery.migrations if m.version}
    repeatables = {m.label: m for m in start.discovery.migrations if m.version is None}
    start_version, start_key = _highest(start.discovery)
    entries, steps, notes, rollback_notes = [], [], [], []
    for migration in end.discovery.migrations:
        version = migration.version
        if version is not None:
            before = known.pop(version.key, None)
            if before is not None:
                if _changed(project, start, before, end, migration):
                    notes.append(
                        f"{migration.label} was edited between {from_ref} and {to_ref} after "
                        "it was released (VC201); environments that ran it keep the old text."
                    )
                continue
            if start_version and version.key < start_key:
                notes.append(
                    f"{migration.label} is below {from_ref}'s schema version {start_version}: "
                    f"environments at {from_ref} must apply it out of order."
                )
            up = _load(project, end, migration)
            entries.append(_entry(project, end, migration, up, ADDED))
            steps.append(_rollback_step(project, end, migration, up))
            continue
        old = repeatables.get(migration.label)
        if old is not None and not _changed(project, start, old, end, migration):
            continue
        up = _load(project, end, migration)
        entries.append(_entry(project, end, migration, up, ADDED if old is None else CHANGED))
        restores = f"{from_ref}'s version of it" if old else "its absence (undo it by hand)"
        rollback_notes.append(
            f"{migration.label} is repeatable: a rollback does not restore {restores}."
        )
    for migration in known.values():
        notes.append(
            f"{migration.label} is in {from_ref} but not in {to_ref}: it was deleted or renamed "
            f"(VC202), or {from_ref} is not an ancestor of {to_ref}."
        )
    return Changelog(
        Endpoint(from_ref, start_commit, start_version),
        Endpoint(to_ref, end_commit, _highest(end.discovery)[0]),
        tuple(entries),
        RollbackPlan(start_version, tuple(reversed(steps)), tuple(rollback_notes)),
        tuple(notes),
    )


def _highest(discovery: Discovery) -> tuple[str | None, tuple[int, ...]]:
    """The schema version (the highest versioned migration's version) and its key."""
    versions = [m.version for m in discovery.migrations if m.version is not None]
    top = max(versions, default=None)
    return (top.text, top.key) if top else (None, ())


def _load(project: Project, tree: _Tree, migration: Migration) -> LoadedScript:
    return load_script(tree.source, migration.up, project.config.max_parse_bytes)


def _changed(project: Project, start: _Tree, old: Migration, end: _Tree, new: Migration) -> bool:
    """Whether the up script differs; equal blobs are equal without reading either."""
    if start.source.blob(old.up.path) == end.source.blob(new.up.path) and (
        old.up.section == new.up.section
    ):
        return False
    return _load(project, start, old).checksum != _load(project, end, new).checksum


def _entry(
    project: Project, tree: _Tree, migration: Migration, up: LoadedScript, status: str
) -> Entry:
    changes, notes = _changes_of(project, up, "up script")
    irreversible = up.directives.irreversible
    if migration.down is not None and irreversible is None:
        down = load_script(tree.source, migration.down, project.config.max_parse_bytes)
        irreversible = down.directives.irreversible
    return Entry(
        migration.label,
        migration.description,
        migration.up.path,
        status,
        changes,
        irreversible,
        tuple(notes),
    )


def _rollback_step(
    project: Project, tree: _Tree, migration: Migration, up: LoadedScript
) -> RollbackStep:
    label, description = migration.label, migration.description
    down = (
        load_script(tree.source, migration.down, project.config.max_parse_bytes)
        if migration.down is not None
        else None
    )
    irreversible = (down.directives.irreversible if down else None) or up.directives.irreversible
    has_code = (
        down is not None
        and down.present
        and not (down.text is not None and is_blank_sql(down.text))
    )
    if down is None or not has_code:
        path = migration.down.path if migration.down is not None else None
        if irreversible:
            return RollbackStep(label, description, path, IRREVERSIBLE, (), irreversible)
        note = "no rollback script: restore what it changed from a backup"
        if down is not None:
            note = "the rollback script is empty: restore what it changed from a backup"
        return RollbackStep(label, description, path, MISSING, (), note)
    changes, notes = _changes_of(project, down, "rollback script")
    note = "; ".join([*notes, *([f"irreversible: {irreversible}"] if irreversible else [])])
    return RollbackStep(label, description, down.path, SCRIPT, changes, note or None)


def _changes_of(
    project: Project, script: LoadedScript, what: str
) -> tuple[tuple[Change, ...], list[str]]:
    if script.text is None:
        limit = project.config.max_parse_bytes
        why = (
            f"larger than max_parse_bytes ({script.size} > {limit} bytes)"
            if script.size > limit
            else "not valid UTF-8 text"
        )
        return (), [f"the {what} was not analysed: it is {why}"]
    return describe_script(script.text, project.config.dialect, script.first_line), []


# -- what a script changes: rendered from the statement-effects model --------------------


def describe_script(text: str, dialect: str, first_line: int = 1) -> tuple[Change, ...]:
    """Each statement of a script: its line, a one-line summary, and why it is destructive."""
    return tuple(_change(e) for e in statement_effects(text, dialect, first_line))


# What dropping each kind of object loses; the rest only removes the object's definition.
_DATA_KINDS = {"TABLE", "SCHEMA", "MATERIALIZED VIEW", "SEQUENCE", "DATABASE", "FOREIGN TABLE"}


def _change(effect: StatementEffect) -> Change:
    words = not effect.kind  # no parser's tree: the objects have no names
    reasons = []
    if effect.objects_dropped:
        reasons.append(_drop_reason(effect.objects_dropped, effect.cascade, words))
    truncated = [r.table for r in effect.rows if r.verb == "TRUNCATE"]
    if truncated:
        reasons.append(f"deletes every row of {'the table' if words else ', '.join(truncated)}")
    for alteration in effect.objects_altered:
        reasons += _alteration_reasons(alteration, words)
    for rows in effect.rows:
        if rows.verb in ("DELETE", "UPDATE") and not rows.filtered:
            action = "deletes" if rows.verb == "DELETE" else "changes"
            reasons.append(
                f"{action} every row of {'the table' if words else rows.table} (no WHERE)"
            )
    return Change(effect.line, effect.summary, tuple(reasons))


def _drop_reason(objects: tuple[DbObject, ...], cascade: bool, words: bool) -> str:
    kind, names = objects[0].kind, ", ".join(o.display for o in objects)
    if words:
        return f"drops a {kind.lower()}"
    also = " and everything that depends on it (CASCADE)" if cascade else ""
    if kind in _DATA_KINDS:
        return f"drops {kind.lower()} {names} with its data{also}"
    return f"drops {kind.lower()} {names}{also}"


def _alteration_reasons(alteration: Alteration, words: bool) -> list[str]:
    table, column = alteration.object.name, alteration.part
    if alteration.action == "DROP COLUMN":
        if words:
            return ["drops a column with its data"]
        return [f"drops column {column} of {table} with its data"]
    if alteration.action == "ALTER COLUMN TYPE":
        if words:
            return ["changes a column's type: every row is rewritten"]
        return [
            f"changes the type of {table}.{column}: every row is rewritten and the old values "
            "may not convert back"
        ]
    if alteration.action == "MODIFY COLUMN":
        return [f"redefines {table}.{column}: a type change rewrites every row"]
    return []
