"""The ledger's objects, defined once for both back ends, created idempotently and versioned.

Data Vault 2.0 style: hubs hold business keys and their SHA-256 hash keys, satellites
hold state over time. Every table refuses UPDATE and DELETE through a trigger, so the
history survives for audit; `ledger_version` lets a later vcsync upgrade it in place.

One path creates and upgrades: tables as version 1 defined them, then the columns later
versions added (ALTER TABLE … ADD COLUMN: existing rows untouched), then the views,
replaced. Every row a run writes carries its `deployment_id`, so the run's closing
`deployment_end` row can hold a digest of them (see ledger/chain.py).
"""

from __future__ import annotations

from vcsync.db import Connection, DatabaseError
from vcsync.db.urls import POSTGRES
from vcsync.errors import OperationFailed

LEDGER_VERSION = 3  # 3: the views speak DESIGN §5's columns, per environment
RECORD_SOURCE = "vcsync"

TABLES = {
    "ledger_version": """
        version integer NOT NULL PRIMARY KEY,
        load_dts {ts} NOT NULL,
        record_source text NOT NULL""",
    "schema_migration_h": """
        migration_hk char(64) NOT NULL PRIMARY KEY,
        version text NOT NULL,
        version_sort text NOT NULL,
        load_dts {ts} NOT NULL,
        record_source text NOT NULL""",
    "schema_migration_s": """
        migration_hk char(64) NOT NULL REFERENCES {schema_migration_h} (migration_hk),
        load_dts {ts} NOT NULL,
        environment text NOT NULL,
        target text NOT NULL,
        status text NOT NULL CHECK (status IN
            ('applied', 'failed', 'rolled_back', 'rollback_failed', 'baselined')),
        description text NOT NULL,
        checksum char(64),
        up_script text,
        down_script text,
        no_transaction {bool} NOT NULL,
        commit_sha text,
        deployment_id text NOT NULL,
        duration_ms integer,
        failed_statement_index integer,
        failed_statement text,
        error text,
        record_source text NOT NULL,
        PRIMARY KEY (migration_hk, load_dts)""",
    "deployment_log": """
        seq integer NOT NULL PRIMARY KEY,
        deployment_id text NOT NULL UNIQUE,
        environment text NOT NULL,
        target text NOT NULL,
        operation text NOT NULL,
        operator text NOT NULL,
        host text NOT NULL,
        commit_sha text,
        ref text,
        tag text,
        dirty {bool} NOT NULL,
        vcsync_version text NOT NULL,
        dry_run {bool} NOT NULL,
        outcome text NOT NULL,
        error text,
        reason text,
        migrations text NOT NULL,
        started_at {ts} NOT NULL,
        duration_ms integer NOT NULL,
        prev_hash char(64) NOT NULL,
        row_hash char(64) NOT NULL,
        record_source text NOT NULL""",
    "release_h": """
        release_hk char(64) NOT NULL PRIMARY KEY,
        tag text NOT NULL,
        load_dts {ts} NOT NULL,
        record_source text NOT NULL""",
    "release_s": """
        release_hk char(64) NOT NULL REFERENCES {release_h} (release_hk),
        load_dts {ts} NOT NULL,
        commit_sha text NOT NULL,
        schema_version text,
        manifest_hash char(64) NOT NULL,
        environment text NOT NULL,
        record_source text NOT NULL,
        PRIMARY KEY (release_hk, load_dts)""",
    "schema_snapshot": """
        deployment_id text NOT NULL PRIMARY KEY,
        environment text NOT NULL,
        load_dts {ts} NOT NULL,
        snapshot_hash char(64) NOT NULL,
        snapshot text NOT NULL,
        record_source text NOT NULL""",
    # Version 2. A run's closing row, in the same hash chain as its deployment_log row.
    "deployment_end": """
        seq integer NOT NULL PRIMARY KEY,
        deployment_id text NOT NULL UNIQUE,
        outcome text NOT NULL,
        error text,
        migrations text NOT NULL,
        ended_at {ts} NOT NULL,
        duration_ms integer NOT NULL,
        rows_digest char(64) NOT NULL,
        hash_kind text NOT NULL,
        prev_hash char(64) NOT NULL,
        row_hash char(64) NOT NULL,
        record_source text NOT NULL""",
    # Version 2. A no-transaction script's statements as they commit, one row each, so a
    # run killed half-way leaves how far it got (the migration shows as `running`).
    "migration_progress": """
        migration_hk char(64) NOT NULL,
        deployment_id text NOT NULL,
        load_dts {ts} NOT NULL,
        operation text NOT NULL,
        statements_committed integer NOT NULL,
        statement_count integer NOT NULL,
        record_source text NOT NULL,
        PRIMARY KEY (migration_hk, load_dts)""",
}

