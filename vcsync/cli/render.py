"""The only writer of stdout and stderr: findings as text, json, github, sarif or junit.

Findings go to stdout in the chosen format; summaries, notes and errors go to stderr,
so a machine reading stdout only ever sees the format it asked for.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Collection, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from vcsync import __version__
from vcsync.cli.locations import ConfigAnchor, config_anchor, environment_named
from vcsync.rules import Finding, GateCheck, Rule

if TYPE_CHECKING:
    from vcsync.deploy.report import Status, TargetHistory
    from vcsync.deploy.session import StepResult, TargetResult
    from vcsync.snapshot import Change as SchemaChange

FORMATS = ("text", "json", "github", "sarif", "junit")
INFORMATION_URI = "https://github.com/vcsync/vcsync"
RULES_DOC = f"{INFORMATION_URI}/blob/main/docs/rules.md"


def dumps(data: object, indent: int = 2) -> str:
    import json  # only machine formats pay for it

    return json.dumps(data, indent=indent)


def out(text: str = "") -> None:
    click.echo(text)


def err(text: str) -> None:
    click.echo(text, err=True)


def findings(
    found: Sequence[Finding],
    files: Sequence[str],
    notes: Sequence[str],
    fmt: str,
    rules: Sequence[Rule | GateCheck],
    config_file: Path | None = None,
) -> None:
    """`config_file` is where github, sarif and junit point a finding that has no file."""
    for note in notes:
        err(f"note: {note}")
    if fmt == "json":
        out(
            dumps({"findings": [_as_json(f) for f in found], "files_checked": len(files)}, indent=2)
        )
    elif fmt == "github":
        anchor = config_anchor(config_file, found)
        for f in found:
            out(_github(f, anchor))
    elif fmt == "sarif":
        out(dumps(_sarif(found, rules, config_anchor(config_file, found)), indent=2))
    elif fmt == "junit":
        out(_junit(found, files, config_anchor(config_file, found)))
    else:
        for f in found:
            where = f"{f.path}:{f.line}:{f.column}: " if f.path else ""
            out(f"{where}{f.code} {f.message}")
    err(_summary(found, len(files)))


def _summary(found: Sequence[Finding], checked: int) -> str:
    errors = sum(f.severity == "error" for f in found)
    warnings = len(found) - errors
    files = f"{checked} file{'s' if checked != 1 else ''} checked"
    if not found:
        return f"vcsync: no findings ({files})."
    parts = [
        f"{n} {word}{'s' if n != 1 else ''}"
        for n, word in ((errors, "error"), (warnings, "warning"))
        if n
    ]
    return f"vcsync: {' and '.join(parts)} ({files})."


def _as_json(f: Finding) -> dict[str, Any]:
    return {
        "code": f.code,
        "severity": f.severity,
        "path": f.path,
        "line": f.line,
        "column": f.column,
        "message": f.message,
    }


def _escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


def _github(f: Finding, anchor: ConfigAnchor) -> str:
    """A workflow command: `::error` or `::warning` (the annotation's colour), never left
    without a file, since an annotation without one shows on no line of the pull request."""
    at = anchor.locate(f)
    props = ",".join(
        [
            f"file={_escape_property(at.path)}",
            f"line={at.line}",
            f"col={at.column}",
            f"title={_escape_property(f.code)}",
        ]
    )
    level = "warning" if f.severity == "warning" else "error"
    return f"::{level} {props}::{_escape_data(f.message)}"


def _sarif_level(severity: str) -> str:
    return severity if severity in ("error", "warning", "note") else "error"


def _sarif_result(f: Finding, index: dict[str, int], anchor: ConfigAnchor) -> dict[str, Any]:
    """Every result has a location: GitHub refuses the whole upload for one without
    (github/codeql-action#2459)."""
    at = anchor.locate(f)
    return {
        "ruleId": f.code,
        **({"ruleIndex": index[f.code]} if f.code in index else {}),
        "level": _sarif_level(f.severity),
        "message": {"text": f.message},
        "locations": [
            {
                "physicalLocation": {
                    "artifactLocation": {"uri": at.path, "uriBaseId": "%SRCROOT%"},
                    "region": {"startLine": at.line, "startColumn": at.column},
                }
            }
        ],
    }


def _sarif(
    found: Sequence[Finding], rules: Sequence[Rule | GateCheck], anchor: ConfigAnchor
) -> dict[str, Any]:
    index = {rule.code: i for i, rule in enumerate(rules)}
    return {
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "vcsync",
                        "version": __version__,
                        "informationUri": INFORMATION_URI,
                        "rules": [
                            {
                                "id": rule.code,
                                "name": rule.name,
                                "shortDescription": {"text": rule.summary},
                                "helpUri": f"{RULES_DOC}#{rule.code.lower()}",
                                "defaultConfiguration": {"level": _sarif_level(rule.severity)},
                            }
                            for rule in rules
                        ],
                    }
                },
                "columnKind": "unicodeCodePoints",
                "results": [_sarif_result(f, index, anchor) for f in found],
            }
        ],
    }


