"""Where a deployment came from: commit, ref, tag, a dirty tree, who and on which host."""

from __future__ import annotations

import getpass
import os
import socket
from typing import NamedTuple

from vcsync import __version__
from vcsync.gitrepo import Repo


class Provenance(NamedTuple):
    commit_sha: str | None
    ref: str | None
    tag: str | None
    dirty: bool
    operator: str
    host: str
    vcsync_version: str = __version__


def operator() -> str:
    """VCSYNC_OPERATOR (a CI job can name the person who triggered it), else the OS user."""
    try:
        return os.environ.get("VCSYNC_OPERATOR") or getpass.getuser()
    except (KeyError, OSError):
        return f"uid {os.getuid()}"


def provenance(repo: Repo | None, folders: list[str]) -> Provenance:
    who, host = operator(), socket.gethostname()
    if repo is None or not repo.has_commits():
        return Provenance(None, None, None, False, who, host)
    sha = repo.run("rev-parse", "HEAD").strip()
    ref = repo.run("symbolic-ref", "-q", "--short", "HEAD", check=False).strip() or "HEAD"
    tag = repo.run("describe", "--tags", "--exact-match", "HEAD", check=False).strip() or None
    dirty = bool(repo.run("status", "--porcelain", "--", *folders).strip())
    return Provenance(sha, ref, tag, dirty, who, host)
