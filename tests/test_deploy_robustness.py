"""Deployments survive concurrency, crashes and a database that goes away.

Real `vcsync` processes against the real PostgreSQL server and real SQLite files: eight
migrates racing, a `kill -9` in the middle of a migration, a backend terminated by an
administrator, a lock held by someone else. Each test asserts what a user sees: exit
codes, one-sentence messages without a traceback, ledger rows and the schema.
"""

from __future__ import annotations

import fcntl
import os
import pty
import select
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

from tests.helpers import SPLIT_CONFIG, make_repo, vcsync, write

T = TypeVar("T")
HOST = socket.gethostname()
SECRET = "pw-S3cret"
POLL = 0.05
SLEEP_SQL = "SELECT pg_sleep(60)"


def mig(n: int, desc: str, up: str, down: str = "SELECT 1;\n") -> dict[str, str]:
    return {
        f"database/migrations/V{n}__{desc}.sql": up,
        f"database/rollback/V{n}__{desc}_rollback.sql": down,
    }


def table(n: int) -> dict[str, str]:
    """A quick migration: one table with one row."""
    return mig(
        n,
        f"t{n}",
        f"CREATE TABLE t{n} (id integer PRIMARY KEY);\nINSERT INTO t{n} VALUES ({n});\n",
        f"DROP TABLE t{n};\n",
    )


SLOW = mig(
    3, "slow", f"CREATE TABLE slow (id integer);\n{SLEEP_SQL};\nCREATE TABLE later (x int);\n"
)
QUICK = {"database/migrations/V3__slow.sql": "CREATE TABLE slow (id integer);\n"}
BASE = {**table(1), **table(2)}


def project(tmp_path: Path, url: str, files: dict[str, str]) -> Path:
    config = f'{SPLIT_CONFIG}[tool.vcsync.environments.staging]\nurl = "{url}"\n'
    return make_repo(tmp_path / "p", files, config=config)


