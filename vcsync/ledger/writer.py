"""The only code that writes ledger rows, and it only inserts.

Each write checks it touched exactly the rows it meant to. A run's `deployment_log`
row (written when it starts) and its `deployment_end` row (when it ends) are links of
the hash chain of ledger/chain.py; every other row carries the run's deployment_id and
is covered by the digest in the end row.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import NamedTuple

from vcsync.db import Connection
from vcsync.errors import OperationFailed
from vcsync.ledger.chain import hash_kind, head, link_hash, normalised, rows_digest
from vcsync.ledger.schema import RECORD_SOURCE, columns
from vcsync.snapshot import Snapshot, snapshot_hash, snapshot_json


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
    down_no_transaction: bool | None = None


class RunEnd(NamedTuple):
    """What a run's deployment_end row says: how it ended."""

    deployment_id: str
    outcome: str  # succeeded, failed, interrupted
    error: str | None
    migrations: str
    ended_at: datetime
    duration_ms: int


class Deployment(NamedTuple):
    """One run of migrate, rollback, baseline, repair or tag-release: its deployment_log row
    (written with outcome `running` when it starts), or as history shows it once ended."""

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


# A batched migration's start, noted by the server as its transaction begins: now() will not
# do, since every statement of one multi-statement query shares the query's arrival time.
SERVER_START = "SELECT set_config('vcsync.started', clock_timestamp()::text, true)"
# Its duration, as the server sees it at the moment its ledger row goes in.
SERVER_DURATION = ServerValue(
    "(extract(epoch FROM clock_timestamp() - current_setting('vcsync.started')::timestamptz)"
    " * 1000)::integer"
)


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
            f"INSERT INTO {hub} (migration_hk, version, version_sort, load_dts, record_source, "
            "deployment_id) VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (migration_hk) DO NOTHING",
            [
                hk,
                event.version,
                event.version_sort,
                event.load_dts,
                RECORD_SOURCE,
                event.deployment_id,
            ],
        ),
        _insert_sql(
            conn.table(schema, "schema_migration_s"),
            {"migration_hk": hk, **fields, "record_source": RECORD_SOURCE},
        ),
    ]


def record_hub(conn: Connection, schema: str, event: MigrationEvent) -> None:
    """The migration's hub row alone, on first sight (before its first progress row)."""
    hub_sql, hub_params = migration_rows(conn, schema, event)[0]
    conn.execute(hub_sql, hub_params)


def record_migration(conn: Connection, schema: str, event: MigrationEvent) -> None:
    """Hub row on first sight, then the satellite row; inside the caller's transaction."""
    (hub_sql, hub_params), satellite = migration_rows(conn, schema, event)
    conn.execute(hub_sql, hub_params)
    _insert_one(conn, conn.table(schema, "schema_migration_s"), *satellite)


def record_progress(
    conn: Connection,
    schema: str,
    migration_hk: str,
    deployment_id: str,
    load_dts: datetime,
    operation: str,
    committed: int,
    count: int,
) -> None:
    """How far a script running outside a transaction has committed; outside any
    transaction itself, so it survives the run being killed next."""
    _insert(
        conn,
        conn.table(schema, "migration_progress"),
        {
            "migration_hk": migration_hk,
            "deployment_id": deployment_id,
            "load_dts": load_dts,
            "operation": operation,
            "statements_committed": committed,
            "statement_count": count,
            "record_source": RECORD_SOURCE,
        },
    )


def legacy_row_hash(prev_hash: str, deployment: Deployment) -> str:
    """A version-1 link (a deployment_log row written whole at the end of its run, before
    runs had end rows): SHA-256 over the previous hash and the row's values."""
    values = {
        k: v.astimezone(UTC).isoformat() if isinstance(v, datetime) else v
        for k, v in deployment._asdict().items()
    }
    payload = prev_hash + json.dumps(values, sort_keys=True, default=str)
    return hashlib.sha256(payload.encode()).hexdigest()


def _append_link(
    conn: Connection, schema: str, table: str, row: dict[str, object], key: bytes | None
) -> str:
    """Insert `row` as the chain's next link (under the deploy lock: no race); its hash."""
    seq, prev = head(conn, schema)
    full = {
        "seq": seq + 1,
        **row,
        "hash_kind": hash_kind(key),
        "prev_hash": prev,
        "record_source": RECORD_SOURCE,
    }
    names = list(columns(table))
    values = normalised(table, names, tuple(full.get(name) for name in names))
    full["row_hash"] = link_hash(prev, table, values, key)
    _insert(conn, conn.table(schema, table), full)
    return str(full["row_hash"])


def record_start(conn: Connection, schema: str, start: Deployment, key: bytes | None) -> None:
    """The run's first link, before anything runs, so a killed run still shows in history;
    how it ends goes in its end row (record_end): `start` says outcome `running`."""
    _append_link(conn, schema, "deployment_log", start._asdict(), key)


def record_end(conn: Connection, schema: str, end: RunEnd, key: bytes | None) -> None:
    """The run's closing link, with the digest of every other row the run wrote."""
    digest = rows_digest(conn, schema, end.deployment_id, key)
    _append_link(conn, schema, "deployment_end", {**end._asdict(), "rows_digest": digest}, key)


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
