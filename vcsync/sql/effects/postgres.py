"""PostgreSQL statements' effects, from its own grammar (pglast, i.e. libpg_query)."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from vcsync.sql.effects.model import (
    OWNED,
    Alteration,
    DbObject,
    Described,
    Renamed,
    RowChange,
    StatementEffect,
    code_start,
    effect_at,
)
from vcsync.sql.effects.words import plain_described, plain_effects

# Words without which no statement can control a transaction: scripts lacking all of
# them (nearly every migration) are never parsed a second time.
CANDIDATE = re.compile(
    r"\b(?:BEGIN|START|COMMIT|END|ROLLBACK|ABORT|PREPARE|VACUUM|DATABASE|TABLESPACE|"
    r"CONCURRENTLY|SYSTEM|DISCARD|CLUSTER|SUBSCRIPTION)\b",
    re.IGNORECASE,
)
_TRANSACTION_KINDS = {
    "TRANS_STMT_BEGIN": "BEGIN",
    "TRANS_STMT_START": "START TRANSACTION",
    "TRANS_STMT_COMMIT": "COMMIT",
    "TRANS_STMT_ROLLBACK": "ROLLBACK",
    "TRANS_STMT_PREPARE": "PREPARE TRANSACTION",
    "TRANS_STMT_COMMIT_PREPARED": "COMMIT PREPARED",
    "TRANS_STMT_ROLLBACK_PREPARED": "ROLLBACK PREPARED",
}
# Statements PostgreSQL refuses inside a transaction block (PreventInTransactionBlock).
_OUTSIDE_ONLY = {
    "CreatedbStmt": "CREATE DATABASE",
    "DropdbStmt": "DROP DATABASE",
    "CreateTableSpaceStmt": "CREATE TABLESPACE",
    "DropTableSpaceStmt": "DROP TABLESPACE",
    "AlterSystemStmt": "ALTER SYSTEM",
    "CreateSubscriptionStmt": "CREATE SUBSCRIPTION",
    "DropSubscriptionStmt": "DROP SUBSCRIPTION",
}


def postgres_effects(text: str, first_line: int) -> Iterator[StatementEffect]:
    from pglast import parse_sql
    from pglast.parser import ParseError

    try:
        statements = parse_sql(text)
    except ParseError:
        # the server will say what is wrong with it (inside the transaction, for a deploy)
        yield from plain_effects(text, first_line, control=False)
        return
    for raw in statements:  # pglast gives locations in characters (libpg_query's are bytes)
        start = raw.stmt_location or 0
        piece = text[start : start + raw.stmt_len] if raw.stmt_len else text[start:]
        begin = code_start(piece)
        code = piece[begin:]
        try:
            described = _postgres_statement(raw.stmt)
            kind = type(raw.stmt).__name__
        except (AttributeError, TypeError, KeyError):  # a node shape this code does not know
            described, kind = plain_described(code), ""
        effect = effect_at(text, start + begin, first_line, kind, code, described)
        control = _node_control(raw.stmt) or _do_block_control(raw.stmt, code)
        yield effect._replace(transaction_control=control, lock=_pg_lock(raw.stmt))


def _postgres_statement(node: Any) -> Described:
    handler = _PG_HANDLERS.get(type(node).__name__)
    return handler(node) if handler else Described(None)


def _node_control(node: Any) -> str | None:
    """Why PostgreSQL would refuse `node` inside a transaction block, if it would."""
    kind = type(node).__name__
    if kind == "TransactionStmt":
        return _TRANSACTION_KINDS.get(node.kind.name)
    if kind == "VacuumStmt":
        return "VACUUM" if node.is_vacuumcmd else None
    if kind in _OUTSIDE_ONLY:
        return _OUTSIDE_ONLY[kind]
    if kind == "IndexStmt" and node.concurrent:
        return "CREATE INDEX CONCURRENTLY"
    if kind == "DropStmt" and node.concurrent:
        return "DROP INDEX CONCURRENTLY"
    if kind == "ReindexStmt":
        concurrent = any(
            type(p).__name__ == "DefElem" and p.defname == "concurrently" for p in node.params or ()
        )
        system_wide = node.kind.name in ("REINDEX_OBJECT_DATABASE", "REINDEX_OBJECT_SYSTEM")
        return (
            "REINDEX CONCURRENTLY" if concurrent else ("REINDEX DATABASE" if system_wide else None)
        )
    if kind == "AlterTableStmt":
        for command in node.cmds or ():
            if command.subtype.name == "AT_DetachPartition" and _detaches_concurrently(command):
                return "DETACH PARTITION CONCURRENTLY"
        return None
    if kind == "DiscardStmt" and node.target.name == "DISCARD_ALL":
        return "DISCARD ALL"
    if kind == "ClusterStmt" and node.relation is None:
        return "CLUSTER of every table"
    return None


def _do_block_control(node: Any, code: str) -> str | None:
    """A plpgsql DO block may COMMIT or ROLLBACK (PostgreSQL 11+), which it can only do
    outside a transaction block: read from the block's own plpgsql tree."""
    if type(node).__name__ != "DoStmt" or not re.search(r"COMMIT|ROLLBACK", code, re.I):
        return None
    from pglast.parser import ParseError, parse_plpgsql_json

    try:
        tree = parse_plpgsql_json(code)
    except ParseError:
        return None  # not plpgsql, or not valid: the server will judge it
    for marker, what in (("PLpgSQL_stmt_commit", "COMMIT"), ("PLpgSQL_stmt_rollback", "ROLLBACK")):
        if f'"{marker}"' in tree:
            return f"a DO block that runs {what}"
    return None


