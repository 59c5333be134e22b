"""Releases: the manifest of a tree's migrations, annotated release tags, and their ledger rows.

A release tag's message carries two Git trailers, `vcsync-schema-version` and
`vcsync-manifest` (SHA-256 over every migration's business key and checksum), so any
clone can prove what a tag holds with plain Git. `tag-release` creates the tag and
records it in the ledger of each named environment: the rows are written first and
committed only after the tag exists, so a database that cannot be reached leaves
neither a tag nor a row behind.
"""

from __future__ import annotations

import hashlib
import os
import re
import socket
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from datetime import UTC, datetime
from typing import Any, NamedTuple

from vcsync.config import Config
from vcsync.db import Connection, connect
from vcsync.db.urls import Target
from vcsync.deploy.plan import UNLIMITED, business_key
from vcsync.deploy.session import target_name
from vcsync.deploy.targets import environment_targets
from vcsync.errors import GitError, OperationFailed, VcsyncError
from vcsync.gitrepo import Repo
from vcsync.ledger.chain import ledger_key
from vcsync.ledger.schema import RECORD_SOURCE, ensure_ledger
from vcsync.ledger.writer import Deployment, RunEnd, hash_key, record_end, record_start
from vcsync.project import Project, discover_in, open_project
from vcsync.scripts import load_script
from vcsync.source import Source, ref_source

SCHEMA_TRAILER = "vcsync-schema-version"
MANIFEST_TRAILER = "vcsync-manifest"
NO_VERSION = "none"  # the schema version of a tree without versioned migrations
_TRAILER = re.compile(r"^(?P<key>[A-Za-z0-9-]+):[ \t]*(?P<value>\S*)[ \t]*$", re.MULTILINE)
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
# One record per tag: name, object type, the object an annotated tag points at, message.
_TAG_FORMAT = (
    "%(refname:strip=2)%00%(objecttype)%00%(*objecttype)%00%(*objectname)%00%(contents)%00"
)
_LISTED = 5  # paths named in a "dirty tree" message


class Manifest(NamedTuple):
    schema_version: str | None  # highest versioned migration's version text; None when none
    hash: str  # sha256 over "<business_key>\t<checksum>\n" for every migration, in order
    entries: tuple[tuple[str, str], ...]  # (version label, checksum)


class TagInfo(NamedTuple):
    name: str
    commit: str
    schema_version: str | None
    manifest_hash: str | None  # None: the tag is not a vcsync release


class ReleaseRecord(NamedTuple):
    """A `release_h` + `release_s` pair: one release as one environment's ledger knows it."""

    tag: str
    commit_sha: str
    schema_version: str | None
    manifest_hash: str
    environment: str
    load_dts: datetime


class Recorded(NamedTuple):
    environment: str
    target: str  # redacted
    outcome: str  # recorded, failed
    error: str | None = None


class Release(NamedTuple):
    """What `tag-release` did."""

    tag: str
    commit: str
    manifest: Manifest
    message: str
    recorded: tuple[Recorded, ...]

    @property
    def failed(self) -> bool:
        return any(r.outcome == "failed" for r in self.recorded)


# -- manifests ---------------------------------------------------------------------------


def migration_folders(project: Project) -> list[str]:
    return list(dict.fromkeys(project.folders))


def manifest_of(project: Project, source: Source) -> Manifest:
    """The manifest of the migrations a source holds (work tree, index or any ref)."""
    discovery = discover_in(source, project.config, project.folders)
    digest = hashlib.sha256()
    entries = []
    schema_version = None
    for migration in discovery.migrations:
        # a markers file's checksum is its section's, which needs the text whole
        limit = UNLIMITED if migration.up.section else project.config.max_parse_bytes
        checksum = load_script(source, migration.up, limit).checksum
        digest.update(f"{business_key(migration)}\t{checksum}\n".encode())
        entries.append((migration.label, checksum))
        if migration.version is not None:  # versioned ones come first, in version order
            schema_version = migration.version.text
    return Manifest(schema_version, digest.hexdigest(), tuple(entries))


def manifest_at(project: Project, ref: str) -> Manifest:
    repo = require_repo(project)
    commit = resolve_ref(repo, ref)
    return manifest_of(project, ref_source(repo, commit, migration_folders(project)))


def require_repo(project: Project) -> Repo:
    if project.repo is None:
        raise GitError(
            f"{project.config.root} is not inside a Git repository; run `git init` and "
            "commit the migrations first."
        )
    return project.repo


