"""`vcsync install-hooks`: the plain Git hooks in hooks/, for teams without pre-commit.

A hook that is not ours is never overwritten silently: it needs `--force`, and even
then it is kept beside the new one as `<hook>.vcsync-backup`.
"""

from __future__ import annotations

import shutil
import sys
from importlib.resources import files
from pathlib import Path

from vcsync.errors import GitError, VcsyncError
from vcsync.gitrepo import Repo

HOOKS = ("pre-commit", "pre-push")
MARKER = "vcsync-hook"
BACKUP_SUFFIX = ".vcsync-backup"


def install(start: Path, *, force: bool) -> list[str]:
    repo = Repo.find(start)
    if repo is None:
        raise GitError(f"{start} is not inside a Git repository; run `git init` first.")
    hooks_dir = repo.root / repo.run("rev-parse", "--git-path", "hooks").strip()
    hooks_dir.mkdir(parents=True, exist_ok=True)
    templates = files("vcsync") / "hooks"
    planned = []
    for name in HOOKS:
        target = hooks_dir / name
        foreign = target.exists() and MARKER not in target.read_text("utf-8", "replace")
        if foreign and not force:
            raise VcsyncError(f"{target} is another tool's hook; rerun with --force to replace "
                              f"it (it is kept as {name}{BACKUP_SUFFIX}).")
        planned.append((name, target, foreign))
    lines = []
    for name, target, foreign in planned:
        if foreign:
            shutil.copy2(target, target.with_name(name + BACKUP_SUFFIX))
            lines.append(f"kept the old {name} hook as {name}{BACKUP_SUFFIX}")
        text = (templates / name).read_text("utf-8")
        target.write_text(text.replace("INSTALL_PYTHON=python3",
                                       f"INSTALL_PYTHON='{sys.executable}'"), "utf-8")
        target.chmod(0o755)
        lines.append(f"installed {target.relative_to(repo.root)}")
    return lines
