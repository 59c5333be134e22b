"""Schema snapshots on SQLite and real PostgreSQL: normalised, complete, diffed, recorded."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, NamedTuple

import pytest

from tests.helpers import make_repo, vcsync
from tests.projects import BASE
from vcsync.db import Connection, connect
from vcsync.db.urls import target_for
from vcsync.ledger.reader import latest_snapshot, snapshot_for
from vcsync.ledger.schema import ensure_ledger
from vcsync.snapshot import (
    Change,
    Snapshot,
    describe_change,
    diff_snapshots,
    snapshot_from_json,
    snapshot_hash,
    snapshot_json,
    take_snapshot,
)

LEDGER = "version_control"


def run_script(conn: Connection, script: str) -> None:
    for statement in conn.split(script):
        conn.run(statement)


class Databases(NamedTuple):
    """Makes empty databases of one kind; each one's URL is a vcsync environment's URL."""

    kind: str
    new_url: Callable[[], str]

    def open(self, url: str, schema: str | None = None) -> Connection:
        return connect(
            target_for("test", url, Path("/"), schema), holder="vcsync tests", create=True
        )

    def new(self, script: str = "") -> Connection:
        conn = self.open(self.new_url())
        run_script(conn, script)
        return conn


@pytest.fixture
def pg_databases(pg_server: str) -> Iterator[Callable[[], str]]:
    import psycopg
    from psycopg import sql

    made: list[str] = []

    def new_url() -> str:
        name = f"vcsync_test_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(pg_server, autocommit=True) as admin:
            admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        made.append(name)
        return f"{pg_server.rsplit('/', 1)[0]}/{name}"

    yield new_url
    with psycopg.connect(pg_server, autocommit=True) as admin:
        for name in made:
            admin.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


@pytest.fixture(params=["sqlite", "postgres"])
def databases(request: pytest.FixtureRequest, tmp_path: Path) -> Databases:
    if request.param == "postgres":
        return Databases("postgres", request.getfixturevalue("pg_databases"))
    counter = itertools.count()
    return Databases("sqlite", lambda: f"sqlite:///{tmp_path}/db{next(counter)}.db")


# --- one schema, built in two orders ---------------------------------------------------

SHOP_IN_ORDER = """
CREATE TABLE customers (id integer PRIMARY KEY, email text NOT NULL UNIQUE, name text);
CREATE TABLE orders (id integer PRIMARY KEY,
                     customer_id integer REFERENCES customers (id) ON DELETE CASCADE,
                     total numeric(10,2) DEFAULT 0);
CREATE INDEX orders_customer_idx ON orders (customer_id);
CREATE VIEW big_orders AS SELECT id, total FROM orders WHERE total > 100;
"""

# Tables in the other order, columns in another order and some added by ALTER, the index
# made before the view, and extra whitespace in the view.
SHOP_OTHER_ORDER = """
CREATE TABLE customers (email text NOT NULL UNIQUE, id integer PRIMARY KEY);
CREATE TABLE orders (total numeric(10,2) DEFAULT 0, id integer PRIMARY KEY);
ALTER TABLE orders ADD COLUMN customer_id integer REFERENCES customers (id) ON DELETE CASCADE;
CREATE INDEX orders_customer_idx ON orders (customer_id);
ALTER TABLE customers ADD COLUMN name text;
CREATE VIEW big_orders AS SELECT id, total
    FROM orders   WHERE total > 100;
