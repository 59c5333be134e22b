"""PostgreSQL through psycopg 3.

The connection runs in autocommit mode and opens its own transactions, so the deploy
lock (a session-level advisory lock) is never held inside an open transaction: a
`CREATE INDEX CONCURRENTLY` in a no-transaction migration does not wait on vcsync
itself. The holder is visible in pg_stat_activity.application_name.

The lock never goes stale: it belongs to the session, and the session asks the server
(client_connection_check_interval, PostgreSQL 14+) to check every second, even in the
middle of a statement, that vcsync is still there. Without that, a `kill -9`'d deploy
leaves its statement running, and the lock held, until the statement ends.
"""

from __future__ import annotations

import hashlib
import math
import select
from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeVar

import psycopg
from psycopg import sql

from vcsync.db import BatchFailed, ConnectionLost, DatabaseError, Row
from vcsync.db.urls import Target, without_secrets
from vcsync.errors import ConfigError, OperationFailed

T = TypeVar("T")
APPLICATION_NAME_MAX = 63
# How soon the server notices that vcsync died mid-statement (and ends its session and lock).
CLIENT_CHECK_INTERVAL = "1s"
CLIENT_CHECK_SINCE = 140000  # the first server version with client_connection_check_interval
# Messages that mean the URL or credentials are wrong, not that the server is down.
_CONFIG_PROBLEMS = (
    "password authentication failed",
    "does not exist",
    "no password supplied",
    "role",
    "invalid ",
    'missing "="',
)


def lock_key(name: str) -> int:
    """A stable signed 64-bit advisory-lock key for the ledger schema's name."""
    return int.from_bytes(
        hashlib.sha256(f"vcsync:{name}".encode()).digest()[:8], "big", signed=True
    )


