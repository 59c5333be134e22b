"""PostgreSQL statements' effects, from its own grammar: libpg_query's parse tree as the
JSON `pglast.parser.parse_sql_json` returns (decoded with `json.loads`), read by dict
lookups. Building pglast's Python AST instead costs several times as much, and the syntax
check (VC101) already holds this JSON, so one parse serves both.

Reading the JSON: a field of a node type is wrapped in its type's name
(`{"String": {"sval": "x"}}`, lists of `{"RangeVar": {...}}`), a field of a fixed struct
type is not (`"relation": {"relname": ...}`); enums are their names ("OBJECT_TABLE");
false, zero, null and empty fields are left out, so every field is read with `.get`.
Positions (`stmt_location`, `stmt_len`) are byte offsets into the UTF-8 text.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

from vcsync.sql.effects.model import (
    OWNED,
    Alteration,
    Column,
    DbObject,
    Described,
    Renamed,
    RowChange,
    StatementEffect,
    code_start,
    effect_at,
)
from vcsync.sql.effects.words import plain_described, plain_effects

Node = dict[str, Any]

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
# A node shape this code does not expect: that statement is read from its words instead.
_UNEXPECTED = (AttributeError, TypeError, KeyError, IndexError, ValueError, RecursionError)


def postgres_effects(
    text: str, first_line: int, postgres_version: int = 14, tree: str | None = None
) -> Iterator[StatementEffect]:
    """Each statement of `text` and what it does, for a server of `postgres_version`.

    `tree`: `pglast.parser.parse_sql_json(text)` when the caller already parsed exactly
    this text (for `statement_effects`, the text with its placeholders masked)."""
    from pglast.parser import ParseError, parse_sql_json

    try:
        statements = json.loads(parse_sql_json(text) if tree is None else tree).get("stmts", ())
    except (ParseError, RecursionError, ValueError):
        # the server will say what is wrong with it (inside the transaction, for a deploy)
        yield from plain_effects(text, first_line, control=False)
        return
    chars = _char_offsets(text)
    for raw in statements:
        location = raw.get("stmt_location", 0)
        length = raw.get("stmt_len", 0)  # 0: the statement runs to the end of the text
        start = chars(location)
        piece = text[start : chars(location + length)] if length else text[start:]
        begin = code_start(piece)
        code = piece[begin:]
        kind, node = _only(raw["stmt"])
        try:
            described, read = _describe(kind, node), kind
        except _UNEXPECTED:
            described, read = plain_described(code), ""
        try:
            control = _node_control(kind, node) or _do_block_control(kind, code)
            lock = _pg_lock(kind, node)
            lock_on = _unique(_lock_on(kind, node)) if lock else ()
            rewrites = _rewrites(kind, node, postgres_version)
        except _UNEXPECTED:
            control, lock, lock_on, rewrites = None, None, (), False
        yield effect_at(
            text,
            start + begin,
            first_line,
            read,
            code,
            described,
            transaction_control=control,
            lock=lock,
            lock_on=lock_on,
            rewrites=rewrites,
        )


def _char_offsets(text: str) -> Callable[[int], int]:
    """libpg_query's byte offsets (into the UTF-8 text) as offsets into `text`. Statements
    come in order, so each conversion decodes only the bytes since the previous one."""
    if text.isascii():
        return lambda offset: offset
    data = text.encode("utf-8", "surrogatepass")
    last = [0, 0]  # the previous (byte, character) offsets

    def chars(offset: int) -> int:
        byte, char = last if offset >= last[0] else (0, 0)
        char += len(data[byte:offset].decode("utf-8", "ignore"))
        last[:] = offset, char
        return char

    return chars


def _only(wrapped: Node) -> tuple[str, Node]:
    """A wrapped node's type and its fields: `{"String": {"sval": "x"}}`."""
    kind = next(iter(wrapped))
    return kind, wrapped[kind]


def _unique(names: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(n for n in names if n))


def _describe(kind: str, node: Node) -> Described:
    handler = _PG_HANDLERS.get(kind)
    return handler(node) if handler else Described(None)


