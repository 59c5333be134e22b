"""A version typed by a user (`migrate --to`, `rollback --to`, `baseline --version`, `diff`
endpoints, `create`'s version): with or without its `V`, or a release tag; anything else,
or a version Git does not have, is exit 2 with one sentence and nothing done."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.helpers import Run, commit, git, vcsync, write
from tests.projects import BASE, Project, make_project


def assert_one_sentence(run: Run, *fragments: str) -> None:
    """Exit 2, and stderr is one line from the error boundary naming `fragments`."""
    assert run.exit_code == 2, (run.stdout, run.stderr)
    assert "Traceback" not in run.stderr + run.stdout
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("vcsync: ") and lines[0].endswith("."), lines
    for fragment in fragments:
        assert fragment in lines[0]


def applied(project: Project) -> dict[str, str]:
    states = project.query(f"SELECT version, status FROM {project.ledger('migration_dashboard')}")
    return {version: status for version, status in states}


def released_at_two(tmp_path: Path) -> Project:
    """Migrations 1 and 2 released as `r2`, then 3 committed on top."""
    project = make_project(tmp_path, "sqlite", "sqlite:///staging.db")
    (project.path / "database/migrations/V3__names.sql").unlink()
    (project.path / "database/rollback/V3__names_rollback.sql").unlink()
    commit(project.path, "only two")
    assert project.run("tag-release", "r2").exit_code == 0
    write(project.path, {k: v for k, v in BASE.items() if "V3__" in k})
    commit(project.path, "names")
    return project


# -- migrate --to ----------------------------------------------------------------------------


def test_migrate_to_an_unknown_version_names_the_nearest_and_applies_nothing(
    project: Project,
) -> None:
    # failed before: exit 0, all three migrations applied
    run = project.run("migrate", "--env", "staging", "--to", "9.9.9")
    assert_one_sentence(run, "--to 9.9.9 is not a migration version here", "3 (below)")
    assert "none above" in run.stderr
    assert not project.has_table("customers")
    between = project.run("migrate", "--env", "staging", "--to", "1.5")
    assert_one_sentence(between, "1 (below) and 2 (above)")
    assert not project.has_table("customers")


@pytest.mark.parametrize("to", ["v2", "V2", "2", "2.0.0", "V002"])
def test_migrate_to_takes_a_version_with_or_without_its_prefix(project: Project, to: str) -> None:
    # failed before for v2 and V2: exit 2, "'v2' is not a version"
    run = project.run("migrate", "--env", "staging", "--to", to)
    assert run.exit_code == 0, run.stderr
    assert applied(project) == {"1": "applied", "2": "applied"}
    assert project.has_table("orders")


@pytest.mark.parametrize("to", ["banana", "1.x", "v", "", "1\n", "refs/tags/nope", "1" * 5000])
def test_migrate_to_something_that_is_no_version_is_one_sentence(tmp_path: Path, to: str) -> None:
    # passed before except "1\n" (taken as version 1: applied 1) and "1"*5000 (a traceback)
    project = make_project(tmp_path, "sqlite", "sqlite:///staging.db")
    run = project.run("migrate", "--env", "staging", "--to", to)
    assert_one_sentence(run, "--to")
    assert not project.has_table("customers")


def test_migrate_to_a_release_tag_stops_at_its_schema_version(tmp_path: Path) -> None:
    # failed before: exit 2, "'r2' is not a version"
    project = released_at_two(tmp_path)
    run = project.run("migrate", "--env", "staging", "--to", "r2")
    assert run.exit_code == 0, run.stderr
    assert applied(project) == {"1": "applied", "2": "applied"}
    tagged = project.run("migrate", "--env", "staging", "--to", "refs/tags/r2")
    assert tagged.exit_code == 0 and applied(project) == {"1": "applied", "2": "applied"}


def test_a_release_tag_spelled_like_another_migration_is_ambiguous(project: Project) -> None:
    # failed before: "--to v1" was refused as no version (and "1" the only way to say it)
    assert project.run("tag-release", "v1").exit_code == 0  # schema version 3
    run = project.run("migrate", "--env", "staging", "--to", "v1")
    assert_one_sentence(run, "both the release tag v1 (schema version 3) and the migration 1")
    assert not project.has_table("customers")
    run = project.run("migrate", "--env", "staging", "--to", "refs/tags/v1")
    assert run.exit_code == 0, run.stderr
    assert set(applied(project)) == {"1", "2", "3"}


def test_a_tag_that_is_no_release_is_refused_by_name(tmp_path: Path) -> None:
    # passed before (as "not a version"); now it says why the tag does not count
    project = make_project(tmp_path, "sqlite", "sqlite:///staging.db")
    git(project.path, "tag", "-a", "-m", "just a tag", "plain")
    run = project.run("migrate", "--env", "staging", "--to", "plain")
    assert_one_sentence(run, "plain is a tag but not a vcsync release")
    assert not project.has_table("customers")


# -- rollback --to ---------------------------------------------------------------------------


def test_rollback_to_an_unknown_or_invalid_version_rolls_back_nothing(project: Project) -> None:
    # 7.7.7 failed before: exit 0 (nothing to roll back, no word of the typo)
    assert project.run("migrate", "--env", "staging").exit_code == 0
    for to, fragment in [("7.7.7", "3 (below) and none above"), ("1.x", "'1.x'")]:
        run = project.run("rollback", "--env", "staging", "--to", to, "--reason", "oops")
        assert_one_sentence(run, fragment)
    half = project.run("rollback", "--env", "staging", "--to", "0.5", "--reason", "oops")
    assert_one_sentence(half, "0 (below) and 1 (above)")
    assert set(applied(project).values()) == {"applied"} and project.has_table("customers")


def test_rollback_to_a_prefixed_version_or_to_zero(project: Project) -> None:
    # V1 failed before: exit 2; 0 passed before and must keep working
    assert project.run("migrate", "--env", "staging").exit_code == 0
    run = project.run("rollback", "--env", "staging", "--to", "V1", "--reason", "incident")
    assert run.exit_code == 0, run.stderr
    assert applied(project) == {"1": "applied", "2": "rolled_back", "3": "rolled_back"}
    run = project.run("rollback", "--env", "staging", "--to", "0", "--reason", "incident")
    assert run.exit_code == 0, run.stderr
    assert not project.has_table("customers")


# -- baseline --version ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("version", "fragment"), [("abc", "'abc'"), ("7.7.7", "3 (below) and none above")]
)
def test_baseline_to_an_unknown_or_invalid_version_baselines_nothing(
    project: Project, version: str, fragment: str
) -> None:
    # 7.7.7 failed before: exit 0, every migration baselined
    run = project.run("baseline", "--env", "staging", "--version", version)
    assert_one_sentence(run, "--version", fragment)
    assert project.run("migrate", "--env", "staging").exit_code == 0
    assert project.has_table("customers")  # nothing was adopted, so all of it ran


def test_baseline_takes_a_prefixed_version_and_a_release_tag(tmp_path: Path) -> None:
    # failed before: exit 2 for both
    project = released_at_two(tmp_path)
    run = project.run("baseline", "--env", "staging", "--version", "r2")
    assert run.exit_code == 0, run.stderr
    assert applied(project) == {"1": "baselined", "2": "baselined"}
    other = make_project(tmp_path / "other", "sqlite", "sqlite:///staging.db")
    assert other.run("baseline", "--env", "staging", "--version", "v1").exit_code == 0
    assert applied(other) == {"1": "baselined"}


# -- diff endpoints --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("endpoint", "fragment"),
    [
        ("7.7.7", "FROM 7.7.7 is not a migration version here"),
        ("v9", "3 (below) and none above"),
        ("release-foo", "'release-foo'"),
        ("1.x", "'1.x'"),
    ],
)
def test_diff_from_an_unknown_version_or_name_is_one_sentence(
    tmp_path: Path, endpoint: str, fragment: str
) -> None:
    # 7.7.7 failed before: exit 0, "0 objects differ"
    project = make_project(tmp_path, "sqlite", "sqlite:///staging.db")
    assert_one_sentence(project.run("diff", endpoint, "current"), fragment)
    assert_one_sentence(project.run("diff", "current", endpoint), fragment.replace("FROM", "TO"))


def test_diff_takes_prefixed_versions(tmp_path: Path) -> None:
    # failed before: exit 2, "'V1' is not a version"
    project = make_project(tmp_path, "sqlite", "sqlite:///staging.db")
    run = project.run("diff", "V1", "v2")
    assert run.exit_code == 0, run.stderr
    assert "+ table orders" in run.lines


def test_diff_from_a_prefixed_version_while_a_release_tag_has_its_bare_spelling(
    tmp_path: Path,
) -> None:
    # the version resolved once is what the scratch database is built to (not re-read as a tag)
    project = make_project(tmp_path, "sqlite", "sqlite:///staging.db")
    assert project.run("tag-release", "2").exit_code == 0  # schema version 3
    run = project.run("diff", "V2", "current")
    assert run.exit_code == 0, run.stderr
    assert run.lines == ["+ column customers.name"]


# -- create's version ------------------------------------------------------------------------


@pytest.mark.parametrize("version", ["1.x", "1\n", "1" * 5000])
def test_create_with_an_invalid_version_creates_nothing(tmp_path: Path, version: str) -> None:
    # 1.x passed before; "1\n" failed (created V1\n__desc.sql), "1"*5000 raised a traceback
    project = make_project(tmp_path, "sqlite", "sqlite:///staging.db")
    before = sorted(p.name for p in (project.path / "database/migrations").iterdir())
    assert_one_sentence(project.run("create", version, "desc"), "is not a version")
    assert sorted(p.name for p in (project.path / "database/migrations").iterdir()) == before


# -- arbitrary text --------------------------------------------------------------------------

ANY_ARGUMENT = st.one_of(
    st.text(max_size=30),
    st.from_regex(r"[vV]?[0-9][0-9._-]{0,8}", fullmatch=True),
    st.sampled_from(["current", "HEAD", "main", "refs/tags/", "r2", "V3", "0", "-1"]),
)


def _never_a_traceback(run: Run) -> None:
    assert run.exit_code in (0, 1, 2), run
    assert "Traceback" not in run.stdout + run.stderr


@pytest.mark.parametrize("command", ["migrate", "diff", "create"])
def test_any_text_as_a_version_is_exit_0_1_or_2_without_a_traceback(
    tmp_path_factory: pytest.TempPathFactory, command: str
) -> None:
    project = make_project(tmp_path_factory.mktemp(command), "sqlite", "sqlite:///staging.db")
    path = project.path

    @settings(
        max_examples=200,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(text=ANY_ARGUMENT)
    def check(text: str) -> None:
        if command == "migrate":
            run = vcsync(path, "migrate", "--env", "staging", "--to", text, "--dry-run")
        elif command == "diff":
            run = vcsync(path, "diff", text, "current")
        else:
            run = vcsync(path, "create", text, "desc")
        _never_a_traceback(run)

    check()
