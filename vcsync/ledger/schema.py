"""The ledger's objects, defined once for both back ends, created idempotently and versioned.

Data Vault 2.0 style: hubs hold business keys and their SHA-256 hash keys, satellites
hold state over time. Every table refuses UPDATE and DELETE through a trigger, so the
history survives for audit; `ledger_version` lets a later vcsync upgrade it in place.
"""

from __future__ import annotations

from vcsync.db import Connection
from vcsync.db.urls import POSTGRES
from vcsync.errors import OperationFailed

LEDGER_VERSION = 1
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
}

# The newest satellite row of each migration; what `status` and the seed workflow read.
VIEWS = {
    "migration_dashboard": """
        SELECT h.version, h.version_sort, s.status, s.description, s.checksum,
               s.environment, s.commit_sha, s.deployment_id, s.load_dts AS changed_at,
               s.no_transaction, s.up_script, s.down_script, s.duration_ms,
               s.failed_statement_index, s.failed_statement, s.error
        FROM {schema_migration_h} h
        JOIN {schema_migration_s} s ON s.migration_hk = h.migration_hk
        WHERE s.load_dts = (SELECT max(s2.load_dts) FROM {schema_migration_s} s2
                            WHERE s2.migration_hk = s.migration_hk)""",
    "deployment_history": """
        SELECT seq, started_at, environment, operation, operator, host, commit_sha, ref, tag,
               outcome, duration_ms, migrations, dry_run, reason, error, deployment_id
        FROM {deployment_log}""",
    "database_version": """
        SELECT version, description, commit_sha, changed_at AS applied_at
        FROM {migration_dashboard}
        WHERE status IN ('applied', 'baselined')
          AND version_sort = (SELECT max(version_sort) FROM {migration_dashboard}
                              WHERE status IN ('applied', 'baselined'))""",
}

_TYPES = {
    POSTGRES: {"ts": "timestamptz", "bool": "boolean"},
    "sqlite": {"ts": "text", "bool": "integer"},
}


def names(conn: Connection, schema: str) -> dict[str, str]:
    """Every ledger object's quoted name, for str.format."""
    return {name: conn.table(schema, name) for name in (*TABLES, *VIEWS)}


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
            "LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION "
            "'the vcsync ledger is insert-only: % on % refused', TG_OP, TG_TABLE_NAME; END $$",
        ]
    for table, columns in TABLES.items():
        statements.append(f"CREATE TABLE IF NOT EXISTS {quoted[table]} ({columns.format(**fill)})")
        statements += _guards(kind, quoted[table], table, schema)
    for view, query in VIEWS.items():
        statements.append(f"CREATE VIEW {quoted[view]} AS {query.format(**fill)}")
    return statements


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


def ensure_ledger(conn: Connection, schema: str, *, own_transaction: bool = True) -> None:
    """Create the ledger on first use; refuse one written by a newer vcsync. Call under the lock."""
    from datetime import UTC, datetime

    if conn.has_table(schema, "ledger_version"):
        table = conn.table(schema, "ledger_version")
        found = conn.query(f"SELECT max(version) FROM {table}")[0][0] or 0
        if found > LEDGER_VERSION:
            raise OperationFailed(
                f"the ledger in {conn.target.display} has version {found}, written by a newer "
                f"vcsync (this one knows {LEDGER_VERSION}); upgrade vcsync."
            )
        return
    if own_transaction:
        conn.begin()
    try:
        for statement in _statements(conn, schema):
            conn.run(statement)
        conn.execute(
            f"INSERT INTO {conn.table(schema, 'ledger_version')} "
            "(version, load_dts, record_source) VALUES (%s, %s, %s)",
            [LEDGER_VERSION, datetime.now(UTC), RECORD_SOURCE],
        )
        if own_transaction:
            conn.commit()
    except BaseException:
        if own_transaction:
            conn.rollback()
        raise