def _node_control(kind: str, node: Node) -> str | None:
    """Why PostgreSQL would refuse `node` inside a transaction block, if it would."""
    if kind == "TransactionStmt":
        return _TRANSACTION_KINDS.get(node.get("kind", ""))
    if kind == "VacuumStmt":
        return "VACUUM" if node.get("is_vacuumcmd") else None
    if kind in _OUTSIDE_ONLY:
        return _OUTSIDE_ONLY[kind]
    if kind == "IndexStmt" and node.get("concurrent"):
        return "CREATE INDEX CONCURRENTLY"
    if kind == "DropStmt" and node.get("concurrent"):
        return "DROP INDEX CONCURRENTLY"
    if kind == "ReindexStmt":
        concurrent = "concurrently" in _option_names(node.get("params"))
        system_wide = node.get("kind") in ("REINDEX_OBJECT_DATABASE", "REINDEX_OBJECT_SYSTEM")
        return (
            "REINDEX CONCURRENTLY" if concurrent else ("REINDEX DATABASE" if system_wide else None)
        )
    if kind == "AlterTableStmt":
        for command in _commands(node):
            if command.get("subtype") == "AT_DetachPartition" and _detaches_concurrently(command):
                return "DETACH PARTITION CONCURRENTLY"
        return None
    if kind == "DiscardStmt" and node.get("target") == "DISCARD_ALL":
        return "DISCARD ALL"
    if kind == "ClusterStmt" and "relation" not in node:
        return "CLUSTER of every table"
    return None


def _do_block_control(kind: str, code: str) -> str | None:
    """A plpgsql DO block may COMMIT or ROLLBACK (PostgreSQL 11+), which it can only do
    outside a transaction block: read from the block's own plpgsql tree."""
    if kind != "DoStmt" or not re.search(r"COMMIT|ROLLBACK", code, re.I):
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


def _option_names(options: Sequence[Node] | None) -> set[str]:
    """The names of a statement's `(option, …)` list of DefElem nodes."""
    return {o["DefElem"].get("defname", "") for o in options or () if "DefElem" in o}


def _commands(node: Node) -> Iterator[Node]:
    """An ALTER TABLE statement's subcommands (AlterTableCmd)."""
    return (c["AlterTableCmd"] for c in node.get("cmds") or ())


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
_ROW_WRITERS = ("InsertStmt", "UpdateStmt", "DeleteStmt", "MergeStmt")


def _pg_lock(kind: str, node: Node) -> str | None:
    if kind in _ROW_WRITERS:
        return "ROW EXCLUSIVE"
    if kind == "IndexStmt":
        return "SHARE UPDATE EXCLUSIVE" if node.get("concurrent") else "SHARE"
    if kind == "DropStmt" and node.get("removeType") in _DROP_LOCKED:
        return "SHARE UPDATE EXCLUSIVE" if node.get("concurrent") else ACCESS_EXCLUSIVE
    if kind in ("TruncateStmt", "ClusterStmt"):
        return ACCESS_EXCLUSIVE
    if kind == "VacuumStmt":
        full = "full" in _option_names(node.get("options"))
        return ACCESS_EXCLUSIVE if full else "SHARE UPDATE EXCLUSIVE"
    if kind == "RefreshMatViewStmt":
        return "EXCLUSIVE" if node.get("concurrent") else ACCESS_EXCLUSIVE
    if kind == "CreateTrigStmt":
        return "SHARE ROW EXCLUSIVE"
    if kind == "ReindexStmt" and "relation" in node:
        return "SHARE UPDATE EXCLUSIVE" if _node_control(kind, node) else "SHARE"
    if kind == "LockStmt":
        return _LOCKS[node["mode"] - 1]
    if kind == "RenameStmt" and node.get("renameType") in ("OBJECT_TABLE", "OBJECT_COLUMN"):
        return ACCESS_EXCLUSIVE
    if kind == "AlterTableStmt" and node.get("cmds") and _alters_a_table(node):
        return max(map(_alter_table_lock, _commands(node)), key=_LOCKS.index)
    return None


def _alters_a_table(node: Node) -> bool:
    return bool(node.get("objtype", "OBJECT_TABLE") == "OBJECT_TABLE")


def _alter_table_lock(cmd: Node) -> str:
    subtype = cmd.get("subtype", "")
    if subtype == "AT_AddConstraint" and _constraint(cmd).get("contype") == "CONSTR_FOREIGN":
        return "SHARE ROW EXCLUSIVE"
    if subtype == "AT_DetachPartition" and _detaches_concurrently(cmd):
        return "SHARE UPDATE EXCLUSIVE"
    return _ALTER_TABLE_LOCKS.get(subtype, ACCESS_EXCLUSIVE)


def _constraint(cmd: Node) -> Node:
    """ADD CONSTRAINT's Constraint node ({} when the subcommand holds another)."""
    found: Node = (cmd.get("def") or {}).get("Constraint") or {}
    return found