def wait_for(condition: Callable[[], T | None], timeout: float, what: str) -> T:
    """Poll `condition` until it is truthy; fail the test (never hang) after `timeout` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {what}")
        time.sleep(POLL)


class Processes:
    """`vcsync` as real processes; any still running when the test ends is killed."""

    def __init__(self) -> None:
        self.started: list[subprocess.Popen[str]] = []

    def start(self, cwd: Path, *args: str, terminal: int | None = None) -> subprocess.Popen[str]:
        """Output to pipes, or to `terminal` (a pseudo-terminal's fd) as a user sees it."""
        out = subprocess.PIPE if terminal is None else terminal
        proc = subprocess.Popen(
            [sys.executable, "-m", "vcsync", *args],
            cwd=cwd,
            stdin=terminal,
            stdout=out,
            stderr=out,
            text=True,
        )
        self.started.append(proc)
        return proc

    def stop(self) -> None:
        for proc in self.started:
            if proc.poll() is None:
                proc.kill()
            proc.communicate(timeout=10)


@pytest.fixture
def procs() -> Iterator[Processes]:
    running = Processes()
    yield running
    running.stop()


# --- PostgreSQL ---------------------------------------------------------------------------


def pg(url: str, query: str, params: tuple[Any, ...] = (), app: str = "vcsync-tests") -> list[Any]:
    import psycopg

    with psycopg.connect(url, autocommit=True, application_name=app) as conn:
        cursor = conn.execute(query, params)
        return cursor.fetchall() if cursor.description else []


def pg_states(url: str) -> list[tuple[str, str]]:
    """Every satellite row, oldest first: (version, status)."""
    return [
        tuple(r)
        for r in pg(
            url,
            "SELECT h.version, s.status FROM version_control.schema_migration_s s "
            "JOIN version_control.schema_migration_h h USING (migration_hk) "
            "ORDER BY s.load_dts, h.version_sort",
        )
    ]


def pg_has_table(url: str, name: str) -> bool:
    return bool(pg(url, "SELECT to_regclass(%s) IS NOT NULL", (f"public.{name}",))[0][0])


def sleeping_backend(url: str) -> tuple[int, str] | None:
    """vcsync's backend while it runs the migration's pg_sleep: (pid, application_name)."""
    rows = pg(
        url,
        "SELECT pid, application_name FROM pg_stat_activity WHERE datname = current_database() "
        # a batch of migrations is one query text (shown cut at 1 kB): ask what it waits on
        "AND state = 'active' AND wait_event = 'PgSleep' AND pid <> pg_backend_pid()",
    )
    return (rows[0][0], rows[0][1]) if rows else None


def backend_alive(url: str, pid: int) -> bool:
    return bool(pg(url, "SELECT 1 FROM pg_stat_activity WHERE pid = %s", (pid,)))


def deploy_lock_is_free(url: str) -> bool:
    from vcsync.db.postgres import lock_key

    # take and drop the very lock vcsync takes (no schema: its key is ".version_control")
    return bool(
        pg(
            url,
            "SELECT pg_try_advisory_lock(%s) AND pg_advisory_unlock(%s)",
            (lock_key(".version_control"),) * 2,
        )[0][0]
    )


def one_sentence(stderr: str) -> str:
    assert "Traceback" not in stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("vcsync: ") and lines[0].endswith(".")
    return lines[0]


def test_eight_concurrent_migrates_apply_each_migration_exactly_once(
    pg_url: str, tmp_path: Path, procs: Processes
) -> None:
    files: dict[str, str] = {}
    for n in range(1, 11):
        files.update(table(n))
    repo = project(tmp_path, pg_url, files)
    runs = [
        procs.start(repo, "migrate", "--env", "staging", "--lock-timeout", "40") for _ in "12345678"
    ]
    deadline = time.monotonic() + 45
    outputs = [proc.communicate(timeout=max(1, deadline - time.monotonic())) for proc in runs]
    assert [proc.returncode for proc in runs] == [0] * 8, [err for _, err in outputs]
    assert all(err == "" for _, err in outputs)
    # one process took the lock first and applied everything; the other seven waited
    summaries = sorted(out.splitlines()[-1].split(": ", 1)[1] for out, _ in outputs)
    assert sum(s.startswith("nothing to do; ledger head ") for s in summaries) == 7
    assert summaries[0].startswith("migrate 10 migrations, deployment ")
    applied = pg(
        pg_url,
        "SELECT h.migration_hk, h.version, count(*) FROM version_control.schema_migration_h h "
        "JOIN version_control.schema_migration_s s USING (migration_hk) "
        "GROUP BY h.migration_hk, h.version, s.status HAVING s.status = 'applied'",
    )
    assert sorted((int(v), c) for _, v, c in applied) == [(n, 1) for n in range(1, 11)]
    assert len(pg_states(pg_url)) == 10  # no failed or duplicate satellite either
    for n in range(1, 11):
        assert pg(pg_url, f"SELECT id FROM t{n}") == [(n,)]
    log = pg(
        pg_url,
        "SELECT outcome, migrations FROM version_control.deployment_history ORDER BY seq",
    )
    assert {r[0] for r in log} == {"succeeded"} and len(log) == 8
    assert sorted(r[1] for r in log) == [""] * 7 + [",".join(map(str, range(1, 11)))]
    assert vcsync(repo, "verify", "--env", "staging").exit_code == 0  # the chain is unbroken


def test_a_kill_9_mid_migration_frees_the_lock_and_leaves_a_consistent_ledger(
    pg_url: str, tmp_path: Path, procs: Processes
) -> None:
    repo = project(tmp_path, pg_url, {**BASE, **SLOW})
    proc = procs.start(repo, "migrate", "--env", "staging")
    pid, _ = wait_for(lambda: sleeping_backend(pg_url), 20, "the migration's pg_sleep")
    killed = time.monotonic()
    proc.kill()
    proc.wait(timeout=5)
    wait_for(lambda: deploy_lock_is_free(pg_url), 10, "the server to release the deploy lock")
    freed = time.monotonic() - killed
    print(f"deploy lock freed {freed:.2f} s after SIGKILL")
    # within about client_connection_check_interval (1 s), not when pg_sleep's 60 s are up
    assert freed < 5
    wait_for(lambda: not backend_alive(pg_url, pid), 5, "the killed run's backend to exit")
    assert pg_states(pg_url) == [("1", "applied"), ("2", "applied")]
    assert pg_has_table(pg_url, "t2") and not pg_has_table(pg_url, "slow")

    write(repo, QUICK)
    run = vcsync(repo, "migrate", "--env", "staging", "--lock-timeout", "10")
    assert run.exit_code == 0, run.stderr
    assert "migrate 1 migration," in run.stdout
    assert pg_states(pg_url)[-1] == ("3", "applied")
    assert pg_has_table(pg_url, "slow") and not pg_has_table(pg_url, "later")


def test_a_terminated_backend_says_lost_the_connection_and_the_next_run_completes(
    pg_url: str, tmp_path: Path, procs: Processes
) -> None:
    repo = project(tmp_path, pg_url, {**BASE, **SLOW})
    proc = procs.start(repo, "migrate", "--env", "staging")
    pid, app = wait_for(lambda: sleeping_backend(pg_url), 20, "the migration's pg_sleep")
    assert app.startswith("vcsync migrate")
    assert pg(pg_url, "SELECT pg_terminate_backend(%s)", (pid,)) == [(True,)]
    out, err = proc.communicate(timeout=15)
    assert proc.returncode == 1
    sentence = one_sentence(err)
    assert "lost the connection to postgresql://postgres@127.0.0.1" in sentence
    # 1-3 went in one batch, whose progress prints when it ends: the ledger says how far it got
    assert out == ""
    assert pg_states(pg_url) == [("1", "applied"), ("2", "applied")]
    assert not pg_has_table(pg_url, "slow")
    wait_for(lambda: deploy_lock_is_free(pg_url), 5, "the terminated session's lock to go")

    write(repo, QUICK)
    run = vcsync(repo, "migrate", "--env", "staging", "--lock-timeout", "10")
    assert run.exit_code == 0, run.stderr
    assert pg_states(pg_url)[-1] == ("3", "applied")


def read_terminal(fd: int, until: str, timeout: float) -> str:
    """What a pseudo-terminal showed, until `until` appears or the program's side closes."""
    seen = b""
    deadline = time.monotonic() + timeout
    while until.encode() not in seen:
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {until!r}; saw {seen!r}")
        if select.select([fd], [], [], POLL)[0]:
            try:
                chunk = os.read(fd, 4096)
            except OSError:  # EIO: every process on the terminal has exited
                break
            if not chunk:
                break
            seen += chunk
    return seen.decode()


def test_a_terminal_shows_what_runs_now_and_clears_it_for_the_error(
    pg_url: str, tmp_path: Path, procs: Processes
) -> None:
    repo = project(tmp_path, pg_url, {**BASE, **SLOW})
    screen, program_side = pty.openpty()
    try:
        proc = procs.start(repo, "migrate", "--env", "staging", terminal=program_side)
        os.close(program_side)
        pid, _ = wait_for(lambda: sleeping_backend(pg_url), 20, "the migration's pg_sleep")
        # 1-3 run as one batch; the terminal says so while the slow one sleeps
        assert read_terminal(screen, "migrations)", 5) == "  running      1..3 (3 migrations)"
        pg(pg_url, "SELECT pg_terminate_backend(%s)", (pid,))
        proc.wait(timeout=15)
        rest = read_terminal(screen, "\n", 5)
    finally:
        os.close(screen)
    assert proc.returncode == 1
    # the running line is wiped before the error's one sentence is written
    assert rest.startswith("\r\x1b[Kvcsync: lost the connection to postgresql://"), repr(rest)


def test_ctrl_c_mid_migration_rolls_it_back_and_says_interrupted(
    pg_url: str, tmp_path: Path, procs: Processes
) -> None:
    repo = project(tmp_path, pg_url, {**BASE, **SLOW})
    proc = procs.start(repo, "migrate", "--env", "staging")
    wait_for(lambda: sleeping_backend(pg_url), 20, "the migration's pg_sleep")
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=15)
    assert proc.returncode == 130
    assert one_sentence(err) == "vcsync: interrupted."
    assert pg_states(pg_url) == [("1", "applied"), ("2", "applied")]
    assert not pg_has_table(pg_url, "slow")
    wait_for(lambda: deploy_lock_is_free(pg_url), 5, "the interrupted session's lock to go")


