"""tag-release: the annotated tag and its trailers, refusals, and the release rows in each
named environment's ledger (SQLite and real PostgreSQL); release_tags and manifests."""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import sqlite3
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import commit, git, make_repo, vcsync, write
from tests.projects import BASE, SECRET, Project, mig
from vcsync.config import load_config
from vcsync.project import open_project
from vcsync.release import (
    Manifest,
    TagInfo,
    manifest_at,
    manifest_of,
    parse_tag_message,
    release_tags,
    tag_info,
)
from vcsync.source import WorkTree


def trailers(repo: Path, tag: str) -> dict[str, str]:
    """The tag's trailers as Git itself parses them."""
    text = git(repo, "tag", "-l", "--format=%(contents:trailers:only,unfold)", tag)
    return dict(line.split(": ", 1) for line in text.splitlines() if line)


def open_at(path: Path) -> Any:
    return open_project(load_config(path / "pyproject.toml"))


def expected_manifest(repo: Path) -> str:
    """The manifest hash computed here from the files, independently of vcsync."""
    digest = hashlib.sha256()
    for version in ("1", "2", "3"):
        (path,) = (repo / "database/migrations").glob(f"V{version}__*.sql")
        text = path.read_text().removesuffix("\n")
        checksum = hashlib.sha256(text.encode()).hexdigest()
        digest.update(f"{version}\t{checksum}\n".encode())
    return digest.hexdigest()


@pytest.fixture
def plain(tmp_path: Path) -> Path:
    """The three-migration project, without environments."""
    return make_repo(tmp_path / "plain", BASE)


def test_the_tag_carries_the_schema_version_and_manifest_of_its_commit(plain: Path) -> None:
    head = git(plain, "rev-parse", "HEAD").strip()
    run = vcsync(plain, "tag-release", "v1.0.0")
    assert run.exit_code == 0, run.stderr
    assert run.lines == [
        f"tagged v1.0.0 at {head[:10]}: schema version 3, 3 migrations, "
        f"manifest {expected_manifest(plain)[:12]}."
    ]
    assert git(plain, "cat-file", "-t", "v1.0.0").strip() == "tag"  # annotated
    assert git(plain, "rev-parse", "v1.0.0^{commit}").strip() == head
    subject = git(plain, "tag", "-l", "--format=%(contents:subject)", "v1.0.0").strip()
    assert subject == "Release v1.0.0"
    found = trailers(plain, "v1.0.0")
    manifest = manifest_at(open_at(plain), "v1.0.0")
    assert found == {"vcsync-schema-version": "3", "vcsync-manifest": manifest.hash}
    assert manifest == Manifest(
        "3",
        expected_manifest(plain),
        tuple(
            (v, hashlib.sha256(BASE[p].removesuffix("\n").encode()).hexdigest())
            for v, p in (
                ("1", "database/migrations/V1__customers.sql"),
                ("2", "database/migrations/V2__orders.sql"),
                ("3", "database/migrations/V3__names.sql"),
            )
        ),
    )


def test_a_custom_message_keeps_the_trailers_parseable(plain: Path) -> None:
    message = "Spring release\n\n# not a comment: Git keeps it\nMore words."
    run = vcsync(plain, "tag-release", "v2", "--message", message)
    assert run.exit_code == 0, run.stderr
    body = git(plain, "tag", "-l", "--format=%(contents)", "v2")
    assert body.startswith("Spring release\n\n# not a comment: Git keeps it\nMore words.\n\n")
    assert trailers(plain, "v2")["vcsync-schema-version"] == "3"
    assert parse_tag_message(body) == ("3", manifest_at(open_at(plain), "v2").hash)


def test_manifest_of_any_source_agrees_and_follows_every_change(plain: Path) -> None:
    project = open_at(plain)
    folders = list(dict.fromkeys(project.folders))
    at_head = manifest_at(project, "HEAD")
    assert manifest_of(project, WorkTree(plain, folders)) == at_head
    # CRLF line endings are not a change (the checksum normalises them)
    path = plain / "database/migrations/V1__customers.sql"
    path.write_bytes(path.read_bytes().replace(b"\n", b"\r\n"))
    assert manifest_of(project, WorkTree(plain, folders)).hash == at_head.hash
    write(plain, {"database/migrations/V1__customers.sql": "CREATE TABLE customers (id int);\n"})
    assert manifest_of(project, WorkTree(plain, folders)).hash != at_head.hash
    project.repo.close()