def _detaches_concurrently(cmd: Node) -> bool:
    return bool(((cmd.get("def") or {}).get("PartitionCmd") or {}).get("concurrent"))


# Statements whose lock is on the one table their `relation` names.
_ON_RELATION = {
    *_ROW_WRITERS,
    "IndexStmt",
    "ClusterStmt",
    "RefreshMatViewStmt",
    "CreateTrigStmt",
    "RenameStmt",
}


def _lock_on(kind: str, node: Node) -> Iterator[str]:
    """The existing tables `_pg_lock`'s lock is taken on."""
    if kind in _ON_RELATION:
        yield _rv(node.get("relation"))
    elif kind == "ReindexStmt" and node.get("kind") == "REINDEX_OBJECT_TABLE":
        yield _rv(node.get("relation"))  # REINDEX INDEX names only the index
    elif kind in ("TruncateStmt", "LockStmt"):
        yield from (_rv(r.get("RangeVar")) for r in node.get("relations") or ())
    elif kind == "VacuumStmt":
        yield from (_rv(r["VacuumRelation"].get("relation")) for r in node.get("rels") or ())
    elif kind == "DropStmt" and node.get("removeType") != "OBJECT_INDEX":
        yield from (_pg_object(o, "").name for o in node.get("objects") or ())
    elif kind == "AlterTableStmt":
        yield _rv(node.get("relation"))
        # a FOREIGN KEY also locks the table it references (SHARE ROW EXCLUSIVE)
        for cmd in _commands(node):
            for constraint in _added_constraints(cmd):
                if constraint.get("contype") == "CONSTR_FOREIGN":
                    yield _rv(constraint.get("pktable"))


def _added_constraints(cmd: Node) -> Iterator[Node]:
    """The constraints an ALTER TABLE subcommand adds: ADD CONSTRAINT's, or those declared
    with ADD COLUMN."""
    subtype = cmd.get("subtype")
    if subtype == "AT_AddConstraint":
        yield _constraint(cmd)
    elif subtype == "AT_AddColumn":
        for wrapped in cmd["def"]["ColumnDef"].get("constraints") or ():
            yield wrapped["Constraint"]


def _rewrites(kind: str, node: Node, postgres_version: int) -> bool:
    """Whether the statement rewrites a whole table under its lock (PostgreSQL's ALTER TABLE,
    VACUUM and CLUSTER pages)."""
    if kind == "VacuumStmt":
        return bool(node.get("is_vacuumcmd")) and "full" in _option_names(node.get("options"))
    if kind == "ClusterStmt":
        return True
    if kind != "AlterTableStmt" or not _alters_a_table(node):
        return False
    for cmd in _commands(node):
        subtype = cmd.get("subtype")
        if subtype == "AT_AlterColumnType":
            return True  # a binary-compatible change does not: the rule refines with history
        if subtype == "AT_AddColumn":
            default, null = _column_default(cmd["def"]["ColumnDef"])
            # PostgreSQL 11 stores a non-volatile default in the catalog instead of writing
            # it into every row; a volatile one (and any default before 11) fills each row
            if default == VOLATILE or (postgres_version < 11 and default and not null):
                return True
    return False


def _rv(node: Node | None) -> str:
    """A RangeVar's name as written: schema.table."""
    if not node:
        return ""
    return ".".join(p for p in (node.get("schemaname"), node.get("relname")) if p)


def _name(wrapped: Node) -> str:
    """One part of a dotted name: a String (or, rarely, a type or `*`)."""
    kind, body = _only(wrapped)
    if kind == "String":
        return str(body.get("sval", ""))
    if kind == "TypeName":
        return _dotted(body.get("names") or ())
    return "*" if kind == "A_Star" else kind


def _dotted(names: Iterable[Node]) -> str:
    return ".".join(_name(n) for n in names)


def _pg_object(wrapped: Node, kind: str) -> DbObject:
    name, body = _only(wrapped)
    if name == "RangeVar":
        return DbObject(kind, _rv(body))
    if name == "String":
        return DbObject(kind, str(body.get("sval", "")))
    if name == "ObjectWithArgs":
        return DbObject(kind, _dotted(body.get("objname") or ()))
    if name == "TypeName":
        return DbObject(kind, _dotted(body.get("names") or ()))
    if name == "List":
        items = body.get("items") or []
        if kind in OWNED and len(items) > 1:
            return DbObject(kind, _dotted(items[-1:]), _dotted(items[:-1]))
        return DbObject(kind, _dotted(items))
    return DbObject(kind, name)