def test_the_lock_holder_is_visible_and_named_when_a_second_migrate_gives_up(
    pg_url: str, tmp_path: Path, procs: Processes
) -> None:
    repo = project(tmp_path, pg_url, {**BASE, **SLOW})
    proc = procs.start(repo, "migrate", "--env", "staging")
    _, app = wait_for(lambda: sleeping_backend(pg_url), 20, "the migration's pg_sleep")
    assert app.startswith(f"vcsync migrate {HOST} pid={proc.pid} ")
    started = time.monotonic()
    run = vcsync(repo, "migrate", "--env", "staging", "--lock-timeout", "1")
    waited = time.monotonic() - started
    assert run.exit_code == 1 and 1 <= waited < 5
    sentence = one_sentence(run.stderr)
    assert f"is locked by {app} (backend pid " in sentence
    assert "waited 1 s (raise --lock-timeout to wait longer)" in sentence


@pytest.mark.parametrize("timeout", ["0", "1"])
def test_a_lock_held_by_another_session_times_out_with_its_name(
    pg_url: str, tmp_path: Path, timeout: str
) -> None:
    import psycopg

    from vcsync.db.postgres import lock_key

    repo = project(tmp_path, pg_url, BASE)
    key = lock_key(".version_control")
    with psycopg.connect(pg_url, autocommit=True, application_name="dba-maintenance") as other:
        other.execute("SELECT pg_advisory_lock(%s)", [key])
        started = time.monotonic()
        run = vcsync(repo, "migrate", "--env", "staging", "--lock-timeout", timeout)
        waited = time.monotonic() - started
        assert run.exit_code == 1
        assert float(timeout) <= waited < float(timeout) + 3  # 0 means "don't wait", not forever
        sentence = one_sentence(run.stderr)
        assert f"is locked by dba-maintenance (backend pid {other.info.backend_pid})" in sentence
        assert f"waited {timeout} s (raise --lock-timeout to wait longer)" in sentence
        assert run.stdout == ""
        other.execute("SELECT pg_advisory_unlock(%s)", [key])  # now, not when the session ends
    run = vcsync(repo, "migrate", "--env", "staging", "--lock-timeout", timeout)
    assert run.exit_code == 0, run.stderr
    assert pg_states(pg_url) == [("1", "applied"), ("2", "applied")]


