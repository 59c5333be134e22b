"""`vcsync verify`: the pull-request gate (DESIGN §6), composed from the pieces below it.

Rules over the whole tree (with VC004 and VC2xx against the base ref), release tags
against their commits, every named environment's ledger against Git, its live schema
against the snapshot it recorded, and with --roundtrip every new migration applied,
rolled back and applied again on a scratch database.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, NamedTuple

from vcsync.check import run_check
from vcsync.config import Config
from vcsync.db import Connection, DatabaseError, connect
from vcsync.db.urls import SQLITE, Target
from vcsync.deploy.plan import Deployable, load_deployables
from vcsync.deploy.refs import anchored_heads
from vcsync.deploy.session import target_name
from vcsync.deploy.targets import (
    Shard,
    Unresolved,
    fleet_targets,
    map_targets,
    readable_targets,
)
from vcsync.errors import GitError, OperationFailed
from vcsync.ledger.audit import anchor_problems, broken_links
from vcsync.ledger.chain import ledger_key
from vcsync.ledger.reader import (
    MigrationState,
    latest_snapshot,
    migration_states,
    unfinished_runs,
)
from vcsync.ledger.schema import missing_tables
from vcsync.project import Project, discover_in, open_project
from vcsync.roundtrip import roundtrip_findings
from vcsync.rules import Finding, finding_for
from vcsync.source import ref_source
from vcsync.sql.syntax import same_parse_tree

if TYPE_CHECKING:
    pass


class VerifyResult(NamedTuple):
    findings: list[Finding]
    files: list[str]
    notes: list[str]

    @property
    def failed(self) -> bool:
        return any(f.severity == "error" for f in self.findings)


_finding = finding_for


def verify(
    config: Config,
    environments: list[str],
    *,
    base_ref: str | None = None,
    roundtrip: bool = False,
    parallel: int = 1,
    shard: Shard | None = None,
) -> VerifyResult:
    """With `shard`, only that shard's targets are read; `parallel` of them at once, the
    findings and notes the same as one at a time."""
    from vcsync.rules import all_codes

    all_codes()  # the gate codes register themselves
    project = open_project(config)
    try:
        _require_base(project, base_ref)
        checked = run_check(config, base_ref=base_ref)
        findings, notes = list(checked.findings), list(checked.notes)
        deployables = load_deployables(project, refuse_unplaced=False)
        reached: list[str] = []
        for name in environments:
            unreachable = _environment_findings(
                config, project, name, deployables, notes, parallel, shard
            )
            findings += unreachable
            if not any(f.code == "VC403" for f in unreachable):
                reached.append(name)
        try:
            findings += _release_findings(project, reached, config, parallel, shard)
        except OperationFailed as exc:  # a connection lost since the ledger check
            findings.append(_finding("VC403", f"a ledger could not be read again: {exc}"))
        if roundtrip:
            base = base_ref or config.base_ref
            findings += roundtrip_findings(config, project, deployables, base, notes)
    finally:
        if project.repo is not None:
            project.repo.close()
    # `[tool.vcsync.severity]` governs the gate's own codes as it does the rules'
    judged = {f._replace(severity=config.severity_of(f.code, f.severity)) for f in findings}
    return VerifyResult(sorted(judged), checked.files, notes)


def _require_base(project: Project, explicit: str | None) -> None:
    """A missing base ref fails the gate (exit 2) where the gate must compare with it: when
    `--base` names it, or in a CI clone (`CI=true`, a remote configured). A repository with
    no remote, on a laptop, keeps the rule runner's note."""
    repo = project.repo
    if repo is None or not repo.has_commits():
        return
    ref = explicit or project.config.base_ref
    if repo.resolve(ref) is not None:
        return
    remotes = repo.run("remote").split()
    if explicit is None and not (os.environ.get("CI") == "true" and remotes):
        return
    hint = repo.fetch_hint(ref)
    raise GitError(f"base ref {ref} is not in this clone; {hint}.")


