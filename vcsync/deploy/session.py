"""One operation against one target: connect, lock, ledger, run scripts, log the run.

The ledger tells the truth (DESIGN §4):
- a run writes its deployment_log row before anything runs and its deployment_end row when
  it ends; a run that was killed is sealed `interrupted` by the next one;
- a transactional script commits together with its ledger row, so the row exists exactly
  when the change does; a failure is recorded after the rollback, with the server's error;
- a script that runs outside vcsync's transaction (declared `no-transaction`, or one that
  controls its own: COMMIT, VACUUM, CONCURRENTLY …) records a progress row each time its
  statements commit, so a run killed half-way leaves how far it got;
- no statement is ever executed twice: a batch that fails says which statement failed from
  the results the server sent back;
- a dry run keeps one transaction open for the whole plan and rolls it back; a script that
  cannot run inside it is listed as not executed and the plan stops there.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import Any, NamedTuple, cast

from vcsync.config import Config
from vcsync.db import BatchFailed, Connection, ConnectionLost, DatabaseError, connect
from vcsync.db.urls import POSTGRES, Target
from vcsync.deploy.plan import Deployable
from vcsync.deploy.provenance import Provenance
from vcsync.ledger.chain import describe_head, head, ledger_key
from vcsync.ledger.reader import (
    MigrationState,
    migration_states,
    recorded_durations,
    unfinished_runs,
)
from vcsync.ledger.schema import TABLES, ensure_ledger
from vcsync.ledger.writer import (
    SERVER_DURATION,
    SERVER_START,
    Deployment,
    MigrationEvent,
    RunEnd,
    ServerValue,
    hash_key,
    migration_rows,
    record_end,
    record_hub,
    record_migration,
    record_progress,
    record_snapshot,
    record_start,
)
from vcsync.snapshot import take_snapshot
from vcsync.sql.effects import POSTGRES as PG_ENGINE
from vcsync.sql.effects import SQLITE as SQLITE_ENGINE
from vcsync.sql.effects import TransactionControl, transaction_control
from vcsync.sql.syntax import mask_placeholders, substitute_placeholders

BATCH = 100  # migrations per round trip (measured: 6 round trips each cost 1.4x psql)
INTERRUPTED = "the run stopped before it finished (killed, or its connection was lost)"


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
    ledger_head: str | None = None  # `seq:hash` of the chain's newest link (DESIGN §5)


class StepFailed(Exception):
    """Statement `index` (1-based) failed; index 0: the script did not split, nothing ran.

    `committed`: for a script run outside vcsync's transaction, how many of its statements
    had committed before the failure (0 for a transactional script: all was rolled back)."""

    def __init__(
        self, index: int, statement: str | None, message: str, *, committed: int = 0
    ) -> None:
        super().__init__(message)
        self.index, self.statement, self.message = index, statement, message
        self.committed = committed
        self.outside = False  # ran outside vcsync's transaction
        self.item: Deployable | None = None  # the migration it belongs to, once known


class Prepared(NamedTuple):
    """A script split as its back end will run it, and whether it can run in a transaction."""

    statements: list[str]
    control: TransactionControl | None  # the statement that makes it run outside one
    declared: bool  # marked no-transaction (directive or the layout's own marker)

    @property
    def outside(self) -> bool:
        return self.declared or self.control is not None

    def why_outside(self) -> str:
        if self.control is None:
            return "marked no-transaction"
        return f"it controls its own transactions ({self.control.describe()})"


def target_name(target: Target) -> str:
    """What a target is called in output, JSON and sharding: its secret-free display
    identity, and for schema-per-tenant its schema (`postgresql://u@h:5432/app#tenant_a`).
    The ledger's rows keep `display`: each tenant's ledger is its own already."""
    return target.display if target.schema is None else f"{target.display}#{target.schema}"


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
        self.sealed_interrupted = False  # this run sealed a killed run (see _open_run)
        self.warnings: list[str] = []
        self.started = datetime.now(UTC)
        self.key = ledger_key()
        self._clock = time.perf_counter()
        self._last_dts = self.started
        self.engine = PG_ENGINE if target.kind == POSTGRES else SQLITE_ENGINE
        self.conn: Connection

    def __enter__(self) -> Session:
        sha = (self.origin.commit_sha or "no-commit")[:8]
        holder = f"vcsync {self.operation} {self.origin.host} pid={os.getpid()} {sha}"
        self.conn = cast(Connection, _KnownTables(connect(self.target, holder=holder, create=True)))
        try:
            self.conn.lock(self.schema, holder, self.lock_timeout)
            if self.dry_run:
                self.conn.begin()  # the ledger too is created only inside the dry run
            ensure_ledger(
                self.conn, self.schema, self.deployment_id, own_transaction=not self.dry_run
            )
            if not self.dry_run:
                self._transaction(self._open_run)
        except BaseException:
            self.conn.close()
            raise
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.conn.close()

    def _transaction(self, body: Callable[[], None], *, opened: bool = False) -> None:
        """`body`, then commit; roll back if it fails. `opened`: the transaction is open
        already (a script's statements wait in it for their ledger row)."""
        if not opened:
            self.conn.begin()
        try:
            body()
            self.conn.commit()
        except ConnectionLost:
            raise
        except BaseException:
            self.conn.rollback()
            raise

    def _open_run(self) -> None:
        """Seal the runs that were killed (we hold the lock: they are dead), then log this
        run's start, before anything of it runs.

        On PostgreSQL this commit does not wait for the disk: WAL is flushed in order, so
        the first later commit that does wait (a script run outside a transaction, the
        run's end row) makes it durable too, and a crash before that loses only a start
        with nothing after it."""
        if self.target.kind == POSTGRES:
            self.conn.run("SET LOCAL synchronous_commit TO off")
        for run in unfinished_runs(self.conn, self.schema):
            self.sealed_interrupted = True  # it may have changed the schema unrecorded
            record_end(
                self.conn,
                self.schema,
                RunEnd(
                    run.deployment_id,
                    "interrupted",
                    INTERRUPTED,
                    run.migrations,
                    datetime.now(UTC),
                    run.duration_ms,
                ),
                self.key,
            )
            self.warnings.append(
                f"the {run.operation} of {run.started_at:%Y-%m-%d %H:%M:%S} UTC "
                f"(deployment {run.deployment_id[:12]}) was interrupted; it is recorded so."
            )
        record_start(self.conn, self.schema, self._run_start(), self.key)

    def _run_start(self) -> Deployment:
        return Deployment(
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
            reason=self.reason,
            started_at=self.started,
            outcome="running",
            error=None,
            migrations="",
            duration_ms=0,
        )

    def states(self) -> dict[str, MigrationState]:
        return migration_states(self.conn, self.schema)

    def load_dts(self) -> datetime:
        """Now, but always after this session's previous ledger row (rows are keyed by it)."""
        now = datetime.now(UTC)
        self._last_dts = max(now, self._last_dts + timedelta(microseconds=1))
        return self._last_dts

    def event(
        self,
        item: Deployable,
        status: str,
        *,
        down_text: str | None = None,
        duration_ms: int | ServerValue | None = None,
        failure: StepFailed | None = None,
        outside: bool | None = None,
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
            no_transaction=item.no_transaction if outside is None else outside,
            commit_sha=self.origin.commit_sha,
            deployment_id=self.deployment_id,
            environment=self.target.environment,
            target=self.target.display,
            load_dts=self.load_dts(),
            duration_ms=duration_ms,
            failed_statement_index=failure.index if failure else None,
            failed_statement=failure.statement if failure else None,
            error=failure.message if failure else None,
            down_no_transaction=self._down_outside(
                item, down_text if down_text is not None else item.down_text
            ),
        )

    def _down_outside(self, item: Deployable, down_text: str | None) -> bool:
        """Whether the rollback will run outside a transaction: declared, or a down that
        controls its own transactions (BEGIN/COMMIT, CONCURRENTLY …), which `rollback`
        runs outside one whatever was declared. The ledger records how it will run, as it
        records how the up ran, so readers (the SQL rollback_migration) need not re-parse."""
        if item.down_no_transaction or not down_text:
            return item.down_no_transaction
        try:
            statements = self.conn.split(mask_placeholders(down_text))
        except DatabaseError:
            return False  # rollback will say why it cannot be split, when it runs
        return transaction_control(statements, self.engine) is not None

    def record(self, event: MigrationEvent) -> None:
        """A ledger row in its own transaction (or the dry run's)."""
        if self.dry_run:
            record_migration(self.conn, self.schema, event)
            return
        self._transaction(lambda: record_migration(self.conn, self.schema, event))

    def prepare(self, item: Deployable, text: str, declared: bool) -> Prepared | StepFailed:
        """The script split by its back end's grammar, or why it cannot be (nothing ran)."""
        script = substitute_placeholders(text, self.placeholders, item.migration.up.path)
        try:
            statements = self.conn.split(script)
        except DatabaseError as exc:
            return StepFailed(0, None, str(exc))
        return Prepared(statements, transaction_control(statements, self.engine), declared)

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
        prepared: Prepared | StepFailed | None = None,
    ) -> StepResult:
        """Run one script and record `done` with it, or `failed` after it; raise StepFailed."""
        if prepared is None:
            prepared = self.prepare(item, text, no_transaction)
        if isinstance(prepared, StepFailed):
            self._fail(item, prepared, failed, down_text, 0, outside=no_transaction)
        assert isinstance(prepared, Prepared)
        if prepared.outside and self.dry_run:
            return self.note(
                StepResult(
                    item.version,
                    item.migration.description,
                    "not executed",
                    0,
                    f"{prepared.why_outside()}, so it cannot run inside a dry run; "
                    "the plan stops here",
                )
            )
        self._announce(item.version, item.migration.description)
        start = time.perf_counter()
        if prepared.outside:
            self._run_outside(item, prepared, failed, down_text, start)
        else:
            self._run_inside(item, prepared, failed, down_text, start)
        ms = _ms(start)
        event = self.event(
            item, done, down_text=down_text, duration_ms=ms, outside=prepared.outside
        )
        if self.dry_run:
            record_migration(self.conn, self.schema, event)
        elif prepared.outside:
            self._transaction(lambda: record_migration(self.conn, self.schema, event))
        else:  # the script's statements are still uncommitted: its row joins them
            self._transaction(lambda: record_migration(self.conn, self.schema, event), opened=True)
        detail = f"ran outside vcsync's transaction: {prepared.why_outside()}"
        return self.note(
            StepResult(
                item.version,
                item.migration.description,
                action,
                ms,
                detail if prepared.outside else None,
            )
        )

    def _run_inside(
        self, item: Deployable, prepared: Prepared, failed: str, down_text: str | None, start: float
    ) -> None:
        """Statement by statement in one transaction (the dry run's, or its own), left open."""
        if not self.dry_run:
            self.conn.begin()
        try:
            for index, statement in enumerate(prepared.statements, start=1):
                try:
                    self.conn.run(statement)
                except DatabaseError as exc:
                    raise _statement_failed(index, prepared, statement, exc) from None
        except StepFailed as failure:
            if not self.dry_run:
                self.conn.rollback()
            self._fail(item, failure, failed, down_text, _ms(start), outside=False)
        except ConnectionLost:
            raise  # nothing can be rolled back or recorded on a dead connection
        except BaseException:
            if not self.dry_run:
                self.conn.rollback()
            raise

    def _run_outside(
        self, item: Deployable, prepared: Prepared, failed: str, down_text: str | None, start: float
    ) -> None:
        """Each statement as the server takes it (a script's own BEGIN … COMMIT included),
        with a progress row each time the session is back outside a transaction."""
        hk = hash_key(item.business_key)
        count = len(prepared.statements)
        committed = 0
        # the hub first: progress rows must name a migration the ledger knows
        self._transaction(lambda: record_hub(self.conn, self.schema, self.event(item, "running")))
        self._progress_row(hk, committed, count)
        for index, statement in enumerate(prepared.statements, start=1):
            try:
                self.conn.run(statement)
            except DatabaseError as exc:
                if self.conn.in_transaction():
                    self.conn.rollback()  # the script's own transaction, aborted by the error
                failure = _statement_failed(index, prepared, statement, exc, committed=committed)
                self._fail(item, failure, failed, down_text, _ms(start), outside=True)
            if not self.conn.in_transaction():
                committed = index
                self._progress_row(hk, committed, count)
        if self.conn.in_transaction():
            self.conn.rollback()
            failure = StepFailed(
                count,
                prepared.statements[-1],
                "the script opened a transaction and never committed it (BEGIN without "
                "COMMIT); vcsync rolled it back",
                committed=committed,
            )
            self._fail(item, failure, failed, down_text, _ms(start), outside=True)

    def _progress_row(self, hk: str, committed: int, count: int) -> None:
        """Written outside any transaction, so it stays even if the run dies next."""
        record_progress(
            self.conn,
            self.schema,
            hk,
            self.deployment_id,
            self.load_dts(),
            self.operation,
            committed,
            count,
        )

    def _fail(
        self,
        item: Deployable,
        failure: StepFailed,
        status: str,
        down_text: str | None,
        duration_ms: int,
        *,
        outside: bool,
    ) -> None:
        """Record the failure (after the rollback, in a transaction of its own) and raise."""
        failure.item, failure.outside = item, outside
        if not self.dry_run:
            self.record(
                self.event(
                    item,
                    status,
                    down_text=down_text,
                    duration_ms=duration_ms,
                    failure=failure,
                    outside=outside,
                )
            )
        self.note(
            StepResult(
                item.version, item.migration.description, "failed", duration_ms, failure.message
            )
        )
        raise failure

    def apply(self, plan: list[Deployable]) -> None:
        """Apply migrations in order (raising StepFailed at the first that fails).

        Where the back end batches, runs of transactional migrations go up to BATCH at a time
        in one round trip, each still its own transaction with its ledger rows."""
        batch: list[tuple[Deployable, Prepared]] = []
        for item in plan:
            prepared = self.prepare(item, item.up_text, item.no_transaction)
            if self._batchable(prepared):
                assert isinstance(prepared, Prepared)
                batch.append((item, prepared))
                if len(batch) < BATCH:
                    continue
                self._apply_batch(batch)
                batch = []
                continue
            self._apply_batch(batch)
            batch = []
            if self._apply_alone(item, prepared).action == "not executed":
                return  # a dry run cannot go past a script that must run outside it
        self._apply_batch(batch)

    def _apply_alone(self, item: Deployable, prepared: Prepared | StepFailed) -> StepResult:
        return self.run_step(
            item,
            item.up_text,
            no_transaction=item.no_transaction,
            done="applied",
            failed="failed",
            action="applied",
            prepared=prepared,
        )

    def _batchable(self, prepared: Prepared | StepFailed) -> bool:
        """A dry run, a back end that does not batch, a script that runs outside a
        transaction or does not split: each of these runs alone."""
        return (
            self.conn.batches
            and not self.dry_run
            and isinstance(prepared, Prepared)
            and not prepared.outside
        )

    def _apply_batch(self, pairs: list[tuple[Deployable, Prepared]]) -> None:
        """Each migration as BEGIN, its statements, its ledger rows, COMMIT; all of them in
        one round trip. The server stops at the first error: the migrations before it are
        committed, the failing one is rolled back and recorded with the server's error."""
        if not pairs:
            return
        batch = [item for item, _ in pairs]
        if len(batch) == 1:
            self._announce(batch[0].version, batch[0].migration.description)
        else:
            self._announce(f"{batch[0].version}..{batch[-1].version}", f"({len(batch)} migrations)")
        statements: list[str] = []
        owners: list[tuple[int, int]] = []  # (migration in batch, its statement number or 0)
        for position, (item, prepared) in enumerate(pairs):
            event = self.event(item, "applied", duration_ms=SERVER_DURATION, outside=False)
            rows = [
                self.conn.mogrify(sql, params)
                for sql, params in migration_rows(self.conn, self.schema, event)
            ]
            # The commit need not wait for the disk: the run's end row does, and a crash
            # before it loses only migrations whose rows went with them.
            opening = ["BEGIN", "SET LOCAL synchronous_commit TO off", SERVER_START]
            for number, statement in enumerate(
                [*opening, *prepared.statements, *rows, "COMMIT"], start=1 - len(opening)
            ):  # a user statement's own number, from 1; the rest are ours
                user = number if 1 <= number <= len(prepared.statements) else 0
                statements.append(statement)
                owners.append((position, user))
        start = time.perf_counter()
        try:
            self.conn.run_batch(statements)
        except BatchFailed as exc:
            self.conn.rollback()  # the one transaction that failed; those before it committed
            position, number = owners[exc.index]
            self._note_applied(batch[:position])
            item, prepared = pairs[position]
            if number:
                failure = _statement_failed(number, prepared, prepared.statements[number - 1], exc)
            else:
                failure = StepFailed(
                    len(prepared.statements),
                    None,
                    f"its ledger rows could not be written, so it was rolled back: {exc.message}",
                )
            self._fail(item, failure, "failed", None, _ms(start), outside=False)
        self._note_applied(batch)

    def _note_applied(self, batch: list[Deployable]) -> None:
        """Each migration of a batch that committed, with the duration the server measured
        in its own transaction (recorded in its ledger row), not the batch's average."""
        durations = recorded_durations(self.conn, self.schema, self.deployment_id)
        for item in batch:
            ms = durations.get(item.version_sort, 0)
            self.note(StepResult(item.version, item.migration.description, "applied", ms))

    def _announce(self, version: str, description: str) -> None:
        if self.progress:
            self.progress(StepResult(version, description, "running", 0))

    def note(self, step: StepResult) -> StepResult:
        self.steps.append(step)
        if self.progress:
            self.progress(step)
        return step

    def finish(self, *, error: str | None = None, recovery: str | None = None) -> TargetResult:
        """Close the run's record: its end row (after rolling a dry run back) and the schema
        it left, and say how it went."""
        outcome = "failed" if error else "succeeded"
        migrations = ",".join(s.version for s in self.steps if s.action != "not executed")
        end = RunEnd(
            self.deployment_id, outcome, error, migrations, datetime.now(UTC), _ms(self._clock)
        )
        ledger_head = None
        if self.dry_run:
            self.conn.rollback()
            if self.conn.has_table(self.schema, "deployment_end"):
                self._transaction(lambda: self._close_dry_run(end))
        else:
            self._transaction(lambda: self._close_run(end))
        if self.conn.has_table(self.schema, "deployment_end"):
            ledger_head = describe_head(*head(self.conn, self.schema))
        return TargetResult(
            self.target.environment,
            target_name(self.target),
            self.operation,
            self.deployment_id,
            outcome,
            self.steps,
            error,
            recovery,
            self.warnings,
            self.dry_run,
            ledger_head,
        )

    def _close_dry_run(self, end: RunEnd) -> None:
        record_start(self.conn, self.schema, self._run_start(), self.key)
        record_end(self.conn, self.schema, end, self.key)

    def _close_run(self, end: RunEnd) -> None:
        # a run that changed nothing leaves the schema its last snapshot shows, unless a
        # killed run it sealed changed it after that snapshot
        if self.steps or self.sealed_interrupted:
            self._record_snapshot()
        record_end(self.conn, self.schema, end, self.key)

    def _record_snapshot(self) -> None:
        """The schema this run left, once per run that ran or recorded a step or sealed a
        killed run, beside its
        end row (a run that changed nothing adds none: the newest snapshot still shows the
        schema the ledger made, so a change by hand stays visible to `verify` as drift).

        A catalog the snapshot cannot read must not cost the audit trail its end row:
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
                self.load_dts(),
            )
        except ConnectionLost:
            raise
        except DatabaseError as exc:
            self.conn.run("ROLLBACK TO SAVEPOINT vcsync_snapshot")
            self.warnings.append(f"no schema snapshot was recorded: {exc}")
        self.conn.run("RELEASE SAVEPOINT vcsync_snapshot")


class _KnownTables:
    """A connection that remembers which tables it has seen exist: the ledger's readers and
    writers ask before every query, and under the deploy lock a ledger table that exists
    stays (a table not found is asked again: the ledger may be created meanwhile)."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn
        self._seen: set[tuple[str, str]] = set()

    def has_table(self, schema: str, name: str) -> bool:
        if (schema, name) in self._seen:
            return True
        if name in TABLES and (schema, "") not in self._seen:
            # the first question lists every ledger table in one query, not one each
            self._seen.add((schema, ""))
            self._seen.update((schema, t) for t in self._conn.existing_tables(schema, TABLES))
            if (schema, name) in self._seen:
                return True
        found = self._conn.has_table(schema, name)
        if found:
            self._seen.add((schema, name))
        return found

    def rollback(self) -> None:
        self._seen.clear()  # a dry run's ledger goes with its transaction
        self._conn.rollback()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._conn, name)


def _statement_failed(
    index: int, prepared: Prepared, statement: str, exc: DatabaseError, *, committed: int = 0
) -> StepFailed:
    message = exc.message if isinstance(exc, BatchFailed) else str(exc)
    return StepFailed(
        index,
        statement,
        f"statement {index} of {len(prepared.statements)} failed: {message}",
        committed=committed,
    )


def _ms(start: float) -> int:
    return int((time.perf_counter() - start) * 1000)
