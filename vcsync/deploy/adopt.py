"""`vcsync baseline` adopts an existing database; `vcsync repair` records how a failed
no-transaction migration was resolved by hand. Both only add ledger rows."""

from __future__ import annotations

from vcsync.check import open_project
from vcsync.config import Config
from vcsync.deploy.migrate import environment_targets, origin_of
from vcsync.deploy.plan import from_state, load_deployables
from vcsync.deploy.session import Session, StepResult, TargetResult
from vcsync.errors import VcsyncError
from vcsync.migrations.versions import version_from_user

RESOLUTIONS = {"applied": "applied", "pending": "rolled_back"}


def baseline(
    config: Config, environment: str, version: str, *, lock_timeout: float = 60.0
) -> list[TargetResult]:
    project = open_project(config)
    limit = version_from_user(version)
    adopted = [
        d
        for d in load_deployables(project)
        if d.migration.version is not None and d.migration.version.key <= limit.key
    ]
    origin = origin_of(project)
    results = []
    for target in environment_targets(config, environment):
        with Session(
            config,
            target,
            "baseline",
            origin,
            lock_timeout=lock_timeout,
            reason=f"baseline at {version}",
        ) as session:
            if any(s.applied for s in session.states().values()):
                results.append(
                    session.finish(
                        error=(
                            f"{environment} already has applied migrations; a baseline adopts a "
                            "database only once (see `vcsync status`)."
                        )
                    )
                )
                continue
            for item in adopted:
                session.record(session.event(item, "baselined"))
                session.steps.append(
                    StepResult(item.version, item.migration.description, "baselined", 0)
                )
            results.append(session.finish())
    return results


def repair(
    config: Config,
    environment: str,
    resolution: str,
    *,
    reason: str | None = None,
    lock_timeout: float = 60.0,
) -> list[TargetResult]:
    """`applied`: the failed migration's changes are in the database now; `pending`: not."""
    if resolution not in RESOLUTIONS:
        raise VcsyncError(f"--resolution must be one of {', '.join(RESOLUTIONS)}.")
    project = open_project(config)
    in_git = {d.version_sort: d for d in load_deployables(project)}
    origin = origin_of(project)
    results = []
    for target in environment_targets(config, environment):
        with Session(
            config,
            target,
            "repair",
            origin,
            lock_timeout=lock_timeout,
            reason=reason or f"resolved by hand: {resolution}",
        ) as session:
            for state in session.states().values():
                if state.status not in ("failed", "rollback_failed"):
                    continue
                item = in_git.get(state.version_sort) or from_state(state)
                status = RESOLUTIONS[resolution]
                session.record(session.event(item, status))
                session.steps.append(
                    StepResult(
                        item.version, item.migration.description, f"repaired: {resolution}", 0
                    )
                )
            results.append(session.finish())
    return results
