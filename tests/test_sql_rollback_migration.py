"""`version_control.rollback_migration(migration_hk, environment_name, reason)` (DESIGN §11):
the CLI's `rollback --steps 1` from a SQL console, on a real PostgreSQL server.

One repository deploys to two scratch databases (its `staging` URL is `env:` so both runs
share every commit): `vcsync rollback` runs on one, the SQL function on the other, and the
ledger rows each wrote must be the same but for ids, times, who, where and the hashes
those feed. The function must leave a chain `vcsync verify` accepts, refuse what the CLI
refuses (changing nothing), and wait on the CLI's own deploy lock.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql

from tests.helpers import SPLIT_CONFIG, make_repo, vcsync
from tests.projects import BASE, mig
from vcsync.db.postgres import lock_key
from vcsync.ledger.schema import TABLES

URL_VARIABLE = "VCSYNC_TEST_ROLLBACK_URL"
LEDGER_TABLES = tuple(TABLES)
# What differs between two runs of the same rollback: who, when, where, and what hashes it.
VOLATILE = {
    "deployment_id",
    "load_dts",
    "started_at",
    "ended_at",
    "duration_ms",
    "operator",
    "host",
    "record_source",
    "target",  # names the database, and the two runs use two
    "prev_hash",
    "row_hash",
    "rows_digest",
}
ORDER = {"deployment_log": "seq", "deployment_end": "seq", "ledger_version": "version"}


def _database(server: str) -> str:
    name = f"vcsync_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(server, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return f"{server.rsplit('/', 1)[0]}/{name}"


@pytest.fixture
def databases(pg_server: str) -> Iterator[tuple[str, str]]:
    """Two scratch databases, dropped afterwards."""
    urls = (_database(pg_server), _database(pg_server))
    yield urls
    with psycopg.connect(pg_server, autocommit=True) as admin:
        for url in urls:
            name = url.rsplit("/", 1)[1]
            admin.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


def _repo(tmp_path: Path, files: dict[str, str] | None = None) -> Path:
    config = f'{SPLIT_CONFIG}[tool.vcsync.environments.staging]\nurl = "env:{URL_VARIABLE}"\n'
    return make_repo(tmp_path / "p", files or BASE, config=config)


def _use(monkeypatch: pytest.MonkeyPatch, url: str) -> None:
    monkeypatch.setenv(URL_VARIABLE, url)


def _migrate(repo: Path, monkeypatch: pytest.MonkeyPatch, url: str) -> None:
    _use(monkeypatch, url)
    run = vcsync(repo, "migrate", "--env", "staging")
    assert run.exit_code == 0, run.stdout + run.stderr


def _hk(url: str, version: str) -> str:
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "SELECT migration_hk FROM version_control.schema_migration_h WHERE version = %s",
            [version],
        ).fetchone()
    assert row
    return str(row[0])


def _rollback_sql(
    url: str,
    hk: str,
    reason: str = "R",
    environment: str = "staging",
    settings: tuple[str, ...] = (),
) -> str:
    """The function in one transaction of its own (psycopg's connection block commits)."""
    with psycopg.connect(url) as conn:
        for setting in settings:
            conn.execute(setting)
        row = conn.execute(
            "SELECT version_control.rollback_migration(%s, %s, %s)", [hk, environment, reason]
        ).fetchone()
    assert row
    return str(row[0])


def _rows(url: str) -> dict[str, list[dict[str, Any]]]:
    found: dict[str, list[dict[str, Any]]] = {}
    with psycopg.connect(url) as conn:
        for table in LEDGER_TABLES:
            order = ORDER.get(table, "load_dts")
            cursor = conn.execute(
                sql.SQL("SELECT * FROM {} ORDER BY {}").format(
                    sql.Identifier("version_control", table), sql.Identifier(order)
                )
            )
            names = [column.name for column in cursor.description or []]
            found[table] = [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
    return found


def _comparable(rows: dict[str, list[dict[str, Any]]]) -> dict[str, list[dict[str, Any]]]:
    return {
        table: [{k: v for k, v in row.items() if k not in VOLATILE} for row in found]
        for table, found in rows.items()
    }


def _counts(url: str) -> dict[str, int]:
    return {table: len(found) for table, found in _rows(url).items()}


def _tables(url: str) -> list[str]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT table_name || '.' || column_name FROM information_schema.columns "
            "WHERE table_schema = 'public' ORDER BY 1"
        ).fetchall()
    return [str(row[0]) for row in rows]


def test_the_function_writes_what_the_cli_writes(
    tmp_path: Path, databases: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    by_cli, by_sql = databases
    repo = _repo(tmp_path)
    _migrate(repo, monkeypatch, by_cli)
    _migrate(repo, monkeypatch, by_sql)

    _use(monkeypatch, by_cli)
    run = vcsync(repo, "rollback", "--env", "staging", "--steps", "1", "--reason", "R")
    assert run.exit_code == 0, run.stdout + run.stderr
    run_id = _rollback_sql(by_sql, _hk(by_sql, "3"), "R")

    cli_rows, sql_rows = _rows(by_cli), _rows(by_sql)
    new = [row for row in sql_rows["deployment_log"] if row["deployment_id"] == run_id]
    assert len(new) == 1
    assert new[0]["record_source"] == "sql" and new[0]["operation"] == "rollback"
    with psycopg.connect(by_sql) as conn:
        user = conn.execute("SELECT current_user").fetchone()
    assert user and new[0]["operator"] == user[0]
    assert all(
        row["record_source"] == "sql"
        for table, found in sql_rows.items()
        for row in found
        if row.get("deployment_id") == run_id
    )
    sql_snapshots = [r for r in sql_rows["schema_snapshot"] if r["deployment_id"] == run_id]
    cli_comparable, sql_comparable = _comparable(cli_rows), _comparable(sql_rows)
    if not sql_snapshots:  # this ledger has no catalog_snapshot() to take one with
        cli_comparable["schema_snapshot"] = cli_comparable["schema_snapshot"][:-1]
    for table in LEDGER_TABLES:
        assert sql_comparable[table] == cli_comparable[table], table
    assert _tables(by_sql) == _tables(by_cli)
    assert "customers.name" not in _tables(by_sql)

    # the chain is intact, history and status say so, and migrate applies it again
    _use(monkeypatch, by_sql)
    verify = vcsync(repo, "verify", "--env", "staging")
    assert verify.exit_code == 0, verify.stdout + verify.stderr
    history = vcsync(repo, "history", "--env", "staging")
    assert history.exit_code == 0, history.stdout
    newest = history.lines[2].split()  # the header's lines, then newest first
    assert newest[2:5] == ["rollback", "succeeded", "postgres@127.0.0.1"], history.stdout
    status = vcsync(repo, "status", "--env", "staging", "--format", "json")
    assert status.exit_code == 0, status.stdout
    assert "rolled" in status.stdout
    again = vcsync(repo, "migrate", "--env", "staging")
    assert again.exit_code == 0, again.stdout + again.stderr
    assert "customers.name" in _tables(by_sql)
    assert vcsync(repo, "verify", "--env", "staging").exit_code == 0


IRREVERSIBLE = {
    **{k: v for k, v in BASE.items() if "V3__" not in k},
    **mig(
        "3",
        "names",
        "ALTER TABLE customers ADD COLUMN name text;\n",
        "-- vcsync: irreversible -- the names are gone for good\n",
    ),
}
NO_TRANSACTION = {
    **{k: v for k, v in BASE.items() if "V3__" not in k},
    **mig(
        "3",
        "names",
        "-- vcsync: no-transaction\n"
        "CREATE INDEX CONCURRENTLY customers_email ON customers (email);\n",
        "-- vcsync: no-transaction\nDROP INDEX CONCURRENTLY customers_email;\n",
    ),
}
OWN_TRANSACTION = {  # undeclared, but the down controls its own transactions
    **{k: v for k, v in BASE.items() if "V3__" not in k},
    **mig(
        "3",
        "names",
        "ALTER TABLE customers ADD COLUMN name text;\n",
        "BEGIN;\nALTER TABLE customers DROP COLUMN name;\nCOMMIT;\n",
    ),
}
PLACEHOLDER = {
    **{k: v for k, v in BASE.items() if "V3__" not in k},
    **mig(
        "3",
        "names",
        "ALTER TABLE customers ADD COLUMN name text;\n",
        "ALTER TABLE ${table} DROP COLUMN name;\n",
    ),
}


@pytest.mark.parametrize(
    ("files", "version", "reason", "environment", "expected"),
    [
        (BASE, "2", "R", "staging", "is not the newest applied in staging: roll back 3 first"),
        (BASE, "3", "   ", "staging", "needs a reason"),
        (BASE, "3", "", "staging", "needs a reason"),
        (BASE, "3", "R", "nowhere", "knows no environment 'nowhere'; it records staging"),
        (BASE, "unknown", "R", "staging", "no migration has the hash key 'unknown'"),
        (IRREVERSIBLE, "3", "R", "staging", "(irreversible: the names are gone for good)"),
        (NO_TRANSACTION, "3", "R", "staging", "is marked no-transaction"),
        (OWN_TRANSACTION, "3", "R", "staging", "its rollback runs outside a transaction"),
        (PLACEHOLDER, "3", "R", "staging", "placeholders"),
    ],
)
def test_refusals_change_nothing(
    tmp_path: Path,
    pg_url: str,
    monkeypatch: pytest.MonkeyPatch,
    files: dict[str, str],
    version: str,
    reason: str,
    environment: str,
    expected: str,
) -> None:
    repo = _repo(tmp_path, files)
    if files is PLACEHOLDER:  # the CLI knows ${table}; the function cannot
        (repo / "pyproject.toml").write_text(
            (repo / "pyproject.toml").read_text()
            + '[tool.vcsync.placeholders]\ntable = "customers"\n'
        )
    _migrate(repo, monkeypatch, pg_url)
    before, schema = _counts(pg_url), _tables(pg_url)
    hk = _hk(pg_url, version) if version != "unknown" else "unknown"
    with pytest.raises(psycopg.errors.RaiseException) as refused:
        _rollback_sql(pg_url, hk, reason, environment)
    message = refused.value.diag.message_primary or ""
    assert expected in message, message
    assert message.count(". ") == 0 or message.endswith(".")  # one sentence
    assert _counts(pg_url) == before
    assert _tables(pg_url) == schema


def test_it_waits_on_the_clis_deploy_lock(
    tmp_path: Path, pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = _repo(tmp_path)
    _migrate(repo, monkeypatch, pg_url)
    before = _counts(pg_url)
    with psycopg.connect(pg_url, autocommit=True) as cli:
        cli.execute("SET application_name = 'vcsync migrate test-host pid=1'")
        cli.execute("SELECT pg_advisory_lock(%s)", [lock_key(".version_control")])
        with pytest.raises(psycopg.errors.LockNotAvailable) as waited:
            _rollback_sql(pg_url, _hk(pg_url, "3"), settings=("SET lock_timeout = '200ms'",))
        assert "is held by vcsync migrate test-host pid=1" in str(waited.value)
        assert _counts(pg_url) == before
    # the CLI let go: the same call goes through
    assert _rollback_sql(pg_url, _hk(pg_url, "3"), settings=("SET lock_timeout = '200ms'",))
    assert _counts(pg_url)["deployment_log"] == before["deployment_log"] + 1


def test_a_keyed_chain(tmp_path: Path, pg_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VCSYNC_LEDGER_KEY", "s3cret-kéy")
    repo = _repo(tmp_path)
    _migrate(repo, monkeypatch, pg_url)
    hk, before = _hk(pg_url, "3"), _counts(pg_url)

    with pytest.raises(psycopg.errors.RaiseException) as unkeyed:
        _rollback_sql(pg_url, hk)
    assert "signed with VCSYNC_LEDGER_KEY" in str(unkeyed.value)
    assert "vcsync rollback" in str(unkeyed.value)
    with pytest.raises(psycopg.errors.RaiseException) as wrong:
        _rollback_sql(pg_url, hk, settings=("SET LOCAL vcsync.ledger_key = 'guess'",))
    assert "is not the key" in str(wrong.value)
    assert _counts(pg_url) == before

    run_id = _rollback_sql(pg_url, hk, settings=("SET LOCAL vcsync.ledger_key = 's3cret-kéy'",))
    with psycopg.connect(pg_url) as conn:
        kinds = conn.execute(
            "SELECT hash_kind FROM version_control.deployment_end WHERE deployment_id = %s",
            [run_id],
        ).fetchall()
    assert kinds == [("hmac-sha256",)]
    verify = vcsync(repo, "verify", "--env", "staging")
    assert verify.exit_code == 0, verify.stdout + verify.stderr
    monkeypatch.setenv("VCSYNC_LEDGER_KEY", "another key")
    assert vcsync(repo, "verify", "--env", "staging").exit_code == 1  # it is really keyed


def test_a_failing_rollback_records_nothing(
    tmp_path: Path, pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = _repo(tmp_path)
    _migrate(repo, monkeypatch, pg_url)
    before = _counts(pg_url)
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("ALTER TABLE customers DROP COLUMN name")  # the down will fail
    with pytest.raises(psycopg.errors.UndefinedColumn) as failed:
        _rollback_sql(pg_url, _hk(pg_url, "3"))
    assert "the rollback of migration 3 failed" in str(failed.value)
    assert _counts(pg_url) == before
