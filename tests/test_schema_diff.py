"""`vcsync diff FROM TO`: versions and tags built on a scratch database, or a live schema."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.helpers import commit, git, write
from tests.projects import Project, make_project, mig


@pytest.fixture(params=["sqlite", "postgres"])
def project(request: pytest.FixtureRequest, tmp_path: Path) -> Project:
    """Staging and the scratch databases of one kind: SQLite, or PostgreSQL (scratch_url)."""
    if request.param == "sqlite":
        return make_project(tmp_path, "sqlite", "sqlite:///staging.db")
    server = request.getfixturevalue("pg_server")
    return make_project(
        tmp_path, "postgres", request.getfixturevalue("pg_url"), f'scratch_url = "{server}"\n'
    )


def changes(project: Project, *args: str) -> list[tuple[str, str]]:
    run = project.run("diff", *args, "--format", "json")
    assert run.exit_code == 0, run.stderr
    return [(c["change"], c["object"]) for c in json.loads(run.stdout)["changes"]]


def _named(project: Project, name: str) -> str:
    return name if project.kind == "sqlite" else f"public.{name}"


def test_diff_between_two_versions_lists_each_object(project: Project) -> None:
    found = changes(project, "1", "2")
    assert ("added", f"table {_named(project, 'orders')}") in found
    assert ("added", f"column {_named(project, 'orders.customer_id')}") in found
    assert changes(project, "2", "2") == []


def test_diff_from_a_release_tag_to_the_work_tree(project: Project) -> None:
    git(project.path, "tag", "v1.0.0")
    write(
        project.path,
        mig(
            "4",
            "status",
            "ALTER TABLE orders ADD COLUMN status text;\n",
            "ALTER TABLE orders DROP COLUMN status;\n",
        ),
    )
    commit(project.path, "status")
    assert changes(project, "v1.0.0", "current") == [
        ("added", f"column {_named(project, 'orders.status')}")
    ]
    run = project.run("diff", "v1.0.0", "current")
    assert run.lines == [f"+ column {_named(project, 'orders.status')}"]
    assert "1 object differs between v1.0.0 and current" in run.stderr


def test_diff_against_a_live_database_shows_a_change_made_by_hand(project: Project) -> None:
    project.run("migrate", "--env", "staging")
    project.query("CREATE TABLE scratchpad (a int)")
    assert ("added", f"table {_named(project, 'scratchpad')}") in changes(
        project, "3", "current", "--env", "staging"
    )


def test_diff_refuses_to_compare_schemas_of_two_kinds_of_database(
    tmp_path: Path, pg_url: str
) -> None:
    project = make_project(tmp_path, "postgres", pg_url)
    project.run("migrate", "--env", "staging")
    run = project.run("diff", "3", "current", "--env", "staging")
    assert run.exit_code == 2
    assert (
        "staging is a postgres database but schemas are built on SQLite; set scratch_url"
        in run.stderr
    )
