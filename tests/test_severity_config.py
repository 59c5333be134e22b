"""`postgres_version` and `[tool.vcsync.severity]` (DESIGN §3 "Severity", §7): validated like
every key, and an override changes every finding of its code in `check` and `verify`, so the
exit code and every output format follow it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import SPLIT_CONFIG, git, make_repo, vcsync, write
from vcsync.config import load_config

UP = "database/migrations/V1__create_users.sql"
DOWN = "database/rollback/V1__create_users_rollback.sql"
V2 = "database/migrations/V2__add_email.sql"
BASE = {
    UP: "CREATE TABLE users (id bigint PRIMARY KEY);\n",
    DOWN: "DROP TABLE users;\n",
}
MISSING_ROLLBACK = {V2: "ALTER TABLE users ADD COLUMN email text;\n"}
REFORMATTED = {UP: "create table users (\n    id bigint primary key\n);\n"}


def config_with(extra: str) -> str:
    return f"{SPLIT_CONFIG}{extra}\n"


def findings(stdout: str) -> list[tuple[str, str]]:
    return [(f["code"], f["severity"]) for f in json.loads(stdout)["findings"]]


@pytest.fixture
def clone(tmp_path: Path) -> Path:
    """A developer's clone of a bare origin whose main holds V1 (with its rollback)."""
    upstream = make_repo(tmp_path / "upstream", BASE)
    git(tmp_path, "init", "-q", "--bare", "origin.git")
    git(upstream, "push", "-q", str(tmp_path / "origin.git"), "main")
    git(tmp_path, "clone", "-q", str(tmp_path / "origin.git"), "clone")
    return tmp_path / "clone"


def set_config(repo: Path, extra: str) -> None:
    write(repo, {"pyproject.toml": config_with(extra)})


# --- validation ---------------------------------------------------------------------------


def test_postgres_version_defaults_to_14(tmp_path: Path) -> None:
    make_repo(tmp_path / "p", BASE)
    assert load_config(cwd=tmp_path / "p").postgres_version == 14


@pytest.mark.parametrize("version", [10, 12, 18])
def test_postgres_version_takes_a_major_version_from_10_to_18(tmp_path: Path, version: int) -> None:
    make_repo(tmp_path / "p", BASE, config=config_with(f"postgres_version = {version}"))
    assert load_config(cwd=tmp_path / "p").postgres_version == version


def test_severity_overrides_are_read_into_the_config(tmp_path: Path) -> None:
    body = '[tool.vcsync.severity]\nVC001 = "warning"\nVC203 = "error"\nVC403 = "warning"'
    make_repo(tmp_path / "p", BASE, config=config_with(body))
    assert dict(load_config(cwd=tmp_path / "p").severity) == {
        "VC001": "warning",
        "VC203": "error",
        "VC403": "warning",
    }


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("postgres_version = 9", "postgres_version must be a PostgreSQL major version"),
        ("postgres_version = 19", "from 10 to 18, not 19"),
        ('postgres_version = "14"', "postgres_version must be a PostgreSQL major version"),
        ("postgres_version = 14.2", "postgres_version must be a PostgreSQL major version"),
        ("postgres_version = true", "postgres_version must be a PostgreSQL major version"),
        ('severity = "error"', 'severity must be a table of CODE = "error" or "warning"'),
        ('[tool.vcsync.severity]\nVC999 = "error"', "severity has 'VC999', which is no rule"),
        ('[tool.vcsync.severity]\nVC2 = "error"', "severity has 'VC2', which is no rule"),
        ('[tool.vcsync.severity]\nE501 = "error"', "severity has 'E501', which is no rule"),
        ('[tool.vcsync.severity]\nVC001 = "fatal"', 'severity VC001 must be "error" or'),
        ("[tool.vcsync.severity]\nVC001 = 1", 'severity VC001 must be "error" or'),
    ],
)
def test_a_bad_postgres_version_or_severity_is_one_sentence_and_exit_2(
    tmp_path: Path, body: str, message: str
) -> None:
    repo = make_repo(tmp_path / "p", BASE, config=config_with(body))
    run = vcsync(repo, "check")
    assert run.exit_code == 2
    assert message in run.stderr
    assert run.stderr.startswith("vcsync: ") and "Traceback" not in run.stderr
    assert len(run.stderr.strip().splitlines()) == 1


