"""`vcsync verify`: the pull-request gate (DESIGN §6), composed from the pieces below it.

Rules over the whole tree (with VC004 and VC2xx against the base ref), release tags
against their commits, every named environment's ledger against Git, its live schema
against the snapshot it recorded, and with --roundtrip every new migration applied,
rolled back and applied again on a scratch database.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, NamedTuple

from vcsync.check import Project, discover_in, open_project, run_check
from vcsync.config import Config
from vcsync.db import Connection, connect
from vcsync.db.urls import SQLITE, Target
from vcsync.deploy.plan import Deployable, load_deployables
from vcsync.deploy.refs import anchored_heads
from vcsync.deploy.session import TargetResult
from vcsync.deploy.targets import environment_targets
from vcsync.ledger.audit import anchor_problems, broken_links
from vcsync.ledger.chain import ledger_key
from vcsync.ledger.reader import (
    MigrationState,
    latest_snapshot,
    migration_states,
    unfinished_runs,
)
from vcsync.ledger.schema import missing_tables
from vcsync.rules import GATES, RULES, Finding
from vcsync.scratch import SCRATCH, scratch_database, snapshot_of
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


def _finding(code: str, message: str, path: str = "") -> Finding:
    rule = RULES.get(code) or GATES[code]
    return Finding(path, 1 if path else 0, 1 if path else 0, code, rule.severity, message)


def verify(
    config: Config, environments: list[str], *, base_ref: str | None = None, roundtrip: bool = False
) -> VerifyResult:
    from vcsync.rules import all_codes

    all_codes()  # the gate codes register themselves
    checked = run_check(config, base_ref=base_ref)
    findings, notes = list(checked.findings), list(checked.notes)
    project = open_project(config)
    try:
        deployables = load_deployables(project, refuse_unplaced=False)
        findings += _release_findings(project, environments, config)
        for name in environments:
            for target in environment_targets(config, name):
                findings += _ledger_findings(config, project, target, deployables, notes)
        if roundtrip:
            base = base_ref or config.base_ref
            findings += _roundtrip(config, project, deployables, base, notes)
    finally:
        if project.repo is not None:
            project.repo.close()
    return VerifyResult(sorted(set(findings)), checked.files, notes)


def _release_findings(project: Project, environments: list[str], config: Config) -> list[Finding]:
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
    for name in environments:
        for target in environment_targets(config, name):
            with _reading(target) as conn:
                schema = target.ledger_schema(config.ledger_schema)
                if conn is None or missing_tables(conn, schema):  # the ledger check says so
                    continue
                for record in recorded_releases(conn, schema):
                    tagged = at.get(record.tag)
                    if tagged is not None and tagged != record.commit_sha:
                        found.append(
                            _finding(
                                "VC208",
                                f"{name} recorded release {record.tag} at "
                                f"{record.commit_sha[:12]}, but the tag points at "
                                f"{tagged[:12]}.",
                            )
                        )
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
) -> list[Finding]:
    env, schema = target.environment, target.ledger_schema(config.ledger_schema)
    anchored = anchored_heads(project.repo, env).get(target.display)
    with _reading(target) as conn:
        if conn is None:
            if anchored is None:
                return []
            return [
                _tampered(
                    env,
                    f"{target.display} is gone, but refs/deployments/{env} "
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
        found += _state_findings(project, conn, schema, env, deployables, notes, config.dialect)
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
) -> list[Finding]:
    """Each applied migration against Git: changed, deleted, or never there."""
    in_git = {d.version_sort: d for d in deployables}
    states = migration_states(conn, schema)
    ever = (
        _ever_committed(project, notes)
        if any(s.applied and k not in in_git for k, s in states.items())
        else set()
    )
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


def _roundtrip(
    config: Config, project: Project, deployables: list[Deployable], base_ref: str, notes: list[str]
) -> list[Finding]:
    """Apply, roll back and re-apply each new migration on a scratch database."""
    from vcsync.deploy.migrate import migrate
    from vcsync.deploy.rollback import rollback
    from vcsync.snapshot import describe_change, diff_snapshots

    on_base = _versions_on(project, base_ref, notes)
    fresh = [d for d in deployables if not d.repeatable and d.version_sort not in on_base]
    if not fresh:
        return []
    found: list[Finding] = []
    with scratch_database(config) as (scratch, target):
        older = [
            d for d in deployables if not d.repeatable and d.version_sort < fresh[0].version_sort
        ]
        if older and _failed(migrate(scratch, SCRATCH, to=older[-1].version)):
            notes.append(
                "round trip skipped: the migrations before the new ones do not apply "
                "on a scratch database."
            )
            return []
        for item in fresh:
            path, version = item.migration.up.path, item.version
            before = snapshot_of(target, config)
            result = migrate(scratch, SCRATCH, to=version)
            if _failed(result):
                found.append(
                    _finding(
                        "VC401",
                        f"migration {version} does not apply on a scratch "
                        f"database: {result[0].error}",
                        path,
                    )
                )
                break
            undone = rollback(scratch, SCRATCH, steps=1, reason="vcsync verify --roundtrip")
            if _failed(undone):
                found.append(
                    _finding(
                        "VC401",
                        f"the rollback of {version} fails on a scratch database: {undone[0].error}",
                        path,
                    )
                )
                break
            after = snapshot_of(target, config)
            for change in diff_snapshots(before, after):
                found.append(
                    _finding(
                        "VC401",
                        f"after {version} and its rollback the schema "
                        f"differs: {describe_change(change)}",
                        path,
                    )
                )
            if _failed(migrate(scratch, SCRATCH, to=version)):
                found.append(
                    _finding(
                        "VC401",
                        f"migration {version} does not apply again after its rollback.",
                        path,
                    )
                )
                break
    return found


def _failed(results: list[TargetResult]) -> bool:
    return any(r.outcome == "failed" for r in results)


def _versions_on(project: Project, ref: str, notes: list[str]) -> set[str]:
    repo = project.repo
    if repo is None or repo.resolve(ref) is None:
        notes.append(f"round trip covers every migration: the base ref {ref} is not in this clone.")
        return set()
    from vcsync.deploy.plan import sort_key

    tree = ref_source(repo, ref, list(dict.fromkeys(project.folders)))
    return {
        sort_key(m.version, m.description)
        for m in discover_in(tree, project.config, project.folders).migrations
    }
