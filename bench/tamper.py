"""Ledger tampering `vcsync verify` must catch, on SQLite and on PostgreSQL.

Why: DESIGN.md section 5 promises that an edit, deletion or insertion anywhere in the
ledger shows, that deleting the newest rows shows against the head anchored in
`refs/deployments/<env>`, and that with VCSYNC_LEDGER_KEY set rows forged with a
recomputed hash fail. This proves it by doing every one of those things, one at a time.

It builds a split-layout project with a handful of migrations and deploys it to a SQLite
file and to a fresh PostgreSQL database (created on `--server`, dropped afterwards), with
VCSYNC_LEDGER_KEY set for every run: migrate --to 2, migrate (one script is
no-transaction, so progress rows are written), rollback --steps 1, migrate, tag-release
v1 --env staging, a failed migrate, a dry run, and migrate --record-ref last. Then, for
every ledger table of vcsync.ledger.schema.TABLES, each on a fresh copy of the deployed
database (a file copy; CREATE DATABASE ... TEMPLATE) with the insert-only triggers off
just for the tamper:

  edit      every column of every row: text changed, a boolean flipped, a timestamp
            moved by 1 us and by 1 s, an integer +1, a status to another valid one, a
            nullable value NULLed (a NULL one filled)
  delete    every row
  insert    a copy of every row under a plausible new key (the next sequence number,
            another hash, a microsecond later); where deployment_id may be NULL also a
            copy claiming to predate ledger version 2 (deployment_id NULL)
  reorder   the `seq` of every two adjacent links swapped
  forge     links appended at the end with a correctly recomputed plain SHA-256 hash
            (vcsync.ledger.chain): as sha256, as hmac-sha256, as a version-1 link, under an
            unknown hash kind, a whole forged run with its digest; the newest link
            re-sealed; the whole chain re-sealed without the key
  truncate  the newest 1..3 links deleted, and the newest runs with every row they wrote
  empty     all rows of a table deleted
  guards    the insert-only triggers dropped, disabled, or left in place but made harmless
            (these stay so while verify runs)
  objects   a ledger table dropped; the migration_dashboard view redefined to hide one

A tamper counts as detected when verify (through the library, with the key set; `--cli`
runs the console script with `--format json` instead) fails with a VC209 finding. It
prints `tampering detected: D of N (sqlite), D of N (postgres)`, the count per class, and
every tamper that was not detected (with `--verbose` the VC209 messages of every one);
exit 1 when any was missed. The timing options of the other benches (--runs, --warmup,
--no-hyperfine, --migrations below 4) change nothing here.

    python bench/tamper.py [--backend sqlite|postgres] [--kind edit --kind forge ...]
        [--cli] [--verbose] [--work DIR]
        [--server postgresql://postgres@127.0.0.1:5432/postgres]
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from itertools import pairwise
from pathlib import Path
from typing import Any, NamedTuple

from _repo import (
    GIT_ENV,
    MIGRATIONS,
    ROLLBACKS,
    bench_parser,
    clean_env,
    git,
    init_project,
    real_python,
    real_vcsync,
    work_dir,
)

from vcsync.config import Config, load_config
from vcsync.db import Connection, DatabaseError, connect
from vcsync.deploy.targets import environment_targets
from vcsync.ledger.chain import (
    GENESIS,
    KEY_VARIABLE,
    LINK_TABLES,
    RUN_TABLES,
    SHA256,
    Link,
    head,
    link_hash,
    links,
    normalised,
    rows_digest,
)
from vcsync.ledger.schema import ADDED_COLUMNS, TABLES, VIEWS, columns, names
from vcsync.ledger.writer import Deployment, legacy_row_hash
from vcsync.verify import verify

KEY = "tamper-bench-key"
ENV = "staging"
SCHEMA = "version_control"
MARKER = ".vcsync-tamper-bench"
KINDS = (
    "edit",
    "delete",
    "insert",
    "reorder",
    "forge",
    "truncate",
    "empty",
    "guards",
    "objects",
)

# How a copy of a row gets a key of its own, so it can be inserted beside the original.
NEW_KEY = {
    "ledger_version": ("version",),
    "schema_migration_h": ("migration_hk",),
    "schema_migration_s": ("load_dts",),
    "deployment_log": ("seq", "deployment_id"),
    "release_h": ("release_hk",),
    "release_s": ("load_dts",),
    "schema_snapshot": ("deployment_id",),
    "deployment_end": ("seq", "deployment_id"),
    "migration_progress": ("load_dts",),
}


# --- the project and its deployments ------------------------------------------------------

# SQL both back ends run; V3 is no-transaction (progress rows), V5 first fails, then is fixed.
SCRIPTS = [
    (
        "customers",
        "CREATE TABLE customers (id integer PRIMARY KEY, email text);\n",
        "DROP TABLE customers;\n",
    ),
    (
        "orders",
        "CREATE TABLE orders (id integer PRIMARY KEY,\n"
        "    customer_id integer REFERENCES customers (id));\n",
        "DROP TABLE orders;\n",
    ),
    (
        "orders_customer_index",
        "-- vcsync: no-transaction\nCREATE INDEX orders_customer_idx ON orders (customer_id);\n",
        "-- vcsync: no-transaction\nDROP INDEX orders_customer_idx;\n",
    ),
    (
        "customer_names",
        "ALTER TABLE customers ADD COLUMN name text;\n",
        "ALTER TABLE customers DROP COLUMN name;\n",
    ),
]
BROKEN = ("notes", "INSERT INTO no_such_table VALUES (1);\n", "SELECT 1;\n")
FIXED = ("notes", "CREATE TABLE notes (id integer PRIMARY KEY);\n", "DROP TABLE notes;\n")


def write_script(repo: Path, n: int, script: tuple[str, str, str]) -> None:
    desc, up, down = script
    (repo / MIGRATIONS / f"V{n}__{desc}.sql").write_text(up, "utf-8", newline="")
    (repo / ROLLBACKS / f"V{n}__{desc}_rollback.sql").write_text(down, "utf-8", newline="")


def extra_script(n: int) -> tuple[str, str, str]:
    return (f"table_{n}", f"CREATE TABLE t{n} (id integer PRIMARY KEY);\n", f"DROP TABLE t{n};\n")


def deploy(repo: Path, url: str, vcsync: str, count: int) -> None:
    """The project at `repo` with `count` good migrations, deployed to `url` as `staging`
    by the console script, with the ledger key set, the runs a team's history holds."""
    init_project(repo, {ENV: url})
    (repo / ".gitignore").write_text("*.db\n*.db-vcsync.lock\n", "utf-8")
    scripts = SCRIPTS + [extra_script(n) for n in range(len(SCRIPTS) + 1, count + 1)]
    for n, script in enumerate(scripts, 1):
        write_script(repo, n, script)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "migrations")
    env = {**clean_env(), **GIT_ENV, KEY_VARIABLE: KEY}

    def run(*args: str, expect: int = 0) -> None:
        done = subprocess.run(
            [vcsync, *args], cwd=repo, env=env, capture_output=True, text=True, check=False
        )
        if done.returncode != expect:
            raise SystemExit(
                f"`vcsync {' '.join(args)}` exited {done.returncode}, not {expect}:\n"
                f"{done.stdout}{done.stderr}"
            )

    run("migrate", "--env", ENV, "--to", "2")
    run("migrate", "--env", ENV)
    run("rollback", "--env", ENV, "--steps", "1", "--reason", "x")
    run("migrate", "--env", ENV)
    run("tag-release", "v1", "--env", ENV)
    last = len(scripts) + 1
    write_script(repo, last, BROKEN)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "a migration that fails")
    run("migrate", "--env", ENV, expect=1)
    write_script(repo, last, FIXED)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "the migration fixed")
    run("migrate", "--env", ENV, "--dry-run")
    run("migrate", "--env", ENV, "--record-ref")


