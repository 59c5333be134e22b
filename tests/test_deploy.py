"""migrate, rollback, baseline, repair, status and history on SQLite and on real PostgreSQL."""

from __future__ import annotations

import itertools
import json

import pytest

from tests.helpers import commit, git, write
from tests.projects import SECRET, Project, mig


def test_migrate_applies_pending_migrations_in_order_and_records_provenance(
    project: Project,
) -> None:
    git(project.path, "tag", "-a", "v1.0.0", "-m", "first release")
    run = project.run("migrate", "--env", "staging")
    assert run.exit_code == 0, run.stderr
    assert [line.split()[:2] for line in run.lines[:3]] == [
        ["applied", "1"],
        ["applied", "2"],
        ["applied", "3"],
    ]
    assert project.has_table("orders")
    head = git(project.path, "rev-parse", "HEAD").strip()
    rows = project.query(
        f"SELECT operation, outcome, commit_sha, ref, tag, migrations, dry_run "
        f"FROM {project.ledger('deployment_history')}"
    )
    assert [tuple(r[:6]) for r in rows] == [
        ("migrate", "succeeded", head, "main", "v1.0.0", "1,2,3")
    ]
    assert not rows[0][6]
    states = project.query(
        f"SELECT version, status, commit_sha FROM "
        f"{project.ledger('migration_dashboard')} ORDER BY version_sort"
    )
    assert states == [("1", "applied", head), ("2", "applied", head), ("3", "applied", head)]
    assert project.query(f"SELECT version FROM {project.ledger('database_version')}") == [("3",)]
    again = project.run("migrate", "--env", "staging")
    assert again.exit_code == 0 and "nothing to do" in again.stdout


def test_migrate_to_stops_at_that_version(project: Project) -> None:
    assert project.run("migrate", "--env", "staging", "--to", "2").exit_code == 0
    assert project.has_table("orders")
    states = project.query(f"SELECT version FROM {project.ledger('migration_dashboard')}")
    assert sorted(states) == [("1",), ("2",)]


def test_dry_run_changes_nothing_but_logs_the_run(project: Project) -> None:
    project.run("migrate", "--env", "staging", "--to", "1")
    run = project.run("migrate", "--env", "staging", "--dry-run")
    assert run.exit_code == 0 and "(dry run: rolled back)" in run.stdout
    assert not project.has_table("orders")
    rows = project.query(
        f"SELECT migrations, dry_run FROM {project.ledger('deployment_history')} ORDER BY seq"
    )
    assert [(m, bool(d)) for m, d in rows] == [("1", False), ("2,3", True)]
    assert project.counts()["schema_migration_s"] == 1


def test_dry_run_reports_the_error_without_changing_anything(project: Project) -> None:
    write(project.path, {"database/migrations/V3__names.sql": "ALTER TABLE nowhere ADD x int;\n"})
    run = project.run("migrate", "--env", "staging", "--dry-run")
    assert run.exit_code == 1
    assert "migration 3 failed: statement 1 of 1 failed" in run.stderr
    assert not project.has_table("customers")


def test_a_failing_statement_is_recorded_and_the_recovery_named(project: Project) -> None:
    write(
        project.path,
        mig(
            "4",
            "broken",
            "CREATE TABLE a (x int);\nCREATE TABLE b (x int);\n"
            "INSERT INTO missing VALUES (1);\nCREATE TABLE c (x int);\n"
            "CREATE TABLE d (x int);\n",
            "DROP TABLE d;\n",
        ),
    )
    run = project.run("migrate", "--env", "staging")
    assert run.exit_code == 1
    assert "migration 4 failed: statement 3 of 5 failed:" in run.stderr
    assert (
        "to recover: nothing of 4 was applied (its transaction was rolled back): fix "
        "database/migrations/V4__broken.sql and run `vcsync migrate --env staging` again."
        in run.stderr
    )
    assert "Traceback" not in run.stderr
    assert not project.has_table("a") and project.has_table("customers")
    failed = project.query(
        f"SELECT status, failed_statement_index, failed_statement, error FROM "
        f"{project.ledger('migration_dashboard')} WHERE version = '4'"
    )
    assert failed[0][:3] == ("failed", 3, "INSERT INTO missing VALUES (1)")
    assert "missing" in failed[0][3]
    write(project.path, {"database/migrations/V4__broken.sql": "CREATE TABLE a (x int);\n"})
    assert project.run("migrate", "--env", "staging").exit_code == 0
    assert project.has_table("a")


