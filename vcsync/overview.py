"""One picture of every environment and target, for `vcsync report` and `vcsync metrics`.

Built only from the readers below it: the migration states and deployment log
(ledger/reader.py), recorded releases (release.py), the hash-chain audit (ledger/audit.py,
against the head `refs/deployments/<env>` anchors), drift (the newest recorded snapshot
against the live schema) and the cells and promotion gaps `vcsync status` shows
(deploy/report.py). Each target is read over one connection, summarised, and closed
before the next one is opened: a fleet's snapshots are never held at once.

Everything here comes from databases and is data: the renderers escape it. Targets are
named by `Target.display`, which holds no password.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

from vcsync import __version__
from vcsync.config import Config
from vcsync.db import Connection, connect
from vcsync.db.urls import SQLITE, Target
from vcsync.deploy import report
from vcsync.deploy.plan import Deployable, load_deployables
from vcsync.deploy.refs import anchored_heads
from vcsync.deploy.targets import Unresolved, readable_targets
from vcsync.errors import OperationFailed
from vcsync.ledger.audit import anchor_problems, broken_links
from vcsync.ledger.chain import ledger_key
from vcsync.ledger.reader import MigrationState, deployments, migration_states, unfinished_runs
from vcsync.ledger.writer import Deployment
from vcsync.project import Project, open_project
from vcsync.release import ReleaseRecord, recorded_releases

RECENT = 10  # deployments shown per target
# ledger statuses a person has to act on (status `running`: a script outside a transaction
# was cut off half-way)
FAILING = ("failed", "rollback_failed", "running")


class Failure(NamedTuple):
    """A migration left failed, with what the ledger says and the command that recovers."""

    version: str
    description: str
    state: str  # as `vcsync status` words it: failed, rollback failed, interrupted
    when: datetime
    statement_index: int | None
    statement: str | None
    error: str | None
    recovery: str


class Check(NamedTuple):
    """The audit or the drift check of one target: `ok` None when it could not be made."""

    ok: bool | None
    problems: list[str]
    note: str | None = None


class TargetOverview(NamedTuple):
    environment: str
    target: str  # Target.display: no secret
    error: str | None  # unreachable: the reason
    deploying: str | None  # who holds the deploy lock now
    schema_version: str | None  # highest applied versioned migration
    cells: dict[str, str]  # version_sort -> state as `vcsync status` words it
    pending: int
    failed: int
    deployments: list[Deployment]  # newest first, at most RECENT
    failures: list[Failure]
    releases: list[ReleaseRecord]  # oldest first
    audit: Check
    drift: Check

    @property
    def reachable(self) -> bool:
        return self.error is None

    @property
    def last_deployment(self) -> Deployment | None:
        """The newest migrate, rollback, baseline or repair that was not a dry run."""
        return next(
            (d for d in self.deployments if not d.dry_run and d.operation != "release"), None
        )


class EnvironmentOverview(NamedTuple):
    name: str
    targets: list[TargetOverview]

    @property
    def fleet(self) -> bool:
        return len(self.targets) > 1


class MigrationRow(NamedTuple):
    key: str  # version_sort
    version: str
    description: str
    in_git: bool


class Overview(NamedTuple):
    project: str
    generated_at: datetime
    vcsync_version: str
    migrations: list[MigrationRow]  # oldest first: every one Git or any ledger knows
    environments: list[EnvironmentOverview]
    promotions: list[str]  # "staging is 3 migrations … ahead of production: …"

    @property
    def targets(self) -> Iterator[TargetOverview]:
        for env in self.environments:
            yield from env.targets

    @property
    def unreachable(self) -> list[TargetOverview]:
        return [t for t in self.targets if not t.reachable]


def build_overview(config: Config, environments: list[str] | None = None) -> Overview:
    """Every named environment (all, by default), each target read once."""
    names = list(environments or config.environments)
    for name in names:
        config.environment(name)  # an unknown name is a configuration error (exit 2)
    project = open_project(config)
    in_git = {d.version_sort: d for d in load_deployables(project, refuse_unplaced=False)}
    envs: list[EnvironmentOverview] = []
    columns: list[report.Column] = []
    per_column: list[dict[str, MigrationState] | None] = []
    known: dict[str, MigrationState] = {}
    for name in names:
        env = EnvironmentOverview(name, [])
        for summary, states in _each_target(config, project, name, in_git):
            env.targets.append(summary)
            columns.append(report.Column(name, summary.target, summary.error, summary.deploying))
            per_column.append(states)
            for key, state in (states or {}).items():
                known.setdefault(key, state)
        envs.append(env)
    rows = [
        MigrationRow(
            key,
            in_git[key].version if key in in_git else known[key].version,
            in_git[key].migration.description if key in in_git else known[key].description,
            key in in_git,
        )
        for key in sorted(set(in_git) | set(known))
    ]
    # every target's cells hold a state for every row: pending where its ledger has none
    for env in envs:
        for target in env.targets:
            for row in rows:
                target.cells.setdefault(
                    row.key, "unreachable" if target.error is not None else "pending"
                )
    return Overview(
        config.root.name,
        datetime.now(UTC),
        __version__,
        rows,
        envs,
        report.promotion_gaps(columns, per_column),
    )


def _each_target(
    config: Config, project: Project, environment: str, in_git: dict[str, Deployable]
) -> Iterator[tuple[TargetOverview, dict[str, MigrationState] | None]]:
    """One summary per target, in config order; the states are kept for the matrix."""
    targets = readable_targets(config, environment)
    if isinstance(targets, Unresolved):
        yield _unreachable(environment, targets.name, targets.reason), None
        return
    anchors = anchored_heads(project.repo, environment)
    for target in targets:
        try:
            yield _read_target(config, target, in_git, anchors.get(target.display))
        except OperationFailed as exc:
            yield _unreachable(environment, target.display, str(exc)), None


def _unreachable(environment: str, target: str, reason: str) -> TargetOverview:
    unknown = Check(None, [], "not checked: the database could not be reached")
    return TargetOverview(
        environment, target, reason, None, None, {}, 0, 0, [], [], [], unknown, unknown
    )


def _read_target(
    config: Config,
    target: Target,
    in_git: dict[str, Deployable],
    anchored: tuple[int, str] | None,
) -> tuple[TargetOverview, dict[str, MigrationState]]:
    env = target.environment
    if target.kind == SQLITE and target.path is not None and not target.path.exists():
        nothing = Check(True, [], "nothing deployed yet")
        if anchored is not None:
            nothing = Check(
                False,
                [f"the database is gone, but refs/deployments/{env} anchors its ledger"],
            )
        summary = TargetOverview(
            env, target.display, None, None, None, {}, len(in_git), 0, [], [], [], nothing,
            Check(True, [], "nothing deployed yet"),
        )  # fmt: skip
        return summary, {}
    conn = connect(target, holder="vcsync report", create=False)
    try:
        schema = target.ledger_schema(config.ledger_schema)
        states = migration_states(conn, schema)
        holder = conn.lock_holder(schema)
        runs = deployments(conn, schema, RECENT)
        if holder is None:  # no run is alive: one without an end died (as `history` says)
            runs = [
                r._replace(outcome="interrupted") if r.outcome == "running" else r for r in runs
            ]
        releases = recorded_releases(conn, schema)
        audit = _audit(conn, schema, anchored, env)
        drift = _drift(conn, schema, env, holder)
    finally:
        conn.close()
    cells = {
        key: report.state_cell(
            in_git[key].checksum if key in in_git else None,
            key in in_git,
            states.get(key),
            False,
        )
        for key in set(in_git) | set(states)
    }
    applied = [s for k, s in sorted(states.items()) if s.applied and k[:1] != "~"]
    summary = TargetOverview(
        env,
        target.display,
        None,
        holder,
        applied[-1].version if applied else None,
        cells,
        sum(1 for key in in_git if not (key in states and states[key].applied)),
        sum(1 for s in states.values() if s.status in FAILING),
        runs,
        [_failure(state, env) for _, state in sorted(states.items()) if state.status in FAILING],
        releases,
        audit,
        drift,
    )
    return summary, states


def _audit(conn: Connection, schema: str, anchored: tuple[int, str] | None, env: str) -> Check:
    problems = broken_links(conn, schema, ledger_key())
    if anchored is not None:
        problems += anchor_problems(conn, schema, anchored, f"refs/deployments/{env}")
    note = None if anchored is not None else f"no head anchored in refs/deployments/{env}"
    return Check(not problems, problems, note)


def _drift(conn: Connection, schema: str, env: str, holder: str | None) -> Check:
    """The live schema against the snapshot the newest run recorded (as `verify --env`)."""
    from vcsync.ledger.reader import latest_snapshot
    from vcsync.snapshot import describe_change, diff_snapshots, take_snapshot

    if holder is not None:
        return Check(None, [], f"not checked: a deployment is running ({holder})")
    unsealed = [run for run in unfinished_runs(conn, schema) if run.migrations]
    if unsealed:
        run = unsealed[-1]
        return Check(
            None,
            [],
            f"not checked: the {run.operation} of {run.started_at:%Y-%m-%d %H:%M} was "
            f"interrupted, so no schema was recorded after it; run `vcsync migrate --env {env}`",
        )
    try:
        recorded = latest_snapshot(conn, schema)
    except ValueError:
        return Check(False, ["the newest schema snapshot is not the JSON vcsync wrote"])
    if recorded is None:
        return Check(None, [], "not checked: no schema snapshot recorded yet")
    deployment, snapshot = recorded
    changes = [describe_change(c) for c in diff_snapshots(snapshot, take_snapshot(conn, schema))]
    return Check(not changes, changes, f"against the schema recorded by {deployment[:12]}")


def recovery(state: MigrationState, env: str) -> str:
    """The command that recovers a failed migration, as docs/deployments.md tells it."""
    from vcsync.deploy.migrate import interrupted_message

    if state.status == "running":
        return interrupted_message(state, env)
    partial = state.no_transaction and (state.statements_committed or 0)
    if state.status == "rollback_failed":
        if partial:
            return (
                f"its rollback ran without a transaction and {state.statements_committed} of its "
                f"statements committed: finish or undo that by hand, then run `vcsync repair "
                f"--env {env} --resolution pending` (rolled back) or `--resolution applied`."
            )
        return (
            f"{state.version} is still applied; fix the database or the recorded rollback, then "
            f'run `vcsync rollback --env {env} --steps 1 --reason "…"` to retry it.'
        )
    if partial:
        return (
            f"{state.statements_committed} of its statements committed without a transaction: "
            f"finish or undo that by hand, then run `vcsync repair --env {env} --resolution "
            "applied` (or `--resolution pending` to run it again)."
        )
    return f"nothing of it was applied: fix the script, then run `vcsync migrate --env {env}`."


def _failure(state: MigrationState, env: str) -> Failure:
    return Failure(
        state.version,
        state.description,
        report.CELL.get(state.status, state.status),
        state.changed_at,
        state.failed_statement_index,
        state.failed_statement,
        state.error,
        recovery(state, env),
    )


# -- as data -------------------------------------------------------------------------------


def _iso(moment: datetime | None) -> str | None:
    return moment.astimezone(UTC).isoformat() if moment else None


def ended_at(run: Deployment) -> datetime:
    return run.started_at + timedelta(milliseconds=run.duration_ms or 0)


def deployment_data(run: Deployment) -> dict[str, Any]:
    return {
        "deployment_id": run.deployment_id,
        "operation": run.operation,
        "outcome": run.outcome,
        "dry_run": run.dry_run,
        "operator": run.operator,
        "host": run.host,
        "commit_sha": run.commit_sha,
        "ref": run.ref,
        "tag": run.tag,
        "started_at": _iso(run.started_at),
        "ended_at": _iso(ended_at(run)),
        "duration_ms": run.duration_ms,
        "migrations": [m for m in (run.migrations or "").split(",") if m],
        "reason": run.reason,
        "error": run.error,
        "vcsync_version": run.vcsync_version,
    }


def overview_data(overview: Overview) -> dict[str, Any]:
    """The overview as JSON-ready data: what `vcsync report --format json` prints."""
    return {
        "project": overview.project,
        "generated_at": _iso(overview.generated_at),
        "vcsync_version": overview.vcsync_version,
        "migrations": [
            {"version": m.version, "description": m.description, "in_git": m.in_git}
            for m in overview.migrations
        ],
        "promotions": overview.promotions,
        "environments": [
            {
                "name": env.name,
                "targets": [_target_data(t, overview.migrations) for t in env.targets],
            }
            for env in overview.environments
        ],
    }


def _target_data(t: TargetOverview, rows: list[MigrationRow]) -> dict[str, Any]:
    return {
        "target": t.target,
        "reachable": t.reachable,
        "error": t.error,
        "deploying": t.deploying,
        "schema_version": t.schema_version,
        "pending": t.pending,
        "failed": t.failed,
        "states": {row.version: t.cells[row.key] for row in rows},
        "deployments": [deployment_data(d) for d in t.deployments],
        "failures": [
            {**f._asdict(), "when": _iso(f.when), "statement_index": f.statement_index}
            for f in t.failures
        ],
        "releases": [
            {
                "tag": r.tag,
                "commit_sha": r.commit_sha,
                "schema_version": r.schema_version,
                "manifest_hash": r.manifest_hash,
                "recorded_at": _iso(r.load_dts),
            }
            for r in t.releases
        ],
        "audit": t.audit._asdict(),
        "drift": t.drift._asdict(),
    }
