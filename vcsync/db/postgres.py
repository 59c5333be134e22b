"""PostgreSQL through psycopg 3.

The connection runs in autocommit mode and opens its own transactions, so the deploy
lock (a session-level advisory lock) is never held inside an open transaction: a
`CREATE INDEX CONCURRENTLY` in a no-transaction migration does not wait on vcsync
itself. The holder is visible in pg_stat_activity.application_name.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import psycopg
from psycopg import sql

from vcsync.db import ConnectionLost, DatabaseError, Row
from vcsync.db.urls import Target
from vcsync.errors import ConfigError, OperationFailed

T = TypeVar("T")
APPLICATION_NAME_MAX = 63
# Messages that mean the URL or credentials are wrong, not that the server is down.
_CONFIG_PROBLEMS = (
    "password authentication failed",
    "does not exist",
    "no password supplied",
    "role",
    "invalid dsn",
    "invalid connection option",
    'missing "="',
)


def lock_key(name: str) -> int:
    """A stable signed 64-bit advisory-lock key for the ledger schema's name."""
    return int.from_bytes(
        hashlib.sha256(f"vcsync:{name}".encode()).digest()[:8], "big", signed=True
    )


class PostgresConnection:
    def __init__(self, target: Target, holder: str) -> None:
        self.target = target
        try:
            self._conn = psycopg.connect(
                target.dsn,
                autocommit=True,
                connect_timeout=10,
                application_name=holder[:APPLICATION_NAME_MAX],
            )
        except psycopg.Error as exc:
            reason = _first_line(exc)
            error = ConfigError if any(p in reason for p in _CONFIG_PROBLEMS) else OperationFailed
            raise error(f"cannot connect to {target.display}: {reason}.") from None
        if target.schema:
            self.run(
                sql.SQL("SET search_path TO {}")
                .format(sql.Identifier(target.schema))
                .as_string(self._conn)
            )

    def table(self, schema: str, name: str) -> str:
        return sql.Identifier(schema, name).as_string(self._conn)

    def query(self, query: str, params: Sequence[object] = ()) -> list[Row]:
        return self._call(lambda: self._conn.execute(query, params).fetchall())

    def execute(self, query: str, params: Sequence[object] = ()) -> int:
        return self._call(lambda: self._conn.execute(query, params).rowcount)

    def split(self, script: str) -> list[str]:
        from pglast.parser import ParseError, split

        try:
            return list(split(script, with_parser=False))
        except ParseError as exc:
            raise DatabaseError(f"the script does not parse: {exc.args[0]}") from None

    def run(self, statement: str) -> None:
        self._call(lambda: self._conn.execute(statement.encode()))

    def begin(self) -> None:
        self._call(lambda: self._conn.execute(b"BEGIN"))

    def commit(self) -> None:
        self._call(lambda: self._conn.execute(b"COMMIT"))

    def rollback(self) -> None:
        if not self._conn.closed:
            self._call(lambda: self._conn.execute(b"ROLLBACK"))

    def has_table(self, schema: str, name: str) -> bool:
        rows = self.query("SELECT to_regclass(%s) IS NOT NULL", [self.table(schema, name)])
        return bool(rows[0][0])

    def lock(self, name: str, holder: str, timeout: float) -> None:
        key = lock_key(f"{self.target.schema or ''}.{name}")
        try:
            self._conn.execute(
                sql.SQL("SET lock_timeout = {}").format(sql.Literal(f"{int(timeout * 1000)}ms"))
            )
            self._conn.execute("SELECT pg_advisory_lock(%s)", [key])
        except psycopg.errors.LockNotAvailable:
            others = self.query(
                "SELECT application_name FROM pg_stat_activity WHERE application_name LIKE "
                "'vcsync %%' AND pid <> pg_backend_pid()"
            )
            who = ", ".join(r[0] for r in others) or "another session"
            raise OperationFailed(
                f"{self.target.display} is locked by {who}; waited "
                f"{timeout:g} s (raise --lock-timeout to wait longer)."
            ) from None
        except psycopg.Error as exc:
            raise self._translate(exc) from None
        finally:
            if not self._conn.closed:
                self._conn.execute("RESET lock_timeout")

    def close(self) -> None:
        self._conn.close()  # the session ends, and with it the advisory lock

    def _call(self, action: Callable[[], T]) -> T:
        try:
            return action()
        except psycopg.Error as exc:
            raise self._translate(exc) from None

    def _translate(self, exc: psycopg.Error) -> OperationFailed:
        lost = self._conn.closed or self._conn.broken
        if lost or (isinstance(exc, psycopg.OperationalError) and exc.sqlstate is None):
            return ConnectionLost(
                f"lost the connection to {self.target.display}: {_first_line(exc)}."
            )
        diag: Any = exc.diag
        message = diag.message_primary or _first_line(exc)
        if diag.sqlstate:
            message += f" (SQLSTATE {diag.sqlstate})"
        return DatabaseError(message)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0].rstrip(".") if text else type(exc).__name__
