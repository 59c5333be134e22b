"""`vcsync changelog FROM TO`: release notes between two refs, read from Git alone.

The migrations TO has and FROM has not (matched by version), in order; what each one
changes, statement by statement (PostgreSQL's own grammar through pglast for `postgres`,
sqlglot for the other dialects, the statement's first words when neither can parse it);
the destructive steps among them; and the rollback plan back to FROM, newest first.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any, NamedTuple

from vcsync.config import Config
from vcsync.migrations.layouts import Discovery, Migration
from vcsync.project import Project, discover_in, open_project
from vcsync.release import migration_folders, require_repo, resolve_ref
from vcsync.scripts import LoadedScript, load_script
from vcsync.source import GitTree, ref_source
from vcsync.sql.comments import is_blank_sql
from vcsync.sql.syntax import POSTGRES, mask_placeholders, quiet_sqlglot

ADDED, CHANGED = "added", "changed"  # CHANGED: a repeatable migration whose text changed
SCRIPT, IRREVERSIBLE, MISSING = "script", "irreversible", "missing"
FIRST_WORDS = 6
_LEADING = re.compile(r"(?:\s+|--[^\n]*|/\*.*?\*/)*", re.DOTALL)
_WHERE = re.compile(r"\bWHERE\b", re.IGNORECASE)


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


# -- what a script changes ---------------------------------------------------------------


def describe_script(text: str, dialect: str, first_line: int = 1) -> tuple[Change, ...]:
    """Each statement of a script: its line, a one-line summary, and why it is destructive."""
    masked = mask_placeholders(text)
    if dialect == POSTGRES:
        return tuple(_describe_postgres(masked, first_line))
    return tuple(_describe_sqlglot(masked, dialect, first_line))


def _code_start(piece: str) -> int:
    """Where the code of a statement begins, past white space and comments."""
    match = _LEADING.match(piece)
    return match.end() if match else 0


def _describe_postgres(text: str, first_line: int) -> Iterator[Change]:
    from pglast import parse_sql
    from pglast.parser import ParseError

    try:
        statements = parse_sql(text)
    except ParseError:
        yield from _describe_plain(text, first_line)
        return
    for raw in statements:  # pglast gives locations in characters (libpg_query's are bytes)
        start = raw.stmt_location or 0
        piece = text[start : start + raw.stmt_len] if raw.stmt_len else text[start:]
        begin = _code_start(piece)
        line = first_line + text.count("\n", 0, start) + piece.count("\n", 0, begin)
        code = piece[begin:]
        try:
            summary, reasons = _postgres_statement(raw.stmt)
        except (AttributeError, TypeError, KeyError):  # a node shape this code does not know
            summary, reasons = _first_words(code), _plain_dangers(code)
        yield Change(line, summary or _first_words(code), tuple(reasons))


_Described = tuple[str | None, list[str]]


def _postgres_statement(node: Any) -> _Described:
    handler = _PG_HANDLERS.get(type(node).__name__)
    return handler(node) if handler else (None, [])


def _rv(node: Any) -> str:
    """A RangeVar's name as written: schema.table."""
    return ".".join(p for p in (node.schemaname, node.relname) if p)


def _dotted(names: Any) -> str:
    return ".".join(str(getattr(n, "sval", n)) for n in names)


def _object_name(node: Any, kind: str = "") -> str:
    name = type(node).__name__
    if name == "RangeVar":
        return _rv(node)
    if name == "String":
        return str(node.sval)
    if name == "ObjectWithArgs":
        return _dotted(node.objname)
    if name == "TypeName":
        return _dotted(node.names)
    if isinstance(node, tuple | list):
        if kind in ("TRIGGER", "POLICY", "RULE") and len(node) > 1:
            return f"{_dotted(node[-1:])} ON {_dotted(node[:-1])}"
        return _dotted(node)
    return str(node)