_OBJECT_WORDS = {
    "MATVIEW": "MATERIALIZED VIEW",
    "FDW": "FOREIGN DATA WRAPPER",
    "FOREIGN_SERVER": "SERVER",
    "TABCONSTRAINT": "CONSTRAINT",
    "DOMCONSTRAINT": "CONSTRAINT",
}


def _kind(object_type: str) -> str:
    word = object_type.removeprefix("OBJECT_")
    return _OBJECT_WORDS.get(word, word.replace("_", " "))


def object_names(objects: Sequence[DbObject]) -> str:
    return ", ".join(o.display for o in objects)


# -- types and defaults ---------------------------------------------------------------------

CONSTANT, STABLE, VOLATILE = "constant", "stable", "volatile"
_VOLATILITY = (CONSTANT, STABLE, VOLATILE)
# Functions of no argument whose value is fixed for the statement (PostgreSQL's "Current
# Date/Time": now() and its kin are STABLE). Every function not named here counts as
# volatile, as random(), gen_random_uuid(), uuid_generate_v4(), clock_timestamp(),
# timeofday() and nextval() are: this code cannot read a function's declared volatility.
_STABLE_FUNCTIONS = {"now", "statement_timestamp", "transaction_timestamp"}
# Built-in arithmetic and concatenation operators are immutable or stable, so their
# operands decide whether a value is computed per row; the result is at least "stable"
# (timestamptz + interval depends on the session's time zone).
_ARITHMETIC = {"+", "-", "*", "/", "||"}
# Column types whose values come from a sequence, one per row (PostgreSQL's "Serial Types").
_SERIAL = {"serial", "bigserial", "smallserial", "serial2", "serial4", "serial8"}


def _type_name(type_node: Node) -> str:
    """PostgreSQL's name for a TypeName, schema dropped, modifiers kept: "varchar(255)",
    "int8" (the grammar reads bigint as pg_catalog.int8), "numeric(12,2)", "text[]"."""
    names = type_node.get("names") or ()
    name = _name(names[-1]) if names else ""
    modifiers = [_modifier(m) for m in type_node.get("typmods") or ()]
    if name == "interval":
        # interval's first modifier is a mask of its fields (DAY TO SECOND), not a size
        modifiers = modifiers[1:]
    if modifiers:
        name += f"({','.join(modifiers)})"
    return name + ("[]" if type_node.get("arrayBounds") else "")


def _modifier(wrapped: Node) -> str:
    kind, body = _only(wrapped)
    if kind == "A_Const":
        if "sval" in body:
            return str(body["sval"].get("sval", ""))
        if "fval" in body:
            return str(body["fval"].get("fval", ""))
        return str((body.get("ival") or {}).get("ival", 0))
    if kind == "ColumnRef":
        return _dotted(body.get("fields") or ())
    return kind


def _volatility(wrapped: Node) -> str:
    """How often PostgreSQL evaluates a default expression: once ("constant", "stable") or
    for every row ("volatile"); whatever cannot be proven otherwise is volatile."""
    kind, body = _only(wrapped)
    if kind == "A_Const":  # a literal, or NULL (the grammar folds -1 into the constant)
        return CONSTANT
    if kind == "TypeCast":  # 'x'::text, '{}'::jsonb: the cast of a constant is one value
        return _volatility(body["arg"])
    if kind == "SQLValueFunction":  # CURRENT_TIMESTAMP, CURRENT_DATE, CURRENT_USER, …
        return STABLE
    if kind == "FuncCall":
        name = _name(body["funcname"][-1])
        return STABLE if name in _STABLE_FUNCTIONS and not body.get("args") else VOLATILE
    if kind == "A_ArrayExpr":  # ARRAY[…] is as volatile as its most volatile element
        return max(map(_volatility, body.get("elements") or ()), default=CONSTANT, key=_rank)
    if kind == "A_Expr" and body.get("kind") == "AEXPR_OP":
        operator = _dotted(body.get("name") or ())
        operands = [_volatility(body[side]) for side in ("lexpr", "rexpr") if side in body]
        if operator in ("-", "+") and "lexpr" not in body:  # -x: a sign
            return operands[0]
        if operator in _ARITHMETIC:
            return max([STABLE, *operands], key=_rank)
    return VOLATILE


def _rank(volatility: str) -> int:
    return _VOLATILITY.index(volatility)