# Tables version 2 added (absent from a version-1 ledger until it is upgraded).
ADDED_TABLES = ("deployment_end", "migration_progress")
# The body of the function the PostgreSQL guards call; the audit checks it is unchanged.
_REFUSE_BODY = (
    " BEGIN RAISE EXCEPTION 'the vcsync ledger is insert-only: % on % refused', "
    "TG_OP, TG_TABLE_NAME; END "
)

# Columns later versions added to version 1's tables (nullable: old rows keep NULL).
ADDED_COLUMNS = {
    "ledger_version": {"deployment_id": "text"},
    "schema_migration_h": {"deployment_id": "text"},
    "schema_migration_s": {"down_no_transaction": "{bool}"},
    "deployment_log": {"hash_kind": "text"},  # NULL: a version-1 row (chain without digests)
    "release_h": {"deployment_id": "text"},
    "release_s": {"deployment_id": "text"},
}

# The views (DESIGN §5) that teams query in SQL. Each starts with the columns §5 names, in
# its order; the columns version 2's views had follow under their old names, so queries
# written against them (and vcsync's own reader, which runs migration_dashboard's query)
# keep working. Replaced on every upgrade; the audit compares them with these definitions.
VIEWS = {
    # The newest state of each migration in each environment, and the tag of the run that
    # wrote it. applied_at (= changed_at) is when that newest state was recorded.
    "migration_dashboard": """
        SELECT h.migration_hk, h.version, s.description, s.environment AS environment_name,
               s.status, s.load_dts AS applied_at, s.commit_sha, d.tag AS release_tag,
               s.duration_ms, s.checksum,
               h.version_sort, s.environment, s.deployment_id, s.load_dts AS changed_at,
               s.no_transaction, s.up_script, s.down_script, s.failed_statement_index,
               s.failed_statement, s.error, s.down_no_transaction
        FROM {schema_migration_h} h
        JOIN {schema_migration_s} s ON s.migration_hk = h.migration_hk
        LEFT JOIN {deployment_log} d ON d.deployment_id = s.deployment_id
        WHERE s.load_dts = (SELECT max(s2.load_dts) FROM {schema_migration_s} s2
                            WHERE s2.migration_hk = s.migration_hk
                              AND s2.environment = s.environment)""",
    # One row per run: its deployment_log row, completed by its deployment_end row. A run
    # with no end row is still running, or was killed (the next run seals it `interrupted`);
    # a version-1 row was written whole, with no end row (deployment_end NULL).
    "deployment_history": """
        SELECT d.deployment_id, d.environment AS environment_name, d.operation,
               CASE WHEN d.hash_kind IS NULL THEN d.outcome
                    ELSE COALESCE(e.outcome, 'running') END AS outcome,
               d.operator, d.host, d.commit_sha, d.ref AS git_ref, d.tag AS release_tag,
               d.started_at AS deployment_start, e.ended_at AS deployment_end,
               COALESCE(e.duration_ms, d.duration_ms) AS duration_ms,
               COALESCE(e.migrations, d.migrations) AS migrations, d.reason,
               COALESCE(e.error, d.error) AS error,
               d.seq, d.dry_run, d.started_at, d.environment, d.ref, d.tag
        FROM {deployment_log} d
        LEFT JOIN {deployment_end} e ON e.deployment_id = d.deployment_id""",
    # One row per environment the ledger has states for: its highest applied migration
    # (version NULL when every migration it ran is rolled back or failed).
    "database_version": """
        SELECT n.environment_name, m.version, m.description, m.commit_sha, m.release_tag,
               m.applied_at
        FROM (SELECT DISTINCT environment_name FROM {migration_dashboard}) n
        LEFT JOIN {migration_dashboard} m
          ON m.environment_name = n.environment_name
         AND m.status IN ('applied', 'baselined', 'rollback_failed')
         AND m.version_sort = (SELECT max(m2.version_sort) FROM {migration_dashboard} m2
                               WHERE m2.environment_name = n.environment_name
                                 AND m2.status IN ('applied', 'baselined', 'rollback_failed'))""",
}

_TYPES = {
    POSTGRES: {"ts": "timestamptz", "bool": "boolean"},
    "sqlite": {"ts": "text", "bool": "integer"},
}


def names(conn: Connection, schema: str) -> dict[str, str]:
    """Every ledger object's quoted name, for str.format."""
    return {name: conn.table(schema, name) for name in (*TABLES, *VIEWS)}