# --- fresh copies of the deployed database ------------------------------------------------


class Copies:
    """Makes the deployed database fresh again before each tamper, under the same name, so
    the head anchored in refs/deployments/staging still names it."""

    kind: str
    row_id: str  # the physical row address, the same in every copy
    row_is: str  # the WHERE clause finding a row by it

    def __init__(self, config: Config) -> None:
        self.config = config
        self.target = environment_targets(config, ENV)[0]

    def keep_pristine(self) -> None: ...

    def fresh(self) -> None: ...

    def drop(self) -> None: ...

    def connect(self) -> Connection:
        return connect(self.target, holder="vcsync tamper bench", create=False)


class SqliteCopies(Copies):
    kind, row_id, row_is = "sqlite", "rowid", "rowid = %s"

    def keep_pristine(self) -> None:
        assert self.target.path is not None
        self.pristine = self.target.path.with_suffix(".pristine")
        shutil.copyfile(self.target.path, self.pristine)

    def fresh(self) -> None:
        assert self.target.path is not None
        shutil.copyfile(self.pristine, self.target.path)


def pg_admin(server: str, *statements: str, **databases: str) -> None:
    """Statements on the server's admin database, `{name}`s filled with quoted `databases`."""
    import psycopg
    from psycopg import sql

    quoted = {key: sql.Identifier(value) for key, value in databases.items()}
    with psycopg.connect(server, autocommit=True) as admin:
        for statement in statements:
            admin.execute(sql.SQL(statement).format(**quoted))


