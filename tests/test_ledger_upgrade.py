"""A ledger written by an older vcsync is upgraded in place (DESIGN §5): its rows stay as
they were, tables only gain columns, views are replaced, the new version is recorded,
and the audit accepts the old chain while sealing every new run.

The fixtures are real version-1 ledgers: tests/fixtures/ledger_v1.*.sql were dumped
(`sqlite3 .dump`, `pg_dump --inserts --no-owner`) after vcsync 4a8f574 ran migrate --to 2,
migrate, rollback --steps 1, migrate and tag-release over tests/projects.py's BASE.
"""

from __future__ import annotations

from tests.projects import Project, load_ledger_dump
from vcsync.ledger.schema import ADDED_COLUMNS, LEDGER_VERSION, TABLES

V1_TABLES = (
    "ledger_version",
    "schema_migration_h",
    "schema_migration_s",
    "deployment_log",
    "release_h",
    "release_s",
    "schema_snapshot",
)


def load_v1(project: Project) -> None:
    load_ledger_dump(project, 1)


def v1_rows(project: Project) -> dict[str, list[tuple[object, ...]]]:
    """Every version-1 column of every version-1 table, as text, in a stable order."""
    found = {}
    for table in V1_TABLES:
        names = [
            line.split()[0]
            for line in TABLES[table].split(",")
            if line.split()
            and line.split()[0].isidentifier()
            and line.split()[0] not in ("PRIMARY", "UNIQUE")
        ]
        assert not set(names) & set(ADDED_COLUMNS.get(table, {}))
        cast = ", ".join(f"CAST({n} AS text)" for n in names)
        rows = project.query(f"SELECT {cast} FROM {project.ledger(table)}")
        found[table] = sorted(rows, key=repr)
    return found


def test_a_version_1_ledger_is_upgraded_in_place_with_its_rows_untouched(
    project: Project,
) -> None:
    load_v1(project)
    before = v1_rows(project)
    assert len(before["deployment_log"]) == 4

    run = project.run("migrate", "--env", "staging")
    assert run.exit_code == 0, run.stderr
    assert "nothing to do" in run.stdout

    after = v1_rows(project)
    for table, rows in before.items():  # insert-only: every old row is still there, as it was
        assert all(row in after[table] for row in rows), table
    versions = project.query(f"SELECT version FROM {project.ledger('ledger_version')}")
    assert sorted(v for (v,) in versions) == [1, LEDGER_VERSION]

    history = project.run("history", "--env", "staging")
    assert history.exit_code == 0
    assert len([line for line in history.lines if "succeeded" in line]) == 5

    verify = project.run("verify", "--env", "staging")
    assert verify.exit_code == 0, verify.stdout + verify.stderr

    back = project.run("rollback", "--env", "staging", "--steps", "1", "--reason", "after upgrade")
    assert back.exit_code == 0, back.stderr
    assert not project.query(
        f"SELECT 1 FROM {project.ledger('migration_dashboard')} "
        "WHERE version = '3' AND status = 'applied' AND environment_name = 'staging'"
    )


def test_an_edit_to_an_upgraded_ledgers_old_rows_is_still_vc209(project: Project) -> None:
    load_v1(project)
    assert project.run("migrate", "--env", "staging").exit_code == 0
    log = project.ledger("deployment_log")
    if project.kind == "sqlite":
        project.query("DROP TRIGGER version_control__deployment_log_no_update")
        project.query(f"UPDATE {log} SET operator = 'mallory' WHERE seq = 2")
    else:
        project.query(f"ALTER TABLE {log} DISABLE TRIGGER insert_only")
        project.query(f"UPDATE {log} SET operator = 'mallory' WHERE seq = 2")
    verify = project.run("verify", "--env", "staging")
    assert verify.exit_code == 1
    assert any(
        line.startswith("VC209 staging: deployment_log row 2") and "was edited" in line
        for line in verify.lines
    ), verify.stdout


def test_a_version_1_ledger_not_yet_upgraded_reads_and_verifies(project: Project) -> None:
    """A team upgrades vcsync, then runs status, history and the gate before any migrate."""
    load_v1(project)
    history = project.run("history", "--env", "staging")
    assert history.exit_code == 0, history.stderr
    assert len([line for line in history.lines if "succeeded" in line]) == 4
    assert project.run("status").exit_code == 0
    verify = project.run("verify", "--env", "staging")
    assert verify.exit_code == 0, verify.stdout + verify.stderr
    versions = project.query(f"SELECT version FROM {project.ledger('ledger_version')}")
    assert [v for (v,) in versions] == [1]  # reading never upgrades
