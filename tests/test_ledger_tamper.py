"""Tampering with the ledger by hand is VC209 (DESIGN §5), on SQLite and PostgreSQL.

One tamper of each kind, made as an operator with a SQL console would make it (the
insert-only triggers switched off just for it), on a ledger written with
VCSYNC_LEDGER_KEY set and its head anchored by `--record-ref`. bench/tamper.py makes
every such tamper over every row and column of every ledger table.
"""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import git
from tests.projects import Project, make_project
from vcsync.config import load_config
from vcsync.db import Connection, connect
from vcsync.deploy.targets import environment_targets
from vcsync.ledger.chain import KEY_VARIABLE, head, link_hash, links

SCHEMA = "version_control"
TAIL = "; the audit trail no longer proves what ran there."


@pytest.fixture
def ledger(project: Project, monkeypatch: pytest.MonkeyPatch) -> Project:
    """Two runs under the ledger key, the second anchored in refs/deployments/staging:
    links 1-2 (migrate --to 1) and 3-4 (migrate of 2 and 3)."""
    monkeypatch.setenv(KEY_VARIABLE, "a-ledger-key")
    assert project.run("migrate", "--env", "staging", "--to", "1").exit_code == 0
    assert project.run("migrate", "--env", "staging", "--record-ref").exit_code == 0
    return project


def tamper(project: Project, *statements: str) -> None:
    """Run `statements` in one transaction with the insert-only triggers off, then on again."""
    if project.kind == "postgres":
        import psycopg

        with psycopg.connect(project.url) as conn:
            conn.execute("SET LOCAL session_replication_role = replica")
            for statement in statements:
                conn.execute(statement)
        return
    db = sqlite3.connect(project.path / "staging.db", isolation_level=None)
    try:
        db.execute("BEGIN")
        guards = db.execute(
            "SELECT name, sql FROM sqlite_schema WHERE type = 'trigger' AND name LIKE ?",
            [f"{SCHEMA}__%"],
        ).fetchall()
        for name, _ in guards:
            db.execute(f'DROP TRIGGER "{name}"')
        for statement in statements:
            db.execute(statement)
        for _, definition in guards:
            db.execute(definition)
        db.execute("COMMIT")
    finally:
        db.close()


def vc209(project: Project) -> list[str]:
    """verify's output, asserting it failed."""
    run = project.run("verify", "--env", "staging")
    assert run.exit_code == 1, run.stdout + run.stderr
    return run.lines


def line(problem: str) -> str:
    return f"VC209 staging: {problem}{TAIL}"


def run_id(project: Project, where: str) -> str:
    """The short deployment id of the run that wrote the ledger row `where` finds."""
    return str(project.query(where)[0][0])[:12]


@pytest.fixture
def chain(ledger: Project) -> Iterator[Connection]:
    """vcsync's own connection to the ledger, for reading and extending the chain."""
    target = environment_targets(load_config(ledger.path / "pyproject.toml"), "staging")[0]
    conn = connect(target, holder="test", create=False)
    yield conn
    conn.close()


def test_an_untouched_ledger_passes_verify(ledger: Project) -> None:
    run = ledger.run("verify", "--env", "staging")
    assert run.exit_code == 0, run.stdout + run.stderr
    assert run.stdout == ""


def test_a_status_flipped_from_applied_to_rolled_back_is_vc209(ledger: Project) -> None:
    satellite = ledger.ledger("schema_migration_s")
    hub = ledger.ledger("schema_migration_h")
    v3 = f"(SELECT migration_hk FROM {hub} WHERE version = '3')"
    tamper(ledger, f"UPDATE {satellite} SET status = 'rolled_back' WHERE migration_hk = {v3}")
    run = run_id(ledger, f"SELECT deployment_id FROM {satellite} WHERE migration_hk = {v3}")
    assert vc209(ledger) == [
        line(
            f"the ledger rows of deployment {run} were edited, deleted or added to after it "
            "ended (their digest no longer matches)"
        )
    ]


