"""Schema-per-tenant: one URL, many schemas; every tenant keeps its own ledger and lock."""

from __future__ import annotations

import json
from pathlib import Path

import psycopg

from tests.helpers import make_repo, vcsync
from tests.projects import BASE


def test_each_tenant_schema_is_migrated_with_its_own_ledger(tmp_path: Path, pg_url: str) -> None:
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("CREATE SCHEMA tenant_a")
        conn.execute("CREATE SCHEMA tenant_b")
    repo = make_repo(
        tmp_path / "p",
        BASE,
        config=(
            f'[tool.vcsync.environments.tenants]\nurl = "{pg_url}"\n'
            'schemas = ["tenant_a", "tenant_b"]\n'
        ),
    )
    run = vcsync(repo, "migrate", "--env", "tenants")
    assert run.exit_code == 0, run.stderr
    assert run.stdout.count("migrate 3 migrations") == 2
    with psycopg.connect(pg_url) as conn:
        tables = conn.execute(
            "SELECT table_schema, table_name FROM information_schema.tables "
            "WHERE table_schema LIKE 'tenant_%' ORDER BY 1, 2"
        ).fetchall()
        ledgers = conn.execute(
            "SELECT schema_name FROM information_schema.schemata WHERE "
            "schema_name LIKE 'version_control%' ORDER BY 1"
        ).fetchall()
    assert tables == [(t, n) for t in ("tenant_a", "tenant_b") for n in ("customers", "orders")]
    assert ledgers == [("version_control_tenant_a",), ("version_control_tenant_b",)]
    status = json.loads(vcsync(repo, "status", "--format", "json").stdout)
    assert len(status["environments"]) == 2
    verify = vcsync(repo, "verify", "--env", "tenants")
    assert verify.exit_code == 0, verify.stdout + verify.stderr
