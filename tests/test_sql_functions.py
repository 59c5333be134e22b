"""The ledger's SQL functions catalog_snapshot() and generate_schema_diff() (DESIGN §11) on
a real PostgreSQL server: installed with the ledger, the one definition of a snapshot the
CLI uses too, and the same difference `vcsync diff` reports."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import commit, make_repo, write
from tests.projects import BASE, Project, mig
from vcsync.db import Connection, DatabaseError, connect
from vcsync.db.catalog_postgres import function_body
from vcsync.db.urls import target_for
from vcsync.ledger.schema import ensure_ledger
from vcsync.snapshot import (
    describe_change,
    diff_snapshots,
    snapshot_from_json,
    snapshot_hash,
    take_snapshot,
)

pytestmark = pytest.mark.postgres

LEDGER = "version_control"
FIXTURES = Path(__file__).parent / "fixtures"
# A schema with every kind of object a snapshot holds, and its snapshot as the catalog
# queries in Python (vcsync/db/catalog_postgres.py before the SQL function) took it.
RICH_SCHEMA = FIXTURES / "catalog_snapshot_rich.postgres.sql"
OLD_SNAPSHOT = FIXTURES / "catalog_snapshot_rich.postgres.json"

# Version 4: a view whose definition spans lines, a domain with two checks, an enum.
FOURTH = mig(
    "4",
    "shapes",
    "CREATE DOMAIN code AS text CONSTRAINT a_long_check_name CHECK (VALUE <> '')\n"
    "    CONSTRAINT b CHECK (length(VALUE) < 9);\n"
    "CREATE TYPE mood AS ENUM ('sad', 'ok');\n"
    "CREATE TABLE labels (id integer PRIMARY KEY, code code, mood mood DEFAULT 'ok');\n"
    "CREATE VIEW named AS\n  SELECT id,\n\tname FROM customers WHERE id > 1;\n",
    "DROP VIEW named;\nDROP TABLE labels;\nDROP TYPE mood;\nDROP DOMAIN code;\n",
)

# Changes made by hand after the deployments: drift of every shape of detail.
DRIFT = """
CREATE TABLE drifted (id integer);
ALTER TABLE customers ALTER COLUMN email TYPE varchar(320);
ALTER TYPE mood ADD VALUE 'happy';
ALTER DOMAIN code ADD CONSTRAINT c CHECK (VALUE <> 'x');
CREATE OR REPLACE VIEW named AS SELECT id, name FROM customers WHERE id > 2;
DROP INDEX orders_customer_idx;
"""


def pg_project(tmp_path: Path, pg_server: str, url: str) -> Project:
    """Migrations 1-3 (and 4 when committed later); `production` is the PostgreSQL
    database at `url`, and `vcsync diff` builds on scratch databases of the same server."""
    config = (
        f'[tool.vcsync]\nscratch_url = "{pg_server}"\n'
        f'[tool.vcsync.environments.production]\nurl = "{url}"\n'
    )
    return Project(make_repo(tmp_path / "p", BASE, config=config), "postgres", url)


def ok(project: Project, *args: str) -> str:
    run = project.run(*args)
    assert run.exit_code == 0, (args, run.stdout, run.stderr)
    return run.stdout


def sql_diff(project: Project, before: str, after: str) -> list[tuple[Any, ...]]:
    return project.query(
        f"SELECT * FROM version_control.generate_schema_diff('{before}', '{after}')"
    )


def as_lines(rows: list[tuple[Any, ...]]) -> list[str]:
    """The SQL function's rows as describe_change prints them."""
    signs = {"added": "+", "removed": "-", "changed": "~"}
    return [
        f"{signs[change]} {kind} {name}" + (f": {detail}" if detail is not None else "")
        for change, kind, name, detail in rows
    ]


