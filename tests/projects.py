"""A project with three migrations and a `staging` environment on SQLite or PostgreSQL,
shared by the deploy, verify and release tests (the `project` fixture in conftest)."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any, NamedTuple

from tests.helpers import SPLIT_CONFIG, Run, make_repo, vcsync

SECRET = "pw-Hunter2"


def mig(n: str, desc: str, up: str, down: str) -> dict[str, str]:
    return {
        f"database/migrations/V{n}__{desc}.sql": up,
        f"database/rollback/V{n}__{desc}_rollback.sql": down,
    }


BASE = {
    **mig(
        "1",
        "customers",
        "CREATE TABLE customers (id integer PRIMARY KEY, email text);\n",
        "DROP TABLE customers;\n",
    ),
    **mig(
        "2",
        "orders",
        "CREATE TABLE orders (id integer PRIMARY KEY, "
        "customer_id integer REFERENCES customers (id));\n"
        "CREATE INDEX orders_customer_idx ON orders (customer_id);\n",
        "DROP INDEX orders_customer_idx;\nDROP TABLE orders;\n",
    ),
    **mig(
        "3",
        "names",
        "ALTER TABLE customers ADD COLUMN name text;\n",
        "ALTER TABLE customers DROP COLUMN name;\n",
    ),
}


class Project(NamedTuple):
    path: Path
    kind: str
    url: str

    def query(self, sql: str) -> list[tuple[Any, ...]]:
        if self.kind == "sqlite":
            with sqlite3.connect(self.path / "staging.db") as db:
                return db.execute(sql).fetchall()
        import psycopg

        with psycopg.connect(self.url, autocommit=True) as conn:
            cursor = conn.execute(sql)
            return cursor.fetchall() if cursor.description else []

    def ledger(self, name: str) -> str:
        return f"version_control__{name}" if self.kind == "sqlite" else f"version_control.{name}"

    def has_table(self, name: str) -> bool:
        if self.kind == "sqlite":
            return bool(self.query(f"SELECT 1 FROM sqlite_schema WHERE name = '{name}'"))
        return self.query(f"SELECT to_regclass('public.{name}') IS NOT NULL")[0][0]

    def run(self, *args: str) -> Run:
        return vcsync(self.path, *args)

    def counts(self) -> dict[str, int]:
        tables = ("schema_migration_h", "schema_migration_s", "deployment_log", "ledger_version")
        return {t: self.query(f"SELECT count(*) FROM {self.ledger(t)}")[0][0] for t in tables}


def make_project(tmp_path: Path, kind: str, url: str, extra_config: str = "") -> Project:
    config = (
        f'[tool.vcsync]\n{extra_config}[tool.vcsync.environments.staging]\nurl = "{url}"\n'
        '[tool.vcsync.environments.production]\nurl = "sqlite:///production.db"\n'
    )
    return Project(make_repo(tmp_path / "p", BASE, config=config), kind, url)


def project_with(tmp_path: Path, kind: str, url: str, files: dict[str, str]) -> Project:
    """A split-layout project holding exactly `files`, with `staging` at `url`."""
    config = f'{SPLIT_CONFIG}[tool.vcsync.environments.staging]\nurl = "{url}"\n'
    return Project(make_repo(tmp_path / "p", files, config=config), kind, url)


FIXTURES = Path(__file__).parent / "fixtures"


def load_ledger_dump(project: Project, version: int) -> None:
    """Load a ledger made by an older vcsync (tests/fixtures/ledger_vN.<kind>.sql) into
    the project's staging database, as that vcsync left it."""
    dump = (FIXTURES / f"ledger_v{version}.{project.kind}.sql").read_text()
    if project.kind == "sqlite":
        with sqlite3.connect(project.path / "staging.db") as db:
            db.executescript(dump)
        return
    import psycopg

    with psycopg.connect(project.url, autocommit=True) as conn:
        conn.execute(dump.encode())
