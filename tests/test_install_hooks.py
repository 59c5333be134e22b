"""`vcsync install-hooks` and the plain hooks it installs, run by real `git commit` and
`git push` (hooks run inside Git, with GIT_INDEX_FILE and friends exported)."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import pytest

from tests.helpers import commit, git, make_repo, vcsync, write

MIGRATION = "database/migrations/V1.0.0__Create_customers.sql"
ROLLBACK = "database/rollback/V1.0.0__Create_customers_rollback.sql"
GOOD = {
    MIGRATION: "CREATE TABLE customers (id bigint PRIMARY KEY);\n",
    ROLLBACK: "DROP TABLE customers;\n",
}
HOOKS_SOURCE = Path(__file__).resolve().parents[1] / "vcsync" / "hooks"


class GitRun(NamedTuple):
    exit_code: int
    output: str  # stdout and stderr as the user's terminal shows them, interleaved

    @property
    def lines(self) -> list[str]:
        return self.output.splitlines()


@pytest.fixture
def bare_path(tmp_path: Path) -> str:
    """A PATH holding `git` and nothing else: no `vcsync`, no `python3`."""
    found = shutil.which("git")
    assert found is not None
    folder = tmp_path / "bare-bin"
    folder.mkdir()
    (folder / "git").symlink_to(found)
    return str(folder)


def run_git(repo: Path, *args: str, path: str) -> GitRun:
    """git as a developer types it, with `path` as PATH (the hooks inherit it)."""
    proc = subprocess.run(
        ["git", *args],
        cwd=repo,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PATH": path},
        check=False,
    )
    return GitRun(proc.returncode, proc.stdout)


def head(repo: Path) -> str:
    return git(repo, "rev-parse", "HEAD").strip()


def installed(repo: Path) -> Path:
    result = vcsync(repo, "install-hooks")
    assert result.exit_code == 0, result.stderr
    return repo / ".git" / "hooks"


def is_executable(path: Path) -> bool:
    return path.is_file() and bool(path.stat().st_mode & stat.S_IXUSR)


# --- installing -------------------------------------------------------------------------


def test_install_hooks_writes_executable_pre_commit_and_pre_push_hooks(repo: Path) -> None:
    result = vcsync(repo, "install-hooks")

    assert result.exit_code == 0
    assert result.lines == ["installed .git/hooks/pre-commit", "installed .git/hooks/pre-push"]
    for name in ("pre-commit", "pre-push"):
        hook = repo / ".git" / "hooks" / name
        assert is_executable(hook)
        assert hook.read_text().startswith("#!/bin/sh\n# vcsync-hook:")


def test_installed_hooks_name_the_interpreter_that_installed_them(repo: Path) -> None:
    hooks = installed(repo)

    for name in ("pre-commit", "pre-push"):
        lines = (hooks / name).read_text().splitlines()
        assert [line for line in lines if line.startswith("INSTALL_PYTHON=")] == [
            f"INSTALL_PYTHON={sys.executable}"
        ]


def test_install_hooks_honours_a_relative_core_hooks_path(repo: Path) -> None:
    git(repo, "config", "core.hooksPath", ".githooks")

    result = vcsync(repo, "install-hooks")

    assert result.exit_code == 0
    assert result.lines == ["installed .githooks/pre-commit", "installed .githooks/pre-push"]
    assert is_executable(repo / ".githooks" / "pre-commit")
    assert not (repo / ".git" / "hooks" / "pre-commit").exists()


def test_install_hooks_honours_a_shared_core_hooks_path_outside_the_repository(
    repo: Path, tmp_path: Path
) -> None:
    shared = tmp_path / "team-hooks"
    git(repo, "config", "core.hooksPath", str(shared))

    result = vcsync(repo, "install-hooks")

    assert result.exit_code == 0
    assert result.lines == [
        f"installed {shared / 'pre-commit'}",
        f"installed {shared / 'pre-push'}",
    ]
    assert is_executable(shared / "pre-push")


def test_install_hooks_refuses_to_overwrite_another_tools_hook(repo: Path) -> None:
    foreign = repo / ".git" / "hooks" / "pre-push"
    foreign.write_text("#!/bin/sh\nexec husky pre-push\n")

    result = vcsync(repo, "install-hooks")

    assert result.exit_code == 2
    assert result.stdout == ""
    [message] = result.stderr.splitlines()
    assert message.startswith("vcsync: ") and message.endswith(".")
    assert "another tool's hook" in message and "--force" in message
    assert foreign.read_text() == "#!/bin/sh\nexec husky pre-push\n"
    # all or nothing: the pre-commit hook was not installed either
    assert not (repo / ".git" / "hooks" / "pre-commit").exists()


def test_install_hooks_force_keeps_the_other_tools_hook_as_a_backup(repo: Path) -> None:
    hooks = repo / ".git" / "hooks"
    (hooks / "pre-commit").write_text("#!/bin/sh\nexec lint-staged\n")

    result = vcsync(repo, "install-hooks", "--force")

    assert result.exit_code == 0
    assert result.lines == [
        "kept the old pre-commit hook as pre-commit.vcsync-backup",
        "installed .git/hooks/pre-commit",
        "installed .git/hooks/pre-push",
    ]
    assert (hooks / "pre-commit.vcsync-backup").read_text() == "#!/bin/sh\nexec lint-staged\n"
    assert "vcsync-hook" in (hooks / "pre-commit").read_text()
    assert not (hooks / "pre-push.vcsync-backup").exists()


def test_install_hooks_force_never_writes_through_a_symlinked_hook(repo: Path) -> None:
    script = repo / "scripts" / "pre-commit"
    write(repo, {"scripts/pre-commit": "#!/bin/sh\nexec make lint\n"})
    hooks = repo / ".git" / "hooks"
    (hooks / "pre-commit").symlink_to(script)

    result = vcsync(repo, "install-hooks", "--force")

    assert result.exit_code == 0
    assert script.read_text() == "#!/bin/sh\nexec make lint\n"
    assert (hooks / "pre-commit.vcsync-backup").resolve() == script.resolve()
    assert not (hooks / "pre-commit").is_symlink()
    assert "vcsync-hook" in (hooks / "pre-commit").read_text()


def test_install_hooks_again_over_its_own_hooks_needs_no_force(repo: Path) -> None:
    installed(repo)

    result = vcsync(repo, "install-hooks")

    assert result.exit_code == 0
    assert result.lines == ["installed .git/hooks/pre-commit", "installed .git/hooks/pre-push"]
    assert sorted(p.name for p in (repo / ".git" / "hooks").glob("*.vcsync-backup")) == []


def test_install_hooks_outside_a_git_repository_is_one_sentence_and_exit_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "not-a-repo"
    folder.mkdir()
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))

    result = vcsync(folder, "install-hooks")

    assert result.exit_code == 2
    assert result.stdout == ""
    [message] = result.stderr.splitlines()
    assert message == f"vcsync: {folder} is not inside a Git repository; run `git init` first."


# --- the pre-commit hook, run by git commit ---------------------------------------------


def test_commit_of_a_migration_without_rollback_is_blocked(repo: Path, bare_path: str) -> None:
    installed(repo)
    before = head(repo)
    write(repo, {MIGRATION: GOOD[MIGRATION]})
    git(repo, "add", "-A")

    result = run_git(repo, "commit", "-m", "customers", path=bare_path)

    assert result.exit_code != 0
    assert (
        f"{MIGRATION}:1:1: VC001 migration 1.0.0 has no rollback script; add {ROLLBACK}."
        in result.lines
    )
    assert head(repo) == before


def test_commit_of_sql_that_does_not_parse_is_blocked(repo: Path, bare_path: str) -> None:
    installed(repo)
    before = head(repo)
    write(
        repo,
        {
            MIGRATION: "CREATE TABLE customers (\n  id bigint PRIMARY KEY,\n);\n",
            ROLLBACK: GOOD[ROLLBACK],
        },
    )
    git(repo, "add", "-A")

    result = run_git(repo, "commit", "-m", "customers", path=bare_path)

    assert result.exit_code != 0
    assert any(line.startswith(f"{MIGRATION}:3:1: VC101 ") for line in result.lines), result.output
    assert head(repo) == before


def test_commit_of_a_migration_with_its_rollback_succeeds(repo: Path, bare_path: str) -> None:
    installed(repo)
    before = head(repo)
    write(repo, GOOD)
    git(repo, "add", "-A")

    result = run_git(repo, "commit", "-m", "customers", path=bare_path)

    assert result.exit_code == 0, result.output
    assert git(repo, "rev-parse", "HEAD~1").strip() == before
    assert git(repo, "show", "--name-only", "--format=", "HEAD").split() == [MIGRATION, ROLLBACK]


def test_hook_checks_the_staged_text_not_the_work_tree(repo: Path, bare_path: str) -> None:
    installed(repo)
    write(repo, GOOD)
    git(repo, "add", "-A")
    write(repo, {MIGRATION: "CREATE TABLE (;\n"})  # a later edit, not staged

    result = run_git(repo, "commit", "-m", "customers", path=bare_path)

    assert result.exit_code == 0, result.output


def test_commit_all_of_a_migration_edited_into_sql_that_does_not_parse_is_blocked(
    tmp_path: Path, bare_path: str
) -> None:
    project = make_repo(tmp_path / "project", GOOD)
    installed(project)
    before = head(project)
    write(project, {MIGRATION: "CREATE TABLE customers (;\n"})

    result = run_git(project, "commit", "-a", "-m", "broken", path=bare_path)

    assert result.exit_code != 0
    assert head(project) == before


def _python3_only(tmp_path: Path, bare_path: str) -> str:
    """PATH with git and a `python3` that has vcsync installed, but no `vcsync` script."""
    folder = tmp_path / "python-bin"
    folder.mkdir()
    wrapper = folder / "python3"
    wrapper.write_text(f'#!/bin/sh\nexec "{sys.executable}" "$@"\n')
    wrapper.chmod(0o755)
    return f"{bare_path}{os.pathsep}{folder}"


def _vcsync_script(tmp_path: Path, bare_path: str) -> str:
    """PATH with git and a `vcsync` command, but no `python3`."""
    folder = tmp_path / "vcsync-bin"
    folder.mkdir()
    script = folder / "vcsync"
    script.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m vcsync "$@"\n')
    script.chmod(0o755)
    return f"{bare_path}{os.pathsep}{folder}"


@pytest.mark.parametrize("make_path", [_vcsync_script, _python3_only], ids=["vcsync", "python3"])
def test_a_hook_copied_by_hand_from_hooks_finds_vcsync_on_path(
    repo: Path, tmp_path: Path, bare_path: str, make_path: Callable[[Path, str], str]
) -> None:
    hook = repo / ".git" / "hooks" / "pre-commit"
    shutil.copy2(HOOKS_SOURCE / "pre-commit", hook)
    write(repo, {MIGRATION: GOOD[MIGRATION]})
    git(repo, "add", "-A")

    result = run_git(repo, "commit", "-m", "customers", path=make_path(tmp_path, bare_path))

    assert result.exit_code != 0
    assert any(line.startswith(f"{MIGRATION}:1:1: VC001 ") for line in result.lines), result.output


def test_a_hook_copied_by_hand_without_vcsync_anywhere_says_what_to_install(
    repo: Path, bare_path: str
) -> None:
    shutil.copy2(HOOKS_SOURCE / "pre-commit", repo / ".git" / "hooks" / "pre-commit")

    result = run_git(repo, "commit", "--allow-empty", "-m", "empty", path=bare_path)

    assert result.exit_code != 0
    assert result.lines == [
        "vcsync-hook: vcsync was not found; run `pip install vcsync`, or skip once with "
        "`git commit --no-verify`."
    ]


# --- the pre-push hook, run by git push -------------------------------------------------


@pytest.fixture
def pushed(tmp_path: Path, bare_path: str) -> tuple[Path, Path]:
    """A project with one good migration, pushed to a bare `origin`; hooks installed."""
    origin = tmp_path / "origin.git"
    git(tmp_path, "init", "-q", "--bare", "-b", "main", str(origin))
    project = make_repo(tmp_path / "project", GOOD)
    git(project, "remote", "add", "origin", str(origin))
    installed(project)
    result = run_git(project, "push", "-u", "origin", "main", path=bare_path)
    assert result.exit_code == 0, result.output
    return project, origin


def test_push_of_a_migration_without_rollback_is_blocked_by_the_pre_push_hook(
    pushed: tuple[Path, Path], bare_path: str
) -> None:
    project, origin = pushed
    remote_before = git(origin, "rev-parse", "main").strip()
    orders = "database/migrations/V1.1.0__Create_orders.sql"
    write(project, {orders: "CREATE TABLE orders (id bigint);\n"})
    git(project, "add", "-A")
    git(project, "commit", "-q", "--no-verify", "-m", "orders")

    result = run_git(project, "push", "origin", "main", path=bare_path)

    assert result.exit_code != 0
    assert any(line.startswith(f"{orders}:1:1: VC001 ") for line in result.lines), result.output
    assert "error: failed to push some refs" in result.output
    assert git(origin, "rev-parse", "main").strip() == remote_before


def test_push_compares_versions_with_the_remote_branch(
    pushed: tuple[Path, Path], bare_path: str, tmp_path: Path
) -> None:
    project, origin = pushed
    # a colleague pushes 1.2.0 first; this clone then fetches it and adds 1.1.0 below it
    colleague = tmp_path / "colleague"
    git(tmp_path, "clone", "-q", str(origin), str(colleague))
    write(
        colleague,
        {
            "database/migrations/V1.2.0__Create_orders.sql": "CREATE TABLE orders (id bigint);\n",
            "database/rollback/V1.2.0__Create_orders_rollback.sql": "DROP TABLE orders;\n",
        },
    )
    commit(colleague, "orders")
    git(colleague, "push", "-q", "origin", "main")
    git(project, "pull", "-q", "--rebase", "origin", "main")
    late = "database/migrations/V1.1.0__Create_invoices.sql"
    write(
        project,
        {
            late: "CREATE TABLE invoices (id bigint);\n",
            "database/rollback/V1.1.0__Create_invoices_rollback.sql": "DROP TABLE invoices;\n",
        },
    )
    git(project, "add", "-A")
    git(project, "commit", "-q", "--no-verify", "-m", "invoices")

    result = run_git(project, "push", "origin", "main", path=bare_path)

    assert result.exit_code != 0
    assert any(line.startswith(f"{late}:1:1: VC004 ") for line in result.lines), result.output


def test_push_of_good_migrations_succeeds(pushed: tuple[Path, Path], bare_path: str) -> None:
    project, origin = pushed
    write(
        project,
        {
            "database/migrations/V1.1.0__Create_orders.sql": "CREATE TABLE orders (id bigint);\n",
            "database/rollback/V1.1.0__Create_orders_rollback.sql": "DROP TABLE orders;\n",
        },
    )
    git(project, "add", "-A")
    assert run_git(project, "commit", "-q", "-m", "orders", path=bare_path).exit_code == 0

    result = run_git(project, "push", "origin", "main", path=bare_path)

    assert result.exit_code == 0, result.output
    assert git(origin, "rev-parse", "main").strip() == head(project)


def test_push_that_only_deletes_a_remote_branch_is_not_checked(
    pushed: tuple[Path, Path], bare_path: str
) -> None:
    project, origin = pushed
    git(project, "push", "-q", "--no-verify", "origin", "main:topic")
    write(project, {"database/migrations/V1.1.0__Broken.sql": "CREATE TABLE (;\n"})  # work tree

    result = run_git(project, "push", "origin", "--delete", "topic", path=bare_path)

    assert result.exit_code == 0, result.output
    assert git(origin, "branch", "--list", "topic") == ""