# --- SQLite -------------------------------------------------------------------------------


def sqlite_rows(db: Path, query: str) -> list[Any]:
    with sqlite3.connect(db) as conn:
        return conn.execute(query).fetchall()


def sqlite_states(db: Path) -> list[tuple[str, str]]:
    return [
        tuple(r)
        for r in sqlite_rows(
            db,
            "SELECT h.version, s.status FROM version_control__schema_migration_s s "
            "JOIN version_control__schema_migration_h h USING (migration_hk) "
            "ORDER BY s.load_dts, h.version_sort",
        )
    ]


def test_a_held_sqlite_lock_names_its_holder_and_times_out(tmp_path: Path) -> None:
    repo = project(tmp_path, "sqlite:///staging.db", BASE)
    holder = os.open(repo / "staging.db-vcsync.lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(holder, fcntl.LOCK_EX)
        os.write(holder, b"vcsync migrate elsewhere pid=4242 abcdef12")
        started = time.monotonic()
        run = vcsync(repo, "migrate", "--env", "staging", "--lock-timeout", "0.5")
        waited = time.monotonic() - started
    finally:
        os.close(holder)  # releases the flock
    assert run.exit_code == 1 and 0.5 <= waited < 3
    sentence = one_sentence(run.stderr)
    assert (
        "is locked by another deployment (vcsync migrate elsewhere pid=4242 abcdef12)" in sentence
    )
    assert "--lock-timeout" in sentence
    run = vcsync(repo, "migrate", "--env", "staging", "--lock-timeout", "0.5")
    assert run.exit_code == 0, run.stderr
    assert sqlite_states(repo / "staging.db") == [("1", "applied"), ("2", "applied")]


def test_a_kill_9_mid_sqlite_migration_leaves_the_database_consistent(
    tmp_path: Path, procs: Processes
) -> None:
    rows = (
        "INSERT INTO big WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c "
        "WHERE x < 1000000000) SELECT x FROM c;\n"
    )
    repo = project(
        tmp_path,
        "sqlite:///staging.db",
        {**BASE, **mig(3, "big", "CREATE TABLE big (x integer);\n" + rows)},
    )
    db = repo / "staging.db"
    journal = repo / "staging.db-journal"
    proc = procs.start(repo, "migrate", "--env", "staging")
    # only V3's insert makes the file grow past a few MB (SQLite spills its cache to it)
    wait_for(lambda: db.exists() and db.stat().st_size > 4_000_000, 20, "V3 to write rows")
    proc.kill()
    proc.wait(timeout=5)
    assert journal.exists()  # killed inside the transaction: a hot journal is left behind

    lock = os.open(repo / "staging.db-vcsync.lock", os.O_RDWR)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)  # the kernel released it at once
    finally:
        os.close(lock)
    assert sqlite_rows(db, "PRAGMA integrity_check") == [("ok",)]  # rolled the journal back
    assert not journal.exists() or journal.stat().st_size == 0
    assert sqlite_states(db) == [("1", "applied"), ("2", "applied")]
    assert not sqlite_rows(db, "SELECT 1 FROM sqlite_schema WHERE name = 'big'")

    write(repo, {"database/migrations/V3__big.sql": "CREATE TABLE big (x integer);\n"})
    run = vcsync(repo, "migrate", "--env", "staging", "--lock-timeout", "5")
    assert run.exit_code == 0, run.stderr
    assert sqlite_states(db)[-1] == ("3", "applied")
    assert sqlite_rows(db, "SELECT count(*) FROM big") == [(0,)]


