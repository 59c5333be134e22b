"""`vcsync install-hooks`: the plain Git hooks in hooks/, for teams without pre-commit.

A hook that is not ours is never overwritten silently: it needs `--force`, and even
then it is kept beside the new one as `<hook>.vcsync-backup`. The installed hook names
the interpreter that installed it, because GUI Git clients and IDEs run hooks with a
PATH that rarely holds a virtual environment's `vcsync`.
"""

from __future__ import annotations

import os
import re
import shlex
import sys
from importlib.resources import files
from pathlib import Path

from vcsync.errors import GitError, VcsyncError
from vcsync.gitrepo import Repo

HOOKS = ("pre-commit", "pre-push")
MARKER = "vcsync-hook"
BACKUP_SUFFIX = ".vcsync-backup"
_INSTALL_PYTHON = re.compile(r"^INSTALL_PYTHON=.*$", re.MULTILINE)


def install(start: Path, *, force: bool) -> list[str]:
    """Install every hook, or none: a foreign hook without `force` stops before any write."""
    repo = Repo.find(start)
    if repo is None:
        raise GitError(f"{start} is not inside a Git repository; run `git init` first.")
    # `--git-path hooks` honours core.hooksPath (relative to the work tree, or absolute).
    hooks_dir = repo.root / repo.run("rev-parse", "--git-path", "hooks").strip()
    planned = []
    for name in HOOKS:
        target = hooks_dir / name
        foreign = _is_foreign(target)
        if foreign and not force:
            raise VcsyncError(
                f"{target} is another tool's hook; rerun with --force to replace it "
                f"(it is kept as {name}{BACKUP_SUFFIX})."
            )
        planned.append((name, target, foreign, _hook_text(name)))
    hooks_dir.mkdir(parents=True, exist_ok=True)
    lines = []
    for name, target, foreign, text in planned:
        if foreign:
            # Moved, not copied: a symlinked hook keeps pointing where it did, and the
            # file it points to (often a tracked script) is never written through.
            os.replace(target, target.with_name(name + BACKUP_SUFFIX))
            lines.append(f"kept the old {name} hook as {name}{BACKUP_SUFFIX}")
        elif target.is_symlink():
            target.unlink()
        target.write_text(text, "utf-8", newline="\n")
        target.chmod(0o755)
        lines.append(f"installed {_shown(target, repo.root)}")
    return lines


def _is_foreign(target: Path) -> bool:
    """A hook file (or a link, even a dangling one) that vcsync did not write."""
    if target.is_symlink() and not target.exists():
        return True
    if not target.exists():
        return False
    try:
        return MARKER not in target.read_text("utf-8", "replace")
    except OSError:
        return True


def _hook_text(name: str) -> str:
    text = (files("vcsync") / "hooks" / name).read_text("utf-8")
    if not sys.executable:  # an embedded interpreter without a path: the PATH fallback serves
        return text
    line = f"INSTALL_PYTHON={shlex.quote(sys.executable)}"
    text, count = _INSTALL_PYTHON.subn(lambda _m: line, text, count=1)
    if count != 1:
        raise VcsyncError(f"the bundled {name} hook has no INSTALL_PYTHON line; reinstall vcsync.")
    return text


def _shown(path: Path, root: Path) -> str:
    """Inside the repository, the path from its root; elsewhere (a shared core.hooksPath),
    the full path."""
    try:
        return path.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return str(path)
