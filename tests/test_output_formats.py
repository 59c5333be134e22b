"""Machine output that CI accepts: SARIF that validates and that GitHub code scanning takes,
JUnit that tells errors from warnings, and workflow commands with the right level; a finding
without a file (a live database's) points at the environment in the config file."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import pytest

from tests.helpers import git, make_repo, vcsync, write
from tests.projects import Project, make_project, mig

UP = "database/migrations/V1__create_users.sql"
DOWN = "database/rollback/V1__create_users_rollback.sql"
V3 = "database/migrations/V3__add_name.sql"
BASE = {
    UP: "CREATE TABLE users (id bigint PRIMARY KEY);\n",
    DOWN: "DROP TABLE users;\n",
    "database/migrations/V2__add_email.sql": "ALTER TABLE users ADD COLUMN email text;\n",
    "database/rollback/V2__add_email_rollback.sql": "ALTER TABLE users DROP COLUMN email;\n",
}
# the extra key moves [tool.vcsync.environments.staging] to line 3 of pyproject.toml
STAGING_LINE = 3


@cache
def sarif_schema() -> dict[str, Any]:
    """The OASIS SARIF 2.1.0 schema (errata 01): `Schemata/sarif-schema-2.1.0.json` of
    oasis-tcs/sarif-spec, byte for byte."""
    text = (Path(__file__).parent / "fixtures" / "sarif-schema-2.1.0.json").read_text("utf-8")
    schema: dict[str, Any] = json.loads(text)
    assert schema["id"].startswith("https://docs.oasis-open.org/sarif/sarif/v2.1.0/")
    return schema


def assert_github_accepts(sarif: dict[str, Any]) -> list[dict[str, Any]]:
    """The SARIF schema, then what GitHub's upload adds to it; returns the results."""
    import jsonschema

    jsonschema.Draft4Validator(sarif_schema()).validate(sarif)
    (run,) = sarif["runs"]
    rules = [rule["id"] for rule in run["tool"]["driver"]["rules"]]
    for result in run["results"]:
        assert result["ruleId"] in rules
        if "ruleIndex" in result:
            assert rules[result["ruleIndex"]] == result["ruleId"]
        assert result["level"] in ("error", "warning", "note")
        assert result["locations"], result
        for location in result["locations"]:
            physical = location["physicalLocation"]
            assert physical["artifactLocation"]["uri"]
            assert physical["region"]["startLine"] >= 1
    results: list[dict[str, Any]] = run["results"]
    return results


def where(result: dict[str, Any]) -> tuple[str, str, int]:
    physical = result["locations"][0]["physicalLocation"]
    return result["ruleId"], physical["artifactLocation"]["uri"], physical["region"]["startLine"]


@pytest.fixture
def drifted(tmp_path: Path) -> Project:
    """staging on SQLite holding a hot-fix Git never had (VC206) and a column added by
    hand (VC402): findings with no file of their own."""
    project = make_project(
        tmp_path,
        "sqlite",
        "sqlite:///staging.db",
        extra_config='ledger_schema = "version_control"\n',
    )
    hotfix = mig("9", "hotfix", "CREATE TABLE hotfix (a int);\n", "DROP TABLE hotfix;\n")
    write(project.path, hotfix)
    assert project.run("migrate", "--env", "staging").exit_code == 0
    for path in hotfix:
        (project.path / path).unlink()
    project.query("ALTER TABLE customers ADD COLUMN note text")
    return project


@pytest.fixture
def warned(tmp_path: Path) -> Path:
    """A clone whose V1, already on origin/main, was only reformatted (VC203, a warning),
    and whose new V3 has no rollback (VC001, an error)."""
    upstream = make_repo(tmp_path / "upstream", BASE)
    git(tmp_path, "init", "-q", "--bare", "origin.git")
    git(upstream, "push", "-q", str(tmp_path / "origin.git"), "main")
    git(tmp_path, "clone", "-q", str(tmp_path / "origin.git"), "clone")
    clone = tmp_path / "clone"
    write(
        clone,
        {
            UP: "-- the users\ncreate table users (\n    id bigint primary key\n);\n",
            V3: "ALTER TABLE users ADD COLUMN name text;\n",
        },
    )
    return clone


def test_sarif_of_verify_validates_and_points_database_findings_at_the_environment(
    drifted: Project,
) -> None:
    run = drifted.run("verify", "--env", "staging", "--format", "sarif")
    assert run.exit_code == 1, run.stderr
    results = assert_github_accepts(json.loads(run.stdout))
    assert {where(r) for r in results} == {
        ("VC206", "pyproject.toml", STAGING_LINE),
        ("VC402", "pyproject.toml", STAGING_LINE),
    }