_OBJECT_WORDS = {
    "MATVIEW": "MATERIALIZED VIEW",
    "FDW": "FOREIGN DATA WRAPPER",
    "FOREIGN_SERVER": "SERVER",
    "TABCONSTRAINT": "CONSTRAINT",
    "DOMCONSTRAINT": "CONSTRAINT",
}
# What dropping each kind of object loses; the rest only removes the object's definition.
_DATA_KINDS = {"TABLE", "SCHEMA", "MATERIALIZED VIEW", "SEQUENCE", "DATABASE", "FOREIGN TABLE"}


def _kind(object_type: Any) -> str:
    word = str(object_type.name).removeprefix("OBJECT_")
    return _OBJECT_WORDS.get(word, word.replace("_", " "))


def _drop_reason(kind: str, names: str, cascade: bool) -> str:
    also = " and everything that depends on it (CASCADE)" if cascade else ""
    if kind in _DATA_KINDS:
        return f"drops {kind.lower()} {names} with its data{also}"
    return f"drops {kind.lower()} {names}{also}"


def _pg_drop(node: Any) -> _Described:
    kind = _kind(node.removeType)
    names = ", ".join(_object_name(o, kind) for o in node.objects)
    cascade = node.behavior.name == "DROP_CASCADE"
    concurrently = "CONCURRENTLY " if node.concurrent else ""
    return f"DROP {kind} {concurrently}{names}", [_drop_reason(kind, names, cascade)]


def _pg_alter_table(node: Any) -> _Described:
    kind = _kind(node.objtype) if node.objtype is not None else "TABLE"
    table = _rv(node.relation)
    parts, reasons = [], []
    for cmd in node.cmds:
        part, reason = _pg_alter_command(cmd, table)
        parts.append(part)
        reasons += reason
    return f"ALTER {kind} {table} " + ", ".join(parts), reasons


def _pg_alter_command(cmd: Any, table: str) -> tuple[str, list[str]]:
    subtype = cmd.subtype.name.removeprefix("AT_")
    name = cmd.name
    if subtype == "AddColumn":
        return f"ADD COLUMN {cmd.def_.colname}", []
    if subtype == "DropColumn":
        return f"DROP COLUMN {name}", [f"drops column {name} of {table} with its data"]
    if subtype == "AlterColumnType":
        new = _dotted(cmd.def_.typeName.names[-1:])
        return f"ALTER COLUMN {name} TYPE {new}", [
            f"changes the type of {table}.{name}: every row is rewritten and the old values "
            "may not convert back"
        ]
    if subtype == "ColumnDefault":
        return f"ALTER COLUMN {name} {'SET' if cmd.def_ is not None else 'DROP'} DEFAULT", []
    if subtype in ("SetNotNull", "DropNotNull"):
        return f"ALTER COLUMN {name} {subtype[:3].upper()} NOT NULL", []
    if subtype == "AddConstraint":
        constraint = cmd.def_
        label = constraint.conname or constraint.contype.name.removeprefix("CONSTR_")
        return f"ADD CONSTRAINT {label}", []
    words = " ".join(re.findall(r"[A-Z][a-z]*", subtype)).upper()
    return f"{words} {name}" if name else words, []


def _pg_rename(node: Any) -> _Described:
    kind = _kind(node.renameType)
    if kind in ("COLUMN", "CONSTRAINT") and node.relation is not None:
        owner = _kind(node.relationType) if kind == "COLUMN" else "TABLE"
        return (
            f"ALTER {owner} {_rv(node.relation)} RENAME {kind} {node.subname} TO {node.newname}",
            [],
        )
    name = _rv(node.relation) if node.relation is not None else _object_name(node.object)
    return f"ALTER {kind} {name} RENAME TO {node.newname}", []


def _pg_rows(verb: str, action: str) -> Callable[[Any], _Described]:
    def describe(node: Any) -> _Described:
        table = _rv(node.relation)
        unbounded = node.whereClause is None
        reasons = [f"{action} every row of {table} (no WHERE)"] if unbounded else []
        return f"{verb} {table}", reasons

    return describe


