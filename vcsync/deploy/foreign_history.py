"""Reading the history table another migration tool left in a database, for
`vcsync baseline --from TOOL` (DESIGN §9), and matching what it applied to Git.

Only reads: the other tool's table is never written. Each reader says, in the tool's own
terms, which migrations it recorded as applied, when, and which of its entries are failed
or dirty. What "applied" means for each tool (docs/deployments.md, "Adopting from another
tool"):

- flyway: `flyway_schema_history`; the newest row (by installed_rank) of each version
  decides. `success` false is a failed migration (refused); an UNDO_* row means the version
  was undone, a DELETE row (written by `flyway repair`) that it was forgotten: neither is
  applied. A BASELINE row (`flyway baseline`) stands for every Git migration up to its
  version. SCHEMA rows (schemas Flyway created) and repeatable migrations (no version) are
  not adopted: vcsync runs repeatables again, as they are written to be.
- liquibase: `databasechangelog`; EXECUTED, RERAN and MARK_RAN are applied (Liquibase's
  own ExecType.ran), SKIPPED is not, FAILED is refused. A changeset matches the Git
  migration whose version equals its ID, whose description equals its ID, or whose file has
  its FILENAME's base name; more than one candidate is refused as ambiguous.
- sqitch: `sqitch.changes` (PostgreSQL: the `sqitch` schema; SQLite: the registry file
  `sqitch.db` beside the database) holds the deployed changes; a change whose newest event
  in `sqitch.events` is `fail` is refused. A change matches the Git migration whose
  description is its name (or whose version is its name).
- dbmate: `schema_migrations(version)`; a row is an applied migration (dbmate records
  nothing else: no time, no failure).
- golang-migrate: `schema_migrations(version, dirty)`, one row: the current version. Every
  Git migration up to it is applied; `dirty` is refused. No time is recorded.
- goose: `goose_db_version`; the newest row (by id) of each version_id decides
  (is_applied), version 0 is goose's own first row. goose records no failures.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import PurePosixPath
from typing import Any, NamedTuple

from vcsync.db import Connection, DatabaseError
from vcsync.db.urls import POSTGRES
from vcsync.deploy.plan import Deployable
from vcsync.errors import OperationFailed
from vcsync.migrations.versions import Version, parse_version

TOOLS = ("flyway", "liquibase", "sqitch", "dbmate", "golang-migrate", "goose")
_VERSION = re.compile(r"\d+(?:[._-]\d+)*", re.ASCII)


class Refused(OperationFailed):
    """The other tool's history cannot be adopted as it is (the message ends in a full stop)."""


class Applied(NamedTuple):
    """One migration the other tool recorded as applied, in its own terms."""

    label: str  # how the tool names it, for messages
    applied_at: str | None  # as the tool recorded it; None: the tool records no time
    version: Version | None = None  # match by version
    names: tuple[str, ...] = ()  # match by description (sqitch change, liquibase ID)
    files: tuple[str, ...] = ()  # match by the up file's base name (liquibase FILENAME)
    through: bool = False  # also every Git migration below `version` (a baseline)


class History(NamedTuple):
    tool: str
    table: str  # where it was read, for messages and the run's reason
    applied: list[Applied]
    problems: list[str]  # failed or dirty entries, each named


class Adoption(NamedTuple):
    """Each Git migration to record, with when the other tool applied it."""

    tool: str
    table: str
    items: list[tuple[Deployable, str | None]]

    def reason(self) -> str:
        """The run's reason (deployment_log.reason, in the hash chain): the provenance and
        each migration's original applied-at time."""
        times = "; ".join(
            f"{item.version} at {when}" if when else f"{item.version} (no time recorded)"
            for item, when in self.items
        )
        return f"adopted from {self.tool} ({self.table}); originally applied: {times or '-'}"


def read_history(conn: Connection, tool: str) -> History:
    """What `tool` recorded in the database `conn` is connected to; Refused when it left no
    history there."""
    reader = _READERS.get(tool)
    if reader is None:
        raise Refused(f"--from must be one of {', '.join(TOOLS)}, not {tool!r}.")
    try:
        return reader(conn)
    except DatabaseError as exc:
        raise Refused(f"cannot read the {tool} history in {conn.target.display}: {exc}") from None


