"""`vcsync init` and `vcsync create`: a starter config, folders, and the next migration."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import git, make_repo, vcsync, write


def test_init_writes_a_config_and_folders_git_can_track(tmp_path: Path) -> None:
    git(tmp_path, "init", "-q")
    run = vcsync(tmp_path, "init")
    assert run.exit_code == 0
    assert (tmp_path / "vcsync.toml").read_text().startswith('migrations = "database/migrations"')
    assert (tmp_path / "database/migrations/.gitkeep").exists()
    assert (tmp_path / "database/rollback/.gitkeep").exists()
    assert vcsync(tmp_path, "check").exit_code == 0
    again = vcsync(tmp_path, "init")
    assert again.exit_code == 2 and "already configures vcsync" in again.stderr


def test_init_appends_to_an_existing_pyproject(tmp_path: Path) -> None:
    write(tmp_path, {"pyproject.toml": '[project]\nname = "app"\n'})
    assert vcsync(tmp_path, "init", "--layout", "flyway").exit_code == 0
    text = (tmp_path / "pyproject.toml").read_text()
    assert text.startswith('[project]\nname = "app"\n\n[tool.vcsync]\n')
    assert 'layout = "flyway"' in text and not (tmp_path / "database/rollback").exists()


@pytest.fixture
def folders(repo: Path) -> Path:
    for name in ("database/migrations", "database/rollback"):
        (repo / name).mkdir(parents=True)
    return repo


def test_create_scaffolds_the_next_version_and_its_rollback(folders: Path) -> None:
    repo = folders
    assert vcsync(repo, "create", "create users").lines == [
        "created database/migrations/V1__create_users.sql",
        "created database/rollback/V1__create_users_rollback.sql",
    ]
    write(
        repo,
        {
            "database/migrations/V1.9__x.sql": "SELECT 1;\n",
            "database/rollback/V1.9__x_rollback.sql": "SELECT 1;\n",
        },
    )
    assert vcsync(repo, "create", "add email").lines[0] == (
        "created database/migrations/V1.10__add_email.sql"
    )
    assert vcsync(repo, "create", "3.0.0", "big", "change").lines[0] == (
        "created database/migrations/V3.0.0__big_change.sql"
    )


def test_create_refuses_a_version_that_is_taken(folders: Path) -> None:
    repo = folders
    vcsync(repo, "create", "create users")
    run = vcsync(repo, "create", "1", "again")
    assert run.exit_code == 2
    assert run.stderr == (
        "vcsync: version 1 is already taken by database/migrations/V1__create_users.sql.\n"
    )


@pytest.mark.parametrize(
    ("existing", "made"),
    [
        (
            {"db/000009_a.up.sql": "SELECT 1;\n", "db/000009_a.down.sql": "SELECT 1;\n"},
            ["db/000010_orders.up.sql", "db/000010_orders.down.sql"],
        ),
        (
            {"db/20240102120000_a.sql": "-- +goose Up\nSELECT 1;\n-- +goose Down\nSELECT 1;\n"},
            ["goose"],
        ),
        (
            {"db/2017-09-23-123456_a/up.sql": "SELECT 1;\n", "db/2017-09-23-123456_a/down.sql": ""},
            ["diesel"],
        ),
    ],
)
def test_create_follows_the_layout_it_finds(
    tmp_path: Path, existing: dict[str, str], made: list[str]
) -> None:
    repo = make_repo(
        tmp_path / "p",
        existing,
        config='[tool.vcsync]\nmigrations = "db"\nrollbacks = "db"\nlayout = "auto"\n',
    )
    run = vcsync(repo, "create", "orders")
    assert run.exit_code == 0, run.stderr
    paths = [line.removeprefix("created ") for line in run.lines]
    if made == ["goose"]:
        (path,) = paths
        assert path.endswith("_orders.sql") and path > "db/20240102120000"
        assert (repo / path).read_text().startswith("-- +goose Up\n")
    elif made == ["diesel"]:
        assert paths[0].endswith("_orders/up.sql") and paths[1].endswith("_orders/down.sql")
        assert paths[0][3:13].count("-") == 2  # diesel's spelling: 2026-11-24-…
    else:
        assert paths == made


def test_create_before_the_folders_exist_makes_them(tmp_path: Path) -> None:
    write(tmp_path, {"vcsync.toml": ""})
    run = vcsync(tmp_path, "create", "x")
    assert run.exit_code == 0, run.stderr
    assert (tmp_path / "database/migrations/V1__x.sql").is_file()
    assert (tmp_path / "database/rollback/V1__x_rollback.sql").is_file()


def test_create_takes_a_version_with_its_v_prefix(folders: Path) -> None:
    run = vcsync(folders, "create", "V5", "add", "orders")
    assert run.exit_code == 0, run.stderr
    assert (folders / "database/migrations/V5__add_orders.sql").is_file()


def test_create_keeps_a_long_description_to_a_name_the_file_system_takes(folders: Path) -> None:
    run = vcsync(folders, "create", "word " * 100)
    assert run.exit_code == 0, run.stderr
    (made,) = (folders / "database/migrations").iterdir()
    assert len(made.name) <= 100 and made.name.startswith("V1__word_word")


def test_init_keeps_the_dev_database_out_of_git(tmp_path: Path) -> None:
    git(tmp_path, "init", "-q")
    write(tmp_path, {".gitignore": "*.pyc"})
    run = vcsync(tmp_path, "init")
    assert run.exit_code == 0 and "added .vcsync/ to .gitignore" in run.stdout
    assert (tmp_path / ".gitignore").read_text() == (
        "*.pyc\n# vcsync's local dev database\n.vcsync/\n"
    )
    (tmp_path / ".vcsync").mkdir()
    (tmp_path / ".vcsync/dev.db").write_bytes(b"x")
    git(tmp_path, "add", "-A")
    assert ".vcsync" not in git(tmp_path, "status", "--porcelain")
