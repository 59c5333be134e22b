"""vcsync/sql/effects.py's model: what each statement of a real migration creates, drops,
renames, alters and deletes, read once from pglast's tree (sqlglot's for other dialects)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vcsync.sql.effects import (
    POSTGRES,
    Alteration,
    DbObject,
    Renamed,
    RowChange,
    StatementEffect,
    statement_effects,
)

ATLAS = """\
-- atlas:txmode none

-- Modify "customers" table
ALTER TABLE "public"."customers" ADD COLUMN "status" text NOT NULL DEFAULT 'new',
  DROP COLUMN "legacy_code";
-- Create index "customers_status_idx" to table: "customers"
CREATE INDEX CONCURRENTLY "customers_status_idx" ON "public"."customers" ("status");
"""

GOOSE = """\
-- +goose Up
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION purge_sessions() RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    DROP TABLE IF EXISTS stale_sessions;
    DELETE FROM sessions;
END;
$$;
-- +goose StatementEnd
  UPDATE accounts SET plan = 'free' WHERE plan IS NULL;
DELETE FROM audit_log;
"""


def only(text: str, dialect: str = POSTGRES) -> StatementEffect:
    (effect,) = statement_effects(text, dialect)
    return effect


def test_an_atlas_file_alters_a_table_and_builds_an_index_outside_a_transaction() -> None:
    alter, index = statement_effects(ATLAS, POSTGRES, first_line=5)
    customers = DbObject("TABLE", "public.customers")
    assert (alter.line, alter.column, alter.kind) == (8, 1, "AlterTableStmt")
    assert alter.objects_altered == (
        Alteration(customers, "ADD COLUMN", "status"),
        Alteration(customers, "DROP COLUMN", "legacy_code"),
    )
    assert alter.transaction_control is None
    assert alter.text.startswith('ALTER TABLE "public"')
    assert (index.line, index.kind) == (11, "IndexStmt")
    assert index.objects_created == (DbObject("INDEX", "customers_status_idx", "public.customers"),)
    assert index.transaction_control == "CREATE INDEX CONCURRENTLY"


def test_a_drop_inside_a_plpgsql_body_is_not_an_effect_of_the_migration() -> None:
    function, update, delete = statement_effects(GOOSE, POSTGRES)
    assert function.objects_created == (DbObject("FUNCTION", "purge_sessions"),)
    assert function.objects_dropped == () and function.rows == ()
    assert (update.line, update.column) == (10, 3)
    assert update.rows == (RowChange("UPDATE", "accounts", True),)
    assert delete.rows == (RowChange("DELETE", "audit_log", False),)


def test_drops_name_every_object_and_the_owner_of_a_trigger() -> None:
    drop = only("DROP TABLE IF EXISTS a, app.b CASCADE;")
    assert drop.objects_dropped == (DbObject("TABLE", "a"), DbObject("TABLE", "app.b"))
    assert drop.cascade
    trigger = only("DROP TRIGGER audit ON app.orders;")
    assert trigger.objects_dropped == (DbObject("TRIGGER", "audit", "app.orders"),)
    assert not trigger.cascade


def test_renames_of_tables_and_columns() -> None:
    table, column = statement_effects(
        "ALTER TABLE accounts RENAME TO customers;\n"
        "ALTER TABLE customers RENAME COLUMN plan TO tier;\n",
        POSTGRES,
    )
    assert table.objects_renamed == (Renamed(DbObject("TABLE", "accounts"), "customers"),)
    assert column.objects_renamed == (Renamed(DbObject("COLUMN", "plan", "customers"), "tier"),)


def test_an_enum_value_added_is_an_alteration_of_the_type() -> None:
    effect = only("ALTER TYPE mood ADD VALUE 'meh';")
    assert effect.objects_altered == (Alteration(DbObject("TYPE", "mood"), "ADD VALUE", "meh"),)


def test_truncate_deletes_every_row_of_each_table() -> None:
    assert only("TRUNCATE a, b;").rows == (
        RowChange("TRUNCATE", "a", False),
        RowChange("TRUNCATE", "b", False),
    )


def test_transaction_control_is_filled_by_the_same_parse() -> None:
    effects = statement_effects("BEGIN;\nVACUUM orders;\nCOMMIT;\nSELECT 1;\n", POSTGRES)
    assert [e.transaction_control for e in effects] == ["BEGIN", "VACUUM", "COMMIT", None]


def test_unparseable_postgres_is_read_from_its_words_without_names() -> None:
    ok, dropped, broken = statement_effects(
        "CREATE TABLE ok (x int);\nDROP TABLE gone;\nCOMMIT THIS IS NOT SQL;\n", POSTGRES
    )
    assert ok.kind == "" and ok.summary == "CREATE TABLE ok"
    assert dropped.objects_dropped == (DbObject("TABLE", ""),)
    # PostgreSQL's server judges what its parser refused: no guess at transaction control
    assert broken.transaction_control is None


def test_other_dialects_are_read_by_sqlglot() -> None:
    alter, drop, commit, rename = statement_effects(
        "-- header\nALTER TABLE t DROP COLUMN a;\n  DROP TABLE x CASCADE;\nCOMMIT;\n"
        "ALTER TABLE t RENAME COLUMN a TO b;\n",
        "mysql",
    )
    assert (alter.line, alter.kind) == (2, "Alter")
    assert alter.objects_altered == (Alteration(DbObject("TABLE", "t"), "DROP COLUMN", "a"),)
    assert (drop.line, drop.column) == (3, 3)
    assert drop.objects_dropped == (DbObject("TABLE", "x"),) and drop.cascade
    assert commit.transaction_control == "COMMIT"
    assert rename.objects_renamed == (Renamed(DbObject("COLUMN", "a", "t"), "b"),)


def test_placeholders_do_not_hide_the_statement() -> None:
    effect = only("DROP TABLE ${schema}.orders;")
    assert effect.kind == "DropStmt"
    assert effect.objects_dropped == (DbObject("TABLE", "_________.orders"),)


@settings(max_examples=150, deadline=None)
@given(st.text(max_size=200))
def test_no_text_makes_the_model_raise(text: str) -> None:
    for dialect in (POSTGRES, "mysql"):
        for effect in statement_effects(text, dialect):
            assert effect.line >= 1 and effect.column >= 1


@pytest.mark.parametrize(
    ("statement", "lock"),
    [
        ("CREATE INDEX orders_idx ON orders (customer_id)", "SHARE"),
        ("CREATE INDEX CONCURRENTLY orders_idx ON orders (customer_id)", "SHARE UPDATE EXCLUSIVE"),
        ("DROP TABLE orders", "ACCESS EXCLUSIVE"),
        ("DROP INDEX CONCURRENTLY orders_idx", "SHARE UPDATE EXCLUSIVE"),
        ("ALTER TABLE orders ALTER COLUMN total TYPE numeric", "ACCESS EXCLUSIVE"),
        ("ALTER TABLE orders VALIDATE CONSTRAINT orders_total_check", "SHARE UPDATE EXCLUSIVE"),
        (
            "ALTER TABLE orders ADD CONSTRAINT fk FOREIGN KEY (c) REFERENCES customers NOT VALID",
            "SHARE ROW EXCLUSIVE",
        ),
        # the strongest lock of its subcommands
        ("ALTER TABLE orders VALIDATE CONSTRAINT c, ADD COLUMN note text", "ACCESS EXCLUSIVE"),
        ("DELETE FROM orders WHERE id = 1", "ROW EXCLUSIVE"),
        ("TRUNCATE orders", "ACCESS EXCLUSIVE"),
        ("VACUUM FULL orders", "ACCESS EXCLUSIVE"),
        ("REFRESH MATERIALIZED VIEW CONCURRENTLY totals", "EXCLUSIVE"),
        ("LOCK TABLE orders IN SHARE MODE", "SHARE"),
        ("CREATE TABLE fresh (id int)", None),
        ("SELECT 1", None),
    ],
)
def test_the_table_lock_postgres_documents_for_the_statement(
    statement: str, lock: str | None
) -> None:
    assert only(statement + ";").lock == lock


def test_other_dialects_claim_no_lock() -> None:
    assert only("DROP TABLE orders;", "mysql").lock is None
