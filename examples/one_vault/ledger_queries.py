"""Run the ledger's three SQL views (DESIGN §5) against one OneVault database and print them.

    python ledger_queries.py sqlite PATH.db [VIEW]
    python ledger_queries.py postgres CONNINFO LEDGER_SCHEMA [VIEW]

The queries are the documented ones, `SELECT * FROM version_control.migration_dashboard` and
so on; SQLite has no schemas, so there the views are `version_control__<view>`, and a
tenant's ledger on PostgreSQL is the schema `version_control_<tenant>`. Every column comes
back; the table printed keeps the ones an operator reads first (hashes shortened).
"""

from __future__ import annotations

import sys

QUERIES = [
    (
        "SELECT * FROM {ledger}migration_dashboard;",
        ["version", "description", "environment_name", "status", "applied_at", "commit_sha",
         "release_tag", "duration_ms"],
    ),
    (
        "SELECT * FROM {ledger}deployment_history\n"
        " WHERE environment_name = 'production' ORDER BY deployment_start DESC;",
        ["environment_name", "operation", "outcome", "operator", "commit_sha", "release_tag",
         "migrations", "reason"],
    ),
    (
        "SELECT * FROM {ledger}database_version;",
        ["environment_name", "version", "description", "commit_sha", "release_tag",
         "applied_at"],
    ),
]  # fmt: skip


def cell(name: str, value: object) -> str:
    if value is None:
        return ""
    text = str(value)
    if name == "commit_sha":
        return text[:7]
    if name in ("applied_at", "deployment_start"):
        return text[:19]
    return text


def show(sql: str, names: list[str], columns: list[str], rows: list[tuple]) -> None:
    print(sql)
    picked = [names.index(c) for c in columns]
    table = [columns] + [[cell(columns[i], row[p]) for i, p in enumerate(picked)] for row in rows]
    widths = [max(len(line[i]) for line in table) for i in range(len(columns))]
    for n, line in enumerate(table):
        print("  " + " | ".join(v.ljust(w) for v, w in zip(line, widths, strict=True)).rstrip())
        if n == 0:
            print("  " + "-+-".join("-" * w for w in widths))
    print(f"  ({len(rows)} row{'s' if len(rows) != 1 else ''}, {len(names)} columns)\n")


def main(argv: list[str]) -> None:
    only = argv[3 if argv[:1] == ["postgres"] else 2 :][:1]
    if argv[:1] == ["sqlite"] and len(argv) in (2, 3):
        import sqlite3

        conn = sqlite3.connect(f"file:{argv[1]}?mode=ro", uri=True)
        ledger = "version_control__"
    elif argv[:1] == ["postgres"] and len(argv) in (3, 4):
        import psycopg

        conn = psycopg.connect(argv[1])
        ledger = argv[2] + "."
    else:
        sys.exit(__doc__)
    for query, columns in QUERIES:
        if only and f"{{ledger}}{only[0]}" not in query:
            continue
        cur = conn.execute(query.format(ledger=ledger))
        names = [d[0] for d in cur.description]
        show(query.format(ledger=ledger), names, columns, cur.fetchall())
    conn.close()


if __name__ == "__main__":
    main(sys.argv[1:])