def _junit_case_name(f: Finding, anchor: ConfigAnchor) -> str:
    """A file's case is named after the file; a database finding's after its code and
    environment (`VC402 staging`), since a case without a name is unreadable in every report."""
    if f.path:
        return f.path
    env = environment_named(f.message, list(anchor.environments))
    return f"{f.code} {env}" if env else f.code


def _junit(found: Sequence[Finding], files: Sequence[str], anchor: ConfigAnchor) -> str:
    """One test case per checked file and per database finding's code and environment.

    Only errors are `<failure>`s. A warning does not block (DESIGN §3), and GitLab, Jenkins
    and GitHub's test reporters draw any `<failure>` as a red test in a green job. Nor is it
    `<skipped>`: those reporters count that as "not run", which the file was not. So a
    warning is a line of the case's `<system-out>`, which each of them shows with the case.
    """
    from xml.etree import ElementTree

    by_case: dict[str, list[Finding]] = {path: [] for path in files}
    for f in found:
        by_case.setdefault(_junit_case_name(f, anchor), []).append(f)
    failures = sum(any(f.severity == "error" for f in items) for items in by_case.values())
    suites = ElementTree.Element(
        "testsuites", name="vcsync", tests=str(len(by_case)), failures=str(failures)
    )
    suite = ElementTree.SubElement(
        suites,
        "testsuite",
        name="vcsync check",
        tests=str(len(by_case)),
        failures=str(failures),
        errors="0",
    )
    for name in sorted(by_case):
        case = ElementTree.SubElement(suite, "testcase", classname="vcsync", name=name)
        warnings = []
        for f in by_case[name]:
            at = anchor.locate(f)
            line = f"{at.path}:{at.line}:{at.column}: {f.severity} {f.code} {f.message}"
            if f.severity != "error":
                warnings.append(line)
                continue
            failure = ElementTree.SubElement(
                case, "failure", type=f.code, message=f"{f.code} {f.message}"
            )
            failure.text = line
        if warnings:
            ElementTree.SubElement(case, "system-out").text = "\n".join(warnings)
    ElementTree.indent(suites)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ElementTree.tostring(
        suites, encoding="unicode"
    )


def rule_list(rules: Sequence[Rule | GateCheck], fmt: str) -> None:
    if fmt == "json":
        out(
            dumps(
                [
                    {"code": r.code, "name": r.name, "severity": r.severity, "summary": r.summary}
                    for r in rules
                ],
                indent=2,
            )
        )
        return
    for r in rules:
        out(f"{r.code}  {r.severity:<7}  {r.name:<28}  {r.summary}")


def step_line(step: StepResult) -> str:
    detail = f": {step.detail}" if step.detail else ""
    return (
        f"  {step.action:<12} {step.version:<16} {step.description} ({step.duration_ms} ms){detail}"
    )


class StepProgress:
    """Text output streams each step as it ends; on a terminal, what runs now also shows,
    on one stderr line that the next output replaces."""

    def __init__(self, fmt: str) -> None:
        self.text = fmt == "text"
        self.live = self.text and sys.stderr.isatty()
        self.showing = False

    def __call__(self, step: StepResult) -> None:
        self.clear()
        if step.action != "running":
            if self.text:
                out(step_line(step))
        elif self.live:
            click.echo(f"  running      {step.version} {step.description}", err=True, nl=False)
            self.showing = True

    def clear(self) -> None:
        if self.showing:
            click.echo("\r\x1b[K", err=True, nl=False)
            self.showing = False

    def around(self, run: Callable[[], list[TargetResult]]) -> list[TargetResult]:
        try:
            return run()
        finally:
            self.clear()  # an error's sentence must not land on the running line


