"""`verify --roundtrip`: every new migration applied, rolled back and applied again on a
scratch database, the schema after its rollback compared with the one before it.

What is declared irreversible is applied and said to be skipped; every other migration is
tested; whatever could not be tested is a VC401 finding, never a pass (DESIGN §4).
"""

from __future__ import annotations

import difflib
from contextlib import ExitStack
from typing import TYPE_CHECKING

from vcsync.config import Config
from vcsync.db.urls import Target
from vcsync.deploy.plan import Deployable
from vcsync.deploy.session import TargetResult
from vcsync.errors import ConfigError, VcsyncError
from vcsync.migrations.directives import read_directives
from vcsync.project import Project, discover_in
from vcsync.rules import Finding, finding_for
from vcsync.scratch import (
    SCRATCH,
    scratch_database,
    scratch_problem,
    scratch_stand_in,
    snapshot_of,
)
from vcsync.source import ref_source

if TYPE_CHECKING:
    from vcsync.snapshot import Change, Snapshot

_finding = finding_for


def roundtrip_findings(
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