def test_a_tree_without_migrations_has_no_schema_version(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "empty", {"README.md": "hello\n"})
    run = vcsync(repo, "tag-release", "v0")
    assert run.exit_code == 0, run.stderr
    assert "schema version none, 0 migrations" in run.stdout
    assert trailers(repo, "v0")["vcsync-schema-version"] == "none"
    project = open_at(repo)
    assert [t.schema_version for t in release_tags(project)] == [None]
    assert manifest_at(project, "v0") == Manifest(None, hashlib.sha256().hexdigest(), ())


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            {"database/migrations/V3__names.sql": "ALTER TABLE customers ADD COLUMN nick text;\n"},
            "the work tree has uncommitted changes (database/migrations/V3__names.sql); "
            "commit or stash them before tagging, so the release holds exactly what was tested.",
        ),
        (
            {"README.md": "a tracked file outside the migrations\n"},
            "the work tree has uncommitted changes (README.md); commit or stash them before "
            "tagging, so the release holds exactly what was tested.",
        ),
        (
            mig("4", "new", "CREATE TABLE t (x int);\n", "DROP TABLE t;\n"),
            "the work tree has uncommitted changes (database/migrations/V4__new.sql, "
            "database/rollback/V4__new_rollback.sql); commit or stash them before tagging, "
            "so the release holds exactly what was tested.",
        ),
    ],
    ids=["modified-migration", "modified-other-file", "untracked-migration"],
)
def test_a_dirty_tree_is_refused(tmp_path: Path, change: dict[str, str], expected: str) -> None:
    repo = make_repo(tmp_path / "dirty", {**BASE, "README.md": "hi\n"})
    write(repo, change)
    run = vcsync(repo, "tag-release", "v1")
    assert run.exit_code == 2
    assert run.stderr == f"vcsync: {expected}\n"
    assert git(repo, "tag", "-l") == ""


def test_an_untracked_file_outside_the_migrations_is_not_a_reason_to_refuse(plain: Path) -> None:
    write(plain, {"notes.txt": "scratch\n"})
    assert vcsync(plain, "tag-release", "v1").exit_code == 0


def test_an_existing_tag_is_refused_and_never_moved(plain: Path) -> None:
    git(plain, "tag", "v1")
    first = git(plain, "rev-parse", "v1").strip()
    commit(plain, "later")
    run = vcsync(plain, "tag-release", "v1")
    assert run.exit_code == 2
    assert run.stderr == (
        f"vcsync: tag v1 already exists (at {first[:10]}); a release tag never moves, "
        "so pick a new name.\n"
    )
    assert git(plain, "rev-parse", "v1").strip() == first


def test_a_repository_without_commits_is_refused(tmp_path: Path) -> None:
    repo = tmp_path / "fresh"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    write(repo, {"pyproject.toml": '[tool.vcsync]\nlayout = "split"\n'})
    run = vcsync(repo, "tag-release", "v1")
    assert run.exit_code == 2
    assert run.stderr == (
        "vcsync: the repository has no commits yet; commit the migrations first.\n"
    )
    changelog = vcsync(repo, "changelog", "v0", "HEAD")
    assert changelog.exit_code == 2 and "no commits yet" in changelog.stderr


def test_a_project_outside_git_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "nogit"
    write(folder, {"pyproject.toml": "[tool.vcsync]\n", **BASE})
    run = vcsync(folder, "tag-release", "v1")
    assert run.exit_code == 2
    assert "is not inside a Git repository" in run.stderr
    assert len(run.stderr.splitlines()) == 1


@pytest.mark.parametrize("name", ["bad name", "-v1", "v1..2", "v1.lock"])
def test_an_invalid_tag_name_is_refused(plain: Path, name: str) -> None:
    run = vcsync(plain, "tag-release", "--", name)
    assert run.exit_code == 2
    assert run.stderr == (
        f"vcsync: {name!r} is not a valid tag name (see `git check-ref-format --help`).\n"
    )
    assert git(plain, "tag", "-l") == ""


@pytest.fixture
def project(project: Project) -> Project:
    """conftest's project with both environments migrated to the schema version the tag
    will hold: tag-release refuses an environment that is not there."""
    for env in ("staging", "production"):
        assert project.run("migrate", "--env", env).exit_code == 0
    return project


def test_an_environment_not_at_the_tagged_schema_version_is_refused(project: Project) -> None:
    assert (
        project.run("rollback", "--env", "staging", "--steps", "1", "--reason", "x").exit_code == 0
    )
    run = project.run("tag-release", "v1", "--env", "staging", "--env", "production")
    assert run.exit_code == 1
    assert "is at schema version 2, not 3, the version v1 holds; migrate it first" in run.stderr
    assert "nothing was tagged or recorded" in run.stderr
    assert git(project.path, "tag", "-l") == ""
    assert release_rows(project) == []