def _pg_truncate(node: Any) -> _Described:
    names = ", ".join(_rv(r) for r in node.relations)
    return f"TRUNCATE {names}", [f"deletes every row of {names}"]


def _pg_index(node: Any) -> _Described:
    unique = "UNIQUE " if node.unique else ""
    concurrently = "CONCURRENTLY " if node.concurrent else ""
    name = f"{node.idxname} " if node.idxname else ""
    return f"CREATE {unique}INDEX {concurrently}{name}ON {_rv(node.relation)}", []


def _pg_create_as(node: Any) -> _Described:
    if node.is_select_into:
        return f"SELECT INTO {_rv(node.into.rel)}", []
    return f"CREATE {_kind(node.objtype)} {_rv(node.into.rel)}", []


def _pg_function(node: Any) -> _Described:
    replace = "OR REPLACE " if node.replace else ""
    kind = "PROCEDURE" if node.is_procedure else "FUNCTION"
    return f"CREATE {replace}{kind} {_dotted(node.funcname)}", []


def _pg_select(node: Any) -> _Described:
    into = node.intoClause
    return (f"SELECT INTO {_rv(into.rel)}", []) if into is not None else (None, [])


def _pg_alter_enum(node: Any) -> _Described:
    name = _dotted(node.typeName)
    if node.oldVal:
        return f"ALTER TYPE {name} RENAME VALUE '{node.oldVal}' TO '{node.newVal}'", []
    return f"ALTER TYPE {name} ADD VALUE '{node.newVal}'", []


def _simple(template: str) -> Callable[[Any], _Described]:
    """A summary filled from the node: `{relation}` and `{names}` are formatted for reading."""

    def describe(node: Any) -> _Described:
        fields = {}
        for key in re.findall(r"\{(\w+)\}", template):
            value = getattr(node, key)
            if type(value).__name__ == "RangeVar":
                fields[key] = _rv(value)
            elif isinstance(value, tuple | list):
                fields[key] = _dotted(value)
            else:
                fields[key] = str(value)
        replace = "OR REPLACE " if getattr(node, "replace", False) else ""
        return template.format(**fields).replace("CREATE ", f"CREATE {replace}", 1), []

    return describe


_PG_HANDLERS: dict[str, Callable[[Any], _Described]] = {
    "CreateStmt": _simple("CREATE TABLE {relation}"),
    "CreateTableAsStmt": _pg_create_as,
    "ViewStmt": _simple("CREATE VIEW {view}"),
    "IndexStmt": _pg_index,
    "AlterTableStmt": _pg_alter_table,
    "RenameStmt": _pg_rename,
    "DropStmt": _pg_drop,
    "TruncateStmt": _pg_truncate,
    "DeleteStmt": _pg_rows("DELETE FROM", "deletes"),
    "UpdateStmt": _pg_rows("UPDATE", "changes"),
    "InsertStmt": _simple("INSERT INTO {relation}"),
    "SelectStmt": _pg_select,
    "CreateFunctionStmt": _pg_function,
    "CreateTrigStmt": _simple("CREATE TRIGGER {trigname} ON {relation}"),
    "CreateSeqStmt": _simple("CREATE SEQUENCE {sequence}"),
    "AlterSeqStmt": _simple("ALTER SEQUENCE {sequence}"),
    "CreateEnumStmt": _simple("CREATE TYPE {typeName} AS ENUM"),
    "CompositeTypeStmt": _simple("CREATE TYPE {typevar}"),
    "CreateDomainStmt": _simple("CREATE DOMAIN {domainname}"),
    "AlterEnumStmt": _pg_alter_enum,
    "CreateSchemaStmt": _simple("CREATE SCHEMA {schemaname}"),
    "CreateExtensionStmt": _simple("CREATE EXTENSION {extname}"),
    "CreatePolicyStmt": _simple("CREATE POLICY {policy_name} ON {table}"),
    "RefreshMatViewStmt": _simple("REFRESH MATERIALIZED VIEW {relation}"),
    "DoStmt": lambda node: ("DO block", []),
}


