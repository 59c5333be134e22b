"""Fault harness: racing migrates, `kill -9` and lost connections against real databases.

Why: DESIGN.md section 4 promises that the ledger tells the truth and that no statement runs
twice on every path, and section 5 that a killed run still shows in the history. Unit tests
prove single paths; this drives real `vcsync` processes against a real PostgreSQL server and
real SQLite files, many times, at random moments, and counts what a user would see:

(a) N concurrent `vcsync migrate` x R rounds (a few new migrations each round; a quarter of
    the processes with `--lock-timeout 0`): every migration applied exactly once (one
    `applied` satellite row, and the one row it inserts into its own table), one winner a
    round, every loser exits 0 with "nothing to do" or 1 with one sentence, no traceback;
(b) K `kill -9` at a random moment while a migrate of transactional migrations holds the
    deploy lock (a pg_sleep / slow statement / bulk insert among them, so kills land inside
    statements, inside ledger writes and between migrations): how long until the lock is
    free, `vcsync history` shows the killed run as `interrupted`, the next
    `migrate --lock-timeout 5` exits 0, every migration's effect happened exactly once, and
    `vcsync verify` exits 0;
(c) T trials killing a `-- vcsync: no-transaction` migration after its first statement (a
    counter row) committed: the next migrate refuses (exit 1) naming `vcsync repair`, the
    counter row is never inserted twice, and after finishing it by hand and
    `repair --resolution applied` a migrate has nothing to do;
(d) (c) on PostgreSQL with vcsync's backend ended by `pg_terminate_backend` instead.

Each PostgreSQL phase runs in a scratch database (created on --server, dropped after), each
SQLite phase in a file of its own project. Prints one line per figure; exits 1 if any figure
is short of all.

    python bench/fault_harness.py [--processes 16] [--rounds 5] [--kills-postgres 100]
        [--kills-sqlite 60] [--trials 8] [--seed N] [--phase race|kill|partial|terminate]
        [--backend postgres|sqlite] [--server URL] [--work DIR] [--verbose]

tests/test_fault_harness.py runs the same functions with small counts in the suite.
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple, TypeVar

from _repo import MIGRATIONS, ROLLBACKS, clean_env, git, init_project, real_python, real_vcsync
from _repo import work_dir as kept_or_temporary

T = TypeVar("T")
ENV = "staging"
POLL = 0.005  # seconds between looks at the database or a process
SLOW_SECONDS = 0.25  # the slow statement of a transactional migration
PARTIAL_SECONDS = 5  # the slow statement a no-transaction migration is killed in
SQLITE_ROWS_PER_SECOND = 3_000_000  # a recursive CTE's pace here; only sets how slow it is
HOLDER = "vcsync migrate"  # how vcsync names its session (application_name, lock file)


class HarnessError(Exception):
    """A deadline passed or a process hung: the phase cannot go on."""


def wait_for(condition: Callable[[], T | None], timeout: float, what: str) -> T:
    """Poll `condition` until it is truthy; raise HarnessError after `timeout` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise HarnessError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(POLL)


def one_sentence(stderr: str) -> str | None:
    """The error as one line `vcsync: ….`, or None (a traceback, several lines, nothing)."""
    lines = stderr.strip().splitlines()
    if "Traceback" in stderr or len(lines) != 1:
        return None
    line = lines[0]
    return line if line.startswith("vcsync: ") and line.endswith(".") else None


def brief(text: str, limit: int = 300) -> str:
    lines = text.strip().splitlines()
    if "Traceback (most recent call last)" in text and lines:
        return f"a traceback ending {lines[-1]!r}"
    text = " | ".join(lines)
    return text if len(text) <= limit else text[:limit] + "…"


# --- the databases ------------------------------------------------------------------------


class Backend:
    """The target as the harness sees it from outside vcsync: rows, and the deploy lock."""

    kind: str
    url: str  # as the project's config names it
    kill_slow: float  # seconds of the slow statement in kill_batch

    def rows(self, query: str, params: Sequence[object] = ()) -> list[tuple[Any, ...]]:
        raise NotImplementedError

    def lock_held(self) -> bool:
        raise NotImplementedError

    def slow(self, seconds: float) -> str:
        """A statement that keeps the server busy about `seconds`."""
        raise NotImplementedError

    def bulk(self, table: str, count: int) -> str:
        """An INSERT of `count` generated rows into `table` (id integer)."""
        raise NotImplementedError

    def close(self) -> None:
        pass


