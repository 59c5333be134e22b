"""Configuration: found by walking up, every key validated, one sentence and exit 2 when wrong."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import make_repo, vcsync, write
from vcsync.config import load_config

MIGRATION = {
    "database/migrations/V1__users.sql": "CREATE TABLE users (id int);\n",
    "database/rollback/V1__users_rollback.sql": "DROP TABLE users;\n",
}


def test_config_is_found_by_walking_up_from_a_subfolder(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "p", MIGRATION)
    sub = repo / "database" / "migrations"
    config = load_config(cwd=sub)
    assert config.root == repo and config.source == repo / "pyproject.toml"
    assert vcsync(sub, "check").exit_code == 0


def test_vcsync_toml_takes_top_level_keys(tmp_path: Path) -> None:
    write(tmp_path, {"vcsync.toml": 'migrations = "sql/up"\nrollbacks = "sql/down"\n'})
    config = load_config(cwd=tmp_path)
    assert (config.migrations, config.rollbacks) == ("sql/up", "sql/down")


def test_pyproject_without_a_vcsync_table_is_skipped_for_the_one_above(tmp_path: Path) -> None:
    write(tmp_path, {"vcsync.toml": 'dialect = "mysql"\n', "app/pyproject.toml": "[project]\n"})
    assert load_config(cwd=tmp_path / "app").dialect == "mysql"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ('colour = "red"', "unknown key 'colour'"),
        ('layout = "liquibase"', "layout must be one of auto, split, flyway, updown, markers"),
        ('dialect = "klingon"', "dialect 'klingon' is not a known SQL dialect"),
        ('select = "VC001"', "select must be a list of rule codes"),
        ('ignore = ["E501"]', "ignore has 'E501', which is not a rule code"),
        ('baseline = "one"', "baseline must be a version"),
        ('migrations = "../elsewhere"', "migrations must be a folder inside the project"),
        ("max_parse_bytes = 0", "max_parse_bytes must be a positive whole number"),
        ('scratch_url = "mysql://x"', "scratch_url must start with one of"),
        (
            '[tool.vcsync.environments.prod]\nurl = "ftp://x"',
            "environments prod.url must start with",
        ),
        ('[tool.vcsync.environments.prod]\nuser = "x"', "prod has unknown key 'user'"),
        ("layout = [", "is not valid TOML"),
    ],
)
def test_a_bad_config_is_one_sentence_and_exit_2(tmp_path: Path, body: str, message: str) -> None:
    repo = make_repo(tmp_path / "p", MIGRATION, config=f"[tool.vcsync]\n{body}\n")
    run = vcsync(repo, "check")
    assert run.exit_code == 2
    assert message in run.stderr
    assert run.stderr.startswith("vcsync: ") and "Traceback" not in run.stderr
    assert len(run.stderr.strip().splitlines()) == 1


def test_an_explicit_config_path_that_does_not_exist_is_exit_2(tmp_path: Path) -> None:
    run = vcsync(tmp_path, "check", "--config", str(tmp_path / "nope.toml"))
    assert run.exit_code == 2 and "does not exist" in run.stderr


def test_select_and_ignore_take_codes_and_prefixes(tmp_path: Path) -> None:
    files = {"database/migrations/V1__users.sql": "CREATE TABLE users (id int,);\n"}
    base = "[tool.vcsync]\n"
    repo = make_repo(tmp_path / "a", files, config=base)
    assert {ln.split()[1] for ln in vcsync(repo, "check").lines} == {"VC001", "VC101"}
    repo = make_repo(tmp_path / "b", files, config=base + 'ignore = ["VC0"]\n')
    assert {ln.split()[1] for ln in vcsync(repo, "check").lines} == {"VC101"}
    repo = make_repo(tmp_path / "c", files, config=base + 'select = ["VC001"]\n')
    assert {ln.split()[1] for ln in vcsync(repo, "check").lines} == {"VC001"}


def test_environment_urls_may_name_an_env_variable(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "vcsync.toml": '[environments.prod]\nurl = "env:PROD_URL"\n'
            '[environments.tenants]\nurl = "postgresql://h/db"\n'
            'schemas = ["a", "b"]\n'
        },
    )
    config = load_config(cwd=tmp_path)
    assert config.environment("prod").urls == ("env:PROD_URL",)
    assert config.environment("tenants").schemas == ("a", "b")