def _is_null(wrapped: Node) -> bool:
    kind, body = _only(wrapped)
    if kind == "TypeCast":
        return _is_null(body["arg"])
    return kind == "A_Const" and bool(body.get("isnull"))


def _column_default(column: Node) -> tuple[str, bool]:
    """A column definition's default ("" when none) and whether it is DEFAULT NULL. A
    serial type, an identity column and a STORED generated column fill every row, as a
    volatile default does (a VIRTUAL one, PostgreSQL 18, computes on read: no default)."""
    if _type_name(column.get("typeName") or {}) in _SERIAL:
        return VOLATILE, False
    for wrapped in column.get("constraints") or ():
        constraint = wrapped["Constraint"]
        contype = constraint.get("contype")
        if contype == "CONSTR_DEFAULT":
            expression = constraint["raw_expr"]
            return _volatility(expression), _is_null(expression)
        if contype == "CONSTR_IDENTITY" or (
            contype == "CONSTR_GENERATED" and constraint.get("generated_kind") == "s"
        ):
            return VOLATILE, False
    return "", False


# -- constraints -----------------------------------------------------------------------------

_CONSTRAINTS = {
    "CONSTR_FOREIGN": "FOREIGN KEY",
    "CONSTR_CHECK": "CHECK",
    "CONSTR_UNIQUE": "UNIQUE",
    "CONSTR_PRIMARY": "PRIMARY KEY",
    "CONSTR_EXCLUSION": "EXCLUDE",
    "CONSTR_NOTNULL": "NOT NULL",
}
# Declared with ADD COLUMN, these become constraints of their own (NOT NULL and DEFAULT
# are facts of the column's ADD COLUMN alteration).
_COLUMN_CONSTRAINTS = {"CONSTR_FOREIGN", "CONSTR_CHECK", "CONSTR_UNIQUE", "CONSTR_PRIMARY"}


def _constraint_alteration(
    table: DbObject, constraint: Node, part: str, column: str = ""
) -> Alteration:
    contype = constraint.get("contype", "")
    return Alteration(
        table,
        "ADD CONSTRAINT",
        part,
        constraint=_CONSTRAINTS.get(contype, contype.removeprefix("CONSTR_")),
        # NOT VALID sets skip_validation (initially_valid is also false for UNIQUE and
        # PRIMARY KEY, which are always validated)
        validated=not constraint.get("skip_validation"),
        using_index=constraint.get("indexname", ""),
        checks_not_null=_checks_not_null(constraint),
        references=_rv(constraint.get("pktable")),
        column=column,
    )


def _checks_not_null(constraint: Node) -> str:
    """The column of a `CHECK (column IS NOT NULL)`: once validated, PostgreSQL 12+ proves
    SET NOT NULL from it without scanning the table."""
    if constraint.get("contype") != "CONSTR_CHECK":
        return ""
    test = (constraint.get("raw_expr") or {}).get("NullTest") or {}
    argument = (test.get("arg") or {}).get("ColumnRef") or {}
    fields = argument.get("fields") or ()
    if test.get("nulltesttype") != "IS_NOT_NULL" or not fields:
        return ""
    return _name(fields[-1])


# -- statements ------------------------------------------------------------------------------


def _pg_drop(node: Node) -> Described:
    kind = _kind(node["removeType"])
    objects = tuple(_pg_object(o, kind) for o in node.get("objects") or ())
    cascade = node.get("behavior") == "DROP_CASCADE"
    concurrently = "CONCURRENTLY " if node.get("concurrent") else ""
    summary = f"DROP {kind} {concurrently}{object_names(objects)}"
    return Described(summary, dropped=objects, cascade=cascade)


def _pg_alter_table(node: Node) -> Described:
    objtype = node.get("objtype")
    kind = _kind(objtype) if objtype else "TABLE"
    table = DbObject(kind, _rv(node["relation"]))
    parts, altered = [], []
    for cmd in _commands(node):
        part, alterations = _pg_alter_command(cmd, table)
        parts.append(part)
        altered += alterations
    return Described(f"ALTER {kind} {table.name} " + ", ".join(parts), altered=tuple(altered))