def target_results(results: Sequence[TargetResult], fmt: str, *, streamed: bool) -> None:
    """What each target's run did; steps were already streamed as progress in text mode."""
    if fmt == "json":
        out(
            dumps(
                {"results": [result_json(r) for r in results]},
                indent=2,
            )
        )
    for r in results:
        for warning in r.warnings:
            err(f"warning: {warning}")
        if fmt == "json":
            continue
        if not streamed:
            for step in r.steps:
                out(step_line(step))
        done = sum(s.action not in ("failed", "not executed") for s in r.steps)
        dry = " (dry run: rolled back)" if r.dry_run else ""
        if r.dry_run and any(s.action == "not executed" for s in r.steps):
            dry = " (dry run: rolled back; it stopped at a script that cannot run inside it)"
        # the chain's head, to keep outside the database (DESIGN §5)
        head = f"; ledger head {r.ledger_head}" if r.ledger_head and not r.dry_run else ""
        if r.outcome == "failed":
            err(f"vcsync: {r.operation} of {r.environment} ({r.target}) failed{dry}: {r.error}")
            if r.recovery:
                err(f"to recover: {r.recovery}")
            if head:
                err(f"{r.environment} ({r.target}){head.removeprefix(';')}.")
        elif done == 0:
            out(f"{r.environment} ({r.target}): nothing to do{dry}{head}.")
        else:
            out(
                f"{r.environment} ({r.target}): {r.operation} {done} migration"
                f"{'s' if done != 1 else ''}{dry}, deployment {r.deployment_id[:12]}{head}."
            )


VERBS = {"migrate": "migrated", "rollback": "rolled back", "baseline": "baselined"}
SUMMARY_NAMES = 10  # failed or not-started targets named in the summary line


def result_json(r: TargetResult) -> dict[str, Any]:
    return {
        **{k: v for k, v in r._asdict().items() if k != "steps"},
        "steps": [s._asdict() for s in r.steps],
    }


def _done(r: TargetResult) -> int:
    return sum(s.action not in ("failed", "not executed") for s in r.steps)


def _clip(text: str, width: int = 100) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