class PostgresConnection:
    batches = True

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
            # the URL was parsed (by libpq) when the target was made; libpq's messages now name
            # hosts, users and databases, but a password must not pass even if one ever did
            reason = without_secrets(_first_line(exc), target.dsn)
            bad_url = isinstance(exc, psycopg.ProgrammingError)
            if bad_url or any(p in reason for p in _CONFIG_PROBLEMS):
                raise ConfigError(f"cannot connect to {target.display}: {reason}.") from None
            raise OperationFailed(f"cannot connect to {target.display}: {reason}.") from None
        self._watch_client()
        if target.schema:
            self.run(
                sql.SQL("SET search_path TO {}")
                .format(sql.Identifier(target.schema))
                .as_string(self._conn)
            )

    def table(self, schema: str, name: str) -> str:
        return sql.Identifier(schema, name).as_string(self._conn)

    def mogrify(self, query: str, params: Sequence[object]) -> str:
        return psycopg.ClientCursor(self._conn).mogrify(query, params)

    def query(self, query: str, params: Sequence[object] = ()) -> list[Row]:
        return self._call(lambda: self._conn.execute(query, params).fetchall())

    def execute(self, query: str, params: Sequence[object] = ()) -> int:
        return self._call(lambda: self._conn.execute(query, params).rowcount)

    def split(self, script: str) -> list[str]:
        from pglast.parser import ParseError, split

        try:
            return list(split(script, with_parser=False))
        except ParseError as exc:
            message, location = exc.args  # location: a character offset
            line = script.count("\n", 0, location) + 1
            reason = " ".join(str(message).split())  # the quoted rest may span lines
            raise DatabaseError(f"the script does not parse at line {line}: {reason}") from None

    def run(self, statement: str) -> None:
        self._call(lambda: self._conn.execute(statement.encode()))

    def run_batch(self, statements: Sequence[str]) -> None:
        """One simple-protocol query of many statements. The server answers each statement
        that ran with a result of its own and stops at the first error, so the number of
        results before the error is the index of the statement that failed."""
        from psycopg import pq

        pgconn = self._conn.pgconn
        # "\n;\n" ends a statement even when its text ends in a line comment
        text = "\n;\n".join(statements).encode()
        try:
            pgconn.send_query(text)
            while pgconn.flush():
                select.select([], [pgconn.socket], [])
            done, failed = 0, None
            while True:
                while pgconn.is_busy():
                    select.select([pgconn.socket], [], [])
                    pgconn.consume_input()
                result = pgconn.get_result()
                if result is None:
                    break
                if result.status == pq.ExecStatus.FATAL_ERROR:
                    failed = failed or result
                elif failed is None:
                    done += 1
        except psycopg.Error as exc:
            raise self._translate(exc) from None
        except KeyboardInterrupt:
            self._conn.cancel_safe()
            raise
        if failed is not None:
            raise BatchFailed(done, _result_message(failed))

    def in_transaction(self) -> bool:
        from psycopg import pq

        return self._conn.info.transaction_status != pq.TransactionStatus.IDLE

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

    def existing_tables(self, schema: str, names: Iterable[str]) -> set[str]:
        wanted = list(names)
        rows = self.query(
            "SELECT relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = %s AND c.relkind IN ('r', 'p') AND c.relname = ANY(%s)",
            [schema, wanted],
        )
        return {row[0] for row in rows}

    def lock(self, name: str, holder: str, timeout: float) -> None:
        key = lock_key(f"{self.target.schema or ''}.{name}")
        waited = False
        try:
            if timeout <= 0:  # lock_timeout = 0 would mean "wait forever"
                taken = self._conn.execute("SELECT pg_try_advisory_lock(%s)", [key]).fetchone()
                if not (taken and taken[0]):
                    raise psycopg.errors.LockNotAvailable()
            else:
                # a free lock is taken in one round trip; only a held one is waited for
                taken = self._conn.execute("SELECT pg_try_advisory_lock(%s)", [key]).fetchone()
                if taken and taken[0]:
                    return
                wait = f"{max(1, math.ceil(timeout * 1000))}ms"
                waited = True
                self._conn.execute(sql.SQL("SET lock_timeout = {}").format(sql.Literal(wait)))
                self._conn.execute("SELECT pg_advisory_lock(%s)", [key])
        except psycopg.errors.LockNotAvailable:
            raise OperationFailed(
                f"{self.target.display} is locked by {self._holder_of(key)}; waited "
                f"{timeout:g} s (raise --lock-timeout to wait longer)."
            ) from None
        except psycopg.Error as exc:
            raise self._translate(exc) from None
        finally:
            if not self._conn.closed and waited:
                self._call(lambda: self._conn.execute("RESET lock_timeout"))

    def lock_holder(self, name: str) -> str | None:
        key = lock_key(f"{self.target.schema or ''}.{name}")
        return self._holder_of(key) if self._holders(key) else None

    def _holder_of(self, key: int) -> str:
        """Who holds advisory lock `key` in this database: its application_name and pid."""
        rows = self._holders(key)
        if not rows:
            return "another session"  # it let go between our timeout and this query
        name, pid = rows[0]
        return f"{name or 'a session'} (backend pid {pid})"

    def _holders(self, key: int) -> list[Row]:
        # pg_locks shows a bigint advisory key as two oids: high half, low half, objsubid 1
        return self.query(
            "SELECT a.application_name, a.pid FROM pg_locks l "
            "JOIN pg_stat_activity a ON a.pid = l.pid "
            "WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1 "
            "AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database()) "
            "AND l.classid = %s::bigint::oid AND l.objid = %s::bigint::oid",
            [(key >> 32) & 0xFFFFFFFF, key & 0xFFFFFFFF],
        )

    def _watch_client(self) -> None:
        """Have the server check every second that vcsync is alive, even mid-statement."""
        if self._conn.info.server_version < CLIENT_CHECK_SINCE:
            return
        try:
            self._conn.execute(
                sql.SQL("SET client_connection_check_interval = {}").format(
                    sql.Literal(CLIENT_CHECK_INTERVAL)
                )
            )
        except psycopg.Error as exc:
            if exc.sqlstate is None or self._conn.closed:
                raise self._translate(exc) from None
            # Refused (a platform without POLLRDHUP, a pooler): the lock is still released
            # when the session ends, only as late as the server notices the client is gone.

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
            reason = without_secrets(_first_line(exc), self.target.dsn)
            return ConnectionLost.of(
                self.target, f"the connection to {self.target.display}", reason
            )
        diag: Any = exc.diag
        message = diag.message_primary or _first_line(exc)
        if diag.sqlstate:
            message += f" (SQLSTATE {diag.sqlstate})"
        return DatabaseError(message)


def _result_message(result: Any) -> str:
    """A failed result's primary message and SQLSTATE, as _translate words an exception's."""
    from psycopg import pq

    def field(code: Any) -> str:
        value = result.error_field(code)
        return value.decode("utf-8", "replace") if value else ""

    message = field(pq.DiagnosticField.MESSAGE_PRIMARY) or "the statement failed"
    state = field(pq.DiagnosticField.SQLSTATE)
    return f"{message} (SQLSTATE {state})" if state else message


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0].rstrip(".") if text else type(exc).__name__