class PostgresCopies(Copies):
    """The deployed database is kept as `<name>_pristine`; each tamper gets `<name>` again,
    made from it as a template (no connection may be open to the template meanwhile).

    A used copy is renamed aside and dropped later with a batch of others, in parallel:
    each DROP DATABASE waits for a checkpoint (0.6 s here), and concurrent ones share it."""

    kind, row_id, row_is = "postgres", "ctid::text", "ctid = %s::tid"
    BATCH = 16

    def __init__(self, config: Config, server: str, name: str) -> None:
        super().__init__(config)
        self.server, self.name, self.pristine = server, name, f"{name}_pristine"
        self.used: list[str] = []

    def keep_pristine(self) -> None:
        pg_admin(self.server, "CREATE DATABASE {pristine} TEMPLATE {name}", **self._names())
        self.used.append(self.name)  # the deployed one is not used again

    def fresh(self) -> None:
        aside = f"{self.name}_used_{len(self.used)}"
        if self.used and self.used[-1] == self.name:
            self.used[-1] = aside
            pg_admin(self.server, "ALTER DATABASE {name} RENAME TO {aside}", **self._names(aside))
        if len(self.used) >= self.BATCH:
            self._drop_used()
        pg_admin(self.server, "CREATE DATABASE {name} TEMPLATE {pristine}", **self._names())
        self.used.append(self.name)

    def drop(self) -> None:
        self._drop_used()
        pg_admin(self.server, "DROP DATABASE IF EXISTS {pristine} WITH (FORCE)", **self._names())

    def _names(self, aside: str = "") -> dict[str, str]:
        return {"name": self.name, "pristine": self.pristine, "aside": aside}

    def _drop_used(self) -> None:
        from concurrent.futures import ThreadPoolExecutor

        def drop(name: str) -> None:
            pg_admin(self.server, "DROP DATABASE IF EXISTS {name} WITH (FORCE)", name=name)

        with ThreadPoolExecutor(len(self.used) or 1) as pool:
            list(pool.map(drop, self.used))
        self.used = []


# --- what a ledger row is -----------------------------------------------------------------


class Column(NamedTuple):
    name: str
    type: str  # text, char(64), integer, ts, bool
    nullable: bool


def table_columns(table: str) -> list[Column]:
    """The table's columns with their declared type, from the one definition both back ends
    are created from (vcsync.ledger.schema)."""
    declared: dict[str, Column] = {}
    for part in TABLES[table].split(","):
        words = part.split()
        if words and words[0].isidentifier() and words[0].upper() not in ("PRIMARY", "UNIQUE"):
            kind = words[1].strip("{}")
            declared[words[0]] = Column(words[0], kind, "NOT NULL" not in part)
    for name, definition in ADDED_COLUMNS.get(table, {}).items():
        declared[name] = Column(name, definition.strip("{}"), True)
    return [declared[name] for name in columns(table)]


class Row(NamedTuple):
    table: str
    address: str  # rowid or ctid
    values: dict[str, Any]  # as the driver reads them

    @property
    def label(self) -> str:
        shown = [f"{k}={_short(self.values[k])}" for k in NEW_KEY[self.table]]
        if "status" in self.values:
            shown.append(f"status={self.values['status']}")
        return f"{self.table}({', '.join(shown)})"


def _short(value: Any) -> str:
    text = value.isoformat() if isinstance(value, datetime) else str(value)
    if re.fullmatch(r"[0-9a-f]{32,64}", text):
        return f"{text[:6]}..{text[-2:]}"
    return text[11:26] if re.match(r"\d{4}-\d\d-\d\dT", text) else text


def read_rows(conn: Connection, copies: Copies) -> dict[str, list[Row]]:
    found: dict[str, list[Row]] = {}
    for table in TABLES:
        cols = [c.name for c in table_columns(table)]
        quoted = conn.table(SCHEMA, table)
        rows = conn.query(f"SELECT {copies.row_id}, {', '.join(cols)} FROM {quoted} ORDER BY 1")
        found[table] = [Row(table, str(r[0]), dict(zip(cols, r[1:], strict=True))) for r in rows]
    return found


# --- the tampers --------------------------------------------------------------------------

Apply = Callable[[Connection, Copies], None]


class Tamper(NamedTuple):
    kind: str
    label: str
    apply: Apply
    guarded: bool = True  # the insert-only triggers come back after the tamper


def _set(table: str, row: Row, values: dict[str, Any]) -> Apply:
    def apply(conn: Connection, copies: Copies) -> None:
        assignments = ", ".join(f"{name} = %s" for name in values)
        touched = conn.execute(
            f"UPDATE {conn.table(SCHEMA, table)} SET {assignments} WHERE {copies.row_is}",
            [*values.values(), row.address],
        )
        assert touched == 1, f"{touched} rows edited"

    return apply


def _insert(table: str, values: dict[str, Any]) -> Apply:
    def apply(conn: Connection, copies: Copies) -> None:
        marks = ", ".join("%s" for _ in values)
        conn.execute(
            f"INSERT INTO {conn.table(SCHEMA, table)} ({', '.join(values)}) VALUES ({marks})",
            list(values.values()),
        )

    return apply