# --- both back ends -----------------------------------------------------------------------

BROKEN = (
    "CREATE TABLE a (x integer);\nCREATE TABLE b (x integer);\n"
    "INSERT INTO missing VALUES (1);\n"
    "CREATE TABLE c (x integer);\nCREATE TABLE d (x integer);\n"
)


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
def test_a_failing_statement_rolls_back_and_names_its_index_and_the_recovery(
    request: pytest.FixtureRequest, tmp_path: Path, kind: str
) -> None:
    url = request.getfixturevalue("pg_url") if kind == "postgres" else "sqlite:///staging.db"
    repo = project(tmp_path, url, {**table(1), **mig(2, "broken", BROKEN)})

    def rows(query: str) -> list[Any]:
        if kind == "postgres":
            return pg(url, query)
        return sqlite_rows(
            repo / "staging.db", query.replace("version_control.", "version_control__")
        )

    def exists(name: str) -> bool:
        if kind == "postgres":
            return pg_has_table(url, name)
        return bool(rows(f"SELECT 1 FROM sqlite_schema WHERE name = '{name}'"))

    run = vcsync(repo, "migrate", "--env", "staging")
    assert run.exit_code == 1
    assert "Traceback" not in run.stderr
    failure, recovery, head = run.stderr.strip().splitlines()
    assert "ledger head " in head
    assert "migration 2 failed: statement 3 of 5 failed:" in failure
    assert recovery == (
        "to recover: nothing of 2 was applied (its transaction was rolled back): fix "
        "database/migrations/V2__broken.sql and run `vcsync migrate --env staging` again."
    )
    assert exists("t1") and not exists("a") and not exists("b")
    satellite = rows(
        "SELECT s.status, s.failed_statement_index, s.failed_statement, s.error "
        "FROM version_control.schema_migration_s s "
        "JOIN version_control.schema_migration_h h USING (migration_hk) WHERE h.version = '2'"
    )
    assert len(satellite) == 1
    status, index, statement, error = satellite[0]
    assert (status, index, statement) == ("failed", 3, "INSERT INTO missing VALUES (1)")
    assert "missing" in error and error in failure  # the database's own words, recorded
    log = rows("SELECT outcome, error FROM version_control.deployment_history ORDER BY seq")
    assert log[-1][0] == "failed" and "statement 3 of 5" in log[-1][1]

    write(
        repo,
        {
            "database/migrations/V2__broken.sql": BROKEN.replace(
                "INSERT INTO missing", "INSERT INTO a"
            )
        },
    )
    again = vcsync(repo, "migrate", "--env", "staging")
    assert again.exit_code == 0, again.stderr
    assert all(exists(name) for name in "abcd")
    assert rows("SELECT x FROM a") == [(1,)]
    statuses = rows(
        "SELECT s.status FROM version_control.schema_migration_s s "
        "JOIN version_control.schema_migration_h h USING (migration_hk) "
        "WHERE h.version = '2' ORDER BY s.load_dts"
    )
    assert statuses == [("failed",), ("applied",)]