"""

PG_EXTRAS_IN_ORDER = """
CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');
CREATE SEQUENCE tickets START 100;
CREATE FUNCTION add(a integer, b integer) RETURNS integer LANGUAGE sql AS 'SELECT a + b';
ALTER TABLE customers ADD COLUMN mood mood;
"""

PG_EXTRAS_OTHER_ORDER = """
CREATE FUNCTION add(a integer, b integer) RETURNS integer LANGUAGE sql AS 'SELECT a + b';
CREATE TYPE mood AS ENUM ('sad', 'ok');
ALTER TYPE mood ADD VALUE 'happy';
ALTER TABLE customers ADD COLUMN mood mood;
CREATE SEQUENCE tickets START 100;
"""


def test_equal_schemas_built_in_different_orders_have_equal_snapshots(
    databases: Databases,
) -> None:
    first = databases.new(SHOP_IN_ORDER)
    second = databases.new(SHOP_OTHER_ORDER)
    if databases.kind == "postgres":
        run_script(first, PG_EXTRAS_IN_ORDER)
        run_script(second, PG_EXTRAS_OTHER_ORDER)
    one, two = take_snapshot(first, LEDGER), take_snapshot(second, LEDGER)
    assert diff_snapshots(one, two) == []
    assert one == two and snapshot_hash(one) == snapshot_hash(two)
    assert snapshot_json(one) == snapshot_json(two)
    qualified = "public." if databases.kind == "postgres" else ""
    assert f"column {qualified}customers.email" in one
    assert f"index {qualified}orders_customer_idx" in one


def test_a_snapshot_survives_its_json_and_its_hash_ignores_key_order() -> None:
    snapshot: Snapshot = {
        "type public.mood": {"kind": "enum", "labels": ["sad", "ok", "happy"]},
        "column public.t.c": {"type": "text", "not_null": True, "default": None},
    }
    backwards = {k: dict(reversed(v.items())) for k, v in reversed(snapshot.items())}
    assert snapshot_from_json(snapshot_json(snapshot)) == snapshot
    assert snapshot_json(backwards) == snapshot_json(snapshot)
    assert snapshot_hash(backwards) == snapshot_hash(snapshot)
    assert " " not in snapshot_json({"a b": {}}).replace("a b", "")


# --- PostgreSQL: every kind of object ----------------------------------------------------

EVERY_KIND = """
CREATE EXTENSION pg_trgm;
CREATE SCHEMA app;
CREATE TYPE app.mood AS ENUM ('sad', 'ok', 'happy');
CREATE DOMAIN app.email AS text NOT NULL CHECK (VALUE LIKE '%@%');
CREATE TYPE app.pair AS (a integer, b text);
CREATE SEQUENCE app.tickets START 100 INCREMENT 5;
CREATE TABLE app.customers (
    id serial PRIMARY KEY,
    email app.email UNIQUE,
    mood app.mood DEFAULT 'ok',
    n integer GENERATED ALWAYS AS IDENTITY,
    doubled integer GENERATED ALWAYS AS (id * 2) STORED,
    CHECK (id > 0));
CREATE TABLE app.orders (id bigint PRIMARY KEY, customer_id integer REFERENCES app.customers);
CREATE INDEX orders_customer_idx ON app.orders (customer_id) WHERE id > 0;
ALTER TABLE app.orders ENABLE ROW LEVEL SECURITY;
CREATE POLICY own_orders ON app.orders FOR SELECT TO public USING (customer_id > 0);
CREATE VIEW app.recent AS SELECT id FROM app.orders WHERE id > 10;
CREATE MATERIALIZED VIEW app.counts AS SELECT count(*) AS n FROM app.orders;
CREATE FUNCTION app.touch() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$;
CREATE PROCEDURE app.noop(x integer) LANGUAGE sql AS 'SELECT 1';
CREATE TRIGGER orders_touch BEFORE UPDATE ON app.orders
    FOR EACH ROW EXECUTE FUNCTION app.touch();