def test_a_script_that_does_not_parse_fails_alone_and_is_recorded(project: Project) -> None:
    broken = "ALTER TABLE customers ADD COLUMN name text;\nCREATE VIEW names AS SELECT 'oops;\n"
    write(project.path, {"database/migrations/V3__names.sql": broken})
    run = project.run("migrate", "--env", "staging")
    assert run.exit_code == 1
    assert [line.split()[:2] for line in run.lines] == [
        ["applied", "1"],
        ["applied", "2"],
        ["failed", "3"],
    ]
    # PostgreSQL cannot even split it (pglast); SQLite fails on its second statement
    reason = {
        "postgres": "the script does not parse at line 2: unterminated quoted string",
        "sqlite": "statement 2 of 2 failed: unrecognized token",
    }[project.kind]
    assert f"migration 3 failed: {reason}" in run.stderr
    assert "Traceback" not in run.stderr
    assert project.has_table("orders")
    states = project.query(
        f"SELECT version, status, error FROM {project.ledger('migration_dashboard')} "
        "ORDER BY version_sort"
    )
    assert [s[:2] for s in states] == [("1", "applied"), ("2", "applied"), ("3", "failed")]
    assert reason in states[2][2]
    log = project.query(f"SELECT outcome, migrations FROM {project.ledger('deployment_history')}")
    assert log == [("failed", "1,2,3")]
    write(project.path, {"database/migrations/V3__names.sql": broken.replace("oops;", "ok';")})
    assert project.run("migrate", "--env", "staging").exit_code == 0
    assert project.query(f"SELECT version FROM {project.ledger('database_version')}") == [("3",)]


def test_a_failed_no_transaction_migration_needs_repair(project: Project) -> None:
    write(
        project.path,
        mig(
            "4",
            "partial",
            "-- vcsync: no-transaction\nCREATE TABLE half (x int);\n"
            "INSERT INTO missing VALUES (1);\n",
            "DROP TABLE half;\n",
        ),
    )
    run = project.run("migrate", "--env", "staging")
    assert run.exit_code == 1
    assert "4 ran without a transaction and 1 statement of it committed" in run.stderr
    assert "`vcsync repair --env staging --resolution applied`" in run.stderr
    assert project.has_table("half")  # no transaction: statement 1 stayed
    blocked = project.run("migrate", "--env", "staging")
    assert (
        blocked.exit_code == 1
        and "failed in staging at statement 2 without a transaction" in blocked.stderr
    )
    repaired = project.run(
        "repair",
        "--env",
        "staging",
        "--resolution",
        "applied",
        "--reason",
        "created missing by hand",
    )
    assert repaired.exit_code == 0, repaired.stderr
    states = project.query(
        f"SELECT status FROM {project.ledger('migration_dashboard')} WHERE version = '4'"
    )
    assert states == [("applied",)]
    assert project.run("migrate", "--env", "staging").exit_code == 0
    history = json.loads(project.run("history", "--env", "staging", "--format", "json").stdout)
    operations = [d["operation"] for d in history[0]["deployments"]]
    assert operations == ["migrate", "repair", "migrate", "migrate"]