def _environment_findings(
    config: Config,
    project: Project,
    name: str,
    deployables: list[Deployable],
    notes: list[str],
    parallel: int = 1,
    shard: Shard | None = None,
) -> list[Finding]:
    """The ledger findings of every target of `name` it can reach, and a VC403 finding for
    each one it cannot (an unset `env:` variable included): one target never hides another.
    Targets are read `parallel` at once; Git is read here, once, or under a lock (one
    `git cat-file` process serves the repository), and each target's notes are kept apart
    so they come out in target order."""
    targets = readable_targets(config, name, shard)
    if isinstance(targets, Unresolved):
        return [_unreachable(name, targets.name, targets.reason)]
    anchored = anchored_heads(project.repo, name)
    git = threading.Lock()

    def one(target: Target) -> tuple[list[Finding], list[str]]:
        mine: list[str] = []
        try:
            found = _ledger_findings(config, project, target, deployables, mine, anchored, git)
        except DatabaseError as exc:  # reached, but its ledger does not answer as vcsync's
            found = [_tampered(name, f"its ledger could not be read: {exc}")]
        except OperationFailed as exc:
            found = [_unreachable(name, target_name(target), str(exc))]
        return found, mine

    found: list[Finding] = []
    for findings, mine in map_targets(targets, one, parallel):
        found += findings
        notes += mine
    return found


def _unreachable(env: str, where: str, reason: str) -> Finding:
    reason = reason.rstrip(".")
    return _finding(
        "VC403", f"{env} ({where}) could not be reached: {reason}; nothing there was checked."
    )


def _release_findings(
    project: Project,
    environments: list[str],
    config: Config,
    parallel: int = 1,
    shard: Shard | None = None,
) -> list[Finding]:
    from vcsync.release import manifest_at, recorded_releases, release_tags

    if project.repo is None or not project.repo.has_commits():
        return []
    found = []
    tags = release_tags(project)
    for tag in tags:
        actual = manifest_at(project, tag.name).hash
        if tag.manifest_hash is not None and actual != tag.manifest_hash:
            found.append(
                _finding(
                    "VC207",
                    f"release {tag.name} says manifest "
                    f"{tag.manifest_hash[:12]} but its commit {tag.commit[:12]} holds "
                    f"{actual[:12]}; the tag was moved or its migrations rewritten.",
                )
            )
    at = {t.name: t.commit for t in tags}

    def one(target: Target) -> list[Finding]:
        with _reading(target) as conn:
            schema = target.ledger_schema(config.ledger_schema)
            if conn is None or missing_tables(conn, schema):  # the ledger check says so
                return []
            return [
                _finding(
                    "VC208",
                    f"{target.environment} recorded release {record.tag} at "
                    f"{record.commit_sha[:12]}, but the tag points at {tagged[:12]}.",
                )
                for record in recorded_releases(conn, schema)
                if (tagged := at.get(record.tag)) is not None and tagged != record.commit_sha
            ]

    for name in environments:
        for each in map_targets(fleet_targets(config, name, shard), one, parallel):
            found += each
    return found


@contextmanager
def _reading(target: Target) -> Iterator[Connection | None]:
    """A read connection, or None where nothing was deployed yet (a missing SQLite file)."""
    if target.kind == SQLITE and target.path is not None and not target.path.exists():
        yield None
        return
    conn = connect(target, holder="vcsync verify", create=False)
    try:
        yield conn
    finally:
        conn.close()


def _ledger_findings(
    config: Config,
    project: Project,
    target: Target,
    deployables: list[Deployable],
    notes: list[str],
    heads: dict[str, tuple[int, str]],
    git: threading.Lock,
) -> list[Finding]:
    env, schema = target.environment, target.ledger_schema(config.ledger_schema)
    anchored = heads.get(target_name(target))
    with _reading(target) as conn:
        if conn is None:
            if anchored is None:
                return []
            return [
                _tampered(
                    env,
                    f"{target_name(target)} is gone, but refs/deployments/{env} "
                    f"anchors its ledger at link {anchored[0]}",
                )
            ]
        gone = missing_tables(conn, schema)
        if gone:  # nothing else can be read from a ledger with tables missing
            return [_tampered(env, f"the ledger table {table} is gone (dropped)") for table in gone]
        problems = broken_links(conn, schema, ledger_key())
        if anchored is not None:
            problems += anchor_problems(conn, schema, anchored, f"refs/deployments/{env}")
        found = [_tampered(env, problem) for problem in problems]
        found += _state_findings(
            project, conn, schema, env, deployables, notes, config.dialect, git
        )
        found += _drift_findings(conn, schema, env)
    return found


