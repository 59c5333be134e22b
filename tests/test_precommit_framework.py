"""The hooks this repository offers the pre-commit framework (.pre-commit-hooks.yaml), run by
the real `pre-commit` in a consumer repository: `try-repo`, and `git commit` after
`pre-commit install`.

pre-commit installs a hook repository from a commit, so the session commits this checkout
as it is on disk (tracked files plus new, not-ignored ones) into one snapshot repository:
what is tested is the code under test, committed yet or not. Building the hook's virtual
environment (pip-installing vcsync and its dependencies) dominates the run, so every
xdist worker shares one snapshot and one PRE_COMMIT_HOME, and it is built once. (`try-repo`
always builds into a throwaway store of its own, so it is run once.)
"""

from __future__ import annotations

import fcntl
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import NamedTuple

import pytest

from tests.helpers import GIT_ENV, git, make_repo, write

THIS_REPO = Path(__file__).resolve().parents[1]
MIGRATION = "database/migrations/V1.0.0__Create_customers.sql"
ROLLBACK = "database/rollback/V1.0.0__Create_customers_rollback.sql"
GOOD = {
    MIGRATION: "CREATE TABLE customers (id bigint PRIMARY KEY);\n",
    ROLLBACK: "DROP TABLE customers;\n",
}
VC001 = f"{MIGRATION}:1:1: VC001 migration 1.0.0 has no rollback script; add {ROLLBACK}."
ENV_BUILD_TIMEOUT = 900  # seconds: a cold pip install of vcsync and its dependencies


class HookRepo(NamedTuple):
    path: Path
    rev: str


class Run(NamedTuple):
    exit_code: int
    output: str  # stdout and stderr interleaved, as the terminal shows them

    @property
    def lines(self) -> list[str]:
        return self.output.splitlines()


def status_line(hook_name: str, status: str) -> re.Pattern[str]:
    """pre-commit's one line per hook: `vcsync check.....Failed`."""
    return re.compile(rf"^{re.escape(hook_name)}\.+(\(no files to check\))?{status}$", re.M)


# --- session: one snapshot of this repository, one PRE_COMMIT_HOME ----------------------


