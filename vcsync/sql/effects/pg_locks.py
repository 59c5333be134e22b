"""PostgreSQL's transaction control and table locks, read from a statement's parse tree:
whether PostgreSQL refuses it inside a transaction block, which lock it takes and on which
tables, and whether it rewrites a whole table under that lock. Kept apart from the
statement handlers (postgres.py): these say how a statement runs, not what it changes.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from vcsync.sql.effects.pg_nodes import (
    Node,
    commands,
    constraint_node,
    option_names,
    pg_object,
    rv,
)
from vcsync.sql.effects.pg_values import VOLATILE, column_default

# Words without which no statement can control a transaction: scripts lacking all of
# them (nearly every migration) are never parsed a second time.
CANDIDATE = re.compile(
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


def node_control(kind: str, node: Node) -> str | None:
    """Why PostgreSQL would refuse `node` inside a transaction block, if it would."""
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
        concurrent = "concurrently" in option_names(node.get("params"))
        system_wide = node.get("kind") in ("REINDEX_OBJECT_DATABASE", "REINDEX_OBJECT_SYSTEM")
        return (
            "REINDEX CONCURRENTLY" if concurrent else ("REINDEX DATABASE" if system_wide else None)
        )
    if kind == "AlterTableStmt":
        for command in commands(node):
            if command.get("subtype") == "AT_DetachPartition" and _detaches_concurrently(command):
                return "DETACH PARTITION CONCURRENTLY"
        return None
    if kind == "DiscardStmt" and node.get("target") == "DISCARD_ALL":
        return "DISCARD ALL"
    if kind == "ClusterStmt" and "relation" not in node:
        return "CLUSTER of every table"
    return None


def do_block_control(kind: str, code: str) -> str | None:
    """A plpgsql DO block may COMMIT or ROLLBACK (PostgreSQL 11+), which it can only do
    outside a transaction block: read from the block's own plpgsql tree."""
    if kind != "DoStmt" or not re.search(r"COMMIT|ROLLBACK", code, re.I):
        return None
    from pglast.parser import ParseError, parse_plpgsql_json

    try:
        tree = parse_plpgsql_json(code)
    except ParseError:
        return None  # not plpgsql, or not valid: the server will judge it
    for marker, what in (("PLpgSQL_stmt_commit", "COMMIT"), ("PLpgSQL_stmt_rollback", "ROLLBACK")):
        if f'"{marker}"' in tree:
            return f"a DO block that runs {what}"
    return None


# PostgreSQL's table-level lock modes, weakest first (LockStmt's `mode` is the 1-based rank).
_LOCKS = (
    "ACCESS SHARE",
    "ROW SHARE",
    "ROW EXCLUSIVE",
    "SHARE UPDATE EXCLUSIVE",
    "SHARE",
    "SHARE ROW EXCLUSIVE",
    "EXCLUSIVE",
    "ACCESS EXCLUSIVE",
)
ACCESS_EXCLUSIVE = _LOCKS[-1]
# ALTER TABLE's subcommands that take less than ACCESS EXCLUSIVE (PostgreSQL's ALTER TABLE
# page); a statement with several takes the strongest of their locks.
_ALTER_TABLE_LOCKS = {
    "AT_SetStatistics": "SHARE UPDATE EXCLUSIVE",
    "AT_ClusterOn": "SHARE UPDATE EXCLUSIVE",
    "AT_DropCluster": "SHARE UPDATE EXCLUSIVE",
    "AT_ValidateConstraint": "SHARE UPDATE EXCLUSIVE",
    **dict.fromkeys(
        (
            "AT_EnableTrig",
            "AT_EnableAlwaysTrig",
            "AT_EnableReplicaTrig",
            "AT_DisableTrig",
            "AT_EnableTrigAll",
            "AT_DisableTrigAll",
            "AT_EnableTrigUser",
            "AT_DisableTrigUser",
        ),
        "SHARE ROW EXCLUSIVE",
    ),
}
_DROP_LOCKED = {"OBJECT_TABLE", "OBJECT_INDEX", "OBJECT_MATVIEW", "OBJECT_FOREIGN_TABLE"}
_ROW_WRITERS = ("InsertStmt", "UpdateStmt", "DeleteStmt", "MergeStmt")


