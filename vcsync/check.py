"""`vcsync check`: run the rules over the work tree, the index, or given paths.

The runner owns what every rule shares: which files are in scope, the bases the
history rules compare with, `select`/`ignore`, `-- vcsync: ignore` directives, the
`baseline` exemption, and the order of findings.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

from vcsync.background import Background
from vcsync.config import Config
from vcsync.errors import ConfigError, GitError, VcsyncError
from vcsync.gitrepo import TreeEntry
from vcsync.migrations.layouts import Migration, Script
from vcsync.migrations.versions import version_from_user
from vcsync.project import Project, discover_in, open_project
from vcsync.rules import Finding, Rule, all_rules
from vcsync.rules.context import Base, Context
from vcsync.source import GitTree, Source, WorkTree, index_source, ref_source
from vcsync.sql.syntax import ensure_dialect

# Rule families that do not apply to migrations at or below `baseline` (adopted history).
BASELINE_EXEMPT = ("VC0", "VC3")


class CheckResult(NamedTuple):
    findings: list[Finding]
    files: list[str]  # the files read, sorted
    notes: list[str]

    @property
    def failed(self) -> bool:
        return any(f.severity == "error" for f in self.findings)


def run_check(
    config: Config,
    *,
    staged: bool = False,
    base_ref: str | None = None,
    paths: Sequence[Path] = (),
) -> CheckResult:
    ensure_dialect(config.dialect)
    project = open_project(config)
    repo, folders = project.repo, project.folders
    dirs = [folders.migrations] if folders.rollbacks == folders.migrations else list(folders)
    source: Source
    if staged:
        if repo is None:
            raise GitError(
                f"{config.root} is not inside a Git repository, so there is no index "
                "to check; drop --staged or run `git init`."
            )
        source = index_source(repo, dirs)
    else:
        if not (project.root / folders.migrations).is_dir():
            raise ConfigError(
                f"the migrations folder {folders.migrations} does not exist; "
                "run `vcsync init` or set `migrations` in the config."
            )
        source = WorkTree(project.root, dirs)
    try:
        scope = _scope(project, dirs, staged, paths)
        discovery = discover_in(source, config, folders)
        ctx = Context(config, folders, source, discovery, scope)
        rules = [r for r in all_rules() if config.rule_enabled(r.code, r.opt_in)]
        # git lists the bases in a thread while the rules that need no base read and
        # parse the scripts: over a whole tree both take tens of milliseconds.
        listing = Background(
            lambda: (
                _bases(project, dirs, source, discovery.layout, staged, base_ref)
                if scope != frozenset()
                else ((), [])
            )
        )
        findings = _run_rules(ctx, [rule for rule in rules if not rule.uses_bases])
        ctx.bases, notes = listing.result()
        ctx.notes[:0] = notes
        findings += _run_rules(ctx, [rule for rule in rules if rule.uses_bases])
        checked = sorted({s.path for _m, s in ctx.scripts()})
        return CheckResult(sorted(findings), checked, ctx.notes)
    finally:
        if repo is not None:
            repo.close()


def _scope(
    project: Project, dirs: list[str], staged: bool, paths: Sequence[Path]
) -> frozenset[str] | None:
    """Named paths (read from the index with --staged: a framework's `--all-files` run names
    every file, changed or not), plus with --staged what the commit deletes; else with
    --staged what the commit changes; else all."""
    if paths:
        root = project.root.resolve()
        chosen = set()
        for path in paths:
            if not path.exists():
                raise VcsyncError(f"{path} does not exist.")
            if not path.resolve().is_relative_to(root):
                raise VcsyncError(f"{path} is outside the project at {project.root}.")
            rel = path.resolve().relative_to(root).as_posix()
            chosen.add("" if rel == "." else rel)
        if staged:  # a deleted file cannot be named (the framework passes only what exists)
            assert project.repo is not None
            deleted = project.repo.staged_changes(deleted_only=True)
            chosen.update(p for p in deleted if any(_under(p, d) for d in dirs))
        return _Prefixes(chosen)
    if staged:
        assert project.repo is not None
        changed = project.repo.staged_changes()
        return frozenset(p for p in changed if any(_under(p, d) for d in dirs))
    return None


def _under(path: str, folder: str) -> bool:
    return folder == "" or path == folder or path.startswith(folder.rstrip("/") + "/")


class _Prefixes(frozenset[str]):
    """A scope of files and folders: a path is in it when it is one of them or under one."""

    def __contains__(self, path: object) -> bool:
        return isinstance(path, str) and any(_under(path, p) for p in self)


def _bases(
    project: Project,
    dirs: list[str],
    source: Source,
    layout: str,
    staged: bool,
    explicit: str | None,
) -> tuple[tuple[Base, ...], list[str]]:
    """The base ref (all history rules) and the newest tag reachable from HEAD (VC2xx)."""
    repo = project.repo
    if repo is None or (not explicit and not repo.has_commits()):
        return (), []
    ref = explicit or project.config.base_ref
    commit = repo.resolve(ref)
    bases: list[Base] = []
    notes: list[str] = []
    if commit is None:
        hint = repo.fetch_hint(ref)
        if explicit:
            raise GitError(f"base ref {ref} is not in this clone; {hint}.")
        # A local repository without the default remote still gets its hook.
        notes.append(f"VC004 and VC2xx skipped for {ref}: it is not in this clone; {hint}.")
    else:
        bases.append(_base(project, dirs, source, layout, ref, staged, linear=True))
    tag = repo.newest_tag()
    if tag and repo.resolve(tag) != commit:
        bases.append(_base(project, dirs, source, layout, tag, staged, linear=False))
    return tuple(bases), notes


def _base(
    project: Project,
    dirs: list[str],
    current: Source,
    layout: str,
    ref: str,
    staged: bool,
    linear: bool,
) -> Base:
    """The tree at `ref`. Against the index it is derived from the index listing and one raw
    diff (no `ls-tree` of 2,000 files on the hook's path); against the work tree, listed."""
    repo = project.repo
    assert repo is not None
    changes = repo.changed_since(ref, staged, dirs)
    tree: Source
    if staged:
        blobs = {path: current.blob(path) or "" for path in current.paths()}
        for change in changes:
            if change.status == "A":
                blobs.pop(change.path, None)
            else:
                blobs[change.path] = change.old_blob
        tree = GitTree(repo, [TreeEntry(p, b) for p, b in blobs.items()], ref)
    else:
        tree = ref_source(repo, ref, dirs)
    discovery = discover_in(tree, project.config, project.folders, layout)
    return Base(ref, tree, discovery, frozenset(c.path for c in changes), linear)


def _run_rules(ctx: Context, rules: list[Rule]) -> list[Finding]:
    owners: dict[str, tuple[Migration, Script]] = {}
    for migration, script in ctx.discovery.scripts():
        owners.setdefault(script.path, (migration, script))
    baseline = version_from_user(ctx.config.baseline).key if ctx.config.baseline else None
    findings: dict[tuple[str, int, int, str], Finding] = {}
    for rule in rules:
        for hit in rule.check(ctx):
            if not ctx.in_scope(hit.path) or _suppressed(
                ctx, rule.code, owners.get(hit.path), baseline
            ):
                continue
            # one finding per code and position (a file changed since the base and a tag)
            key = (hit.path, hit.line, hit.column, rule.code)
            severity = ctx.config.severity_of(rule.code, rule.severity)
            findings.setdefault(key, Finding(*key, severity, hit.message))
    return list(findings.values())


def _suppressed(
    ctx: Context,
    code: str,
    owner: tuple[Migration, Script] | None,
    baseline: tuple[int, ...] | None,
) -> bool:
    """An `ignore` directive in the file, or adopted history at or below `baseline`."""
    if owner is None:
        return False
    migration, script = owner
    version = migration.version
    adopted = baseline is not None and version is not None and version.key <= baseline
    if adopted and code.startswith(BASELINE_EXEMPT):
        return True
    return code in ctx.load(script).directives.ignored
