"""Other dialects' statements' effects, from sqlglot's tree."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

from vcsync.sql.effects.model import (
    Alteration,
    DbObject,
    Described,
    Renamed,
    RowChange,
    StatementEffect,
    effect_at,
    keyword_control,
)
from vcsync.sql.effects.pg_nodes import object_names
from vcsync.sql.effects.words import plain_described, plain_effects
from vcsync.sql.syntax import quiet_sqlglot


def sqlglot_effects(text: str, dialect: str, first_line: int) -> Iterator[StatementEffect]:
    from sqlglot.dialects.dialect import Dialect
    from sqlglot.errors import SqlglotError

    try:
        tokens = Dialect.get_or_raise(dialect).tokenize(text)
    except SqlglotError:
        yield from plain_effects(text, first_line, control=True)
        return
    with quiet_sqlglot():
        yield from _sqlglot_statements(text, dialect, first_line, tokens)


def _sqlglot_statements(
    text: str, dialect: str, first_line: int, tokens: list[Any]
) -> Iterator[StatementEffect]:
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
        line, column = first_line + chunk[0].line - 1, chunk[0].col - len(chunk[0].text) + 1
        kind = ""
        try:
            node = parse_one(code, read=dialect)
            kind = type(node).__name__
            described = _sqlglot_statement(node, dialect)
        except (SqlglotError, AttributeError, TypeError):
            described = Described(None)
        if described.summary is None:
            described, kind = plain_described(code), ""
        effect = effect_at(code, 0, line, kind, code, described)
        yield effect._replace(column=column, transaction_control=keyword_control(code))


def _sqlglot_statement(node: Any, dialect: str) -> Described:
    def sql(part: Any) -> str:
        return str(part.sql(dialect=dialect)) if part is not None else "?"

    kind = str(node.args.get("kind") or "").upper()
    name = type(node).__name__
    if name == "Create":
        target = node.this
        replace = "OR REPLACE " if node.args.get("replace") else ""
        unique = "UNIQUE " if node.args.get("unique") else ""
        if type(target).__name__ == "Index":
            index = sql(target.this) if target.this is not None else ""
            table = sql(target.args.get("table"))
            created = (DbObject("INDEX", index, table),)
            named = f"{index} " if index else ""
            return Described(f"CREATE {unique}INDEX {named}ON {table}", created=created)
        if type(target).__name__ == "Schema":
            target = target.this
        if type(target).__name__ == "UserDefinedFunction":
            target = target.this
        summary = f"CREATE {replace}{kind} {sql(target)}"
        return Described(summary, created=(DbObject(kind, sql(target)),))
    if name == "Drop":
        tables = node.args.get("tables") or ([node.this] if node.this is not None else [])
        # a DROP sqlglot cannot name the object of still drops something: kept, unnamed
        dropped = tuple(DbObject(kind, sql(t)) for t in tables) or (DbObject(kind, ""),)
        cascade = bool(node.args.get("cascade"))
        return Described(f"DROP {kind} {object_names(dropped)}", dropped=dropped, cascade=cascade)
    if name == "Alter":
        altered_object = DbObject(kind or "TABLE", sql(node.this))
        parts, altered, renamed = [], [], []
        for action in node.args.get("actions") or []:
            part, alteration = _sqlglot_action(action, altered_object, sql)
            parts.append(part)
            altered.append(alteration)
            if type(action).__name__ == "AlterRename":
                renamed.append(Renamed(altered_object, sql(action.this)))
            elif type(action).__name__ == "RenameColumn":
                column = DbObject("COLUMN", sql(action.this), altered_object.name)
                renamed.append(Renamed(column, sql(action.args.get("to"))))
        summary = f"ALTER {kind or 'TABLE'} {altered_object.name} " + ", ".join(parts)
        return Described(summary, altered=tuple(altered), renamed=tuple(renamed))
    if name in ("Delete", "Update"):
        table = sql(node.this)
        verb = "DELETE FROM" if name == "Delete" else "UPDATE"
        filtered = bool(node.args.get("where"))
        return Described(f"{verb} {table}", rows=(RowChange(verb.split()[0], table, filtered),))
    if name == "Insert":
        target = node.this.this if type(node.this).__name__ == "Schema" else node.this
        inserted = (RowChange("INSERT", sql(target), False),)
        return Described(f"INSERT INTO {sql(target)}", rows=inserted)
    if name == "TruncateTable":
        rows = tuple(RowChange("TRUNCATE", sql(t), False) for t in node.expressions)
        return Described(f"TRUNCATE {', '.join(r.table for r in rows)}", rows=rows)
    return Described(None)


def _sqlglot_action(
    action: Any, table: DbObject, sql: Callable[[Any], str]
) -> tuple[str, Alteration]:
    name = type(action).__name__
    if name == "ColumnDef":
        return f"ADD COLUMN {sql(action.this)}", Alteration(table, "ADD COLUMN", sql(action.this))
    if name == "Drop":
        kind = str(action.args.get("kind") or "").upper()
        names = ", ".join(sql(t) for t in action.args.get("tables") or [action.this])
        return f"DROP {kind} {names}", Alteration(table, f"DROP {kind}", names)
    if name == "AlterColumn":
        column = sql(action.this)
        dtype = action.args.get("dtype")
        if dtype is not None:
            summary = f"ALTER COLUMN {column} TYPE {sql(dtype)}"
            return summary, Alteration(table, "ALTER COLUMN TYPE", column)
        return f"ALTER COLUMN {column}", Alteration(table, "ALTER COLUMN", column)
    if name == "ModifyColumn":
        column = sql(action.this.this) if action.this is not None else "?"
        return f"MODIFY COLUMN {column}", Alteration(table, "MODIFY COLUMN", column)
    if name == "AlterRename":
        return f"RENAME TO {sql(action.this)}", Alteration(table, "RENAME TO", sql(action.this))
    if name == "RenameColumn":
        column = sql(action.this)
        summary = f"RENAME COLUMN {column} TO {sql(action.args.get('to'))}"
        return summary, Alteration(table, "RENAME COLUMN", column)
    words = " ".join(re.findall(r"[A-Z][a-z]*", name)).upper()
    return words, Alteration(table, words)
