"""PostgreSQL statements' effects, from its own grammar: libpg_query's parse tree as the
JSON `pglast.parser.parse_sql_json` returns (decoded with `json.loads`), read by dict
lookups. Building pglast's Python AST instead costs several times as much, and the syntax
check (VC101) already holds this JSON, so one parse serves both.

The tree is read by pg_nodes.py; transaction control and locks are pg_locks.py's, types,
defaults and constraints pg_values.py's. This module turns each statement into what it
creates, alters, drops and changes.

Positions (`stmt_location`, `stmt_len`) are byte offsets into the UTF-8 text.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Iterator

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
from vcsync.sql.effects.pg_locks import (
    do_block_control,
    locked_tables,
    node_control,
    pg_lock,
    rewrites_table,
)
from vcsync.sql.effects.pg_nodes import (
    Node,
    commands,
    constraint_node,
    dotted,
    name_part,
    object_kind,
    object_names,
    only,
    pg_object,
    rv,
)
from vcsync.sql.effects.pg_values import (
    COLUMN_CONSTRAINTS,
    column_default,
    constraint_alteration,
    type_name,
    volatility,
)
from vcsync.sql.effects.words import plain_described, plain_effects

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
        kind, node = only(raw["stmt"])
        try:
            described, read = _describe(kind, node), kind
        except _UNEXPECTED:
            described, read = plain_described(code), ""
        try:
            control = node_control(kind, node) or do_block_control(kind, code)
            lock = pg_lock(kind, node)
            lock_on = _unique(locked_tables(kind, node)) if lock else ()
            rewrites = rewrites_table(kind, node, postgres_version)
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


def _unique(names: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(n for n in names if n))


def _describe(kind: str, node: Node) -> Described:
    handler = _PG_HANDLERS.get(kind)
    return handler(node) if handler else Described(None)


# -- statements ------------------------------------------------------------------------------


def _pg_drop(node: Node) -> Described:
    kind = object_kind(node["removeType"])
    objects = tuple(pg_object(o, kind) for o in node.get("objects") or ())
    cascade = node.get("behavior") == "DROP_CASCADE"
    concurrently = "CONCURRENTLY " if node.get("concurrent") else ""
    summary = f"DROP {kind} {concurrently}{object_names(objects)}"
    return Described(summary, dropped=objects, cascade=cascade)


def _pg_alter_table(node: Node) -> Described:
    objtype = node.get("objtype")
    kind = object_kind(objtype) if objtype else "TABLE"
    table = DbObject(kind, rv(node["relation"]))
    parts, altered = [], []
    for cmd in commands(node):
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
        new = dotted(definition["typeName"]["names"][-1:])
        alteration = Alteration(
            table,
            "ALTER COLUMN TYPE",
            name,
            type_name=type_name(definition["typeName"]),
            using="raw_default" in definition,  # USING <expression> lands in raw_default
        )
        return f"ALTER COLUMN {name} TYPE {new}", [alteration]
    if subtype == "ColumnDefault":
        expression = cmd.get("def")
        action = f"{'SET' if expression else 'DROP'} DEFAULT"
        default = volatility(expression) if expression else ""
        return f"ALTER COLUMN {name} {action}", [Alteration(table, action, name, default=default)]
    if subtype in ("SetNotNull", "DropNotNull"):
        action = "SET NOT NULL" if subtype == "SetNotNull" else "DROP NOT NULL"
        return f"ALTER COLUMN {name} {action}", [Alteration(table, action, name)]
    if subtype == "AddConstraint":
        constraint = constraint_node(cmd)
        label = constraint.get("conname") or constraint["contype"].removeprefix("CONSTR_")
        return f"ADD CONSTRAINT {label}", [constraint_alteration(table, constraint, label)]
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
        type_name=type_name(definition.get("typeName") or {}),
        # a PRIMARY KEY's columns are NOT NULL too
        not_null=bool(contypes & {"CONSTR_NOTNULL", "CONSTR_PRIMARY"}),
        default=column_default(definition)[0],
    )
    declared = [
        constraint_alteration(table, c, c.get("conname", ""), column)
        for c in constraints
        if c.get("contype") in COLUMN_CONSTRAINTS
    ]
    return f"ADD COLUMN {column}", [added, *declared]


def _pg_rename(node: Node) -> Described:
    kind = object_kind(node["renameType"])
    relation, subname, newname = node.get("relation"), node.get("subname", ""), node["newname"]
    if kind in ("COLUMN", "CONSTRAINT") and relation:
        owner = object_kind(node["relationType"]) if kind == "COLUMN" else "TABLE"
        table = rv(relation)
        summary = f"ALTER {owner} {table} RENAME {kind} {subname} TO {newname}"
        renamed = Renamed(DbObject(kind, subname, table), newname)
        return Described(summary, renamed=(renamed,))
    if kind in OWNED and relation:  # ALTER TRIGGER trg ON orders RENAME TO …
        old = DbObject(kind, subname, rv(relation))
    elif relation:
        old = DbObject(kind, rv(relation))
    elif "object" in node:
        old = pg_object(node["object"], "")._replace(kind=kind)
    else:  # ALTER SCHEMA s RENAME TO …: the name is the subname
        old = DbObject(kind, subname)
    summary = f"ALTER {kind} {old.display} RENAME TO {newname}"
    return Described(summary, renamed=(Renamed(old, newname),))


def _pg_rows(verb: str) -> Callable[[Node], Described]:
    def describe(node: Node) -> Described:
        table = rv(node["relation"])
        rows = (RowChange(verb.split()[0], table, "whereClause" in node),)
        return Described(f"{verb} {table}", rows=rows)

    return describe


def _pg_truncate(node: Node) -> Described:
    rows = tuple(RowChange("TRUNCATE", rv(r["RangeVar"]), False) for r in node["relations"])
    return Described(f"TRUNCATE {', '.join(r.table for r in rows)}", rows=rows)


def _pg_reindex(node: Node) -> Described | None:
    """REINDEX INDEX names only the index (VC303 finds its table from the migrations)."""
    if node.get("kind") != "REINDEX_OBJECT_INDEX" or "relation" not in node:
        return None
    index = DbObject("INDEX", rv(node["relation"]))
    return Described(f"REINDEX INDEX {index.name}", altered=(Alteration(index, "REINDEX"),))


def _pg_insert(node: Node) -> Described:
    table = rv(node["relation"])
    return Described(f"INSERT INTO {table}", rows=(RowChange("INSERT", table, False),))


def _pg_index(node: Node) -> Described:
    unique = "UNIQUE " if node.get("unique") else ""
    concurrently = "CONCURRENTLY " if node.get("concurrent") else ""
    index = node.get("idxname", "")
    name = f"{index} " if index else ""
    table = rv(node["relation"])
    summary = f"CREATE {unique}INDEX {concurrently}{name}ON {table}"
    return Described(summary, created=(DbObject("INDEX", index, table),))


def _pg_create_table(node: Node) -> Described:
    table = rv(node["relation"])
    columns = tuple(
        Column(c["ColumnDef"].get("colname", ""), type_name(c["ColumnDef"]["typeName"]))
        for c in node.get("tableElts") or ()
        # PARTITION OF and OF <type> tables may restate a column without its type
        if "ColumnDef" in c and "typeName" in c["ColumnDef"]
    )
    return Described(f"CREATE TABLE {table}", created=(DbObject("TABLE", table),), columns=columns)


def _pg_create_as(node: Node) -> Described:
    table = rv(node["into"]["rel"])
    if node.get("is_select_into"):
        return Described(f"SELECT INTO {table}", created=(DbObject("TABLE", table),))
    kind = object_kind(node["objtype"])
    return Described(f"CREATE {kind} {table}", created=(DbObject(kind, table),))


def _pg_function(node: Node) -> Described:
    replace = "OR REPLACE " if node.get("replace") else ""
    kind = "PROCEDURE" if node.get("is_procedure") else "FUNCTION"
    name = dotted(node["funcname"])
    return Described(f"CREATE {replace}{kind} {name}", created=(DbObject(kind, name),))


def _pg_select(node: Node) -> Described:
    into = node.get("intoClause")
    if into is None:
        return Described(None, settings=_set_config(node))
    table = rv(into["rel"])
    return Described(f"SELECT INTO {table}", created=(DbObject("TABLE", table),))


def _set_config(node: Node) -> tuple[str, ...]:
    """`SELECT set_config('lock_timeout', '2s', true)`: the settings the select list sets."""
    names = []
    for target in node.get("targetList") or ():
        call = (target["ResTarget"].get("val") or {}).get("FuncCall")
        if not call or name_part(call["funcname"][-1]) != "set_config" or not call.get("args"):
            continue
        kind, setting = only(call["args"][0])
        if kind == "TypeCast":
            kind, setting = only(setting["arg"])
        if kind == "A_Const" and "sval" in setting:
            names.append(str(setting["sval"].get("sval", "")).lower())
    return _unique(names)


def _pg_set(node: Node) -> Described:
    """SET and SET LOCAL: the setting named (not RESET, SET … TO DEFAULT, SET TRANSACTION)."""
    if node.get("kind") in ("VAR_SET_VALUE", "VAR_SET_CURRENT") and node.get("name"):
        return Described(None, settings=(str(node["name"]).lower(),))
    return Described(None)


def _pg_alter_enum(node: Node) -> Described:
    name = dotted(node["typeName"])
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
                fields[key] = rv(value)
            elif isinstance(value, list):
                fields[key] = dotted(value)
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
