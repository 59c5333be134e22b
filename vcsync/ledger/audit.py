"""Proof that deployment_log is as it was written: every row carries the hash of the row
before it, so an edited, deleted or inserted row breaks the chain at that point."""

from __future__ import annotations

from vcsync.db import Connection
from vcsync.ledger.reader import deployment_log
from vcsync.ledger.writer import GENESIS, row_hash


def broken_links(conn: Connection, schema: str) -> list[str]:
    """One sentence per place the chain breaks; empty when the log is intact."""
    problems = []
    previous, expected_seq = GENESIS, 1
    for seq, prev_hash, stored, deployment in deployment_log(conn, schema):
        if seq != expected_seq:
            problems.append(f"deployment_log rows {expected_seq}-{seq - 1} are missing")
        elif prev_hash != previous:
            problems.append(f"deployment_log row {seq} does not follow row {seq - 1}")
        elif row_hash(prev_hash, deployment) != stored:
            problems.append(
                f"deployment_log row {seq} ({deployment.operation} of "
                f"{deployment.started_at:%Y-%m-%d %H:%M}) was edited after it was written"
            )
        previous, expected_seq = stored, seq + 1
    return problems