def _pg_alter_command(cmd: Node, table: DbObject) -> tuple[str, list[Alteration]]:
    subtype = cmd["subtype"].removeprefix("AT_")
    name = cmd.get("name", "")
    if subtype == "AddColumn":
        return _pg_add_column(cmd["def"]["ColumnDef"], table)
    if subtype == "DropColumn":
        return f"DROP COLUMN {name}", [Alteration(table, "DROP COLUMN", name)]
    if subtype == "AlterColumnType":
        definition = cmd["def"]["ColumnDef"]
        new = _dotted(definition["typeName"]["names"][-1:])
        alteration = Alteration(
            table,
            "ALTER COLUMN TYPE",
            name,
            type_name=_type_name(definition["typeName"]),
            using="raw_default" in definition,  # USING <expression> lands in raw_default
        )
        return f"ALTER COLUMN {name} TYPE {new}", [alteration]
    if subtype == "ColumnDefault":
        expression = cmd.get("def")
        action = f"{'SET' if expression else 'DROP'} DEFAULT"
        default = _volatility(expression) if expression else ""
        return f"ALTER COLUMN {name} {action}", [Alteration(table, action, name, default=default)]
    if subtype in ("SetNotNull", "DropNotNull"):
        action = "SET NOT NULL" if subtype == "SetNotNull" else "DROP NOT NULL"
        return f"ALTER COLUMN {name} {action}", [Alteration(table, action, name)]
    if subtype == "AddConstraint":
        constraint = _constraint(cmd)
        label = constraint.get("conname") or constraint["contype"].removeprefix("CONSTR_")
        return f"ADD CONSTRAINT {label}", [_constraint_alteration(table, constraint, label)]
    words = " ".join(re.findall(r"[A-Z][a-z]*", subtype)).upper()
    return (f"{words} {name}" if name else words), [Alteration(table, words, name)]


def _pg_add_column(definition: Node, table: DbObject) -> tuple[str, list[Alteration]]:
    """ADD COLUMN, then one ADD CONSTRAINT for each constraint declared with the column."""
    column = definition["colname"]
    constraints = [c["Constraint"] for c in definition.get("constraints") or ()]
    contypes = {c.get("contype") for c in constraints}
    added = Alteration(
        table,
        "ADD COLUMN",
        column,
        type_name=_type_name(definition.get("typeName") or {}),
        # a PRIMARY KEY's columns are NOT NULL too
        not_null=bool(contypes & {"CONSTR_NOTNULL", "CONSTR_PRIMARY"}),
        default=_column_default(definition)[0],
    )
    declared = [
        _constraint_alteration(table, c, c.get("conname", ""), column)
        for c in constraints
        if c.get("contype") in _COLUMN_CONSTRAINTS
    ]
    return f"ADD COLUMN {column}", [added, *declared]


def _pg_rename(node: Node) -> Described:
    kind = _kind(node["renameType"])
    relation, subname, newname = node.get("relation"), node.get("subname", ""), node["newname"]
    if kind in ("COLUMN", "CONSTRAINT") and relation:
        owner = _kind(node["relationType"]) if kind == "COLUMN" else "TABLE"
        table = _rv(relation)
        summary = f"ALTER {owner} {table} RENAME {kind} {subname} TO {newname}"
        renamed = Renamed(DbObject(kind, subname, table), newname)
        return Described(summary, renamed=(renamed,))
    if kind in OWNED and relation:  # ALTER TRIGGER trg ON orders RENAME TO …
        old = DbObject(kind, subname, _rv(relation))
    elif relation:
        old = DbObject(kind, _rv(relation))
    elif "object" in node:
        old = _pg_object(node["object"], "")._replace(kind=kind)
    else:  # ALTER SCHEMA s RENAME TO …: the name is the subname
        old = DbObject(kind, subname)
    summary = f"ALTER {kind} {old.display} RENAME TO {newname}"
    return Described(summary, renamed=(Renamed(old, newname),))


def _pg_rows(verb: str) -> Callable[[Node], Described]:
    def describe(node: Node) -> Described:
        table = _rv(node["relation"])
        rows = (RowChange(verb.split()[0], table, "whereClause" in node),)
        return Described(f"{verb} {table}", rows=rows)

    return describe


def _pg_truncate(node: Node) -> Described:
    rows = tuple(RowChange("TRUNCATE", _rv(r["RangeVar"]), False) for r in node["relations"])
    return Described(f"TRUNCATE {', '.join(r.table for r in rows)}", rows=rows)


def _pg_reindex(node: Node) -> Described | None:
    """REINDEX INDEX names only the index (VC303 finds its table from the migrations)."""
    if node.get("kind") != "REINDEX_OBJECT_INDEX" or "relation" not in node:
        return None
    index = DbObject("INDEX", _rv(node["relation"]))
    return Described(f"REINDEX INDEX {index.name}", altered=(Alteration(index, "REINDEX"),))