def columns(table: str) -> dict[str, str]:
    """A ledger table's columns in order, each with its kind: "ts", "bool" or "".

    Readers that hash rows (ledger/chain.py) normalise values by kind, so SQLite's text
    timestamps and 0/1 booleans hash like PostgreSQL's."""
    found: dict[str, str] = {}
    for line in TABLES[table].split(","):
        words = line.split()
        if words and words[0].isidentifier() and words[0].upper() not in ("PRIMARY", "UNIQUE"):
            found[words[0]] = _kind(" ".join(words[1:]))
    for name, kind in ADDED_COLUMNS.get(table, {}).items():
        found[name] = _kind(kind)
    return found


def _kind(definition: str) -> str:
    return "ts" if "{ts}" in definition else "bool" if "{bool}" in definition else ""


def _statements(conn: Connection, schema: str) -> list[str]:
    quoted = names(conn, schema)
    kind = conn.target.kind
    fill = {**quoted, **_TYPES.get(kind, _TYPES["sqlite"])}
    statements = []
    if kind == POSTGRES:
        schema_name = quoted["ledger_version"].rsplit(".", 1)[0]
        statements += [
            f"CREATE SCHEMA IF NOT EXISTS {schema_name}",
            f"CREATE OR REPLACE FUNCTION {schema_name}.refuse_change() RETURNS trigger "
            f"LANGUAGE plpgsql AS $${_REFUSE_BODY}$$",
        ]
    statements += [f"DROP VIEW IF EXISTS {quoted[view]}" for view in reversed(VIEWS)]
    for table, definition in TABLES.items():
        exists = conn.has_table(schema, table)
        statements.append(
            f"CREATE TABLE IF NOT EXISTS {quoted[table]} ({definition.format(**fill)})"
        )
        present = present_columns(conn, schema, table) if exists else set()
        statements += [
            f"ALTER TABLE {quoted[table]} ADD COLUMN {name} {column.format(**fill)}"
            for name, column in ADDED_COLUMNS.get(table, {}).items()
            if name not in present
        ]
        if not exists:
            statements += _guards(kind, quoted[table], table, schema)
    for view, query in VIEWS.items():
        statements.append(f"CREATE VIEW {quoted[view]} AS {query.format(**fill)}")
    if kind == POSTGRES:
        from vcsync.ledger.functions import function_statements

        statements += function_statements(quoted["ledger_version"].rsplit(".", 1)[0])
    return statements


def present_columns(conn: Connection, schema: str, table: str) -> set[str]:
    if conn.target.kind == POSTGRES:
        rows = conn.query(
            "SELECT attname FROM pg_attribute WHERE attrelid = to_regclass(%s) AND attnum > 0 "
            "AND NOT attisdropped",
            [conn.table(schema, table)],
        )
    else:
        rows = conn.query("SELECT name FROM pragma_table_info(%s)", [f"{schema}__{table}"])
    return {row[0] for row in rows}


def _guards(kind: str, quoted: str, table: str, schema: str) -> list[str]:
    if kind == POSTGRES:
        function = quoted.rsplit(".", 1)[0] + ".refuse_change()"
        return [
            f"CREATE TRIGGER insert_only BEFORE UPDATE OR DELETE ON {quoted} "
            f"FOR EACH ROW EXECUTE FUNCTION {function}",
            f"CREATE TRIGGER insert_only_truncate BEFORE TRUNCATE ON {quoted} "
            f"FOR EACH STATEMENT EXECUTE FUNCTION {function}",
        ]
    return [
        f'CREATE TRIGGER IF NOT EXISTS "{schema}__{table}_no_{op.lower()}" BEFORE {op} '
        f"ON {quoted} BEGIN SELECT RAISE(ABORT, 'the vcsync ledger is insert-only'); END"
        for op in ("UPDATE", "DELETE")
    ]


# pg_trigger.tgtype of the two guards: ROW|BEFORE|DELETE|UPDATE, and BEFORE|TRUNCATE.
_GUARD_TYPES = {"insert_only": 27, "insert_only_truncate": 34}