def test_an_unknown_environment_is_refused_before_anything_is_tagged(project: Project) -> None:
    run = project.run("tag-release", "v1", "--env", "staging", "--env", "qa")
    assert run.exit_code == 2
    assert run.stderr == (
        "vcsync: environment 'qa' is not configured (configured: production, staging).\n"
    )
    assert git(project.path, "tag", "-l") == ""
    assert release_rows(project) == []


def release_rows(project: Project, query: Any = None) -> list[tuple[Any, ...]]:
    ask = query or project.query
    return [
        tuple(row)
        for row in ask(
            f"SELECT h.release_hk, h.tag, h.record_source, s.commit_sha, s.schema_version, "
            f"s.manifest_hash, s.environment, s.record_source "
            f"FROM {project.ledger('release_h')} h JOIN {project.ledger('release_s')} s "
            "ON s.release_hk = h.release_hk ORDER BY s.load_dts"
        )
    ]


def production_query(project: Project) -> Any:
    def query(sql: str) -> list[tuple[Any, ...]]:
        with sqlite3.connect(project.path / "production.db") as db:
            return db.execute(sql).fetchall()

    return query


def test_the_release_is_recorded_in_each_named_environment(project: Project) -> None:
    head = git(project.path, "rev-parse", "HEAD").strip()
    run = project.run("tag-release", "v1.0.0", "--env", "staging", "--env", "production")
    assert run.exit_code == 0, run.stderr
    assert run.lines[1:] == [
        f"recorded in staging ({project.url.replace(f':{SECRET}', '')}).",
        "recorded in production (sqlite:///production.db).",
    ]
    manifest = manifest_at(open_at(project.path), "v1.0.0")
    hk = hashlib.sha256(b"V1.0.0").hexdigest()
    row = (hk, "v1.0.0", "vcsync", head, "3", manifest.hash)
    assert release_rows(project) == [(*row, "staging", "vcsync")]
    sqlite_project = Project(project.path, "sqlite", "")
    assert release_rows(sqlite_project, production_query(project)) == [
        (*row, "production", "vcsync")
    ]
    assert SECRET not in run.stdout + run.stderr


def test_release_rows_are_insert_only(project: Project) -> None:
    assert project.run("tag-release", "v1", "--env", "staging").exit_code == 0
    for statement in (
        f"UPDATE {project.ledger('release_s')} SET commit_sha = 'x'",
        f"DELETE FROM {project.ledger('release_h')}",
    ):
        with pytest.raises(Exception, match="insert-only"):
            project.query(statement)


def test_a_ledger_that_knows_the_tag_at_another_commit_refuses_it(project: Project) -> None:
    """A clone without the tags (CI) must not mint a second v1: the ledger remembers."""
    assert project.run("tag-release", "v1", "--env", "staging").exit_code == 0
    first = git(project.path, "rev-parse", "v1^{commit}").strip()
    git(project.path, "tag", "-d", "v1")
    commit(project.path, "later")
    run = project.run("tag-release", "v1", "--env", "staging")
    assert run.exit_code == 2
    assert run.stderr.startswith("vcsync: staging's ledger (")
    assert (
        f"already records release v1 at commit {first[:10]}; a release tag never moves "
        "(fetch the tags with `git fetch --tags`), so pick a new name; nothing was tagged or "
        "recorded.\n"
    ) in run.stderr
    assert git(project.path, "tag", "-l") == ""
    assert len(release_rows(project)) == 1


def test_recording_again_at_the_same_commit_adds_a_satellite_row(project: Project) -> None:
    """The recovery the CLI names after a failed commit: delete the tag, tag again."""
    assert project.run("tag-release", "v1", "--env", "staging").exit_code == 0
    git(project.path, "tag", "-d", "v1")
    assert project.run("tag-release", "v1", "--env", "staging").exit_code == 0
    rows = release_rows(project)
    assert len(rows) == 2 and rows[0] == rows[1]
    assert project.query(f"SELECT count(*) FROM {project.ledger('release_h')}") == [(1,)]


