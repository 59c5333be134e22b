"""`vcsync migrate`: apply what Git has and the database does not, in version order."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

from vcsync.config import Config
from vcsync.db.urls import Target
from vcsync.deploy.gates import Gate, earlier_environment, migrate_gate, preflight
from vcsync.deploy.plan import Deployable, check_history, load_deployables, pending
from vcsync.deploy.session import Progress, Session, StepFailed, TargetResult
from vcsync.deploy.targets import Fleet, run_everywhere
from vcsync.deploy.version_argument import resolve_version, versions_of
from vcsync.errors import OperationFailed, VcsyncError
from vcsync.ledger.reader import MigrationState
from vcsync.migrations.versions import Version
from vcsync.project import open_project


def migrate(
    config: Config,
    environment: str,
    *,
    to: str | Version | None = None,
    dry_run: bool = False,
    lock_timeout: float = 60.0,
    progress: Progress | None = None,
    skip_promotion: bool = False,
    reason: str | None = None,
    release: str | None = None,
    fleet: Fleet | None = None,
    on_result: Callable[[TargetResult], None] | None = None,
    on_start: Callable[[list[Target]], None] | None = None,
) -> list[TargetResult]:
    """Apply what the work tree holds (or, with `release`, what that release tag holds)
    and `environment` has not applied, once the gates of DESIGN §10 let it."""
    if reason is not None and not reason.strip():
        raise VcsyncError("--reason must say why (it is recorded in the deployment log).")
    if skip_promotion and reason is None:
        raise VcsyncError(
            "--skip-promotion needs --reason TEXT saying why (it is recorded in the "
            "deployment log)."
        )
    config.environment(environment)  # an unknown environment is a usage error, first
    project = open_project(config)
    origin = None
    if release is not None:
        from vcsync.deploy.from_release import release_limit, release_source

        source, origin = release_source(project, release)
        deployables = load_deployables(project, source=source)
        limit = None if to is None else release_limit(project, release, to, deployables)
    else:
        deployables = load_deployables(project)
        # a Version was resolved by the caller already (diff): resolving its text again could
        # meet a release tag of the same spelling
        limit = (
            to
            if to is None or isinstance(to, Version)
            else resolve_version(project, to, "--to", versions_of(deployables))
        )
    gate = migrate_gate(
        config,
        project,
        environment,
        skip_promotion=skip_promotion,
        from_release=release is not None,
    )
    if gate is not None:
        preflight(gate, config, environment, deployables, limit)
    notes = []
    if skip_promotion and earlier_environment(config, environment) is not None:
        notes.append(f"the promotion check was skipped (--skip-promotion): {reason}")
    return run_everywhere(
        config,
        project,
        environment,
        "migrate",
        lambda session: _migrate(session, deployables, limit, gate, notes),
        lock_timeout=lock_timeout,
        dry_run=dry_run,
        reason=reason,
        progress=progress,
        origin=origin,
        fleet=fleet,
        on_result=on_result,
        on_start=on_start,
    )


def _migrate(
    session: Session,
    deployables: list[Deployable],
    to: Version | None,
    gate: Gate | None = None,
    notes: Sequence[str] = (),
) -> TargetResult:
    env = session.target.environment
    session.warnings.extend(notes)
    if session.origin.dirty:
        session.warnings.append(
            "the migration folders have uncommitted changes, and this run uses the work tree "
            "as it is (recorded as dirty); commit them, or deploy a release with --release TAG."
        )
    states = session.states()
    try:
        refuse_partial(states.values(), env)
        check_history(deployables, states, env)
        plan = pending(deployables, states, to, env)
        if gate is not None:
            gate.check(plan)  # again, under the lock: a target may have moved since
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


def refuse_partial(states: Iterable[MigrationState], env: str) -> None:
    """A script that ran outside a transaction and stopped half-way (killed, or failed after
    some of its statements committed) left the database in a state no one recorded: running
    it, or its rollback, again would repeat what committed. A person decides, then `repair`
    records it."""
    for state in states:
        if state.status == "running":
            raise OperationFailed(interrupted_message(state, env))
        if (
            state.status in ("failed", "rollback_failed")
            and state.no_transaction
            and (state.statements_committed or 0)
        ):
            what = "the rollback of " if state.status == "rollback_failed" else ""
            raise OperationFailed(
                f"{what}migration {state.version} failed in {env} at statement "
                f"{state.failed_statement_index} without a transaction, after "
                f"{_statements(state.statements_committed)} committed; finish or undo that by "
                f"hand, then run `vcsync repair --env {env} --resolution applied` (or "
                "`--resolution pending` if nothing of it is left)."
            )


def interrupted_message(state: MigrationState, env: str) -> str:
    """Why nothing runs while a script outside a transaction was cut off half-way."""
    what = "rollback of " if state.progress_operation == "rollback" else ""
    return (
        f"the {what}migration {state.version} was interrupted in {env} while it ran without a "
        f"transaction, after {_statements(state.statements_committed)} of "
        f"{state.statement_count} committed; finish or undo it by hand, then run "
        f"`vcsync repair --env {env} --resolution applied` (or `--resolution pending` if "
        "nothing of it is left)."
    )


def _statements(count: int | None) -> str:
    count = count or 0
    return f"{count} statement{'s' if count != 1 else ''}"


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
    if failure.outside and failure.committed:
        return (
            f"{item.version} ran without a transaction and {_statements(failure.committed)} "
            f"of it committed: finish or undo that by hand, then run `vcsync repair --env {env} "
            "--resolution applied` (or `--resolution pending` to run it again)."
        )
    undone = (
        "it ran without a transaction, and none of its statements committed"
        if failure.outside
        else "its transaction was rolled back"
    )
    return (
        f"nothing of {item.version} was applied ({undone}): fix "
        f"{item.migration.up.path} and run `vcsync migrate --env {env}` again."
    )