def _sql(*statements: str) -> Apply:
    """Statements with {table} placeholders for ledger names (schema.names)."""

    def apply(conn: Connection, copies: Copies) -> None:
        quoted = names(conn, SCHEMA)
        for statement in statements:
            conn.run(statement.format(**quoted, schema=quoted["ledger_version"].rsplit(".", 1)[0]))

    return apply


def shifted(value: Any, delta: timedelta) -> Any:
    if isinstance(value, datetime):
        return value + delta
    return (datetime.fromisoformat(value) + delta).isoformat()


def other_hash(value: str) -> str:
    return value[:-1] + ("1" if value[-1] == "0" else "0")


def edited_values(column: Column, value: Any) -> list[tuple[str, Any]]:
    """What one value becomes, each with how it reads in the report."""
    if value is None:
        filler = {"integer": 0, "bool": True, "char(64)": "0" * 64}.get(column.type, "x")
        return [(f"NULL -> {filler!r}", filler)]
    found: list[tuple[str, Any]] = []
    if column.type == "ts":
        found += [("+1 us", shifted(value, timedelta(microseconds=1)))]
        found += [("+1 s", shifted(value, timedelta(seconds=1)))]
        if isinstance(value, str):  # SQLite keeps the text: the same instant, written otherwise
            moment = datetime.fromisoformat(value).astimezone(timezone(timedelta(hours=-5)))
            found += [("the same instant at -05:00", moment.isoformat())]
    elif column.type == "bool":
        found.append((f"{bool(value)} -> {not value}", not value))
    elif column.type == "integer":
        found.append((f"{value} -> {value + 1}", value + 1))
    elif column.name == "status":
        other = "rolled_back" if value == "applied" else "applied"
        found.append((f"{value} -> {other}", other))
    elif column.type == "char(64)":
        found.append(("one hex digit changed", other_hash(value)))
    elif column.name == "snapshot":
        objects = json.loads(value)
        fewer = dict(list(objects.items())[:-1])
        found.append(
            ("one object removed", json.dumps(fewer, sort_keys=True, separators=(",", ":")))
        )
        found.append(("'x' appended (no longer JSON)", f"{value}x"))
    else:
        found.append((f"{_short(value)!r} + 'x'", f"{value}x"))
        if column.name == "hash_kind" and value != SHA256:
            found.append((f"{value} -> {SHA256}", SHA256))
    if column.nullable:
        found.append(("-> NULL", None))
    return found


def edits(rows: dict[str, list[Row]]) -> Iterator[Tamper]:
    for table, found in rows.items():
        for row in found:
            for column in table_columns(table):
                for how, value in edited_values(column, row.values[column.name]):
                    yield Tamper(
                        "edit",
                        f"{row.label}.{column.name}: {how}",
                        _set(table, row, {column.name: value}),
                    )


def deletes(rows: dict[str, list[Row]]) -> Iterator[Tamper]:
    for found in rows.values():
        for row in found:

            def apply(conn: Connection, copies: Copies, row: Row = row) -> None:
                conn.execute(
                    f"DELETE FROM {conn.table(SCHEMA, row.table)} WHERE {copies.row_is}",
                    [row.address],
                )

            yield Tamper("delete", f"{row.label} deleted", apply)


def inserts(rows: dict[str, list[Row]]) -> Iterator[Tamper]:
    newest = max((r.values["seq"] for t in LINK_TABLES for r in rows[t]), default=0)
    with_snapshot = {r.values["deployment_id"] for r in rows["schema_snapshot"]}
    without_snapshot = [
        r.values["deployment_id"]
        for r in rows["deployment_end"]
        if r.values["deployment_id"] not in with_snapshot
    ]
    for table, found in rows.items():
        nullable_run = any(c.name == "deployment_id" and c.nullable for c in table_columns(table))
        for row in found:
            copy = dict(row.values)
            for name in NEW_KEY[table]:
                value = copy[name]
                if name == "seq":
                    copy[name] = newest + 1
                elif name == "version":
                    copy[name] = value + 1
                elif name == "deployment_id":
                    spare = table == "schema_snapshot" and without_snapshot
                    copy[name] = without_snapshot[0] if spare else uuid.uuid4().hex
                elif isinstance(value, str) and re.fullmatch(r"[0-9a-f]{64}", value):
                    copy[name] = other_hash(value)
                else:
                    copy[name] = shifted(value, timedelta(microseconds=1))
            changed = ", ".join(f"{n}={_short(copy[n])}" for n in NEW_KEY[table])
            yield Tamper("insert", f"{row.label} copied as {changed}", _insert(table, copy))
            if nullable_run:
                old = {**copy, "deployment_id": None}
                if table == "ledger_version":
                    old["version"] = 1  # the row a version-1 ledger has
                changed = ", ".join(f"{n}={_short(old[n])}" for n in NEW_KEY[table])
                yield Tamper(
                    "insert",
                    f"{row.label} copied as {changed}, deployment_id NULL (a version-1 row)",
                    _insert(table, old),
                )