def _pg_insert(node: Node) -> Described:
    table = _rv(node["relation"])
    return Described(f"INSERT INTO {table}", rows=(RowChange("INSERT", table, False),))


def _pg_index(node: Node) -> Described:
    unique = "UNIQUE " if node.get("unique") else ""
    concurrently = "CONCURRENTLY " if node.get("concurrent") else ""
    index = node.get("idxname", "")
    name = f"{index} " if index else ""
    table = _rv(node["relation"])
    summary = f"CREATE {unique}INDEX {concurrently}{name}ON {table}"
    return Described(summary, created=(DbObject("INDEX", index, table),))


def _pg_create_table(node: Node) -> Described:
    table = _rv(node["relation"])
    columns = tuple(
        Column(c["ColumnDef"].get("colname", ""), _type_name(c["ColumnDef"]["typeName"]))
        for c in node.get("tableElts") or ()
        # PARTITION OF and OF <type> tables may restate a column without its type
        if "ColumnDef" in c and "typeName" in c["ColumnDef"]
    )
    return Described(f"CREATE TABLE {table}", created=(DbObject("TABLE", table),), columns=columns)


def _pg_create_as(node: Node) -> Described:
    table = _rv(node["into"]["rel"])
    if node.get("is_select_into"):
        return Described(f"SELECT INTO {table}", created=(DbObject("TABLE", table),))
    kind = _kind(node["objtype"])
    return Described(f"CREATE {kind} {table}", created=(DbObject(kind, table),))


def _pg_function(node: Node) -> Described:
    replace = "OR REPLACE " if node.get("replace") else ""
    kind = "PROCEDURE" if node.get("is_procedure") else "FUNCTION"
    name = _dotted(node["funcname"])
    return Described(f"CREATE {replace}{kind} {name}", created=(DbObject(kind, name),))


def _pg_select(node: Node) -> Described:
    into = node.get("intoClause")
    if into is None:
        return Described(None, settings=_set_config(node))
    table = _rv(into["rel"])
    return Described(f"SELECT INTO {table}", created=(DbObject("TABLE", table),))


def _set_config(node: Node) -> tuple[str, ...]:
    """`SELECT set_config('lock_timeout', '2s', true)`: the settings the select list sets."""
    names = []
    for target in node.get("targetList") or ():
        call = (target["ResTarget"].get("val") or {}).get("FuncCall")
        if not call or _name(call["funcname"][-1]) != "set_config" or not call.get("args"):
            continue
        kind, setting = _only(call["args"][0])
        if kind == "TypeCast":
            kind, setting = _only(setting["arg"])
        if kind == "A_Const" and "sval" in setting:
            names.append(str(setting["sval"].get("sval", "")).lower())
    return _unique(names)


def _pg_set(node: Node) -> Described:
    """SET and SET LOCAL: the setting named (not RESET, SET … TO DEFAULT, SET TRANSACTION)."""
    if node.get("kind") in ("VAR_SET_VALUE", "VAR_SET_CURRENT") and node.get("name"):
        return Described(None, settings=(str(node["name"]).lower(),))
    return Described(None)


def _pg_alter_enum(node: Node) -> Described:
    name = _dotted(node["typeName"])
    target = DbObject("TYPE", name)
    old, new = node.get("oldVal", ""), node.get("newVal", "")
    if old:
        summary = f"ALTER TYPE {name} RENAME VALUE '{old}' TO '{new}'"
        return Described(summary, altered=(Alteration(target, "RENAME VALUE", old),))
    summary = f"ALTER TYPE {name} ADD VALUE '{new}'"
    return Described(summary, altered=(Alteration(target, "ADD VALUE", new),))


def _pg_schema(node: Node) -> Described:
    # CREATE SCHEMA AUTHORIZATION joe names the schema after the role
    name = node.get("schemaname") or (node.get("authrole") or {}).get("rolename", "")
    return Described(f"CREATE SCHEMA {name}", created=(DbObject("SCHEMA", name),))


