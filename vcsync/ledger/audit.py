"""Proof that the ledger is as vcsync wrote it (DESIGN §5).

Every link of the chain (ledger/chain.py) must follow the one before it and hash to what
it says; every end link's digest must match the rows its run wrote, read back now; every
ledger row must belong to a run that a link records; the insert-only triggers must still
be there. Deleting the newest links leaves a valid but shorter chain: that is what the
head anchored outside the database (`refs/deployments/<env>`) is compared against.
"""

from __future__ import annotations

from typing import Any

from vcsync.db import Connection
from vcsync.ledger.chain import (
    GENESIS,
    HMAC,
    RUN_TABLES,
    SHA256,
    Link,
    link_hash,
    links,
    rows_digest,
)
from vcsync.ledger.schema import TABLES, altered_views, missing_guards, present_columns
from vcsync.ledger.writer import Deployment, legacy_row_hash


def broken_links(conn: Connection, schema: str, key: bytes | None) -> list[str]:
    """One sentence per place the ledger is not as written; empty when it is intact."""
    if not any(conn.has_table(schema, table) for table in TABLES):
        return []
    problems: list[str] = []
    if not conn.has_table(schema, "ledger_version"):  # ensure_ledger makes all or none
        problems.append("the ledger table ledger_version is gone (dropped)")
    chain = links(conn, schema)
    problems += _chain_problems(chain, key)
    problems += _digest_problems(conn, schema, chain, key)
    problems += _coverage_problems(conn, schema, chain)
    problems += [
        f"the insert-only triggers of ledger table {table} are gone, so its rows can be "
        "changed without a trace"
        for table in missing_guards(conn, schema)
    ]
    if conn.has_table(schema, "ledger_version"):
        problems += [
            f"the ledger view {view} was redefined, so what it shows in SQL is not the ledger"
            for view in altered_views(conn, schema)
        ]
    return problems


def _chain_problems(chain: list[Link], key: bytes | None) -> list[str]:
    problems: list[str] = []
    previous, expected = GENESIS, 1
    newer_format = signed = False
    for link in chain:
        kind = link.values.get("hash_kind")
        where = f"{link.table} row {link.seq}"
        if link.seq < expected:
            problems.append(f"{where} repeats a sequence number already taken (inserted)")
            continue
        if link.seq > expected:
            problems.append(f"the links {expected}-{link.seq - 1} of the chain are missing")
        elif kind not in (None, SHA256, HMAC):
            problems.append(f"{where} has a hash kind vcsync never writes, {kind!r} (forged)")
        elif link.values["prev_hash"] != previous:
            problems.append(f"{where} does not follow link {link.seq - 1} (reordered or forged)")
        elif kind is None and newer_format:
            problems.append(f"{where} is written in the old format after newer links (forged)")
        elif kind == HMAC and key is None:
            if not signed:
                problems.append(
                    "the ledger is signed with VCSYNC_LEDGER_KEY; set it to check the chain"
                )
        elif kind == SHA256 and signed and key is not None:
            problems.append(f"{where} is not signed with VCSYNC_LEDGER_KEY (forged)")
        elif link.row_hash != _expected_hash(link, previous, key):
            problems.append(f"{where} ({_what(link)}) was edited after it was written")
        newer_format = newer_format or kind is not None
        signed = signed or kind == HMAC
        previous, expected = link.row_hash, max(expected, link.seq + 1)
    return problems


def _expected_hash(link: Link, previous: str, key: bytes | None) -> str:
    kind = link.values.get("hash_kind")
    if kind is None:  # a version-1 deployment_log row
        fields: dict[str, Any] = {name: link.values.get(name) for name in Deployment._fields}
        return legacy_row_hash(previous, Deployment(**fields))
    return link_hash(previous, link.table, link.values, key if kind == HMAC else None)


def _what(link: Link) -> str:
    values: dict[str, Any] = link.values
    if link.table == "deployment_end":
        return f"end of deployment {link.deployment_id[:12]}"
    return f"{values.get('operation')} of {str(values.get('started_at'))[:16]}"


def _digest_problems(
    conn: Connection, schema: str, chain: list[Link], key: bytes | None
) -> list[str]:
    problems = []
    for link in chain:
        if link.table != "deployment_end":
            continue
        kind = link.values.get("hash_kind")
        if kind == HMAC and key is None:
            continue  # reported once by the chain check
        digest = rows_digest(conn, schema, link.deployment_id, key if kind == HMAC else None)
        if digest != link.values["rows_digest"]:
            problems.append(
                f"the ledger rows of deployment {link.deployment_id[:12]} were edited, deleted "
                "or added to after it ended (their digest no longer matches)"
            )
    return problems


def _coverage_problems(conn: Connection, schema: str, chain: list[Link]) -> list[str]:
    """Rows whose run no link vouches for: forged rows, or rows whose log was deleted."""
    started = {link.deployment_id for link in chain if link.table == "deployment_log"}
    legacy = {
        link.deployment_id
        for link in chain
        if link.table == "deployment_log" and link.values.get("hash_kind") is None
    }
    ended = {link.deployment_id for link in chain if link.table == "deployment_end"}
    running = conn.lock_holder(schema) is not None
    # Rows without a deployment_id were written by version 1, whose runs left legacy links
    # at the start of the chain; a ledger_version row saying 1 is no proof, anyone can add it.
    began_at_v1 = bool(legacy)
    problems = []
    for table in RUN_TABLES:
        if "deployment_id" not in present_columns(conn, schema, table):
            continue  # absent, or a version-1 table not upgraded yet: its rows predate runs
        quoted = conn.table(schema, table)
        rows = conn.query(f"SELECT deployment_id, count(*) FROM {quoted} GROUP BY deployment_id")
        for deployment_id, count in rows:
            if deployment_id is None:
                if not began_at_v1:
                    problems.append(f"{count} row(s) of {table} belong to no deployment (inserted)")
            elif deployment_id in ended or deployment_id in legacy:
                continue
            elif deployment_id in started:
                if not running:
                    problems.append(
                        f"deployment {deployment_id[:12]} never ended and no run holds the lock; "
                        "its rows are not sealed (run `vcsync migrate` or `vcsync repair` to "
                        "seal it as interrupted)"
                    )
            else:
                problems.append(
                    f"{count} row(s) of {table} name deployment {deployment_id[:12]}, which the "
                    "log does not have (inserted, or its log rows were deleted)"
                )
    return sorted(set(problems), key=problems.index)


def anchor_problems(
    conn: Connection, schema: str, anchored: tuple[int, str], where: str
) -> list[str]:
    """The chain against a head kept outside the database (`where` names it): the link
    it names must still be there, unchanged."""
    seq, expected = anchored
    found = [link for link in links(conn, schema) if link.seq == seq]
    if not found:
        newest = max((link.seq for link in links(conn, schema)), default=0)
        return [
            f"{where} anchors ledger link {seq}, but the chain ends at link {newest}: "
            "its newest rows were deleted"
        ]
    if all(link.row_hash != expected for link in found):
        return [f"ledger link {seq} is not the one {where} anchors: the chain was rewritten"]
    return []