def _chain(rows: dict[str, list[Row]]) -> list[Row]:
    return sorted((r for t in LINK_TABLES for r in rows[t]), key=lambda r: r.values["seq"])


def _move(conn: Connection, table: str, seq: int, to: int) -> None:
    quoted = conn.table(SCHEMA, table)
    touched = conn.execute(f"UPDATE {quoted} SET seq = %s WHERE seq = %s", [to, seq])
    assert touched == 1, f"{touched} links moved"


def reorders(rows: dict[str, list[Row]]) -> Iterator[Tamper]:
    chain = _chain(rows)
    for first, second in pairwise(chain):
        a, b = first.values["seq"], second.values["seq"]

        def swap(
            conn: Connection, copies: Copies, first: Row = first, second: Row = second
        ) -> None:
            a, b = first.values["seq"], second.values["seq"]
            _move(conn, first.table, a, -1)
            _move(conn, second.table, b, a)
            _move(conn, first.table, -1, b)

        yield Tamper("reorder", f"links {a} ({first.table}) and {b} ({second.table}) swapped", swap)


def _typed(table: str, values: dict[str, Any]) -> dict[str, Any]:
    """Normalised values (chain.normalised) back as parameters: timestamps as datetimes."""
    kinds = columns(table)
    return {
        k: datetime.fromisoformat(v) if kinds.get(k) == "ts" and isinstance(v, str) else v
        for k, v in values.items()
    }


def _append(
    conn: Connection,
    copies: Copies,
    table: str,
    values: dict[str, Any],
    kind: str | None,
    legacy: bool = False,
) -> str:
    """`values` as the chain's next link, hashed as plain SHA-256 is: what anyone can do
    who can write to the database but does not know the ledger key."""
    seq, prev = head(conn, SCHEMA)
    link = {**values, "seq": seq + 1, "prev_hash": prev, "hash_kind": kind}
    if legacy:
        fields: dict[str, Any] = {name: link.get(name) for name in Deployment._fields}
        link["row_hash"] = legacy_row_hash(prev, Deployment(**fields))
    else:
        link["row_hash"] = link_hash(prev, table, link, None)
    _insert(table, _typed(table, link))(conn, copies)
    return str(link["row_hash"])


def _newest(conn: Connection, table: str) -> Link:
    return [link for link in links(conn, SCHEMA) if link.table == table][-1]


def forge_start(kind: str | None, legacy: bool = False) -> Apply:
    def apply(conn: Connection, copies: Copies) -> None:
        start = dict(_newest(conn, "deployment_log").values)
        start.update(deployment_id=uuid.uuid4().hex, operator="mallory", outcome="succeeded")
        _append(conn, copies, "deployment_log", start, kind, legacy)

    return apply


def forge_run(kind: str) -> Apply:
    """A whole run appended: its start link, a satellite row saying the newest migration
    was rolled back, and its end link with the digest of that row."""

    def apply(conn: Connection, copies: Copies) -> None:
        run_id = uuid.uuid4().hex
        start = dict(_newest(conn, "deployment_log").values)
        start.update(deployment_id=run_id, operation="rollback", reason="forged")
        _append(conn, copies, "deployment_log", start, kind)
        names_ = list(columns("schema_migration_s"))
        satellite = conn.table(SCHEMA, "schema_migration_s")
        newest = conn.query(
            f"SELECT {', '.join(names_)} FROM {satellite} ORDER BY load_dts DESC LIMIT 1"
        )[0]
        row = normalised("schema_migration_s", names_, newest)
        moment = datetime.fromisoformat(row["load_dts"]) + timedelta(seconds=1)
        row.update(status="rolled_back", deployment_id=run_id, load_dts=moment.isoformat())
        _insert("schema_migration_s", _typed("schema_migration_s", row))(conn, copies)
        end = dict(_newest(conn, "deployment_end").values)
        end.update(deployment_id=run_id, migrations="forged")
        end["rows_digest"] = rows_digest(conn, SCHEMA, run_id, None)
        _append(conn, copies, "deployment_end", end, kind)

    return apply


def reseal(conn: Connection, chain: list[Link], edit: dict[str, Any] | None = None) -> None:
    """Rewrite `chain` (the newest links, or all of them) as plain SHA-256 links, digests
    recomputed without the key; `edit` changes the newest one first."""
    newest_seq = chain[-1].seq
    previous = next(
        (link.row_hash for link in links(conn, SCHEMA) if link.seq == chain[0].seq - 1), GENESIS
    )
    for link in chain:
        values = {**link.values, "hash_kind": SHA256, "prev_hash": previous}
        if link.seq == newest_seq and edit:
            values.update(edit)
        if link.table == "deployment_end":
            values["rows_digest"] = rows_digest(conn, SCHEMA, link.deployment_id, None)
        values["row_hash"] = link_hash(previous, link.table, values, None)
        changed = _typed(link.table, {k: v for k, v in values.items() if k != "seq"})
        assignments = ", ".join(f"{k} = %s" for k in changed)
        conn.execute(
            f"UPDATE {conn.table(SCHEMA, link.table)} SET {assignments} WHERE seq = %s",
            [*changed.values(), link.seq],
        )
        previous = values["row_hash"]