def test_an_edited_record_source_is_vc209(ledger: Project) -> None:
    log = ledger.ledger("deployment_log")
    tamper(ledger, f"UPDATE {log} SET record_source = 'vcsync ' WHERE seq = 1")
    started = ledger.query(f"SELECT started_at FROM {log} WHERE seq = 1")[0][0]
    if isinstance(started, datetime):
        started = started.astimezone(UTC).isoformat()
    assert vc209(ledger) == [
        line(f"deployment_log row 1 (migrate of {started[:16]}) was edited after it was written")
    ]


def test_a_deleted_release_is_vc209(ledger: Project) -> None:
    assert ledger.run("tag-release", "v1", "--env", "staging").exit_code == 0
    hub, satellite = ledger.ledger("release_h"), ledger.ledger("release_s")
    run = run_id(ledger, f"SELECT deployment_id FROM {hub}")
    tamper(ledger, f"DELETE FROM {satellite}", f"DELETE FROM {hub}")
    assert vc209(ledger) == [
        line(
            f"the ledger rows of deployment {run} were edited, deleted or added to after it "
            "ended (their digest no longer matches)"
        )
    ]


def test_reordered_links_are_vc209(ledger: Project) -> None:
    log, end = ledger.ledger("deployment_log"), ledger.ledger("deployment_end")
    tamper(
        ledger,
        f"UPDATE {log} SET seq = -1 WHERE seq = 1",
        f"UPDATE {end} SET seq = 1 WHERE seq = 2",
        f"UPDATE {log} SET seq = 2 WHERE seq = -1",
    )
    assert vc209(ledger) == [
        line("deployment_end row 1 does not follow link 0 (reordered or forged)"),
        line("deployment_log row 2 does not follow link 1 (reordered or forged)"),
        line("deployment_log row 3 does not follow link 2 (reordered or forged)"),
    ]


def test_deleting_the_newest_links_is_caught_by_the_anchored_head(ledger: Project) -> None:
    """The newest run hidden (its schema change undone by hand, its links and every row it
    wrote deleted) leaves a valid, shorter chain: only the head anchored outside the
    database shows it."""
    end = ledger.ledger("deployment_end")
    gone = ledger.query(f"SELECT deployment_id FROM {end} WHERE seq = 4")[0][0]
    tables = ("deployment_end", "deployment_log", "schema_migration_s", "schema_migration_h")
    tamper(
        ledger,
        "DROP TABLE orders",
        "ALTER TABLE customers DROP COLUMN name",
        *(
            f"DELETE FROM {ledger.ledger(table)} WHERE deployment_id = '{gone}'"
            for table in (*tables, "schema_snapshot")
        ),
    )
    assert vc209(ledger) == [
        line(
            "refs/deployments/staging anchors ledger link 4, but the chain ends at link 2: "
            "its newest rows were deleted"
        )
    ]
    git(ledger.path, "update-ref", "-d", "refs/deployments/staging")
    assert ledger.run("verify", "--env", "staging").exit_code == 0  # what the anchor is for


def _forge_start_link(conn: Connection, kind: str) -> int:
    """A deployment_log link appended with its hash recomputed as plain SHA-256, as anyone
    can who may write to the database but does not know the ledger key; its seq."""
    seq, previous = head(conn, SCHEMA)
    newest = [link for link in links(conn, SCHEMA) if link.table == "deployment_log"][-1]
    values: dict[str, Any] = {
        **newest.values,
        "seq": seq + 1,
        "deployment_id": uuid.uuid4().hex,
        "operator": "mallory",
        "prev_hash": previous,
        "hash_kind": kind,
    }
    values["row_hash"] = link_hash(previous, "deployment_log", values, None)
    values["started_at"] = datetime.fromisoformat(values["started_at"])
    conn.execute(
        f"INSERT INTO {conn.table(SCHEMA, 'deployment_log')} ({', '.join(values)}) "
        f"VALUES ({', '.join('%s' for _ in values)})",
        list(values.values()),
    )
    return seq + 1


