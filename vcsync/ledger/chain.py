"""The ledger's hash chain: how its links and digests are computed, for writer and audit alike.

Every run writes two links: its `deployment_log` row when it starts and its
`deployment_end` row when it ends (or, for a run that was killed, when the next run
seals it as `interrupted`). Both tables share one sequence; each link carries the hash
of the link before it. An end link also carries a digest of every other ledger row the
run wrote (migration hubs and satellites, progress, snapshot, releases, the ledger
version), read back from the database, so an edit, deletion or insertion anywhere shows.

With `VCSYNC_LEDGER_KEY` set, hashes and digests are HMAC-SHA-256 under that key
(`hash_kind = 'hmac-sha256'`), so rows forged with a recomputed hash fail the audit.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
from datetime import UTC, datetime
from typing import Any, NamedTuple

from vcsync.db import Connection, Row
from vcsync.ledger.schema import columns, present_columns

GENESIS = "0" * 64
KEY_VARIABLE = "VCSYNC_LEDGER_KEY"
SHA256, HMAC = "sha256", "hmac-sha256"
LINK_TABLES = ("deployment_log", "deployment_end")
# The rows a run writes besides its links, each table's rows carrying its deployment_id.
RUN_TABLES = (
    "ledger_version",
    "schema_migration_h",
    "schema_migration_s",
    "migration_progress",
    "schema_snapshot",
    "release_h",
    "release_s",
)


def ledger_key() -> bytes | None:
    value = os.environ.get(KEY_VARIABLE)
    return value.encode() if value else None


def hash_kind(key: bytes | None) -> str:
    return HMAC if key else SHA256


def seal(payload: str, key: bytes | None) -> str:
    """SHA-256 of the payload, or its HMAC under the ledger key."""
    if key:
        return hmac.new(key, payload.encode(), hashlib.sha256).hexdigest()
    return hashlib.sha256(payload.encode()).hexdigest()


def normalised(table: str, names: tuple[str, ...] | list[str], row: Row) -> dict[str, Any]:
    """A row's values as both back ends agree on them: timestamps in UTC ISO form, booleans
    as booleans (SQLite returns text and 0/1), everything else as read.

    SQLite keeps a timestamp as the text vcsync wrote, UTC ISO form; text that is not in
    that form stays as it is, so it hashes differently: the same instant written in another
    zone sorts differently, and the views pick a migration's newest state by that order."""
    kinds = columns(table)
    values: dict[str, Any] = {}
    for name, value in zip(names, row, strict=True):
        kind = kinds.get(name, "")
        if value is not None and kind == "ts":
            moment = value if isinstance(value, datetime) else datetime.fromisoformat(value)
            canonical = moment.astimezone(UTC).isoformat()
            value = canonical if isinstance(value, datetime) or value == canonical else value
        elif value is not None and kind == "bool":
            value = bool(value)
        values[name] = value
    return values


def link_hash(prev_hash: str, table: str, values: dict[str, Any], key: bytes | None) -> str:
    """A link's hash: over the previous link's hash, which table it sits in, and every
    column of it except the hash itself."""
    body = {k: v for k, v in values.items() if k != "row_hash"}
    payload = prev_hash + table + json.dumps(body, sort_keys=True, default=str)
    return seal(payload, key)


def run_rows(conn: Connection, schema: str, deployment_id: str) -> list[str]:
    """Every non-link row run `deployment_id` wrote, canonical and in a stable order.

    One query first asks which tables hold any (a run that had nothing to do wrote none:
    a fleet of 200 tenants would otherwise pay seven round trips each to learn that)."""
    present = [table for table in RUN_TABLES if conn.has_table(schema, table)]
    if not present:
        return []
    probe = " UNION ALL ".join(
        f"SELECT %s WHERE EXISTS (SELECT 1 FROM {conn.table(schema, table)} "
        "WHERE deployment_id = %s)"
        for table in present
    )
    holding = {
        row[0] for row in conn.query(probe, [v for t in present for v in (t, deployment_id)])
    }
    found = []
    for table in present:
        if table not in holding:
            continue
        names = list(columns(table))
        rows = conn.query(
            f"SELECT {', '.join(names)} FROM {conn.table(schema, table)} WHERE deployment_id = %s",
            [deployment_id],
        )
        found += [
            table + json.dumps(normalised(table, names, row), sort_keys=True, default=str)
            for row in rows
        ]
    return sorted(found)


def rows_digest(conn: Connection, schema: str, deployment_id: str, key: bytes | None) -> str:
    return seal("\n".join(run_rows(conn, schema, deployment_id)), key)


class Link(NamedTuple):
    """One row of the chain, from either link table, with its values normalised."""

    table: str
    seq: int
    values: dict[str, Any]

    @property
    def deployment_id(self) -> str:
        return str(self.values["deployment_id"])

    @property
    def row_hash(self) -> str:
        return str(self.values["row_hash"])


def links(conn: Connection, schema: str) -> list[Link]:
    """Both link tables' rows in sequence order (reordering shows as broken links)."""
    found = []
    for table in LINK_TABLES:
        if not conn.has_table(schema, table):
            continue
        # a version-1 ledger not upgraded yet lacks the columns later versions added
        present = present_columns(conn, schema, table)
        names = [name for name in columns(table) if name in present]
        for row in conn.query(f"SELECT {', '.join(names)} FROM {conn.table(schema, table)}"):
            values: dict[str, Any] = dict.fromkeys(columns(table))
            values.update(normalised(table, names, row))
            found.append(Link(table, int(values["seq"]), values))
    return sorted(found, key=lambda link: (link.seq, link.table))


def head(conn: Connection, schema: str) -> tuple[int, str]:
    """The newest link's sequence number and hash: (0, GENESIS) for an empty chain."""
    present = [table for table in LINK_TABLES if conn.has_table(schema, table)]
    if not present:
        return 0, GENESIS
    # both link tables in one round trip: a fleet run asks for the head three times a target
    newest = " UNION ALL ".join(
        f"SELECT * FROM (SELECT seq, row_hash FROM {conn.table(schema, table)} "
        "ORDER BY seq DESC LIMIT 1) AS newest"
        for table in present
    )
    rows = conn.query(f"SELECT seq, row_hash FROM ({newest}) AS heads ORDER BY seq DESC LIMIT 1")
    return (int(rows[0][0]), str(rows[0][1])) if rows else (0, GENESIS)


def describe_head(seq: int, row_hash: str) -> str:
    """How a head is printed and anchored in refs/deployments/<env>: `seq:hash`."""
    return f"{seq}:{row_hash}"