def forges() -> Iterator[Tamper]:
    yield Tamper("forge", "a start link appended, hash_kind sha256", forge_start(SHA256))
    yield Tamper(
        "forge",
        "a start link appended, hash_kind hmac-sha256, plain hash",
        forge_start("hmac-sha256"),
    )
    yield Tamper("forge", "a version-1 start link appended", forge_start(None, legacy=True))
    yield Tamper("forge", "a start link appended, hash_kind sha3-256", forge_start("sha3-256"))
    yield Tamper("forge", "a whole run appended (start, satellite, end), sha256", forge_run(SHA256))
    yield Tamper(
        "forge",
        "a whole run appended (start, satellite, end), hash_kind sha3-256",
        forge_run("sha3-256"),
    )
    yield Tamper(
        "forge",
        "the newest link edited (outcome failed) and re-sealed as sha256",
        lambda conn, copies: reseal(conn, links(conn, SCHEMA)[-1:], {"outcome": "failed"}),
    )
    yield Tamper(
        "forge",
        "the whole chain re-sealed as sha256 (digests recomputed without the key)",
        lambda conn, copies: reseal(conn, links(conn, SCHEMA)),
    )


def _delete_newest(count: int, with_rows: bool) -> Apply:
    def apply(conn: Connection, copies: Copies) -> None:
        gone = links(conn, SCHEMA)[-count:]
        runs = {link.deployment_id for link in gone}
        for link in gone:
            conn.execute(f"DELETE FROM {conn.table(SCHEMA, link.table)} WHERE seq = %s", [link.seq])
        if with_rows:
            for table in RUN_TABLES:
                for run in runs:
                    conn.execute(
                        f"DELETE FROM {conn.table(SCHEMA, table)} WHERE deployment_id = %s", [run]
                    )

    return apply


def truncations() -> Iterator[Tamper]:
    for count in (1, 2, 3):
        yield Tamper(
            "truncate", f"the newest {count} link(s) deleted", _delete_newest(count, False)
        )
    yield Tamper(
        "truncate", "the newest run deleted with every row it wrote", _delete_newest(2, True)
    )
    yield Tamper(
        "truncate", "the newest two runs deleted with every row they wrote", _delete_newest(4, True)
    )


def empties() -> Iterator[Tamper]:
    for table in TABLES:
        yield Tamper("empty", f"every row of {table} deleted", _sql(f"DELETE FROM {{{table}}}"))


def guards(kind: str) -> Iterator[Tamper]:
    if kind == "sqlite":
        for table in TABLES:
            trigger = f'"{SCHEMA}__{table}_no_' + '{op}"'
            drop = "DROP TRIGGER " + trigger
            for ops in (("update", "delete"), ("update",), ("delete",)):
                yield Tamper(
                    "guards",
                    f"{table}: trigger(s) no_{'/no_'.join(ops)} dropped",
                    _sql(*(drop.format(op=op) for op in ops)),
                    guarded=False,
                )
            harmless = [
                f"CREATE TRIGGER {trigger.format(op=op)} BEFORE {op.upper()} ON {{{table}}} "
                "BEGIN SELECT 1; END"
                for op in ("update", "delete")
            ]
            yield Tamper(
                "guards",
                f"{table}: triggers replaced by same-named ones that refuse nothing",
                _sql(drop.format(op="update"), drop.format(op="delete"), *harmless),
                guarded=False,
            )
        return
    for table in TABLES:
        on = f"ON {{{table}}}"
        variants = {
            "both triggers dropped": [
                f"DROP TRIGGER insert_only {on}",
                f"DROP TRIGGER insert_only_truncate {on}",
            ],
            "insert_only dropped": [f"DROP TRIGGER insert_only {on}"],
            "insert_only_truncate dropped": [f"DROP TRIGGER insert_only_truncate {on}"],
            "insert_only disabled": [f"ALTER TABLE {{{table}}} DISABLE TRIGGER insert_only"],
            "insert_only set to fire only in replica sessions": [
                f"ALTER TABLE {{{table}}} ENABLE REPLICA TRIGGER insert_only"
            ],
        }
        for how, statements in variants.items():
            yield Tamper("guards", f"{table}: {how}", _sql(*statements), guarded=False)
    yield Tamper(
        "guards",
        "refuse_change() replaced by a function that lets every change through",
        _sql(
            "CREATE OR REPLACE FUNCTION {schema}.refuse_change() RETURNS trigger "
            "LANGUAGE plpgsql AS $$ BEGIN RETURN COALESCE(NEW, OLD); END $$"
        ),
        guarded=False,
    )
    yield Tamper(
        "guards",
        "refuse_change() dropped with every trigger (CASCADE)",
        _sql("DROP FUNCTION {schema}.refuse_change() CASCADE"),
        guarded=False,
    )