def pg_lock(kind: str, node: Node) -> str | None:
    if kind in _ROW_WRITERS:
        return "ROW EXCLUSIVE"
    if kind == "IndexStmt":
        return "SHARE UPDATE EXCLUSIVE" if node.get("concurrent") else "SHARE"
    if kind == "DropStmt" and node.get("removeType") in _DROP_LOCKED:
        return "SHARE UPDATE EXCLUSIVE" if node.get("concurrent") else ACCESS_EXCLUSIVE
    if kind in ("TruncateStmt", "ClusterStmt"):
        return ACCESS_EXCLUSIVE
    if kind == "VacuumStmt":
        full = "full" in option_names(node.get("options"))
        return ACCESS_EXCLUSIVE if full else "SHARE UPDATE EXCLUSIVE"
    if kind == "RefreshMatViewStmt":
        return "EXCLUSIVE" if node.get("concurrent") else ACCESS_EXCLUSIVE
    if kind == "CreateTrigStmt":
        return "SHARE ROW EXCLUSIVE"
    if kind == "ReindexStmt" and "relation" in node:
        return "SHARE UPDATE EXCLUSIVE" if node_control(kind, node) else "SHARE"
    if kind == "LockStmt":
        return _LOCKS[node["mode"] - 1]
    if kind == "RenameStmt" and node.get("renameType") in ("OBJECT_TABLE", "OBJECT_COLUMN"):
        return ACCESS_EXCLUSIVE
    if kind == "AlterTableStmt" and node.get("cmds") and _alters_a_table(node):
        return max(map(_alter_table_lock, commands(node)), key=_LOCKS.index)
    return None


def _alters_a_table(node: Node) -> bool:
    return bool(node.get("objtype", "OBJECT_TABLE") == "OBJECT_TABLE")


def _alter_table_lock(cmd: Node) -> str:
    subtype = cmd.get("subtype", "")
    if subtype == "AT_AddConstraint" and constraint_node(cmd).get("contype") == "CONSTR_FOREIGN":
        return "SHARE ROW EXCLUSIVE"
    if subtype == "AT_DetachPartition" and _detaches_concurrently(cmd):
        return "SHARE UPDATE EXCLUSIVE"
    return _ALTER_TABLE_LOCKS.get(subtype, ACCESS_EXCLUSIVE)


def _detaches_concurrently(cmd: Node) -> bool:
    return bool(((cmd.get("def") or {}).get("PartitionCmd") or {}).get("concurrent"))


# Statements whose lock is on the one table their `relation` names.
_ON_RELATION = {
    *_ROW_WRITERS,
    "IndexStmt",
    "ClusterStmt",
    "RefreshMatViewStmt",
    "CreateTrigStmt",
    "RenameStmt",
}


def locked_tables(kind: str, node: Node) -> Iterator[str]:
    """The existing tables `pg_lock`'s lock is taken on."""
    if kind in _ON_RELATION:
        yield rv(node.get("relation"))
    elif kind == "ReindexStmt" and node.get("kind") == "REINDEX_OBJECT_TABLE":
        yield rv(node.get("relation"))  # REINDEX INDEX names only the index
    elif kind in ("TruncateStmt", "LockStmt"):
        yield from (rv(r.get("RangeVar")) for r in node.get("relations") or ())
    elif kind == "VacuumStmt":
        yield from (rv(r["VacuumRelation"].get("relation")) for r in node.get("rels") or ())
    elif kind == "DropStmt" and node.get("removeType") != "OBJECT_INDEX":
        yield from (pg_object(o, "").name for o in node.get("objects") or ())
    elif kind == "AlterTableStmt":
        yield rv(node.get("relation"))
        # a FOREIGN KEY also locks the table it references (SHARE ROW EXCLUSIVE)
        for cmd in commands(node):
            for constraint in _added_constraints(cmd):
                if constraint.get("contype") == "CONSTR_FOREIGN":
                    yield rv(constraint.get("pktable"))


def _added_constraints(cmd: Node) -> Iterator[Node]:
    """The constraints an ALTER TABLE subcommand adds: ADD CONSTRAINT's, or those declared
    with ADD COLUMN."""
    subtype = cmd.get("subtype")
    if subtype == "AT_AddConstraint":
        yield constraint_node(cmd)
    elif subtype == "AT_AddColumn":
        for wrapped in cmd["def"]["ColumnDef"].get("constraints") or ():
            yield wrapped["Constraint"]


def rewrites_table(kind: str, node: Node, postgres_version: int) -> bool:
    """Whether the statement rewrites a whole table under its lock (PostgreSQL's ALTER TABLE,
    VACUUM and CLUSTER pages)."""
    if kind == "VacuumStmt":
        return bool(node.get("is_vacuumcmd")) and "full" in option_names(node.get("options"))
    if kind == "ClusterStmt":
        return True
    if kind != "AlterTableStmt" or not _alters_a_table(node):
        return False
    for cmd in commands(node):
        subtype = cmd.get("subtype")
        if subtype == "AT_AlterColumnType":
            return True  # a binary-compatible change does not: the rule refines with history
        if subtype == "AT_AddColumn":
            default, null = column_default(cmd["def"]["ColumnDef"])
            # PostgreSQL 11 stores a non-volatile default in the catalog instead of writing
            # it into every row; a volatile one (and any default before 11) fills each row
            if default == VOLATILE or (postgres_version < 11 and default and not null):
                return True
    return False