def _tampered(env: str, problem: str) -> Finding:
    return _finding("VC209", f"{env}: {problem}; the audit trail no longer proves what ran there.")


def _state_findings(
    project: Project,
    conn: Connection,
    schema: str,
    env: str,
    deployables: list[Deployable],
    notes: list[str],
    dialect: str,
    git: threading.Lock,
) -> list[Finding]:
    """Each applied migration against Git: changed, deleted, or never there."""
    in_git = {d.version_sort: d for d in deployables}
    states = migration_states(conn, schema)
    ever: set[str] = set()
    if any(s.applied and k not in in_git for k, s in states.items()):
        with git:
            ever = _ever_committed(project, notes)
    found = []
    for key, state in sorted(states.items()):
        if state.applied and key[:1] != "~":
            found += _compare(env, state, in_git.get(key), ever, dialect)
    return found


def _drift_findings(conn: Connection, schema: str, env: str) -> list[Finding]:
    """The live schema against the snapshot the newest run recorded."""
    from vcsync.snapshot import describe_change, diff_snapshots, take_snapshot

    unsealed = [run for run in unfinished_runs(conn, schema) if run.migrations]
    if unsealed and conn.lock_holder(schema) is None:
        run = unsealed[-1]
        return [
            _finding(
                "VC402",
                f"{env}: the {run.operation} of {run.started_at:%Y-%m-%d %H:%M} "
                f"(deployment {run.deployment_id[:12]}) was interrupted after it applied "
                f"{run.migrations}, so no schema was recorded after it and drift cannot be "
                f"judged; run `vcsync migrate --env {env}` to record it.",
            )
        ]
    try:
        recorded = latest_snapshot(conn, schema)
    except ValueError:
        return [_tampered(env, "the newest schema snapshot is not the JSON vcsync wrote")]
    if recorded is None:
        return []
    deployment, snapshot = recorded
    return [
        _finding(
            "VC402",
            f"{env} differs from the schema vcsync recorded after deployment "
            f"{deployment[:12]}: {describe_change(change)}",
        )
        for change in diff_snapshots(snapshot, take_snapshot(conn, schema))
    ]


def _compare(
    env: str, state: MigrationState, git: Deployable | None, ever: set[str], dialect: str
) -> list[Finding]:
    if git is None:
        if state.version in ever:
            return [
                _finding(
                    "VC205",
                    f"migration {state.version} is applied in {env} but was "
                    "deleted from Git; restore it from history.",
                )
            ]
        return [
            _finding(
                "VC206",
                f"{env} recorded migration {state.version} "
                f"({state.description}), which Git never had; commit the "
                "script that ran there.",
            )
        ]
    if git.checksum == state.checksum:
        return []
    path = git.migration.up.path
    if state.up_script is not None and same_parse_tree(state.up_script, git.up_text, dialect):
        return [
            _finding(
                "VC203",
                f"migration {state.version} was reformatted after {env} "
                "applied it (same parse tree, new checksum).",
                path,
            )
        ]
    return [
        _finding(
            "VC204",
            f"migration {state.version} differs from what {env} applied "
            f"(checksum {(state.checksum or '')[:12]} there, {git.checksum[:12]} "
            "in Git); restore it and put the change in a new migration.",
            path,
        )
    ]


def _ever_committed(project: Project, notes: list[str]) -> set[str]:
    """Versions any commit ever added under the migrations folder (one git call)."""
    from vcsync.migrations.layouts import discover

    repo = project.repo
    if repo is None or not repo.has_commits():
        return set()
    if repo.is_shallow():
        notes.append(
            "this clone is shallow, so a migration deleted from Git cannot be told "
            "from one Git never had; run `git fetch --unshallow` to tell them apart."
        )
    out = repo.run(
        "log",
        "--all",
        "--diff-filter=A",
        "--name-only",
        "--format=",
        "--",
        *dict.fromkeys(project.folders),
    )
    paths = sorted({line for line in out.splitlines() if line})
    layout = discover_in(
        ref_source(repo, "HEAD", list(dict.fromkeys(project.folders))),
        project.config,
        project.folders,
    ).layout
    return {m.label for m in discover(layout, paths, project.folders).migrations}