# PostgreSQL's table-level lock modes, weakest first (LockStmt's `mode` is the 1-based rank).
_LOCKS = (
    "ACCESS SHARE",
    "ROW SHARE",
    "ROW EXCLUSIVE",
    "SHARE UPDATE EXCLUSIVE",
    "SHARE",
    "SHARE ROW EXCLUSIVE",
    "EXCLUSIVE",
    "ACCESS EXCLUSIVE",
)
ACCESS_EXCLUSIVE = _LOCKS[-1]
# ALTER TABLE's subcommands that take less than ACCESS EXCLUSIVE (PostgreSQL's ALTER TABLE
# page); a statement with several takes the strongest of their locks.
_ALTER_TABLE_LOCKS = {
    "AT_SetStatistics": "SHARE UPDATE EXCLUSIVE",
    "AT_ClusterOn": "SHARE UPDATE EXCLUSIVE",
    "AT_DropCluster": "SHARE UPDATE EXCLUSIVE",
    "AT_ValidateConstraint": "SHARE UPDATE EXCLUSIVE",
    **dict.fromkeys(
        (
            "AT_EnableTrig",
            "AT_EnableAlwaysTrig",
            "AT_EnableReplicaTrig",
            "AT_DisableTrig",
            "AT_EnableTrigAll",
            "AT_DisableTrigAll",
            "AT_EnableTrigUser",
            "AT_DisableTrigUser",
        ),
        "SHARE ROW EXCLUSIVE",
    ),
}
_DROP_LOCKED = {"OBJECT_TABLE", "OBJECT_INDEX", "OBJECT_MATVIEW", "OBJECT_FOREIGN_TABLE"}


def _pg_lock(node: Any) -> str | None:
    kind = type(node).__name__
    if kind in ("InsertStmt", "UpdateStmt", "DeleteStmt", "MergeStmt"):
        return "ROW EXCLUSIVE"
    if kind == "IndexStmt":
        return "SHARE UPDATE EXCLUSIVE" if node.concurrent else "SHARE"
    if kind == "DropStmt" and node.removeType.name in _DROP_LOCKED:
        return "SHARE UPDATE EXCLUSIVE" if node.concurrent else ACCESS_EXCLUSIVE
    if kind in ("TruncateStmt", "ClusterStmt"):
        return ACCESS_EXCLUSIVE
    if kind == "VacuumStmt":
        options = {getattr(o, "defname", None) for o in node.options or ()}
        return ACCESS_EXCLUSIVE if "full" in options else "SHARE UPDATE EXCLUSIVE"
    if kind == "RefreshMatViewStmt":
        return "EXCLUSIVE" if node.concurrent else ACCESS_EXCLUSIVE
    if kind == "CreateTrigStmt":
        return "SHARE ROW EXCLUSIVE"
    if kind == "ReindexStmt" and node.relation is not None:
        return "SHARE UPDATE EXCLUSIVE" if _node_control(node) else "SHARE"
    if kind == "LockStmt":
        return _LOCKS[node.mode - 1]
    if kind == "RenameStmt" and node.renameType.name in ("OBJECT_TABLE", "OBJECT_COLUMN"):
        return ACCESS_EXCLUSIVE
    if kind != "AlterTableStmt" or not node.cmds:
        return None
    if node.objtype is None or node.objtype.name == "OBJECT_TABLE":
        return max(map(_alter_table_lock, node.cmds), key=_LOCKS.index)
    return None


def _alter_table_lock(cmd: Any) -> str:
    subtype = cmd.subtype.name
    if subtype == "AT_AddConstraint" and cmd.def_.contype.name == "CONSTR_FOREIGN":
        return "SHARE ROW EXCLUSIVE"
    if subtype == "AT_DetachPartition" and _detaches_concurrently(cmd):
        return "SHARE UPDATE EXCLUSIVE"
    return _ALTER_TABLE_LOCKS.get(subtype, ACCESS_EXCLUSIVE)


