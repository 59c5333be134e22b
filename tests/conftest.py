"""Session-wide isolation: Git never reads the developer's own config."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import GIT_ENV
from tests.projects import SECRET, Project, make_project


@pytest.fixture(autouse=True)
def isolated_git(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Iterator[None]:
    home = tmp_path_factory.mktemp("home")
    (home / ".gitconfig").write_text(
        "[init]\n\tdefaultBranch = main\n[user]\n\tname = Ada Tester\n\temail = ada@example.com\n"
        '[advice]\n\tdetachedHead = false\n[protocol "file"]\n\tallow = always\n'
    )
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(home / ".gitconfig"))
    for key, value in GIT_ENV.items():
        monkeypatch.setenv(key, value)
    for key in ("GIT_DIR", "GIT_INDEX_FILE", "GIT_WORK_TREE"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.delenv("VCSYNC_CONFIG", raising=False)
    yield


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """An empty-history project: the split-layout config committed on main."""
    from tests.helpers import make_repo

    return make_repo(tmp_path / "project")


def pytest_report_header() -> str:
    return f"vcsync tests; CI={os.environ.get('CI', '')!r}"


PG_URL = os.environ.get("VCSYNC_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


@pytest.fixture(scope="session")
def pg_server() -> str:
    """The server's admin URL; skipped without a server, but a failure under CI=true."""
    import psycopg

    try:
        psycopg.connect(PG_URL, connect_timeout=3, autocommit=True).close()
    except psycopg.Error as exc:
        reason = f"PostgreSQL at {PG_URL} is unreachable ({str(exc).strip().splitlines()[0]})"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason}; CI=true requires it (start it with pg_ctlcluster)")
        pytest.skip(f"{reason}; set VCSYNC_TEST_PG_URL to run the PostgreSQL tests")
    return PG_URL


@pytest.fixture
def pg_url(pg_server: str) -> Iterator[str]:
    """A scratch database for one test, dropped afterwards."""
    import uuid

    import psycopg
    from psycopg import sql

    name = f"vcsync_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(pg_server, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    base = pg_server.rsplit("/", 1)[0]
    yield f"{base}/{name}"
    with psycopg.connect(pg_server, autocommit=True) as admin:
        admin.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


@pytest.fixture(params=["sqlite", "postgres"])
def project(request: pytest.FixtureRequest, tmp_path: Path) -> Project:
    """The three-migration project with `staging` on SQLite, then on a scratch PostgreSQL
    database whose URL carries a password (trust auth ignores it; no output may show it)."""
    if request.param == "sqlite":
        return make_project(tmp_path, "sqlite", "sqlite:///staging.db")
    url = request.getfixturevalue("pg_url").replace("postgres@", f"postgres:{SECRET}@")
    return make_project(tmp_path, "postgres", url)