class Postgres(Backend):
    kind = "postgres"
    # Longer than the server's check that vcsync is still there (client_connection_check_
    # interval, 1 s): a batch killed in it is stopped there, not run to its end.
    kill_slow = 1.2

    def __init__(self, url: str) -> None:
        import psycopg

        from vcsync.db.postgres import lock_key

        self.url = url
        self._conn = psycopg.connect(url, autocommit=True, application_name="vcsync-fault-harness")
        key = lock_key(".version_control")  # the key vcsync locks (no schema-per-tenant)
        self._key = ((key >> 32) & 0xFFFFFFFF, key & 0xFFFFFFFF)

    def rows(self, query: str, params: Sequence[object] = ()) -> list[tuple[Any, ...]]:
        cursor = self._conn.execute(query, params)
        return [tuple(r) for r in cursor.fetchall()] if cursor.description else []

    def lock_held(self) -> bool:
        # pg_locks shows a bigint advisory key as two oids: high half, low half, objsubid 1
        return bool(
            self.rows(
                "SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted "
                "AND objsubid = 1 AND database = (SELECT oid FROM pg_database "
                "WHERE datname = current_database()) "
                "AND classid = %s::bigint::oid AND objid = %s::bigint::oid",
                self._key,
            )
        )

    def vcsync_backend(self, *, sleeping: bool = False) -> int | None:
        """The pid of vcsync's backend (application_name 'vcsync migrate …'); with
        `sleeping`, only while it runs a pg_sleep."""
        found = self.rows(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
            "AND application_name LIKE %s AND pid <> pg_backend_pid()"
            + (" AND wait_event = 'PgSleep'" if sleeping else ""),
            [HOLDER + "%"],
        )
        return found[0][0] if found else None

    def slow(self, seconds: float) -> str:
        return f"SELECT pg_sleep({seconds:g})"

    def bulk(self, table: str, count: int) -> str:
        return f"INSERT INTO {table} SELECT generate_series(1, {count})"

    def close(self) -> None:
        self._conn.close()


class Sqlite(Backend):
    kind = "sqlite"
    kill_slow = SLOW_SECONDS  # in-process: a kill stops it at once
    url = "sqlite:///staging.db"  # beside the project's pyproject.toml

    def __init__(self, root: Path) -> None:
        self.path = root / "staging.db"
        self.lock_path = root / "staging.db-vcsync.lock"

    def rows(self, query: str, params: Sequence[object] = ()) -> list[tuple[Any, ...]]:
        # the ledger's tables are `<schema>__<name>` (SQLite has no schemas)
        query = query.replace("version_control.", "version_control__").replace("%s", "?")
        conn = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        try:
            return [tuple(r) for r in conn.execute(query, list(params)).fetchall()]
        finally:
            conn.close()

    def lock_held(self) -> bool:
        try:
            fd = os.open(self.lock_path, os.O_RDONLY)
        except FileNotFoundError:
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
            return False
        except BlockingIOError:
            return True
        finally:
            os.close(fd)  # and with it the shared lock taken just now

    def slow(self, seconds: float) -> str:
        count = max(1000, int(seconds * SQLITE_ROWS_PER_SECOND))
        return (
            "SELECT count(*) FROM (WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL "
            f"SELECT x + 1 FROM c WHERE x < {count}) SELECT x FROM c)"
        )

    def bulk(self, table: str, count: int) -> str:
        return (
            f"INSERT INTO {table} WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL "
            f"SELECT x + 1 FROM c WHERE x < {count}) SELECT x FROM c"
        )


@contextmanager
def scratch_database(server: str) -> Iterator[str]:
    """A new database on `server`'s cluster, dropped afterwards (its sessions ended)."""
    import psycopg
    from psycopg import sql

    name = f"vcsync_fault_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(server, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield f"{server.rsplit('/', 1)[0]}/{name}"
    finally:
        with psycopg.connect(server, autocommit=True) as admin:
            admin.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


# --- the project --------------------------------------------------------------------------


class Run(NamedTuple):
    code: int
    out: str
    err: str

    @property
    def said(self) -> str:
        """stderr in brief: a traceback by its last line, anything else cut at 300 chars."""
        return brief(self.err)

    @property
    def summary(self) -> str:
        """The last line of stdout: `staging (…): migrate 3 migrations, …` or `…nothing to do…`."""
        lines = self.out.strip().splitlines()
        return lines[-1] if lines else ""


