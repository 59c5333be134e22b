"""Reading the ledger back: the newest state of each migration, the deployment log, and
the schema snapshots recorded after deployments."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, NamedTuple

from vcsync.db import Connection, Row
from vcsync.ledger.writer import Deployment
from vcsync.snapshot import Snapshot, snapshot_from_json

APPLIED = ("applied", "baselined")


class MigrationState(NamedTuple):
    version: str
    version_sort: str
    status: str
    description: str
    checksum: str | None
    commit_sha: str | None
    deployment_id: str
    changed_at: datetime
    no_transaction: bool
    up_script: str | None
    down_script: str | None
    failed_statement_index: int | None
    failed_statement: str | None
    error: str | None

    @property
    def applied(self) -> bool:
        return self.status in APPLIED


def _when(value: Any) -> datetime:
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(value)
    return moment.astimezone(UTC)


def _typed(
    fields: tuple[str, ...], row: Row, times: tuple[str, ...], flags: tuple[str, ...]
) -> list[Any]:
    """Back-end values as Python ones: SQLite returns timestamps as text, booleans as 0/1."""
    values = list(row)
    for name in times:
        values[fields.index(name)] = _when(values[fields.index(name)])
    for name in flags:
        values[fields.index(name)] = bool(values[fields.index(name)])
    return values


def migration_states(conn: Connection, schema: str) -> dict[str, MigrationState]:
    """By version_sort; empty when the database has no ledger yet."""
    if not conn.has_table(schema, "ledger_version"):
        return {}
    fields = MigrationState._fields
    view = conn.table(schema, "migration_dashboard")
    rows = conn.query(f"SELECT {', '.join(fields)} FROM {view}")
    states = [
        MigrationState(*_typed(fields, r, ("changed_at",), ("no_transaction",))) for r in rows
    ]
    return {state.version_sort: state for state in states}


class LoggedDeployment(NamedTuple):
    """A deployment_log row: the deployment and the links of its hash chain."""

    seq: int
    prev_hash: str
    row_hash: str
    deployment: Deployment


def deployment_log(
    conn: Connection, schema: str, *, newest_first: bool = False, limit: int | None = None
) -> list[LoggedDeployment]:
    """The log in `seq` order; empty when the database has no ledger yet."""
    if not conn.has_table(schema, "ledger_version"):
        return []
    fields = Deployment._fields
    table = conn.table(schema, "deployment_log")
    rows = conn.query(
        f"SELECT seq, prev_hash, row_hash, {', '.join(fields)} FROM {table} ORDER BY seq"
        + (" DESC" if newest_first else "")
        + (f" LIMIT {int(limit)}" if limit else "")
    )
    return [
        LoggedDeployment(
            seq,
            prev_hash,
            stored,
            Deployment(*_typed(fields, tuple(values), ("started_at",), ("dirty", "dry_run"))),
        )
        for seq, prev_hash, stored, *values in rows
    ]


def deployments(conn: Connection, schema: str, limit: int | None = None) -> list[Deployment]:
    """Newest first."""
    return [row.deployment for row in deployment_log(conn, schema, newest_first=True, limit=limit)]


def latest_snapshot(conn: Connection, schema: str) -> tuple[str, Snapshot] | None:
    """The newest recorded snapshot and its deployment id; None when there is none."""
    if not conn.has_table(schema, "schema_snapshot"):
        return None
    # Two runs may share a timestamp's resolution; the log's sequence breaks the tie.
    rows = conn.query(
        f"SELECT s.deployment_id, s.snapshot FROM {conn.table(schema, 'schema_snapshot')} s "
        f"LEFT JOIN {conn.table(schema, 'deployment_log')} d "
        "ON d.deployment_id = s.deployment_id "
        "ORDER BY s.load_dts DESC, d.seq DESC LIMIT 1"
    )
    if not rows:
        return None
    deployment_id, text = rows[0]
    return deployment_id, snapshot_from_json(text)


def snapshot_for(conn: Connection, schema: str, deployment_id: str) -> Snapshot | None:
    """The snapshot recorded after deployment `deployment_id`, if one was."""
    if not conn.has_table(schema, "schema_snapshot"):
        return None
    rows = conn.query(
        f"SELECT snapshot FROM {conn.table(schema, 'schema_snapshot')} WHERE deployment_id = %s",
        [deployment_id],
    )
    return snapshot_from_json(rows[0][0]) if rows else None