def objects(kind: str, rows: dict[str, list[Row]]) -> Iterator[Tamper]:
    cascade = " CASCADE" if kind == "postgres" else ""
    for table in TABLES:
        yield Tamper("objects", f"table {table} dropped", _sql(f"DROP TABLE {{{table}}}{cascade}"))
    if kind == "postgres":
        everything = ["DROP SCHEMA {schema} CASCADE"]
    else:
        everything = [f"DROP VIEW {{{view}}}" for view in VIEWS]
        everything += [f"DROP TABLE {{{table}}}" for table in TABLES]
    yield Tamper("objects", "every ledger table and view dropped", _sql(*everything))
    newest = max(rows["schema_migration_h"], key=lambda r: r.values["version_sort"])
    version = newest.values["version"]
    hidden = VIEWS["migration_dashboard"] + f" AND h.version <> '{version}'"
    create = "CREATE OR REPLACE VIEW" if kind == "postgres" else "CREATE VIEW"
    statements = [] if kind == "postgres" else ["DROP VIEW {migration_dashboard}"]
    statements.append(f"{create} {{migration_dashboard}} AS {hidden}")
    yield Tamper(
        "objects",
        f"view migration_dashboard redefined to hide migration {version}",
        _sql(*statements),
    )


def tampers(kind: str, rows: dict[str, list[Row]]) -> list[Tamper]:
    if set(NEW_KEY) != set(TABLES):
        raise SystemExit(
            f"NEW_KEY must name every ledger table: {sorted(set(TABLES) ^ set(NEW_KEY))}"
        )
    return [
        *edits(rows),
        *deletes(rows),
        *inserts(rows),
        *reorders(rows),
        *forges(),
        *truncations(),
        *empties(),
        *guards(kind),
        *objects(kind, rows),
    ]


# --- applying one, and asking verify ------------------------------------------------------


def apply_tamper(copies: Copies, tamper: Tamper) -> None:
    """On the fresh copy, with the insert-only triggers off just for the tamper (except for
    the tampers with the triggers themselves)."""
    conn = copies.connect()
    try:
        if copies.kind == "sqlite":
            conn.run("PRAGMA foreign_keys = OFF")  # as a hand at the console would
        conn.begin()
        triggers: list[tuple[str, str]] = []
        if copies.kind == "postgres":
            conn.run("SET LOCAL session_replication_role = replica")
        elif tamper.guarded:
            triggers = [
                (row[0], row[1])
                for row in conn.query(
                    "SELECT name, sql FROM sqlite_schema WHERE type = 'trigger' AND name LIKE %s",
                    [f"{SCHEMA}__%"],
                )
            ]
            for name, _ in triggers:
                conn.run(f'DROP TRIGGER "{name}"')
        tamper.apply(conn, copies)
        for name, definition in triggers:
            table = name.removeprefix(f"{SCHEMA}__").rsplit("_no_", 1)[0]
            if conn.has_table(SCHEMA, table):
                conn.run(definition)
        conn.commit()
    except BaseException:
        conn.rollback()
        raise
    finally:
        conn.close()


class Verdict(NamedTuple):
    failed: bool  # verify's exit code would be 1
    messages: list[str]  # the VC209 findings (or why verify could not run)

    @property
    def detected(self) -> bool:
        return self.failed and any(not m.startswith("verify ") for m in self.messages)


def ask_verify(config: Config, repo: Path, vcsync: str | None) -> Verdict:
    if vcsync is None:
        try:
            result = verify(config, [ENV])
        except Exception as exc:
            return Verdict(False, [f"verify raised {type(exc).__name__}: {exc}"])
        return Verdict(result.failed, [f.message for f in result.findings if f.code == "VC209"])
    done = subprocess.run(
        [vcsync, "verify", "--env", ENV, "--format", "json"],
        cwd=repo,
        env={**clean_env(), **GIT_ENV, KEY_VARIABLE: KEY},
        capture_output=True,
        text=True,
        check=False,
    )
    try:
        found = json.loads(done.stdout)["findings"]
    except (ValueError, KeyError):
        return Verdict(False, [f"verify exited {done.returncode}: {done.stderr.strip()}"])
    return Verdict(done.returncode == 1, [f["message"] for f in found if f["code"] == "VC209"])


class Outcome(NamedTuple):
    tamper: Tamper
    verdict: Verdict | None  # None: the tamper could not be made (why in `error`)
    error: str = ""


