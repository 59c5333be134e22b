"""The ledger's views speak DESIGN §5's columns on both back ends, so the three queries of
§5 run verbatim on PostgreSQL (and with SQLite's `version_control__` names); a version-2
ledger is upgraded to version 3 in place, its rows untouched, and still verifies.

tests/fixtures/ledger_v2.*.sql are real version-2 ledgers: dumped (`sqlite3 .dump`,
`pg_dump --inserts --no-owner`, comment, blank and \\restrict lines dropped) after vcsync
c76bde0 ran, on tests/projects.py's BASE committed and tagged v2.0.0, with environment
`staging`: migrate --to 2; migrate with column customers.name made by hand (3 fails);
migrate after dropping it; rollback --steps 1 --reason 'incident 7'; migrate; tag-release
v2.0.1.
"""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

import pytest

from tests.helpers import commit, git, make_repo, write
from tests.projects import BASE, Project, load_ledger_dump
from vcsync.ledger.schema import TABLES, VIEWS, columns

# DESIGN §5: the columns each view has (at least), in this order, first.
DESIGNED = {
    "migration_dashboard": [
        "migration_hk",
        "version",
        "description",
        "environment_name",
        "status",
        "applied_at",
        "commit_sha",
        "release_tag",
        "duration_ms",
        "checksum",
    ],
    "deployment_history": [
        "deployment_id",
        "environment_name",
        "operation",
        "outcome",
        "operator",
        "host",
        "commit_sha",
        "git_ref",
        "release_tag",
        "deployment_start",
        "deployment_end",
        "duration_ms",
        "migrations",
        "reason",
        "error",
    ],
    "database_version": [
        "environment_name",
        "version",
        "description",
        "commit_sha",
        "release_tag",
        "applied_at",
    ],
}

# The three queries of DESIGN §5, verbatim.
DASHBOARD = "SELECT * FROM version_control.migration_dashboard"
HISTORY = (
    "SELECT * FROM version_control.deployment_history "
    "WHERE environment_name = 'production' ORDER BY deployment_start DESC"
)
VERSION = "SELECT * FROM version_control.database_version"


class Database(NamedTuple):
    """One environment's database: a SQLite file, or a PostgreSQL URL."""

    kind: str
    where: str

    def select(self, sql: str) -> list[dict[str, Any]]:
        """Rows as dicts by column name; the §5 spelling on PostgreSQL, SQLite's names
        (`version_control__<view>`) on SQLite."""
        names, rows = self._run(sql)
        return [dict(zip(names, row, strict=True)) for row in rows]

    def _run(self, sql: str) -> tuple[list[str], list[tuple[Any, ...]]]:
        if self.kind == "sqlite":
            with sqlite3.connect(self.where) as db:
                lite = db.execute(sql.replace("version_control.", "version_control__"))
                return [c[0] for c in lite.description or ()], lite.fetchall()
        import psycopg

        with psycopg.connect(self.where, autocommit=True) as conn:
            cursor = conn.execute(sql.encode())
            return [c[0] for c in cursor.description or ()], cursor.fetchall()

    def columns(self, view: str) -> list[str]:
        return self._run(f"SELECT * FROM version_control.{view} LIMIT 0")[0]


@pytest.fixture(params=["sqlite", "postgres"])
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def second_pg_url(pg_server: str) -> Iterator[str]:
    """Another scratch database (production's), dropped afterwards."""
    import psycopg
    from psycopg import sql

    name = f"vcsync_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(pg_server, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    yield f"{pg_server.rsplit('/', 1)[0]}/{name}"
    with psycopg.connect(pg_server, autocommit=True) as admin:
        admin.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


class Fleet(NamedTuple):
    project: Project
    staging: Database
    production: Database


@pytest.fixture
def fleet(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    kind: str,
    monkeypatch: pytest.MonkeyPatch,
) -> Fleet:
    """BASE with `staging` and `production`, each its own database on the back end."""
    monkeypatch.setenv("VCSYNC_OPERATOR", "ada")
    if kind == "sqlite":
        urls = {"staging": "sqlite:///staging.db", "production": "sqlite:///production.db"}
    else:
        urls = {
            "staging": request.getfixturevalue("pg_url"),
            "production": request.getfixturevalue("second_pg_url"),
        }
    config = "[tool.vcsync]\n" + "".join(
        f'[tool.vcsync.environments.{env}]\nurl = "{url}"\n' for env, url in urls.items()
    )
    path = make_repo(tmp_path / "p", BASE, config=config)
    where = {
        env: str(path / url.removeprefix("sqlite:///")) if kind == "sqlite" else url
        for env, url in urls.items()
    }
    return Fleet(
        Project(path, kind, urls["staging"]),
        Database(kind, where["staging"]),
        Database(kind, where["production"]),
    )


