"""PostgreSQL's catalog as a snapshot, read by the ledger's SQL function `catalog_snapshot()`.

What a schema is lives in one place, vcsync/ledger/functions/10_catalog_snapshot.sql, and
the CLI and SQL both read it (DESIGN §11): on a database whose ledger holds the function
as this vcsync wrote it, the CLI calls it there; anywhere else (a scratch database, a
database without a ledger, a ledger an older vcsync installed) the same text is installed
as a temporary function in `pg_temp`, or, where the session may create nothing (a read-only
transaction, a standby, no TEMP privilege), run as a prepared statement.

The function prints what the server can print (types, defaults, definitions) with
search_path pinned to pg_catalog, so every user name comes out schema-qualified. Left out:
the system schemas, the ledger's schema, and whatever belongs to an extension.
"""

from __future__ import annotations

from contextlib import suppress
from functools import cache
from importlib.resources import files
from typing import Any

from vcsync.db import Connection, DatabaseError

Snapshot = dict[str, dict[str, Any]]

FUNCTION_FILE = "10_catalog_snapshot.sql"
FUNCTION_NAME = "catalog_snapshot"
_BODY_QUOTE = "$catalog_snapshot$"
_PREPARED = "vcsync_catalog_snapshot"
_SEARCH_PATH = ["search_path=pg_catalog"]


@cache
def function_text(schema_sql: str) -> str:
    """The CREATE FUNCTION statement, for the quoted schema name (or `pg_temp`)."""
    from vcsync.ledger.functions import SCHEMA_PLACEHOLDER

    text = files("vcsync.ledger.functions").joinpath(FUNCTION_FILE).read_text("utf-8")
    return text.replace(SCHEMA_PLACEHOLDER, schema_sql)


@cache
def function_body() -> str:
    """The query inside the function: its `prosrc`, with $1 the ledger and $2 the tenant."""
    text = function_text("pg_temp")
    start = text.index(_BODY_QUOTE) + len(_BODY_QUOTE)
    return text[start : text.index(_BODY_QUOTE, start)]


def postgres_snapshot(conn: Connection, ledger_schema: str) -> Snapshot:
    """Every user object in the database (a tenant target: in its schema), by name."""
    params = [ledger_schema, conn.target.schema or ""]
    # Where this text is installed already (the ledger's schema first, then this session's
    # pg_temp), and whether the session may create a temporary function.
    found, can_create = conn.query(
        "SELECT (SELECT CASE WHEN n.nspname = %s THEN 'ledger' ELSE 'temp' END "
        "FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace "
        "WHERE (n.nspname = %s OR n.oid = pg_my_temp_schema()) AND p.proname = %s "
        "AND p.pronargs = 2 AND p.prorettype = 'jsonb'::regtype AND p.prosrc = %s "
        "AND p.proconfig = %s ORDER BY n.nspname = %s DESC LIMIT 1), "
        "current_setting('transaction_read_only') = 'off' "
        "AND has_database_privilege(current_database(), 'TEMP')",
        [ledger_schema, ledger_schema, FUNCTION_NAME, function_body(), _SEARCH_PATH, ledger_schema],
    )[0]
    if found == "ledger":
        function = conn.table(ledger_schema, FUNCTION_NAME)
        return _loaded(conn.query(f"SELECT {function}(%s, %s)", params))
    if found == "temp" or can_create:
        if found is None:
            conn.run(function_text("pg_temp"))
        return _loaded(conn.query(f"SELECT pg_temp.{FUNCTION_NAME}(%s, %s)", params))
    return _prepared(conn, params)


def _prepared(conn: Connection, params: list[str]) -> Snapshot:
    """The function's own query as a prepared statement, for a session that may create
    nothing; search_path pinned as the function pins it, and put back afterwards."""
    original = conn.query("SELECT current_setting('search_path')")[0][0]
    conn.query("SELECT set_config('search_path', 'pg_catalog', false)")
    try:
        conn.run(f"PREPARE {_PREPARED} (text, text) AS {function_body()}")
        try:
            # EXECUTE takes no bind parameters: the values are quoted by the driver.
            execute = conn.mogrify(f"EXECUTE {_PREPARED} (%s::text, %s::text)", params)
            return _loaded(conn.query(execute.replace("%", "%%")))
        finally:
            with suppress(DatabaseError):
                conn.run(f"DEALLOCATE {_PREPARED}")
    finally:
        # In a failed transaction this fails too, and rolling back restores the search path.
        with suppress(DatabaseError):
            conn.query("SELECT set_config('search_path', %s, false)", [original])


def _loaded(rows: list[Any]) -> Snapshot:
    value = rows[0][0]
    snapshot: Snapshot = value if isinstance(value, dict) else {}
    return snapshot