def _detaches_concurrently(cmd: Any) -> bool:
    partition: Any = getattr(cmd, "def_", None)
    return type(partition).__name__ == "PartitionCmd" and bool(partition.concurrent)


def _rv(node: Any) -> str:
    """A RangeVar's name as written: schema.table."""
    return ".".join(p for p in (node.schemaname, node.relname) if p)


def _dotted(names: Any) -> str:
    return ".".join(str(getattr(n, "sval", n)) for n in names)


def _pg_object(node: Any, kind: str) -> DbObject:
    name = type(node).__name__
    if name == "RangeVar":
        return DbObject(kind, _rv(node))
    if name == "String":
        return DbObject(kind, str(node.sval))
    if name == "ObjectWithArgs":
        return DbObject(kind, _dotted(node.objname))
    if name == "TypeName":
        return DbObject(kind, _dotted(node.names))
    if isinstance(node, tuple | list):
        if kind in OWNED and len(node) > 1:
            return DbObject(kind, _dotted(node[-1:]), _dotted(node[:-1]))
        return DbObject(kind, _dotted(node))
    return DbObject(kind, str(node))


_OBJECT_WORDS = {
    "MATVIEW": "MATERIALIZED VIEW",
    "FDW": "FOREIGN DATA WRAPPER",
    "FOREIGN_SERVER": "SERVER",
    "TABCONSTRAINT": "CONSTRAINT",
    "DOMCONSTRAINT": "CONSTRAINT",
}


def _kind(object_type: Any) -> str:
    word = str(object_type.name).removeprefix("OBJECT_")
    return _OBJECT_WORDS.get(word, word.replace("_", " "))


def object_names(objects: Sequence[DbObject]) -> str:
    return ", ".join(o.display for o in objects)


def _pg_drop(node: Any) -> Described:
    kind = _kind(node.removeType)
    objects = tuple(_pg_object(o, kind) for o in node.objects)
    cascade = node.behavior.name == "DROP_CASCADE"
    concurrently = "CONCURRENTLY " if node.concurrent else ""
    summary = f"DROP {kind} {concurrently}{object_names(objects)}"
    return Described(summary, dropped=objects, cascade=cascade)


def _pg_alter_table(node: Any) -> Described:
    kind = _kind(node.objtype) if node.objtype is not None else "TABLE"
    table = DbObject(kind, _rv(node.relation))
    parts, altered = [], []
    for cmd in node.cmds:
        part, alteration = _pg_alter_command(cmd, table)
        parts.append(part)
        altered.append(alteration)
    return Described(f"ALTER {kind} {table.name} " + ", ".join(parts), altered=tuple(altered))


def _pg_alter_command(cmd: Any, table: DbObject) -> tuple[str, Alteration]:
    subtype = cmd.subtype.name.removeprefix("AT_")
    name = cmd.name
    if subtype == "AddColumn":
        column = cmd.def_.colname
        return f"ADD COLUMN {column}", Alteration(table, "ADD COLUMN", column)
    if subtype == "DropColumn":
        return f"DROP COLUMN {name}", Alteration(table, "DROP COLUMN", name)
    if subtype == "AlterColumnType":
        new = _dotted(cmd.def_.typeName.names[-1:])
        return f"ALTER COLUMN {name} TYPE {new}", Alteration(table, "ALTER COLUMN TYPE", name)
    if subtype == "ColumnDefault":
        action = f"{'SET' if cmd.def_ is not None else 'DROP'} DEFAULT"
        return f"ALTER COLUMN {name} {action}", Alteration(table, action, name)
    if subtype in ("SetNotNull", "DropNotNull"):
        action = f"{subtype[:3].upper()} NOT NULL"
        return f"ALTER COLUMN {name} {action}", Alteration(table, action, name)
    if subtype == "AddConstraint":
        constraint = cmd.def_
        label = constraint.conname or constraint.contype.name.removeprefix("CONSTR_")
        return f"ADD CONSTRAINT {label}", Alteration(table, "ADD CONSTRAINT", label)
    words = " ".join(re.findall(r"[A-Z][a-z]*", subtype)).upper()
    return (f"{words} {name}" if name else words), Alteration(table, words, name or "")


