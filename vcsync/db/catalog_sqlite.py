"""SQLite's catalog as a snapshot: one query per kind, joining sqlite_schema to pragmas.

Tables are described by their pragmas, never by their stored CREATE text: SQLite edits
that text in place on ALTER TABLE, so two equal tables can carry different text. Views,
triggers and partial or expression indexes are described by their SQL with whitespace
collapsed. SQLite's own objects (sqlite_*) and the ledger (`<ledger>__*`) are left out;
the indexes SQLite makes for UNIQUE and PRIMARY KEY constraints are kept, named by their
table and columns (their own names number constraints by position).
"""

from __future__ import annotations

from typing import Any

from vcsync.db import Connection, Row

Snapshot = dict[str, dict[str, Any]]

TABLES = """
SELECT t.name, t.type, t.wr, t.strict, m.sql
FROM pragma_table_list t JOIN sqlite_schema m ON m.name = t.name AND m.type = 'table'
WHERE t.schema = 'main'
"""

COLUMNS = """
SELECT m.name, c.name, c.type, c."notnull", c.dflt_value, c.pk, c.hidden
FROM sqlite_schema m JOIN pragma_table_xinfo(m.name) c
WHERE m.type = 'table'
"""

FOREIGN_KEYS = """
SELECT m.name, f.id, f.seq, f."table", f."from", f."to", f.on_update, f.on_delete, f."match"
FROM sqlite_schema m JOIN pragma_foreign_key_list(m.name) f
WHERE m.type = 'table'
ORDER BY m.name, f.id, f.seq
"""

INDEXES = """
SELECT m.name, i.name, i."unique", i.origin, i.partial, x.name, x."desc", x.coll, s.sql
FROM sqlite_schema m
JOIN pragma_index_list(m.name) i
JOIN pragma_index_xinfo(i.name) x
LEFT JOIN sqlite_schema s ON s.type = 'index' AND s.name = i.name
WHERE m.type = 'table' AND x."key"
ORDER BY m.name, i.name, x.seqno
"""

VIEWS_AND_TRIGGERS = """
SELECT type, name, tbl_name, sql FROM sqlite_schema WHERE type IN ('view', 'trigger')
"""

_ORIGINS = {"c": "create index", "u": "unique", "pk": "primary key"}
_GENERATED = {2: "virtual", 3: "stored"}


def _sql(text: str | None) -> str | None:
    return " ".join(text.split()) if text else None


def sqlite_snapshot(conn: Connection, ledger_schema: str) -> Snapshot:
    """Every table, column, foreign key, index, view and trigger outside the ledger."""
    ledger = f"{ledger_schema}__"

    def ours(name: str) -> bool:
        return name.startswith("sqlite_") or name.startswith(ledger)

    snapshot: Snapshot = {}
    virtual = set()
    for name, kind, without_rowid, strict, sql in conn.query(TABLES):
        if ours(name) or kind == "shadow":  # a virtual table's storage is the module's
            continue
        if kind == "virtual":
            virtual.add(name)
            snapshot[f"virtual table {name}"] = {"sql": _sql(sql)}
        else:
            snapshot[f"table {name}"] = {
                "without_rowid": bool(without_rowid),
                "strict": bool(strict),
            }
    for table, name, type_, not_null, default, pk, hidden in conn.query(COLUMNS):
        if f"table {table}" in snapshot:
            snapshot[f"column {table}.{name}"] = {
                "type": type_,
                "not_null": bool(not_null),
                "default": default,
                "primary_key": pk,  # the column's position in the key, 0 when not in it
                "generated": _GENERATED.get(hidden),
            }
    _foreign_keys(snapshot, conn.query(FOREIGN_KEYS))
    _indexes(snapshot, conn.query(INDEXES))
    for kind, name, table, sql in conn.query(VIEWS_AND_TRIGGERS):
        if ours(name) or ours(table):
            continue
        attributes = {"sql": _sql(sql)} if kind == "view" else {"table": table, "sql": _sql(sql)}
        snapshot[f"{kind} {name}"] = attributes
    return snapshot


def _foreign_keys(snapshot: Snapshot, rows: list[Row]) -> None:
    """SQLite's foreign keys have no names: each is keyed by its columns and its parent."""
    grouped: dict[tuple[str, int], list[Row]] = {}
    for row in rows:
        grouped.setdefault((row[0], row[1]), []).append(row)
    for (table, _id), parts in grouped.items():
        if f"table {table}" not in snapshot:
            continue
        parent = parts[0][3]
        columns = ", ".join(p[4] for p in parts)
        referenced = ", ".join(p[5] for p in parts if p[5] is not None)
        target = f"{parent}({referenced})" if referenced else parent
        _, _, _, _, _, _, on_update, on_delete, match = parts[0]
        snapshot[f"foreign key {table}({columns}) -> {target}"] = {
            "on_update": on_update,
            "on_delete": on_delete,
            "match": match,
        }


def _indexes(snapshot: Snapshot, rows: list[Row]) -> None:
    grouped: dict[tuple[str, str], list[Row]] = {}
    for row in rows:
        grouped.setdefault((row[0], row[1]), []).append(row)
    for (table, name), parts in grouped.items():
        if f"table {table}" not in snapshot:
            continue
        _, _, unique, origin, partial, _, _, _, sql = parts[0]
        columns = [[p[5] or "<expression>", bool(p[6]), p[7]] for p in parts]
        key = name if origin == "c" else f"{table}({', '.join(c[0] for c in columns)})"
        snapshot[f"index {key}"] = {
            "table": table,
            "unique": bool(unique),
            "origin": _ORIGINS.get(origin, origin),
            "columns": columns,  # in key order, which is meaningful
            "partial": bool(partial),
            "sql": _sql(sql),
        }
