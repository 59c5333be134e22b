"""One operation against one target: connect, lock, ledger, run scripts, log the run.

Every step is one transaction holding the script's statements and its ledger rows,
unless the script says `no-transaction`. A dry run keeps one transaction open for the
whole plan and rolls it back; only its deployment_log row is kept. Every other run also
records the schema it left (a snapshot), once, in the transaction of its log row.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from types import TracebackType
from typing import NamedTuple

from vcsync.config import Config
from vcsync.db import Connection, ConnectionLost, DatabaseError, connect
from vcsync.db.urls import Target
from vcsync.deploy.plan import Deployable
from vcsync.deploy.provenance import Provenance
from vcsync.ledger.reader import MigrationState, migration_states
from vcsync.ledger.schema import ensure_ledger
from vcsync.ledger.writer import (
    SERVER_DURATION,
    Deployment,
    MigrationEvent,
    ServerValue,
    migration_rows,
    record_deployment,
    record_migration,
    record_snapshot,
)
from vcsync.snapshot import take_snapshot
from vcsync.sql.syntax import substitute_placeholders

BATCH = 100  # migrations per round trip (measured: 6 round trips each cost 1.4x psql)


class StepResult(NamedTuple):
    version: str
    description: str
    action: str  # applied, rolled back, baselined, repaired, failed, not executed; running
    duration_ms: int
    detail: str | None = None


class TargetResult(NamedTuple):
    environment: str
    target: str
    operation: str
    deployment_id: str
    outcome: str  # succeeded, failed
    steps: list[StepResult]
    error: str | None
    recovery: str | None
    warnings: list[str]
    dry_run: bool


class StepFailed(Exception):
    """Statement `index` (1-based) failed; index 0: the script did not split, nothing ran."""

    def __init__(self, index: int, statement: str | None, message: str) -> None:
        super().__init__(message)
        self.index, self.statement, self.message = index, statement, message
        self.item: Deployable | None = None  # the migration it belongs to, once known


Progress = Callable[[StepResult], None]  # each step when it ends, and "running" when it starts


class Session:
    def __init__(
        self,
        config: Config,
        target: Target,
        operation: str,
        origin: Provenance,
        *,
        lock_timeout: float,
        dry_run: bool = False,
        reason: str | None = None,
        progress: Progress | None = None,
    ) -> None:
        self.target, self.schema, self.operation, self.origin = (
            target,
            target.ledger_schema(config.ledger_schema),
            operation,
            origin,
        )
        self.lock_timeout, self.dry_run, self.reason = lock_timeout, dry_run, reason
        self.placeholders = config.placeholders
        self.progress = progress
        self.deployment_id = uuid.uuid4().hex
        self.steps: list[StepResult] = []
        self.warnings: list[str] = []
        self.started = datetime.now(UTC)
        self._clock = time.perf_counter()
        self.conn: Connection

    def __enter__(self) -> Session:
        sha = (self.origin.commit_sha or "no-commit")[:8]
        holder = f"vcsync {self.operation} {self.origin.host} pid={os.getpid()} {sha}"
        self.conn = connect(self.target, holder=holder, create=True)
        try:
            self.conn.lock(self.schema, holder, self.lock_timeout)
            if self.dry_run:
                self.conn.begin()  # the ledger too is created only inside the dry run
            ensure_ledger(self.conn, self.schema, own_transaction=not self.dry_run)
        except BaseException:
            self.conn.close()
            raise
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.conn.close()

    def states(self) -> dict[str, MigrationState]:
        return migration_states(self.conn, self.schema)

    def event(
        self,
        item: Deployable,
        status: str,
        *,
        down_text: str | None = None,
        duration_ms: int | ServerValue | None = None,
        failure: StepFailed | None = None,
    ) -> MigrationEvent:
        return MigrationEvent(
            business_key=item.business_key,
            version=item.version,
            version_sort=item.version_sort,
            status=status,
            description=item.migration.description,
            checksum=item.checksum,
            up_script=item.up_text,
            down_script=down_text if down_text is not None else item.down_text,
            no_transaction=item.no_transaction,
            commit_sha=self.origin.commit_sha,
            deployment_id=self.deployment_id,
            environment=self.target.environment,
            target=self.target.display,
            load_dts=datetime.now(UTC),
            duration_ms=duration_ms,
            failed_statement_index=failure.index if failure else None,
            failed_statement=failure.statement if failure else None,
            error=failure.message if failure else None,
        )

    def record(self, event: MigrationEvent) -> None:
        """A ledger row in its own transaction (or the dry run's)."""
        if self.dry_run:
            record_migration(self.conn, self.schema, event)
            return
        self.conn.begin()
        try:
            record_migration(self.conn, self.schema, event)
            self.conn.commit()
        except BaseException:
            self.conn.rollback()
            raise

    def run_step(
        self,
        item: Deployable,
        text: str,
        *,
        no_transaction: bool,
        done: str,
        failed: str,
        action: str,
        down_text: str | None = None,
    ) -> StepResult:
        """Run one script and record `done` with it in one transaction, or `failed` after."""
        if no_transaction and self.dry_run:
            return self._note(
                StepResult(
                    item.version,
                    item.migration.description,
                    "not executed",
                    0,
                    "no-transaction: cannot run inside a dry run",
                )
            )
        script = substitute_placeholders(text, self.placeholders, item.migration.up.path)
        self._announce(item.version, item.migration.description)
        start = time.perf_counter()
        own = not (self.dry_run or no_transaction)
        if own:
            self.conn.begin()
        try:
            self._run_statements(script)
            if no_transaction and not self.dry_run:
                self.conn.begin()
                own = True
            ms = _ms(start)
            record_migration(
                self.conn, self.schema, self.event(item, done, down_text=down_text, duration_ms=ms)
            )
            if own:
                self.conn.commit()
        except StepFailed as failure:
            failure.item = item
            if own:
                self.conn.rollback()
            if not self.dry_run:
                self.record(
                    self.event(
                        item, failed, down_text=down_text, duration_ms=_ms(start), failure=failure
                    )
                )
            self._note(
                StepResult(
                    item.version, item.migration.description, "failed", _ms(start), failure.message
                )
            )
            raise
        except ConnectionLost:
            raise  # nothing can be rolled back or recorded on a dead connection
        except BaseException:
            if own:
                self.conn.rollback()
            raise
        return self._note(StepResult(item.version, item.migration.description, action, ms))

    def apply(self, plan: list[Deployable]) -> None:
        """Apply migrations in order (raising StepFailed at the first that fails).

        Where the back end batches, runs of transactional migrations go up to BATCH at a time
        in one round trip, each still its own transaction with its ledger rows; the server
        stops at the first error and vcsync re-runs that migration alone, so the failure is
        reported and recorded exactly as without a batch."""
        batch: list[tuple[Deployable, str]] = []
        for item in plan:
            text = self._batched(item)
            if text is not None:
                batch.append((item, text))
                if len(batch) < BATCH:
                    continue
            self._apply_batch(batch)
            batch = []
            if text is None and self._apply_alone(item).action == "not executed":
                return  # a dry run cannot go past a no-transaction migration
        self._apply_batch(batch)

    def _apply_alone(self, item: Deployable) -> StepResult:
        return self.run_step(
            item,
            item.up_text,
            no_transaction=item.no_transaction,
            done="applied",
            failed="failed",
            action="applied",
        )

    def _batched(self, item: Deployable) -> str | None:
        """The migration's transaction as text, or None where it must run alone: a dry run,
        a no-transaction script, a back end that does not batch, a script that does not
        split (run alone, it fails and is recorded like any other failure)."""
        if not self.conn.batches or self.dry_run or item.no_transaction:
            return None
        try:
            return self._transaction(item)
        except DatabaseError:
            return None

    def _apply_batch(self, pairs: list[tuple[Deployable, str]]) -> None:
        if not pairs:
            return
        batch = [item for item, _ in pairs]
        if len(batch) == 1:
            self._announce(batch[0].version, batch[0].migration.description)
        else:
            self._announce(f"{batch[0].version}..{batch[-1].version}", f"({len(batch)} migrations)")
        start = time.perf_counter()
        try:
            self.conn.run("\n".join([text for _, text in pairs]))
        except DatabaseError:
            self.conn.rollback()  # the one transaction that failed; those before it committed
            applied = {
                s.version_sort
                for s in self.states().values()
                if s.deployment_id == self.deployment_id and s.status == "applied"
            }
            for item in batch:
                if item.version_sort in applied:
                    self._note(StepResult(item.version, item.migration.description, "applied", 0))
                else:  # the failing one, alone, statement by statement
                    self._apply_alone(item)
            return
        each = _ms(start) // len(batch)
        for item in batch:
            self._note(StepResult(item.version, item.migration.description, "applied", each))

    def _transaction(self, item: Deployable) -> str:
        """One migration's transaction as text: its statements, then its ledger rows. The
        commit need not wait for the disk: the run's last commit (deployment_log) does, and
        a crash before it loses only migrations the next run applies again."""
        script = substitute_placeholders(item.up_text, self.placeholders, item.migration.up.path)
        event = self.event(item, "applied", duration_ms=SERVER_DURATION)
        rows = [
            self.conn.mogrify(sql, params)
            for sql, params in migration_rows(self.conn, self.schema, event)
        ]
        # "\n;" ends a statement even when its text ends in a line comment
        body = "\n;\n".join([*self.conn.split(script), *rows])
        return f"BEGIN;\nSET LOCAL synchronous_commit TO off;\n{body}\n;\nCOMMIT;"

    def _run_statements(self, script: str) -> None:
        try:
            statements = self.conn.split(script)
        except DatabaseError as exc:
            raise StepFailed(0, None, str(exc)) from None
        for index, statement in enumerate(statements, start=1):
            try:
                self.conn.run(statement)
            except DatabaseError as exc:
                raise StepFailed(
                    index, statement, f"statement {index} of {len(statements)} failed: {exc}"
                ) from None

    def _announce(self, version: str, description: str) -> None:
        if self.progress:
            self.progress(StepResult(version, description, "running", 0))

    def _note(self, step: StepResult) -> StepResult:
        self.steps.append(step)
        if self.progress:
            self.progress(step)
        return step

    def finish(self, *, error: str | None = None, recovery: str | None = None) -> TargetResult:
        """Log the run (after rolling a dry run back) and say how it went."""
        outcome = "failed" if error else "succeeded"
        if self.dry_run:
            self.conn.rollback()
        deployment = Deployment(
            deployment_id=self.deployment_id,
            environment=self.target.environment,
            target=self.target.display,
            operation=self.operation,
            operator=self.origin.operator,
            host=self.origin.host,
            commit_sha=self.origin.commit_sha,
            ref=self.origin.ref,
            tag=self.origin.tag,
            dirty=self.origin.dirty,
            vcsync_version=self.origin.vcsync_version,
            dry_run=self.dry_run,
            outcome=outcome,
            error=error,
            reason=self.reason,
            migrations=",".join(s.version for s in self.steps if s.action != "not executed"),
            started_at=self.started,
            duration_ms=_ms(self._clock),
        )
        if not (self.dry_run and not self.conn.has_table(self.schema, "ledger_version")):
            self.conn.begin()
            try:
                record_deployment(self.conn, self.schema, deployment)
                if not self.dry_run:
                    self._record_snapshot()
                self.conn.commit()
            except BaseException:
                self.conn.rollback()
                raise
        return TargetResult(
            self.target.environment,
            self.target.display,
            self.operation,
            self.deployment_id,
            outcome,
            self.steps,
            error,
            recovery,
            self.warnings,
            self.dry_run,
        )

    def _record_snapshot(self) -> None:
        """The schema this run left, once per run, beside its deployment_log row.

        A catalog the snapshot cannot read must not cost the audit trail its log row:
        the snapshot is dropped (to its savepoint) with a warning instead.
        """
        self.conn.run("SAVEPOINT vcsync_snapshot")
        try:
            snapshot = take_snapshot(self.conn, self.schema)
            record_snapshot(
                self.conn,
                self.schema,
                self.deployment_id,
                self.target.environment,
                snapshot,
                datetime.now(UTC),
            )
        except ConnectionLost:
            raise
        except DatabaseError as exc:
            self.conn.run("ROLLBACK TO SAVEPOINT vcsync_snapshot")
            self.warnings.append(f"no schema snapshot was recorded: {exc}")
        self.conn.run("RELEASE SAVEPOINT vcsync_snapshot")


def _ms(start: float) -> int:
    return int((time.perf_counter() - start) * 1000)
