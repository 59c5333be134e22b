"""SQLite from the standard library: the embedded default.

Ledger objects are tables named `<schema>__<name>` (SQLite has no schemas). The deploy
lock is an flock on `<database>-vcsync.lock`: held by the process, released by the
kernel when it dies, so it never goes stale. Each migration is its own transaction
(SQLite's DDL is transactional).
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
import time
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import TypeVar

from vcsync.db import ConnectionLost, DatabaseError, Row
from vcsync.db.urls import Target
from vcsync.errors import OperationFailed, VcsyncError
from vcsync.sql.comments import is_blank_sql

POLL_SECONDS = 0.05
T = TypeVar("T")


def quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def split_statements(script: str) -> list[str]:
    """Statements as SQLite itself sees their ends (triggers, strings and comments hold `;`)."""
    statements, start, position = [], 0, 0
    while (position := script.find(";", position) + 1) > 0:
        candidate = script[start:position]
        if sqlite3.complete_statement(candidate):
            if _has_code(candidate):
                statements.append(candidate.strip().removesuffix(";").rstrip())
            start = position
    rest = script[start:]
    if _has_code(rest):
        statements.append(rest.strip())
    return statements


def _has_code(text: str) -> bool:
    return not is_blank_sql(text.replace(";", " "))


def _reason(exc: OSError | ValueError) -> str:
    """The system's complaint without the path (the message names the target already)."""
    if isinstance(exc, OSError):
        return (exc.strerror or str(exc)).lower()
    return str(exc)


def _adapt(value: object) -> object:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, bool):
        return int(value)
    return value


class SqliteConnection:
    batches = False  # a local file: a round trip costs nothing worth batching away

    def __init__(self, target: Target, *, create: bool) -> None:
        assert target.path is not None
        self.target = target
        self._lock_fd: int | None = None
        try:
            exists = target.path.exists()
            if not exists and create:
                target.path.parent.mkdir(parents=True, exist_ok=True)
        except (OSError, ValueError) as exc:  # a folder that is a file, a name too long, a NUL
            raise OperationFailed(
                f"cannot open {target.display}: {_reason(exc)}; fix environments."
                f"{target.environment}.url in the config."
            ) from None
        if not exists and not create:
            raise VcsyncError(
                f"{target.display} does not exist yet: nothing has been "
                f"deployed to {target.environment}."
            )
        try:
            self._db = sqlite3.connect(target.path, isolation_level=None, timeout=30)
            self._db.execute("PRAGMA foreign_keys = ON")
            self._db.execute("PRAGMA schema_version")  # a file that is not a database says so
        except (sqlite3.Error, ValueError) as exc:
            raise OperationFailed(f"cannot open {target.display}: {exc}.") from None

    def table(self, schema: str, name: str) -> str:
        return quote(f"{schema}__{name}")

    def query(self, sql: str, params: Sequence[object] = ()) -> list[Row]:
        return self._call(lambda: self._db.execute(*self._sql(sql, params)).fetchall())

    def execute(self, sql: str, params: Sequence[object] = ()) -> int:
        return self._call(lambda: self._db.execute(*self._sql(sql, params)).rowcount)

    def mogrify(self, sql: str, params: Sequence[object]) -> str:
        raise NotImplementedError("SQLite runs one migration per call (batches = False)")

    def split(self, script: str) -> list[str]:
        return split_statements(script)

    def run(self, statement: str) -> None:
        self._call(lambda: self._db.execute(statement))

    def run_batch(self, statements: Sequence[str]) -> None:
        raise NotImplementedError("SQLite runs one statement per call (batches = False)")

    def in_transaction(self) -> bool:
        return self._db.in_transaction

    def begin(self) -> None:
        self._call(lambda: self._db.execute("BEGIN IMMEDIATE"))

    def commit(self) -> None:
        self._call(lambda: self._db.execute("COMMIT"))

    def rollback(self) -> None:
        if self._db.in_transaction:
            self._call(lambda: self._db.execute("ROLLBACK"))

    def has_table(self, schema: str, name: str) -> bool:
        rows = self.query("SELECT 1 FROM sqlite_schema WHERE name = %s", [f"{schema}__{name}"])
        return bool(rows)

    def existing_tables(self, schema: str, names: Iterable[str]) -> set[str]:
        prefix = f"{schema}__"
        rows = self.query("SELECT name FROM sqlite_schema WHERE type = 'table'")
        return {n.removeprefix(prefix) for (n,) in rows if n.startswith(prefix)} & set(names)

    def lock_holder(self, name: str) -> str | None:
        try:
            fd = os.open(self._lock_path, os.O_RDONLY)
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise self._lock_failed(exc) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
            return None  # nobody holds it
        except BlockingIOError:
            return os.pread(fd, 512, 0).decode("utf-8", "replace").strip() or "another process"
        except OSError as exc:
            raise self._lock_failed(exc) from None
        finally:
            os.close(fd)  # also lets go of the shared lock taken just now

    def _lock_failed(self, exc: OSError) -> OperationFailed:
        return OperationFailed(
            f"cannot use the lock file {self._lock_path}: {_reason(exc)}; make it a "
            "writable file (or remove it) while no deployment runs."
        )

    @property
    def _lock_path(self) -> str:
        return f"{self.target.path}-vcsync.lock"

    def lock(self, name: str, holder: str, timeout: float) -> None:
        try:
            fd = os.open(self._lock_path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise self._lock_failed(exc) from None
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as exc:
                if not isinstance(exc, BlockingIOError):
                    os.close(fd)
                    raise self._lock_failed(exc) from None
                if time.monotonic() >= deadline:
                    other = os.pread(fd, 512, 0).decode("utf-8", "replace").strip()
                    os.close(fd)
                    raise OperationFailed(
                        f"{self.target.display} is locked by another deployment "
                        f"({other or 'unknown holder'}); waited {timeout:g} s "
                        "(raise --lock-timeout to wait longer)."
                    ) from None
                time.sleep(POLL_SECONDS)
        self._lock_fd = fd  # close() lets go of it, whatever happens next
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, holder.encode(), 0)
        except OSError as exc:
            raise self._lock_failed(exc) from None

    def close(self) -> None:
        self._db.close()
        if self._lock_fd is not None:
            os.close(self._lock_fd)  # releases the flock
            self._lock_fd = None

    def _sql(self, sql: str, params: Sequence[object]) -> tuple[str, list[object]]:
        return sql.replace("%s", "?"), [_adapt(p) for p in params]

    def _call(self, action: Callable[[], T]) -> T:
        try:
            return action()
        except sqlite3.OperationalError as exc:
            if "disk I/O error" in str(exc) or "unable to open" in str(exc):
                raise ConnectionLost.of(self.target, self.target.display, str(exc)) from None
            raise DatabaseError(str(exc)) from None
        except sqlite3.Error as exc:
            raise DatabaseError(str(exc)) from None
