"""`vcsync baseline --from TOOL` (DESIGN §9): adopting a database from the history table
another migration tool left there, on SQLite and on real PostgreSQL.

Where the history comes from:
- dbmate runs for real when its binary is found (`npm install --prefix /tmp/dbmate dbmate`,
  or DBMATE_BIN, or `dbmate` on PATH); otherwise the table is made with dbmate's DDL
  (`schema_migrations (version varchar(128) PRIMARY KEY)`).
- sqitch runs for real (`apt-get install sqitch libdbd-pg-perl libdbd-sqlite3-perl`); its
  tests are skipped where it is not installed.
- Flyway, Liquibase, golang-migrate and goose cannot be installed here; their tables are
  made with each tool's own DDL, read from its sources:
  flyway/flyway flyway-core/src/main/resources/org/flywaydb/core/internal/database/
  {postgresql,sqlite}/createMetaDataTable.sql;
  liquibase/liquibase liquibase-standard/src/main/java/liquibase/sqlgenerator/core/
  CreateDatabaseChangeLogTableGenerator.java (datetime is TIMESTAMP on PostgreSQL);
  golang-migrate/migrate database/postgres/postgres.go and database/sqlite3/sqlite3.go
  (ensureVersionTable, SetVersion);
  pressly/goose internal/dialect/dialectquery/postgres.go and sqlite3.go (CreateTable).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

import pytest

from tests.helpers import SPLIT_CONFIG, make_repo
from tests.projects import BASE, Project

DBMATE = next(
    (
        p
        for p in (
            os.environ.get("DBMATE_BIN"),
            shutil.which("dbmate"),
            "/tmp/dbmate/node_modules/.bin/dbmate",
        )
        if p and Path(p).exists()
    ),
    None,
)
SQITCH = shutil.which("sqitch")
needs_sqitch = pytest.mark.skipif(SQITCH is None, reason="sqitch is not installed")


def up_down(name: str) -> tuple[str, str]:
    return f"CREATE TABLE {name} (id integer PRIMARY KEY);\n", f"DROP TABLE {name};\n"


def markers_dbmate(name: str) -> str:
    up, down = up_down(name)
    return f"-- migrate:up\n{up}\n-- migrate:down\n{down}"


def markers_goose(name: str) -> str:
    up, down = up_down(name)
    return f"-- +goose Up\n{up}\n-- +goose Down\n{down}"


DBMATE_FILES = {
    "db/migrations/20240101000000_customers.sql": markers_dbmate("customers"),
    "db/migrations/20240102000000_orders.sql": markers_dbmate("orders"),
    "db/migrations/20240103000000_invoices.sql": markers_dbmate("invoices"),
}
GOOSE_FILES = {
    "sql/schema/00001_customers.sql": markers_goose("customers"),
    "sql/schema/00002_orders.sql": markers_goose("orders"),
    "sql/schema/00003_invoices.sql": markers_goose("invoices"),
}
GOLANG_FILES = {
    f"db/migrations/00000{n}_{name}.{half}.sql": text
    for n, name in ((1, "customers"), (2, "orders"), (3, "invoices"))
    for half, text in zip(("up", "down"), up_down(name), strict=True)
}
LAYOUTS = {
    "split": (SPLIT_CONFIG, BASE),
    "dbmate": ('[tool.vcsync]\nmigrations = "db/migrations"\nlayout = "markers"\n', DBMATE_FILES),
    "goose": ('[tool.vcsync]\nmigrations = "sql/schema"\nlayout = "markers"\n', GOOSE_FILES),
    "golang": ('[tool.vcsync]\nmigrations = "db/migrations"\nlayout = "updown"\n', GOLANG_FILES),
}


def adoptable(tmp_path: Path, kind: str, url: str, layout: str) -> Project:
    config, files = LAYOUTS[layout]
    config += f'[tool.vcsync.environments.staging]\nurl = "{url}"\n'
    return Project(make_repo(tmp_path / "p", files, config=config), kind, url)


@pytest.fixture(params=["sqlite", "postgres"])
def backend(request: pytest.FixtureRequest) -> tuple[str, str]:
    if request.param == "sqlite":
        return "sqlite", "sqlite:///staging.db"
    return "postgres", request.getfixturevalue("pg_url")


def run_sql(project: Project, statements: list[str]) -> None:
    for statement in statements:
        project.query(statement)


def rows(project: Project, table: str) -> list[tuple[Any, ...]]:
    return sorted(project.query(f"SELECT * FROM {table}"), key=repr)


def ledger_exists(project: Project) -> bool:
    if project.kind == "sqlite":
        found = project.query(
            "SELECT 1 FROM sqlite_schema WHERE name = 'version_control__ledger_version'"
        )
        return bool(found)
    return bool(project.query("SELECT to_regclass('version_control.ledger_version')")[0][0])


def states(project: Project) -> dict[str, str]:
    return dict(
        project.query(f"SELECT version, status FROM {project.ledger('migration_dashboard')}")
    )


# ---------------------------------------------------------------------------------------
# Each tool's history, written as the tool writes it


def flyway(project: Project, entries: list[tuple[str | None, str, str, bool]]) -> str:
    """(version, type, script, success) rows, installed_rank in order."""
    pg = project.kind == "postgres"
    run_sql(
        project,
        [
            'CREATE TABLE "flyway_schema_history" ("installed_rank" INT NOT NULL, '
            '"version" VARCHAR(50), "description" VARCHAR(200) NOT NULL, '
            '"type" VARCHAR(20) NOT NULL, "script" VARCHAR(1000) NOT NULL, "checksum" INTEGER, '
            '"installed_by" VARCHAR(100) NOT NULL, "installed_on" '
            + (
                "TIMESTAMP NOT NULL DEFAULT now()"
                if pg
                else "TEXT NOT NULL DEFAULT (strftime('%Y-%m-%d %H:%M:%f','now'))"
            )
            + ', "execution_time" INTEGER NOT NULL, "success" BOOLEAN NOT NULL'
            + (")" if pg else ', PRIMARY KEY ("installed_rank"))'),
            *(
                [
                    'ALTER TABLE "flyway_schema_history" ADD CONSTRAINT '
                    '"flyway_schema_history_pk" PRIMARY KEY ("installed_rank")'
                ]
                if pg
                else []
            ),
            'CREATE INDEX "flyway_schema_history_s_idx" ON "flyway_schema_history" ("success")',
        ],
    )
    for rank, (version, kind, script, success) in enumerate(entries, start=1):
        description = script.split("__", 1)[-1].removesuffix(".sql").replace("_", " ")
        project.query(
            "INSERT INTO flyway_schema_history (installed_rank, version, description, type, "
            "script, checksum, installed_by, installed_on, execution_time, success) VALUES "
            f"({rank}, {_q(version)}, {_q(description)}, {_q(kind)}, {_q(script)}, 12345, "
            f"'flyway', '2023-05-0{rank} 10:00:00', 7, {_bool(project, success)})"
        )
    return "flyway_schema_history"


def liquibase(project: Project, entries: list[tuple[str, str, str]]) -> str:
    """(ID, FILENAME, EXECTYPE) rows, ORDEREXECUTED in order."""
    project.query(
        "CREATE TABLE databasechangelog (ID VARCHAR(255) NOT NULL, AUTHOR VARCHAR(255) NOT NULL, "
        "FILENAME VARCHAR(255) NOT NULL, DATEEXECUTED TIMESTAMP NOT NULL, "
        "ORDEREXECUTED INT NOT NULL, EXECTYPE VARCHAR(10) NOT NULL, MD5SUM VARCHAR(35), "
        "DESCRIPTION VARCHAR(255), COMMENTS VARCHAR(255), TAG VARCHAR(255), "
        "LIQUIBASE VARCHAR(20), CONTEXTS VARCHAR(255), LABELS VARCHAR(255), "
        "DEPLOYMENT_ID VARCHAR(10), EXECUTION_MILLISECONDS INT)"
    )
    for order, (change_id, filename, exectype) in enumerate(entries, start=1):
        project.query(
            "INSERT INTO databasechangelog (ID, AUTHOR, FILENAME, DATEEXECUTED, ORDEREXECUTED, "
            "EXECTYPE, MD5SUM, DESCRIPTION, LIQUIBASE, DEPLOYMENT_ID) VALUES "
            f"({_q(change_id)}, 'ada', {_q(filename)}, '2023-06-0{order} 09:00:00', {order}, "
            f"{_q(exectype)}, '9:abc', 'sql', '4.29.2', '1234567890')"
        )
    return "databasechangelog"


def golang_migrate(project: Project, version: int, dirty: bool) -> str:
    if project.kind == "postgres":
        project.query(
            'CREATE TABLE IF NOT EXISTS "public"."schema_migrations" '
            "(version bigint not null primary key, dirty boolean not null)"
        )
    else:
        run_sql(
            project,
            [
                "CREATE TABLE IF NOT EXISTS schema_migrations (version uint64,dirty bool)",
                "CREATE UNIQUE INDEX IF NOT EXISTS version_unique ON schema_migrations (version)",
            ],
        )
    project.query(
        f"INSERT INTO schema_migrations (version, dirty) VALUES ({version}, "
        f"{_bool(project, dirty)})"
    )
    return "schema_migrations"


def goose(project: Project, entries: list[tuple[int, bool]]) -> str:
    """(version_id, is_applied) rows after goose's own (0, true)."""
    if project.kind == "postgres":
        project.query(
            "CREATE TABLE goose_db_version (id serial NOT NULL, version_id bigint NOT NULL, "
            "is_applied boolean NOT NULL, tstamp timestamp NULL default now(), PRIMARY KEY(id))"
        )
    else:
        project.query(
            "CREATE TABLE goose_db_version (id INTEGER PRIMARY KEY AUTOINCREMENT, "
            "version_id INTEGER NOT NULL, is_applied INTEGER NOT NULL, "
            "tstamp TIMESTAMP DEFAULT (datetime('now')))"
        )
    for version, applied in [(0, True), *entries]:
        project.query(
            "INSERT INTO goose_db_version (version_id, is_applied) VALUES "
            f"({version}, {_bool(project, applied)})"
        )
    return "goose_db_version"