def missing_guards(conn: Connection, schema: str) -> list[str]:
    """The ledger tables whose insert-only guards are gone or do nothing: dropped, disabled
    or set to fire only for replication, pointed at another function, or a function whose
    body no longer refuses (PostgreSQL); dropped or rewritten (SQLite)."""
    if conn.target.kind == POSTGRES:
        rows = conn.query(
            "SELECT c.relname, t.tgname, t.tgtype, p.prosrc FROM pg_class c "
            "JOIN pg_namespace n ON n.oid = c.relnamespace "
            "JOIN pg_trigger t ON t.tgrelid = c.oid AND t.tgenabled IN ('O', 'A') "
            "JOIN pg_proc p ON p.oid = t.tgfoid AND p.proname = 'refuse_change' "
            "AND p.pronamespace = n.oid "
            "WHERE n.nspname = %s AND c.relkind = 'r'",
            [schema],
        )
        working: dict[str, set[str]] = {}
        for table, name, kind, body in rows:
            if _GUARD_TYPES.get(name) == kind and body == _REFUSE_BODY:
                working.setdefault(table, set()).add(name)
        guarded = {table for table, names in working.items() if names == set(_GUARD_TYPES)}
    else:
        rows = conn.query(
            "SELECT tbl_name, sql FROM sqlite_schema WHERE type = 'trigger' AND name LIKE %s",
            [f"{schema}__%_no_%"],
        )
        found: dict[str, set[str]] = {}
        for table, text in rows:
            found.setdefault(table, set()).add(text)
        guarded = {
            table
            for table in TABLES
            if {
                guard.replace(" IF NOT EXISTS", "", 1)
                for guard in _guards("sqlite", conn.table(schema, table), table, schema)
            }
            <= found.get(f"{schema}__{table}", set())
        }
    return [table for table in TABLES if table not in guarded and conn.has_table(schema, table)]


def altered_views(conn: Connection, schema: str) -> list[str]:
    """The ledger views whose definition is no longer the one vcsync wrote (a view redefined
    to hide a migration from whoever reads it in SQL). Only on a current ledger: an older
    one keeps its own version's views until it is upgraded."""
    table = conn.table(schema, "ledger_version")
    if conn.query(f"SELECT max(version) FROM {table}")[0][0] != LEDGER_VERSION:
        return []
    quoted = names(conn, schema)
    fill = {**quoted, **_TYPES.get(conn.target.kind, _TYPES["sqlite"])}
    altered = []
    for view, query in VIEWS.items():
        expected = query.format(**fill)
        if conn.target.kind == POSTGRES:  # compare as the server prints both definitions
            conn.begin()
            try:
                conn.run(f"CREATE TEMP VIEW vcsync_expected_view AS {expected}")
                same = conn.query(
                    "SELECT pg_get_viewdef(to_regclass(%s)) = "
                    "pg_get_viewdef('vcsync_expected_view'::regclass)",
                    [quoted[view]],
                )[0][0]
            except DatabaseError:  # what it reads was redefined too, or is gone
                same = False
            finally:
                conn.rollback()
        else:
            rows = conn.query(
                "SELECT sql FROM sqlite_schema WHERE type = 'view' AND name = %s",
                [f"{schema}__{view}"],
            )
            same = bool(rows) and rows[0][0] == f"CREATE VIEW {quoted[view]} AS {expected}"
        if not same:
            altered.append(view)
    return altered


def missing_tables(conn: Connection, schema: str) -> list[str]:
    """The ledger tables that are gone from a ledger that exists (dropped by hand)."""
    present = [table for table in TABLES if conn.has_table(schema, table)]
    if not present:
        return []
    version = "ledger_version"
    if version in present:
        found = conn.query(f"SELECT max(version) FROM {conn.table(schema, version)}")[0][0] or 0
        if found < LEDGER_VERSION:  # not upgraded yet: only its own version's tables
            return [t for t in TABLES if t not in present and t not in ADDED_TABLES]
    return [table for table in TABLES if table not in present]


def ensure_ledger(
    conn: Connection, schema: str, deployment_id: str, *, own_transaction: bool = True
) -> None:
    """Create the ledger on first use, upgrade an older one in place, refuse one written
    by a newer vcsync. Call under the lock."""
    from datetime import UTC, datetime

    if conn.has_table(schema, "ledger_version"):
        table = conn.table(schema, "ledger_version")
        found = conn.query(f"SELECT max(version) FROM {table}")[0][0] or 0
        if found > LEDGER_VERSION:
            raise OperationFailed(
                f"the ledger in {conn.target.display} has version {found}, written by a newer "
                f"vcsync (this one knows {LEDGER_VERSION}); upgrade vcsync."
            )
        if found == LEDGER_VERSION:
            return
    if own_transaction:
        conn.begin()
    try:
        for statement in _statements(conn, schema):
            conn.run(statement)
        conn.execute(
            f"INSERT INTO {conn.table(schema, 'ledger_version')} "
            "(version, load_dts, record_source, deployment_id) VALUES (%s, %s, %s, %s)",
            [LEDGER_VERSION, datetime.now(UTC), RECORD_SOURCE, deployment_id],
        )
        if own_transaction:
            conn.commit()
    except BaseException:
        if own_transaction:
            conn.rollback()
        raise