def deploy_both(fleet: Fleet) -> dict[str, str]:
    """From tag v1.0.0: staging to 2, production to 3. Then, from an untagged commit that
    adds a failing 4: staging applies 3 and fails on 4; production rolls 3 back.
    Returns the two commits."""
    project = fleet.project
    git(project.path, "tag", "-a", "v1.0.0", "-m", "first release")
    tagged = git(project.path, "rev-parse", "HEAD").strip()
    assert project.run("migrate", "--env", "staging", "--to", "2").exit_code == 0
    assert project.run("migrate", "--env", "production").exit_code == 0
    write(
        project.path,
        {
            "database/migrations/V4__broken.sql": "CREATE TABLE t4 (id integer);\n"
            "INSERT INTO missing VALUES (1);\n",
            "database/rollback/V4__broken_rollback.sql": "DROP TABLE t4;\n",
        },
    )
    later = commit(project.path, "a broken migration")
    failed = project.run("migrate", "--env", "staging")
    assert failed.exit_code == 1, failed.stdout + failed.stderr
    back = project.run("rollback", "--env", "production", "--steps", "1", "--reason", "incident 9")
    assert back.exit_code == 0, back.stderr
    return {"tagged": tagged, "later": later}


def test_the_three_queries_of_design_5_run_verbatim_and_show_real_values(
    fleet: Fleet,
) -> None:
    commits = deploy_both(fleet)
    tagged, later = commits["tagged"], commits["later"]

    staging = {row["version"]: row for row in fleet.staging.select(DASHBOARD)}
    assert (
        list(staging["1"])[: len(DESIGNED["migration_dashboard"])]
        == DESIGNED["migration_dashboard"]
    )
    assert {v: (r["environment_name"], r["status"]) for v, r in staging.items()} == {
        "1": ("staging", "applied"),
        "2": ("staging", "applied"),
        "3": ("staging", "applied"),
        "4": ("staging", "failed"),
    }
    assert [staging[v]["release_tag"] for v in "1234"] == ["v1.0.0", "v1.0.0", None, None]
    assert [staging[v]["commit_sha"] for v in "1234"] == [tagged, tagged, later, later]
    assert [staging[v]["description"] for v in "1234"] == ["customers", "orders", "names", "broken"]
    assert all(len(row["migration_hk"]) == 64 and row["applied_at"] for row in staging.values())
    assert all(len(row["checksum"]) == 64 for row in staging.values())
    assert all(isinstance(row["duration_ms"], int) for row in staging.values())

    production = {row["version"]: row for row in fleet.production.select(DASHBOARD)}
    assert {v: (r["environment_name"], r["status"]) for v, r in production.items()} == {
        "1": ("production", "applied"),
        "2": ("production", "applied"),
        "3": ("production", "rolled_back"),
    }
    assert production["3"]["release_tag"] is None  # rolled back from the later commit
    assert production["2"]["release_tag"] == "v1.0.0"

    history = fleet.production.select(HISTORY)
    assert list(history[0])[: len(DESIGNED["deployment_history"])] == DESIGNED["deployment_history"]
    assert [
        (r["operation"], r["outcome"], r["migrations"], r["release_tag"], r["git_ref"])
        for r in history
    ] == [
        ("rollback", "succeeded", "3", None, "main"),
        ("migrate", "succeeded", "1,2,3", "v1.0.0", "main"),
    ]
    newest, oldest = history
    assert (newest["reason"], newest["commit_sha"], oldest["commit_sha"]) == (
        "incident 9",
        later,
        tagged,
    )
    assert {r["environment_name"] for r in history} == {"production"}
    assert all(r["operator"] == "ada" and r["host"] and r["error"] is None for r in history)
    assert all(str(r["deployment_end"]) >= str(r["deployment_start"]) for r in history)
    assert str(newest["deployment_start"]) > str(oldest["deployment_start"])
    assert fleet.staging.select(HISTORY) == []  # staging's database holds staging's runs
    staging_runs = fleet.staging.select(
        "SELECT * FROM version_control.deployment_history ORDER BY deployment_start"
    )
    assert [(r["outcome"], r["migrations"]) for r in staging_runs] == [
        ("succeeded", "1,2"),
        ("failed", "3,4"),
    ]
    assert "missing" in staging_runs[1]["error"]

    assert [
        {k: row[k] for k in ("environment_name", "version", "description", "release_tag")}
        for row in fleet.staging.select(VERSION)
    ] == [
        {"environment_name": "staging", "version": "3", "description": "names", "release_tag": None}
    ]
    (prod,) = fleet.production.select(VERSION)
    assert list(prod) == DESIGNED["database_version"]
    assert (prod["environment_name"], prod["version"], prod["commit_sha"]) == (
        "production",
        "2",
        tagged,
    )
    assert (prod["release_tag"], prod["description"]) == ("v1.0.0", "orders")
    assert prod["applied_at"] == production["2"]["applied_at"]