def ledger_rows(project: Project) -> dict[str, int]:
    tables = ("schema_migration_s", "deployment_log", "deployment_end", "schema_snapshot")
    return {t: project.query(f"SELECT count(*) FROM {project.ledger(t)}")[0][0] for t in tables}


@pytest.fixture
def deployed(tmp_path: Path, pg_server: str, pg_url: str) -> Project:
    """Production taken to 1, then 2, then 3 (tagged `v3`), then 4: a recorded state each."""
    project = pg_project(tmp_path, pg_server, pg_url)
    for to in ("1", "2"):
        ok(project, "migrate", "--env", "production", "--to", to)
    ok(project, "migrate", "--env", "production")
    ok(project, "tag-release", "v3", "--env", "production")
    write(project.path, FOURTH)
    commit(project.path, "shapes")
    ok(project, "migrate", "--env", "production")
    return project


def open_pg(url: str, schema: str | None = None) -> Connection:
    return connect(target_for("test", url, Path("/"), schema), holder="vcsync tests", create=False)


# --- installed with the ledger ---------------------------------------------------------


def test_migrate_installs_both_functions_with_the_ledger(
    tmp_path: Path, pg_server: str, pg_url: str
) -> None:
    project = pg_project(tmp_path, pg_server, pg_url)
    ok(project, "migrate", "--env", "production")
    found = project.query(
        "SELECT p.proname, pg_get_function_identity_arguments(p.oid), "
        "pg_get_function_result(p.oid) FROM pg_proc p "
        "JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = 'version_control' "
        "AND p.proname IN ('catalog_snapshot', 'generate_schema_diff') ORDER BY 1"
    )
    assert found == [
        ("catalog_snapshot", "ledger_schema text, tenant_schema text", "jsonb"),
        (
            "generate_schema_diff",
            "from_version text, to_version text",
            "TABLE(change text, object_type text, object_name text, detail text)",
        ),
    ]
    live = project.query("SELECT version_control.catalog_snapshot()")[0][0]
    recorded = project.query(
        "SELECT snapshot FROM version_control.schema_snapshot ORDER BY load_dts DESC LIMIT 1"
    )[0][0]
    assert live == snapshot_from_json(recorded)  # what the CLI recorded: the same function
    assert "table public.customers" in live and not [k for k in live if LEDGER in k]
    assert sql_diff(project, "3", "current") == []


def test_the_cli_snapshot_is_the_ledger_function_when_the_ledger_holds_it(pg_url: str) -> None:
    conn = open_pg(pg_url)
    conn.run("CREATE TABLE t (id integer)")
    ensure_ledger(conn, LEDGER, "a-deployment")
    # a function of that name that is not vcsync's text is not called: the CLI's own is
    conn.run("DROP FUNCTION version_control.catalog_snapshot(text, text)")
    conn.run(
        "CREATE FUNCTION version_control.catalog_snapshot(ledger_schema text, "
        "tenant_schema text) "
        "RETURNS jsonb LANGUAGE sql AS $$ SELECT '{}'::jsonb $$"
    )
    assert "table public.t" in take_snapshot(conn, LEDGER)
    conn.close()


# --- one definition of a snapshot: the old queries' snapshot, equal --------------------


def rich_database(url: str) -> Connection:
    conn = open_pg(url)
    for statement in conn.split(RICH_SCHEMA.read_text()):
        conn.run(statement)
    return conn


@pytest.fixture
def old_snapshot(pg_server: str) -> dict[str, Any]:
    saved = json.loads(OLD_SNAPSHOT.read_text())
    import psycopg

    with psycopg.connect(pg_server, autocommit=True) as admin:
        major = admin.execute("SELECT current_setting('server_version_num')::int / 10000")
        server_major = major.fetchone()[0]  # type: ignore[index]
    if server_major != saved["server_major"]:
        pytest.skip(f"the fixture was taken on PostgreSQL {saved['server_major']}")
    return saved


