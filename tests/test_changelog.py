"""changelog FROM TO: the migrations added between two refs, what they change, the
destructive steps among them, and the rollback plan back to FROM; Markdown and JSON."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import commit, git, make_repo, vcsync, write
from tests.projects import BASE, mig
from vcsync.changelog import Change, describe_script

RELEASE_2 = {
    **mig(
        "4",
        "status",
        "ALTER TABLE customers ADD COLUMN status text;\n"
        "CREATE INDEX orders_customer_status_idx ON orders (customer_id);\n",
        "DROP INDEX orders_customer_status_idx;\nALTER TABLE customers DROP COLUMN status;\n",
    ),
    **mig(
        "5",
        "cleanup",
        "-- drop what nobody reads\n"
        "ALTER TABLE customers DROP COLUMN name;\n"
        "DELETE FROM orders;\n"
        "UPDATE customers SET status = 'new' WHERE status IS NULL;\n",
        "-- vcsync: irreversible -- the deleted orders are gone\n",
    ),
    **mig(
        "6",
        "audit",
        "CREATE TABLE public.audit (id bigint, at timestamptz);\n",
        "DROP TABLE public.audit;\n",
    ),
}


@pytest.fixture
def released(tmp_path: Path) -> Path:
    """v1 with migrations 1-3, v2 adding 4-6."""
    repo = make_repo(tmp_path / "shop", BASE)
    git(repo, "tag", "-a", "v1", "-m", "first")
    write(repo, RELEASE_2)
    commit(repo, "release 2")
    git(repo, "tag", "-a", "v2", "-m", "second")
    return repo


def changelog_json(repo: Path, *refs: str) -> dict[str, Any]:
    run = vcsync(repo, "changelog", *refs, "--format", "json")
    assert run.exit_code == 0, run.stderr
    data: dict[str, Any] = json.loads(run.stdout)
    return data


def test_the_added_migrations_with_their_objects_in_order(released: Path) -> None:
    data = changelog_json(released, "v1", "v2")
    assert data["from"] == {
        "ref": "v1",
        "commit": git(released, "rev-parse", "v1^{commit}").strip(),
        "schema_version": "3",
    }
    assert data["to"]["schema_version"] == "6"
    assert [(m["version"], m["description"], m["status"]) for m in data["migrations"]] == [
        ("4", "status", "added"),
        ("5", "cleanup", "added"),
        ("6", "audit", "added"),
    ]
    assert [[c["summary"] for c in m["changes"]] for m in data["migrations"]] == [
        [
            "ALTER TABLE customers ADD COLUMN status",
            "CREATE INDEX orders_customer_status_idx ON orders",
        ],
        ["ALTER TABLE customers DROP COLUMN name", "DELETE FROM orders", "UPDATE customers"],
        ["CREATE TABLE public.audit"],
    ]
    assert data["migrations"][0]["path"] == "database/migrations/V4__status.sql"
    assert data["notes"] == []


def test_destructive_steps_are_flagged_with_their_lines(released: Path) -> None:
    data = changelog_json(released, "v1", "v2")
    flagged = {m["version"]: m["destructive"] for m in data["migrations"]}
    assert flagged["4"] == [] and flagged["6"] == []
    assert flagged["5"] == [
        {
            "line": 2,
            "summary": "ALTER TABLE customers DROP COLUMN name",
            "reason": "drops column name of customers with its data",
        },
        {
            "line": 3,
            "summary": "DELETE FROM orders",
            "reason": "deletes every row of orders (no WHERE)",
        },
    ]
    assert data["migrations"][1]["irreversible"] == "the deleted orders are gone"


def test_the_rollback_plan_runs_newest_first_back_to_from(released: Path) -> None:
    rollback = changelog_json(released, "v1", "v2")["rollback"]
    assert rollback["to_version"] == "3"
    assert rollback["command"] == 'vcsync rollback --env ENV --to 3 --reason "..."'
    steps = rollback["steps"]
    assert [(s["version"], s["kind"]) for s in steps] == [
        ("6", "script"),
        ("5", "irreversible"),
        ("4", "script"),
    ]
    assert steps[0]["path"] == "database/rollback/V6__audit_rollback.sql"
    assert [c["summary"] for c in steps[0]["changes"]] == ["DROP TABLE public.audit"]
    assert steps[1]["note"] == "the deleted orders are gone"
    assert [c["summary"] for c in steps[2]["changes"]] == [
        "DROP INDEX orders_customer_status_idx",
        "ALTER TABLE customers DROP COLUMN status",
    ]


def test_markdown_release_notes(released: Path) -> None:
    run = vcsync(released, "changelog", "v1", "v2")
    assert run.exit_code == 0, run.stderr
    v1 = git(released, "rev-parse", "v1^{commit}").strip()[:10]
    v2 = git(released, "rev-parse", "v2^{commit}").strip()[:10]
    assert run.stdout == (
        "# Database changes: v1 → v2\n"
        "\n"
        f"Schema version 3 → 6 (`{v1}..{v2}`): 3 migrations.\n"
        "**2 destructive steps** (marked below).\n"
        "\n"
        "## 4 — status\n"
        "\n"
        "`database/migrations/V4__status.sql`\n"
        "\n"
        "- `ALTER TABLE customers ADD COLUMN status`\n"
        "- `CREATE INDEX orders_customer_status_idx ON orders`\n"
        "\n"
        "## 5 — cleanup\n"
        "\n"
        "`database/migrations/V5__cleanup.sql`\n"
        "\n"
        "- `ALTER TABLE customers DROP COLUMN name`\n"
        "- `DELETE FROM orders`\n"
        "- `UPDATE customers`\n"
        "\n"
        "**Destructive:**\n"
        "\n"
        "- line 2: `ALTER TABLE customers DROP COLUMN name` — drops column name of customers "
        "with its data\n"
        "- line 3: `DELETE FROM orders` — deletes every row of orders (no WHERE)\n"
        "\n"
        "Irreversible: the deleted orders are gone.\n"
        "\n"
        "## 6 — audit\n"
        "\n"
        "`database/migrations/V6__audit.sql`\n"
        "\n"
        "- `CREATE TABLE public.audit`\n"
        "\n"
        "## Rollback plan back to v1\n"
        "\n"
        '`vcsync rollback --env ENV --to 3 --reason "..."` runs, newest first:\n'
        "\n"
        "1. **6 — audit** (`database/rollback/V6__audit_rollback.sql`): "
        "`DROP TABLE public.audit`\n"
        "2. **5 — cleanup**: irreversible (the deleted orders are gone); restore what it "
        "changed from a backup.\n"
        "3. **4 — status** (`database/rollback/V4__status_rollback.sql`): "
        "`DROP INDEX orders_customer_status_idx`; `ALTER TABLE customers DROP COLUMN status`\n"
    )


def test_to_may_be_head_a_branch_or_a_commit(released: Path) -> None:
    write(released, mig("7", "later", "CREATE TABLE later (x int);\n", "DROP TABLE later;\n"))
    sha = commit(released, "unreleased")
    git(released, "branch", "next")
    for to in ("HEAD", "next", sha, sha[:8]):
        data = changelog_json(released, "v2", to)
        assert [m["version"] for m in data["migrations"]] == ["7"], to
        assert data["to"]["commit"] == sha
    assert changelog_json(released, "v1", "HEAD")["to"]["schema_version"] == "7"


def test_nothing_added_between_equal_refs(released: Path) -> None:
    run = vcsync(released, "changelog", "v2", "HEAD")
    assert run.exit_code == 0
    assert "6 → 6" in run.stdout and "no new migrations." in run.stdout
    assert "Rollback plan" not in run.stdout
    data = changelog_json(released, "v2", "v2")
    assert data["migrations"] == [] and data["rollback"]["steps"] == []
    assert data["rollback"]["command"] is None


@pytest.mark.parametrize("missing", ["v9", "origin/release"])
def test_a_ref_this_clone_lacks_is_exit_2_with_the_fetch(released: Path, missing: str) -> None:
    for refs in ((missing, "HEAD"), ("v1", missing)):
        run = vcsync(released, "changelog", *refs)
        assert run.exit_code == 2
        assert run.stderr.startswith(f"vcsync: {missing} is not in this clone; run `git fetch ")
        assert len(run.stderr.splitlines()) == 1
    assert (
        "`git fetch origin release`" in vcsync(released, "changelog", "origin/release", "v1").stderr
    )


def test_a_missing_rollback_and_an_empty_one_are_called_out(released: Path) -> None:
    write(
        released,
        {
            "database/migrations/V7__no_down.sql": "CREATE TABLE a (x int);\n",
            **mig("8", "empty_down", "CREATE TABLE b (x int);\n", "-- nothing\n"),
        },
    )
    commit(released, "sloppy")
    steps = changelog_json(released, "v2", "HEAD")["rollback"]["steps"]
    assert [(s["version"], s["kind"], s["path"], s["note"]) for s in steps] == [
        (
            "8",
            "missing",
            "database/rollback/V8__empty_down_rollback.sql",
            "the rollback script is empty: restore what it changed from a backup",
        ),
        ("7", "missing", None, "no rollback script: restore what it changed from a backup"),
    ]


def test_edited_and_deleted_released_migrations_are_noted(released: Path) -> None:
    write(released, {"database/migrations/V2__orders.sql": "CREATE TABLE orders (id int);\n"})
    (released / "database/migrations/V3__names.sql").unlink()
    (released / "database/rollback/V3__names_rollback.sql").unlink()
    commit(released, "rewrite history")
    data = changelog_json(released, "v2", "HEAD")
    assert data["migrations"] == []
    assert data["notes"] == [
        "2 was edited between v2 and HEAD after it was released (VC201); environments that "
        "ran it keep the old text.",
        "3 is in v2 but not in HEAD: it was deleted or renamed (VC202), or v2 is not an "
        "ancestor of HEAD.",
    ]


def test_a_migration_below_from_is_noted_as_out_of_order(released: Path) -> None:
    write(released, mig("2.5", "late", "CREATE TABLE late (x int);\n", "DROP TABLE late;\n"))
    commit(released, "late")
    data = changelog_json(released, "v2", "HEAD")
    assert [m["version"] for m in data["migrations"]] == ["2.5"]
    assert data["notes"] == [
        "2.5 is below v2's schema version 6: environments at v2 must apply it out of order."
    ]


def test_reversed_refs_list_nothing_and_say_why(released: Path) -> None:
    data = changelog_json(released, "v2", "v1")
    assert data["migrations"] == []
    assert [n.split(" ", 1)[0] for n in data["notes"]] == ["4", "5", "6"]


def test_repeatable_migrations_count_when_added_or_changed(tmp_path: Path) -> None:
    config = '[tool.vcsync]\nmigrations = "sql"\nrollbacks = "sql"\nlayout = "flyway"\n'
    repo = make_repo(
        tmp_path / "fly",
        {
            "sql/V1__base.sql": "CREATE TABLE t (x int);\n",
            "sql/U1__base.sql": "DROP TABLE t;\n",
            "sql/R__view.sql": "CREATE OR REPLACE VIEW v AS SELECT x FROM t;\n",
        },
        config=config,
    )
    git(repo, "tag", "-a", "v1", "-m", "one")
    write(
        repo,
        {
            "sql/R__view.sql": "CREATE OR REPLACE VIEW v AS SELECT x, 1 AS y FROM t;\n",
            "sql/R__grants.sql": "GRANT SELECT ON t TO reporting;\n",
        },
    )
    commit(repo, "views")
    data = changelog_json(repo, "v1", "HEAD")
    assert [(m["version"], m["status"]) for m in data["migrations"]] == [
        ("R__grants", "added"),
        ("R__view", "changed"),
    ]
    assert [c["summary"] for c in data["migrations"][1]["changes"]] == ["CREATE OR REPLACE VIEW v"]
    assert data["migrations"][0]["changes"][0]["summary"] == "GRANT SELECT ON t TO reporting"
    assert data["rollback"]["steps"] == []
    assert data["rollback"]["notes"] == [
        "R__grants is repeatable: a rollback does not restore its absence (undo it by hand).",
        "R__view is repeatable: a rollback does not restore v1's version of it.",
    ]


def test_markers_layout_reads_each_half(tmp_path: Path) -> None:
    config = '[tool.vcsync]\nmigrations = "db/migrations"\nlayout = "markers"\n'
    repo = make_repo(
        tmp_path / "dbmate",
        {
            "db/migrations/20240101000000_users.sql": "-- migrate:up\nCREATE TABLE users "
            "(id int);\n\n-- migrate:down\nDROP TABLE users;\n",
        },
        config=config,
    )
    git(repo, "tag", "-a", "v1", "-m", "one")
    write(
        repo,
        {
            "db/migrations/20240201000000_purge.sql": "-- migrate:up\n\nTRUNCATE users;\n\n"
            "-- migrate:down\n-- vcsync: irreversible -- truncated rows are gone\n",
        },
    )
    commit(repo, "purge")
    data = changelog_json(repo, "v1", "HEAD")
    (entry,) = data["migrations"]
    assert entry["version"] == "20240201000000"
    assert entry["destructive"] == [
        {"line": 3, "summary": "TRUNCATE users", "reason": "deletes every row of users"}
    ]
    assert [(s["version"], s["kind"]) for s in data["rollback"]["steps"]] == [
        ("20240201000000", "irreversible")
    ]


def test_other_dialects_are_read_with_sqlglot(tmp_path: Path) -> None:
    config = '[tool.vcsync]\ndialect = "mysql"\n'
    repo = make_repo(tmp_path / "my", BASE, config=config)
    git(repo, "tag", "-a", "v1", "-m", "one")
    write(
        repo,
        mig(
            "4",
            "mysql",
            "ALTER TABLE customers MODIFY COLUMN email varchar(320);\n"
            "CREATE TABLE shop.carts (id int);\n"
            "TRUNCATE TABLE orders;\n"
            "SET @@session.sql_mode = 'STRICT';\n",
            "DROP TABLE shop.carts;\n",
        ),
    )
    commit(repo, "mysql")
    (entry,) = changelog_json(repo, "v1", "HEAD")["migrations"]
    assert [c["summary"] for c in entry["changes"]] == [
        "ALTER TABLE customers MODIFY COLUMN email",
        "CREATE TABLE shop.carts",
        "TRUNCATE orders",
        "SET @@session.sql_mode = 'STRICT'",
    ]
    assert [d["line"] for d in entry["destructive"]] == [1, 3]


def test_placeholders_do_not_stop_the_analysis(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "ph", BASE)
    git(repo, "tag", "-a", "v1", "-m", "one")
    write(repo, mig("4", "ph", "DROP TABLE ${schema}.old;\n", "SELECT 1;\n"))
    commit(repo, "placeholder")
    (entry,) = changelog_json(repo, "v1", "HEAD")["migrations"]
    assert entry["changes"][0]["summary"] == "DROP TABLE _________.old"
    assert entry["destructive"][0]["reason"] == "drops table _________.old with its data"


@pytest.mark.parametrize(
    ("sql", "summary", "destructive"),
    [
        ("CREATE TABLE public.orders (id int)", "CREATE TABLE public.orders", ()),
        (
            "ALTER TABLE customers ADD COLUMN status text",
            "ALTER TABLE customers ADD COLUMN status",
            (),
        ),
        (
            "CREATE UNIQUE INDEX CONCURRENTLY orders_customer_idx ON orders (customer_id)",
            "CREATE UNIQUE INDEX CONCURRENTLY orders_customer_idx ON orders",
            (),
        ),
        (
            "ALTER TABLE t ALTER COLUMN a TYPE bigint",
            "ALTER TABLE t ALTER COLUMN a TYPE int8",
            (
                "changes the type of t.a: every row is rewritten and the old values may not "
                "convert back",
            ),
        ),
        ("DROP INDEX orders_idx", "DROP INDEX orders_idx", ("drops index orders_idx",)),
        (
            "DROP SCHEMA app CASCADE",
            "DROP SCHEMA app",
            ("drops schema app with its data and everything that depends on it (CASCADE)",),
        ),
        ("UPDATE t SET a = 1", "UPDATE t", ("changes every row of t (no WHERE)",)),
        ("DELETE FROM t WHERE a = 1", "DELETE FROM t", ()),
        ("DROP TRIGGER trg ON t", "DROP TRIGGER trg ON t", ("drops trigger trg ON t",)),
        ("ALTER TABLE a RENAME COLUMN x TO y", "ALTER TABLE a RENAME COLUMN x TO y", ()),
        (
            "CREATE OR REPLACE FUNCTION f() RETURNS int LANGUAGE sql AS 'select 1'",
            "CREATE OR REPLACE FUNCTION f",
            (),
        ),
        ("DO $$ BEGIN PERFORM 1; END $$", "DO block", ()),
        ("GRANT SELECT ON t TO bob", "GRANT SELECT ON t TO bob", ()),
        ("CREATE POLICY p ON t USING (true)", "CREATE POLICY p ON t", ()),
    ],
)
def test_postgres_statements_are_read_by_postgres_grammar(
    sql: str, summary: str, destructive: tuple[str, ...]
) -> None:
    assert describe_script(f"-- lead\n\n{sql};\n", "postgres") == (Change(3, summary, destructive),)


def test_unparseable_sql_falls_back_to_first_words() -> None:
    text = "CREATE TABLE ok (x int);\nDROP TABLE gone;\nDELETE FROM t;\nTHIS IS NOT SQL;\n"
    assert describe_script(text, "postgres", first_line=10) == (
        Change(10, "CREATE TABLE ok", ()),
        Change(11, "DROP TABLE gone", ("drops a table",)),
        Change(12, "DELETE FROM t", ("deletes every row of the table (no WHERE)",)),
        Change(13, "THIS IS NOT SQL", ()),
    )


def test_sqlglot_commands_do_not_log_warnings(capfd: pytest.CaptureFixture[str]) -> None:
    describe_script("CREATE EXTENSION pgcrypto;\n", "mysql")
    assert capfd.readouterr().err == ""
