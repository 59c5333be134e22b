"""Reading the ledger back: the newest state of each migration, and the deployment log."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, NamedTuple

from vcsync.db import Connection, Row
from vcsync.ledger.writer import Deployment

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


def deployments(conn: Connection, schema: str, limit: int | None = None) -> list[Deployment]:
    """Newest first."""
    if not conn.has_table(schema, "ledger_version"):
        return []
    fields = Deployment._fields
    table = conn.table(schema, "deployment_log")
    rows = conn.query(
        f"SELECT {', '.join(fields)} FROM {table} ORDER BY seq DESC"
        + (f" LIMIT {int(limit)}" if limit else "")
    )
    return [Deployment(*_typed(fields, r, ("started_at",), ("dirty", "dry_run"))) for r in rows]