def test_the_dashboard_keeps_a_row_per_migration_and_environment_name(
    tmp_path: Path, kind: str, request: pytest.FixtureRequest
) -> None:
    """Two environment names for one database (an environment renamed, say): the views
    show each name's newest states; vcsync itself reads the database's newest state."""
    url = request.getfixturevalue("pg_url") if kind == "postgres" else "sqlite:///shared.db"
    config = "[tool.vcsync]\n" + "".join(
        f'[tool.vcsync.environments.{env}]\nurl = "{url}"\n' for env in ("old", "new")
    )
    path = make_repo(tmp_path / "p", BASE, config=config)
    database = Database(kind, str(path / "shared.db") if kind == "sqlite" else url)
    project = Project(path, kind, url)
    assert project.run("migrate", "--env", "old").exit_code == 0
    back = project.run("rollback", "--env", "new", "--steps", "1", "--reason", "renamed")
    assert back.exit_code == 0, back.stderr

    rows = database.select(DASHBOARD)
    assert sorted((r["environment_name"], r["version"], r["status"]) for r in rows) == [
        ("new", "3", "rolled_back"),
        ("old", "1", "applied"),
        ("old", "2", "applied"),
        ("old", "3", "applied"),
    ]
    versions = database.select(VERSION + " ORDER BY environment_name")
    assert [(r["environment_name"], r["version"]) for r in versions] == [
        ("new", None),  # no migration applied under this name
        ("old", "3"),
    ]
    status = project.run("status", "--env", "old")
    assert status.exit_code == 0, status.stderr
    lines = [line.split()[:3] for line in status.lines]
    assert ["3", "names", "rolled"] in lines, status.stdout  # the newest state, by any name
    again = project.run("migrate", "--env", "new")
    assert again.exit_code == 0 and "applied      3" in again.stdout, again.stdout


def test_views_on_sqlite_and_postgresql_have_the_same_columns(tmp_path: Path, pg_url: str) -> None:
    config = (
        f'[tool.vcsync]\n[tool.vcsync.environments.staging]\nurl = "sqlite:///staging.db"\n'
        f'[tool.vcsync.environments.production]\nurl = "{pg_url}"\n'
    )
    path = make_repo(tmp_path / "p", BASE, config=config)
    project = Project(path, "sqlite", "sqlite:///staging.db")
    assert project.run("migrate", "--env", "staging").exit_code == 0
    assert project.run("migrate", "--env", "production").exit_code == 0
    lite, pg = Database("sqlite", str(path / "staging.db")), Database("postgres", pg_url)
    for view, designed in DESIGNED.items():
        assert lite.columns(view) == pg.columns(view), view
        assert lite.columns(view)[: len(designed)] == designed, view
    assert set(DESIGNED) == set(VIEWS)


# -- a version-2 ledger upgraded to version 3 ----------------------------------------------


def every_row(project: Project) -> dict[str, list[tuple[object, ...]]]:
    """Every column of every ledger table, as text, in a stable order."""
    found = {}
    for table in TABLES:
        cast = ", ".join(f"CAST({name} AS text)" for name in columns(table))
        rows = project.query(f"SELECT {cast} FROM {project.ledger(table)}")
        found[table] = sorted(rows, key=repr)
    return found


def view_definitions(project: Project) -> list[str]:
    if project.kind == "sqlite":
        rows = project.query("SELECT sql FROM sqlite_schema WHERE type = 'view' ORDER BY name")
    else:
        rows = project.query(
            "SELECT pg_get_viewdef(c.oid) FROM pg_class c JOIN pg_namespace n "
            "ON n.oid = c.relnamespace WHERE n.nspname = 'version_control' AND c.relkind = 'v' "
            "ORDER BY c.relname"
        )
    return [text for (text,) in rows]


