"""`vcsync rollback`: undo applied migrations newest first, with the rollback text that
was recorded when each was deployed (Git's copy may have changed since)."""

from __future__ import annotations

from collections.abc import Callable

from vcsync.config import Config
from vcsync.db.urls import Target
from vcsync.deploy.migrate import refuse_partial
from vcsync.deploy.plan import Deployable, from_state, load_deployables, sort_key
from vcsync.deploy.session import Progress, Session, StepFailed, StepResult, TargetResult
from vcsync.deploy.targets import Fleet, run_everywhere
from vcsync.deploy.version_argument import resolve_version, versions_of
from vcsync.errors import OperationFailed, VcsyncError
from vcsync.ledger.reader import MigrationState
from vcsync.migrations.checksum import checksum_text
from vcsync.migrations.directives import read_directives
from vcsync.project import open_project
from vcsync.sql.comments import is_blank_sql


def rollback(
    config: Config,
    environment: str,
    *,
    reason: str,
    to: str | None = None,
    steps: int | None = None,
    dry_run: bool = False,
    allow_irreversible: bool = False,
    lock_timeout: float = 60.0,
    progress: Progress | None = None,
    fleet: Fleet | None = None,
    on_result: Callable[[TargetResult], None] | None = None,
    on_start: Callable[[list[Target]], None] | None = None,
) -> list[TargetResult]:
    if (to is None) == (steps is None):
        raise VcsyncError("say how far to roll back: --to VERSION or --steps N (one of them).")
    if not reason.strip():
        raise VcsyncError("--reason must say why (it is recorded in the ledger).")
    project = open_project(config)
    deployables = load_deployables(project)
    in_git = {d.version_sort: d for d in deployables}
    floor = (
        sort_key(resolve_version(project, to, "--to", versions_of(deployables), zero=True), "")
        if to is not None
        else None
    )
    return run_everywhere(
        config,
        project,
        environment,
        "rollback",
        lambda session: _rollback(session, in_git, floor, steps, allow_irreversible),
        lock_timeout=lock_timeout,
        dry_run=dry_run,
        reason=reason,
        progress=progress,
        fleet=fleet,
        on_result=on_result,
        on_start=on_start,
    )


def _rollback(
    session: Session,
    in_git: dict[str, Deployable],
    floor: str | None,
    steps: int | None,
    allow_irreversible: bool,
) -> TargetResult:
    env = session.target.environment
    states = session.states()
    applied = sorted(
        (s for k, s in states.items() if s.applied and not k.startswith("~")),
        key=lambda s: s.version_sort,
        reverse=True,
    )
    chosen = (
        applied[:steps]
        if steps is not None
        else [s for s in applied if s.version_sort > (floor or "")]
    )
    try:
        refuse_partial(states.values(), env)
        for state in chosen:
            if state.status == "baselined":
                raise OperationFailed(
                    f"{state.version} was baselined, not deployed by vcsync, so "
                    "no rollback text was recorded for it."
                )
            if _irreversible(state) and not allow_irreversible:
                why = read_directives(state.down_script or "").irreversible
                raise OperationFailed(
                    f"{state.version} has no rollback"
                    + (f" (irreversible: {why})" if why else " (its rollback is empty)")
                    + "; roll back to a version above it, or pass --allow-irreversible to "
                    "record it as rolled back with nothing undone."
                )
    except OperationFailed as exc:
        return session.finish(error=str(exc))
    for state in chosen:
        item = from_state(state)
        if _irreversible(state):
            _record_nothing_undone(session, item)
            continue
        git = in_git.get(state.version_sort)
        if (
            git
            and git.down_text is not None
            and checksum_text(git.down_text) != checksum_text(state.down_script or "")
        ):
            session.warnings.append(
                f"the rollback of {state.version} in Git differs from the one "
                "recorded at deploy time; the recorded one ran."
            )
        try:
            step = session.run_step(
                item,
                state.down_script or "",
                no_transaction=item.down_no_transaction,
                done="rolled_back",
                failed="rollback_failed",
                action="rolled back",
            )
        except StepFailed as failure:
            return session.finish(
                error=f"the rollback of {state.version} failed: {failure.message}",
                recovery=_recovery(state.version, failure, env, session.dry_run),
            )
        if step.action == "not executed":
            break  # a dry run cannot go past a down that must run outside it
    return session.finish()


def _irreversible(state: MigrationState) -> bool:
    return not state.down_script or is_blank_sql(state.down_script)


def _record_nothing_undone(session: Session, item: Deployable) -> None:
    """--allow-irreversible: the step is recorded as rolled back, and says nothing ran."""
    session.record(session.event(item, "rolled_back", duration_ms=0))
    session.note(
        StepResult(
            item.version,
            item.migration.description,
            "rolled back",
            0,
            "nothing undone: its rollback is empty or irreversible (--allow-irreversible)",
        )
    )


def _recovery(version: str, failure: StepFailed, env: str, dry_run: bool) -> str:
    again = f'`vcsync rollback --env {env} --steps 1 --reason "…"`'
    if dry_run:
        dry = again.replace("--reason", "--dry-run --reason")
        return f"fix the rollback of {version}, then run {dry} again."
    if failure.outside and failure.committed:
        return (
            f"{version} is still applied, but its rollback ran without a transaction and "
            f"{failure.committed} of its statements committed: finish or undo that by hand, then "
            f"run `vcsync repair --env {env} --resolution pending` (rolled back) or "
            f"`--resolution applied`."
        )
    return (
        f"{version} is still applied (nothing of its rollback was kept); fix the database or "
        f"the recorded rollback, then run {again} to retry it."
    )