def dbmate(project: Project, extra: dict[str, str] | None = None) -> str:
    """dbmate's own `up` (the real binary, when found) over the project's migrations and
    `extra` ones outside Git; or its DDL and rows."""
    folder = project.path.parent / "dbmate-migrations"
    shutil.copytree(project.path / "db" / "migrations", folder)
    for name, text in (extra or {}).items():
        (folder / name).write_text(text)
    if DBMATE is None:
        project.query("CREATE TABLE schema_migrations (version varchar(128) PRIMARY KEY)")
        for path in sorted(folder.glob("*.sql")):
            project.query(
                f"INSERT INTO schema_migrations (version) VALUES ({_q(path.name.split('_')[0])})"
            )
        return "schema_migrations"
    if project.kind == "sqlite":
        url = f"sqlite:{project.path / 'staging.db'}"
    else:
        url = project.url + ("&" if "?" in project.url else "?") + "sslmode=disable"
    done = subprocess.run(
        [DBMATE, "--url", url, "--migrations-dir", str(folder), "--no-dump-schema", "up"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr + done.stdout
    return "schema_migrations"


def sqitch(project: Project, changes: list[str], failing: str | None = None) -> str:
    """A sqitch project (plan, deploy and revert scripts) deployed with the real sqitch;
    `failing`: one more change whose deploy script fails."""
    root = project.path.parent / "sqitch"
    (root / "deploy").mkdir(parents=True)
    (root / "revert").mkdir()
    plan = ["%syntax-version=1.0.0", "%project=shop", ""]
    for n, change in enumerate([*changes, *([failing] if failing else [])], start=1):
        plan.append(f"{change} 2024-01-0{n}T00:00:00Z Ada Tester <ada@example.com> # {change}")
        bad = change == failing
        (root / "deploy" / f"{change}.sql").write_text(
            f"CREATE TABLE {change} (id integer PRIMARY KEY{'' if bad else ')'};\n"
        )
        (root / "revert" / f"{change}.sql").write_text(f"DROP TABLE {change};\n")
    (root / "sqitch.plan").write_text("\n".join(plan) + "\n")
    engine = "pg" if project.kind == "postgres" else "sqlite"
    (root / "sqitch.conf").write_text(f"[core]\n\tengine = {engine}\n")
    target = (
        f"db:sqlite:{project.path / 'staging.db'}"
        if project.kind == "sqlite"
        else "db:" + project.url.replace("postgresql://", "pg://")
    )
    done = subprocess.run(
        [str(SQITCH), "deploy", "--mode", "change", target],
        cwd=root,
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "SQITCH_FULLNAME": "Ada Tester", "SQITCH_EMAIL": "ada@example.com"},
    )
    assert (done.returncode == 0) == (failing is None), done.stderr + done.stdout
    if project.kind == "sqlite":
        return "sqitch.db"
    return "sqitch.changes"


def _q(value: str | None) -> str:
    return "NULL" if value is None else "'" + value.replace("'", "''") + "'"


def _bool(project: Project, value: bool) -> str:
    if project.kind == "postgres":
        return "true" if value else "false"
    return "1" if value else "0"


def foreign_rows(project: Project, table: str) -> list[tuple[Any, ...]]:
    """The other tool's history, whole (for sqitch, every registry table)."""
    if table == "sqitch.db":
        import sqlite3

        with sqlite3.connect(project.path / "sqitch.db") as db:
            return [
                tuple(row)
                for name in ("changes", "events", "tags", "dependencies", "projects")
                for row in db.execute(f"SELECT * FROM {name} ORDER BY 1")
            ]
    if table == "sqitch.changes":
        return [
            tuple(row)
            for name in ("changes", "events", "tags", "dependencies", "projects")
            for row in project.query(f"SELECT * FROM sqitch.{name} ORDER BY 1")
        ]
    return rows(project, table)


class Case(NamedTuple):
    tool: str
    layout: str
    history: Callable[[Project], str]
    adopted: dict[str, str]  # version -> status after the adoption
    times: list[str]  # in the run's reason
    sqitch: bool = False


HAPPY = [
    Case(
        "flyway",
        "split",
        lambda p: flyway(
            p,
            [
                (None, "SCHEMA", '"public"', True),
                ("1", "SQL", "V1__customers.sql", True),
                ("2", "SQL", "V2__orders.sql", True),
                (None, "SQL", "R__views.sql", True),
            ],
        ),
        {"1": "baselined", "2": "baselined"},
        ["1 at 2023-05-02", "2 at 2023-05-03"],
    ),
    Case(
        "flyway-baseline",
        "split",
        lambda p: flyway(
            p,
            [
                ("2", "BASELINE", "<< Flyway Baseline >>", True),
                ("3", "SQL", "V3__names.sql", True),
            ],
        ),
        {"1": "baselined", "2": "baselined", "3": "baselined"},
        ["1 at 2023-05-01", "3 at 2023-05-02"],
    ),
    Case(
        "liquibase",
        "split",
        lambda p: liquibase(
            p,
            [
                ("1", "db/changelog/db.changelog-master.xml", "EXECUTED"),
                ("customers-orders", "database/migrations/V2__orders.sql", "MARK_RAN"),
                ("3", "db/changelog/db.changelog-master.xml", "SKIPPED"),
            ],
        ),
        {"1": "baselined", "2": "baselined"},
        ["1 at 2023-06-01", "2 at 2023-06-02"],
    ),
    Case(
        "golang-migrate",
        "golang",
        lambda p: golang_migrate(p, 2, dirty=False),
        {"000001": "baselined", "000002": "baselined"},
        ["000001 (no time recorded)", "000002 (no time recorded)"],
    ),
    Case(
        "goose",
        "goose",
        lambda p: goose(p, [(1, True), (2, True), (3, True), (3, False)]),
        {"00001": "baselined", "00002": "baselined"},
        ["00001 at ", "00002 at "],
    ),
    Case(
        "dbmate",
        "dbmate",
        lambda p: dbmate(p),
        {
            "20240101000000": "baselined",
            "20240102000000": "baselined",
            "20240103000000": "baselined",
        },
        ["20240101000000 (no time recorded)"],
    ),
    Case(
        "sqitch",
        "split",
        lambda p: sqitch(p, ["customers", "orders"]),
        {"1": "baselined", "2": "baselined"},
        ["1 at ", "2 at "],
        sqitch=True,
    ),
]


@pytest.mark.parametrize("case", HAPPY, ids=[c.tool for c in HAPPY])
def test_adopts_what_the_other_tool_applied(
    case: Case, backend: tuple[str, str], tmp_path: Path
) -> None:
    if case.sqitch and SQITCH is None:
        pytest.skip("sqitch is not installed")
    project = adoptable(tmp_path, *backend, case.layout)
    table = case.history(project)
    before = foreign_rows(project, table)
    tool = case.tool.removesuffix("-baseline")

    run = project.run("baseline", "--env", "staging", "--from", tool)
    assert run.exit_code == 0, run.stderr
    assert states(project) == case.adopted
    assert foreign_rows(project, table) == before  # the other tool's history, untouched

    verify = project.run("verify", "--env", "staging")
    assert verify.exit_code == 0, verify.stdout + verify.stderr
    status = project.run("status")
    assert status.exit_code == 0
    for version in case.adopted:
        assert any(line.split()[:1] == [version] and "baselined" in line for line in status.lines)
    history = project.run("history", "--env", "staging", "--format", "json")
    [target] = json.loads(history.stdout)
    [adoption] = target["deployments"]
    assert adoption["operation"] == f"baseline from {tool}"
    assert adoption["outcome"] == "succeeded"
    assert adoption["reason"].startswith(f"adopted from {tool} (")
    for when in case.times:
        assert when in adoption["reason"]
    assert f"baseline from {tool}" in project.run("history", "--env", "staging").stdout

    again = project.run("baseline", "--env", "staging", "--from", tool)
    assert again.exit_code == 1 and "adopts a database only once" in again.stderr


class Refusal(NamedTuple):
    tool: str
    layout: str
    history: Callable[[Project], str]
    named: list[str]  # in the message
    sqitch: bool = False


REFUSED = [
    Refusal(
        "flyway",
        "split",
        lambda p: flyway(
            p, [("1", "SQL", "V1__customers.sql", True), ("9", "SQL", "V9__gone.sql", True)]
        ),
        ["Git does not have", "9 (V9__gone.sql, installed_rank 2)"],
    ),
    Refusal(
        "flyway",
        "split",
        lambda p: flyway(
            p, [("1", "SQL", "V1__customers.sql", True), ("2", "SQL", "V2__orders.sql", False)]
        ),
        ["did not finish", "2 (V2__orders.sql, installed_rank 2) failed"],
    ),
    Refusal(
        "liquibase",
        "split",
        lambda p: liquibase(p, [("1", "master.xml", "EXECUTED"), ("add-audit", "x.xml", "RERAN")]),
        ["Git does not have", "add-audit by ada in x.xml"],
    ),
    Refusal(
        "liquibase",
        "split",
        lambda p: liquibase(p, [("1", "master.xml", "EXECUTED"), ("2", "master.xml", "FAILED")]),
        ["did not finish", "2 by ada in master.xml failed"],
    ),
    Refusal(
        "liquibase",
        "split",
        lambda p: liquibase(p, [("1", "database/migrations/V2__orders.sql", "EXECUTED")]),
        ["cannot tell which", "1 by ada in database/migrations/V2__orders.sql matches"],
    ),
    Refusal(
        "golang-migrate",
        "golang",
        lambda p: golang_migrate(p, 7, dirty=False),
        ["Git does not have", "version 7"],
    ),
    Refusal(
        "golang-migrate",
        "golang",
        lambda p: golang_migrate(p, 2, dirty=True),
        ["did not finish", "version 2 is dirty"],
    ),
    Refusal(
        "goose",
        "goose",
        lambda p: goose(p, [(1, True), (4, True)]),
        ["Git does not have", "4"],
    ),
    Refusal(
        "dbmate",
        "dbmate",
        lambda p: dbmate(p, {"20240105000000_gone.sql": markers_dbmate("gone")}),
        ["Git does not have", "20240105000000"],
    ),
    Refusal(
        "sqitch",
        "split",
        lambda p: sqitch(p, ["customers", "orders", "audit"]),
        ["Git does not have", "audit (shop)"],
        sqitch=True,
    ),
    Refusal(
        "sqitch",
        "split",
        lambda p: sqitch(p, ["customers"], failing="orders"),
        ["did not finish", "orders (shop) failed to deploy"],
        sqitch=True,
    ),
    Refusal("flyway", "split", lambda p: "", ["has no flyway_schema_history table"]),
]


@pytest.mark.parametrize(
    "case",
    REFUSED,
    ids=[f"{c.tool}-{c.named[0].split()[0]}-{n}" for n, c in enumerate(REFUSED)],
)
def test_refuses_and_records_nothing(
    case: Refusal, backend: tuple[str, str], tmp_path: Path
) -> None:
    if case.sqitch and SQITCH is None:
        pytest.skip("sqitch is not installed")
    project = adoptable(tmp_path, *backend, case.layout)
    if project.kind == "sqlite":
        project.query("CREATE TABLE app_marker (id integer)")  # the database exists
    table = case.history(project)
    before = foreign_rows(project, table) if table else []

    run = project.run("baseline", "--env", "staging", "--from", case.tool.split("-baseline")[0])
    assert run.exit_code == 1, run.stdout
    for text in case.named:
        assert text in run.stderr
    assert "Nothing was recorded." in run.stderr
    assert not ledger_exists(project)
    if table:
        assert foreign_rows(project, table) == before


def test_goose_versions_rolled_back_are_not_adopted(
    backend: tuple[str, str], tmp_path: Path
) -> None:
    """goose records no failures; the newest row of a version decides (is_applied)."""
    project = adoptable(tmp_path, *backend, "goose")
    goose(project, [(1, True), (2, True), (2, False), (3, True), (3, False), (3, True)])
    assert project.run("baseline", "--env", "staging", "--from", "goose").exit_code == 0
    assert states(project) == {"00001": "baselined", "00003": "baselined"}


def test_from_and_version_are_exclusive(tmp_path: Path) -> None:
    project = adoptable(tmp_path, "sqlite", "sqlite:///staging.db", "split")
    both = project.run("baseline", "--env", "staging", "--from", "flyway", "--version", "1")
    neither = project.run("baseline", "--env", "staging")
    assert both.exit_code == neither.exit_code == 2
    assert "either --version or --from" in both.stderr