def match(history: History, deployables: Sequence[Deployable]) -> Adoption:
    """The Git migrations the other tool applied; Refused (naming them) for failed or dirty
    entries, versions Git does not have, and entries that match more than one migration."""
    if history.problems:
        raise Refused(
            f"{history.tool} recorded {_count(len(history.problems), 'entry', 'entries')} that "
            f"did not finish in {history.table}: {', '.join(history.problems)}; resolve "
            f"{'it' if len(history.problems) == 1 else 'them'} with {history.tool} first."
        )
    versioned = [d for d in deployables if d.migration.version is not None]
    chosen: dict[str, tuple[Deployable, str | None]] = {}
    claimed_by: dict[str, str] = {}
    missing: list[str] = []
    ambiguous: list[str] = []
    baselines: list[Applied] = []
    for entry in history.applied:
        candidates = _candidates(entry, versioned)
        if entry.through and entry.version is not None and history.tool == "flyway":
            baselines.append(entry)  # a marker: Git need not hold its version
            continue
        if not candidates:
            missing.append(entry.label)
            continue
        if len(candidates) > 1:
            names = ", ".join(d.migration.up.path for d in candidates)
            ambiguous.append(f"{entry.label} matches {names}")
            continue
        item = candidates[0]
        if item.version_sort in claimed_by:
            ambiguous.append(
                f"{claimed_by[item.version_sort]} and {entry.label} both match "
                f"{item.migration.up.path}"
            )
            continue
        claimed_by[item.version_sort] = entry.label
        chosen[item.version_sort] = (item, entry.applied_at)
        if entry.through:
            baselines.append(entry)
    if missing:
        raise Refused(
            f"{history.tool} applied {_count(len(missing), 'migration', 'migrations')} that Git "
            f"does not have ({history.table}): {', '.join(missing)}; add "
            f"{'it' if len(missing) == 1 else 'them'} to the migrations folder first."
        )
    if ambiguous:
        raise Refused(
            f"cannot tell which Git migration {history.tool} applied ({history.table}): "
            f"{'; '.join(ambiguous)}."
        )
    for entry in baselines:
        assert entry.version is not None
        for item in versioned:
            assert item.migration.version is not None
            if item.migration.version.key <= entry.version.key:
                chosen.setdefault(item.version_sort, (item, entry.applied_at))
    items = [chosen[key] for key in sorted(chosen)]
    return Adoption(history.tool, history.table, items)


def _candidates(entry: Applied, versioned: Sequence[Deployable]) -> list[Deployable]:
    names = {_normal(n) for n in entry.names}
    files = {PurePosixPath(f).name for f in entry.files}
    return [
        d
        for d in versioned
        if (entry.version is not None and d.migration.version == entry.version)
        or _normal(d.migration.description) in names
        or PurePosixPath(d.migration.up.path).name in files
    ]


def _normal(name: str) -> str:
    """Descriptions compare without case, and `-`, `_` and spaces alike."""
    return re.sub(r"[-_ ]+", "_", name.strip().lower())


