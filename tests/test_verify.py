"""`vcsync verify`: each finding of the pull-request gate, made to happen and shown absent."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.helpers import commit, git, make_repo, vcsync, write
from tests.projects import Project, make_project, mig

V2 = "database/migrations/V2__orders.sql"


def codes(project: Project, *args: str) -> list[tuple[str, str]]:
    run = project.run("verify", "--format", "json", *args)
    assert run.exit_code in (0, 1), run.stderr
    return [(f["code"], f["path"]) for f in json.loads(run.stdout)["findings"]]


def test_a_deployed_untouched_project_verifies_clean(project: Project) -> None:
    assert project.run("migrate", "--env", "staging").exit_code == 0
    run = project.run("verify", "--env", "staging")
    assert run.exit_code == 0, run.stdout + run.stderr
    assert run.stdout == ""


def test_rule_findings_over_the_whole_tree_fail_verify(project: Project) -> None:
    write(project.path, {"database/migrations/V4__x.sql": "CREATE TABLE x (a int);\n"})
    assert codes(project) == [("VC001", "database/migrations/V4__x.sql")]


def test_an_applied_migration_edited_in_git_is_vc204(project: Project) -> None:
    project.run("migrate", "--env", "staging")
    write(project.path, {V2: "CREATE TABLE orders (id integer PRIMARY KEY);\n"})
    commit(project.path, "edit an applied migration")
    run = project.run("verify", "--env", "staging")
    assert run.exit_code == 1
    assert run.lines[0].startswith(
        f"{V2}:1:1: VC204 migration 2 differs from what staging applied (checksum "
    )


def test_an_applied_migration_only_reformatted_is_a_vc203_warning(project: Project) -> None:
    project.run("migrate", "--env", "staging")
    write(
        project.path,
        {
            V2: "-- orders of a customer\ncreate table orders (\n"
            "    id integer primary key,\n"
            "    customer_id integer references customers (id)\n);\n"
            "create index orders_customer_idx on orders (customer_id);\n"
        },
    )
    commit(project.path, "reformat")
    run = project.run("verify", "--env", "staging")
    assert run.exit_code == 0
    assert run.lines == [
        f"{V2}:1:1: VC203 migration 2 was reformatted after staging applied it "
        "(same parse tree, new checksum)."
    ]


def test_an_applied_migration_deleted_from_git_is_vc205(project: Project) -> None:
    project.run("migrate", "--env", "staging")
    git(
        project.path,
        "rm",
        "-q",
        "database/migrations/V3__names.sql",
        "database/rollback/V3__names_rollback.sql",
    )
    commit(project.path, "drop V3")
    assert ("VC205", "") in codes(project, "--env", "staging")


def test_a_migration_git_never_had_is_vc206(project: Project) -> None:
    hotfix = mig("9", "hotfix", "CREATE TABLE hotfix (a int);\n", "DROP TABLE hotfix;\n")
    write(project.path, hotfix)
    project.run("migrate", "--env", "staging")
    for path in hotfix:
        (project.path / path).unlink()
    found = codes(project, "--env", "staging")
    assert ("VC206", "") in found and ("VC205", "") not in found


def test_an_edited_deployment_log_row_is_vc209(project: Project) -> None:
    project.run("migrate", "--env", "staging", "--to", "1")
    project.run("migrate", "--env", "staging")
    if project.kind == "sqlite":
        project.query("DROP TRIGGER version_control__deployment_log_no_update")
        project.query(
            "UPDATE version_control__deployment_log SET operator = 'mallory' WHERE seq = 1"
        )
    else:
        project.query("ALTER TABLE version_control.deployment_log DISABLE TRIGGER insert_only")
        project.query(
            "UPDATE version_control.deployment_log SET operator = 'mallory' WHERE seq = 1"
        )
    run = project.run("verify", "--env", "staging")
    assert run.exit_code == 1
    assert run.lines == [
        "VC209 staging: deployment_log row 1 (migrate of "
        + run.lines[0].split("(migrate of ", 1)[1].split(")")[0]
        + ") was edited after it was written; the audit trail no longer proves "
        "what ran there.",
        "VC209 staging: the insert-only triggers of ledger table deployment_log are gone, so its "
        "rows can be changed without a trace; the audit trail no longer proves what ran there.",
    ]


def test_a_change_made_by_hand_is_vc402_object_by_object(project: Project) -> None:
    project.run("migrate", "--env", "staging")
    assert codes(project, "--env", "staging") == []
    project.query("ALTER TABLE customers ADD COLUMN note text")
    run = project.run("verify", "--env", "staging")
    assert run.exit_code == 1
    assert len(run.lines) == 1 and run.lines[0].startswith(
        "VC402 staging differs from the schema vcsync recorded after deployment "
    )
    assert run.lines[0].endswith(
        "+ column " + ("" if project.kind == "sqlite" else "public.") + "customers.note"
    )


@pytest.fixture(params=["sqlite", "postgres"])
def roundtrip_project(request: pytest.FixtureRequest, tmp_path: Path) -> Project:
    """The project on a branch that adds V4; the round trip's scratch database is a temporary
    SQLite file, or one created on the PostgreSQL server `scratch_url` names."""
    extra = ""
    if request.param == "postgres":
        server = request.getfixturevalue("pg_server")
        extra = f'scratch_url = "{server}"\n'
    project = make_project(tmp_path, request.param, "sqlite:///staging.db", extra)
    git(project.path, "branch", "base")
    return project


def test_a_rollback_that_does_not_reverse_is_vc401(roundtrip_project: Project) -> None:
    project = roundtrip_project
    write(
        project.path,
        mig(
            "4",
            "status",
            "ALTER TABLE orders ADD COLUMN status text;\n"
            "CREATE INDEX orders_status_idx ON orders (status);\n",
            "DROP INDEX orders_status_idx;\n",
        ),
    )
    run = project.run("verify", "--roundtrip", "--base", "base")
    assert run.exit_code == 1
    assert any(
        line.startswith(
            "database/migrations/V4__status.sql:1:1: VC401 after 4 and its "
            "rollback the schema differs: + column "
        )
        and line.endswith("orders.status")
        for line in run.lines
    ), run.stdout


def test_a_rollback_that_reverses_passes_the_round_trip(roundtrip_project: Project) -> None:
    project = roundtrip_project
    write(
        project.path,
        mig(
            "4",
            "status",
            "ALTER TABLE orders ADD COLUMN status text;\n"
            "CREATE INDEX orders_status_idx ON orders (status);\n",
            "DROP INDEX orders_status_idx;\nALTER TABLE orders DROP COLUMN status;\n",
        ),
    )
    run = project.run("verify", "--roundtrip", "--base", "base")
    assert run.exit_code == 0, run.stdout + run.stderr


def test_verify_in_a_shallow_clone_names_the_fetch_for_a_missing_base(tmp_path: Path) -> None:
    upstream = make_repo(
        tmp_path / "up", mig("1", "a", "CREATE TABLE a (x int);\n", "DROP TABLE a;\n")
    )
    commit(upstream, "second")
    git(tmp_path, "clone", "-q", "--depth", "1", f"file://{upstream}", "shallow")
    run = vcsync(tmp_path / "shallow", "verify", "--base", "origin/release")
    assert run.exit_code == 2
    assert "`git fetch --depth=1 origin release:refs/remotes/origin/release`" in run.stderr


def test_a_release_tag_whose_manifest_disagrees_with_its_commit_is_vc207(project: Project) -> None:
    assert project.run("tag-release", "v1.0.0").exit_code == 0
    assert codes(project) == []
    forged = "Release v1.1.0\n\nvcsync-schema-version: 3\nvcsync-manifest: " + "0" * 64
    git(project.path, "tag", "-a", "v1.1.0", "-m", forged)
    run = project.run("verify")
    assert run.exit_code == 1
    assert run.lines == [
        f"VC207 release v1.1.0 says manifest {'0' * 12} but its commit "
        f"{git(project.path, 'rev-parse', 'HEAD')[:12]} holds "
        + run.lines[0].split(" holds ", 1)[1]
    ]


def test_a_release_recorded_at_another_commit_is_vc208(project: Project) -> None:
    project.run("migrate", "--env", "staging")
    assert project.run("tag-release", "v1.0.0", "--env", "staging").exit_code == 0
    recorded = git(project.path, "rev-parse", "v1.0.0^{commit}").strip()
    assert codes(project, "--env", "staging") == []
    git(project.path, "tag", "-d", "v1.0.0")
    commit(project.path, "an unrelated commit")
    assert project.run("tag-release", "v1.0.0").exit_code == 0  # re-made, elsewhere
    now = git(project.path, "rev-parse", "v1.0.0^{commit}").strip()
    run = project.run("verify", "--env", "staging")
    assert run.exit_code == 1
    assert run.lines == [
        f"VC208 staging recorded release v1.0.0 at {recorded[:12]}, but the "
        f"tag points at {now[:12]}."
    ]
