"""Database back ends behind one small interface: SQLite (embedded default) and PostgreSQL.

A back end connects, takes the session-scoped deploy lock, splits and runs scripts,
and answers ledger queries. Driver exceptions never leave its module: they become
DatabaseError (a statement failed), ConnectionLost, or a one-sentence VcsyncError.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, Protocol

from vcsync.db.urls import POSTGRES, Target
from vcsync.errors import OperationFailed

Row = tuple[Any, ...]


class DatabaseError(OperationFailed):
    """A statement failed; `message` is the database's own primary message."""


class ConnectionLost(OperationFailed):
    """The database went away mid-run."""

    @classmethod
    def of(cls, target: Target, what: str, reason: str) -> ConnectionLost:
        """`what` (e.g. "the connection to …") was lost: the ledger holds only what
        committed, so running the same command again resumes where this one stopped (or
        names `repair` for a script cut off outside a transaction)."""
        return cls(
            f"lost {what}: {reason}; once it is reachable again, run the same vcsync command "
            f"again (`vcsync status --env {target.environment}` shows where this one stopped)."
        )


class BatchFailed(DatabaseError):
    """Statement `index` (0-based) of a batch failed; those before it ran, none after it."""

    def __init__(self, index: int, message: str) -> None:
        super().__init__(message)
        self.index, self.message = index, message


class Connection(Protocol):
    target: Target
    batches: bool  # many migrations' transactions may go in one `run` (each its own BEGIN/COMMIT)

    def table(self, schema: str, name: str) -> str:
        """The quoted name of a ledger object (SQLite has no schemas: `schema__name`)."""
        ...

    def query(self, sql: str, params: Sequence[object] = ()) -> list[Row]: ...

    def execute(self, sql: str, params: Sequence[object] = ()) -> int:
        """Run one parameterised statement (`%s` placeholders); the rows it touched."""
        ...

    def split(self, script: str) -> list[str]:
        """A script's statements, by this database's own grammar."""
        ...

    def run(self, statement: str) -> None:
        """Run one statement of a user's script as written (with `batches`, a script of many:
        the server stops at the first error and skips the rest)."""
        ...

    def run_batch(self, statements: Sequence[str]) -> None:
        """Run many statements in one round trip (only where `batches`); on an error the
        server skips the rest, and BatchFailed says which one failed, from the results the
        server sent back: nothing is run again to find it."""
        ...

    def in_transaction(self) -> bool:
        """Whether the session is inside a transaction block (a script's own BEGIN)."""
        ...

    def mogrify(self, sql: str, params: Sequence[object]) -> str:
        """The statement with its parameters quoted in by the driver (for a batch)."""
        ...

    def begin(self) -> None: ...

    def commit(self) -> None: ...

    def rollback(self) -> None: ...

    def has_table(self, schema: str, name: str) -> bool: ...

    def existing_tables(self, schema: str, names: Iterable[str]) -> set[str]:
        """Which of `names` exist in `schema`, in one query."""
        ...

    def lock(self, name: str, holder: str, timeout: float) -> None:
        """Take the deploy lock `name` for this session; it dies with the process."""
        ...

    def lock_holder(self, name: str) -> str | None:
        """Who holds the deploy lock `name` now (host, pid, commit), or None."""
        ...

    def close(self) -> None: ...


def connect(target: Target, *, holder: str, create: bool) -> Connection:
    """`create`: a missing SQLite file may be made (migrate), or not (status, history)."""
    if target.kind == POSTGRES:
        from vcsync.db.postgres import PostgresConnection

        return PostgresConnection(target, holder)
    from vcsync.db.sqlite import SqliteConnection

    return SqliteConnection(target, create=create)