class FleetReport:
    """A fleet's output (DESIGN §9): one line (or JSON object) per target as it finishes,
    written under a lock; on a terminal, a stderr line counting targets done, failed and
    left; at the end a summary (`12 targets: 11 migrated, 1 failed: tenant_acme (…)`).
    Only counts and the first few failures are kept: memory stays flat in the fleet's size.
    """

    def __init__(self, fmt: str, operation: str, *, live: bool | None = None) -> None:
        import threading

        self.fmt, self.operation = fmt, operation
        self.live = sys.stderr.isatty() if live is None else live
        self.lock = threading.Lock()
        self.total = self.finished = 0
        self.counts: dict[str, int] = {}
        self.named: dict[str, list[str]] = {"failed": [], "not started": []}
        self.labels: dict[str, str] = {}
        self.warned: set[str] = set()
        self.showing = False
        self.dry_run = False
        self.started = False

    def start(self, targets: Sequence[Any]) -> None:
        from vcsync.deploy.session import target_name
        from vcsync.deploy.targets import short_names

        self.total, self.started = len(targets), True
        self.labels = short_names((t, target_name(t)) for t in targets)
        if self.fmt == "json":
            click.echo('{\n  "results": [', nl=False)
        self._draw()

    def __call__(self, r: TargetResult) -> None:
        with self.lock:
            self._clear()
            self._emit(r)
            self.finished += 1
            self.dry_run = self.dry_run or r.dry_run
            kind = self._kind(r)
            self.counts[kind] = self.counts.get(kind, 0) + 1
            if kind in self.named and len(self.named[kind]) < SUMMARY_NAMES:
                label = self.labels.get(r.target, r.target)
                self.named[kind].append(
                    f"{label} ({_clip(r.error)})" if kind == "failed" and r.error else label
                )
            self._draw()

    def _kind(self, r: TargetResult) -> str:
        if r.outcome in ("failed", "not started"):
            return r.outcome
        return VERBS.get(self.operation, "done") if _done(r) else "nothing to do"

    def _emit(self, r: TargetResult) -> None:
        for warning in r.warnings:
            if warning not in self.warned:
                self.warned.add(warning)
                err(f"warning: {warning}")
        if self.fmt == "json":
            text = dumps(result_json(r)).replace("\n", "\n    ")
            click.echo(("\n    " if not self.finished else ",\n    ") + text, nl=False)
            return
        name = f"{r.environment} ({r.target})"
        dry = " (dry run: rolled back)" if r.dry_run else ""
        head = f"; ledger head {r.ledger_head}" if r.ledger_head and not r.dry_run else ""
        done = _done(r)
        if r.outcome == "not started":
            err(f"{name}: not started (--fail-fast stopped the run after a target failed).")
        elif r.outcome == "failed":
            err(f"vcsync: {r.operation} of {name} failed{dry}: {r.error}")
            if r.recovery:
                err(f"to recover: {r.recovery}")
        elif done == 0:
            out(f"{name}: nothing to do{dry}{head}.")
        else:
            out(
                f"{name}: {r.operation} {done} migration{'s' if done != 1 else ''}{dry}, "
                f"deployment {r.deployment_id[:12]}{head}."
            )

    def _draw(self) -> None:
        if not self.live or self.finished >= self.total:
            return
        failed = self.counts.get("failed", 0)
        left = self.total - self.finished
        click.echo(
            f"  {self.finished}/{self.total} targets done, {failed} failed, {left} left",
            err=True,
            nl=False,
        )
        self.showing = True

    def _clear(self) -> None:
        if self.showing:
            click.echo("\r\x1b[K", err=True, nl=False)
            self.showing = False

    def summary(self) -> str:
        parts = []
        for kind, count in self.counts.items():
            if kind in self.named:
                continue
            parts.append(f"{count} {kind}")
        for kind, names in self.named.items():
            count = self.counts.get(kind, 0)
            if count:
                more = f", and {count - len(names)} more" if count > len(names) else ""
                parts.append(f"{count} {kind}: {', '.join(names)}{more}")
        total = f"{self.total} target{'s' if self.total != 1 else ''}"
        dry = " (dry run)" if self.dry_run else ""
        return f"{total}{dry}: {'; '.join(parts) if parts else 'none run'}."

    def finish(self) -> int:
        """The summary; the exit code: 1 if any target failed or was not started."""
        with self.lock:
            self._clear()
            failed = self.counts.get("failed", 0) + self.counts.get("not started", 0)
            if self.fmt == "json":
                summary = {
                    "targets": self.total,
                    "counts": self.counts,
                    "failed": self.named["failed"],
                    "not_started": self.named["not started"],
                    "text": self.summary(),
                }
                closing = "\n  ]," if self.finished else "],"
                body = dumps(summary).replace("\n", "\n  ")
                out(f'{closing}\n  "summary": {body}\n}}')
            else:
                out(self.summary())
            return 1 if failed else 0


def column_keys(columns: Sequence[Any], fleets: Collection[str] = ()) -> list[str]:
    """A unique name per status column: the environment, or for a fleet's target
    `ENV:TARGET` (a tenant's schema when that names it alone), also when the fleet shows
    one column (`fleets`: a shard of it)."""
    per_env: dict[str, int] = {}
    for c in columns:
        per_env[c.environment] = per_env.get(c.environment, 0) + 1
    schemas: dict[str, list[str]] = {}
    for c in columns:
        if "#" in c.target:
            schemas.setdefault(c.environment, []).append(c.target.rpartition("#")[2])
    keys: list[str] = []
    for c in columns:
        if per_env[c.environment] == 1 and c.environment not in fleets:
            key = c.environment
        else:
            schema = c.target.rpartition("#")[2] if "#" in c.target else None
            tenants = schemas.get(c.environment, [])
            label = schema if schema is not None and tenants.count(schema) == 1 else c.target
            key = f"{c.environment}:{label}"
        base, n = key, 2
        while key in keys:  # the same target named twice
            key, n = f"{base} ({n})", n + 1
        keys.append(key)
    return keys


