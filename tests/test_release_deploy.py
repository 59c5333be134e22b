"""Deploy a release, not a working tree (DESIGN §10): a `protected = true` environment runs
only what Git has at HEAD and `vcsync check` passes, naming the file it refuses; `migrate
--release TAG` runs the tag's text (read from Git, after its manifest is checked) and records
the tag. staging runs on SQLite and on a real PostgreSQL database."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import commit, git, make_repo, write
from tests.projects import BASE, SECRET, Project, mig

V3 = "database/migrations/V3__names.sql"
FIX = "commit or fix {} and migrate again (or deploy a tagged release with --release TAG).\n"
PURGE = mig("4", "purge", "DELETE FROM customers;\n", "SELECT 1;\n")


def config(url: str, protected: bool) -> str:
    flag = "protected = true\n" if protected else ""
    return f'[tool.vcsync]\n[tool.vcsync.environments.staging]\nurl = "{url}"\n{flag}'


def make(request: pytest.FixtureRequest, tmp_path: Path, protected: bool) -> Project:
    """BASE committed, staging at 1."""
    if request.param == "sqlite":
        url = "sqlite:///staging.db"
    else:
        url = request.getfixturevalue("pg_url").replace("postgres@", f"postgres:{SECRET}@")
    path = make_repo(
        tmp_path / "p", {**BASE, ".gitignore": "*.db\n*.lock\n"}, config=config(url, protected)
    )
    project = Project(path, request.param, url)
    run = project.run("migrate", "--env", "staging", "--to", "1")
    assert run.exit_code == 0, run.stderr
    return project


@pytest.fixture(params=["sqlite", "postgres"])
def guarded(request: pytest.FixtureRequest, tmp_path: Path) -> Project:
    return make(request, tmp_path, protected=True)


@pytest.fixture(params=["sqlite", "postgres"])
def open_env(request: pytest.FixtureRequest, tmp_path: Path) -> Project:
    return make(request, tmp_path, protected=False)


def columns(project: Project, table: str) -> list[str]:
    if project.kind == "sqlite":
        return [row[1] for row in project.query(f"PRAGMA table_info({table})")]
    rows = project.query(
        "SELECT column_name FROM information_schema.columns WHERE table_schema = 'public' "
        f"AND table_name = '{table}' ORDER BY ordinal_position"
    )
    return [row[0] for row in rows]


def refused(project: Project, problems: str, count: int = 1, *args: str) -> None:
    """`migrate --env staging` refuses naming `problems`, and changes nothing."""
    before, schema = project.counts(), columns(project, "customers")
    run = project.run("migrate", "--env", "staging", *args)
    assert run.exit_code == 1, run.stdout
    assert run.stderr == (
        "vcsync: staging is protected and runs only committed migrations that pass "
        f"`vcsync check`, but {problems}: " + FIX.format("it" if count == 1 else "them")
    )
    assert project.counts() == before
    assert columns(project, "customers") == schema
    assert not project.has_table("orders")


def test_protected_refuses_a_modified_file(guarded: Project) -> None:
    (guarded.path / V3).write_text("ALTER TABLE customers ADD COLUMN nickname text;\n")
    refused(guarded, f"{V3} is modified since HEAD")
    git(guarded.path, "add", V3)  # staged is not committed either
    refused(guarded, f"{V3} is modified since HEAD")
    refused(guarded, f"{V3} is modified since HEAD", 1, "--dry-run")


def test_protected_refuses_an_untracked_migration(guarded: Project) -> None:
    write(guarded.path, mig("4", "more", "CREATE TABLE more (id integer);\n", "DROP TABLE more;\n"))
    refused(
        guarded,
        "database/migrations/V4__more.sql is untracked (not committed); "
        "database/rollback/V4__more_rollback.sql is untracked (not committed)",
        2,
    )
    # a file outside the plan does not stop it: --to 3 leaves 4 out
    run = guarded.run("migrate", "--env", "staging", "--to", "3")
    assert run.exit_code == 0, run.stderr
    assert "name" in columns(guarded, "customers")


def test_protected_refuses_a_migration_with_an_error_finding(guarded: Project) -> None:
    write(guarded.path, PURGE)
    commit(guarded.path, "purge")
    before = guarded.counts()
    run = guarded.run("migrate", "--env", "staging")
    assert run.exit_code == 1
    assert run.stderr.startswith(
        "vcsync: staging is protected and runs only committed migrations that pass `vcsync "
        "check`, but database/migrations/V4__purge.sql:1 has VC302 (DELETE without WHERE"
    )
    assert run.stderr.endswith(FIX.format("it"))
    assert guarded.counts() == before
    assert not guarded.has_table("orders")


def test_protected_runs_what_is_committed_and_clean(guarded: Project) -> None:
    run = guarded.run("migrate", "--env", "staging")
    assert run.exit_code == 0, run.stderr
    assert "warning" not in run.stderr
    assert guarded.has_table("orders")


def test_an_unprotected_environment_runs_the_work_tree_and_records_dirty(
    open_env: Project,
) -> None:
    (open_env.path / V3).write_text("ALTER TABLE customers ADD COLUMN nickname text;\n")
    run = open_env.run("migrate", "--env", "staging")
    assert run.exit_code == 0, run.stderr
    assert "warning: the migration folders have uncommitted changes" in run.stderr
    assert "nickname" in columns(open_env, "customers")
    rows = open_env.query(
        f"SELECT dirty FROM {open_env.ledger('deployment_log')} "
        "WHERE operation = 'migrate' ORDER BY started_at"
    )
    assert [bool(r[0]) for r in rows] == [False, True]


def test_release_applies_the_tags_text_while_the_work_tree_is_edited(guarded: Project) -> None:
    assert guarded.run("tag-release", "v1.0.0").exit_code == 0
    tagged = git(guarded.path, "rev-parse", "v1.0.0^{commit}").strip()
    # HEAD moves on with a 4, and the work tree edits 3 and adds an untracked 5
    write(guarded.path, mig("4", "four", "CREATE TABLE four (id integer);\n", "DROP TABLE four;\n"))
    commit(guarded.path, "four")
    (guarded.path / V3).write_text("ALTER TABLE customers ADD COLUMN nickname text;\n")
    write(guarded.path, mig("5", "five", "CREATE TABLE five (id integer);\n", "DROP TABLE five;\n"))
    run = guarded.run("migrate", "--env", "staging", "--release", "v1.0.0")
    assert run.exit_code == 0, run.stderr
    assert "warning" not in run.stderr  # Git's text ran: nothing dirty
    assert columns(guarded, "customers") == ["id", "email", "name"]
    assert guarded.has_table("orders") and not guarded.has_table("four")
    log = guarded.ledger("deployment_log")
    rows = guarded.query(
        f"SELECT tag, commit_sha, dirty FROM {log} WHERE operation = 'migrate' ORDER BY started_at"
    )
    assert [(r[0], r[1], bool(r[2])) for r in rows[1:]] == [("v1.0.0", tagged, False)]
    # the ledger holds the tag's text for 3, not the work tree's
    (up,) = guarded.query(
        f"SELECT up_script FROM {guarded.ledger('schema_migration_s')} "
        "WHERE status = 'applied' AND up_script LIKE '%customers ADD COLUMN%'"
    )
    assert up[0] == BASE[V3]


def test_a_tag_whose_manifest_does_not_match_is_refused(guarded: Project) -> None:
    message = f"Release bad\n\nvcsync-schema-version: 3\nvcsync-manifest: {'0' * 64}\n"
    git(guarded.path, "tag", "-a", "bad", "-m", message)
    head = git(guarded.path, "rev-parse", "HEAD").strip()
    before = guarded.counts()
    run = guarded.run("migrate", "--env", "staging", "--release", "bad")
    assert run.exit_code == 1
    assert run.stderr.startswith(
        f"vcsync: release bad says manifest 000000000000 but its commit {head[:10]} holds "
    )
    assert run.stderr.endswith(
        "so the tag does not hold what was released; nothing was deployed (tag a new release "
        "with `vcsync tag-release`).\n"
    )
    assert guarded.counts() == before
    assert not guarded.has_table("orders")


@pytest.mark.parametrize(
    ("tag", "message"),
    [
        (
            "light",
            "--release light is a lightweight tag, not a release: give an annotated tag made "
            "by `vcsync tag-release`, whose message carries the manifest.",
        ),
        (
            "plain",
            "--release plain is an annotated tag but not a vcsync release (its message carries "
            "no vcsync-manifest); give a tag made by `vcsync tag-release`.",
        ),
        (
            "v9",
            "--release v9 is not a tag in this clone; fetch the tags (`git fetch --tags`) or "
            "give a tag made by `vcsync tag-release`.",
        ),
    ],
)
def test_a_tag_that_is_no_release_is_a_usage_error(tmp_path: Path, tag: str, message: str) -> None:
    path = make_repo(tmp_path / "p", BASE, config=config("sqlite:///staging.db", True))
    git(path, "tag", "light")
    git(path, "tag", "-a", "plain", "-m", "not a release")
    run = Project(path, "sqlite", "").run("migrate", "--env", "staging", "--release", tag)
    assert run.exit_code == 2
    assert run.stderr == f"vcsync: {message}\n"
    assert not (path / "staging.db").exists()


def test_release_with_to_beyond_the_tag_is_refused(guarded: Project) -> None:
    git(guarded.path, "rm", "-q", "database/migrations/V3__names.sql")
    git(guarded.path, "rm", "-q", "database/rollback/V3__names_rollback.sql")
    commit(guarded.path, "drop 3 before the release")
    assert guarded.run("tag-release", "v0.2").exit_code == 0
    before = guarded.counts()
    run = guarded.run("migrate", "--env", "staging", "--release", "v0.2", "--to", "3")
    assert run.exit_code == 2
    assert run.stderr == (
        "vcsync: --to 3 is beyond release v0.2, which holds schema version 2; give --to at "
        "or below it, or deploy a newer release.\n"
    )
    assert guarded.counts() == before
    run = guarded.run("migrate", "--env", "staging", "--release", "v0.2", "--to", "2")
    assert run.exit_code == 0, run.stderr
    assert guarded.has_table("orders")
