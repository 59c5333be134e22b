"""`vcsync status` (migrations x environments) and `vcsync history` (deployments, newest first).

Both only read: they take no lock and never create a database or a ledger. A target they
cannot reach (a refused connection, an unset `env:` variable) is reported with its reason
beside every target they could read (DESIGN §4).
"""

from __future__ import annotations

import itertools
from typing import NamedTuple

from vcsync.config import Config
from vcsync.db import connect
from vcsync.db.urls import SQLITE, Target
from vcsync.deploy.plan import load_deployables
from vcsync.deploy.session import target_name
from vcsync.deploy.targets import (
    Shard,
    Unresolved,
    is_fleet,
    map_targets,
    readable_targets,
)
from vcsync.errors import OperationFailed
from vcsync.ledger.reader import MigrationState, deployments, migration_states
from vcsync.ledger.writer import Deployment
from vcsync.project import open_project

CELL = {
    "applied": "applied",
    "baselined": "baselined",
    "failed": "failed",
    "rolled_back": "rolled back",
    "rollback_failed": "rollback failed",
    "running": "interrupted",  # a script outside a transaction cut off half-way
}


class Column(NamedTuple):
    environment: str
    target: str
    error: str | None  # unreachable: the reason
    deploying: str | None = None  # who holds the deploy lock now (host, pid, commit)


class TargetHistory(NamedTuple):
    target: str
    deployments: list[Deployment]
    error: str | None = None  # unreachable: the reason


class StatusRow(NamedTuple):
    version: str
    description: str
    cells: list[str]  # one per column


class Status(NamedTuple):
    columns: list[Column]
    rows: list[StatusRow]
    promotions: list[str]  # "staging is 2 migrations ahead of production: …"
    # fleets whose columns name their target even when one shows (a shard of the fleet)
    fleets: frozenset[str] = frozenset()


def read_states(config: Config, target: Target) -> dict[str, MigrationState]:
    return _read(config, target)[0]


def _read(config: Config, target: Target) -> tuple[dict[str, MigrationState], str | None]:
    """The ledger's states and who holds the deploy lock right now."""
    if target.kind == SQLITE and target.path is not None and not target.path.exists():
        return {}, None  # nothing deployed there yet: everything is pending
    conn = connect(target, holder="vcsync status", create=False)
    try:
        schema = target.ledger_schema(config.ledger_schema)
        return migration_states(conn, schema), conn.lock_holder(schema)
    finally:
        conn.close()


def status(
    config: Config, environments: list[str], *, parallel: int = 1, shard: Shard | None = None
) -> Status:
    """Every target of the environments (only this shard's), read `parallel` at once; the
    columns stay in config order whatever finishes first. An environment whose targets
    cannot be named keeps its column in every shard: no shard can tell whose it is."""
    names = environments or list(config.environments)
    project = open_project(config)
    in_git = {d.version_sort: d for d in load_deployables(project, refuse_unplaced=False)}
    slots: list[tuple[str, Target | Unresolved]] = []
    for name in names:
        targets = readable_targets(config, name, shard)
        if isinstance(targets, Unresolved):
            slots.append((name, targets))
        else:
            slots += [(name, target) for target in targets]

    def column(
        slot: tuple[str, Target | Unresolved],
    ) -> tuple[Column, dict[str, MigrationState] | None]:
        name, target = slot
        if isinstance(target, Unresolved):
            return Column(name, target.name, target.reason), None
        try:
            states, holder = _read(config, target)
            return Column(name, target_name(target), None, holder), states
        except OperationFailed as exc:
            return Column(name, target_name(target), str(exc)), None

    read = map_targets(slots, column, parallel)
    columns = [c for c, _ in read]
    per_column = [states for _, states in read]
    keys = set(in_git)
    for known in per_column:
        keys.update(known or {})
    rows = []
    for key in sorted(keys):
        git = in_git.get(key)
        cells = [
            state_cell(
                git.checksum if git else None,
                git is not None,
                states.get(key) if states is not None else None,
                states is None,
            )
            for states in per_column
        ]
        first = next((s[key] for s in per_column if s and key in s), None)
        version = git.version if git else (first.version if first else key)
        description = git.migration.description if git else (first.description if first else "")
        rows.append(StatusRow(version, description, cells))
    fleets = frozenset(n for n in names if shard is not None and is_fleet(config, n))
    return Status(columns, rows, promotion_gaps(columns, per_column), fleets)


def state_cell(
    checksum: str | None, in_git: bool, state: MigrationState | None, unreachable: bool
) -> str:
    if unreachable:
        return "unreachable"
    if state is None:
        return "pending"
    cell = CELL.get(state.status, state.status)
    if not in_git and state.applied:
        return f"{cell}, not in Git"
    if state.applied and checksum is not None and state.checksum not in (None, checksum):
        return "drifted"
    return cell


def history(
    config: Config,
    environment: str,
    limit: int | None = None,
    *,
    parallel: int = 1,
    shard: Shard | None = None,
) -> list[TargetHistory]:
    """Each target's deployments (only this shard's targets), read `parallel` at once, in
    config order whatever finishes first."""
    targets = readable_targets(config, environment, shard)
    if isinstance(targets, Unresolved):
        return [TargetHistory(targets.name, [], targets.reason)]

    def one(target: Target) -> TargetHistory:
        try:
            return TargetHistory(target_name(target), _deployments(config, target, limit))
        except OperationFailed as exc:
            return TargetHistory(target_name(target), [], str(exc))

    return map_targets(targets, one, parallel)


def _deployments(config: Config, target: Target, limit: int | None) -> list[Deployment]:
    if target.kind == SQLITE and target.path is not None and not target.path.exists():
        return []
    conn = connect(target, holder="vcsync history", create=False)
    try:
        schema = target.ledger_schema(config.ledger_schema)
        runs = deployments(conn, schema, limit)
        if conn.lock_holder(schema) is None:  # no run is alive: one without an end died
            runs = [
                run._replace(outcome="interrupted") if run.outcome == "running" else run
                for run in runs
            ]
        return runs
    finally:
        conn.close()


def promotion_gaps(
    columns: list[Column], per_column: list[dict[str, MigrationState] | None]
) -> list[str]:
    """Each environment against the next one in config order (dev -> staging -> production)."""
    lines = []
    for (ahead, states), (behind, others) in itertools.pairwise(
        zip(columns, per_column, strict=True)
    ):
        if states is None or others is None or ahead.environment == behind.environment:
            continue
        missing = [
            s
            for k, s in sorted(states.items())
            if s.applied and k[:1] != "~" and not (k in others and others[k].applied)
        ]
        if not missing:
            continue
        commits = list(dict.fromkeys((s.commit_sha or "uncommitted")[:7] for s in missing))
        listed = ", ".join(f"{s.version} ({(s.commit_sha or 'uncommitted')[:7]})" for s in missing)
        lines.append(
            f"{ahead.environment} is {len(missing)} migration{'s' if len(missing) != 1 else ''} "
            f"and {len(commits)} commit{'s' if len(commits) != 1 else ''} ahead of "
            f"{behind.environment}: {listed}"
        )
    return lines