def resolve_ref(repo: Repo, ref: str) -> str:
    """The commit `ref` names; a ref this clone lacks is a usage error naming the fetch."""
    commit = repo.resolve(ref)
    if commit is None and not repo.has_commits():
        raise GitError(f"the repository has no commits yet, so there is no {ref} to read.")
    if commit is None:
        raise GitError(f"{ref} is not in this clone; {repo.fetch_hint(ref)}.")
    return commit


# -- tag messages ------------------------------------------------------------------------


def tag_message(tag: str, manifest: Manifest, message: str | None = None) -> str:
    """The first line (or the user's message), a blank line, then the vcsync trailers."""
    head = (message or "").strip() or f"Release {tag}"
    version = manifest.schema_version or NO_VERSION
    return f"{head}\n\n{SCHEMA_TRAILER}: {version}\n{MANIFEST_TRAILER}: {manifest.hash}\n"


def parse_tag_message(text: str) -> tuple[str | None, str | None]:
    """(schema version, manifest hash) from a tag's message; (None, None) for other tags."""
    found: dict[str, str] = {}
    for match in _TRAILER.finditer(text):
        found.setdefault(match["key"].lower(), match["value"])
    manifest = found.get(MANIFEST_TRAILER, "").lower()
    if not _SHA256.match(manifest):
        return None, None
    version = found.get(SCHEMA_TRAILER)
    return (None if version in (None, "", NO_VERSION) else version), manifest


def release_tags(project: Project) -> list[TagInfo]:
    """Every vcsync release tag, oldest first, from one `git for-each-ref`."""
    if project.repo is None:
        return []
    return [t for t in _tags(project.repo, "refs/tags") if t.manifest_hash is not None]


def tag_info(project: Project, tag: str) -> TagInfo | None:
    """One tag (a vcsync release or not); None when this clone has no such tag."""
    found = _tags(require_repo(project), f"refs/tags/{tag}")
    return next((t for t in found if t.name == tag), None)


def _tags(repo: Repo, pattern: str) -> list[TagInfo]:
    out = repo.run("for-each-ref", "--sort=creatordate", f"--format={_TAG_FORMAT}", pattern)
    tags = []
    for record in out.split("\0\n"):
        fields = record.split("\0")
        if len(fields) < 5:
            continue
        name, kind, target_kind, target, contents = fields[:5]
        if kind != "tag":  # a lightweight tag has no message of its own
            continue
        if target_kind != "commit":  # a tag of a tag (rare): peel it all the way
            target = repo.resolve(f"refs/tags/{name}") or target
        version, manifest = parse_tag_message(contents)
        tags.append(TagInfo(name, target, version, manifest))
    return tags


# -- tag-release -------------------------------------------------------------------------


def tag_release(
    config: Config,
    tag: str,
    environments: Sequence[str],
    *,
    message: str | None = None,
    lock_timeout: float = 60.0,
) -> Release:
    """Tag HEAD as a release and record it in each named environment's ledger.

    Everything that can be refused is refused before anything is written: no commits,
    a bad or existing tag name, an unknown environment, uncommitted changes. The ledger
    rows are inserted under each database's deploy lock, the tag is created, and only
    then are the rows committed.
    """
    project = open_project(config)
    repo = require_repo(project)
    try:
        commit = _refuse_unready(repo, project, tag)
        targets = _distinct_targets(config, environments)
        manifest = manifest_of(project, ref_source(repo, commit, migration_folders(project)))
        text = tag_message(tag, manifest, message)
        now = datetime.now(UTC)
        holder = f"vcsync tag-release {socket.gethostname()} pid={os.getpid()} {commit[:8]}"
        with _open_all(targets, holder, config.ledger_schema, lock_timeout) as conns:
            current: Target | None = None  # whose rows are being written, for the message
            try:
                for conn in conns:
                    current = conn.target
                    record = ReleaseRecord(
                        tag,
                        commit,
                        manifest.schema_version,
                        manifest.hash,
                        current.environment,
                        now,
                    )
                    _stage(conn, current.ledger_schema(config.ledger_schema), record)
                current = None
                repo.run("tag", "-a", "--cleanup=whitespace", "-m", text, tag, commit)
            except VcsyncError as exc:
                raise _nothing_done(exc, current) from None  # _open_all rolls every row back
            recorded = tuple(_commit(conn) for conn in conns)
        return Release(tag, commit, manifest, text, recorded)
    finally:
        repo.close()


