"""`vcsync verify`: the pull-request gate (DESIGN §6), composed from the pieces below it.

Rules over the whole tree (with VC004 and VC2xx against the base ref), release tags
against their commits, every named environment's ledger against Git, its live schema
against the snapshot it recorded, and with --roundtrip every new migration applied,
rolled back and applied again on a scratch database.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from typing import TYPE_CHECKING, NamedTuple

from vcsync.check import run_check
from vcsync.config import Config
from vcsync.db import Connection, connect
from vcsync.db.urls import SQLITE, Target, UnsetVariable, unresolved_name
from vcsync.deploy.plan import Deployable, load_deployables
from vcsync.deploy.refs import anchored_heads
from vcsync.deploy.session import TargetResult
from vcsync.deploy.targets import environment_targets
from vcsync.errors import ConfigError, GitError, OperationFailed, VcsyncError
from vcsync.ledger.audit import anchor_problems, broken_links
from vcsync.ledger.chain import ledger_key
from vcsync.ledger.reader import (
    MigrationState,
    latest_snapshot,
    migration_states,
    unfinished_runs,
)
from vcsync.ledger.schema import missing_tables
from vcsync.migrations.directives import read_directives
from vcsync.project import Project, discover_in, open_project
from vcsync.rules import GATES, RULES, Finding
from vcsync.scratch import (
    SCRATCH,
    scratch_database,
    scratch_problem,
    scratch_stand_in,
    snapshot_of,
)
from vcsync.source import ref_source
from vcsync.sql.syntax import same_parse_tree

if TYPE_CHECKING:
    from vcsync.snapshot import Change, Snapshot


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
    project = open_project(config)
    try:
        _require_base(project, base_ref)
        checked = run_check(config, base_ref=base_ref)
        findings, notes = list(checked.findings), list(checked.notes)
        deployables = load_deployables(project, refuse_unplaced=False)
        reached: list[str] = []
        for name in environments:
            unreachable = _environment_findings(config, project, name, deployables, notes)
            findings += unreachable
            if not any(f.code == "VC403" for f in unreachable):
                reached.append(name)
        try:
            findings += _release_findings(project, reached, config)
        except OperationFailed as exc:  # a connection lost since the ledger check
            findings.append(_finding("VC403", f"a ledger could not be read again: {exc}"))
        if roundtrip:
            base = base_ref or config.base_ref
            findings += _roundtrip(config, project, deployables, base, notes)
    finally:
        if project.repo is not None:
            project.repo.close()
    return VerifyResult(sorted(set(findings)), checked.files, notes)


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
    config: Config, project: Project, name: str, deployables: list[Deployable], notes: list[str]
) -> list[Finding]:
    """The ledger findings of every target of `name` it can reach, and a VC403 finding for
    each one it cannot (an unset `env:` variable included): one target never hides another."""
    urls = config.environment(name).urls  # an environment the config does not name: exit 2
    try:
        targets = environment_targets(config, name)
    except UnsetVariable as exc:
        return [_unreachable(name, unresolved_name(urls), exc)]
    found: list[Finding] = []
    for target in targets:
        try:
            found += _ledger_findings(config, project, target, deployables, notes)
        except OperationFailed as exc:
            found.append(_unreachable(name, target.display, exc))
    return found


def _unreachable(env: str, where: str, exc: Exception) -> Finding:
    reason = str(exc).rstrip(".")
    return _finding(
        "VC403", f"{env} ({where}) could not be reached: {reason}; nothing there was checked."
    )


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
    """Apply, roll back and re-apply each new migration on a scratch database. What is
    declared irreversible is applied and said to be skipped; every other migration is
    tested; what could not be tested is a finding, never a pass (DESIGN §4)."""
    on_base = _versions_on(project, base_ref, notes)
    ordered = [d for d in deployables if not d.repeatable]
    fresh = [d for d in ordered if d.version_sort not in on_base]
    if not fresh:
        return []
    if not config.rule_enabled("VC401"):
        notes.append("round trip not run: the config ignores VC401.")
        return []
    trip = _RoundTrip(config, fresh)
    problem = scratch_problem(config)
    if problem is None:
        try:
            trip.run([d for d in ordered if d.version_sort < fresh[0].version_sort])
        except ConfigError:
            raise  # a scratch_url that is not one is the config's to fix (exit 2)
        except VcsyncError as exc:  # no scratch database, or a plan refused before it ran
            problem = str(exc).rstrip(".")
    if problem is not None:
        untested = fresh[trip.reached :]
        return [
            *trip.found,
            _finding(
                "VC401",
                f"the round trip could not run for {_count(len(untested), 'new migration')} "
                f"({', '.join(d.version for d in untested)}): {problem}.",
            ),
        ]
    return trip.report(notes)


class _RoundTrip:
    """One round trip's scratch database, its findings and the counts of its summary."""

    def __init__(self, config: Config, fresh: list[Deployable]) -> None:
        self.config, self.fresh = config, fresh
        self.found: list[Finding] = []
        self.reached = 0  # new migrations applied on the scratch database
        self.irreversible: list[str] = []
        self.failed: set[str] = set()
        self.ignored: set[str] = set()
        self.scratch: Config = config
        self.target: Target | None = None

    def run(self, older: list[Deployable]) -> None:
        with ExitStack() as stack:
            if not self._rebuild(stack, older[-1] if older else None, older):
                return
            for item in self.fresh:
                going = self._one(item)
                self.reached += 1
                if going == "stop":
                    return
                if going == "rebuild":  # its ledger and schema are past repair: start over
                    stack.close()
                    if not self._rebuild(stack, item, [*older, *self.fresh]):
                        return

    def _rebuild(self, stack: ExitStack, upto: Deployable | None, known: list[Deployable]) -> bool:
        """A new scratch database with every migration up to `upto` applied."""
        self.scratch, self.target = stack.enter_context(scratch_database(self.config))
        if upto is None:
            return True
        result = self._migrate(upto)
        if result is None:
            return True
        where = {d.version: d for d in known}
        version, error = result
        failing = where.get(version, upto)
        self._problem(
            failing,
            f"the round trip could not run: migration {version} does not apply on a "
            f"scratch database: {error}",
        )
        return False

    def _one(self, item: Deployable) -> str:
        """Test one migration: "go" on, "rebuild" the scratch database, or "stop"."""
        from vcsync.deploy.rollback import rollback
        from vcsync.sql.comments import is_blank_sql

        version = item.version
        before = self._snapshot()
        failed = self._migrate(item)
        if failed is not None:
            self._problem(
                item, f"migration {version} does not apply on a scratch database: {failed[1]}"
            )
            return "stop"  # what comes after it builds on it
        if item.down_text is None:
            self._problem(
                item,
                f"migration {version} has no rollback script, so its round trip could not "
                "run; write one, or declare it `-- vcsync: irreversible -- why`.",
            )
            return "go"
        if is_blank_sql(item.down_text):
            self.irreversible.append(_irreversible(item))
            return "go"
        undone = rollback(self.scratch, SCRATCH, steps=1, reason="vcsync verify --roundtrip")
        if _failed(undone):
            self._problem(
                item,
                f"the rollback of {version} fails on a scratch database: {_error(undone)[1]}",
            )
            return "rebuild"
        for change in _schema_changes(before, self._snapshot()):
            self._problem(
                item,
                f"after {version} and its rollback the schema differs: "
                f"{_describe(change, version)}",
            )
        failed = self._migrate(item)
        if failed is not None:
            self._problem(
                item, f"migration {version} does not apply again after its rollback: {failed[1]}"
            )
            return "rebuild"
        return "go"

    def _migrate(self, upto: Deployable) -> tuple[str, str] | None:
        """None once every migration up to `upto` is applied; else (version, server error)."""
        from vcsync.deploy.migrate import migrate

        result = migrate(self.scratch, SCRATCH, to=upto.version)
        return _error(result) if _failed(result) else None

    def _snapshot(self) -> Snapshot:
        assert self.target is not None
        return snapshot_of(self.target, self.config)

    def _problem(self, item: Deployable, message: str) -> None:
        ignored = (
            read_directives(item.up_text).ignored | read_directives(item.down_text or "").ignored
        )
        if "VC401" in ignored:
            self.ignored.add(item.version)
            return
        self.failed.add(item.version)
        self.found.append(_finding("VC401", message, item.migration.up.path))

    def report(self, notes: list[str]) -> list[Finding]:
        """The findings, with the summary line first; a note only when nothing failed."""
        tested = self.reached - len(self.irreversible)
        summary = (
            f"round trip: {_count(len(self.fresh), 'migration')}, {tested} tested, "
            f"{len(self.irreversible)} irreversible, "
            f"{len(self.failed & {d.version for d in self.fresh})} failed"
        )
        if self.ignored:
            summary += f", {len(self.ignored)} ignored"
        if self.reached < len(self.fresh):
            rest = ", ".join(d.version for d in self.fresh[self.reached :])
            summary += f", {len(self.fresh) - self.reached} not reached ({rest})"
        notes += [f"round trip: {line}" for line in self.irreversible]
        stand_in = scratch_stand_in(self.config)
        if self.found:
            return [_finding("VC401", summary + "."), *self.found]
        notes.append(summary + ".")
        if stand_in:
            notes.append(stand_in + ".")
        return []


