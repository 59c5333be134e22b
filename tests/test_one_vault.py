"""examples/one_vault/run.sh, the OneVault story, stays true on SQLite and on PostgreSQL."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

RUN = Path(__file__).parent.parent / "examples" / "one_vault" / "run.sh"


def run_demo(tmp_path: Path, **extra: str) -> str:
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "TMPDIR": str(tmp_path),
        "ONEVAULT_REPORT": str(tmp_path / "report.html"),
        **extra,
    }
    if "VCSYNC_DEMO_PG_URL" not in extra:
        env.pop("VCSYNC_DEMO_PG_URL", None)
    proc = subprocess.run(
        ["bash", str(RUN)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,  # interleaved, as a terminal shows it
        text=True,
        env=env,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout
    assert proc.stdout.rstrip().endswith(
        "OneVault demo finished: see examples/one_vault/README.md for what each step shows"
    )
    return proc.stdout


def section(out: str, title: str) -> str:
    """The output of the step titled TITLE, up to the next step."""
    rest = out.split(f"== {title}", 1)[1]
    return rest.split("\n\x1b[1m== ", 1)[0].split("\nOneVault demo finished", 1)[0]


def status_rows(text: str) -> list[list[str]]:
    lines = text.splitlines()[3:]  # the title, the command, the header
    return [re.split(r"\s{2,}", line.strip())[2:] for line in lines if line.strip()]


def test_one_vault_on_sqlite(tmp_path: Path) -> None:
    out = run_demo(tmp_path)
    assert "vcsync: no findings (10 files checked)." in section(out, "every rule over")
    assert "dev (sqlite:///.vcsync/dev.db): migrate 5 migrations" in out

    refusal = section(out, "production before staging: promotion refuses it")
    assert "vcsync: 1.0.0, 1.1.0, 1.2.0, 1.3.0, 1.4.0 are not applied in staging" in refusal
    assert "promote them there first (`vcsync migrate --env staging`)" in refusal
    assert "or pass --skip-promotion --reason TEXT." in refusal

    production = section(out, "now production, every tenant's database in turn")
    for tenant in ("tenant_acme", "tenant_globex"):
        assert f"production (sqlite:///.vcsync/{tenant}.db): migrate 5 migrations" in production

    tag = section(out, "release v1.4.0")
    assert re.search(r"tagged v1\.4\.0 at \w+: schema version 1\.4\.0, 5 migrations", tag)
    assert "recorded in production (sqlite:///.vcsync/tenant_acme.db)." in tag
    assert "recorded in production (sqlite:///.vcsync/tenant_globex.db)." in tag

    gate = section(out, "the gate: Git, the tag and every ledger agree")
    assert "vcsync verify --env staging --env production" in gate
    assert gate.rstrip().endswith("vcsync: no findings (10 files checked).")

    status = section(out, "where every environment stands")
    assert status.splitlines()[2].split()[2:] == [
        "dev",
        "staging",
        "production:sqlite:///.vcsync/tenant_acme.db",
        "production:sqlite:///.vcsync/tenant_globex.db",
    ]
    assert status_rows(status) == [["applied"] * 4] * 5

    history = section(out, "production's deployments, per tenant")
    assert history.count("release    succeeded  release-manager") == 2
    assert history.count("1.0.0,1.1.0,1.2.0,1.3.0,1.4.0") == 2

    ledger = section(out, "the ledger in SQL (DESIGN §5)")
    assert "SELECT * FROM version_control__migration_dashboard;" in ledger
    assert "(5 rows, 21 columns)" in ledger
    assert re.search(r"1\.4\.0 +\| Analytics_tables +\| production +\| applied", ledger)
    assert "WHERE environment_name = 'production' ORDER BY deployment_start DESC;" in ledger
    assert re.search(r"production +\| release +\| succeeded .*\| v1\.4\.0 ", ledger)
    assert "SELECT * FROM version_control__database_version;" in ledger
    assert re.search(r"production +\| 1\.4\.0 +\| Analytics_tables +\|", ledger)
    globex = section(out, "tenant globex is at the same version")
    assert re.search(r"production +\| 1\.4\.0 +\| Analytics_tables +\|", globex)

    rollback = section(out, "an incident on dev")
    assert "rolled back  1.4.0            Analytics_tables" in rollback
    assert "dev (sqlite:///.vcsync/dev.db): rollback 1 migration" in rollback
    after = status_rows(section(out, "dev is back at 1.3.0"))
    assert after == [["applied"] * 4] * 4 + [["rolled back", "applied", "applied", "applied"]]

    assert re.search(r"wrote report\.html \(\d+ bytes\)", out)
    page = (tmp_path / "report.html").read_text()
    assert page.startswith("<!doctype html>") or page.lower().startswith("<!doctype html>")
    assert "Analytics_tables" in page and "tenant_globex" in page

    assert "PostgreSQL" not in out  # the server part runs only with VCSYNC_DEMO_PG_URL
    assert [p.name for p in tmp_path.iterdir()] == ["report.html"]  # the temp repo is gone


@pytest.mark.postgres
@pytest.mark.skipif(shutil.which("psql") is None, reason="psql is not installed")
def test_one_vault_production_on_postgres(tmp_path: Path, pg_server: str) -> None:
    import psycopg

    out = run_demo(tmp_path, VCSYNC_DEMO_PG_URL=pg_server)
    scratch = re.search(r"CREATE DATABASE (onevault_demo_\w+)", out)
    assert scratch

    first = section(out, "production on PostgreSQL: up to 1.3.0 first")
    assert first.count("migrate 4 migrations") == 2  # both tenant schemas
    release = section(out, "then the release exactly as tag v1.4.0 holds it")
    assert release.count("migrate 1 migration,") == 2

    ledger = section(out, "the ledger in SQL, tenant acme's schema")
    assert "SELECT * FROM version_control_tenant_acme.database_version;" in ledger
    assert re.search(r"production +\| 1\.4\.0 +\| Analytics_tables +\| \w+ +\| v1\.4\.0 ", ledger)

    diff = section(out, "in the database (DESIGN §11): what changed since 1.3.0")
    query = "SELECT * FROM version_control_tenant_acme.generate_schema_diff('1.3.0', 'current');"
    assert query in diff
    assert re.search(r"added +\| view +\| tenant_acme\.customer_360 ", diff)
    assert re.search(r"added +\| table +\| tenant_acme\.customer_metrics_s ", diff)
    assert "(11 rows)" in diff

    console = section(out, "on call with only a SQL console: roll 1.4.0 back for tenant acme")
    hk = re.search(r"^ ([0-9a-f]{64})$", console, re.M)
    assert hk
    assert f"rollback_migration('{hk[1]}', 'production', 'Performance issue detected');" in console
    assert re.search(r"^ [0-9a-f]{32}\n\(1 row\)", console, re.M)  # the deployment id
    assert console.rstrip().endswith("(0 rows)")  # 1.3.0 and the live schema agree again

    status = section(out, "the CLI reads the same rows")
    assert status_rows(status)[-1] == ["rolled back", "applied"]
    history = section(out, "history shows")
    assert "rollback   succeeded  postgres@" in history
    gate = section(out, "and the gate still passes")
    assert gate.rstrip().endswith("vcsync: no findings (10 files checked).")

    with psycopg.connect(pg_server) as conn:
        left = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [scratch[1]]).fetchall()
    assert left == []  # the scratch database was dropped