def status_table(report: Status, fmt: str) -> None:
    headers = column_keys(report.columns, report.fleets)
    if fmt == "json":
        out(
            dumps(
                {
                    "environments": [
                        {"key": key, **c._asdict()}
                        for key, c in zip(headers, report.columns, strict=True)
                    ],
                    "migrations": [
                        {
                            "version": r.version,
                            "description": r.description,
                            "states": dict(zip(headers, r.cells, strict=True)),
                        }
                        for r in report.rows
                    ],
                    "promotions": report.promotions,
                },
                indent=2,
            )
        )
        return
    for key, column in zip(headers, report.columns, strict=True):
        if column.error:
            err(f"warning: {key} is unreachable: {column.error}")
    table = [["version", "description", *headers]]
    table += [[r.version, r.description, *r.cells] for r in report.rows]
    _table(table)
    notes = report.promotions + [
        f"{key} is being deployed now by {c.deploying}"
        for key, c in zip(headers, report.columns, strict=True)
        if c.deploying
    ]
    if notes:
        out()
    for line in notes:
        out(line)


def history_table(per_target: Sequence[TargetHistory], fmt: str) -> None:
    if fmt == "json":
        out(
            dumps(
                [
                    {
                        "target": target,
                        "deployments": [
                            {**d._asdict(), "started_at": d.started_at.isoformat()} for d in rows
                        ],
                        "error": error,
                    }
                    for target, rows, error in per_target
                ],
                indent=2,
            )
        )
        return
    for target, rows, error in per_target:
        if error:
            out(f"{target}: unreachable: {error}")
            continue
        out(f"{target}:")
        if not rows:
            out("  no deployments yet")
            continue
        table = [["when", "operation", "outcome", "who", "commit", "tag", "duration", "migrations"]]
        for d in rows:
            outcome = d.outcome + (" (dry run)" if d.dry_run else "")
            table.append(
                [
                    d.started_at.strftime("%Y-%m-%d %H:%M:%S"),
                    d.operation,
                    outcome,
                    f"{d.operator}@{d.host}",
                    (d.commit_sha or "-")[:10],
                    d.tag or "-",
                    f"{d.duration_ms} ms",
                    d.migrations or "-",
                ]
            )
        _table(table, indent="  ")


def schema_changes(before: str, after: str, changes: Sequence[SchemaChange], fmt: str) -> None:
    from vcsync.snapshot import describe_change

    if fmt == "json":
        out(
            dumps(
                {
                    "from": before,
                    "to": after,
                    "changes": [
                        {
                            "change": c.change,
                            "object": c.object,
                            "attributes": {k: list(v) for k, v in c.attributes.items()},
                        }
                        for c in changes
                    ],
                }
            )
        )
        return
    for change in changes:
        out(describe_change(change))
    err(
        f"vcsync: {len(changes)} object{' differs' if len(changes) == 1 else 's differ'} "
        f"between {before} and {after}."
    )


