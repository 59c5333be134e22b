"""The codes of `vcsync verify`'s own checks (Git against tags, ledgers and live schemas).

VC2xx: history as databases and tags recorded it; VC4xx: what a database really holds.
"""

from __future__ import annotations

from vcsync.rules import ERROR, GateCheck, register_gate

register_gate(
    GateCheck(
        code="VC204",
        name="ledger-checksum-mismatch",
        severity=ERROR,
        summary="A migration applied in an environment differs from Git's copy.",
        bad="staging applied V2__add_email.sql, then the file was edited in Git.",
        good="The file is as it was when staging applied it; the change is a new V3.",
    )
)
register_gate(
    GateCheck(
        code="VC205",
        name="applied-migration-gone",
        severity=ERROR,
        summary="A migration applied in an environment was deleted from Git.",
        bad="production applied V2; a later commit deleted V2__add_email.sql.",
        good="V2 stays in Git for as long as any database has it applied.",
    )
)
register_gate(
    GateCheck(
        code="VC206",
        name="unknown-ledger-migration",
        severity=ERROR,
        summary="A ledger records a migration that Git never had.",
        bad="Someone applied a hot-fix V9 from a laptop without committing it.",
        good="Every migration a ledger records came from a commit in this repository.",
    )
)
register_gate(
    GateCheck(
        code="VC207",
        name="release-manifest-mismatch",
        severity=ERROR,
        summary="A release tag's manifest hash differs from what the tag's commit holds.",
        bad="v1.4.0 was deleted and re-created at another commit with different migrations.",
        good="The manifest in v1.4.0's message matches the migrations at v1.4.0.",
    )
)
register_gate(
    GateCheck(
        code="VC208",
        name="release-commit-mismatch",
        severity=ERROR,
        summary="A ledger records a release tag at another commit than the tag names.",
        bad="production recorded v1.4.0 at a1b2c3d; the tag now points at d4e5f6a.",
        good="The ledger's commit for v1.4.0 is the commit the tag points at.",
    )
)
register_gate(
    GateCheck(
        code="VC209",
        name="ledger-tampered",
        severity=ERROR,
        summary="A ledger row was edited, deleted or inserted, its insert-only triggers were "
        "dropped, or the chain lost the head anchored in refs/deployments/<env>.",
        bad="With the triggers disabled, a status was flipped from applied to rolled_back.",
        good="Every link follows the one before it, every run's rows match the digest its end "
        "row holds, and the anchored head is still in the chain.",
    )
)
register_gate(
    GateCheck(
        code="VC401",
        name="rollback-not-reversing",
        severity=ERROR,
        summary="On a scratch database, a new migration, its rollback or its second run fails, "
        "the rollback does not restore the schema as it was, or the round trip could not run "
        "(no scratch database for the dialect, a rollback missing); a rollback declared "
        "irreversible is skipped, and said to be.",
        bad="V3 adds a column and an index; its rollback drops only the column.",
        good="After V3 and its rollback the schema equals the one before V3, object by object, "
        "and V3 applies again.",
    )
)
register_gate(
    GateCheck(
        code="VC402",
        name="schema-drift",
        severity=ERROR,
        summary="A live schema differs from the snapshot its ledger recorded (a change by hand).",
        bad="An `ALTER TABLE customers ADD note text` was run in psql on production.",
        good="Every change to production went through `vcsync migrate`.",
    )
)
register_gate(
    GateCheck(
        code="VC403",
        name="target-unreachable",
        severity=ERROR,
        summary="A database `vcsync verify --env` was asked to check could not be reached (a "
        "connection refused, an `env:` variable unset); every other target is still checked.",
        bad="production's URL is `env:PROD_URL`, and the variable is not set where verify runs.",
        good="Every named environment's databases answer, so each ledger is checked.",
    )
)
