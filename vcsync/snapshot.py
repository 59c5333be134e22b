"""Schema snapshots: a normalised picture of a database's catalog, and their difference.

A snapshot maps "<kind> <qualified name>" (say "column public.customers.email") to that
object's attributes. Keys are names, never positions, and lists are sorted wherever their
order means nothing, so two databases with the same schema have equal snapshots (and equal
hashes) whatever order their objects were created in. The ledger's own objects are left
out: recording a deployment must not change the snapshot it records.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, NamedTuple

from vcsync.db import Connection
from vcsync.db.urls import POSTGRES

Snapshot = dict[str, dict[str, Any]]


def take_snapshot(conn: Connection, ledger_schema: str) -> Snapshot:
    """The schema of the database behind `conn`, without the ledger in `ledger_schema`."""
    if conn.target.kind == POSTGRES:
        from vcsync.db.catalog_postgres import postgres_snapshot

        return postgres_snapshot(conn, ledger_schema)
    from vcsync.db.catalog_sqlite import sqlite_snapshot

    return sqlite_snapshot(conn, ledger_schema)


def snapshot_json(snapshot: Snapshot) -> str:
    """The canonical text: keys sorted, no spaces, so equal snapshots are equal strings."""
    return json.dumps(snapshot, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def snapshot_from_json(text: str) -> Snapshot:
    loaded: Snapshot = json.loads(text)
    return loaded


def snapshot_hash(snapshot: Snapshot) -> str:
    return hashlib.sha256(snapshot_json(snapshot).encode()).hexdigest()


class Change(NamedTuple):
    change: str  # "added" | "removed" | "changed"
    object: str  # the snapshot key, e.g. "column public.customers.email"
    attributes: dict[str, tuple[Any, Any]]  # name -> (before, after); {} when added/removed


def diff_snapshots(before: Snapshot, after: Snapshot) -> list[Change]:
    """What turns `before` into `after`, object by object, sorted by object."""
    changes = []
    for key in sorted(before.keys() | after.keys()):
        if key not in after:
            changes.append(Change("removed", key, {}))
        elif key not in before:
            changes.append(Change("added", key, {}))
        elif before[key] != after[key]:
            old, new = before[key], after[key]
            changed = {
                name: (old.get(name), new.get(name))
                for name in sorted(old.keys() | new.keys())
                if old.get(name) != new.get(name)
            }
            changes.append(Change("changed", key, changed))
    return changes


_SIGNS = {"added": "+", "removed": "-", "changed": "~"}


def describe_change(change: Change) -> str:
    """One line: "+ table public.orders", "~ column public.t.c: type text -> integer"."""
    line = f"{_SIGNS[change.change]} {change.object}"
    if change.attributes:
        line += ": " + "; ".join(
            f"{name} {_show(old)} -> {_show(new)}" for name, (old, new) in change.attributes.items()
        )
    return line


def _show(value: Any) -> str:
    if value is None:
        return "(none)"
    if isinstance(value, str):
        return " ".join(value.split()) or '""'  # definitions span lines; the line must not
    return json.dumps(value, sort_keys=True, ensure_ascii=False)
