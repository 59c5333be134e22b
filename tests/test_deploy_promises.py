"""DESIGN §4 "What a deployment promises", on SQLite and PostgreSQL, with scripts shaped
like real ones: their own BEGIN/COMMIT (Atlas output, hand-written data migrations),
downs that fail, comment-only downs, no-transaction scripts killed half-way.

Each test failed on the code before these promises were kept; each asserts what a user
sees: exit codes, the lines printed, ledger rows, and the schema and data left behind.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.projects import Project, project_with
from tests.test_deploy_robustness import Processes, wait_for

# A data migration that commits on its own, as Atlas and hand-written scripts do.
OWN_COMMIT = "CREATE TABLE t2 (id integer);\nBEGIN;\nINSERT INTO t2 VALUES (1);\nCOMMIT;\n"


def mig(n: int, desc: str, up: str, down: str) -> dict[str, str]:
    return {
        f"database/migrations/V{n}__{desc}.sql": up,
        f"database/rollback/V{n}__{desc}_rollback.sql": down,
    }


def table(n: int) -> dict[str, str]:
    return mig(n, f"t{n}", f"CREATE TABLE t{n} (id integer);\n", f"DROP TABLE t{n};\n")


@pytest.fixture(params=["sqlite", "postgres"])
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


DATA_BETWEEN_TABLES = {**table(1), **mig(2, "data", OWN_COMMIT, "DROP TABLE t2;\n"), **table(3)}


def make(
    request: pytest.FixtureRequest, tmp_path: Path, kind: str, files: dict[str, str]
) -> Project:
    url = request.getfixturevalue("pg_url") if kind == "postgres" else "sqlite:///staging.db"
    return project_with(tmp_path, kind, url, files)


@pytest.fixture
def procs() -> Iterator[Processes]:
    running = Processes()
    yield running
    running.stop()


def has_ledger(project: Project, name: str) -> bool:
    if project.kind == "sqlite":
        return project.has_table(f"version_control__{name}")
    return bool(project.query(f"SELECT to_regclass('version_control.{name}') IS NOT NULL")[0][0])


def statuses(project: Project) -> dict[str, str]:
    """The newest state of each migration, as the dashboard view shows it."""
    if not has_ledger(project, "migration_dashboard"):
        return {}
    rows = project.query(
        f"SELECT version, status FROM {project.ledger('migration_dashboard')} ORDER BY version"
    )
    return dict(rows)


# -- a dry run changes nothing -------------------------------------------------------------


def test_a_dry_run_stops_before_a_script_with_its_own_commit_and_changes_nothing(
    request: pytest.FixtureRequest, tmp_path: Path, kind: str
) -> None:
    project = make(request, tmp_path, kind, DATA_BETWEEN_TABLES)
    run = project.run("migrate", "--env", "staging", "--dry-run")
    assert run.exit_code == 0, run.stderr
    assert [line.split()[:2] for line in run.lines[:2]] == [["applied", "1"], ["not", "executed"]]
    assert "statement 2 is BEGIN" in run.lines[1] and "cannot run inside a dry run" in run.lines[1]
    assert "stopped at a script that cannot run inside it" in run.stdout
    assert not any(project.has_table(name) for name in ("t1", "t2", "t3"))
    assert statuses(project) == {}  # nothing recorded as applied


def test_a_real_migrate_runs_a_script_with_its_own_commit_outside_vcsyncs_transaction(
    request: pytest.FixtureRequest, tmp_path: Path, kind: str
) -> None:
    project = make(request, tmp_path, kind, DATA_BETWEEN_TABLES)
    run = project.run("migrate", "--env", "staging")
    assert run.exit_code == 0, run.stderr
    assert (
        "ran outside vcsync's transaction: it controls its own transactions (statement 2 is BEGIN)"
        in run.lines[1]
    )
    assert project.query("SELECT id FROM t2") == [(1,)]
    assert statuses(project) == {"1": "applied", "2": "applied", "3": "applied"}


def test_a_rollback_dry_run_never_runs_a_down_that_commits(
    request: pytest.FixtureRequest, tmp_path: Path, kind: str
) -> None:
    down = "BEGIN;\nDROP TABLE t2;\nCOMMIT;\n"
    project = make(
        request,
        tmp_path,
        kind,
        {**table(1), **mig(2, "t2", "CREATE TABLE t2 (id integer);\n", down)},
    )
    assert project.run("migrate", "--env", "staging").exit_code == 0
    run = project.run(
        "rollback", "--env", "staging", "--steps", "1", "--reason", "try", "--dry-run"
    )
    assert run.exit_code == 0, run.stderr
    assert run.lines[0].split()[:3] == ["not", "executed", "2"]
    assert project.has_table("t2")
    assert statuses(project)["2"] == "applied"


# -- the ledger tells the truth about a failed rollback --------------------------------------


def test_a_failed_rollback_leaves_the_migration_applied_and_its_recovery_retries_it(
    request: pytest.FixtureRequest, tmp_path: Path, kind: str
) -> None:
    counter = mig(
        2,
        "counter",
        "CREATE TABLE counter (n integer);\nINSERT INTO counter VALUES (1);\n",
        "DROP TABLE counter;\nDROP TABLE helper;\n",  # helper: made by hand, dropped by hand
    )
    project = make(request, tmp_path, kind, {**table(1), **counter})
    assert project.run("migrate", "--env", "staging").exit_code == 0
    failed = project.run("rollback", "--env", "staging", "--steps", "1", "--reason", "bad deploy")
    assert failed.exit_code == 1
    assert "the rollback of 2 failed: statement 2 of 2 failed" in failed.stderr
    assert "2 is still applied" in failed.stderr
    recovery = '`vcsync rollback --env staging --steps 1 --reason "…"`'
    assert recovery in failed.stderr
    assert project.has_table("counter")  # its first statement was rolled back with it
    assert statuses(project)["2"] == "rollback_failed"
    status = project.run("status")
    assert "rollback failed" in status.stdout

    again = project.run("migrate", "--env", "staging")
    assert again.exit_code == 0 and "nothing to do" in again.stdout
    assert project.query("SELECT n FROM counter") == [(1,)]  # the up did not run twice

    project.query("CREATE TABLE helper (x integer)")  # the fix the operator makes
    retried = project.run("rollback", "--env", "staging", "--steps", "1", "--reason", "bad deploy")
    assert retried.exit_code == 0, retried.stderr
    assert retried.lines[0].split()[:3] == ["rolled", "back", "2"]
    assert project.has_table("t1") and not project.has_table("counter")
    assert statuses(project) == {"1": "applied", "2": "rolled_back"}


# -- no statement runs twice -----------------------------------------------------------------


def test_a_failing_migration_in_a_batch_runs_once_and_records_the_servers_error(
    pg_url: str, tmp_path: Path
) -> None:
    """A sequence is not transactional: if vcsync ran the failing script again to find
    the failing statement, nextval would have been called twice."""
    files = {
        **mig(1, "calls", "CREATE SEQUENCE calls;\n", "DROP SEQUENCE calls;\n"),
        **mig(2, "broken", "SELECT nextval('calls');\nSELECT 1 / 0;\n", "SELECT 1;\n"),
    }
    project = project_with(tmp_path, "postgres", pg_url, files)
    run = project.run("migrate", "--env", "staging")
    assert run.exit_code == 1
    assert (
        "migration 2 failed: statement 2 of 2 failed: division by zero (SQLSTATE 22012)"
        in run.stderr
    )
    assert project.query("SELECT last_value, is_called FROM calls") == [(1, True)]
    row = project.query(
        "SELECT s.failed_statement_index, s.failed_statement, s.error "
        "FROM version_control.schema_migration_s s JOIN version_control.schema_migration_h h "
        "USING (migration_hk) WHERE h.version = '2'"
    )
    assert row == [
        (2, "SELECT 1 / 0", "statement 2 of 2 failed: division by zero (SQLSTATE 22012)")
    ]


def test_a_script_with_its_own_commit_that_fails_later_keeps_what_it_committed_once(
    request: pytest.FixtureRequest, tmp_path: Path, kind: str
) -> None:
    up = "BEGIN;\nINSERT INTO log VALUES (1);\nCOMMIT;\nINSERT INTO missing VALUES (1);\n"
    project = make(
        request,
        tmp_path,
        kind,
        {
            **mig(1, "log", "CREATE TABLE log (n integer);\n", "DROP TABLE log;\n"),
            **mig(2, "data", up, "SELECT 1;\n"),
        },
    )
    run = project.run("migrate", "--env", "staging")
    assert run.exit_code == 1
    assert "statement 4 of 4 failed" in run.stderr and "missing" in run.stderr
    assert "3 statements of it committed" in run.stderr and "vcsync repair" in run.stderr
    assert project.query("SELECT n FROM log") == [(1,)]
    refused = project.run("migrate", "--env", "staging")
    assert refused.exit_code == 1 and "vcsync repair --env staging" in refused.stderr
    assert project.query("SELECT n FROM log") == [(1,)]


# -- irreversible downs -----------------------------------------------------------------------


def test_rollback_names_a_comment_only_down_and_crosses_it_only_when_allowed(
    request: pytest.FixtureRequest, tmp_path: Path, kind: str
) -> None:
    project = make(
        request,
        tmp_path,
        kind,
        {
            **table(1),
            **mig(2, "backfill", "CREATE TABLE t2 (id integer);\n", "-- nothing to undo\n"),
        },
    )
    assert project.run("migrate", "--env", "staging").exit_code == 0
    refused = project.run("rollback", "--env", "staging", "--to", "0", "--reason", "reset")
    assert refused.exit_code == 1
    assert "2 has no rollback (its rollback is empty)" in refused.stderr
    assert "--allow-irreversible" in refused.stderr
    assert project.has_table("t1") and project.has_table("t2")

    allowed = project.run(
        "rollback", "--env", "staging", "--to", "0", "--reason", "reset", "--allow-irreversible"
    )
    assert allowed.exit_code == 0, allowed.stderr
    assert "nothing undone" in allowed.lines[0] and allowed.lines[0].split()[:3] == [
        "rolled",
        "back",
        "2",
    ]
    assert allowed.lines[1].split()[:3] == ["rolled", "back", "1"]
    assert project.has_table("t2") and not project.has_table("t1")
    assert statuses(project) == {"1": "rolled_back", "2": "rolled_back"}


# -- interrupted runs -------------------------------------------------------------------------

SLOW = {
    "postgres": "SELECT pg_sleep(60)",
    # a recursive count that takes far longer than the test waits
    "sqlite": "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c LIMIT 100000000) "
    "SELECT count(*) FROM c",
}


def test_an_interrupted_no_transaction_migration_is_never_run_again(
    request: pytest.FixtureRequest, tmp_path: Path, kind: str, procs: Processes
) -> None:
    up = (
        "-- vcsync: no-transaction\n"
        f"INSERT INTO counter VALUES (1);\n{SLOW[kind]};\nINSERT INTO counter VALUES (2);\n"
    )
    files = {
        **mig(1, "counter", "CREATE TABLE counter (n integer);\n", "DROP TABLE counter;\n"),
        **mig(2, "fill", up, "DELETE FROM counter;\n"),
    }
    project = make(request, tmp_path, kind, files)
    proc = procs.start(project.path, "migrate", "--env", "staging")
    progress = project.ledger("migration_progress")
    wait_for(
        lambda: (
            has_ledger(project, "migration_progress")
            and project.query(f"SELECT max(statements_committed) FROM {progress}")[0][0] == 1
        ),
        30,
        "the first statement to commit",
    )
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=10)

    refused = project.run("migrate", "--env", "staging", "--lock-timeout", "10")
    assert refused.exit_code == 1
    assert "the migration 2 was interrupted in staging" in refused.stderr
    assert "after 1 statement of 3 committed" in refused.stderr
    assert "vcsync repair --env staging --resolution applied" in refused.stderr
    assert project.query("SELECT n FROM counter") == [(1,)]
    assert "interrupted" in project.run("status").stdout

    project.query("INSERT INTO counter VALUES (2)")  # the operator finishes it by hand
    repaired = project.run("repair", "--env", "staging", "--resolution", "applied")
    assert repaired.exit_code == 0, repaired.stderr
    after = project.run("migrate", "--env", "staging")
    assert after.exit_code == 0 and "nothing to do" in after.stdout
    assert sorted(project.query("SELECT n FROM counter")) == [(1,), (2,)]


def test_a_killed_run_shows_as_interrupted_and_the_next_run_seals_it(
    request: pytest.FixtureRequest, tmp_path: Path, kind: str, procs: Processes
) -> None:
    files = {
        **table(1),
        **mig(2, "slow", f"CREATE TABLE t2 (id integer);\n{SLOW[kind]};\n", "DROP TABLE t2;\n"),
    }
    project = make(request, tmp_path, kind, files)
    assert project.run("migrate", "--env", "staging", "--to", "1").exit_code == 0
    proc = procs.start(project.path, "migrate", "--env", "staging")
    view = project.ledger("deployment_history")
    wait_for(
        lambda: project.query(f"SELECT count(*) FROM {view} WHERE outcome = 'running'")[0][0] == 1,
        30,
        "the second run's start row",
    )
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=10)

    def lock_free() -> bool:
        run = project.run("history", "--env", "staging")
        return run.exit_code == 0 and "interrupted" in run.stdout

    wait_for(lock_free, 15, "history to show the killed run as interrupted")
    history = project.run("history", "--env", "staging")
    assert "interrupted" in history.lines[1] or "interrupted" in history.stdout

    write_fast = project.path / "database/migrations/V2__slow.sql"
    write_fast.write_text("CREATE TABLE t2 (id integer);\n")  # the operator drops the sleep
    resumed = project.run("migrate", "--env", "staging", "--lock-timeout", "10")
    assert resumed.exit_code == 0, resumed.stderr
    assert "was interrupted; it is recorded so" in resumed.stderr
    assert project.has_table("t2")
    outcomes = project.query(f"SELECT outcome FROM {view} ORDER BY seq")
    assert [o for (o,) in outcomes] == ["succeeded", "interrupted", "succeeded"]
    verify = project.run("verify", "--env", "staging")
    assert "VC209" not in verify.stdout and "VC402" not in verify.stdout, verify.stdout


def test_the_run_that_seals_a_killed_one_records_the_schema_it_left(
    request: pytest.FixtureRequest, tmp_path: Path, kind: str, procs: Processes
) -> None:
    """A killed run records no snapshot; the next run, even one with nothing to do,
    records the schema the killed run's committed migrations left, so `verify` reports
    no drift that vcsync itself made."""
    files = {
        **table(1),
        **mig(2, "t2", "CREATE TABLE t2 (id integer);\n", "DROP TABLE t2;\n"),
        **mig(3, "slow", f"CREATE TABLE t3 (id integer);\n{SLOW[kind]};\n", "DROP TABLE t3;\n"),
    }
    project = make(request, tmp_path, kind, files)
    assert project.run("migrate", "--env", "staging", "--to", "1").exit_code == 0
    proc = procs.start(project.path, "migrate", "--env", "staging")
    dashboard = project.ledger("migration_dashboard")
    wait_for(
        lambda: (
            project.query(
                f"SELECT count(*) FROM {dashboard} WHERE version = '2' AND status = 'applied'"
            )[0][0]
            == 1
        ),
        30,
        "migration 2 to commit",
    )
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=10)

    def sealed() -> bool:
        run = project.run("migrate", "--env", "staging", "--to", "2", "--lock-timeout", "1")
        return run.exit_code == 0

    wait_for(sealed, 15, "a run with nothing to do to take the lock")
    verify = project.run("verify", "--env", "staging")
    assert "VC402" not in verify.stdout, verify.stdout


def test_a_rollback_dry_run_stops_at_a_down_that_commits_and_goes_no_lower(
    request: pytest.FixtureRequest, tmp_path: Path, kind: str
) -> None:
    down = "BEGIN;\nDROP TABLE t2;\nCOMMIT;\n"
    files = {**table(1), **mig(2, "t2", "CREATE TABLE t2 (id integer);\n", down)}
    project = make(request, tmp_path, kind, files)
    assert project.run("migrate", "--env", "staging").exit_code == 0
    run = project.run("rollback", "--env", "staging", "--to", "0", "--reason", "x", "--dry-run")
    assert run.exit_code == 0, run.stderr
    assert [line.split()[:3] for line in run.lines[:-1]] == [["not", "executed", "2"]]
    assert project.has_table("t1") and project.has_table("t2")


def test_a_down_outside_a_transaction_that_failed_half_way_is_not_retried_blindly(
    request: pytest.FixtureRequest, tmp_path: Path, kind: str
) -> None:
    down = "-- vcsync: no-transaction\nDROP TABLE t2;\nDROP TABLE helper;\n"
    files = {**table(1), **mig(2, "t2", "CREATE TABLE t2 (id integer);\n", down)}
    project = make(request, tmp_path, kind, files)
    assert project.run("migrate", "--env", "staging").exit_code == 0
    failed = project.run("rollback", "--env", "staging", "--steps", "1", "--reason", "x")
    assert failed.exit_code == 1
    assert "its rollback ran without a transaction and 1 of its statements committed" in (
        failed.stderr
    )
    assert not project.has_table("t2")  # what committed stays committed
    again = project.run("rollback", "--env", "staging", "--steps", "1", "--reason", "x")
    assert again.exit_code == 1
    assert "the rollback of migration 2 failed in staging at statement 2" in again.stderr
    assert "vcsync repair --env staging" in again.stderr
    assert project.has_table("t1")  # the migration below was not touched
    repaired = project.run("repair", "--env", "staging", "--resolution", "pending")
    assert repaired.exit_code == 0, repaired.stderr
    assert statuses(project) == {"1": "applied", "2": "rolled_back"}


def test_each_batched_migration_shows_its_own_duration(pg_url: str, tmp_path: Path) -> None:
    files = {
        **table(1),
        **mig(2, "slow", "CREATE TABLE t2 (id integer);\nSELECT pg_sleep(0.4);\n", "SELECT 1;\n"),
        **table(3),
    }
    project = project_with(tmp_path, "postgres", pg_url, files)
    run = project.run("migrate", "--env", "staging")
    assert run.exit_code == 0, run.stderr
    durations = [int(line.rsplit("(", 1)[1].split(" ms")[0]) for line in run.lines[:3]]
    assert durations[1] >= 400 and durations[0] < 400 and durations[2] < 400, run.lines


def test_a_do_block_that_commits_runs_outside_vcsyncs_transaction(
    pg_url: str, tmp_path: Path
) -> None:
    backfill = (
        "DO $$ BEGIN FOR i IN 1..3 LOOP INSERT INTO t1 VALUES (i); COMMIT; END LOOP; END $$;\n"
    )
    files = {**table(1), **mig(2, "backfill", backfill, "DELETE FROM t1;\n")}
    project = project_with(tmp_path, "postgres", pg_url, files)
    run = project.run("migrate", "--env", "staging")
    assert run.exit_code == 0, run.stderr
    assert "statement 1 is a DO block that runs COMMIT" in run.lines[1]
    assert sorted(project.query("SELECT id FROM t1")) == [(1,), (2,), (3,)]