@pytest.mark.parametrize(
    ("kind", "problem"),
    [
        ("sha256", "is not signed with VCSYNC_LEDGER_KEY (forged)"),
        ("sha3-256", "has a hash kind vcsync never writes, 'sha3-256' (forged)"),
    ],
)
def test_a_link_forged_with_a_recomputed_hash_fails_under_the_ledger_key(
    ledger: Project, chain: Connection, kind: str, problem: str
) -> None:
    seq = _forge_start_link(chain, kind)
    assert vc209(ledger) == [line(f"deployment_log row {seq} {problem}")]


def test_dropped_insert_only_triggers_are_vc209(ledger: Project) -> None:
    satellite = ledger.ledger("schema_migration_s")
    if ledger.kind == "postgres":
        ledger.query(f"DROP TRIGGER insert_only ON {satellite}")
    else:
        ledger.query(f"DROP TRIGGER {satellite}_no_update")
    assert vc209(ledger) == [
        line(
            "the insert-only triggers of ledger table schema_migration_s are gone, so its rows "
            "can be changed without a trace"
        )
    ]


def test_a_row_claiming_the_ledger_began_at_version_1_is_vc209(ledger: Project) -> None:
    """Rows without a deployment_id are let through only where the chain starts with
    version-1 links; a ledger_version row saying 1 is no proof of that."""
    table = ledger.ledger("ledger_version")
    tamper(
        ledger,
        f"INSERT INTO {table} (version, load_dts, record_source) "
        "VALUES (1, '2020-01-01T00:00:00+00:00', 'vcsync')",
    )
    assert vc209(ledger) == [line("1 row(s) of ledger_version belong to no deployment (inserted)")]


def test_a_dropped_ledger_version_table_is_vc209(ledger: Project) -> None:
    ledger.query(f"DROP TABLE {ledger.ledger('ledger_version')}")  # triggers guard rows only
    assert vc209(ledger) == [line("the ledger table ledger_version is gone (dropped)")]


@pytest.mark.parametrize("table", ["schema_migration_s", "deployment_log", "release_s"])
def test_a_dropped_ledger_table_is_vc209_not_an_error(ledger: Project, table: str) -> None:
    drop = f"DROP TABLE {ledger.ledger(table)}" + (" CASCADE" if ledger.kind == "postgres" else "")
    if ledger.kind == "sqlite":  # SQLite's views would stop the drop: they go first
        for view in ("database_version", "migration_dashboard", "deployment_history"):
            ledger.query(f"DROP VIEW {ledger.ledger(view)}")
    ledger.query(drop)
    assert line(f"the ledger table {table} is gone (dropped)") in vc209(ledger)


def test_guards_that_no_longer_refuse_anything_are_vc209(ledger: Project) -> None:
    log = ledger.ledger("deployment_log")
    if ledger.kind == "postgres":  # left in place, but firing only for replication
        ledger.query(f"ALTER TABLE {log} ENABLE REPLICA TRIGGER insert_only")
    else:  # same name, rewritten to refuse nothing
        ledger.query('DROP TRIGGER "version_control__deployment_log_no_update"')
        ledger.query(
            'CREATE TRIGGER "version_control__deployment_log_no_update" BEFORE UPDATE '
            f"ON {log} BEGIN SELECT 1; END"
        )
    assert vc209(ledger) == [
        line(
            "the insert-only triggers of ledger table deployment_log are gone, so its rows can "
            "be changed without a trace"
        )
    ]