def test_a_failed_ledger_write_is_exit_1_and_leaves_no_tag(tmp_path: Path) -> None:
    config = (
        '[tool.vcsync]\n[tool.vcsync.environments.staging]\nurl = "sqlite:///staging.db"\n'
        '[tool.vcsync.environments.production]\nurl = "sqlite:///production.db"\n'
    )
    repo = make_repo(tmp_path / "locked", {**BASE, ".gitignore": "*.db*\n"}, config=config)
    fd = os.open(repo / "production.db-vcsync.lock", os.O_RDWR | os.O_CREAT)
    try:
        os.write(fd, b"vcsync migrate elsewhere pid=1")
        fcntl.flock(fd, fcntl.LOCK_EX)
        args = ("--env", "staging", "--env", "production", "--lock-timeout", "0")
        run = vcsync(repo, "tag-release", "v1", *args)
    finally:
        os.close(fd)
    assert run.exit_code == 1
    assert run.stderr == (
        "vcsync: sqlite:///production.db is locked by another deployment (vcsync migrate "
        "elsewhere pid=1); waited 0 s (raise --lock-timeout to wait longer); nothing was "
        "tagged or recorded.\n"
    )
    assert git(repo, "tag", "-l") == ""
    with sqlite3.connect(repo / "staging.db") as db:
        assert db.execute("SELECT count(*) FROM version_control__release_s").fetchall() == [(0,)]


def test_rows_already_written_are_rolled_back_when_a_later_ledger_refuses(
    tmp_path: Path,
) -> None:
    config = (
        '[tool.vcsync]\n[tool.vcsync.environments.staging]\nurl = "sqlite:///staging.db"\n'
        '[tool.vcsync.environments.production]\nurl = "sqlite:///production.db"\n'
    )
    repo = make_repo(tmp_path / "two", {**BASE, ".gitignore": "*.db*\n"}, config=config)
    for env in ("staging", "production"):
        assert vcsync(repo, "migrate", "--env", env).exit_code == 0
    assert vcsync(repo, "tag-release", "v1", "--env", "production").exit_code == 0
    git(repo, "tag", "-d", "v1")
    commit(repo, "later")
    run = vcsync(repo, "tag-release", "v1", "--env", "staging", "--env", "production")
    assert run.exit_code == 2 and "production's ledger" in run.stderr
    assert git(repo, "tag", "-l") == ""
    with sqlite3.connect(repo / "staging.db") as db:  # its row was inserted, then rolled back
        assert db.execute("SELECT count(*) FROM version_control__release_s").fetchall() == [(0,)]


def test_a_database_that_is_not_one_is_named_and_exit_1(tmp_path: Path) -> None:
    config = '[tool.vcsync]\n[tool.vcsync.environments.staging]\nurl = "sqlite:///staging.db"\n'
    repo = make_repo(tmp_path / "broken", {**BASE, ".gitignore": "*.db*\n"}, config=config)
    (repo / "staging.db").write_bytes(b"not a database at all" * 100)
    run = vcsync(repo, "tag-release", "v1", "--env", "staging")
    assert run.exit_code == 1
    assert run.stderr == (
        "vcsync: cannot open sqlite:///staging.db: file is not a database; "
        "nothing was tagged or recorded.\n"
    )
    assert git(repo, "tag", "-l") == ""


def test_json_output(project: Project) -> None:
    run = project.run("tag-release", "v1", "--env", "staging", "--format", "json")
    assert run.exit_code == 0, run.stderr
    data = json.loads(run.stdout)
    manifest = manifest_at(open_at(project.path), "v1")
    assert data["tag"] == "v1"
    assert data["commit"] == git(project.path, "rev-parse", "HEAD").strip()
    assert data["schema_version"] == "3"
    assert data["manifest_hash"] == manifest.hash
    assert [m["version"] for m in data["migrations"]] == ["1", "2", "3"]
    assert data["message"].startswith("Release v1\n\nvcsync-schema-version: 3\n")
    assert data["recorded"] == [
        {
            "environment": "staging",
            "target": project.url.replace(f":{SECRET}", ""),
            "outcome": "recorded",
            "error": None,
        }
    ]
    assert SECRET not in run.stdout


