"""`vcsync diff FROM TO`: the schema difference between two versions, release tags or
`current`, object by object.

`current` with `--env` is that database's live schema; otherwise a side is built on a
scratch database from Git: a version by applying the work tree's migrations up to it, a
tag or commit by applying the migrations that ref holds.
"""

from __future__ import annotations

import io
import tarfile
import tempfile
from dataclasses import replace
from pathlib import Path

from vcsync.config import Config
from vcsync.db.urls import SQLITE
from vcsync.deploy.targets import environment_targets
from vcsync.deploy.version_argument import could_be_git_name, resolve_version, versions_in_git
from vcsync.errors import OperationFailed, VcsyncError
from vcsync.migrations.versions import Version
from vcsync.project import Project, open_project
from vcsync.scratch import SCRATCH, scratch_database, snapshot_of
from vcsync.snapshot import Change, Snapshot, diff_snapshots

CURRENT = "current"
ENDPOINT = "a migration version such as 1.4.0 (or V1.4.0), a release tag, a Git ref or `current`"


def schema_diff(
    config: Config, before: str, after: str, environment: str | None = None
) -> list[Change]:
    project = open_project(config)
    (old, old_kind), (new, new_kind) = (
        schema_at(config, project, spec, environment, side)
        for spec, side in ((before, "FROM"), (after, "TO"))
    )
    if old_kind != new_kind:
        live = new_kind if old_kind == SQLITE else old_kind
        raise VcsyncError(
            f"{environment} is a {live} database but schemas are built on SQLite; "
            "set scratch_url to a server of the same kind to compare them."
        )
    return diff_snapshots(old, new)


def schema_at(
    config: Config, project: Project, spec: str, environment: str | None, side: str = "FROM"
) -> tuple[Snapshot, str]:
    """The schema `spec` names, and the kind of database it was read from. A version must
    be one Git has: one that merely parses would build everything up to it."""
    if spec == CURRENT and environment:
        target = environment_targets(config, environment)[0]
        if target.path is not None and not target.path.exists():
            raise VcsyncError(f"{environment} has no database yet ({target.display}).")
        return snapshot_of(target, config, create=False), target.kind
    repo = project.repo
    if spec == CURRENT:
        return _built(config, None)
    if repo is not None and could_be_git_name(spec) and repo.resolve(spec) is not None:
        with tempfile.TemporaryDirectory(prefix="vcsync-ref-") as folder:
            return _built(_exported(config, project, spec, Path(folder)), None)
    version = resolve_version(project, spec, side, versions_in_git(project), accepts=ENDPOINT)
    return _built(config, version)


def _exported(config: Config, project: Project, ref: str, folder: Path) -> Config:
    """The migration folders as `ref` holds them, in `folder`, with a config rooted there."""
    assert project.repo is not None
    archive = project.repo.run_bytes(
        "archive", "--format=tar", ref, "--", *dict.fromkeys(project.folders)
    )
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(folder, filter="data")
    prefix = config.root.resolve().relative_to(project.root.resolve())
    root = folder / prefix
    for name in (config.migrations, config.rollbacks):
        (root / name).mkdir(parents=True, exist_ok=True)
    return replace(config, root=root)


def _built(config: Config, version: Version | None) -> tuple[Snapshot, str]:
    from vcsync.deploy.migrate import migrate

    with scratch_database(config) as (scratch, target):
        results = migrate(scratch, SCRATCH, to=version)
        failed = [r for r in results if r.outcome == "failed"]
        if failed:
            raise OperationFailed(
                f"cannot build the schema on a scratch database: {failed[0].error}"
            )
        return snapshot_of(target, config), target.kind