def test_the_function_snapshot_equals_the_old_queries_snapshot_on_a_rich_schema(
    pg_url: str, old_snapshot: dict[str, Any]
) -> None:
    expected = old_snapshot["snapshot"]
    conn = rich_database(pg_url)
    # no ledger: the function's text, installed in pg_temp
    assert take_snapshot(conn, LEDGER) == expected
    assert snapshot_hash(take_snapshot(conn, LEDGER)) == old_snapshot["snapshot_hash"]
    assert conn.query(
        "SELECT count(*) FROM pg_proc WHERE proname = 'catalog_snapshot' "
        "AND pronamespace = pg_my_temp_schema()"
    ) == [(1,)]
    # the same text in SQL, as an operator calls it (its ledger schema by default)
    conn.run("DROP SCHEMA version_control CASCADE")
    ensure_ledger(conn, LEDGER, "a-deployment")
    without_ledger_schema = {k: v for k, v in expected.items() if k != "schema version_control"}
    in_sql = conn.query("SELECT version_control.catalog_snapshot()")[0][0]
    assert in_sql == without_ledger_schema
    assert take_snapshot(conn, LEDGER) == without_ledger_schema
    conn.close()


def test_a_session_that_may_create_nothing_runs_the_same_query(
    pg_url: str, old_snapshot: dict[str, Any]
) -> None:
    conn = rich_database(pg_url)
    conn.run("SET default_transaction_read_only = on")
    conn.run("SET search_path = app, public")
    assert take_snapshot(conn, LEDGER) == old_snapshot["snapshot"]
    assert conn.query("SHOW search_path") == [("app, public",)]  # put back as it was
    with pytest.raises(DatabaseError, match="read-only"):
        conn.run("CREATE TABLE nothing (id integer)")
    conn.close()


def test_the_function_body_is_one_query_with_no_second_copy() -> None:
    body = function_body()
    assert "$1" in body and "$2" in body and "__SCHEMA__" not in body
    source = (Path(__file__).parents[1] / "vcsync/db/catalog_postgres.py").read_text()
    assert "pg_get_constraintdef" not in source and "pg_attribute" not in source


# --- generate_schema_diff: versions, tags, current -------------------------------------


def test_the_diff_between_two_versions_lists_each_object(deployed: Project) -> None:
    rows = sql_diff(deployed, "1", "2")
    assert rows == [
        ("added", "column", "public.orders.customer_id", None),
        ("added", "column", "public.orders.id", None),
        ("added", "constraint", "public.orders.orders_customer_id_fkey", None),
        ("added", "constraint", "public.orders.orders_pkey", None),
        ("added", "index", "public.orders_customer_idx", None),
        ("added", "index", "public.orders_pkey", None),
        ("added", "table", "public.orders", None),
    ]
    assert sql_diff(deployed, "2", "1")[0][0] == "removed"
    assert sql_diff(deployed, "2", "2") == []
    # a version as vcsync writes it, with or without its V, any number of trailing zeros
    assert sql_diff(deployed, "V1", "2.0.0") == rows
    assert sql_diff(deployed, "v001", "002") == rows
    assert as_lines(sql_diff(deployed, "2", "3")) == ["+ column public.customers.name"]


def test_a_release_tag_is_the_schema_version_it_recorded(deployed: Project) -> None:
    assert sql_diff(deployed, "v3", "3") == []
    assert sql_diff(deployed, "refs/tags/v3", "V3") == []
    assert [r[1:3] for r in sql_diff(deployed, "v3", "current")] == [
        (r[1], r[2]) for r in sql_diff(deployed, "3", "4")
    ]
    assert ("added", "view", "public.named", None) in sql_diff(deployed, "v3", "current")