def test_release_tags_reads_every_tag_in_one_git_call(
    plain: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert vcsync(plain, "tag-release", "v1").exit_code == 0
    write(plain, mig("4", "more", "CREATE TABLE more (x int);\n", "DROP TABLE more;\n"))
    commit(plain, "more")
    assert vcsync(plain, "tag-release", "v2", "-m", "Second").exit_code == 0
    git(plain, "tag", "-a", "not-a-release", "-m", "just a note")
    git(plain, "tag", "lightweight")
    write(plain, mig("5", "last", "CREATE TABLE last (x int);\n", "DROP TABLE last;\n"))
    commit(plain, "last")
    assert vcsync(plain, "tag-release", "release/3.0").exit_code == 0
    project = open_at(plain)
    calls: list[list[str]] = []
    real_run = subprocess.run

    def counting(args: list[str], *rest: Any, **options: Any) -> Any:
        calls.append(list(args))
        return real_run(args, *rest, **options)

    monkeypatch.setattr(subprocess, "run", counting)
    tags = release_tags(project)
    monkeypatch.undo()
    assert [c[:2] for c in calls] == [["git", "for-each-ref"]]
    expected = []
    for name in ("v1", "v2", "release/3.0"):
        manifest = manifest_at(project, name)
        sha = git(plain, "rev-parse", f"{name}^{{commit}}").strip()
        expected.append(TagInfo(name, sha, manifest.schema_version, manifest.hash))
    assert sorted(tags) == sorted(expected)
    assert [t.schema_version for t in expected] == ["3", "4", "5"]
    note = tag_info(project, "not-a-release")
    assert note is not None and note.manifest_hash is None and note.schema_version is None
    assert tag_info(project, "missing") is None
    project.repo.close()


def test_parse_tag_message_accepts_only_the_vcsync_trailers() -> None:
    good = "Release v1\n\nvcsync-schema-version: 1.4.0\nvcsync-manifest: " + "a" * 64 + "\n"
    assert parse_tag_message(good) == ("1.4.0", "a" * 64)
    assert parse_tag_message("Release v1\n\nvcsync-manifest: short\n") == (None, None)
    assert parse_tag_message("just words\n") == (None, None)
    signed = good + "-----BEGIN PGP SIGNATURE-----\nabc\n-----END PGP SIGNATURE-----\n"
    assert parse_tag_message(signed) == ("1.4.0", "a" * 64)


def test_two_environments_naming_one_database_are_refused(tmp_path: Path) -> None:
    config = (
        '[tool.vcsync]\n[tool.vcsync.environments.staging]\nurl = "sqlite:///shared.db"\n'
        '[tool.vcsync.environments.qa]\nurl = "sqlite:///shared.db"\n'
    )
    repo = make_repo(tmp_path / "shared", BASE, config=config)
    run = vcsync(repo, "tag-release", "v1", "--env", "staging", "--env", "qa")
    assert run.exit_code == 2
    assert run.stderr == (
        "vcsync: staging and qa both name sqlite:///shared.db; record the release in each "
        "database once.\n"
    )
    assert git(repo, "tag", "-l") == ""


def test_a_commit_that_fails_after_tagging_is_exit_1_and_names_the_recovery(
    pg_url: str, tmp_path: Path
) -> None:
    import psycopg

    config = (
        f'[tool.vcsync]\n[tool.vcsync.environments.staging]\nurl = "{pg_url}"\n'
        '[tool.vcsync.environments.production]\nurl = "sqlite:///production.db"\n'
    )
    repo = make_repo(tmp_path / "late", {**BASE, ".gitignore": "*.db*\n"}, config=config)
    for env in ("staging", "production"):  # the ledgers exist, at the tagged version
        assert vcsync(repo, "migrate", "--env", env).exit_code == 0
    with psycopg.connect(pg_url, autocommit=True) as conn:  # a check that fires at COMMIT
        conn.execute(
            "CREATE FUNCTION public.refuse() RETURNS trigger LANGUAGE plpgsql AS "
            "$$ BEGIN RAISE EXCEPTION 'audit hold on releases'; END $$"
        )
        conn.execute(
            "CREATE CONSTRAINT TRIGGER hold AFTER INSERT ON version_control.release_s "
            "DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION public.refuse()"
        )
    run = vcsync(repo, "tag-release", "v1", "--env", "staging", "--env", "production")
    assert run.exit_code == 1
    assert run.lines[1:] == ["recorded in production (sqlite:///production.db)."]
    assert run.stderr.splitlines() == [
        "vcsync: recording v1 in staging (postgresql://postgres@127.0.0.1:5432/"
        f"{pg_url.rsplit('/', 1)[1]}) failed: audit hold on releases (SQLSTATE P0001)",
        "to recover: the tag exists and the other ledgers hold it; delete it "
        "(`git tag -d v1`) and run `vcsync tag-release v1 --env staging` again at the same "
        "commit.",
    ]
    assert git(repo, "tag", "-l") == "v1\n"
    with psycopg.connect(pg_url) as conn:
        assert conn.execute("SELECT count(*) FROM version_control.release_s").fetchall() == [(0,)]
    with sqlite3.connect(repo / "production.db") as db:
        assert db.execute("SELECT count(*) FROM version_control__release_s").fetchall() == [(1,)]