def test_a_version_2_ledger_is_upgraded_to_3_in_place_with_its_rows_untouched(
    project: Project,
) -> None:
    load_ledger_dump(project, 2)
    before = every_row(project)
    assert [row[0] for row in before["ledger_version"]] == ["2"]
    assert len(before["deployment_log"]) == 6 and len(before["deployment_end"]) == 6
    old_views = view_definitions(project)

    status = project.run("status", "--env", "staging")  # reading never upgrades
    assert status.exit_code == 0, status.stderr
    assert every_row(project) == before

    run = project.run("migrate", "--env", "staging")
    assert run.exit_code == 0, run.stderr
    assert "nothing to do" in run.stdout

    after = every_row(project)
    (upgrade,) = (r[1] for r in after["deployment_log"] if r not in before["deployment_log"])
    for table, rows in before.items():  # insert-only: every old row is still there, as it was
        assert all(row in after[table] for row in rows), table
        key = list(columns(table)).index("deployment_id")
        added = [row for row in after[table] if row not in rows]
        assert all(row[key] == upgrade for row in added), table  # only the upgrading run's
    assert len(after["ledger_version"]) == 2
    versions = project.query(f"SELECT version FROM {project.ledger('ledger_version')}")
    assert sorted(v for (v,) in versions) == [2, 3]
    assert upgrade in {r[3] for r in after["ledger_version"]}  # recorded by the upgrading run
    assert view_definitions(project) != old_views

    verify = project.run("verify", "--env", "staging")
    assert verify.exit_code == 0, verify.stdout + verify.stderr

    history = project.run("history", "--env", "staging")
    assert history.exit_code == 0, history.stderr
    assert len([line for line in history.lines if "succeeded" in line]) == 6
    assert len([line for line in history.lines if "failed" in line]) == 1
    assert len([line for line in history.lines if " rollback " in line]) == 1
    status = project.run("status", "--env", "staging")
    assert status.exit_code == 0, status.stderr
    states = [line.split()[:3] for line in status.lines]
    assert [state for state in states if state[:1] in (["1"], ["2"], ["3"])] == [
        ["1", "customers", "applied"],
        ["2", "orders", "applied"],
        ["3", "names", "applied"],
    ], status.stdout

    database = Database(
        project.kind, str(project.path / "staging.db") if project.kind == "sqlite" else project.url
    )
    dashboard = {r["version"]: r for r in database.select(DASHBOARD)}
    assert {v: (r["environment_name"], r["status"]) for v, r in dashboard.items()} == {
        "1": ("staging", "applied"),
        "2": ("staging", "applied"),
        "3": ("staging", "applied"),
    }
    assert {r["release_tag"] for r in dashboard.values()} == {"v2.0.0"}
    runs = database.select(
        "SELECT * FROM version_control.deployment_history WHERE environment_name = 'staging' "
        "ORDER BY deployment_start DESC"
    )
    assert [(r["operation"], r["outcome"]) for r in runs] == [
        ("migrate", "succeeded"),  # the upgrading run: nothing to do
        ("release", "succeeded"),
        ("migrate", "succeeded"),
        ("rollback", "succeeded"),
        ("migrate", "succeeded"),
        ("migrate", "failed"),
        ("migrate", "succeeded"),
    ]
    assert all(r["deployment_end"] is not None for r in runs)
    (current,) = database.select(VERSION)
    assert (current["environment_name"], current["version"], current["release_tag"]) == (
        "staging",
        "3",
        "v2.0.0",
    )

    back = project.run("rollback", "--env", "staging", "--steps", "1", "--reason", "after v3")
    assert back.exit_code == 0, back.stderr
    assert database.select(VERSION)[0]["version"] == "2"
    assert project.run("verify", "--env", "staging").exit_code == 0


def test_a_version_1_ledger_is_upgraded_to_3_and_its_runs_show_in_the_views(
    project: Project,
) -> None:
    load_ledger_dump(project, 1)
    assert project.run("migrate", "--env", "staging").exit_code == 0
    versions = project.query(f"SELECT version FROM {project.ledger('ledger_version')}")
    assert sorted(v for (v,) in versions) == [1, 3]
    verify = project.run("verify", "--env", "staging")
    assert verify.exit_code == 0, verify.stdout + verify.stderr
    database = Database(
        project.kind, str(project.path / "staging.db") if project.kind == "sqlite" else project.url
    )
    runs = database.select(
        "SELECT * FROM version_control.deployment_history ORDER BY deployment_start"
    )
    assert [r["outcome"] for r in runs] == ["succeeded"] * 5
    # version-1 runs were written whole: no end row, so no deployment_end
    assert [r["deployment_end"] is None for r in runs] == [True] * 4 + [False]
    assert {r["version"] for r in database.select(VERSION)} == {"3"}
