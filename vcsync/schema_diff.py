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

from vcsync.check import Project, open_project
from vcsync.config import Config
from vcsync.db.urls import SQLITE
from vcsync.deploy.targets import environment_targets
from vcsync.errors import OperationFailed, VcsyncError
from vcsync.scratch import SCRATCH, scratch_database, snapshot_of
from vcsync.snapshot import Change, Snapshot, diff_snapshots

CURRENT = "current"


def schema_diff(
    config: Config, before: str, after: str, environment: str | None = None
) -> list[Change]:
    project = open_project(config)
    (old, old_kind), (new, new_kind) = (
        schema_at(config, project, spec, environment) for spec in (before, after)
    )
    if old_kind != new_kind:
        live = new_kind if old_kind == SQLITE else old_kind
        raise VcsyncError(
            f"{environment} is a {live} database but schemas are built on SQLite; "
            "set scratch_url to a server of the same kind to compare them."
        )
    return diff_snapshots(old, new)


def schema_at(
    config: Config, project: Project, spec: str, environment: str | None
) -> tuple[Snapshot, str]:
    """The schema `spec` names, and the kind of database it was read from."""
    if spec == CURRENT and environment:
        target = environment_targets(config, environment)[0]
        if target.path is not None and not target.path.exists():
            raise VcsyncError(f"{environment} has no database yet ({target.display}).")
        return snapshot_of(target, config, create=False), target.kind
    repo = project.repo
    if spec != CURRENT and repo is not None and repo.resolve(spec) is not None:
        with tempfile.TemporaryDirectory(prefix="vcsync-ref-") as folder:
            return _built(_exported(config, project, spec, Path(folder)), None)
    return _built(config, None if spec == CURRENT else spec)


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


def _built(config: Config, version: str | None) -> tuple[Snapshot, str]:
    from vcsync.deploy.migrate import migrate

    with scratch_database(config) as (scratch, target):
        results = migrate(scratch, SCRATCH, to=version)
        failed = [r for r in results if r.outcome == "failed"]
        if failed:
            raise OperationFailed(
                f"cannot build the schema on a scratch database: {failed[0].error}"
            )
        return snapshot_of(target, config), target.kind