def _count(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"


def _version(text: object) -> Version | None:
    value = str(text).strip() if text is not None else ""
    return parse_version(value) if _VERSION.fullmatch(value) else None


def _flag(value: object) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("1", "t", "true", "y", "yes")
    return bool(value)


def _when(value: object) -> str | None:
    """As the tool recorded it: an instant in UTC, or a local time without zone as is."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            return value.astimezone(UTC).isoformat()
        return value.isoformat()
    return str(value)


def _table(conn: Connection, name: str, tool: str) -> str:
    """The table's name as the database resolves it (search_path on PostgreSQL), or Refused."""
    if conn.target.kind == POSTGRES:
        found = conn.query("SELECT to_regclass(%s)::text", [name])[0][0]
    else:
        rows = conn.query(
            "SELECT name FROM sqlite_schema WHERE type = 'table' AND lower(name) = lower(%s)",
            [name],
        )
        found = rows[0][0] if rows else None
    if not found:
        raise Refused(
            f"{conn.target.display} has no {name} table: {tool} has not run there (or keeps "
            "its history under another name)."
        )
    return str(found)


def _flyway(conn: Connection) -> History:
    table = _table(conn, "flyway_schema_history", "flyway")
    rows = conn.query(
        f"SELECT installed_rank, version, type, script, installed_on, success "
        f"FROM {table} ORDER BY installed_rank"
    )
    newest: dict[tuple[int, ...], tuple[Any, ...]] = {}
    for row in rows:
        parsed = _version(row[1])
        if str(row[2]).upper() == "SCHEMA" or parsed is None:
            continue  # schemas Flyway created; repeatable migrations (run again by vcsync)
        newest[parsed.key] = row
    applied, problems = [], []
    for rank, version, kind, script, installed_on, success in newest.values():
        kind = str(kind).upper()
        label = f"{version} ({script}, installed_rank {rank})"
        if not _flag(success):
            problems.append(f"{label} failed")
        elif not (kind.startswith("UNDO") or kind == "DELETE"):
            applied.append(
                Applied(label, _when(installed_on), _version(version), through=kind == "BASELINE")
            )
    return History("flyway", table, applied, problems)


def _liquibase(conn: Connection) -> History:
    table = _table(conn, "databasechangelog", "liquibase")
    rows = conn.query(
        f"SELECT id, author, filename, dateexecuted, exectype FROM {table} "
        "ORDER BY orderexecuted, dateexecuted"
    )
    applied, problems = [], []
    for change_id, author, filename, executed, exectype in rows:
        label = f"{change_id} by {author} in {filename}"
        kind = str(exectype).upper()
        if kind == "FAILED":
            problems.append(f"{label} failed")
        elif kind in ("EXECUTED", "RERAN", "MARK_RAN"):
            applied.append(
                Applied(
                    label,
                    _when(executed),
                    _version(change_id),
                    names=(str(change_id),),
                    files=(str(filename),),
                )
            )
    return History("liquibase", table, applied, problems)


def _sqitch(conn: Connection) -> History:
    if conn.target.kind == POSTGRES:
        table = _table(conn, "sqitch.changes", "sqitch")
        changes = conn.query(
            f"SELECT change_id, change, project, committed_at FROM {table} ORDER BY committed_at"
        )
        events = conn.query(
            "SELECT change_id, change, project, event FROM sqitch.events ORDER BY committed_at"
        )
        return _sqitch_history(table, changes, events)
    assert conn.target.path is not None
    registry = conn.target.path.parent / "sqitch.db"
    table = f"{registry.name}: changes"
    if not registry.exists():
        raise Refused(
            f"{conn.target.display} has no sqitch registry ({registry.name} beside it): "
            "sqitch has not run there."
        )
    db = sqlite3.connect(f"{registry.as_uri()}?mode=ro", uri=True)
    try:
        changes = db.execute(
            "SELECT change_id, change, project, committed_at FROM changes ORDER BY committed_at"
        ).fetchall()
        events = db.execute(
            "SELECT change_id, change, project, event FROM events ORDER BY committed_at"
        ).fetchall()
    except sqlite3.Error as exc:
        raise Refused(f"cannot read the sqitch registry {registry}: {exc}") from None
    finally:
        db.close()
    return _sqitch_history(table, changes, events)


def _sqitch_history(table: str, changes: list[Any], events: list[Any]) -> History:
    projects = sorted({str(row[2]) for row in changes})
    if len(projects) > 1:
        raise Refused(
            f"{table} holds the changes of {len(projects)} sqitch projects "
            f"({', '.join(projects)}); vcsync cannot tell which one is this repository's."
        )
    newest_event = {}
    for change_id, change, project, event in events:
        newest_event[change_id] = (change, project, str(event))
    problems = [
        f"{change} ({project}) failed to deploy"
        for change_id, (change, project, event) in newest_event.items()
        if event == "fail" and (not projects or project in projects)
    ]
    applied = [
        Applied(f"{change} ({project})", _when(committed_at), _version(change), names=(change,))
        for _, change, project, committed_at in changes
    ]
    return History("sqitch", table, applied, problems)


def _dbmate(conn: Connection) -> History:
    table = _table(conn, "schema_migrations", "dbmate")
    rows = conn.query(f"SELECT version FROM {table} ORDER BY version")
    applied = [Applied(str(v), None, _version(v)) for (v,) in rows]
    return History("dbmate", table, applied, [])


def _golang_migrate(conn: Connection) -> History:
    table = _table(conn, "schema_migrations", "golang-migrate")
    rows = conn.query(f"SELECT version, dirty FROM {table}")
    if not rows:
        return History("golang-migrate", table, [], [])
    if len(rows) > 1:  # golang-migrate keeps exactly one row; dbmate keeps one per migration
        raise Refused(
            f"{table} has {len(rows)} rows, and golang-migrate keeps one (its current "
            "version): is this dbmate's table?"
        )
    version, dirty = rows[0]
    if _flag(dirty):
        return History("golang-migrate", table, [], [f"version {version} is dirty"])
    if int(version) < 0:  # NilVersion: every migration went down again
        return History("golang-migrate", table, [], [])
    entry = Applied(f"version {version}", None, _version(version), through=True)
    return History("golang-migrate", table, [entry], [])


def _goose(conn: Connection) -> History:
    table = _table(conn, "goose_db_version", "goose")
    rows = conn.query(f"SELECT id, version_id, is_applied, tstamp FROM {table} ORDER BY id")
    newest: dict[int, tuple[Any, ...]] = {}
    for row in rows:
        newest[int(row[1])] = row
    applied = [
        Applied(f"{version}", _when(tstamp), _version(version))
        for version, (_, _, is_applied, tstamp) in sorted(newest.items())
        if version != 0 and _flag(is_applied)
    ]
    return History("goose", table, applied, [])


_READERS = {
    "flyway": _flyway,
    "liquibase": _liquibase,
    "sqitch": _sqitch,
    "dbmate": _dbmate,
    "golang-migrate": _golang_migrate,
    "goose": _goose,
}