def _table(rows: list[list[str]], indent: str = "") -> None:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        out(indent + "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())


# -- releases: tag-release and changelog -------------------------------------------------

if TYPE_CHECKING:
    from vcsync.changelog import Change, Changelog, Entry, RollbackStep
    from vcsync.release import Release


def release_result(result: Release, fmt: str) -> None:
    """What `tag-release` did: the tag, its manifest, and each ledger it was recorded in."""
    manifest = result.manifest
    failed = [r for r in result.recorded if r.outcome == "failed"]
    if fmt == "json":
        out(
            dumps(
                {
                    "tag": result.tag,
                    "commit": result.commit,
                    "schema_version": manifest.schema_version,
                    "manifest_hash": manifest.hash,
                    "migrations": [{"version": v, "checksum": c} for v, c in manifest.entries],
                    "message": result.message,
                    "recorded": [r._asdict() for r in result.recorded],
                }
            )
        )
    else:
        count = len(manifest.entries)
        out(
            f"tagged {result.tag} at {result.commit[:10]}: schema version "
            f"{manifest.schema_version or 'none'}, {count} migration{'s' if count != 1 else ''}, "
            f"manifest {manifest.hash[:12]}."
        )
        for r in result.recorded:
            if r.outcome != "failed":
                out(f"recorded in {r.environment} ({r.target}).")
    for r in failed:
        err(f"vcsync: recording {result.tag} in {r.environment} ({r.target}) failed: {r.error}")
    if failed:
        envs = " ".join(f"--env {e}" for e in dict.fromkeys(r.environment for r in failed))
        err(
            f"to recover: the tag exists and the other ledgers hold it; delete it "
            f"(`git tag -d {result.tag}`) and run `vcsync tag-release {result.tag} {envs}` "
            "again at the same commit."
        )
    elif fmt == "text":
        err(f"push it with `git push origin {result.tag}`.")


def changelog_report(log: Changelog, fmt: str) -> None:
    """Release notes: Markdown ready to paste, or one JSON object."""
    if fmt == "json":
        out(dumps(_changelog_json(log)))
        return
    out(_changelog_markdown(log))


def _change_json(change: Change) -> dict[str, Any]:
    return {"line": change.line, "summary": change.summary, "destructive": list(change.destructive)}


def _changelog_json(log: Changelog) -> dict[str, Any]:
    return {
        "from": log.start._asdict(),
        "to": log.end._asdict(),
        "migrations": [
            {
                "version": e.version,
                "description": e.description,
                "path": e.path,
                "status": e.status,
                "changes": [_change_json(c) for c in e.changes],
                "destructive": [d._asdict() for d in e.destructive],
                "irreversible": e.irreversible,
                "notes": list(e.notes),
            }
            for e in log.migrations
        ],
        "rollback": {
            "to_version": log.rollback.to_version,
            "command": log.rollback.command,
            "steps": [
                {**s._asdict(), "changes": [_change_json(c) for c in s.changes]}
                for s in log.rollback.steps
            ],
            "notes": list(log.rollback.notes),
        },
        "notes": list(log.notes),
    }


def _changelog_markdown(log: Changelog) -> str:
    start, end = log.start, log.end
    count = len(log.migrations)
    lines = [
        f"# Database changes: {start.ref} → {end.ref}",
        "",
        f"Schema version {start.schema_version or 'none'} → {end.schema_version or 'none'} "
        f"(`{start.commit[:10]}..{end.commit[:10]}`): "
        + (f"{count} migration{'s' if count != 1 else ''}." if count else "no new migrations."),
    ]
    dangers = sum(len(e.destructive) for e in log.migrations)
    if dangers:
        lines.append(f"**{dangers} destructive step{'s' if dangers != 1 else ''}** (marked below).")
    for entry in log.migrations:
        lines += ["", *_entry_markdown(entry)]
    if log.rollback.steps or log.rollback.notes:
        lines += ["", f"## Rollback plan back to {start.ref}", ""]
        if log.rollback.command:
            lines += [f"`{log.rollback.command}` runs, newest first:", ""]
        lines += [
            f"{n}. {_step_markdown(step)}" for n, step in enumerate(log.rollback.steps, start=1)
        ]
        lines += [f"- {note}" for note in log.rollback.notes]
    if log.notes:
        lines += ["", "## Notes", "", *(f"- {note}" for note in log.notes)]
    return "\n".join(lines)


def _entry_markdown(entry: Entry) -> list[str]:
    changed = " (changed)" if entry.status == "changed" else ""
    lines = [f"## {entry.version} — {entry.description}{changed}", "", f"`{entry.path}`", ""]
    lines += [f"- `{c.summary}`" for c in entry.changes] or ["- (no statements)"]
    if entry.destructive:
        lines += ["", "**Destructive:**", ""]
        lines += [f"- line {d.line}: `{d.summary}` — {d.reason}" for d in entry.destructive]
    if entry.irreversible:
        lines += ["", f"Irreversible: {entry.irreversible}."]
    lines += [f"- note: {note}" for note in entry.notes]
    return lines


def _step_markdown(step: RollbackStep) -> str:
    head = f"**{step.version} — {step.description}**"
    if step.kind == "script":
        summary = "; ".join(f"`{c.summary}`" for c in step.changes) or "(no statements)"
        note = f" ({step.note})" if step.note else ""
        return f"{head} (`{step.path}`): {summary}{note}"
    if step.kind == "irreversible":
        return f"{head}: irreversible ({step.note}); restore what it changed from a backup."
    return f"{head}: {step.note}."