def _pg_rename(node: Any) -> Described:
    kind = _kind(node.renameType)
    if kind in ("COLUMN", "CONSTRAINT") and node.relation is not None:
        owner = _kind(node.relationType) if kind == "COLUMN" else "TABLE"
        table = _rv(node.relation)
        summary = f"ALTER {owner} {table} RENAME {kind} {node.subname} TO {node.newname}"
        renamed = Renamed(DbObject(kind, node.subname, table), node.newname)
        return Described(summary, renamed=(renamed,))
    old = (
        DbObject(kind, _rv(node.relation))
        if node.relation is not None
        else _pg_object(node.object, "")._replace(kind=kind)
    )
    summary = f"ALTER {kind} {old.name} RENAME TO {node.newname}"
    return Described(summary, renamed=(Renamed(old, node.newname),))


def _pg_rows(verb: str) -> Callable[[Any], Described]:
    def describe(node: Any) -> Described:
        table = _rv(node.relation)
        rows = (RowChange(verb.split()[0], table, node.whereClause is not None),)
        return Described(f"{verb} {table}", rows=rows)

    return describe


def _pg_truncate(node: Any) -> Described:
    rows = tuple(RowChange("TRUNCATE", _rv(r), False) for r in node.relations)
    return Described(f"TRUNCATE {', '.join(r.table for r in rows)}", rows=rows)


def _pg_insert(node: Any) -> Described:
    table = _rv(node.relation)
    return Described(f"INSERT INTO {table}", rows=(RowChange("INSERT", table, False),))


def _pg_index(node: Any) -> Described:
    unique = "UNIQUE " if node.unique else ""
    concurrently = "CONCURRENTLY " if node.concurrent else ""
    name = f"{node.idxname} " if node.idxname else ""
    table = _rv(node.relation)
    summary = f"CREATE {unique}INDEX {concurrently}{name}ON {table}"
    return Described(summary, created=(DbObject("INDEX", node.idxname or "", table),))


def _pg_create_as(node: Any) -> Described:
    table = _rv(node.into.rel)
    if node.is_select_into:
        return Described(f"SELECT INTO {table}", created=(DbObject("TABLE", table),))
    kind = _kind(node.objtype)
    return Described(f"CREATE {kind} {table}", created=(DbObject(kind, table),))


def _pg_function(node: Any) -> Described:
    replace = "OR REPLACE " if node.replace else ""
    kind = "PROCEDURE" if node.is_procedure else "FUNCTION"
    name = _dotted(node.funcname)
    return Described(f"CREATE {replace}{kind} {name}", created=(DbObject(kind, name),))


def _pg_select(node: Any) -> Described:
    into = node.intoClause
    if into is None:
        return Described(None)
    return Described(f"SELECT INTO {_rv(into.rel)}", created=(DbObject("TABLE", _rv(into.rel)),))


def _pg_alter_enum(node: Any) -> Described:
    name = _dotted(node.typeName)
    target = DbObject("TYPE", name)
    if node.oldVal:
        summary = f"ALTER TYPE {name} RENAME VALUE '{node.oldVal}' TO '{node.newVal}'"
        return Described(summary, altered=(Alteration(target, "RENAME VALUE", node.oldVal),))
    summary = f"ALTER TYPE {name} ADD VALUE '{node.newVal}'"
    return Described(summary, altered=(Alteration(target, "ADD VALUE", node.newVal),))


def _simple(template: str) -> Callable[[Any], Described]:
    """A summary filled from the node: `{relation}` and `{names}` are formatted for reading.
    A CREATE creates its first field, an ALTER alters it; `ON {field}` names the owner."""
    verb, kind = re.match(r"(\w+) (.+?) \{", template).groups()  # type: ignore[union-attr]

    def describe(node: Any) -> Described:
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
        summary = template.format(**fields).replace("CREATE ", f"CREATE {replace}", 1)
        name, *owner = fields.values()
        target = DbObject(kind, name, owner[0] if " ON {" in template else "")
        if verb == "CREATE":
            return Described(summary, created=(target,))
        if verb == "ALTER":
            return Described(summary, altered=(Alteration(target, "ALTER"),))
        return Described(summary)

    return describe


_PG_HANDLERS: dict[str, Callable[[Any], Described]] = {
    "CreateStmt": _simple("CREATE TABLE {relation}"),
    "CreateTableAsStmt": _pg_create_as,
    "ViewStmt": _simple("CREATE VIEW {view}"),
    "IndexStmt": _pg_index,
    "AlterTableStmt": _pg_alter_table,
    "RenameStmt": _pg_rename,
    "DropStmt": _pg_drop,
    "TruncateStmt": _pg_truncate,
    "DeleteStmt": _pg_rows("DELETE FROM"),
    "UpdateStmt": _pg_rows("UPDATE"),
    "InsertStmt": _pg_insert,
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
    "DoStmt": lambda node: Described("DO block"),
}
