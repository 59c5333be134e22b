"""`vcsync baseline` adopts an existing database (up to a version, or `--from` the history
another tool left there); `vcsync repair` records how a failed no-transaction migration was
resolved by hand. All of them only add ledger rows."""

from __future__ import annotations

from vcsync.config import Config
from vcsync.db import connect
from vcsync.db.urls import SQLITE, Target
from vcsync.deploy.foreign_history import Adoption, Refused, match, read_history
from vcsync.deploy.plan import Deployable, from_state, load_deployables
from vcsync.deploy.session import Session, StepResult, TargetResult
from vcsync.deploy.targets import environment_targets, origin_of, run_everywhere
from vcsync.deploy.version_argument import resolve_version, versions_of
from vcsync.errors import OperationFailed, VcsyncError
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


def baseline_from(
    config: Config, environment: str, tool: str, *, lock_timeout: float = 60.0
) -> list[TargetResult]:
    """Adopt each target from the history `tool` left in it (DESIGN §9): every migration it
    applied, matched to Git, is recorded `baselined` in a run whose operation names the tool
    and whose reason holds each one's original applied-at time. The other tool's table is
    only read. A target whose history cannot be adopted (a failed or dirty entry, a version
    Git lacks, an ambiguous match) gets nothing recorded, not even a run: it is read before
    the run opens, and read again under the lock."""
    project = open_project(config)
    deployables = load_deployables(project)
    origin = origin_of(project)
    results = []
    for target in environment_targets(config, environment):
        try:
            adoption = _adoption(target, tool, deployables)
        except OperationFailed as exc:  # refused, or unreachable: this target only
            results.append(_refused(target, f"{exc} Nothing was recorded."))
            continue
        with Session(
            config,
            target,
            f"baseline from {tool}",
            origin,
            lock_timeout=lock_timeout,
            reason=adoption.reason(),
        ) as session:
            result = _adopt(session, environment, tool, deployables, adoption)
        results.append(result._replace(operation="baseline"))
    return results


def _adoption(target: Target, tool: str, deployables: list[Deployable]) -> Adoption:
    if target.kind == SQLITE and target.path is not None and not target.path.exists():
        raise Refused(f"{target.display} does not exist: there is nothing to adopt.")
    conn = connect(target, holder=f"vcsync baseline --from {tool}", create=False)
    try:
        return match(read_history(conn, tool), deployables)
    finally:
        conn.close()


def _adopt(
    session: Session,
    environment: str,
    tool: str,
    deployables: list[Deployable],
    adoption: Adoption,
) -> TargetResult:
    if any(s.applied for s in session.states().values()):
        return session.finish(
            error=f"{environment} already has applied migrations; a "
            "baseline adopts a database only once (see `vcsync status`)."
        )
    try:  # under the lock now: the history must still say what it said
        again = match(read_history(session.conn, tool), deployables)
    except Refused as exc:
        return session.finish(error=f"{exc} No migration was adopted.")
    if again != adoption:
        return session.finish(
            error=f"the {tool} history changed while vcsync read it; no migration was "
            "adopted: run the baseline again."
        )
    for item, _ in adoption.items:
        _record(session, item, "baselined", "baselined")
    return session.finish()


def _refused(target: Target, error: str) -> TargetResult:
    """A target refused before its run opened: nothing of it is in the ledger."""
    return TargetResult(
        target.environment, target.display, "baseline", "", "failed", [], error, None, [], False
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
