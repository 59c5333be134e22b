"""The ledger's SQL functions (PostgreSQL only; DESIGN §11): what the CLI does, callable
from a SQL console over the same rows.

Each `*.sql` file beside this module holds one statement (a `CREATE OR REPLACE FUNCTION`)
and names the ledger schema as `__SCHEMA__`; they are installed in file-name order with
the ledger, and replaced whenever the ledger is created or upgraded. SQLite has no stored
functions: there the CLI is the way.
"""

from __future__ import annotations

from importlib.resources import files

SCHEMA_PLACEHOLDER = "__SCHEMA__"


def function_statements(schema_sql: str) -> list[str]:
    """The statements that (re)create every function, for the quoted schema name."""
    folder = files(__package__)
    scripts = sorted(
        (entry for entry in folder.iterdir() if entry.name.endswith(".sql")),
        key=lambda entry: entry.name,
    )
    return [s.read_text("utf-8").replace(SCHEMA_PLACEHOLDER, schema_sql) for s in scripts]