def _distinct_targets(config: Config, environments: Sequence[str]) -> list[Target]:
    """Every database the environments name; one named twice would wait on its own lock."""
    seen: dict[tuple[str, str, str | None], Target] = {}
    for env in dict.fromkeys(environments):
        for target in environment_targets(config, env):
            other = seen.setdefault((target.kind, target.dsn, target.schema), target)
            if other is not target:
                names = (
                    f"{env} names {target.display} twice"
                    if other.environment == env
                    else f"{other.environment} and {env} both name {target.display}"
                )
                raise VcsyncError(f"{names}; record the release in each database once.")
    return list(seen.values())


def _refuse_unready(repo: Repo, project: Project, tag: str) -> str:
    """HEAD's commit, once the repository, the tag name and the work tree allow a release."""
    commit = repo.resolve("HEAD")
    if commit is None:
        raise VcsyncError("the repository has no commits yet; commit the migrations first.")
    if not _valid_tag_name(repo, tag):
        raise VcsyncError(f"{tag!r} is not a valid tag name (see `git check-ref-format --help`).")
    existing = repo.run("rev-parse", "-q", "--verify", f"refs/tags/{tag}^{{}}", check=False)
    if existing.strip():
        raise VcsyncError(
            f"tag {tag} already exists (at {existing.strip()[:10]}); a release tag never moves, "
            "so pick a new name."
        )
    dirty = _uncommitted(repo, migration_folders(project))
    if dirty:
        listed = ", ".join(dirty[:_LISTED]) + (
            f" and {len(dirty) - _LISTED} more" if len(dirty) > _LISTED else ""
        )
        raise VcsyncError(
            f"the work tree has uncommitted changes ({listed}); commit or stash them before "
            "tagging, so the release holds exactly what was tested."
        )
    return commit


def _valid_tag_name(repo: Repo, tag: str) -> bool:
    if not tag or tag.startswith("-"):
        return False
    try:
        repo.run("check-ref-format", f"refs/tags/{tag}")
    except GitError:
        return False
    return True


def _uncommitted(repo: Repo, folders: list[str]) -> list[str]:
    """Tracked files changed anywhere (staged or not), and untracked files in the folders."""
    status = repo.run("status", "--porcelain", "-z", "--untracked-files=no").split("\0")
    paths, skip = [], False
    for record in status:
        if skip or not record:
            skip = False
            continue
        paths.append(record[3:])
        skip = record[0] in "RC"  # a rename's or copy's next field is its old path
    untracked = repo.run("ls-files", "--others", "--exclude-standard", "-z", "--", *folders)
    paths += [p for p in untracked.split("\0") if p]
    return sorted(set(paths))


@contextmanager
def _open_all(
    targets: list[Target], holder: str, base: str, lock_timeout: float
) -> Iterator[list[Connection]]:
    """Every target connected, locked and with a ledger (a tenant's own, beside its schema);
    all closed (uncommitted) on exit."""
    conns: list[Connection] = []
    try:
        for target in targets:
            try:
                schema = target.ledger_schema(base)
                conns.append(connect(target, holder=holder, create=True))
                conns[-1].lock(schema, holder, lock_timeout)
                ensure_ledger(conns[-1], schema, uuid.uuid4().hex)
            except VcsyncError as exc:
                raise _nothing_done(exc, target) from None
        yield conns
    finally:
        for conn in conns:
            with suppress(VcsyncError):  # a lost connection: closing is all that is left
                conn.rollback()  # a no-op after a commit
            conn.close()


def _nothing_done(exc: VcsyncError, target: Target | None = None) -> VcsyncError:
    """The same error, naming the database and saying that the release was neither
    tagged nor recorded anywhere."""
    text = str(exc).rstrip(".")
    if target is not None and target.display not in text:
        text = f"{target.environment} ({target.display}): {text}"
    again = type(exc)(f"{text}; nothing was tagged or recorded.")
    again.exit_code = exc.exit_code
    return again


def _stage(conn: Connection, schema: str, record: ReleaseRecord) -> None:
    """Refuse a tag name the ledger knows at another commit; else insert, uncommitted."""
    for known in recorded_releases(conn, schema, record.tag):
        if known.commit_sha != record.commit_sha:
            raise VcsyncError(
                f"{conn.target.environment}'s ledger ({conn.target.display}) already records "
                f"release {known.tag} at commit {known.commit_sha[:10]}; a release tag never "
                "moves (fetch the tags with `git fetch --tags`), so pick a new name."
            )
    at = _schema_version(conn, schema)
    if at != record.schema_version:
        raise OperationFailed(
            f"{conn.target.environment} ({conn.target.display}) is at schema version "
            f"{at or 'none (nothing applied)'}, not {record.schema_version or 'none'}, the "
            f"version {record.tag} holds; migrate it first (`vcsync migrate --env "
            f"{conn.target.environment}`), or leave it out of --env."
        )
    conn.begin()
    deployment_id = uuid.uuid4().hex
    key = ledger_key()
    record_start(conn, schema, _release_run(conn, record, deployment_id), key)
    record_release(conn, schema, record, deployment_id)
    record_end(conn, schema, RunEnd(deployment_id, "succeeded", None, "", record.load_dts, 0), key)


