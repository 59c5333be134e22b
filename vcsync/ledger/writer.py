"""The only code that writes ledger rows, and it only inserts.

Each write checks it touched exactly the rows it meant to. `deployment_log` rows are
chained: each carries the hash of the row before it, so an edit to history shows.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import NamedTuple

from vcsync.db import Connection
from vcsync.errors import OperationFailed
from vcsync.ledger.schema import RECORD_SOURCE
from vcsync.snapshot import Snapshot, snapshot_hash, snapshot_json

GENESIS = "0" * 64


def hash_key(business_key: str) -> str:
    """Data Vault hash key: SHA-256 of the trimmed, upper-cased business key."""
    return hashlib.sha256(business_key.strip().upper().encode()).hexdigest()


class MigrationEvent(NamedTuple):
    """One state change of one migration in one database."""

    business_key: str  # the normalised version ("1.4" for 1.4.0) or R__description
    version: str
    version_sort: str
    status: str
    description: str
    checksum: str | None
    up_script: str | None
    down_script: str | None
    no_transaction: bool
    commit_sha: str | None
    deployment_id: str
    environment: str
    target: str
    load_dts: datetime
    duration_ms: int | ServerValue | None = None
    failed_statement_index: int | None = None
    failed_statement: str | None = None
    error: str | None = None


class Deployment(NamedTuple):
    """One run of migrate, rollback, baseline or repair: a `deployment_log` row."""

    deployment_id: str
    environment: str
    target: str
    operation: str
    operator: str
    host: str
    commit_sha: str | None
    ref: str | None
    tag: str | None
    dirty: bool
    vcsync_version: str
    dry_run: bool
    outcome: str
    error: str | None
    reason: str | None
    migrations: str
    started_at: datetime
    duration_ms: int


class ServerValue(str):
    """A value the server computes (SQL written as is): a batched migration's duration."""


# A migration's duration, as its own transaction sees it at the moment its ledger row goes in.
SERVER_DURATION = ServerValue("(extract(epoch FROM clock_timestamp() - now()) * 1000)::integer")


def _insert_sql(table: str, row: dict[str, object]) -> tuple[str, list[object]]:
    columns = ", ".join(row)
    marks = ", ".join(v if isinstance(v, ServerValue) else "%s" for v in row.values())
    params = [v for v in row.values() if not isinstance(v, ServerValue)]
    return f"INSERT INTO {table} ({columns}) VALUES ({marks})", params


def _insert(conn: Connection, table: str, row: dict[str, object]) -> None:
    _insert_one(conn, table, *_insert_sql(table, row))


def _insert_one(conn: Connection, table: str, sql: str, params: list[object]) -> None:
    touched = conn.execute(sql, params)
    if touched != 1:
        raise OperationFailed(f"the ledger insert into {table} touched {touched} rows, not 1.")


def migration_rows(
    conn: Connection, schema: str, event: MigrationEvent
) -> list[tuple[str, list[object]]]:
    """The hub row (on first sight) and the satellite row of one state change, as SQL."""
    hk = hash_key(event.business_key)
    hub = conn.table(schema, "schema_migration_h")
    fields = event._asdict()
    for key in ("business_key", "version", "version_sort"):
        del fields[key]
    return [
        (
            f"INSERT INTO {hub} (migration_hk, version, version_sort, load_dts, record_source) "
            "VALUES (%s, %s, %s, %s, %s) ON CONFLICT (migration_hk) DO NOTHING",
            [hk, event.version, event.version_sort, event.load_dts, RECORD_SOURCE],
        ),
        _insert_sql(
            conn.table(schema, "schema_migration_s"),
            {"migration_hk": hk, **fields, "record_source": RECORD_SOURCE},
        ),
    ]


def record_migration(conn: Connection, schema: str, event: MigrationEvent) -> None:
    """Hub row on first sight, then the satellite row; inside the caller's transaction."""
    (hub_sql, hub_params), satellite = migration_rows(conn, schema, event)
    conn.execute(hub_sql, hub_params)
    _insert_one(conn, conn.table(schema, "schema_migration_s"), *satellite)


def row_hash(prev_hash: str, deployment: Deployment) -> str:
    """The chain link: SHA-256 over the previous hash and this row's values."""
    values = {
        k: v.astimezone(UTC).isoformat() if isinstance(v, datetime) else v
        for k, v in deployment._asdict().items()
    }
    payload = prev_hash + json.dumps(values, sort_keys=True, default=str)
    return hashlib.sha256(payload.encode()).hexdigest()


def record_deployment(conn: Connection, schema: str, deployment: Deployment) -> None:
    """Append to deployment_log under the deploy lock (seq and chain need no race)."""
    table = conn.table(schema, "deployment_log")
    last = conn.query(f"SELECT seq, row_hash FROM {table} ORDER BY seq DESC LIMIT 1")
    seq, prev = (last[0][0] + 1, last[0][1]) if last else (1, GENESIS)
    _insert(
        conn,
        table,
        {
            "seq": seq,
            **deployment._asdict(),
            "prev_hash": prev,
            "row_hash": row_hash(prev, deployment),
            "record_source": RECORD_SOURCE,
        },
    )


def record_snapshot(
    conn: Connection,
    schema: str,
    deployment_id: str,
    environment: str,
    snapshot: Snapshot,
    load_dts: datetime,
) -> None:
    """The schema as a deployment left it; inside the transaction of its deployment_log row."""
    _insert(
        conn,
        conn.table(schema, "schema_snapshot"),
        {
            "deployment_id": deployment_id,
            "environment": environment,
            "load_dts": load_dts,
            "snapshot_hash": snapshot_hash(snapshot),
            "snapshot": snapshot_json(snapshot),
            "record_source": RECORD_SOURCE,
        },
    )
