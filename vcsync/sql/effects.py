"""What a statement does to the session it runs in, read from the database's own grammar.

This module is the one statement-effects model: deploys read it to learn whether a
script controls its own transactions (its own BEGIN/COMMIT, VACUUM, CREATE DATABASE,
CONCURRENTLY …), which it must then run outside vcsync's transaction and never inside a
dry run. For PostgreSQL the tree is pglast's (libpg_query); for SQLite the statement's
leading keywords decide, as SQLite's own parser does for these few statement kinds.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any, NamedTuple

POSTGRES, SQLITE = "postgres", "sqlite"

# Words without which no statement can control a transaction: scripts lacking all of
# them (nearly every migration) are never parsed a second time.
_CANDIDATE = re.compile(
    r"\b(?:BEGIN|START|COMMIT|END|ROLLBACK|ABORT|PREPARE|VACUUM|DATABASE|TABLESPACE|"
    r"CONCURRENTLY|SYSTEM|DISCARD|CLUSTER|SUBSCRIPTION)\b",
    re.IGNORECASE,
)
_TRANSACTION_KINDS = {
    "TRANS_STMT_BEGIN": "BEGIN",
    "TRANS_STMT_START": "START TRANSACTION",
    "TRANS_STMT_COMMIT": "COMMIT",
    "TRANS_STMT_ROLLBACK": "ROLLBACK",
    "TRANS_STMT_PREPARE": "PREPARE TRANSACTION",
    "TRANS_STMT_COMMIT_PREPARED": "COMMIT PREPARED",
    "TRANS_STMT_ROLLBACK_PREPARED": "ROLLBACK PREPARED",
}
# Statements PostgreSQL refuses inside a transaction block (PreventInTransactionBlock).
_OUTSIDE_ONLY = {
    "CreatedbStmt": "CREATE DATABASE",
    "DropdbStmt": "DROP DATABASE",
    "CreateTableSpaceStmt": "CREATE TABLESPACE",
    "DropTableSpaceStmt": "DROP TABLESPACE",
    "AlterSystemStmt": "ALTER SYSTEM",
    "CreateSubscriptionStmt": "CREATE SUBSCRIPTION",
    "DropSubscriptionStmt": "DROP SUBSCRIPTION",
}
_SQLITE_CONTROL = re.compile(
    r"^\s*(?P<word>BEGIN|COMMIT|END|ROLLBACK(?!\s+(?:TRANSACTION\s+)?TO\b)|VACUUM)\b",
    re.IGNORECASE,
)


class TransactionControl(NamedTuple):
    """The first statement of a script that cannot run inside vcsync's transaction."""

    number: int  # 1-based statement number
    what: str  # e.g. "COMMIT", "CREATE INDEX CONCURRENTLY"

    def describe(self) -> str:
        return f"statement {self.number} is {self.what}"


def transaction_control(statements: Sequence[str], engine: str) -> TransactionControl | None:
    """The first of `statements` (as the back end split them) that ends, opens or cannot
    run in a transaction block; None when the script can run inside one."""
    for index, statement in enumerate(statements, start=1):
        if engine == SQLITE:
            match = _SQLITE_CONTROL.match(_without_leading_comments(statement))
            what = match["word"].upper() if match else None
        elif _CANDIDATE.search(statement):
            what = _postgres_control(statement)
        else:
            what = None
        if what:
            return TransactionControl(index, what)
    return None


def _without_leading_comments(statement: str) -> str:
    text = statement.lstrip()
    while text.startswith(("--", "/*")):
        end = text.find("\n") if text.startswith("--") else text.find("*/") + 1
        if end <= 0:
            return ""
        text = text[end + 1 :].lstrip()
    return text


def _postgres_control(statement: str) -> str | None:
    from pglast.parser import ParseError, parse_sql_json

    try:
        tree = json.loads(parse_sql_json(statement))
    except ParseError:
        return None  # the server will say what is wrong with it, inside the transaction
    for entry in tree.get("stmts", []):
        what = _node_control(entry.get("stmt", {}))
        if what:
            return what
    return None


def _node_control(stmt: dict[str, Any]) -> str | None:
    if not stmt:
        return None
    (kind, node), *_ = stmt.items()
    if kind == "TransactionStmt":
        return _TRANSACTION_KINDS.get(node.get("kind", ""))
    if kind == "VacuumStmt":
        return "VACUUM" if node.get("is_vacuumcmd") else None
    if kind in _OUTSIDE_ONLY:
        return _OUTSIDE_ONLY[kind]
    if kind == "IndexStmt" and node.get("concurrent"):
        return "CREATE INDEX CONCURRENTLY"
    if kind == "DropStmt" and node.get("concurrent"):
        return "DROP INDEX CONCURRENTLY"
    if kind == "ReindexStmt":
        concurrent = any(
            p.get("DefElem", {}).get("defname") == "concurrently" for p in node.get("params", [])
        )
        system_wide = node.get("kind") in ("REINDEX_OBJECT_DATABASE", "REINDEX_OBJECT_SYSTEM")
        return (
            "REINDEX CONCURRENTLY" if concurrent else ("REINDEX DATABASE" if system_wide else None)
        )
    if kind == "AlterTableStmt":
        for cmd in node.get("cmds", []):
            command = cmd.get("AlterTableCmd", {})
            partition = command.get("def", {}).get("PartitionCmd", {})
            if command.get("subtype") == "AT_DetachPartition" and partition.get("concurrent"):
                return "DETACH PARTITION CONCURRENTLY"
        return None
    if kind == "DiscardStmt" and node.get("target") == "DISCARD_ALL":
        return "DISCARD ALL"
    if kind == "ClusterStmt" and not node.get("relation"):
        return "CLUSTER of every table"
    return None