def test_the_sql_function_and_the_cli_list_the_same_changes(deployed: Project) -> None:
    deployed.query(DRIFT)
    for before in ("1", "3", "4"):
        rows = sql_diff(deployed, before, "current")
        cli = ok(deployed, "diff", before, "current", "--env", "production").splitlines()
        assert as_lines(rows) == cli, before
        assert rows
    lines = as_lines(sql_diff(deployed, "4", "current"))
    assert lines == [
        "~ column public.customers.email: type text -> character varying(320)",
        "+ column public.drifted.id",
        "- index public.orders_customer_idx",
        "+ table public.drifted",
        '~ type public.code: constraints {"a_long_check_name": "CHECK (VALUE <> \'\'::text)", '
        '"b": "CHECK (length(VALUE) < 9)"} -> {"a_long_check_name": "CHECK (VALUE <> '
        '\'\'::text)", "b": "CHECK (length(VALUE) < 9)", "c": "CHECK (VALUE <> \'x\'::text)"}',
        '~ type public.mood: labels ["sad", "ok"] -> ["sad", "ok", "happy"]',
        "~ view public.named: definition SELECT customers.id, customers.name FROM "
        "public.customers WHERE customers.id > 1; -> SELECT customers.id, customers.name FROM "
        "public.customers WHERE customers.id > 2;",
    ]
    # the same words as the CLI's own model of the change
    recorded = snapshot_from_json(
        deployed.query(
            "SELECT snapshot FROM version_control.schema_snapshot ORDER BY load_dts DESC LIMIT 1"
        )[0][0]
    )
    live = deployed.query("SELECT version_control.catalog_snapshot()")[0][0]
    assert [describe_change(c) for c in diff_snapshots(recorded, live)] == lines


def test_drift_by_hand_is_listed_against_a_version(deployed: Project) -> None:
    assert sql_diff(deployed, "4", "current") == []
    deployed.query("CREATE TABLE audit_by_hand (id integer, at timestamptz DEFAULT now())")
    assert sql_diff(deployed, "4", "current") == [
        ("added", "column", "public.audit_by_hand.at", None),
        ("added", "column", "public.audit_by_hand.id", None),
        ("added", "table", "public.audit_by_hand", None),
    ]
    assert ("added", "table", "public.audit_by_hand", None) in sql_diff(deployed, "v3", "current")
    assert sql_diff(deployed, "current", "current") == []


def test_a_rollback_leaves_the_newest_state_of_the_version_it_returns_to(
    deployed: Project,
) -> None:
    deployed.query("CREATE TABLE by_hand (id integer)")  # drift, then a rollback records it
    ok(deployed, "rollback", "--env", "production", "--steps", "1", "--reason", "test")
    assert sql_diff(deployed, "3", "current") == []
    # 3's state is now the rollback's snapshot, drift included; 2's is still its own
    assert as_lines(sql_diff(deployed, "2", "v3")) == [
        "+ column public.by_hand.id",
        "+ column public.customers.name",
        "+ table public.by_hand",
    ]


# --- what is not known ---------------------------------------------------------------


def refusal(project: Project, before: str, after: str) -> str:
    import psycopg

    with pytest.raises(psycopg.Error) as caught:
        sql_diff(project, before, after)
    assert caught.value.sqlstate == "22023"
    message = caught.value.diag.message_primary or ""
    assert message.endswith(".") and "\n" not in message
    return message


def test_an_unknown_version_names_what_is_known_and_changes_nothing(deployed: Project) -> None:
    before = ledger_rows(deployed)
    for unknown in ("9.9.9", "banana", "refs/tags/v9"):
        message = refusal(deployed, "1", unknown)
        assert message == (
            f"generate_schema_diff: '{unknown}' is not a version, release tag or 'current' "
            "this ledger knows; give a version with a recorded schema (1, 2, 3, 4), a release "
            "tag (v3) or 'current'."
        )
    assert "'9.9.9'" in refusal(deployed, "9.9.9", "current")
    assert ledger_rows(deployed) == before