# -- other dialects: sqlglot -------------------------------------------------------------


def _describe_sqlglot(text: str, dialect: str, first_line: int) -> Iterator[Change]:
    from sqlglot.dialects.dialect import Dialect
    from sqlglot.errors import SqlglotError

    try:
        tokens = Dialect.get_or_raise(dialect).tokenize(text)
    except SqlglotError:
        yield from _describe_plain(text, first_line)
        return
    with quiet_sqlglot():
        yield from _sqlglot_changes(text, dialect, first_line, tokens)


def _sqlglot_changes(
    text: str, dialect: str, first_line: int, tokens: list[Any]
) -> Iterator[Change]:
    from sqlglot import parse_one
    from sqlglot.errors import SqlglotError

    chunks: list[list[Any]] = [[]]
    for token in tokens:
        if token.token_type.name == "SEMICOLON":
            chunks.append([])
        else:
            chunks[-1].append(token)
    for chunk in filter(None, chunks):
        code = text[chunk[0].start : chunk[-1].end + 1]
        line = first_line + chunk[0].line - 1
        try:
            summary, reasons = _sqlglot_statement(parse_one(code, read=dialect), dialect)
        except (SqlglotError, AttributeError, TypeError):
            summary, reasons = None, []
        if summary is None:
            summary, reasons = _first_words(code), _plain_dangers(code)
        yield Change(line, summary, tuple(reasons))


def _sqlglot_statement(node: Any, dialect: str) -> _Described:
    def sql(part: Any) -> str:
        return str(part.sql(dialect=dialect)) if part is not None else "?"

    kind = str(node.args.get("kind") or "").upper()
    name = type(node).__name__
    if name == "Create":
        target = node.this
        replace = "OR REPLACE " if node.args.get("replace") else ""
        unique = "UNIQUE " if node.args.get("unique") else ""
        if type(target).__name__ == "Index":
            name = f"{sql(target.this)} " if target.this is not None else ""
            return f"CREATE {unique}INDEX {name}ON {sql(target.args.get('table'))}", []
        if type(target).__name__ == "Schema":
            target = target.this
        if type(target).__name__ == "UserDefinedFunction":
            target = target.this
        return f"CREATE {replace}{kind} {sql(target)}", []
    if name == "Drop":
        tables = node.args.get("tables") or ([node.this] if node.this is not None else [])
        names = ", ".join(sql(t) for t in tables)
        cascade = bool(node.args.get("cascade"))
        return f"DROP {kind} {names}", [_drop_reason(kind, names, cascade)]
    if name == "Alter":
        table = sql(node.this)
        parts, reasons = [], []
        for action in node.args.get("actions") or []:
            part, reason = _sqlglot_action(action, table, sql)
            parts.append(part)
            reasons += reason
        return f"ALTER {kind or 'TABLE'} {table} " + ", ".join(parts), reasons
    if name in ("Delete", "Update"):
        table = sql(node.this)
        verb, action = ("DELETE FROM", "deletes") if name == "Delete" else ("UPDATE", "changes")
        unbounded = not node.args.get("where")
        return f"{verb} {table}", [f"{action} every row of {table} (no WHERE)"] if unbounded else []
    if name == "Insert":
        target = node.this.this if type(node.this).__name__ == "Schema" else node.this
        return f"INSERT INTO {sql(target)}", []
    if name == "TruncateTable":
        names = ", ".join(sql(t) for t in node.expressions)
        return f"TRUNCATE {names}", [f"deletes every row of {names}"]
    return None, []