def _schema_version(conn: Connection, schema: str) -> str | None:
    """The newest versioned migration applied in that database (as its label), or None."""
    from vcsync.ledger.reader import migration_states

    applied = [s for k, s in migration_states(conn, schema).items() if s.applied and k[:1] != "~"]
    return max(applied, key=lambda s: s.version_sort).version if applied else None


def _release_run(conn: Connection, record: ReleaseRecord, deployment_id: str) -> Deployment:
    """Recording a release is a run of its own in the chain, so its rows are sealed too."""
    from vcsync import __version__
    from vcsync.deploy.provenance import operator

    return Deployment(
        deployment_id=deployment_id,
        environment=record.environment,
        target=conn.target.display,
        operation="release",
        operator=operator(),
        host=socket.gethostname(),
        commit_sha=record.commit_sha,
        ref=None,
        tag=record.tag,
        dirty=False,
        vcsync_version=__version__,
        dry_run=False,
        reason=f"release {record.tag}",
        started_at=record.load_dts,
        outcome="running",
        error=None,
        migrations="",
        duration_ms=0,
    )


def _commit(conn: Connection) -> Recorded:
    target = conn.target
    try:
        conn.commit()
    except VcsyncError as exc:
        return Recorded(target.environment, target_name(target), "failed", str(exc))
    return Recorded(target.environment, target_name(target), "recorded")


# -- the ledger's release rows -----------------------------------------------------------


def record_release(
    conn: Connection, schema: str, record: ReleaseRecord, deployment_id: str
) -> None:
    """The hub row on first sight of the tag, then the satellite row; in the caller's
    transaction. Each insert must touch exactly the rows it means to."""
    hk = hash_key(record.tag)
    hub = conn.table(schema, "release_h")
    touched = conn.execute(
        f"INSERT INTO {hub} (release_hk, tag, load_dts, record_source, deployment_id) "
        "VALUES (%s, %s, %s, %s, %s) ON CONFLICT (release_hk) DO NOTHING",
        [hk, record.tag, record.load_dts, RECORD_SOURCE, deployment_id],
    )
    if touched not in (0, 1):
        raise OperationFailed(f"the ledger insert into {hub} touched {touched} rows, not 0 or 1.")
    satellite = conn.table(schema, "release_s")
    touched = conn.execute(
        f"INSERT INTO {satellite} (release_hk, load_dts, commit_sha, schema_version, "
        "manifest_hash, environment, record_source, deployment_id) "
        "VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
        [
            hk,
            record.load_dts,
            record.commit_sha,
            record.schema_version,
            record.manifest_hash,
            record.environment,
            RECORD_SOURCE,
            deployment_id,
        ],
    )
    if touched != 1:
        raise OperationFailed(f"the ledger insert into {satellite} touched {touched} rows, not 1.")


def recorded_releases(conn: Connection, schema: str, tag: str | None = None) -> list[ReleaseRecord]:
    """The release rows of a ledger (of one tag, when named), oldest first."""
    if not conn.has_table(schema, "release_h"):
        return []
    hub, satellite = conn.table(schema, "release_h"), conn.table(schema, "release_s")
    where, params = ("WHERE h.release_hk = %s", [hash_key(tag)]) if tag else ("", [])
    rows = conn.query(
        f"SELECT h.tag, s.commit_sha, s.schema_version, s.manifest_hash, s.environment, "
        f"s.load_dts FROM {hub} h JOIN {satellite} s ON s.release_hk = h.release_hk "
        f"{where} ORDER BY s.load_dts",
        params,
    )
    return [
        ReleaseRecord(tag_, sha, version, manifest, environment, _moment(when))
        for tag_, sha, version, manifest, environment, when in rows
    ]


def _moment(value: Any) -> datetime:
    """SQLite returns timestamps as ISO text; PostgreSQL as datetimes."""
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(value)
    return moment.astimezone(UTC)