BASE = (
    "CREATE TABLE effects (version integer NOT NULL);\n"
    "CREATE TABLE counter (trial integer NOT NULL, step integer NOT NULL);\n"
)


@dataclass
class Project:
    """A Git repository whose `staging` environment is `backend`; `vcsync` is the command
    prefix that runs the CLI (the console script, or `python -m vcsync`)."""

    root: Path
    backend: Backend
    vcsync: list[str]
    versions: int = 0  # the newest migration written
    started: list[subprocess.Popen[str]] = field(default_factory=list)

    @classmethod
    def create(
        cls, root: Path, backend: Backend | None, url: str, vcsync: Sequence[str]
    ) -> Project:
        """The split-layout project, its base migration (tables `effects` and `counter`)
        committed and applied."""
        init_project(root, {ENV: url})
        (root / ".gitignore").write_text("staging.db*\n", "utf-8")
        project = cls(root, backend or Sqlite(root), list(vcsync))
        project.add([("base", BASE, "DROP TABLE counter;\nDROP TABLE effects;\n")])
        run = project.run("migrate", "--env", ENV)
        if run.code != 0:
            raise HarnessError(f"the base migration failed: {run.said}")
        return project

    def add(self, migrations: Sequence[tuple[str, str, str]]) -> list[int]:
        """(description, up, down) as the next versions, committed; returns the versions."""
        added = []
        for description, up, down in migrations:
            self.versions += 1
            n = self.versions
            (self.root / MIGRATIONS / f"V{n}__{description}.sql").write_text(up, "utf-8")
            (self.root / ROLLBACKS / f"V{n}__{description}_rollback.sql").write_text(down, "utf-8")
            added.append(n)
        git(self.root, "add", "-A")
        git(self.root, "commit", "-q", "-m", f"migrations {added[0]}..{added[-1]}")
        return added

    def start(self, *args: str) -> subprocess.Popen[str]:
        proc = subprocess.Popen(
            [*self.vcsync, *args],
            cwd=self.root,
            env=clean_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.started.append(proc)
        return proc

    def finish(self, proc: subprocess.Popen[str], timeout: float = 120) -> Run:
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
            raise HarnessError(f"{' '.join(map(str, proc.args))} ran over {timeout:g} s") from None
        return Run(proc.returncode, out, err)

    def run(self, *args: str, timeout: float = 120) -> Run:
        return self.finish(self.start(*args), timeout)

    def stop(self) -> None:
        """Kill whatever the harness started and is still running (a phase that failed)."""
        for proc in self.started:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
        self.started.clear()

    # what the ledger and the tables say (read from outside, as an auditor would)

    def applied_counts(self) -> dict[int, int]:
        """Per version: how many satellite rows say `applied`."""
        rows = self.backend.rows(
            "SELECT h.version, count(*) FROM version_control.schema_migration_s s "
            "JOIN version_control.schema_migration_h h ON h.migration_hk = s.migration_hk "
            "WHERE s.status = 'applied' GROUP BY h.version"
        )
        return {int(v): c for v, c in rows}

    def satellite_rows(self) -> int:
        return self.backend.rows("SELECT count(*) FROM version_control.schema_migration_s")[0][0]

    def history(self, limit: int | None = None) -> list[dict[str, Any]]:
        """`vcsync history --env staging --format json`: runs, newest first."""
        args = ["history", "--env", ENV, "--format", "json"]
        run = self.run(*args, *(["--limit", str(limit)] if limit else []))
        if run.code != 0:
            raise HarnessError(f"vcsync history exited {run.code}: {run.said}")
        return list(json.loads(run.out)[0]["deployments"])

    def status_of(self, version: int) -> str | None:
        """The cell `vcsync status --env staging` shows for `version`."""
        run = self.run("status", "--env", ENV, "--format", "json")
        for row in json.loads(run.out)["migrations"] if run.code == 0 else []:
            if row["version"] == str(version):
                return str(row["states"][ENV])
        return None

    def newest_log_row(self) -> tuple[str, bool] | None:
        """The newest deployment_log row's id and whether its run wrote its end row (read
        directly, to tell where a kill landed, not to judge vcsync)."""
        rows = self.backend.rows(
            "SELECT d.deployment_id, e.deployment_id IS NOT NULL "
            "FROM version_control.deployment_log d LEFT JOIN version_control.deployment_end e "
            "ON e.deployment_id = d.deployment_id ORDER BY d.seq DESC LIMIT 1"
        )
        return (rows[0][0], bool(rows[0][1])) if rows else None

    def committed_by(self, deployment_id: str) -> int:
        """Migrations a run recorded as applied."""
        return self.backend.rows(
            "SELECT count(*) FROM version_control.schema_migration_s "
            "WHERE deployment_id = %s AND status = 'applied'",
            [deployment_id],
        )[0][0]


def lock_timeout_for(index: int) -> str:
    """A quarter of the racers give up at once (exit 1 while another holds the lock)."""
    return "0" if index % 4 == 3 else "60"


# --- (a) concurrent migrates --------------------------------------------------------------


@dataclass
class RaceResult:
    backend: str
    processes: int
    rounds: int
    migrations: int = 0
    applied_once: int = 0
    one_winner: int = 0  # rounds where exactly one process applied the round's migrations
    losers: int = 0
    nothing_to_do: int = 0  # exit 0
    locked: int = 0  # exit 1 in one sentence naming the lock
    verified: bool = False
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        clean = self.nothing_to_do + self.locked
        return (
            not self.problems
            and self.applied_once == self.migrations
            and self.one_winner == self.rounds
            and clean == self.losers
            and self.verified
        )

    def line(self) -> str:
        return (
            f"concurrent migrate ({self.backend}): {self.processes} x {self.rounds} rounds, "
            f"{self.applied_once}/{self.migrations} migrations applied exactly once, "
            f"{self.one_winner}/{self.rounds} rounds with one winner, "
            f"{self.nothing_to_do + self.locked}/{self.losers} losers clean "
            f"({self.nothing_to_do} nothing to do, {self.locked} exit 1 locked), "
            f"verify {'exit 0' if self.verified else 'FAILED'}"
        )


def race(project: Project, processes: int, rounds: int, per_round: int = 3) -> RaceResult:
    result = RaceResult(project.backend.kind, processes, rounds)
    versions: list[int] = []
    for round_ in range(1, rounds + 1):
        start = project.versions + 1
        scripts = []
        for n in range(start, start + per_round):
            slow = f"{project.backend.slow(SLOW_SECONDS)};\n" if n == start else ""
            scripts.append(
                (
                    f"race_r{n}",
                    f"CREATE TABLE r{n} (id integer PRIMARY KEY);\n{slow}"
                    f"INSERT INTO r{n} VALUES ({n});\n",
                    f"DROP TABLE r{n};\n",
                )
            )
        added = project.add(scripts)
        versions += added
        procs = [
            project.start("migrate", "--env", ENV, "--lock-timeout", lock_timeout_for(i))
            for i in range(processes)
        ]
        runs = [project.finish(proc, 180) for proc in procs]
        winners = 0
        for i, run in enumerate(runs):
            what = f"round {round_} process {i} (--lock-timeout {lock_timeout_for(i)})"
            if run.code == 0 and f": migrate {per_round} migrations," in run.summary:
                winners += 1
                if run.err:
                    result.problems.append(f"{what} won but wrote to stderr: {run.said}")
                continue
            result.losers += 1
            if run.code == 0 and ": nothing to do;" in run.summary and not run.err:
                result.nothing_to_do += 1
            elif (
                run.code == 1 and (sentence := one_sentence(run.err)) and "is locked by" in sentence
            ):
                result.locked += 1
            else:
                result.problems.append(f"{what} exited {run.code}: {run.summary!r} {run.said}")
        if winners == 1:
            result.one_winner += 1
        else:
            result.problems.append(f"round {round_}: {winners} processes applied migrations")
    result.migrations = len(versions)
    applied = project.applied_counts()
    for n in versions:
        inserted = project.backend.rows(f"SELECT id FROM r{n}")
        if applied.get(n) == 1 and inserted == [(n,)]:
            result.applied_once += 1
        else:
            result.problems.append(
                f"migration {n}: {applied.get(n, 0)} applied rows, its table holds {inserted}"
            )
    if project.satellite_rows() != len(versions) + 1:  # + the base migration
        result.problems.append(f"{project.satellite_rows()} satellite rows, expected one each")
    verify = project.run("verify", "--env", ENV)
    result.verified = verify.code == 0
    if not result.verified:
        result.problems.append(f"verify exited {verify.code}: {brief(verify.out + verify.err)}")
    return result


# --- (b) kill -9 during transactional migrations ------------------------------------------


@dataclass
class KillResult:
    backend: str
    kills: int = 0
    consistent: int = 0
    # kills of a run that had logged its start and not its end: must show as interrupted
    unfinished: int = 0
    shown: int = 0
    before_start: int = 0  # landed after the lock was taken, before the start row committed
    after_end: int = 0  # landed after the run's end row (it had finished: shows succeeded)
    missed: int = 0  # the run exited before the kill: not counted, drawn again
    lock_free: list[float] = field(default_factory=list)
    landed: Counter[int] = field(default_factory=Counter)  # migrations committed before it
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return (
            not self.problems
            and self.kills > 0
            and self.consistent == self.kills
            and self.shown == self.unfinished
        )

    def line(self) -> str:
        most = max(self.lock_free, default=float("nan"))
        also = []
        if self.before_start:
            also.append(f"{self.before_start} before the run's start row (nothing of it ran)")
        if self.after_end:
            also.append(f"{self.after_end} after its end row (recorded as succeeded)")
        return (
            f"kill -9 ({self.backend}): {self.consistent}/{self.kills} consistent, "
            f"{self.shown}/{self.unfinished} interrupted runs shown"
            + (f" ({'; '.join(also)})" if also else "")
            + f", lock free within {most:.2f} s max"
        )

    def where(self) -> str:
        spread = ", ".join(f"{k}: {self.landed[k]}" for k in sorted(self.landed))
        return (
            f"  kills by migrations the killed run had committed (of 4) {{{spread}}}; "
            f"{self.missed} runs finished before their kill (drawn again)"
        )


def kill_batch(backend: Backend, first: int) -> list[tuple[str, str, str]]:
    """Four transactional migrations: quick, one with a slow statement between its DDL and
    its inserts, a bulk insert, quick. Each inserts its version into `effects`."""
    out = []
    for n in range(first, first + 4):
        middle = ""
        if n - first == 1:
            middle = f"{backend.slow(backend.kill_slow)};\n"
        elif n - first == 2:
            middle = f"CREATE TABLE b{n} (id integer);\n{backend.bulk(f'b{n}', 30000)};\n"
        up = (
            f"CREATE TABLE k{n} (id integer PRIMARY KEY);\n{middle}"
            f"INSERT INTO k{n} VALUES ({n});\nINSERT INTO effects VALUES ({n});\n"
        )
        down = (f"DROP TABLE b{n};\n" if n - first == 2 else "") + f"DROP TABLE k{n};\n"
        out.append((f"kill_k{n}", up, down))
    return out


def kill_trials(
    project: Project, kills: int, rng: random.Random, *, log: Callable[[str], None] = print
) -> KillResult:
    """`kills` runs killed with SIGKILL at a moment drawn uniformly over the time the run
    holds the deploy lock (measured on an uncut run first, shortened when a draw misses)."""
    backend = project.backend
    result = KillResult(backend.kind)
    versions: list[int] = []

    def held_by_run(proc: subprocess.Popen[str]) -> bool:
        return proc.poll() is not None or backend.lock_held()

    # calibrate: how long an uncut run of one batch holds the lock
    versions += project.add(kill_batch(backend, project.versions + 1))
    proc = project.start("migrate", "--env", ENV)
    wait_for(lambda: held_by_run(proc), 60, "the calibration run to take the lock")
    taken = time.monotonic()
    wait_for(lambda: not backend.lock_held(), 60, "the calibration run to let go")
    span = time.monotonic() - taken
    if project.finish(proc).code != 0:
        raise HarnessError("the calibration run failed")

    attempts = 0
    while result.kills < kills:
        attempts += 1
        if attempts > 3 * kills + 10:
            raise HarnessError(f"{result.missed} of {attempts} runs finished before their kill")
        batch = project.add(kill_batch(backend, project.versions + 1))
        versions += batch
        before = project.newest_log_row()
        proc = project.start("migrate", "--env", ENV)
        wait_for(lambda p=proc: held_by_run(p), 60, "the migrate to take the deploy lock")
        taken = time.monotonic()
        delay = rng.uniform(0, span)
        time.sleep(max(0.0, taken + delay - time.monotonic()))  # the random moment
        proc.send_signal(signal.SIGKILL)
        killed = time.monotonic()
        run = project.finish(proc, 30)
        trial = f"kill {result.kills + 1} ({delay:.3f} s after the lock)"
        if run.code != -signal.SIGKILL:
            result.missed += 1
            span = max(0.05, min(span, killed - taken) * 0.9)
            if run.code != 0:
                result.problems.append(f"uncut run exited {run.code}: {run.said}")
            continue
        result.kills += 1
        try:
            wait_for(lambda: not backend.lock_held(), 30, "the deploy lock to be freed")
        except HarnessError as exc:
            result.problems.append(f"{trial}: {exc}")
            continue
        result.lock_free.append(time.monotonic() - killed)
        problems: list[str] = []

        # where it landed, read from the ledger directly
        newest = project.newest_log_row()
        killed_id: str | None = None
        unfinished = False
        if newest is None or (before is not None and newest[0] == before[0]):
            result.before_start += 1
        else:
            killed_id, ended = newest
            unfinished = not ended
            if unfinished:
                result.unfinished += 1
            else:
                result.after_end += 1
        committed = project.committed_by(killed_id) if killed_id else 0
        result.landed[committed] += 1

        # what a user sees: history, the next migrate, history again
        shown_before = False
        if unfinished:
            top = project.history(limit=1)[0]
            shown_before = top["deployment_id"] == killed_id and top["outcome"] == "interrupted"
            if not shown_before:
                problems.append(f"history shows the killed run as {top['outcome']!r}")
        nxt = project.run("migrate", "--env", ENV, "--lock-timeout", "5")
        rest = len(batch) - committed
        expected = f": migrate {rest} migration{'s' if rest != 1 else ''}," if rest else ": nothing"
        if nxt.code != 0 or expected not in nxt.summary:
            problems.append(f"the next migrate exited {nxt.code}: {nxt.summary!r} {nxt.said}")
        if "Traceback" in nxt.err:
            problems.append("the next migrate printed a traceback")
        if unfinished:
            runs = {r["deployment_id"]: r["outcome"] for r in project.history(limit=3)}
            if shown_before and runs.get(killed_id) == "interrupted":
                result.shown += 1
            elif shown_before:
                problems.append(f"after the next migrate, history says {runs.get(killed_id)!r}")
            if "was interrupted; it is recorded so." not in nxt.err:
                problems.append("the next migrate did not warn about the interrupted run")

        # every migration so far exactly once: its ledger row and its effect
        applied = project.applied_counts()
        effects = {
            v: c for v, c in backend.rows("SELECT version, count(*) FROM effects GROUP BY version")
        }
        wrong = [n for n in versions if applied.get(n) != 1 or effects.get(n) != 1]
        if wrong:
            listed = ", ".join(
                f"{n} (ledger {applied.get(n, 0)}, effect {effects.get(n, 0)})" for n in wrong[:5]
            )
            more = f" and {len(wrong) - 5} more" if len(wrong) > 5 else ""
            problems.append(f"not exactly once: {listed}{more}")
        if project.satellite_rows() != len(versions) + 1:
            problems.append(f"{project.satellite_rows()} satellite rows for {len(versions) + 1}")
        verify = project.run("verify", "--env", ENV)
        if verify.code != 0:
            problems.append(f"verify exited {verify.code}: {brief(verify.out + verify.err)}")
        if problems:
            result.problems += [f"{trial}: {p}" for p in problems]
        else:
            result.consistent += 1
        log(
            f"  {backend.kind} {trial}: committed {committed}, lock free in "
            f"{result.lock_free[-1]:.2f} s, {'ok' if not problems else '; '.join(problems)}"
        )
    return result


# --- (c, d) a no-transaction migration cut off after its first statement -------------------


@dataclass
class PartialResult:
    backend: str
    how: str  # "kill -9" or "pg_terminate_backend"
    trials: int = 0
    refused: int = 0  # the next migrate exited 1 naming `vcsync repair`
    repeated: int = 0  # the counter row was inserted twice
    status_shown: int = 0  # `vcsync status` said interrupted, not pending
    recovered: int = 0  # after repair: nothing to do, the counter rows once each, verify 0
    lost_sentence: int = 0  # (pg_terminate_backend) the run exited 1 in one sentence
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        all_ = self.trials
        lost = self.lost_sentence == all_ if self.how == "pg_terminate_backend" else True
        return (
            all_ > 0
            and self.refused == all_
            and self.repeated == 0
            and self.status_shown == all_
            and self.recovered == all_
            and lost
        )

    def line(self) -> str:
        n = self.trials
        lost = (
            f", {self.lost_sentence}/{n} runs said they lost the connection in one sentence"
            if self.how == "pg_terminate_backend"
            else ""
        )
        return (
            f"no-transaction {self.how} ({self.backend}): {self.refused}/{n} next migrates "
            f"refused naming vcsync repair, {self.repeated}/{n} counter rows inserted twice, "
            f"{self.status_shown}/{n} status interrupted, {self.recovered}/{n} nothing to do "
            f"after repair{lost}"
        )


def partial_script(backend: Backend, trial: int) -> str:
    return (
        "-- vcsync: no-transaction\n"
        f"INSERT INTO counter VALUES ({trial}, 1);\n"
        f"{backend.slow(PARTIAL_SECONDS)};\n"
        f"INSERT INTO counter VALUES ({trial}, 2);\n"
    )


def partial_trials(project: Project, trials: int, how: str = "kill -9") -> PartialResult:
    backend = project.backend
    result = PartialResult(backend.kind, how)
    if how == "pg_terminate_backend" and not isinstance(backend, Postgres):
        raise ValueError("pg_terminate_backend needs PostgreSQL")
    first = 1 + max((t for (t,) in backend.rows("SELECT trial FROM counter")), default=0)
    for trial in range(first, first + trials):
        result.trials += 1
        problems = partial_trial(project, trial, how, result)
        result.problems += [f"trial {trial}: {p}" for p in problems]
    return result


def partial_trial(project: Project, trial: int, how: str, result: PartialResult) -> list[str]:
    """One cut: counts into `result`, returns what went wrong."""
    backend = project.backend
    problems: list[str] = []

    def counted() -> list[tuple[Any, ...]]:
        return backend.rows(
            "SELECT step, count(*) FROM counter WHERE trial = %s GROUP BY step ORDER BY step",
            [trial],
        )

    (n,) = project.add([(f"partial_{trial}", partial_script(backend, trial), "SELECT 1;\n")])
    proc = project.start("migrate", "--env", ENV)

    def in_slow_statement() -> bool:
        if proc.poll() is not None:
            raise HarnessError(f"the migrate exited {proc.returncode} before the cut")
        if not counted():
            return False  # statement 1 has not committed yet
        return not isinstance(backend, Postgres) or bool(backend.vcsync_backend(sleeping=True))

    wait_for(in_slow_statement, 60, f"trial {trial}'s first statement to commit")
    if how == "kill -9":
        proc.send_signal(signal.SIGKILL)
        project.finish(proc, 30)
    else:
        assert isinstance(backend, Postgres)
        pid = backend.vcsync_backend(sleeping=True)
        backend.rows("SELECT pg_terminate_backend(%s)", [pid])
        run = project.finish(proc, 30)
        sentence = one_sentence(run.err)
        if run.code == 1 and sentence and "lost the connection to " in sentence:
            result.lost_sentence += 1
        else:
            problems.append(f"the terminated run exited {run.code}: {run.said}")
    wait_for(lambda: not backend.lock_held(), 30, "the deploy lock to be freed")

    status = project.status_of(n)
    if status == "interrupted":
        result.status_shown += 1
    else:
        problems.append(f"status says {status!r}")
    nxt = project.run("migrate", "--env", ENV, "--lock-timeout", "5")
    if nxt.code == 1 and f"vcsync repair --env {ENV}" in nxt.err and "Traceback" not in nxt.err:
        result.refused += 1
    else:
        problems.append(f"the next migrate exited {nxt.code}: {nxt.summary!r} {nxt.said}")
    rows = dict(counted())
    if rows.get(1, 0) > 1:
        result.repeated += 1
        problems.append(f"counter row ({trial}, 1) inserted {rows[1]} times")

    # finish it by hand, record that, and migrate again
    if 2 not in rows:
        backend.rows("INSERT INTO counter VALUES (%s, 2)", [trial])
    repair = project.run(
        "repair", "--env", ENV, "--resolution", "applied", "--reason", "finished by hand"
    )
    after = project.run("migrate", "--env", ENV, "--lock-timeout", "5")
    verify = project.run("verify", "--env", ENV)
    final = dict(counted())
    if (
        after.code == 0
        and ": nothing to do;" in after.summary
        and final == {1: 1, 2: 1}
        and verify.code == 0
    ):
        result.recovered += 1
    else:
        problems.append(
            f"after repair (exit {repair.code}) migrate exited {after.code}: "
            f"{after.summary!r}; counter {final}; verify exit {verify.code}"
        )
    return problems


# --- the script ---------------------------------------------------------------------------

PHASES = ("race", "kill", "partial", "terminate")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--processes", type=int, default=16, help="concurrent migrates (a)")
    p.add_argument("--rounds", type=int, default=5, help="rounds of concurrent migrates (a)")
    p.add_argument("--kills-postgres", type=int, default=100, help="kill -9 on PostgreSQL (b)")
    p.add_argument("--kills-sqlite", type=int, default=60, help="kill -9 on SQLite (b)")
    p.add_argument("--trials", type=int, default=8, help="no-transaction cuts (c, d)")
    p.add_argument("--seed", type=int, help="for the kill moments (default: random, printed)")
    p.add_argument("--phase", choices=PHASES, action="append", help="only these (repeatable)")
    p.add_argument("--backend", choices=("postgres", "sqlite"), action="append")
    p.add_argument("--verbose", action="store_true", help="a line per kill on stderr")
    p.add_argument("--work", help="keep the projects here (default: a temporary folder)")
    p.add_argument("--python", help="the real interpreter (default: this one)")
    p.add_argument("--vcsync", help="the vcsync console script (default: beside python)")
    p.add_argument(
        "--server",
        default="postgresql://postgres@127.0.0.1:5432/postgres",
        help="a database on a PostgreSQL server where scratch databases may be created",
    )
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    phases = args.phase or list(PHASES)
    backends = args.backend or ["postgres", "sqlite"]
    seed = args.seed if args.seed is not None else random.randrange(2**32)
    rng = random.Random(seed)
    command = [real_vcsync(args.vcsync, real_python(args.python))]
    print(f"fault harness: seed {seed}, {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.2f}")
    sys.stdout.flush()

    def log(line: str) -> None:
        if args.verbose:
            print(line, file=sys.stderr, flush=True)

    plan: list[tuple[str, str, Callable[[Project], Any]]] = []
    for kind in backends:
        kills = args.kills_postgres if kind == "postgres" else args.kills_sqlite
        plan += [
            ("race", kind, lambda p: race(p, args.processes, args.rounds)),
            ("kill", kind, lambda p, k=kills: kill_trials(p, k, rng, log=log)),
            ("partial", kind, lambda p: partial_trials(p, args.trials)),
        ]
        if kind == "postgres":
            plan.append(
                (
                    "terminate",
                    kind,
                    lambda p: partial_trials(p, args.trials, "pg_terminate_backend"),
                )
            )
    short = 0
    with kept_or_temporary(args.work) as work:
        for phase, kind, body in plan:
            if phase not in phases:
                continue
            root = work / f"{phase}-{kind}-{uuid.uuid4().hex[:6]}"
            started = time.monotonic()
            try:
                result = run_phase(root, kind, args.server, command, body)
                ok, text = result.ok, result.line()
                if isinstance(result, KillResult):
                    text += "\n" + result.where()
                problems = result.problems
            except HarnessError as exc:
                ok, text, problems = False, f"{phase} ({kind}): stopped: {exc}", []
            short += not ok
            print(f"{text}  [{time.monotonic() - started:.0f} s]", flush=True)
            for problem in problems[:10]:
                print(f"    {problem}", flush=True)
            if len(problems) > 10:
                print(f"    … and {len(problems) - 10} more", flush=True)
    return 1 if short else 0


def run_phase(
    root: Path, kind: str, server: str, command: list[str], body: Callable[[Project], T]
) -> T:
    """`body` on a fresh project whose staging is a scratch database or a SQLite file."""
    if kind == "sqlite":
        project = Project.create(root, None, Sqlite.url, command)
        try:
            return body(project)
        finally:
            project.stop()
    with scratch_database(server) as url:
        backend = Postgres(url)
        try:
            project = Project.create(root, backend, url, command)
            try:
                return body(project)
            finally:
                project.stop()
        finally:
            backend.close()


if __name__ == "__main__":
    sys.exit(main())
