"""Builders shared by the tests: real Git repositories with an isolated Git config, and
the CLI run through click's CliRunner."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import NamedTuple

from click.testing import CliRunner

from vcsync.cli.main import cli

GIT_ENV = {
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_AUTHOR_NAME": "Ada Tester",
    "GIT_AUTHOR_EMAIL": "ada@example.com",
    "GIT_COMMITTER_NAME": "Ada Tester",
    "GIT_COMMITTER_EMAIL": "ada@example.com",
}

SPLIT_CONFIG = """\
[tool.vcsync]
migrations = "database/migrations"
rollbacks = "database/rollback"
layout = "split"
"""


def git(repo: Path, *args: str) -> str:
    """Run git in `repo` with the isolated config the session set up (see conftest)."""
    return subprocess.run(
        ["git", *args],
        cwd=repo,
        check=True,
        capture_output=True,
        text=True,
        env={**os.environ, **GIT_ENV},
    ).stdout


def write(root: Path, files: Mapping[str, str | bytes]) -> None:
    for rel, content in files.items():
        target = root / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            target.write_bytes(content)
        else:
            target.write_text(content, "utf-8", newline="")


def commit(repo: Path, message: str = "change") -> str:
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "--allow-empty", "-m", message)
    return git(repo, "rev-parse", "HEAD").strip()


def make_repo(
    path: Path, files: Mapping[str, str | bytes] | None = None, *, config: str = SPLIT_CONFIG
) -> Path:
    """A repository on branch main; `files` (and the config as pyproject.toml) committed."""
    path.mkdir(parents=True, exist_ok=True)
    git(path, "init", "-q", "-b", "main")
    write(path, {"pyproject.toml": config, **(files or {})})
    commit(path, "initial")
    return path


class Run(NamedTuple):
    exit_code: int
    stdout: str
    stderr: str

    @property
    def lines(self) -> list[str]:
        return self.stdout.splitlines()


def vcsync(cwd: Path, *args: str) -> Run:
    """The CLI as a user runs it, from `cwd`; an unexpected exception fails the test."""
    old = Path.cwd()
    os.chdir(cwd)
    try:
        result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    finally:
        os.chdir(old)
    return Run(result.exit_code, result.stdout, result.stderr)