@pytest.fixture(scope="session")
def shared_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder every xdist worker of this run shares (the run's own, never a past run's)."""
    base = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        base = base.parent
    folder = base / "pre-commit-framework"
    folder.mkdir(exist_ok=True)
    return folder


@contextmanager
def locked(folder: Path) -> Iterator[None]:
    with open(folder / ".lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _snapshot_git(cwd: Path, *args: str) -> str:
    # Session fixtures run before the per-test Git isolation: shut out the user's config
    # (a commit.gpgsign there would stop the snapshot commit) and any inherited GIT_DIR.
    env = {k: v for k, v in os.environ.items() if k not in ("GIT_DIR", "GIT_INDEX_FILE")}
    env.update(GIT_ENV, GIT_CONFIG_GLOBAL=os.devnull)
    return subprocess.run(
        ["git", *args], cwd=cwd, env=env, check=True, capture_output=True, text=True
    ).stdout


@pytest.fixture(scope="session")
def vcsync_repo(shared_dir: Path) -> HookRepo:
    """This checkout, as it is on disk, committed into a repository pre-commit can install."""
    if not (THIS_REPO / ".git").exists():
        pytest.skip("the tests are not running from a Git checkout of vcsync")
    snapshot = shared_dir / "vcsync"
    with locked(shared_dir):
        if not (snapshot / ".git").is_dir():
            listed = _snapshot_git(
                THIS_REPO, "ls-files", "-z", "--cached", "--others", "--exclude-standard"
            )
            building = shared_dir / "vcsync.partial"
            shutil.rmtree(building, ignore_errors=True)
            for rel in filter(None, listed.split("\0")):
                source, target = THIS_REPO / rel, building / rel
                if not (source.is_symlink() or source.is_file()):
                    continue  # deleted in the work tree, or a submodule
                target.parent.mkdir(parents=True, exist_ok=True)
                if source.is_symlink():
                    target.symlink_to(os.readlink(source))
                else:
                    shutil.copy2(source, target)
            _snapshot_git(building, "init", "-q", "-b", "main")
            _snapshot_git(building, "add", "-A")
            _snapshot_git(building, "commit", "-q", "--no-verify", "-m", "snapshot")
            building.rename(snapshot)
    return HookRepo(snapshot, _snapshot_git(snapshot, "rev-parse", "HEAD").strip())


@pytest.fixture(scope="session")
def pre_commit_home(shared_dir: Path) -> Path:
    return shared_dir / "pre-commit-home"


def pre_commit(cwd: Path, home: Path, *args: str) -> Run:
    """The real framework, from the interpreter running the tests."""
    return run_with_home(cwd, home, sys.executable, "-m", "pre_commit", *args)


def run_with_home(cwd: Path, home: Path, *argv: str) -> Run:
    proc = subprocess.run(
        argv,
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PRE_COMMIT_HOME": str(home)},
        timeout=ENV_BUILD_TIMEOUT,
        check=False,
    )
    return Run(proc.returncode, proc.stdout)


def head(repo: Path) -> str:
    return git(repo, "rev-parse", "HEAD").strip()


@pytest.fixture
def consumer(tmp_path: Path, vcsync_repo: HookRepo, pre_commit_home: Path) -> Path:
    """A project whose .pre-commit-config.yaml uses both hooks; `pre-commit install` done."""
    config = (
        "repos:\n"
        f"-   repo: {vcsync_repo.path}\n"
        f"    rev: {vcsync_repo.rev}\n"
        "    hooks:\n"
        "    -   id: vcsync-check\n"
        "    -   id: vcsync-verify\n"
    )
    project = make_repo(tmp_path / "consumer", {".pre-commit-config.yaml": config})
    installed = pre_commit(project, pre_commit_home, "install")
    assert installed.exit_code == 0, installed.output
    return project


def git_commit(project: Path, home: Path, *args: str) -> Run:
    return run_with_home(project, home, "git", "commit", *args)


def commit_skipping_hooks(project: Path, message: str) -> None:
    git(project, "add", "-A")
    git(project, "commit", "-q", "--no-verify", "-m", message)


# --- the manifest -----------------------------------------------------------------------


def test_manifest_is_valid_for_pre_commit(pre_commit_home: Path) -> None:
    result = pre_commit(
        THIS_REPO, pre_commit_home, "validate-manifest", str(THIS_REPO / ".pre-commit-hooks.yaml")
    )

    assert result == Run(0, "")


# --- pre-commit try-repo ----------------------------------------------------------------


def test_try_repo_blocks_a_staged_migration_without_rollback(
    tmp_path: Path, vcsync_repo: HookRepo, pre_commit_home: Path
) -> None:
    project = make_repo(tmp_path / "consumer")
    write(project, {MIGRATION: GOOD[MIGRATION]})
    git(project, "add", "-A")

    result = pre_commit(
        project, pre_commit_home, "try-repo", str(vcsync_repo.path), "vcsync-check", "--all-files"
    )

    assert result.exit_code == 1, result.output
    assert status_line("vcsync check", "Failed").search(result.output), result.output
    assert VC001 in result.lines


# --- git commit, with the hook that `pre-commit install` wrote --------------------------


def test_commit_of_a_migration_without_rollback_is_blocked(
    consumer: Path, pre_commit_home: Path
) -> None:
    before = head(consumer)
    write(consumer, {MIGRATION: GOOD[MIGRATION]})
    git(consumer, "add", "-A")

    result = git_commit(consumer, pre_commit_home, "-m", "customers")

    assert result.exit_code == 1, result.output
    assert status_line("vcsync check", "Failed").search(result.output), result.output
    assert "- hook id: vcsync-check" in result.lines
    assert VC001 in result.lines
    assert head(consumer) == before


def test_commit_of_sql_that_does_not_parse_is_blocked(
    consumer: Path, pre_commit_home: Path
) -> None:
    before = head(consumer)
    write(
        consumer,
        {MIGRATION: "CREATE TABLE customers (\n  id bigint,\n);\n", ROLLBACK: GOOD[ROLLBACK]},
    )
    git(consumer, "add", "-A")

    result = git_commit(consumer, pre_commit_home, "-m", "customers")

    assert result.exit_code == 1, result.output
    assert any(line.startswith(f"{MIGRATION}:3:1: VC101 ") for line in result.lines), result.output
    assert head(consumer) == before


def test_commit_of_a_migration_with_its_rollback_passes(
    consumer: Path, pre_commit_home: Path
) -> None:
    before = head(consumer)
    write(consumer, GOOD)
    git(consumer, "add", "-A")

    result = git_commit(consumer, pre_commit_home, "-m", "customers")

    assert result.exit_code == 0, result.output
    assert status_line("vcsync check", "Passed").search(result.output), result.output
    # vcsync-verify belongs to the push and manual stages, never to a commit
    assert "vcsync verify" not in result.output
    assert git(consumer, "rev-parse", "HEAD~1").strip() == before


def test_commit_without_sql_files_passes_vcsync_check(
    consumer: Path, pre_commit_home: Path
) -> None:
    write(consumer, {"README.md": "# shop\n"})
    git(consumer, "add", "-A")

    result = git_commit(consumer, pre_commit_home, "-m", "readme")

    assert result.exit_code == 0, result.output
    assert status_line("vcsync check", "Passed").search(result.output), result.output


def test_commit_that_only_deletes_a_shipped_migration_is_blocked(
    consumer: Path, pre_commit_home: Path, tmp_path: Path
) -> None:
    """No .sql file is staged to pass, so the framework used to skip the hook."""
    write(consumer, GOOD)
    commit_skipping_hooks(consumer, "customers")
    git(tmp_path, "init", "-q", "--bare", "origin.git")
    git(consumer, "remote", "add", "origin", str(tmp_path / "origin.git"))
    git(consumer, "push", "-q", "origin", "main")
    git(consumer, "rm", "-q", *GOOD)

    result = git_commit(consumer, pre_commit_home, "-m", "drop customers")

    assert result.exit_code == 1, result.output
    assert f"{MIGRATION}:1:1: VC202" in result.output, result.output


def test_the_files_pre_commit_passes_are_the_scope_of_the_check(
    consumer: Path, pre_commit_home: Path
) -> None:
    orders = "database/migrations/V1.1.0__Create_orders.sql"
    write(consumer, {**GOOD, orders: "CREATE TABLE orders (id bigint);\n"})
    git(consumer, "add", "-A")

    good = pre_commit(consumer, pre_commit_home, "run", "vcsync-check", "--files", *GOOD)
    bad = pre_commit(consumer, pre_commit_home, "run", "vcsync-check", "--files", orders)

    assert good.exit_code == 0, good.output
    assert bad.exit_code == 1, bad.output
    assert any(line.startswith(f"{orders}:1:1: VC001 ") for line in bad.lines), bad.output


def test_run_all_files_finds_a_committed_migration_without_rollback(
    consumer: Path, pre_commit_home: Path
) -> None:
    write(consumer, {MIGRATION: GOOD[MIGRATION]})
    commit_skipping_hooks(consumer, "customers, no rollback")

    result = pre_commit(consumer, pre_commit_home, "run", "vcsync-check", "--all-files")

    assert result.exit_code == 1, result.output
    assert VC001 in result.lines


def test_commit_all_of_a_migration_edited_into_sql_that_does_not_parse_is_blocked(
    consumer: Path, pre_commit_home: Path
) -> None:
    write(consumer, GOOD)
    git(consumer, "add", "-A")
    assert git_commit(consumer, pre_commit_home, "-m", "customers").exit_code == 0
    before = head(consumer)
    write(consumer, {MIGRATION: "CREATE TABLE customers (;\n"})

    result = git_commit(consumer, pre_commit_home, "-a", "-m", "broken")

    assert result.exit_code == 1, result.output
    assert head(consumer) == before


def test_verify_hook_runs_at_the_manual_stage(
    consumer: Path, pre_commit_home: Path, tmp_path: Path
) -> None:
    origin = tmp_path / "origin.git"
    git(tmp_path, "init", "-q", "--bare", "-b", "main", str(origin))
    write(consumer, GOOD)
    commit_skipping_hooks(consumer, "customers")
    git(consumer, "remote", "add", "origin", str(origin))
    git(consumer, "push", "-q", "--no-verify", "-u", "origin", "main")

    result = pre_commit(consumer, pre_commit_home, "run", "--hook-stage", "manual", "vcsync-verify")

    assert result.exit_code == 0, result.output
    assert status_line("vcsync verify", "Passed").search(result.output), result.output