# --- configuration ------------------------------------------------------------------------


@pytest.mark.parametrize("password", [SECRET, "pw S3cret"])
def test_wrong_credentials_exit_2_in_one_sentence_without_the_password(
    pg_url: str, tmp_path: Path, password: str
) -> None:
    # a space makes libpq quote the password back in its own error message
    url = pg_url.replace("postgres@", f"nosuchrole:{password}@")
    repo = project(tmp_path, url, BASE)
    for command in (["migrate", "--env", "staging"], ["history", "--env", "staging"]):
        run = vcsync(repo, *command)
        assert run.exit_code == 2, run.stderr
        sentence = one_sentence(run.stderr)
        assert sentence.startswith(
            (
                "vcsync: cannot connect to postgresql://nosuchrole@",
                # libpq itself refuses a URL with a raw space, before any connection
                "vcsync: environments.staging.url is not a valid PostgreSQL URL: unexpected "
                "spaces found",
            )
        ), sentence
        assert password not in run.stdout + run.stderr
        assert "S3cret" not in run.stdout + run.stderr


def test_an_unset_url_variable_exits_2_naming_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("VCSYNC_MISSING_URL", raising=False)
    repo = project(tmp_path, "env:VCSYNC_MISSING_URL", BASE)
    run = vcsync(repo, "migrate", "--env", "staging")
    assert run.exit_code == 2
    assert one_sentence(run.stderr) == (
        "vcsync: the environment variable VCSYNC_MISSING_URL named by "
        "environments.staging.url is not set."
    )


def test_a_malformed_url_is_a_configuration_error_without_the_password(tmp_path: Path) -> None:
    repo = project(tmp_path, f"postgresql://u:{SECRET}@[::1/db", BASE)
    run = vcsync(repo, "migrate", "--env", "staging")
    assert run.exit_code == 2
    assert SECRET not in one_sentence(run.stderr)


def test_status_names_who_is_deploying_right_now(tmp_path: Path) -> None:
    """SQLite here; the PostgreSQL holder query is the one `--lock-timeout` already proves."""
    repo = make_repo(
        tmp_path / "p",
        BASE,
        config=('[tool.vcsync.environments.staging]\nurl = "sqlite:///staging.db"\n'),
    )
    assert vcsync(repo, "migrate", "--env", "staging").exit_code == 0
    with open(repo / "staging.db-vcsync.lock", "r+") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        held.write("vcsync migrate ci-runner-7 pid=4242 a1b2c3d4")
        held.flush()
        run = vcsync(repo, "status")
    assert run.lines[-1] == (
        "staging is being deployed now by vcsync migrate ci-runner-7 pid=4242 a1b2c3d4"
    )
    assert "being deployed" not in vcsync(repo, "status").stdout


def test_status_names_who_holds_the_postgres_deploy_lock(tmp_path: Path, pg_url: str) -> None:
    import psycopg

    from vcsync.db.postgres import lock_key

    repo = make_repo(
        tmp_path / "p", BASE, config=(f'[tool.vcsync.environments.staging]\nurl = "{pg_url}"\n')
    )
    assert vcsync(repo, "migrate", "--env", "staging").exit_code == 0
    holder = "vcsync migrate ci-runner-7 pid=4242 a1b2c3d4"
    with psycopg.connect(pg_url, autocommit=True, application_name=holder) as other:
        other.execute("SELECT pg_advisory_lock(%s)", [lock_key(".version_control")])
        line = vcsync(repo, "status").lines[-1]
    assert line.startswith(f"staging is being deployed now by {holder} (backend pid ")