def test_sarif_of_check_validates_with_an_error_and_a_warning(warned: Path) -> None:
    run = vcsync(warned, "check", "--format", "sarif")
    assert run.exit_code == 1, run.stderr
    results = assert_github_accepts(json.loads(run.stdout))
    assert sorted((r["ruleId"], r["level"]) for r in results) == [
        ("VC001", "error"),
        ("VC203", "warning"),
    ]
    assert sorted(where(r) for r in results) == [("VC001", V3, 1), ("VC203", UP, 1)]


def test_a_finding_without_an_environment_points_at_line_1_of_the_config(tmp_path: Path) -> None:
    """VC207 names a release tag, no environment; its config is a vcsync.toml."""
    repo = make_repo(tmp_path / "p", BASE)
    (repo / "pyproject.toml").unlink()
    write(repo, {"vcsync.toml": '[environments.staging]\nurl = "sqlite:///s.db"\n'})
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "config")
    git(
        repo,
        "tag",
        "-a",
        "v1",
        "-m",
        "Release v1\n\nvcsync-schema-version: 2\nvcsync-manifest: " + "0" * 64,
    )
    run = vcsync(repo, "verify", "--format", "sarif")
    results = assert_github_accepts(json.loads(run.stdout))
    assert [where(r) for r in results if r["ruleId"] == "VC207"] == [("VC207", "vcsync.toml", 1)]


def junit(stdout: str) -> ElementTree.Element:
    suite = ElementTree.fromstring(stdout).find("testsuite")
    assert suite is not None
    assert all(case.get("name") for case in suite.iter("testcase"))
    return suite


def test_junit_of_check_fails_only_on_the_error_and_shows_the_warning(warned: Path) -> None:
    run = vcsync(warned, "check", "--format", "junit")
    suite = junit(run.stdout)
    cases = {case.get("name"): case for case in suite.iter("testcase")}
    assert suite.get("failures") == "1"
    assert [f.get("type") for f in cases[V3].iter("failure")] == ["VC001"]
    warned_case = cases[UP]
    assert warned_case.find("failure") is None and warned_case.find("error") is None
    assert "VC203" in ElementTree.tostring(warned_case, encoding="unicode")


def test_junit_of_verify_names_database_findings_after_code_and_environment(
    drifted: Project,
) -> None:
    run = drifted.run("verify", "--env", "staging", "--format", "junit")
    suite = junit(run.stdout)
    failing = {
        case.get("name"): [f.get("type") for f in case.iter("failure")]
        for case in suite.iter("testcase")
        if case.find("failure") is not None
    }
    assert failing == {"VC206 staging": ["VC206"], "VC402 staging": ["VC402"]}
    assert suite.get("failures") == "2"
    assert f"pyproject.toml:{STAGING_LINE}:" in run.stdout


def test_github_commands_of_check_say_error_and_warning(warned: Path) -> None:
    run = vcsync(warned, "check", "--format", "github")
    assert [line.split("::")[1] for line in run.lines] == [
        f"warning file={UP},line=1,col=1,title=VC203",
        f"error file={V3},line=1,col=1,title=VC001",
    ]


def test_github_commands_of_verify_point_at_the_environment(drifted: Project) -> None:
    run = drifted.run("verify", "--env", "staging", "--format", "github")
    assert sorted(line.split("::")[1] for line in run.lines) == [
        f"error file=pyproject.toml,line={STAGING_LINE},col=1,title=VC206",
        f"error file=pyproject.toml,line={STAGING_LINE},col=1,title=VC402",
    ]


def test_github_commands_escape_properties_and_messages(tmp_path: Path) -> None:
    """A path's `,` and `:` and a message's `%` would end a property or a command early."""
    repo = make_repo(tmp_path / "p", {"database/migrations/V1__a,b:c%.sql": "SELECT 1;\n"})
    run = vcsync(repo, "check", "--format", "github")
    assert run.lines, run.stderr
    for line in run.lines:
        assert line.startswith("::error file=database/migrations/V1__a%2Cb%3Ac%25.sql,"), line


def test_an_environment_is_found_however_the_config_writes_its_table() -> None:
    from vcsync.cli.locations import environment_lines

    text = (
        "[tool.vcsync]\n"
        "[tool.vcsync.environments]\n"
        'dev = { url = "sqlite:///dev.db" }\n'
        '[tool.vcsync.environments."eu.prod"]\n'
        "[tool.vcsync.environments.staging.schemas]\n"
        "[tool.vcsync.environments.staging]\n"
        "[environments.other]\n"
    )
    assert environment_lines(text, bare=False) == {"dev": 3, "eu.prod": 4, "staging": 6}
    assert environment_lines(text, bare=True)["other"] == 7
