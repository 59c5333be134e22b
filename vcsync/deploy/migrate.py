"""`vcsync migrate`: apply what Git has and the database does not, in version order."""

from __future__ import annotations

from vcsync.check import open_project
from vcsync.config import Config
from vcsync.deploy.plan import Deployable, check_history, load_deployables, pending
from vcsync.deploy.session import Progress, Session, StepFailed, TargetResult
from vcsync.deploy.targets import run_everywhere
from vcsync.errors import OperationFailed
from vcsync.ledger.reader import MigrationState
from vcsync.migrations.versions import Version, version_from_user


def migrate(
    config: Config,
    environment: str,
    *,
    to: str | None = None,
    dry_run: bool = False,
    lock_timeout: float = 60.0,
    progress: Progress | None = None,
) -> list[TargetResult]:
    project = open_project(config)
    deployables = load_deployables(project)
    limit = version_from_user(to) if to else None
    return run_everywhere(
        config,
        project,
        environment,
        "migrate",
        lambda session: _migrate(session, deployables, limit),
        lock_timeout=lock_timeout,
        dry_run=dry_run,
        progress=progress,
    )


def _migrate(session: Session, deployables: list[Deployable], to: Version | None) -> TargetResult:
    env = session.target.environment
    states = session.states()
    try:
        _refuse_partial(states, env)
        check_history(deployables, states, env)
        plan = pending(deployables, states, to, env)
    except OperationFailed as exc:
        return session.finish(error=str(exc))
    try:
        session.apply(plan)
    except StepFailed as failure:
        item = failure.item
        assert item is not None
        return session.finish(
            error=f"migration {item.version} failed: {failure.message}",
            recovery=_recovery(item, failure, env, session.dry_run),
        )
    return session.finish()


def _refuse_partial(states: dict[str, MigrationState], env: str) -> None:
    for state in states.values():
        if state.status == "failed" and state.no_transaction and state.failed_statement_index:
            raise OperationFailed(
                f"migration {state.version} failed in {env} at statement "
                f"{state.failed_statement_index} without a transaction, so part of it may be "
                f"applied; fix the database by hand, then run `vcsync repair --env {env} "
                "--resolution applied` (or `--resolution pending` to run it again)."
            )


def _recovery(item: Deployable, failure: StepFailed, env: str, dry_run: bool) -> str:
    if dry_run:
        return (
            f"fix {item.migration.up.path}, then run `vcsync migrate --env {env} --dry-run` again."
        )
    if failure.index == 0:
        return (
            f"nothing of {item.version} ran (its script does not parse): fix "
            f"{item.migration.up.path} and run `vcsync migrate --env {env}` again."
        )
    if item.no_transaction:
        applied = failure.index - 1
        done = {0: "no statement", 1: "statement 1"}.get(applied, f"statements 1-{applied}")
        return (
            f"{item.version} ran without a transaction and {done} of it applied: finish or "
            f"undo that by hand, then run `vcsync repair --env {env} --resolution applied` "
            "(or `--resolution pending` to run it again)."
        )
    return (
        f"nothing of {item.version} was applied (its transaction was rolled back): fix "
        f"{item.migration.up.path} and run `vcsync migrate --env {env}` again."
    )