def _irreversible(item: Deployable) -> str:
    why = read_directives(item.down_text or "").irreversible
    said = f"is declared irreversible ({why})" if why else "has an empty rollback"
    return f"{item.version} {said}, so it was applied but not rolled back."


def _count(n: int, word: str) -> str:
    return f"{n} {word}{'s' if n != 1 else ''}"


def _error(results: list[TargetResult]) -> tuple[str, str]:
    """The migration that failed and the error the server raised."""
    result = next(r for r in results if r.outcome == "failed")
    step = next((s for s in result.steps if s.action == "failed"), None)
    version = step.version if step is not None else ""
    error = (result.error or (step.detail if step else None) or "no error given").rstrip(".")
    for said in (f"migration {version} failed: ", f"the rollback of {version} failed: "):
        error = error.removeprefix(said)  # the finding names the migration already
    return version, error


def _schema_changes(before: Snapshot, after: Snapshot) -> list[Change]:
    """The difference object by object; text that differs only in whitespace is the same."""
    from vcsync.snapshot import diff_snapshots

    changes = []
    for change in diff_snapshots(before, after):
        if change.change == "changed":
            kept = {
                name: (old, new)
                for name, (old, new) in change.attributes.items()
                if not (
                    isinstance(old, str) and isinstance(new, str) and old.split() == new.split()
                )
            }
            if not kept:
                continue
            change = change._replace(attributes=kept)
        changes.append(change)
    return changes


DIFF_LINES = 20


def _describe(change: Change, version: str) -> str:
    """One line per change; a changed multi-line text (a function's body) as a short
    unified diff below it."""
    from vcsync.snapshot import describe_change

    texts = {
        name: (old, new)
        for name, (old, new) in change.attributes.items()
        if isinstance(old, str) and isinstance(new, str) and "\n" in old + new
    }
    if not texts:
        return describe_change(change)
    rest = change._replace(
        attributes={k: v for k, v in change.attributes.items() if k not in texts}
    )
    lines = [describe_change(rest) + ("; " if rest.attributes else ": ") + ", ".join(texts)]
    for old, new in texts.values():
        diff = list(
            difflib.unified_diff(
                old.splitlines(),
                new.splitlines(),
                f"before {version}",
                "after its rollback",
                n=1,
                lineterm="",
            )
        )
        if len(diff) > DIFF_LINES:
            diff = [*diff[:DIFF_LINES], f"… ({len(diff) - DIFF_LINES} more lines)"]
        lines += [f"    {line}" for line in diff]
    return "\n".join(lines)


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