def test_rollback_runs_the_recorded_rollback_newest_first(project: Project) -> None:
    project.run("migrate", "--env", "staging")
    write(project.path, {"database/rollback/V3__names_rollback.sql": "SELECT 1;\n"})
    run = project.run("rollback", "--env", "staging", "--to", "1", "--reason", "incident 42")
    assert run.exit_code == 0, run.stderr
    assert [line.split()[:3] for line in run.lines[:2]] == [
        ["rolled", "back", "3"],
        ["rolled", "back", "2"],
    ]
    assert (
        "warning: the rollback of 3 in Git differs from the one recorded at deploy time"
        in run.stderr
    )
    assert not project.has_table("orders")
    columns = (
        project.query("SELECT name FROM pragma_table_info('customers')")
        if project.kind == "sqlite"
        else project.query(
            "SELECT column_name FROM information_schema.columns WHERE table_name = 'customers'"
        )
    )
    assert ("name",) not in columns  # the recorded rollback ran, not Git's SELECT 1
    reason = project.query(
        f"SELECT reason, migrations FROM {project.ledger('deployment_history')} "
        "WHERE operation = 'rollback'"
    )
    assert reason == [("incident 42", "3,2")]
    assert project.query(f"SELECT version FROM {project.ledger('database_version')}") == [("1",)]
    assert project.run("migrate", "--env", "staging").exit_code == 0
    assert project.has_table("orders")


def test_rollback_steps_and_usage_errors(project: Project) -> None:
    project.run("migrate", "--env", "staging")
    assert (
        project.run("rollback", "--env", "staging", "--steps", "1", "--reason", "x").exit_code == 0
    )
    states = dict(
        project.query(f"SELECT version, status FROM {project.ledger('migration_dashboard')}")
    )
    assert states == {"1": "applied", "2": "applied", "3": "rolled_back"}
    both = project.run("rollback", "--env", "staging", "--steps", "1", "--to", "1", "--reason", "x")
    assert both.exit_code == 2 and "--to VERSION or --steps N" in both.stderr
    missing = project.run("rollback", "--env", "staging", "--steps", "1")
    assert missing.exit_code == 2 and "--reason" in missing.stderr


def test_an_irreversible_migration_is_not_rolled_back(project: Project) -> None:
    write(
        project.path,
        mig(
            "4",
            "purge",
            "DELETE FROM customers;\n",
            "-- vcsync: irreversible -- deleted rows are gone\n",
        ),
    )
    project.run("migrate", "--env", "staging")
    run = project.run("rollback", "--env", "staging", "--steps", "1", "--reason", "oops")
    assert run.exit_code == 1
    assert "4 has no rollback (irreversible: deleted rows are gone)" in run.stderr


def test_baseline_adopts_an_existing_database_once(project: Project) -> None:
    run = project.run("baseline", "--env", "staging", "--version", "2")
    assert run.exit_code == 0, run.stderr
    states = dict(
        project.query(f"SELECT version, status FROM {project.ledger('migration_dashboard')}")
    )
    assert states == {"1": "baselined", "2": "baselined"}
    project.query("CREATE TABLE customers (id integer PRIMARY KEY, email text)")
    assert project.run("migrate", "--env", "staging").exit_code == 0
    assert not project.has_table("orders")  # 2 was adopted, not run
    again = project.run("baseline", "--env", "staging", "--version", "3")
    assert again.exit_code == 1 and "a baseline adopts a database only once" in again.stderr


def test_status_is_a_matrix_of_migrations_and_environments(project: Project) -> None:
    project.run("migrate", "--env", "staging", "--to", "2")
    project.run("migrate", "--env", "production", "--to", "1")
    run = project.run("status")
    assert run.exit_code == 0
    assert [line.split() for line in run.lines[:-1]] == [
        ["version", "description", "staging", "production"],
        ["1", "customers", "applied", "applied"],
        ["2", "orders", "applied", "pending"],
        ["3", "names", "pending", "pending"],
        [],
    ]
    assert run.lines[-1].startswith("staging is 1 migration and 1 commit ahead of production: 2 (")
    write(
        project.path,
        {"database/migrations/V1__customers.sql": "CREATE TABLE customers (id int);\n"},
    )
    data = json.loads(project.run("status", "--env", "staging", "--format", "json").stdout)
    assert [m["states"]["staging"] for m in data["migrations"]] == ["drifted", "applied", "pending"]
    refused = project.run("migrate", "--env", "staging")
    assert refused.exit_code == 1
    assert "1 was changed in Git after it was applied in staging" in refused.stderr


