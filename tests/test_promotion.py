"""Promotion is enforced (DESIGN §10): with `promotion = ["dev", "staging"]`, `migrate --env
staging` refuses what dev has not applied, before anything is written, unless
`--skip-promotion --reason TEXT` is given (the reason lands in deployment_log). dev is
SQLite; staging runs on SQLite and on a real PostgreSQL database."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from tests.helpers import make_repo, vcsync
from tests.projects import BASE, SECRET, Project

PROMOTE = "`vcsync migrate --env dev`), or pass --skip-promotion --reason TEXT."


def chain_config(staging_url: str, dev: str = 'url = "sqlite:///dev.db"', extra: str = "") -> str:
    return (
        f'[tool.vcsync]\npromotion = ["dev", "staging"]\n{extra}'
        f"[tool.vcsync.environments.dev]\n{dev}\n"
        f'[tool.vcsync.environments.staging]\nurl = "{staging_url}"\n'
    )


@pytest.fixture(params=["sqlite", "postgres"])
def chain(request: pytest.FixtureRequest, tmp_path: Path) -> Project:
    """BASE's three migrations; dev has 1 and 2, staging has 1."""
    if request.param == "sqlite":
        url = "sqlite:///staging.db"
    else:
        url = request.getfixturevalue("pg_url").replace("postgres@", f"postgres:{SECRET}@")
    project = Project(make_repo(tmp_path / "p", BASE, config=chain_config(url)), request.param, url)
    assert project.run("migrate", "--env", "dev", "--to", "2").exit_code == 0
    assert project.run("migrate", "--env", "staging", "--to", "1").exit_code == 0
    return project


def dev_query(project: Project, sql: str) -> list[tuple[object, ...]]:
    with sqlite3.connect(project.path / "dev.db") as db:
        return db.execute(sql).fetchall()


def test_a_migration_the_earlier_environment_lacks_is_refused_and_nothing_is_written(
    chain: Project,
) -> None:
    before = chain.counts()
    for extra in ((), ("--dry-run",)):
        run = chain.run("migrate", "--env", "staging", *extra)
        assert run.exit_code == 1, run.stdout
        assert run.stderr == (
            "vcsync: 3 is not applied in dev (dev is at 2; its 3 is pending): promote it "
            f"there first ({PROMOTE}\n"
        )
        assert chain.counts() == before  # no run row, no migration row
        assert not chain.has_table("orders")  # 2 (which dev has) did not run either
    assert chain.run("status", "--env", "staging").exit_code == 0


def test_what_the_earlier_environment_has_goes_through(chain: Project) -> None:
    run = chain.run("migrate", "--env", "staging", "--to", "2")
    assert run.exit_code == 0, run.stderr
    assert chain.has_table("orders")


def test_a_failed_migration_in_the_earlier_environment_is_named_so(chain: Project) -> None:
    dev_query(chain, "ALTER TABLE customers ADD COLUMN name text")  # so dev's 3 fails
    assert chain.run("migrate", "--env", "dev").exit_code == 1
    before = chain.counts()
    run = chain.run("migrate", "--env", "staging")
    assert run.exit_code == 1
    assert "3 is not applied in dev (dev is at 2; its 3 failed): promote it" in run.stderr
    assert chain.counts() == before


def test_skip_promotion_with_a_reason_applies_and_records_the_reason(chain: Project) -> None:
    run = chain.run("migrate", "--env", "staging", "--skip-promotion", "--reason", "hotfix INC-42")
    assert run.exit_code == 0, run.stderr
    assert "the promotion check was skipped (--skip-promotion): hotfix INC-42" in run.stderr
    assert chain.has_table("orders")
    rows = chain.query(
        f"SELECT reason FROM {chain.ledger('deployment_log')} WHERE operation = 'migrate' "
        "ORDER BY started_at"
    )
    assert [r[0] for r in rows] == [None, "hotfix INC-42"]


def test_skip_promotion_needs_a_reason(chain: Project) -> None:
    before = chain.counts()
    run = chain.run("migrate", "--env", "staging", "--skip-promotion")
    assert run.exit_code == 2
    assert run.stderr == (
        "vcsync: --skip-promotion needs --reason TEXT saying why (it is recorded in the "
        "deployment log).\n"
    )
    blank = chain.run("migrate", "--env", "staging", "--skip-promotion", "--reason", " ")
    assert blank.exit_code == 2
    assert chain.counts() == before


