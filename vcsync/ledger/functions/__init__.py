"""The ledger's SQL functions (PostgreSQL only; DESIGN §11): what the CLI does, callable
from a SQL console over the same rows.

Each `*.sql` file beside this module holds one statement (a `CREATE OR REPLACE FUNCTION`)
and names the ledger schema as `__SCHEMA__`; they are installed in file-name order with
the ledger, and replaced whenever the ledger is created or upgraded. So a change to any
of them must raise LEDGER_VERSION (ledger/schema.py), or existing ledgers keep the old
one: tests/test_ledger_functions.py holds the digest of this folder and fails until both
are updated. SQLite has no stored functions: there the CLI is the way.
"""

from __future__ import annotations

import hashlib
from importlib.resources import files
from importlib.resources.abc import Traversable

SCHEMA_PLACEHOLDER = "__SCHEMA__"


def _scripts() -> list[Traversable]:
    folder = files(__package__)
    return sorted(
        (entry for entry in folder.iterdir() if entry.name.endswith(".sql")),
        key=lambda entry: entry.name,
    )


def functions_digest() -> str:
    """SHA-256 over every function file's name and text, in installation order."""
    digest = hashlib.sha256()
    for script in _scripts():
        digest.update(f"{script.name}\0{script.read_text('utf-8')}\0".encode())
    return digest.hexdigest()


def function_statements(schema_sql: str) -> list[str]:
    """The statements that (re)create every function, for the quoted schema name."""
    return [s.read_text("utf-8").replace(SCHEMA_PLACEHOLDER, schema_sql) for s in _scripts()]
