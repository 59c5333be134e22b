"""What each statement of a script does, read from the database's own grammar.

This package is the one statement-effects model: its records (model.py), and the readers
that fill them (postgres.py with pg_nodes.py, pg_locks.py and pg_values.py; sqlglot.py;
words.py). `statement_effects` parses a script once
(libpg_query's JSON tree, through pglast.parser, for PostgreSQL; sqlglot for the other
dialects; the statement's first words when neither can parse it) and returns, per
statement, the objects it creates, drops, renames and alters, the rows it deletes or
updates (with or without a filter), and whether it controls its own transaction. The
changelog renders it; deploys read `transaction_control` to learn whether a script must
run outside vcsync's transaction and never inside a dry run.

Objects created or dropped are whole objects made or removed by their own statement;
the parts of a table (columns, constraints) and of a type (enum values) are alterations
of it.
"""

from __future__ import annotations

from collections.abc import Sequence

from vcsync.sql.effects.model import (
    POSTGRES,
    SQLITE,
    Alteration,
    Column,
    DbObject,
    Renamed,
    RowChange,
    StatementEffect,
    TransactionControl,
    keyword_control,
)
from vcsync.sql.effects.pg_locks import CANDIDATE
from vcsync.sql.effects.postgres import postgres_effects
from vcsync.sql.effects.sqlglot import sqlglot_effects
from vcsync.sql.syntax import mask_placeholders


def transaction_control(statements: Sequence[str], engine: str) -> TransactionControl | None:
    """The first of `statements` (as the back end split them) that ends, opens or cannot
    run in a transaction block; None when the script can run inside one."""
    for index, statement in enumerate(statements, start=1):
        if engine == SQLITE:
            what = keyword_control(statement)
        elif CANDIDATE.search(statement):
            found = (e.transaction_control for e in postgres_effects(statement, 1))
            what = next(filter(None, found), None)
        else:
            what = None
        if what:
            return TransactionControl(index, what)
    return None


def statement_effects(
    text: str,
    dialect: str,
    first_line: int = 1,
    postgres_version: int = 14,
    tree: str | None = None,
) -> list[StatementEffect]:
    """Each statement of a script (`${placeholders}` allowed) and what it does.

    PostgreSQL only: `postgres_version` is the server's major version the facts are read
    for (whether a statement rewrites its table), and `tree` the script's parse when the
    caller already has it: `pglast.parser.parse_sql_json(mask_placeholders(text))`, as the
    syntax check (VC101) parses it."""
    masked = mask_placeholders(text)
    if dialect == POSTGRES:
        return list(postgres_effects(masked, first_line, postgres_version, tree))
    return list(sqlglot_effects(masked, dialect, first_line))


__all__ = [
    "POSTGRES",
    "SQLITE",
    "Alteration",
    "Column",
    "DbObject",
    "Renamed",
    "RowChange",
    "StatementEffect",
    "TransactionControl",
    "statement_effects",
    "transaction_control",
]