"""


def kind_of(key: str) -> str:
    first, rest = key.split(" ", 1)
    return f"{first} {rest.split(' ', 1)[0]}" if first in ("materialized", "foreign") else first


def test_a_postgres_snapshot_holds_every_kind_of_object(pg_url: str) -> None:
    conn = Databases("postgres", lambda: pg_url).new(EVERY_KIND)
    snapshot = take_snapshot(conn, LEDGER)
    expected = {
        "schema app": {},
        "table app.orders": {
            "row_security": True,
            "force_row_security": False,
            "unlogged": False,
            "partition_key": None,
            "partition_bound": None,
            "inherits": [],
            "options": [],
        },
        "column app.customers.mood": {
            "type": "app.mood",
            "not_null": False,
            "default": "'ok'::app.mood",
            "identity": None,
            "generated": None,
            "collation": None,
        },
        "constraint app.orders.orders_customer_id_fkey": {
            "type": "foreign key",
            "definition": "FOREIGN KEY (customer_id) REFERENCES app.customers(id)",
        },
        "index app.orders_customer_idx": {
            "table": "app.orders",
            "definition": "CREATE INDEX orders_customer_idx ON app.orders "
            "USING btree (customer_id) WHERE (id > 0)",
            "valid": True,
        },
        "type app.mood": {"kind": "enum", "labels": ["sad", "ok", "happy"]},
        "type app.email": {
            "kind": "domain",
            "base_type": "text",
            "not_null": True,
            "default": None,
            "constraints": {"email_check": "CHECK (VALUE ~~ '%@%'::text)"},
        },
        "type app.pair": {"kind": "composite", "attributes": [["a", "integer"], ["b", "text"]]},
        "extension pg_trgm": {
            "version": snapshot["extension pg_trgm"]["version"],
            "schema": "public",
        },
        "policy app.orders.own_orders": {
            "command": "SELECT",
            "permissive": True,
            "roles": ["public"],
            "using": "(customer_id > 0)",
            "with_check": None,
        },
        "trigger app.orders.orders_touch": {
            "definition": "CREATE TRIGGER orders_touch BEFORE UPDATE ON app.orders "
            "FOR EACH ROW EXECUTE FUNCTION app.touch()",
            "enabled": "enabled",
        },
    }
    assert {key: snapshot.get(key) for key in expected} == expected
    assert snapshot["column app.customers.n"]["identity"] == "always"
    assert snapshot["column app.customers.doubled"]["generated"] == "stored"
    assert snapshot["column app.customers.doubled"]["default"] == "(id * 2)"
    assert snapshot["column app.customers.id"]["default"] == (
        "nextval('app.customers_id_seq'::regclass)"
    )
    assert snapshot["constraint app.customers.customers_id_check"]["type"] == "check"
    assert snapshot["sequence app.tickets"]["start"] == 100
    assert snapshot["sequence app.tickets"]["increment"] == 5
    assert snapshot["sequence app.customers_id_seq"]["owned_by"] == "app.customers.id"
    assert "WHERE orders.id > 10" in snapshot["view app.recent"]["definition"]
    assert "count(*)" in snapshot["materialized view app.counts"]["definition"]
    assert "RETURN NEW" in snapshot["function app.touch()"]["definition"]
    assert "PROCEDURE app.noop" in snapshot["procedure app.noop(IN x integer)"]["definition"]
    kinds = {kind_of(key) for key in snapshot}
    assert kinds == {
        "schema",
        "table",
        "column",
        "constraint",
        "index",
        "view",
        "materialized view",
        "sequence",
        "function",
        "procedure",
        "trigger",
        "type",
        "extension",
        "policy",
    }
    # what pg_trgm created is its CREATE EXTENSION's, not the schema's own
    assert not [key for key in snapshot if "trgm" in key and key != "extension pg_trgm"]
    # an identity column's sequence belongs to its column
    assert not [key for key in snapshot if key.startswith("sequence app.customers_n")]


def test_a_tenant_snapshot_holds_only_its_schema_whatever_the_search_path(pg_url: str) -> None:
    databases = Databases("postgres", lambda: pg_url)
    conn = databases.new("CREATE SCHEMA tenant_a;\n" + EVERY_KIND)
    plain = take_snapshot(conn, LEDGER)
    tenant = databases.open(pg_url, schema="app")
    own = take_snapshot(tenant, LEDGER)
    assert "schema app" in own and "schema tenant_a" not in own and "schema public" not in own
    assert own == {k: v for k, v in plain.items() if k in own}
    assert len(own) == len(plain) - 2  # all of EVERY_KIND lives in schema app
    assert tenant.query("SHOW search_path") == [("app",)]  # put back as it was


def test_a_sqlite_snapshot_reads_pragmas_and_keeps_the_indexes_of_constraints(
    tmp_path: Path,
) -> None:
    conn = Databases("sqlite", lambda: f"sqlite:///{tmp_path}/x.db").new(
        SHOP_IN_ORDER + "CREATE INDEX orders_big ON orders (total DESC) WHERE total > 100;\n"
        "CREATE TRIGGER orders_audit AFTER INSERT ON orders BEGIN SELECT 1; END;\n"
    )
    snapshot = take_snapshot(conn, LEDGER)
    assert snapshot["column customers.email"] == {
        "type": "TEXT",
        "not_null": True,
        "default": None,
        "primary_key": 0,
        "generated": None,
    }
    assert snapshot["foreign key orders(customer_id) -> customers(id)"] == {
        "on_update": "NO ACTION",
        "on_delete": "CASCADE",
        "match": "NONE",
    }
    assert snapshot["index customers(email)"] == {
        "table": "customers",
        "unique": True,
        "origin": "unique",
        "columns": [["email", False, "BINARY"]],
        "partial": False,
        "sql": None,
    }
    assert snapshot["index orders_big"]["partial"] is True
    assert snapshot["index orders_big"]["sql"] == (
        "CREATE INDEX orders_big ON orders (total DESC) WHERE total > 100"
    )
    assert snapshot["view big_orders"] == {
        "sql": "CREATE VIEW big_orders AS SELECT id, total FROM orders WHERE total > 100"
    }
    assert snapshot["trigger orders_audit"]["table"] == "orders"
    assert not [key for key in snapshot if "sqlite_" in key]


# --- the difference ----------------------------------------------------------------------

CHANGES = {
    "postgres": """
