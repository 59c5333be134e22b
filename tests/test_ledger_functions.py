"""The ledger's SQL functions reach existing ledgers only through an upgrade: they are
installed when a ledger is created or moves to a new LEDGER_VERSION. This test holds the
digest of the function files at the current version, so editing one without raising the
version (and leaving every existing ledger on the old function) fails here."""

from __future__ import annotations

from vcsync.ledger.functions import function_statements, functions_digest
from vcsync.ledger.schema import LEDGER_VERSION

# LEDGER_VERSION -> the digest of vcsync/ledger/functions/*.sql it installs
RECORDED = {3: "7746d01f7719081d813192bae6d542a8624ad7a59ce42c9a7a310897c4de2ad4"}


def test_the_function_files_belong_to_the_current_ledger_version() -> None:
    assert RECORDED.get(LEDGER_VERSION) == functions_digest(), (
        "a ledger function changed: raise LEDGER_VERSION in vcsync/ledger/schema.py so "
        "existing ledgers are upgraded and get it, then record the new digest here"
    )


def test_every_function_file_is_one_statement_naming_the_ledger_schema() -> None:
    statements = function_statements('"version_control"')
    assert len(statements) >= 3
    for text in statements:
        assert "__SCHEMA__" not in text
        assert text.lstrip().upper().startswith("CREATE OR REPLACE FUNCTION")
