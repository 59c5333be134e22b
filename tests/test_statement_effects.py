"""vcsync/sql/effects.py: which statements cannot run inside vcsync's transaction, read
from PostgreSQL's own parse tree (and SQLite's leading keywords), never from a guess."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vcsync.db.sqlite import split_statements
from vcsync.sql.effects import POSTGRES, SQLITE, transaction_control


def pg_split(script: str) -> list[str]:
    from pglast.parser import split

    return list(split(script, with_parser=False))


@pytest.mark.parametrize(
    ("statement", "what"),
    [
        ("BEGIN", "BEGIN"),
        ("START TRANSACTION ISOLATION LEVEL SERIALIZABLE", "START TRANSACTION"),
        ("COMMIT", "COMMIT"),
        ("END", "COMMIT"),
        ("ROLLBACK", "ROLLBACK"),
        ("ABORT", "ROLLBACK"),
        ("VACUUM ANALYZE orders", "VACUUM"),
        ("CREATE DATABASE reporting", "CREATE DATABASE"),
        (
            "CREATE INDEX CONCURRENTLY orders_idx ON orders (customer_id)",
            "CREATE INDEX CONCURRENTLY",
        ),
        ("DROP INDEX CONCURRENTLY IF EXISTS orders_idx", "DROP INDEX CONCURRENTLY"),
        ("REINDEX INDEX CONCURRENTLY orders_idx", "REINDEX CONCURRENTLY"),
        ("ALTER TABLE m DETACH PARTITION m_2020 CONCURRENTLY", "DETACH PARTITION CONCURRENTLY"),
        ("ALTER SYSTEM SET work_mem = '64MB'", "ALTER SYSTEM"),
        # a batched backfill, committing as it goes (PostgreSQL 11+)
        (
            "DO $$ BEGIN FOR i IN 1..10 LOOP UPDATE t SET x = i; COMMIT; END LOOP; END $$",
            "a DO block that runs COMMIT",
        ),
    ],
)
def test_postgres_statements_that_cannot_run_in_a_transaction(statement: str, what: str) -> None:
    found = transaction_control(["CREATE TABLE t (id int)", statement], POSTGRES)
    assert found is not None and (found.number, found.what) == (2, what)


@pytest.mark.parametrize(
    "statement",
    [
        "SAVEPOINT before_backfill",
        "ROLLBACK TO SAVEPOINT before_backfill",
        "RELEASE SAVEPOINT before_backfill",
        "ANALYZE orders",
        "CREATE INDEX orders_idx ON orders (customer_id)",
        # plpgsql bodies hold BEGIN/END/COMMIT words, but the statement is one CREATE
        "CREATE FUNCTION f() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN COMMIT; END $$",
        "DO $$ BEGIN RAISE NOTICE 'end'; END $$",
        "SELECT 'BEGIN; COMMIT;'",
        "COMMENT ON TABLE orders IS 'rows END here'",
        "this does not parse at all",
    ],
)
def test_postgres_statements_that_run_inside_one(statement: str) -> None:
    assert transaction_control([statement], POSTGRES) is None


def test_a_goose_statement_block_with_begin_end_is_one_statement() -> None:
    script = (
        "-- +goose StatementBegin\n"
        "CREATE OR REPLACE FUNCTION touch() RETURNS trigger AS $$\n"
        "BEGIN\n  NEW.updated_at = now();\n  RETURN NEW;\nEND;\n$$ LANGUAGE plpgsql;\n"
        "-- +goose StatementEnd\n"
    )
    assert transaction_control(pg_split(script), POSTGRES) is None


@pytest.mark.parametrize(
    ("statement", "expected"),
    [
        ("BEGIN TRANSACTION", "BEGIN"),
        ("-- the data fix\nCOMMIT", "COMMIT"),
        ("END TRANSACTION", "END"),
        ("ROLLBACK", "ROLLBACK"),
        ("VACUUM", "VACUUM"),
        ("ROLLBACK TO before_fix", None),
        ("ROLLBACK TRANSACTION TO SAVEPOINT before_fix", None),
        ("CREATE TRIGGER t AFTER INSERT ON o BEGIN SELECT 1; END", None),
        ("SELECT 'COMMIT'", None),
    ],
)
def test_sqlite_statements(statement: str, expected: str | None) -> None:
    found = transaction_control(split_statements(statement + ";"), SQLITE)
    assert (found.what if found else None) == expected


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200))
def test_no_script_text_makes_the_detection_raise(text: str) -> None:
    for engine, split in ((POSTGRES, pg_split), (SQLITE, split_statements)):
        try:
            statements = split(text)
        except Exception:  # the back end reports what does not split; not this module's job
            statements = [text]
        transaction_control(statements, engine)
