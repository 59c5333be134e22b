"""`vcsync baseline` adopts an existing database; `vcsync repair` records how a failed
no-transaction migration was resolved by hand. Both only add ledger rows."""

from __future__ import annotations

from vcsync.config import Config
from vcsync.deploy.plan import Deployable, from_state, load_deployables
from vcsync.deploy.session import Session, StepResult, TargetResult
from vcsync.deploy.targets import run_everywhere
from vcsync.deploy.version_argument import resolve_version, versions_of
from vcsync.errors import VcsyncError
from vcsync.project import open_project

RESOLUTIONS = {"applied": "applied", "pending": "rolled_back"}


def _record(session: Session, item: Deployable, status: str, action: str) -> None:
    session.record(session.event(item, status))
    session.steps.append(StepResult(item.version, item.migration.description, action, 0))


def baseline(
    config: Config, environment: str, version: str, *, lock_timeout: float = 60.0
) -> list[TargetResult]:
    project = open_project(config)
    deployables = load_deployables(project)
    limit = resolve_version(project, version, "--version", versions_of(deployables))
    adopted = [
        d
        for d in deployables
        if d.migration.version is not None and d.migration.version.key <= limit.key
    ]

    def adopt(session: Session) -> TargetResult:
        if any(s.applied for s in session.states().values()):
            return session.finish(
                error=f"{environment} already has applied migrations; a "
                "baseline adopts a database only once (see `vcsync status`)."
            )
        for item in adopted:
            _record(session, item, "baselined", "baselined")
        return session.finish()

    return run_everywhere(
        config,
        project,
        environment,
        "baseline",
        adopt,
        lock_timeout=lock_timeout,
        reason=f"baseline at {version}",
    )


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
    in_git = {d.version_sort: d for d in load_deployables(project, refuse_unplaced=False)}

    def resolve(session: Session) -> TargetResult:
        for state in session.states().values():
            if state.status in ("failed", "rollback_failed", "running"):
                item = in_git.get(state.version_sort) or from_state(state)
                _record(session, item, RESOLUTIONS[resolution], f"repaired: {resolution}")
        return session.finish()

    return run_everywhere(
        config,
        project,
        environment,
        "repair",
        resolve,
        lock_timeout=lock_timeout,
        reason=reason or f"resolved by hand: {resolution}",
    )