def test_the_registry_loads_only_for_a_config_with_a_severity_table(tmp_path: Path) -> None:
    """The commit hook's import cost stays as it was for a config without overrides."""
    plain = make_repo(tmp_path / "plain", BASE, config=config_with("postgres_version = 12"))
    body = '[tool.vcsync.severity]\nVC001 = "warning"'
    table = make_repo(tmp_path / "table", BASE, config=config_with(body))
    probe = (
        "import sys; from pathlib import Path; from vcsync.config import load_config; "
        "load_config(cwd=Path(sys.argv[1])); print('vcsync.rules' in sys.modules)"
    )
    loaded = [
        subprocess.run(
            [sys.executable, "-c", probe, str(where)], check=True, capture_output=True, text=True
        ).stdout.strip()
        for where in (plain, table)
    ]
    assert loaded == ["False", "True"]


# --- check and verify follow the overrides -------------------------------------------------


def test_a_missing_rollback_lowered_to_a_warning_passes_check_but_is_printed(clone: Path) -> None:
    set_config(clone, '[tool.vcsync.severity]\nVC001 = "warning"')
    write(clone, MISSING_ROLLBACK)
    text = vcsync(clone, "check")
    assert text.exit_code == 0, text.stderr
    assert [line.split(": ", 1)[1].split()[0] for line in text.lines] == ["VC001"]
    assert "1 warning" in text.stderr and "error" not in text.stderr
    as_json = vcsync(clone, "check", "--format", "json")
    assert (as_json.exit_code, findings(as_json.stdout)) == (0, [("VC001", "warning")])
    sarif = vcsync(clone, "check", "--format", "sarif")
    (run,) = json.loads(sarif.stdout)["runs"]
    assert sarif.exit_code == 0
    assert [(r["ruleId"], r["level"]) for r in run["results"]] == [("VC001", "warning")]


def test_without_the_override_the_missing_rollback_still_fails(clone: Path) -> None:
    write(clone, MISSING_ROLLBACK)
    run = vcsync(clone, "check", "--format", "json")
    assert (run.exit_code, findings(run.stdout)) == (1, [("VC001", "error")])


def test_a_reformatted_applied_migration_raised_to_an_error_fails_check(clone: Path) -> None:
    write(clone, REFORMATTED)
    assert vcsync(clone, "check").exit_code == 0  # VC203 is a warning by default
    set_config(clone, '[tool.vcsync.severity]\nVC203 = "error"')
    run = vcsync(clone, "check", "--format", "json")
    assert (run.exit_code, findings(run.stdout)) == (1, [("VC203", "error")])
    github = vcsync(clone, "check", "--format", "github")
    assert github.exit_code == 1 and github.stdout.startswith("::error ")


def test_verify_follows_the_overrides_both_ways(clone: Path) -> None:
    set_config(clone, '[tool.vcsync.severity]\nVC001 = "warning"\nVC203 = "error"')
    write(clone, MISSING_ROLLBACK)
    lowered = vcsync(clone, "verify", "--format", "json")
    assert (lowered.exit_code, findings(lowered.stdout)) == (0, [("VC001", "warning")])
    write(clone, REFORMATTED)
    raised = vcsync(clone, "verify", "--format", "json")
    assert raised.exit_code == 1
    assert sorted(findings(raised.stdout)) == [("VC001", "warning"), ("VC203", "error")]


def test_a_gate_code_lowered_to_a_warning_lets_verify_pass(tmp_path: Path) -> None:
    """VC205 (an applied migration deleted from Git) is verify's own check."""
    from tests.projects import make_project

    project = make_project(tmp_path, "sqlite", "sqlite:///staging.db")
    assert project.run("migrate", "--env", "staging").exit_code == 0
    for path in (project.path / "database").rglob("V3__*"):
        path.unlink()
    strict = project.run("verify", "--env", "staging")
    assert strict.exit_code == 1 and "VC205" in strict.stdout
    config = project.path / "pyproject.toml"
    config.write_text(config.read_text() + '[tool.vcsync.severity]\nVC205 = "warning"\n')
    lenient = project.run("verify", "--env", "staging")
    assert lenient.exit_code == 0, lenient.stdout
    assert "VC205" in lenient.stdout