def test_a_guard_function_replaced_to_let_changes_through_is_vc209(
    pg_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = make_project(tmp_path, "postgres", pg_url)
    assert project.run("migrate", "--env", "staging").exit_code == 0
    project.query(
        "CREATE OR REPLACE FUNCTION version_control.refuse_change() RETURNS trigger "
        "LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$"
    )
    lines = vc209(project)
    assert len(lines) == len(
        project.query("SELECT 1 FROM pg_tables WHERE schemaname = 'version_control'")
    )
    assert all("insert-only triggers" in found for found in lines)


def test_a_redefined_dashboard_view_cannot_hide_a_migration_from_verify(ledger: Project) -> None:
    view = ledger.ledger("migration_dashboard")
    ledger.query(f"DROP VIEW {ledger.ledger('database_version')}")
    ledger.query(f"DROP VIEW {view}")
    ledger.query(
        f"CREATE VIEW {view} AS SELECT * FROM {ledger.ledger('schema_migration_h')} WHERE 1 = 0"
    )
    ledger.query("UPDATE customers SET email = email")  # no schema change: no drift
    (path,) = [
        p for p in (ledger.path / "database/migrations").iterdir() if p.name.startswith("V3")
    ]
    path.write_text(path.read_text() + "-- edited after it was applied\nSELECT 1;\n")
    run = ledger.run("verify", "--env", "staging")
    assert run.exit_code == 1 and "VC204" in run.stdout, run.stdout
    assert (
        line(
            "the ledger view migration_dashboard was redefined, so what it shows in SQL "
            "is not the ledger"
        )
        in run.lines
    )


def test_a_snapshot_that_is_not_json_is_vc209_not_a_traceback(ledger: Project) -> None:
    snapshots = ledger.ledger("schema_snapshot")
    tamper(ledger, f"UPDATE {snapshots} SET snapshot = '{{not json'")
    lines = vc209(ledger)
    assert line("the newest schema snapshot is not the JSON vcsync wrote") in lines


def test_a_timestamp_rewritten_as_the_same_instant_in_another_zone_is_vc209(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SQLite keeps timestamps as text, and the views take a migration's newest state by
    that text's order: V1's rolled-back row rewritten at -05:00 sorts before its first
    `applied` one, so `status` would show V1 applied again although it was rolled back."""
    monkeypatch.setenv(KEY_VARIABLE, "a-ledger-key")
    project = make_project(tmp_path, "sqlite", "sqlite:///staging.db")
    assert project.run("migrate", "--env", "staging", "--to", "1").exit_code == 0
    rollback = ("rollback", "--env", "staging", "--steps", "1", "--reason", "x")
    assert project.run(*rollback).exit_code == 0
    satellite = project.ledger("schema_migration_s")
    (moment, run), *_ = project.query(
        f"SELECT load_dts, deployment_id FROM {satellite} WHERE status = 'rolled_back'"
    )
    elsewhere = datetime.fromisoformat(moment).astimezone(timezone(timedelta(hours=-5)))
    tamper(
        project,
        f"UPDATE {satellite} SET load_dts = '{elsewhere.isoformat()}' WHERE load_dts = '{moment}'",
    )
    assert project.query(f"SELECT status FROM {project.ledger('migration_dashboard')}") == [
        ("applied",)
    ]
    assert vc209(project) == [
        line(
            f"the ledger rows of deployment {run[:12]} were edited, deleted or added to after "
            "it ended (their digest no longer matches)"
        )
    ]


def test_a_ledger_that_no_longer_answers_as_vcsyncs_is_vc209_not_unreachable(
    ledger: Project,
) -> None:
    """The database is reached; its ledger's columns were renamed by hand."""
    ledger.query(f"DROP VIEW {ledger.ledger('database_version')}")  # SQLite checks views
    ledger.query(f"ALTER TABLE {ledger.ledger('schema_migration_s')} RENAME COLUMN status TO state")
    lines = vc209(ledger)
    assert any(
        found.startswith("VC209 staging: its ledger could not be read: ") for found in lines
    ), lines
    assert not any(found.startswith("VC403") for found in lines)