def _simple(template: str) -> Callable[[Node], Described]:
    """A summary filled from the node: `{relation}` and `{names}` are formatted for reading.
    A CREATE creates its first field, an ALTER alters it; `ON {field}` names the owner."""
    verb, kind = re.match(r"(\w+) (.+?) \{", template).groups()  # type: ignore[union-attr]
    keys = re.findall(r"\{(\w+)\}", template)

    def describe(node: Node) -> Described:
        fields = {}
        for key in keys:
            value = node[key]
            if isinstance(value, dict):  # a RangeVar
                fields[key] = _rv(value)
            elif isinstance(value, list):
                fields[key] = _dotted(value)
            else:
                fields[key] = str(value)
        replace = "OR REPLACE " if node.get("replace") else ""
        summary = template.format(**fields).replace("CREATE ", f"CREATE {replace}", 1)
        name, *owner = fields.values()
        target = DbObject(kind, name, owner[0] if " ON {" in template else "")
        if verb == "CREATE":
            return Described(summary, created=(target,))
        if verb == "ALTER":
            return Described(summary, altered=(Alteration(target, "ALTER"),))
        return Described(summary)

    return describe


_PG_HANDLERS: dict[str, Callable[[Node], Described]] = {
    "CreateStmt": _pg_create_table,
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
    "VariableSetStmt": _pg_set,
    "CreateFunctionStmt": _pg_function,
    "CreateTrigStmt": _simple("CREATE TRIGGER {trigname} ON {relation}"),
    "CreateSeqStmt": _simple("CREATE SEQUENCE {sequence}"),
    "AlterSeqStmt": _simple("ALTER SEQUENCE {sequence}"),
    "CreateEnumStmt": _simple("CREATE TYPE {typeName} AS ENUM"),
    "CompositeTypeStmt": _simple("CREATE TYPE {typevar}"),
    "CreateDomainStmt": _simple("CREATE DOMAIN {domainname}"),
    "AlterEnumStmt": _pg_alter_enum,
    "CreateSchemaStmt": _pg_schema,
    "CreateExtensionStmt": _simple("CREATE EXTENSION {extname}"),
    "CreatePolicyStmt": _simple("CREATE POLICY {policy_name} ON {table}"),
    "RefreshMatViewStmt": _simple("REFRESH MATERIALIZED VIEW {relation}"),
    "DoStmt": lambda node: Described("DO block"),
    "ReindexStmt": lambda node: _pg_reindex(node) or Described(None),
}


# -- binary-compatible type changes ----------------------------------------------------------

_TYPE = re.compile(r"^(?P<name>[a-z_][\w ]*?)\s*(?:\((?P<mods>[\d\s,]*)\))?(?P<array>\[\])?$")
_SPELLINGS = {
    "character varying": "varchar",
    "bit varying": "varbit",
    "decimal": "numeric",
    "string": "text",
}


def binary_compatible(old_type: str, new_type: str) -> bool:
    """Whether ALTER COLUMN TYPE from `old_type` to `new_type` (names as `Column.type_name`
    spells them) keeps every stored value as it is, so PostgreSQL skips the table rewrite.

    PostgreSQL's ALTER TABLE page: "when … the old type is either binary coercible to the
    new type or an unconstrained domain over the new type, a table rewrite is not needed",
    e.g. varchar(n) to a longer varchar or to text, a numeric to one of larger precision
    and the same scale, cidr to inet; "however, indexes must still be rebuilt" for some.
    Any other change, or one this code does not recognise, counts as a rewrite."""
    old, new = _parse_type(old_type), _parse_type(new_type)
    if old is None or new is None:
        return False
    if old == new:
        return True
    (old_name, old_mods, old_array), (new_name, new_mods, new_array) = old, new
    if old_array != new_array:
        return False
    if old_name in ("varchar", "text") and new_name in ("varchar", "text"):
        if new_name == "text" or not new_mods:
            return True  # unlimited: every value fits as it is
        return old_name == "varchar" and bool(old_mods) and new_mods[0] >= old_mods[0]
    if old_name == new_name == "varbit":
        return not new_mods or (bool(old_mods) and new_mods[0] >= old_mods[0])
    if old_name == new_name == "numeric":
        if not new_mods:
            return True  # unconstrained numeric holds any value as stored
        if not old_mods:
            return False
        old_scale = old_mods[1] if len(old_mods) > 1 else 0
        new_scale = new_mods[1] if len(new_mods) > 1 else 0
        return new_mods[0] >= old_mods[0] and new_scale == old_scale
    return (old_name, new_name) == ("cidr", "inet")


def _parse_type(type_name: str) -> tuple[str, tuple[int, ...], bool] | None:
    match = _TYPE.match(type_name.strip().lower())
    if not match:
        return None
    name = " ".join(match["name"].split())
    modifiers = tuple(int(m) for m in (match["mods"] or "").replace(" ", "").split(",") if m)
    return _SPELLINGS.get(name, name), modifiers, bool(match["array"])
