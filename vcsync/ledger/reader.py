"""Reading the ledger back: the newest state of each migration, the deployment log, and
the schema snapshots recorded after deployments."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

from vcsync.db import Connection, Row
from vcsync.ledger.schema import VIEWS, names
from vcsync.ledger.writer import Deployment
from vcsync.snapshot import Snapshot, snapshot_from_json

# A failed rollback leaves its migration applied (DESIGN §4): the next migrate must not
# run its up again, and the next rollback retries that same migration.
APPLIED = ("applied", "baselined", "rollback_failed")
_TICK = timedelta(microseconds=1)
RUNNING = "running"  # a script outside a transaction was interrupted half-way


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
    down_no_transaction: bool | None = None
    # From migration_progress, for a script run outside a transaction: statements committed
    # by the newest run that touched it, and how many it has; the operation that ran it.
    statements_committed: int | None = None
    statement_count: int | None = None
    progress_operation: str | None = None

    @property
    def applied(self) -> bool:
        """Applied in the database: also while its rollback failed or was interrupted."""
        if self.status == RUNNING:
            return self.progress_operation == "rollback"
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
    fields = MigrationState._fields[: MigrationState._fields.index("statements_committed")]
    rows = conn.query(f"SELECT {', '.join(fields)} FROM {_dashboard(conn, schema)}")
    # The view has a row per migration and environment name; the database has one state,
    # the newest whichever name wrote it (an environment renamed, or two names for one
    # database). load_dts is unique per migration, so the newest is one row.
    states: dict[str, MigrationState] = {}
    for row in rows:
        state = MigrationState(*_typed(fields, row, ("changed_at",), ("no_transaction",)))
        known = states.get(state.version_sort)
        if known is None or state.changed_at > known.changed_at:
            states[state.version_sort] = state
    return _with_progress(conn, schema, states)


def _dashboard(conn: Connection, schema: str) -> str:
    """The migration_dashboard view's own query, not the view: a view redefined by hand
    (to hide a migration, say) cannot change what vcsync reads. A version-1 ledger not yet
    upgraded lacks the down's transaction mode: NULL says it was not recorded. (Version 2
    added that column and the deployment_end table in one upgrade, and a deploy session
    already knows which tables exist: no catalog query.)"""
    query = VIEWS["migration_dashboard"].format(**names(conn, schema))
    if not conn.has_table(schema, "deployment_end"):
        query = query.replace("s.down_no_transaction", "NULL AS down_no_transaction")
    return f"({query}) dashboard"


def _with_progress(
    conn: Connection, schema: str, states: dict[str, MigrationState]
) -> dict[str, MigrationState]:
    """Each migration's newest progress row: one newer than its newest state means a script
    outside a transaction started and never finished (status `running`); one of the run that
    wrote the state says how far a failed one got."""
    if not conn.has_table(schema, "migration_progress"):
        return states
    hub, progress = (
        conn.table(schema, "schema_migration_h"),
        conn.table(schema, "migration_progress"),
    )
    rows = conn.query(
        f"SELECT h.version_sort, p.load_dts, p.deployment_id, p.operation, "
        f"p.statements_committed, p.statement_count, h.version FROM {progress} p "
        f"JOIN {hub} h ON h.migration_hk = p.migration_hk ORDER BY p.load_dts"
    )
    newest = {row[0]: row for row in rows}
    for key, (_, when, deployment_id, operation, committed, count, version) in newest.items():
        state = states.get(key)
        if state is None:  # its first run was cut off before any state row
            state = MigrationState(
                version,
                key,
                "pending",
                "",
                None,
                None,
                deployment_id,
                _when(when) - _TICK,
                True,
                None,
                None,
                None,
                None,
                None,
            )
        if _when(when) > state.changed_at:
            states[key] = state._replace(
                status=RUNNING,
                deployment_id=deployment_id,
                changed_at=_when(when),
                statements_committed=committed,
                statement_count=count,
                progress_operation=operation,
            )
        elif deployment_id == state.deployment_id:
            states[key] = state._replace(
                statements_committed=committed,
                statement_count=count,
                progress_operation=operation,
            )
    return states


def recorded_durations(conn: Connection, schema: str, deployment_id: str) -> dict[str, int]:
    """How long each migration a run applied took, by version_sort, as its row recorded."""
    rows = conn.query(
        f"SELECT h.version_sort, s.duration_ms FROM {conn.table(schema, 'schema_migration_s')} s "
        f"JOIN {conn.table(schema, 'schema_migration_h')} h ON h.migration_hk = s.migration_hk "
        "WHERE s.deployment_id = %s AND s.status = 'applied'",
        [deployment_id],
    )
    return {key: int(ms or 0) for key, ms in rows}


class UnfinishedRun(NamedTuple):
    """A run whose deployment_log row has no deployment_end row."""

    deployment_id: str
    operation: str
    started_at: datetime
    migrations: str  # the versions it recorded before it stopped
    duration_ms: int  # from its start to the last row it wrote


def unfinished_runs(conn: Connection, schema: str) -> list[UnfinishedRun]:
    """Runs that started and never ended: killed, or still running (call under the deploy
    lock to know they are dead)."""
    if not conn.has_table(schema, "deployment_end"):
        return []
    log, end = conn.table(schema, "deployment_log"), conn.table(schema, "deployment_end")
    satellite = conn.table(schema, "schema_migration_s")
    hub = conn.table(schema, "schema_migration_h")
    found = []
    for deployment_id, operation, started in conn.query(
        f"SELECT d.deployment_id, d.operation, d.started_at FROM {log} d "
        f"LEFT JOIN {end} e ON e.deployment_id = d.deployment_id "
        "WHERE e.deployment_id IS NULL AND d.hash_kind IS NOT NULL ORDER BY d.seq"
    ):
        rows = conn.query(
            f"SELECT h.version, s.load_dts FROM {satellite} s "
            f"JOIN {hub} h ON h.migration_hk = s.migration_hk "
            "WHERE s.deployment_id = %s ORDER BY s.load_dts",
            [deployment_id],
        )
        began = _when(started)
        last = max((_when(when) for _, when in rows), default=began)
        found.append(
            UnfinishedRun(
                deployment_id,
                operation,
                began,
                ",".join(dict.fromkeys(version for version, _ in rows)),
                int((last - began).total_seconds() * 1000),
            )
        )
    return found


# How a run's end row completes its log row; a run without one is running or was killed.
_ENDED = {
    "outcome": "CASE WHEN d.hash_kind IS NULL THEN d.outcome "
    "ELSE COALESCE(e.outcome, 'running') END",
    "error": "COALESCE(e.error, d.error)",
    "migrations": "COALESCE(e.migrations, d.migrations)",
    "duration_ms": "COALESCE(e.duration_ms, d.duration_ms)",
}


def deployments(conn: Connection, schema: str, limit: int | None = None) -> list[Deployment]:
    """Newest first, each run's start row completed by its end row (a version-1 ledger not
    upgraded yet has no end rows: its rows were written whole); empty without a ledger."""
    if not conn.has_table(schema, "ledger_version"):
        return []
    fields = Deployment._fields
    log = conn.table(schema, "deployment_log")
    if conn.has_table(schema, "deployment_end"):
        selected = ", ".join(_ENDED.get(name, f"d.{name}") for name in fields)
        joined = f"{log} d LEFT JOIN {conn.table(schema, 'deployment_end')} e "
        joined += "ON e.deployment_id = d.deployment_id"
    else:
        selected, joined = ", ".join(f"d.{name}" for name in fields), f"{log} d"
    rows = conn.query(
        f"SELECT {selected} FROM {joined} ORDER BY d.seq DESC"
        + (f" LIMIT {int(limit)}" if limit else "")
    )
    return [Deployment(*_typed(fields, row, ("started_at",), ("dirty", "dry_run"))) for row in rows]


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