ALTER TABLE customers ALTER COLUMN email TYPE varchar(320);
ALTER TABLE customers ALTER COLUMN name SET NOT NULL;
DROP INDEX orders_customer_idx;
CREATE INDEX orders_customer_idx ON orders (customer_id, id);
CREATE TABLE payments (id integer);
DROP VIEW big_orders;
""",
    # SQLite changes a column by rebuilding its table
    "sqlite": """
CREATE TABLE customers_new (id integer PRIMARY KEY, email varchar(320) NOT NULL UNIQUE,
                            name text NOT NULL);
INSERT INTO customers_new SELECT id, email, name FROM customers;
DROP TABLE customers;
ALTER TABLE customers_new RENAME TO customers;
DROP INDEX orders_customer_idx;
CREATE INDEX orders_customer_idx ON orders (customer_id, id);
CREATE TABLE payments (id integer);
DROP VIEW big_orders;
""",
}

EXPECTED_CHANGES = {
    "postgres": [
        "~ column public.customers.email: type text -> character varying(320)",
        "~ column public.customers.name: not_null false -> true",
        "+ column public.payments.id",
        "~ index public.orders_customer_idx: definition CREATE INDEX orders_customer_idx ON "
        "public.orders USING btree (customer_id) -> CREATE INDEX orders_customer_idx ON "
        "public.orders USING btree (customer_id, id)",
        "+ table public.payments",
        "- view public.big_orders",
    ],
    "sqlite": [
        "~ column customers.email: type TEXT -> varchar(320)",
        "~ column customers.name: not_null false -> true",
        "+ column payments.id",
        "~ index orders_customer_idx: columns "
        '[["customer_id", false, "BINARY"]] -> '
        '[["customer_id", false, "BINARY"], ["id", false, "BINARY"]]; '
        "sql CREATE INDEX orders_customer_idx ON orders (customer_id) -> "
        "CREATE INDEX orders_customer_idx ON orders (customer_id, id)",
        "+ table payments",
        "- view big_orders",
    ],
}


def test_the_diff_names_what_was_added_removed_and_changed(databases: Databases) -> None:
    conn = databases.new(SHOP_IN_ORDER)
    before = take_snapshot(conn, LEDGER)
    run_script(conn, CHANGES[databases.kind])
    after = take_snapshot(conn, LEDGER)
    changes = diff_snapshots(before, after)
    assert [describe_change(c) for c in changes] == EXPECTED_CHANGES[databases.kind]
    email = "column public.customers.email" if databases.kind == "postgres" else None
    if email:
        assert Change("changed", email, {"type": ("text", "character varying(320)")}) in changes
    assert diff_snapshots(after, before)[-1].change == "added"  # the view, back again
    assert [c.object for c in changes] == sorted(c.object for c in changes)


def test_describe_change_is_one_line_per_object() -> None:
    assert describe_change(Change("added", "table public.orders", {})) == "+ table public.orders"
    assert describe_change(Change("removed", "index public.x", {})) == "- index public.x"
    change = Change("changed", "view v", {"definition": (" SELECT 1\n  FROM t;", None)})
    assert describe_change(change) == "~ view v: definition SELECT 1 FROM t; -> (none)"


def test_the_ledger_is_not_part_of_the_snapshot(databases: Databases) -> None:
    bare = databases.new(SHOP_IN_ORDER)
    with_ledger = databases.new(SHOP_IN_ORDER)
    ensure_ledger(with_ledger, LEDGER, "a-deployment")
    snapshot = take_snapshot(with_ledger, LEDGER)
    assert snapshot == take_snapshot(bare, LEDGER)
    assert not [key for key in snapshot if LEDGER in key or "refuse_change" in key]


# --- recorded after each deployment ------------------------------------------------------


class Project(NamedTuple):
    path: Path
    kind: str
    url: str
    databases: Databases

    def run(self, *args: str) -> Any:
        result = vcsync(self.path, *args)
        assert result.exit_code == 0, result.stderr
        return result

    def connection(self) -> Connection:
        return self.databases.open(self.url)

    def recorded(self) -> list[tuple[Any, ...]]:
        conn = self.connection()
        try:
            return conn.query(
                f"SELECT s.deployment_id, s.environment, s.snapshot_hash, s.snapshot, "
                f"d.operation, d.dry_run FROM {conn.table(LEDGER, 'schema_snapshot')} s "
                f"JOIN {conn.table(LEDGER, 'deployment_log')} d "
                "ON d.deployment_id = s.deployment_id ORDER BY d.seq"
            )
        finally:
            conn.close()


@pytest.fixture
def project(databases: Databases, tmp_path: Path) -> Project:
    url = databases.new_url()
    config = f'[tool.vcsync]\n[tool.vcsync.environments.staging]\nurl = "{url}"\n'
    path = make_repo(tmp_path / "p", BASE, config=config)
    return Project(path, databases.kind, url, databases)


def test_each_real_run_records_one_snapshot_of_the_schema_it_left(project: Project) -> None:
    project.run("migrate", "--env", "staging", "--to", "2")
    project.run("migrate", "--env", "staging")  # two migrations, still one snapshot
    project.run("migrate", "--env", "staging", "--dry-run")  # nothing to do, and dry
    project.run("rollback", "--env", "staging", "--steps", "1", "--reason", "test")
    rows = project.recorded()
    assert [(r[1], r[4], bool(r[5])) for r in rows] == [
        ("staging", "migrate", False),
        ("staging", "migrate", False),
        ("staging", "rollback", False),
    ]
    for _, _, stored_hash, text, _, _ in rows:
        assert stored_hash == snapshot_hash(snapshot_from_json(text))
    conn = project.connection()
    fresh = take_snapshot(conn, LEDGER)
    deployment_id, latest = latest_snapshot(conn, LEDGER) or ("", {})
    assert deployment_id == rows[-1][0]
    assert latest == fresh and snapshot_hash(latest) == rows[-1][2]
    after_second = snapshot_for(conn, LEDGER, rows[1][0])
    assert after_second is not None
    assert [describe_change(c) for c in diff_snapshots(after_second, fresh)] == [
        "- column " + ("public." if project.kind == "postgres" else "") + "customers.name"
    ]
    assert snapshot_for(conn, LEDGER, "no-such-deployment") is None


def test_a_dry_run_records_no_snapshot(project: Project) -> None:
    project.run("migrate", "--env", "staging", "--dry-run")
    project.run("migrate", "--env", "staging", "--to", "1")
    project.run("migrate", "--env", "staging", "--dry-run")
    rows = project.recorded()
    assert [(r[4], bool(r[5])) for r in rows] == [("migrate", False)]
    conn = project.connection()
    logged = conn.query(f"SELECT count(*) FROM {conn.table(LEDGER, 'deployment_log')}")
    assert logged == [(2,)]  # the first dry run had no ledger to log into


def test_an_alter_table_by_hand_shows_against_the_recorded_snapshot(project: Project) -> None:
    project.run("migrate", "--env", "staging")
    conn = project.connection()
    recorded = latest_snapshot(conn, LEDGER)
    assert recorded is not None
    assert diff_snapshots(recorded[1], take_snapshot(conn, LEDGER)) == []
    conn.run("ALTER TABLE customers ADD COLUMN phone text")
    schema = "public." if project.kind == "postgres" else ""
    assert diff_snapshots(recorded[1], take_snapshot(conn, LEDGER)) == [
        Change("added", f"column {schema}customers.phone", {})
    ]


def test_no_ledger_means_no_recorded_snapshot(databases: Databases) -> None:
    assert latest_snapshot(databases.new(), LEDGER) is None