def test_history_lists_deployments_newest_first(project: Project) -> None:
    project.run("migrate", "--env", "staging", "--to", "1")
    commit(project.path, "another commit")
    project.run("migrate", "--env", "staging")
    data = json.loads(project.run("history", "--env", "staging", "--format", "json").stdout)
    deployments = data[0]["deployments"]
    assert [d["migrations"] for d in deployments] == ["2,3", "1"]
    assert {"operator", "host", "commit_sha", "tag", "outcome", "duration_ms", "started_at"} <= set(
        deployments[0]
    )
    text = project.run("history", "--env", "staging")
    assert text.lines[1].split()[:2] == ["when", "operation"]


def test_ledger_rows_only_ever_grow_and_refuse_edits(project: Project) -> None:
    seen = []
    for args in (
        ("migrate", "--to", "2"),
        ("migrate",),
        ("rollback", "--steps", "2", "--reason", "r"),
        ("migrate", "--to", "2"),
        ("repair", "--resolution", "applied"),
    ):
        project.run(args[0], "--env", "staging", *args[1:])
        seen.append(project.counts())
    for before, after in itertools.pairwise(seen):
        assert all(after[t] >= before[t] for t in before), (before, after)
    assert seen[-1]["deployment_log"] == 5
    for statement in (
        f"UPDATE {project.ledger('deployment_log')} SET outcome = 'x'",
        f"DELETE FROM {project.ledger('schema_migration_s')}",
    ):
        with pytest.raises(Exception, match="insert-only"):
            project.query(statement)


def test_no_password_in_any_output_or_ledger_row(project: Project) -> None:
    outputs = [
        project.run(*args)
        for args in (
            ("migrate", "--env", "staging"),
            ("status",),
            ("history", "--env", "staging"),
            ("history", "--env", "staging", "--format", "json"),
            ("migrate", "--env", "staging", "--format", "json"),
        )
    ]
    for run in outputs:
        assert SECRET not in run.stdout + run.stderr
    for table in ("deployment_log", "schema_migration_s"):
        assert SECRET not in repr(project.query(f"SELECT * FROM {project.ledger(table)}"))


def test_unknown_environment_and_missing_env_variable_are_exit_2(project: Project) -> None:
    run = project.run("migrate", "--env", "qa")
    assert run.exit_code == 2
    assert run.stderr == (
        "vcsync: environment 'qa' is not configured (configured: production, staging).\n"
    )
    write(
        project.path,
        {"pyproject.toml": '[tool.vcsync.environments.staging]\nurl = "env:VCSYNC_TEST_NOT_SET"\n'},
    )
    run = project.run("migrate", "--env", "staging")
    assert run.exit_code == 2 and run.stderr == (
        "vcsync: the environment variable VCSYNC_TEST_NOT_SET named by "
        "environments.staging.url is not set.\n"
    )


def test_a_ledger_from_a_newer_vcsync_is_refused(project: Project) -> None:
    project.run("migrate", "--env", "staging", "--to", "1")
    now = "'2030-01-01T00:00:00+00:00'" if project.kind == "sqlite" else "now()"
    project.query(
        f"INSERT INTO {project.ledger('ledger_version')} (version, load_dts, record_source) "
        f"VALUES (99, {now}, 'future')"
    )
    run = project.run("migrate", "--env", "staging")
    assert run.exit_code == 1
    assert "has version 99, written by a newer vcsync" in run.stderr


def test_a_dry_run_stops_at_a_no_transaction_migration(project: Project) -> None:
    write(
        project.path,
        {
            **mig(
                "4",
                "idx",
                "-- vcsync: no-transaction\nCREATE INDEX customers_email_idx "
                "ON customers (email);\n",
                "DROP INDEX customers_email_idx;\n",
            ),
            **mig("5", "more", "CREATE TABLE more (a int);\n", "DROP TABLE more;\n"),
        },
    )
    run = project.run("migrate", "--env", "staging", "--dry-run")
    assert run.exit_code == 0, run.stderr
    steps = [line.split()[:2] for line in run.lines[:-1]]
    assert steps == [["applied", "1"], ["applied", "2"], ["applied", "3"], ["not", "executed"]]
    assert "marked no-transaction, so it cannot run inside a dry run" in run.lines[3]
    assert not project.has_table("customers") and not project.has_table("more")