def test_a_version_never_left_at_the_end_of_a_run_has_no_recorded_schema(
    tmp_path: Path, pg_server: str, pg_url: str
) -> None:
    project = pg_project(tmp_path, pg_server, pg_url)
    ok(project, "migrate", "--env", "production")  # 1, 2 and 3 in one run
    assert refusal(project, "2", "current") == (
        "generate_schema_diff: version 2 has no recorded schema (no run ended with it the "
        "database's version); give a version with a recorded schema (3), a release tag "
        "(none yet) or 'current'."
    )
    assert sql_diff(project, "3", "current") == []


def test_the_diff_matches_describe_change_on_awkward_values(pg_url: str) -> None:
    """Values _show prints specially: null, text over lines and odd whitespace, empty text,
    numbers and booleans, lists and objects (keys in code-point order, not jsonb's)."""
    conn = open_pg(pg_url)
    before = {
        "table s.t": {"a": None, "b": " x\n\ty\u00a0 z ", "c": "", "d": 1, "e": True},
        "type s.u": {"constraints": {"zz": "1", "a_longer": 'q"\\'}, "labels": ["a", "b"]},
        "view s.gone": {},
        "function s.f(x integer)": {"x": "é\u2003é"},
    }
    after = {
        "table s.t": {"a": "  ", "b": None, "c": "\n", "d": 2, "e": False, "f": [1, [2]]},
        "type s.u": {"constraints": {}, "labels": ["b", "a"]},
        "foreign table s.new thing": {},
        "function s.f(x integer)": {"x": "é é", "y": None},
    }
    expected = [describe_change(c) for c in diff_snapshots(before, after)]
    assert expected[0] == "+ foreign table s.new thing"
    # Recorded states are rows a test may not write (the ledger is insert-only and sealed),
    # so the function's own difference query runs here on two literal snapshots.
    conn.run(
        "CREATE FUNCTION pg_temp.diff_of(states jsonb[]) RETURNS TABLE (change text, "
        f"object_type text, object_name text, detail text) LANGUAGE sql AS $q${diff_query()}$q$"
    )
    got = conn.query(
        "SELECT * FROM pg_temp.diff_of(ARRAY[%s::jsonb, %s::jsonb])",
        [json.dumps(before), json.dumps(after)],
    )
    assert as_lines(got) == expected
    conn.close()


def diff_query() -> str:
    """The RETURN QUERY of generate_schema_diff: its two states are `states[1]`, `[2]`."""
    text = (
        Path(__file__).parents[1] / "vcsync/ledger/functions/20_generate_schema_diff.sql"
    ).read_text()
    return text[text.index("RETURN QUERY") + len("RETURN QUERY") : text.rindex(";\nEND")]


def test_a_tenant_ledger_compares_its_own_schema(tmp_path: Path, pg_url: str) -> None:
    """Each tenant's ledger (<base>_<tenant>) records its tenant's schema alone, so its
    'current' is that schema too: the other tenant is no difference."""
    import psycopg

    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("CREATE SCHEMA tenant_a")
        conn.execute("CREATE SCHEMA tenant_b")
    config = (
        f'[tool.vcsync.environments.tenants]\nurl = "{pg_url}"\n'
        'schemas = ["tenant_a", "tenant_b"]\n'
    )
    project = Project(make_repo(tmp_path / "p", BASE, config=config), "postgres", pg_url)
    ok(project, "migrate", "--env", "tenants", "--to", "2")
    ok(project, "migrate", "--env", "tenants")
    project.query("CREATE TABLE tenant_b.by_hand (id integer)")
    for tenant, drift in (("tenant_a", []), ("tenant_b", ["+ table tenant_b.by_hand"])):
        rows = project.query(
            f"SELECT * FROM version_control_{tenant}.generate_schema_diff('3', 'current') "
            "WHERE object_type <> 'column'"
        )
        assert as_lines(rows) == drift
        rows = project.query(
            f"SELECT * FROM version_control_{tenant}.generate_schema_diff('2', '3')"
        )
        assert as_lines(rows) == [f"+ column {tenant}.customers.name"]