def test_the_first_environment_and_rollback_are_never_refused(chain: Project) -> None:
    assert chain.run("migrate", "--env", "dev").exit_code == 0  # first in the chain
    dev_query(chain, "SELECT 1")
    run = chain.run("rollback", "--env", "dev", "--to", "0", "--reason", "reset dev")
    assert run.exit_code == 0, run.stderr
    # staging's 1 is no longer in dev, yet staging may still roll back
    run = chain.run("rollback", "--env", "staging", "--to", "0", "--reason", "reset")
    assert run.exit_code == 0, run.stderr


def test_other_text_in_the_earlier_environment_does_not_count(chain: Project) -> None:
    assert chain.run("migrate", "--env", "dev").exit_code == 0
    # dev applied 3 as committed; the run now would deploy an edited 3
    (path,) = (chain.path / "database/migrations").glob("V3__*.sql")
    path.write_text("ALTER TABLE customers ADD COLUMN nickname text;\n")
    before = chain.counts()
    run = chain.run("migrate", "--env", "staging")
    assert run.exit_code == 1
    assert "its 3 was applied with other text, checksum " in run.stderr
    assert chain.counts() == before


def test_an_unreadable_earlier_environment_refuses(tmp_path: Path) -> None:
    for dev in (
        'url = "postgresql://postgres@127.0.0.1:1/nowhere"',
        'url = "env:VCSYNC_TEST_UNSET_DEV_URL"',
    ):
        repo = make_repo(
            tmp_path / str(len(dev)), BASE, config=chain_config("sqlite:///staging.db", dev)
        )
        run = vcsync(repo, "migrate", "--env", "staging")
        assert run.exit_code == 1, run.stderr
        assert run.stderr.startswith("vcsync: staging takes only what dev has applied, but dev (")
        assert "cannot be read" in run.stderr
        assert run.stderr.endswith(
            "make it reachable and run again, or pass --skip-promotion --reason TEXT.\n"
        )
        assert not (repo / "staging.db").exists()


def test_a_fleet_counts_a_migration_promoted_only_when_every_target_has_it(
    tmp_path: Path,
) -> None:
    config = chain_config(
        "sqlite:///staging.db", dev='urls = ["sqlite:///dev_a.db", "sqlite:///dev_b.db"]'
    )
    repo = make_repo(tmp_path / "fleet", BASE, config=config)
    assert vcsync(repo, "migrate", "--env", "dev", "--to", "2").exit_code == 0
    # dev_a alone takes 3 (a config naming only it); dev_b stays at 2
    solo = chain_config("sqlite:///staging.db", dev='url = "sqlite:///dev_a.db"')
    (repo / "solo.toml").write_text(solo)
    run = vcsync(repo, "migrate", "--config", "solo.toml", "--env", "dev")
    assert run.exit_code == 0, run.stderr
    run = vcsync(repo, "migrate", "--env", "staging")
    assert run.exit_code == 1
    assert "dev is at 2 on its least advanced target" in run.stderr
    assert "its 3 is pending in " in run.stderr and "dev_b.db" in run.stderr
    assert "dev_a.db" not in run.stderr
    assert not (repo / "staging.db").exists()
    assert vcsync(repo, "migrate", "--env", "staging", "--to", "2").exit_code == 0


@pytest.mark.parametrize(
    ("promotion", "message"),
    [
        (
            '["dev", "qa"]',
            "promotion names 'qa', which is not a configured environment "
            "(configured: dev, staging).",
        ),
        (
            '["dev", "staging", "dev"]',
            "promotion names 'dev' twice; each environment has one place in the chain.",
        ),
        ('"dev"', "promotion must be a list of environment names"),
    ],
)
def test_the_promotion_key_is_validated(tmp_path: Path, promotion: str, message: str) -> None:
    config = chain_config("sqlite:///staging.db").replace(
        'promotion = ["dev", "staging"]', f"promotion = {promotion}"
    )
    repo = make_repo(tmp_path / "bad", BASE, config=config)
    run = vcsync(repo, "migrate", "--env", "staging")
    assert run.exit_code == 2
    assert run.stderr.startswith(f"vcsync: pyproject.toml: {message}")
    assert len(run.stderr.strip().splitlines()) == 1
    assert not (repo / "staging.db").exists()