def run_backend(
    copies: Copies, repo: Path, kinds: set[str], cli: str | None, verbose: bool
) -> list[Outcome]:
    copies.fresh()
    clean = ask_verify(copies.config, repo, cli)
    if clean.failed or clean.messages:
        raise SystemExit(f"{copies.kind}: the untouched ledger fails verify: {clean.messages}")
    conn = copies.connect()
    try:
        rows = read_rows(conn, copies)
    finally:
        conn.close()
    chosen = [t for t in tampers(copies.kind, rows) if t.kind in kinds]
    outcomes: list[Outcome] = []
    start = time.perf_counter()
    for n, tamper in enumerate(chosen, 1):
        copies.fresh()
        try:
            apply_tamper(copies, tamper)
        except (DatabaseError, AssertionError, sqlite3.Error) as exc:
            outcomes.append(Outcome(tamper, None, str(exc)))
            continue
        verdict = ask_verify(copies.config, repo, cli)
        outcomes.append(Outcome(tamper, verdict))
        if verbose:
            mark = "caught" if verdict.detected else "MISSED"
            print(f"  {copies.kind} {mark} {tamper.kind}: {tamper.label}")
            for message in verdict.messages:
                print(f"      {message}")
        if n % 100 == 0:
            print(f"  {copies.kind}: {n} of {len(chosen)} ({time.perf_counter() - start:.0f} s)")
    return outcomes


def report(results: dict[str, list[Outcome]]) -> bool:
    """Print the figures; True when every tamper made was detected."""
    figures = []
    for kind, outcomes in results.items():
        made = [o for o in outcomes if o.verdict is not None]
        figures.append(
            f"{sum(o.verdict.detected for o in made if o.verdict)} of {len(made)} ({kind})"
        )
    print("tampering detected: " + ", ".join(figures))
    everything = True
    for kind, outcomes in results.items():
        per_class: Counter[str] = Counter()
        caught: Counter[str] = Counter()
        for o in outcomes:
            if o.verdict is not None:
                per_class[o.tamper.kind] += 1
                caught[o.tamper.kind] += o.verdict.detected
        print(f"  {kind}: " + ", ".join(f"{k} {caught[k]}/{per_class[k]}" for k in per_class))
        for o in outcomes:
            if o.verdict is None:
                print(f"    could not be made: {o.tamper.kind}: {o.tamper.label}: {o.error}")
            elif not o.verdict.detected:
                everything = False
                why = f" ({'; '.join(o.verdict.messages)})" if o.verdict.messages else ""
                print(f"    UNDETECTED {o.tamper.kind}: {o.tamper.label}{why}")
    return everything


def main(argv: list[str] | None = None) -> int:
    parser = bench_parser(
        __doc__,
        runs=1,
        warmup=0,
        migrations=4,
        target="every tamper is detected",
        server=True,
    )
    parser.add_argument("--backend", choices=["sqlite", "postgres"], action="append")
    parser.add_argument("--kind", choices=KINDS, action="append", help="only these classes")
    parser.add_argument("--cli", action="store_true", help="run verify as the console script")
    parser.add_argument("--verbose", action="store_true", help="every tamper and its findings")
    args = parser.parse_args(argv)
    vcsync = real_vcsync(args.vcsync, real_python(args.python))
    os.environ[KEY_VARIABLE] = KEY  # the library's verify reads it
    for name in ("GIT_DIR", "GIT_INDEX_FILE", "GIT_WORK_TREE"):
        os.environ.pop(name, None)
    backends = args.backend or ["sqlite", "postgres"]
    kinds = set(args.kind or KINDS)
    count = max(args.migrations, len(SCRIPTS))
    results: dict[str, list[Outcome]] = {}
    started = time.perf_counter()
    with work_dir(args.work) as work:
        for backend in backends:
            repo = work / backend
            if repo.exists():
                if not (repo / MARKER).exists():
                    raise SystemExit(f"{repo} exists and was not made by this bench.")
                shutil.rmtree(repo)
            name = f"vcsync_tamper_{uuid.uuid4().hex[:10]}"
            copies: Copies | None = None
            if backend == "postgres":
                pg_admin(args.server, "CREATE DATABASE {name}", name=name)
            try:
                url = f"{args.server.rsplit('/', 1)[0]}/{name}"
                deploy(repo, "sqlite:///staging.db" if backend == "sqlite" else url, vcsync, count)
                (repo / MARKER).write_text("made by bench/tamper.py\n", "utf-8")
                config = load_config(repo / "pyproject.toml")
                copies = (
                    SqliteCopies(config)
                    if backend == "sqlite"
                    else PostgresCopies(config, args.server, name)
                )
                copies.keep_pristine()
                print(f"{backend}: deployed ({time.perf_counter() - started:.0f} s); tampering")
                results[backend] = run_backend(
                    copies, repo, kinds, vcsync if args.cli else None, args.verbose
                )
            finally:
                if copies is not None:
                    copies.drop()
                elif backend == "postgres":
                    pg_admin(args.server, "DROP DATABASE IF EXISTS {name} WITH (FORCE)", name=name)
    ok = report(results)
    print(f"({time.perf_counter() - started:.0f} s)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