def _sqlglot_action(action: Any, table: str, sql: Callable[[Any], str]) -> tuple[str, list[str]]:
    name = type(action).__name__
    if name == "ColumnDef":
        return f"ADD COLUMN {sql(action.this)}", []
    if name == "Drop":
        kind = str(action.args.get("kind") or "").upper()
        names = ", ".join(sql(t) for t in action.args.get("tables") or [action.this])
        if kind == "COLUMN":
            return f"DROP COLUMN {names}", [f"drops column {names} of {table} with its data"]
        return f"DROP {kind} {names}", []
    if name == "AlterColumn":
        column = sql(action.this)
        dtype = action.args.get("dtype")
        if dtype is not None:
            return f"ALTER COLUMN {column} TYPE {sql(dtype)}", [
                f"changes the type of {table}.{column}: every row is rewritten and the old "
                "values may not convert back"
            ]
        return f"ALTER COLUMN {column}", []
    if name == "ModifyColumn":
        column = sql(action.this.this) if action.this is not None else "?"
        return f"MODIFY COLUMN {column}", [
            f"redefines {table}.{column}: a type change rewrites every row"
        ]
    if name == "AlterRename":
        return f"RENAME TO {sql(action.this)}", []
    if name == "RenameColumn":
        return f"RENAME COLUMN {sql(action.this)} TO {sql(action.args.get('to'))}", []
    return " ".join(re.findall(r"[A-Z][a-z]*", name)).upper(), []


# -- neither parser: the statement's first words -----------------------------------------


def _describe_plain(text: str, first_line: int) -> Iterator[Change]:
    for offset, piece in split_plain(text):
        begin = _code_start(piece)
        code = piece[begin:]
        if not code.strip() or is_blank_sql(code):
            continue
        line = first_line + text.count("\n", 0, offset + begin)
        yield Change(line, _first_words(code), tuple(_plain_dangers(code)))


def split_plain(text: str) -> list[tuple[int, str]]:
    """Statements split at `;` outside quotes, comments and dollar quotes: (offset, text)."""
    pieces, start, i, n = [], 0, 0, len(text)
    while i < n:
        char = text[i]
        if char in "'\"":
            end = text.find(char, i + 1)
            i = n if end < 0 else end + 1
        elif text.startswith("--", i):
            end = text.find("\n", i)
            i = n if end < 0 else end + 1
        elif text.startswith("/*", i):
            end = text.find("*/", i + 2)
            i = n if end < 0 else end + 2
        elif char == "$" and (tag := re.match(r"\$\w*\$", text[i:])):
            end = text.find(tag.group(), i + len(tag.group()))
            i = n if end < 0 else end + len(tag.group())
        elif char == ";":
            pieces.append((start, text[start:i]))
            i += 1
            start = i
        else:
            i += 1
    pieces.append((start, text[start:]))
    return pieces


def _first_words(code: str) -> str:
    """A statement's opening words, up to its first parenthesis or body."""
    head = re.split(r"\(|\$\w*\$|\bAS\b|\n\s*\n", code, maxsplit=1, flags=re.IGNORECASE)[0]
    words = head.split()[:FIRST_WORDS]
    if words:
        words[0] = words[0].upper()
    return " ".join(words) or code.strip()[:40]


_PLAIN_DANGERS = (
    (re.compile(r"^DROP\s+(\w+(?:\s+VIEW)?)", re.IGNORECASE), "drops a {0}"),
    (re.compile(r"^TRUNCATE\b", re.IGNORECASE), "deletes every row of the table"),
    (re.compile(r"\bDROP\s+COLUMN\b", re.IGNORECASE), "drops a column with its data"),
    (
        re.compile(r"\bALTER\s+COLUMN\s+\S+\s+(?:SET\s+DATA\s+)?TYPE\b", re.IGNORECASE),
        "changes a column's type: every row is rewritten",
    ),
)


def _plain_dangers(code: str) -> list[str]:
    """Destructive steps recognised by their words, for statements no parser understood."""
    reasons = []
    for pattern, reason in _PLAIN_DANGERS:
        match = pattern.search(code)
        if match:
            reasons.append(reason.format(*(g.lower() for g in match.groups())))
    verb = code.split(None, 1)[0].upper() if code.split() else ""
    if verb in ("DELETE", "UPDATE") and not _WHERE.search(code):
        action = "deletes" if verb == "DELETE" else "changes"
        reasons.append(f"{action} every row of the table (no WHERE)")
    return reasons
