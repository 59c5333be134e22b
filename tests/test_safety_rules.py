"""The safety rules' contract tests (VC301 to VC311, DESIGN §3 "Live tables" and "Severity",
§7 `postgres_version`, `[tool.vcsync.severity]`, `select`).

Written from the contract before the rules existed: each test builds a real Git repository
(the base migrations committed on `main`, new ones on a `feature` branch, `base_ref = "main"`),
runs `vcsync check` as a user does and asserts what the user sees: the findings' code,
severity, path, line and column, and the exit code. No database is needed.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, NamedTuple

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.helpers import SPLIT_CONFIG, commit, git, make_repo, vcsync, write

Files = dict[str, str]


def up(version: str, desc: str = "change") -> str:
    return f"database/migrations/V{version}__{desc}.sql"


def down(version: str, desc: str = "change") -> str:
    return f"database/rollback/V{version}__{desc}_rollback.sql"


UP1, DOWN1 = up("1", "create_tables"), down("1", "create_tables")
UP2, DOWN2 = up("2"), down("2")
UP3, DOWN3 = up("3"), down("3")

# What `main` holds: tables with production data, once the branch's base is resolvable.
BASE: Files = {
    UP1: """\
CREATE TABLE users (
    id bigint PRIMARY KEY,
    email text,
    name varchar(100),
    nickname text
);
CREATE TABLE accounts (id bigint PRIMARY KEY, user_id bigint, amount int);
CREATE TABLE events (id bigint, payload jsonb);
CREATE SCHEMA reporting;
CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');
CREATE FUNCTION greeting() RETURNS text LANGUAGE sql AS $$ SELECT 'hello' $$;
""",
    DOWN1: """\
DROP FUNCTION greeting();
DROP TYPE mood;
DROP SCHEMA reporting;
DROP TABLE events;
DROP TABLE accounts;
DROP TABLE users;
""",
}

NO_TX = "-- vcsync: no-transaction\n"
AUDIT_LOG = "CREATE TABLE audit_log (id bigint, note text, amount int, user_id bigint);\n"


def migration(version: str, up_sql: str, down_sql: str | None) -> Files:
    files = {up(version): up_sql}
    if down_sql is not None:
        files[down(version)] = down_sql
    return files


def config(*keys: str, severity: str = "", base_ref: str = "main") -> str:
    """The split layout's config with `base_ref` and top-level `keys`, then a severity table."""
    text = SPLIT_CONFIG + f'base_ref = "{base_ref}"\n' + "".join(f"{k}\n" for k in keys)
    if severity:
        text += f"\n[tool.vcsync.severity]\n{severity}\n"
    return text


def on_branch(tmp_path: Path, cfg: str | None = None, base: Files | None = None) -> Path:
    """A repository whose `main` holds BASE (and `base`), checked out on a new branch."""
    repo = make_repo(tmp_path / "project", {**BASE, **(base or {})}, config=cfg or config())
    git(repo, "checkout", "-q", "-b", "feature")
    return repo


class Report(NamedTuple):
    exit_code: int
    findings: list[dict[str, Any]]
    stderr: str

    def at(self, path: str) -> list[tuple[str, str, int, int]]:
        """(code, severity, line, column) of every finding in `path`."""
        return [
            (f["code"], f["severity"], f["line"], f["column"])
            for f in self.findings
            if f["path"] == path
        ]

    def of(self, code: str) -> list[tuple[str, str, int, int]]:
        """(path, severity, line, column) of every finding of `code`."""
        return [
            (f["path"], f["severity"], f["line"], f["column"])
            for f in self.findings
            if f["code"] == code
        ]

    def messages(self, code: str) -> list[str]:
        return [f["message"] for f in self.findings if f["code"] == code]

    @property
    def codes(self) -> set[str]:
        return {f["code"] for f in self.findings}


def check(repo: Path, *args: str) -> Report:
    """`vcsync check --format json` as a user runs it; a usage error (exit 2) fails here."""
    run = vcsync(repo, "check", "--format", "json", *args)
    assert run.exit_code in (0, 1), run.stderr
    report = json.loads(run.stdout)
    return Report(run.exit_code, report["findings"], run.stderr)


def check_new(tmp_path: Path, files: Files, cfg: str | None = None) -> Report:
    """`files` written on the branch (new migrations: not on the base), then checked."""
    repo = on_branch(tmp_path, cfg)
    write(repo, files)
    return check(repo)


# --- VC301: the rollback undoes the migration ----------------------------------------------


@pytest.mark.parametrize(
    ("up_sql", "down_sql", "line", "column", "names"),
    [
        pytest.param(
            "CREATE FUNCTION om_func_generate_ulid() RETURNS text LANGUAGE sql\n"
            "AS $$ SELECT md5(random()::text) $$;\n",
            "SELECT 1;\n",
            1,
            1,
            ("om_func_generate_ulid",),
            id="function-not-dropped",
        ),
        pytest.param(
            "CREATE TABLE audit_log (id bigint PRIMARY KEY, note text);\n",
            "-- undo the audit log\n  SELECT 1;\n",
            2,
            3,
            ("audit_log",),
            id="table-not-dropped",
        ),
        pytest.param(
            "CREATE INDEX users_email_idx ON users (email);\n",
            "SELECT 1;\n",
            1,
            1,
            ("users_email_idx",),
            id="index-not-dropped",
        ),
        pytest.param(
            "CREATE TYPE order_status AS ENUM ('new', 'paid');\n",
            "SELECT 1;\n",
            1,
            1,
            ("order_status",),
            id="type-not-dropped",
        ),
        pytest.param(
            # crates.io shipped this: the index is dropped as if it were a constraint
            "CREATE UNIQUE INDEX users_email_key ON users (email);\n",
            "-- Revert the unique email index\nSET lock_timeout = '5s';\n"
            "ALTER TABLE users DROP CONSTRAINT users_email_key;\n",
            3,
            1,
            ("users_email_key",),
            id="index-dropped-as-a-constraint",
        ),
        pytest.param(
            "ALTER TYPE mood ADD VALUE 'meh';\n",
            "SELECT 1;\n",
            1,
            1,
            ("mood", "meh"),
            id="enum-value-without-irreversible",
        ),
        pytest.param(
            "ALTER TABLE users RENAME COLUMN nickname TO display_name;\n",
            "SELECT 1;\n",
            1,
            1,
            ("nickname", "display_name"),
            id="rename-not-reversed",
        ),
        pytest.param(
            # greeting() is V1's: dropping it loses the function instead of restoring it
            "CREATE OR REPLACE FUNCTION greeting() RETURNS text LANGUAGE sql "
            "AS $$ SELECT 'hi' $$;\n",
            "-- back to the old greeting\nDROP FUNCTION greeting();\n",
            2,
            1,
            ("greeting",),
            id="replaced-function-dropped-not-restored",
        ),
    ],
)
def test_vc301_a_rollback_that_does_not_undo_the_migration_is_an_error_at_the_rollback(
    tmp_path: Path, up_sql: str, down_sql: str, line: int, column: int, names: tuple[str, ...]
) -> None:
    report = check_new(tmp_path, migration("2", up_sql, down_sql))
    assert report.of("VC301") == [(DOWN2, "error", line, column)]
    (message,) = report.messages("VC301")
    assert any(name in message for name in names), message
    assert report.exit_code == 1


@pytest.mark.parametrize(
    ("up_sql", "down_sql"),
    [
        pytest.param(
            "CREATE FUNCTION om_func_generate_ulid() RETURNS text LANGUAGE sql\n"
            "AS $$ SELECT md5(random()::text) $$;\n",
            "DROP FUNCTION om_func_generate_ulid();\n",
            id="function-dropped",
        ),
        pytest.param(
            "CREATE TABLE audit_log (id bigint PRIMARY KEY, note text);\n"
            "CREATE INDEX audit_log_note_idx ON audit_log (note);\n"
            "ALTER TABLE audit_log ADD COLUMN created_at timestamptz;\n",
            "DROP TABLE audit_log;\n",
            id="dropping-the-table-drops-its-index-and-columns",
        ),
        pytest.param(
            "CREATE UNIQUE INDEX users_email_key ON users (email);\n",
            "DROP INDEX users_email_key;\n",
            id="index-dropped",
        ),
        pytest.param(
            "CREATE TYPE order_status AS ENUM ('new', 'paid');\n",
            "DROP TYPE order_status;\n",
            id="type-dropped",
        ),
        pytest.param(
            "ALTER TABLE users ADD COLUMN bio text;\n",
            "ALTER TABLE users DROP COLUMN bio;\n",
            id="column-dropped",
        ),
        pytest.param(
            "ALTER TABLE accounts ADD CONSTRAINT accounts_amount_positive "
            "CHECK (amount > 0) NOT VALID;\n",
            "ALTER TABLE accounts DROP CONSTRAINT accounts_amount_positive;\n",
            id="constraint-dropped",
        ),
        pytest.param(
            "ALTER TABLE users RENAME COLUMN nickname TO display_name;\n",
            "ALTER TABLE users RENAME COLUMN display_name TO nickname;\n",
            id="rename-reversed",
        ),
        pytest.param(
            "CREATE OR REPLACE FUNCTION greeting() RETURNS text LANGUAGE sql "
            "AS $$ SELECT 'hi' $$;\n",
            "CREATE OR REPLACE FUNCTION greeting() RETURNS text LANGUAGE sql "
            "AS $$ SELECT 'hello' $$;\n",
            id="replaced-function-restored",
        ),
        pytest.param(
            "-- vcsync: irreversible -- PostgreSQL cannot remove an enum value\n"
            "ALTER TYPE mood ADD VALUE 'meh';\n",
            "SELECT 1;\n",
            id="enum-value-irreversible-in-the-up",
        ),
        pytest.param(
            "ALTER TYPE mood ADD VALUE 'meh';\n",
            "-- vcsync: irreversible -- PostgreSQL cannot remove an enum value\n",
            id="enum-value-irreversible-in-the-rollback",
        ),
        pytest.param(
            "CREATE TABLE audit_log (id bigint PRIMARY KEY, note text);\n",
            "-- vcsync: irreversible -- the audit log is kept on rollback\n",
            id="table-irreversible",
        ),
    ],
)
def test_vc301_a_rollback_that_undoes_the_migration_passes(
    tmp_path: Path, up_sql: str, down_sql: str
) -> None:
    report = check_new(tmp_path, migration("2", up_sql, down_sql))
    assert report.of("VC301") == []
    assert report.exit_code == 0, report.findings


def test_vc301_the_wrong_statement_is_reported_not_the_first(tmp_path: Path) -> None:
    up_sql = (
        "CREATE TABLE audit_log (id bigint);\nCREATE UNIQUE INDEX audit_key ON users (email);\n"
    )
    down_sql = "DROP TABLE audit_log;\n\nALTER TABLE users DROP CONSTRAINT audit_key;\n"
    report = check_new(tmp_path, migration("2", up_sql, down_sql))
    assert report.of("VC301") == [(DOWN2, "error", 3, 1)]
    assert "audit_key" in report.messages("VC301")[0]


def test_vc301_a_migration_without_a_rollback_is_vc001_only(tmp_path: Path) -> None:
    report = check_new(tmp_path, migration("2", "CREATE TABLE audit_log (id bigint);\n", None))
    assert [f["code"] for f in report.findings] == ["VC001"]
    assert report.at(UP2) == [("VC001", "error", 1, 1)]


# --- VC302: destructive statements ---------------------------------------------------------


@pytest.mark.parametrize(
    "statement",
    [
        "DROP TABLE events;",
        "ALTER TABLE users DROP COLUMN nickname;",
        "DROP SCHEMA reporting CASCADE;",
        "TRUNCATE events;",
        "DELETE FROM events;",
        "UPDATE users SET nickname = NULL;",
    ],
)
def test_vc302_a_destructive_statement_on_an_existing_object_is_an_error(
    tmp_path: Path, statement: str
) -> None:
    report = check_new(tmp_path, migration("2", f"-- clean up\n{statement}\n", "SELECT 1;\n"))
    assert report.of("VC302") == [(UP2, "error", 2, 1)]
    assert report.exit_code == 1


@pytest.mark.parametrize(
    ("up_sql", "down_sql"),
    [
        pytest.param(
            "CREATE TABLE scratch (id int);\nINSERT INTO scratch VALUES (1);\n"
            "UPDATE scratch SET id = 2;\nDELETE FROM scratch;\nTRUNCATE scratch;\n"
            "DROP TABLE scratch;\n",
            "SELECT 1;\n",
            id="objects-the-migration-created",
        ),
        pytest.param("DELETE FROM events WHERE id < 100;\n", "SELECT 1;\n", id="delete-with-where"),
        pytest.param(
            "UPDATE users SET nickname = NULL WHERE nickname = '';\n",
            "SELECT 1;\n",
            id="update-with-where",
        ),
        pytest.param(
            "CREATE FUNCTION purge() RETURNS void LANGUAGE plpgsql AS $$\n"
            "BEGIN\n    DROP TABLE events;\n    DELETE FROM accounts;\nEND $$;\n",
            "DROP FUNCTION purge();\n",
            id="inside-a-plpgsql-body",
        ),
    ],
)
def test_vc302_what_is_not_destructive_passes(tmp_path: Path, up_sql: str, down_sql: str) -> None:
    report = check_new(tmp_path, migration("2", up_sql, down_sql))
    assert report.of("VC302") == []


def test_irreversible_silences_vc301_and_vc302(tmp_path: Path) -> None:
    up_sql = "-- vcsync: irreversible -- events are re-imported nightly\nDROP TABLE events;\n"
    report = check_new(tmp_path, migration("2", up_sql, "SELECT 1;\n"))
    assert report.of("VC302") == [] and report.of("VC301") == []
    assert report.exit_code == 0


def test_ignore_silences_exactly_the_named_code(tmp_path: Path) -> None:
    up_sql = "-- vcsync: ignore VC302 -- events are re-imported nightly\nDROP TABLE events;\n"
    report = check_new(tmp_path, migration("2", up_sql, "SELECT 1;\n"))
    assert report.of("VC302") == []
    assert report.of("VC301") == [(DOWN2, "error", 1, 1)]  # the table is still not restored
    assert report.exit_code == 1


def test_ignore_of_a_lock_rule_leaves_the_others(tmp_path: Path) -> None:
    up_sql = (
        "-- vcsync: ignore VC303 -- users is small\n"
        "CREATE INDEX users_email_idx ON users (email);\n"
        "ALTER TABLE users ADD COLUMN age int NOT NULL;\n"
    )
    down_sql = "ALTER TABLE users DROP COLUMN age;\nDROP INDEX users_email_idx;\n"
    report = check_new(tmp_path, migration("2", up_sql, down_sql))
    assert report.at(UP2) == [("VC305", "error", 3, 1)]


# --- live tables: the exemptions every lock rule shares ------------------------------------

# (statement on audit_log, its rollback, the finding it gets when audit_log is live)
LOCKING = [
    pytest.param(
        "CREATE INDEX audit_log_note_idx ON audit_log (note);\n",
        "DROP INDEX audit_log_note_idx;\n",
        "VC303",
        id="VC303",
    ),
    pytest.param(
        "ALTER TABLE audit_log ADD COLUMN level int NOT NULL;\n",
        "ALTER TABLE audit_log DROP COLUMN level;\n",
        "VC305",
        id="VC305",
    ),
    pytest.param(
        "ALTER TABLE audit_log ALTER COLUMN amount TYPE bigint;\n",
        "ALTER TABLE audit_log ALTER COLUMN amount TYPE integer;\n",
        "VC306",
        id="VC306",
    ),
    pytest.param(
        "ALTER TABLE audit_log ADD CONSTRAINT audit_log_user_fk "
        "FOREIGN KEY (user_id) REFERENCES users (id);\n",
        "ALTER TABLE audit_log DROP CONSTRAINT audit_log_user_fk;\n",
        "VC307",
        id="VC307",
    ),
    pytest.param(
        "ALTER TABLE audit_log ALTER COLUMN note SET NOT NULL;\n",
        "ALTER TABLE audit_log ALTER COLUMN note DROP NOT NULL;\n",
        "VC308",
        id="VC308",
    ),
    pytest.param(
        "ALTER TABLE audit_log ADD CONSTRAINT audit_log_id_key UNIQUE (id);\n",
        "ALTER TABLE audit_log DROP CONSTRAINT audit_log_id_key;\n",
        "VC309",
        id="VC309",
    ),
    pytest.param(
        "ALTER TABLE audit_log RENAME COLUMN note TO message;\n",
        "ALTER TABLE audit_log RENAME COLUMN message TO note;\n",
        "VC310",
        id="VC310",
    ),
]
SEVERITY = {
    "VC303": "warning",
    "VC305": "error",
    "VC306": "warning",
    "VC307": "warning",
    "VC308": "warning",
    "VC309": "warning",
    "VC310": "warning",
}
CREATE_AUDIT_LOG = migration("2", AUDIT_LOG, "DROP TABLE audit_log;\n")


@pytest.mark.parametrize(("statement", "undo", "code"), LOCKING)
def test_a_table_created_on_the_base_is_live(
    tmp_path: Path, statement: str, undo: str, code: str
) -> None:
    repo = on_branch(tmp_path, base=CREATE_AUDIT_LOG)
    write(repo, migration("3", statement, undo))
    report = check(repo)
    assert report.at(UP3) == [(code, SEVERITY[code], 1, 1)]
    assert report.exit_code == (1 if SEVERITY[code] == "error" else 0)


@pytest.mark.parametrize(("statement", "undo", "code"), LOCKING)
def test_a_table_created_in_the_same_migration_is_not_live(
    tmp_path: Path, statement: str, undo: str, code: str
) -> None:
    report = check_new(tmp_path, migration("2", AUDIT_LOG + statement, "DROP TABLE audit_log;\n"))
    assert report.at(UP2) == [], code
    assert report.exit_code == 0


@pytest.mark.parametrize(("statement", "undo", "code"), LOCKING)
def test_a_table_created_by_a_migration_new_on_the_branch_is_not_live(
    tmp_path: Path, statement: str, undo: str, code: str
) -> None:
    report = check_new(tmp_path, {**CREATE_AUDIT_LOG, **migration("3", statement, undo)})
    assert report.at(UP3) == [], code
    assert report.exit_code == 0


def test_a_table_in_a_release_tag_is_live_though_the_base_lacks_it(tmp_path: Path) -> None:
    repo = on_branch(tmp_path)
    write(repo, CREATE_AUDIT_LOG)
    commit(repo, "audit log")
    git(repo, "tag", "-a", "v1.0.0", "-m", "release")
    write(
        repo,
        migration("3", "CREATE INDEX audit_log_note_idx ON audit_log (note);\n", "SELECT 1;\n"),
    )
    assert check(repo).at(UP3) == [("VC303", "warning", 1, 1)]


def test_without_a_base_ref_only_the_same_migration_is_exempt_and_a_note_says_so(
    tmp_path: Path,
) -> None:
    repo = make_repo(tmp_path / "project", BASE, config=config(base_ref="origin/nope"))
    index = "CREATE INDEX audit_log_note_idx ON audit_log (note);\n"
    write(
        repo,
        {
            **migration("2", AUDIT_LOG + index, "DROP TABLE audit_log;\n"),
            **migration("3", index, "DROP INDEX audit_log_note_idx;\n"),
        },
    )
    report = check(repo)
    assert report.at(UP2) == []  # created in the same migration
    assert report.at(UP3) == [("VC303", "warning", 1, 1)]  # new on the branch, but unknown
    notes = [line for line in report.stderr.splitlines() if line.startswith("note:")]
    assert any("live" in note.lower() for note in notes) or report.stderr.count("origin/nope") >= 2
    text = vcsync(repo, "check")
    assert "live" in text.stderr.lower() or text.stderr.count("origin/nope") >= 2


# --- VC303: index builds without CONCURRENTLY ----------------------------------------------


@pytest.mark.parametrize(
    "statement",
    [
        "CREATE INDEX users_email_idx ON users (email);",
        "CREATE UNIQUE INDEX users_email_idx ON users (email);",
        "CREATE INDEX users_email_idx ON users USING hash (email) WHERE email IS NOT NULL;",
    ],
)
def test_vc303_an_index_built_on_a_live_table_without_concurrently_is_a_warning(
    tmp_path: Path, statement: str
) -> None:
    report = check_new(tmp_path, migration("2", f"{statement}\n", "DROP INDEX users_email_idx;\n"))
    assert report.at(UP2) == [("VC303", "warning", 1, 1)]
    assert report.exit_code == 0


def test_vc303_concurrently_in_a_no_transaction_migration_passes(tmp_path: Path) -> None:
    files = migration(
        "2",
        f"{NO_TX}CREATE INDEX CONCURRENTLY users_email_idx ON users (email);\n",
        f"{NO_TX}DROP INDEX CONCURRENTLY users_email_idx;\n",
    )
    report = check_new(tmp_path, files)
    assert report.at(UP2) == [] and report.at(DOWN2) == []
    assert report.exit_code == 0


def test_vc303_raised_to_an_error_fails_the_check(tmp_path: Path) -> None:
    files = migration(
        "2", "CREATE INDEX users_email_idx ON users (email);\n", "DROP INDEX users_email_idx;\n"
    )
    report = check_new(tmp_path, files, config(severity='VC303 = "error"'))
    assert report.at(UP2) == [("VC303", "error", 1, 1)]
    assert report.exit_code == 1


def test_vc303_in_text_output_is_path_line_col_code_message(tmp_path: Path) -> None:
    repo = on_branch(tmp_path)
    write(
        repo,
        migration(
            "2",
            "-- look users up by email\nCREATE INDEX users_email_idx ON users (email);\n",
            "DROP INDEX users_email_idx;\n",
        ),
    )
    run = vcsync(repo, "check")
    assert run.exit_code == 0
    assert any(line.startswith(f"{UP2}:2:1: VC303 ") for line in run.lines), run.stdout
    assert "warning" in run.stderr


def test_vc303_in_sarif_is_a_warning(tmp_path: Path) -> None:
    repo = on_branch(tmp_path)
    write(
        repo,
        migration(
            "2", "CREATE INDEX users_email_idx ON users (email);\n", "DROP INDEX users_email_idx;\n"
        ),
    )
    run = vcsync(repo, "check", "--format", "sarif")
    assert run.exit_code == 0
    (sarif_run,) = json.loads(run.stdout)["runs"]
    assert "VC303" in {rule["id"] for rule in sarif_run["tool"]["driver"]["rules"]}
    results = [
        (
            r["level"],
            r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"],
            r["locations"][0]["physicalLocation"]["region"]["startLine"],
        )
        for r in sarif_run["results"]
        if r["ruleId"] == "VC303"
    ]
    assert ("warning", UP2, 1) in results
    assert all(level == "warning" for level, _uri, _line in results)


# --- VC304: CONCURRENTLY inside a transaction ----------------------------------------------


@pytest.mark.parametrize(
    ("statement", "undo"),
    [
        (
            "CREATE INDEX CONCURRENTLY users_email_idx ON users (email);",
            "DROP INDEX users_email_idx;",
        ),
        (
            "CREATE UNIQUE INDEX CONCURRENTLY users_email_idx ON users (email);",
            "DROP INDEX users_email_idx;",
        ),
        ("REINDEX INDEX CONCURRENTLY users_pkey;", "SELECT 1;"),
    ],
)
def test_vc304_concurrently_in_a_transactional_migration_is_an_error(
    tmp_path: Path, statement: str, undo: str
) -> None:
    report = check_new(tmp_path, migration("2", f"{statement}\n", f"{undo}\n"))
    assert report.at(UP2) == [("VC304", "error", 1, 1)]
    assert report.exit_code == 1


def test_vc304_the_no_transaction_directive_declares_it(tmp_path: Path) -> None:
    files = migration(
        "2",
        f"{NO_TX}\nCREATE INDEX CONCURRENTLY users_email_idx ON users (email);\n",
        f"{NO_TX}DROP INDEX CONCURRENTLY users_email_idx;\n",
    )
    report = check_new(tmp_path, files)
    assert report.of("VC304") == []
    assert report.exit_code == 0


GOOSE_CONFIG = '[tool.vcsync]\nmigrations = "sql/schema"\nlayout = "markers"\n'
GOOSE_USERS = {
    "sql/schema/00001_create_users.sql": (
        "-- +goose Up\n"
        "CREATE TABLE users (id bigint PRIMARY KEY, created_at timestamptz NOT NULL);\n"
        "CREATE TABLE events (id bigint);\n"
        "\n"
        "-- +goose Down\n"
        "DROP TABLE events;\n"
        "DROP TABLE users;\n"
    )
}
GOOSE_INDEX = "sql/schema/00002_users_created_at_idx.sql"
GOOSE_CONCURRENTLY = (
    "-- +goose Up\n"  # 1 (2 under NO TRANSACTION)
    "CREATE INDEX CONCURRENTLY users_created_at_idx ON users (created_at);\n"
    "\n"
    "-- +goose Down\n"
    "DROP INDEX CONCURRENTLY users_created_at_idx;\n"
)


def test_vc304_goose_no_transaction_declares_it(tmp_path: Path) -> None:
    files = {**GOOSE_USERS, GOOSE_INDEX: "-- +goose NO TRANSACTION\n" + GOOSE_CONCURRENTLY}
    repo = make_repo(tmp_path / "project", files, config=GOOSE_CONFIG)
    report = check(repo)
    assert report.findings == []
    assert report.exit_code == 0


def test_vc304_goose_without_no_transaction_is_an_error(tmp_path: Path) -> None:
    files = {**GOOSE_USERS, GOOSE_INDEX: GOOSE_CONCURRENTLY}
    repo = make_repo(tmp_path / "project", files, config=GOOSE_CONFIG)
    report = check(repo)
    assert ("VC304", "error", 2, 1) in report.at(GOOSE_INDEX)
    assert report.exit_code == 1


# --- VC305: ADD COLUMN that fails or rewrites ----------------------------------------------


@pytest.mark.parametrize(
    ("column", "postgres_version", "finding"),
    [
        pytest.param("age int NOT NULL", 14, True, id="not-null-without-default"),
        pytest.param("token uuid DEFAULT gen_random_uuid()", 14, True, id="volatile-default"),
        pytest.param(
            "token uuid NOT NULL DEFAULT gen_random_uuid()", 11, True, id="volatile-not-null"
        ),
        pytest.param("score int NOT NULL DEFAULT 0", 10, True, id="constant-default-before-11"),
        pytest.param("score int NOT NULL DEFAULT 0", 14, False, id="constant-default-on-14"),
        pytest.param("score int NOT NULL DEFAULT 0", 11, False, id="constant-default-on-11"),
        pytest.param(
            "created_at timestamptz NOT NULL DEFAULT now()", 14, False, id="stable-default"
        ),
        pytest.param("bio text", 14, False, id="nullable-without-default"),
    ],
)
def test_vc305_add_column_on_a_live_table(
    tmp_path: Path, column: str, postgres_version: int, finding: bool
) -> None:
    name = column.split()[0]
    files = migration(
        "2",
        f"ALTER TABLE users ADD COLUMN {column};\n",
        f"ALTER TABLE users DROP COLUMN {name};\n",
    )
    report = check_new(tmp_path, files, config(f"postgres_version = {postgres_version}"))
    assert report.at(UP2) == ([("VC305", "error", 1, 1)] if finding else [])
    assert report.exit_code == (1 if finding else 0)


# --- VC306: column type changes that rewrite -----------------------------------------------


def test_vc306_a_rewriting_type_change_on_a_live_table_is_a_warning(tmp_path: Path) -> None:
    files = migration(
        "2",
        "ALTER TABLE accounts ALTER COLUMN amount TYPE bigint;\n",
        "ALTER TABLE accounts ALTER COLUMN amount TYPE integer;\n",
    )
    report = check_new(tmp_path, files)
    assert report.at(UP2) == [("VC306", "warning", 1, 1)]
    assert report.exit_code == 0


@pytest.mark.parametrize("new_type", ["text", "varchar(200)"])
def test_vc306_a_binary_compatible_widening_passes(tmp_path: Path, new_type: str) -> None:
    files = migration(
        "2",
        f"ALTER TABLE users ALTER COLUMN name TYPE {new_type};\n",
        "ALTER TABLE users ALTER COLUMN name TYPE varchar(100);\n",
    )
    report = check_new(tmp_path, files)
    assert report.at(UP2) == []


# --- VC307: FOREIGN KEY and CHECK validated under lock -------------------------------------


@pytest.mark.parametrize(
    ("constraint", "name"),
    [
        ("FOREIGN KEY (user_id) REFERENCES users (id)", "accounts_user_fk"),
        ("CHECK (amount > 0)", "accounts_amount_positive"),
    ],
)
def test_vc307_a_constraint_added_valid_to_a_live_table_is_a_warning(
    tmp_path: Path, constraint: str, name: str
) -> None:
    files = migration(
        "2",
        f"ALTER TABLE accounts ADD CONSTRAINT {name} {constraint};\n",
        f"ALTER TABLE accounts DROP CONSTRAINT {name};\n",
    )
    report = check_new(tmp_path, files)
    assert report.at(UP2) == [("VC307", "warning", 1, 1)]
    assert report.exit_code == 0


def test_vc307_not_valid_then_validate_later_passes(tmp_path: Path) -> None:
    files = {
        **migration(
            "2",
            "ALTER TABLE accounts ADD CONSTRAINT accounts_user_fk "
            "FOREIGN KEY (user_id) REFERENCES users (id) NOT VALID;\n",
            "ALTER TABLE accounts DROP CONSTRAINT accounts_user_fk;\n",
        ),
        **migration(
            "3", "ALTER TABLE accounts VALIDATE CONSTRAINT accounts_user_fk;\n", "SELECT 1;\n"
        ),
    }
    report = check_new(tmp_path, files)
    assert report.of("VC307") == []
    assert report.at(UP2) == [] and report.at(UP3) == []


# --- VC308: SET NOT NULL scans under lock --------------------------------------------------

EMAIL_CHECKED = migration(
    "2",
    "ALTER TABLE users ADD CONSTRAINT users_email_not_null CHECK (email IS NOT NULL);\n",
    "ALTER TABLE users DROP CONSTRAINT users_email_not_null;\n",
)
EMAIL_CHECK_NOT_VALID = migration(
    "2",
    "ALTER TABLE users ADD CONSTRAINT users_email_not_null CHECK (email IS NOT NULL) NOT VALID;\n",
    "ALTER TABLE users DROP CONSTRAINT users_email_not_null;\n",
)


@pytest.mark.parametrize(
    ("base", "column", "postgres_version", "finding"),
    [
        pytest.param({}, "name", 14, True, id="no-check-constraint"),
        pytest.param(EMAIL_CHECKED, "email", 14, False, id="validated-check-on-14"),
        pytest.param(EMAIL_CHECKED, "email", 12, False, id="validated-check-on-12"),
        pytest.param(EMAIL_CHECKED, "email", 11, True, id="validated-check-before-12"),
        pytest.param(EMAIL_CHECKED, "name", 14, True, id="check-on-another-column"),
        pytest.param(EMAIL_CHECK_NOT_VALID, "email", 14, True, id="check-not-validated"),
    ],
)
def test_vc308_set_not_null_on_a_live_table(
    tmp_path: Path, base: Files, column: str, postgres_version: int, finding: bool
) -> None:
    repo = on_branch(tmp_path, config(f"postgres_version = {postgres_version}"), base)
    write(
        repo,
        migration(
            "3",
            f"ALTER TABLE users ALTER COLUMN {column} SET NOT NULL;\n",
            f"ALTER TABLE users ALTER COLUMN {column} DROP NOT NULL;\n",
        ),
    )
    report = check(repo)
    assert report.at(UP3) == ([("VC308", "warning", 1, 1)] if finding else [])
    assert report.exit_code == 0


# --- VC309: UNIQUE / PRIMARY KEY without USING INDEX ---------------------------------------


@pytest.mark.parametrize(
    ("statement", "undo"),
    [
        (
            "ALTER TABLE users ADD CONSTRAINT users_email_key UNIQUE (email);",
            "ALTER TABLE users DROP CONSTRAINT users_email_key;",
        ),
        (
            "ALTER TABLE events ADD CONSTRAINT events_pkey PRIMARY KEY (id);",
            "ALTER TABLE events DROP CONSTRAINT events_pkey;",
        ),
    ],
)
def test_vc309_a_unique_or_primary_key_built_under_lock_is_a_warning(
    tmp_path: Path, statement: str, undo: str
) -> None:
    report = check_new(tmp_path, migration("2", f"{statement}\n", f"{undo}\n"))
    assert report.at(UP2) == [("VC309", "warning", 1, 1)]
    assert report.exit_code == 0


def test_vc309_an_index_built_concurrently_then_used_passes(tmp_path: Path) -> None:
    files = {
        **migration(
            "2",
            f"{NO_TX}CREATE UNIQUE INDEX CONCURRENTLY users_email_idx ON users (email);\n",
            f"{NO_TX}DROP INDEX CONCURRENTLY IF EXISTS users_email_idx;\n",
        ),
        **migration(
            "3",
            "ALTER TABLE users ADD CONSTRAINT users_email_key\n"
            "    UNIQUE USING INDEX users_email_idx;\n",
            "ALTER TABLE users DROP CONSTRAINT users_email_key;\n",
        ),
    }
    report = check_new(tmp_path, files)
    assert report.of("VC309") == []
    assert report.at(UP2) == [] and report.at(UP3) == []


# --- VC310: renames ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("statement", "undo"),
    [
        (
            "ALTER TABLE users RENAME COLUMN nickname TO display_name;",
            "ALTER TABLE users RENAME COLUMN display_name TO nickname;",
        ),
        (
            "ALTER TABLE events RENAME TO audit_events;",
            "ALTER TABLE audit_events RENAME TO events;",
        ),
    ],
)
def test_vc310_a_rename_of_a_live_table_or_column_is_a_warning(
    tmp_path: Path, statement: str, undo: str
) -> None:
    report = check_new(tmp_path, migration("2", f"{statement}\n", f"{undo}\n"))
    assert report.at(UP2) == [("VC310", "warning", 1, 1)]
    assert report.exit_code == 0


# --- VC311: ACCESS EXCLUSIVE without lock_timeout (opt-in) ----------------------------------

ADD_BIO = migration(
    "2", "ALTER TABLE users ADD COLUMN bio text;\n", "ALTER TABLE users DROP COLUMN bio;\n"
)


def test_vc311_is_not_in_the_default_selection(tmp_path: Path) -> None:
    report = check_new(tmp_path, ADD_BIO)
    assert report.of("VC311") == []
    assert report.exit_code == 0


def test_vc311_selected_by_its_code_warns_without_lock_timeout(tmp_path: Path) -> None:
    report = check_new(tmp_path, ADD_BIO, config('select = ["VC", "VC311"]'))
    assert report.at(UP2) == [("VC311", "warning", 1, 1)]
    assert report.exit_code == 0


def test_vc311_selected_by_a_prefix_only_stays_off(tmp_path: Path) -> None:
    report = check_new(tmp_path, ADD_BIO, config('select = ["VC3"]'))
    assert report.of("VC311") == []


def test_vc311_passes_with_lock_timeout_set_earlier(tmp_path: Path) -> None:
    files = migration(
        "2",
        "SET lock_timeout = '5s';\nALTER TABLE users ADD COLUMN bio text;\n",
        "ALTER TABLE users DROP COLUMN bio;\n",
    )
    report = check_new(tmp_path, files, config('select = ["VC", "VC311"]'))
    assert report.at(UP2) == []


# --- real-shaped scripts -------------------------------------------------------------------

ATLAS_UP = """\
-- Modify "users" table
ALTER TABLE "public"."users" ADD COLUMN "age" integer NOT NULL;
-- Create index "users_email_idx" to table: "users"
CREATE INDEX "users_email_idx" ON "public"."users" ("email");
"""
ATLAS_DOWN = """\
-- reverse: Create index "users_email_idx" to table: "users"
DROP INDEX "public"."users_email_idx";
-- reverse: Modify "users" table
ALTER TABLE "public"."users" DROP COLUMN "age";
"""
ATLAS_NEW_TABLE_UP = """\
-- Create "orders" table
CREATE TABLE "public"."orders" (
  "id" bigint NOT NULL GENERATED BY DEFAULT AS IDENTITY,
  "user_id" bigint NOT NULL,
  "total" numeric(12,2) NOT NULL DEFAULT 0,
  PRIMARY KEY ("id"),
  CONSTRAINT "orders_user_fk" FOREIGN KEY ("user_id") REFERENCES "public"."users" ("id") \
ON UPDATE NO ACTION ON DELETE CASCADE
);
-- Create index "orders_user_id_idx" to table: "orders"
CREATE INDEX "orders_user_id_idx" ON "public"."orders" ("user_id");
"""
ATLAS_NEW_TABLE_DOWN = """\
-- reverse: Create index "orders_user_id_idx" to table: "orders"
DROP INDEX "public"."orders_user_id_idx";
-- reverse: Create "orders" table
DROP TABLE "public"."orders";
"""


def test_atlas_generated_changes_to_a_live_table(tmp_path: Path) -> None:
    report = check_new(tmp_path, migration("2", ATLAS_UP, ATLAS_DOWN))
    assert report.at(UP2) == [("VC305", "error", 2, 1), ("VC303", "warning", 4, 1)]
    assert report.exit_code == 1


def test_atlas_generated_new_table_with_its_index_passes(tmp_path: Path) -> None:
    report = check_new(tmp_path, migration("2", ATLAS_NEW_TABLE_UP, ATLAS_NEW_TABLE_DOWN))
    assert report.at(UP2) == [] and report.at(DOWN2) == []
    assert report.exit_code == 0


GOOSE_BLOCKS = "sql/schema/00002_purge_events.sql"
GOOSE_BLOCKS_TEXT = (
    "-- +goose Up\n"  # 1
    "-- +goose StatementBegin\n"  # 2
    "CREATE FUNCTION purge_events() RETURNS void AS $$\n"  # 3
    "BEGIN\n"  # 4
    "    DELETE FROM events;\n"  # 5: in the body, not run by the migration
    "    DROP TABLE IF EXISTS events_archive;\n"  # 6
    "END;\n"  # 7
    "$$ LANGUAGE plpgsql;\n"  # 8
    "-- +goose StatementEnd\n"  # 9
    "\n"  # 10
    "CREATE INDEX users_created_at_idx ON users (created_at);\n"  # 11
    "\n"  # 12
    "-- +goose Down\n"  # 13
    "DROP INDEX users_created_at_idx;\n"  # 14
    "-- +goose StatementBegin\n"  # 15
    "DROP FUNCTION purge_events();\n"  # 16
    "-- +goose StatementEnd\n"  # 17
)


def test_goose_statement_blocks_report_the_line_in_the_file(tmp_path: Path) -> None:
    files = {**GOOSE_USERS, GOOSE_BLOCKS: GOOSE_BLOCKS_TEXT}
    repo = make_repo(tmp_path / "project", files, config=GOOSE_CONFIG)
    report = check(repo)
    in_up = [f for f in report.at(GOOSE_BLOCKS) if f[2] < 13]
    assert in_up == [("VC303", "warning", 11, 1)]
    assert report.of("VC302") == [] and report.of("VC301") == []
    assert report.exit_code == 0


HEADED = """\
-- Migration 2: look users up by email
-- Ticket: OPS-1234
/*
 * Reviewed by the DBA team.
 */

SET statement_timeout = '5min';
    CREATE INDEX users_email_idx
        ON users (email);
/* age */ ALTER TABLE users ADD COLUMN age int NOT NULL;
"""


def test_findings_after_comment_headers_point_at_the_statement(tmp_path: Path) -> None:
    down_sql = "ALTER TABLE users DROP COLUMN age;\nDROP INDEX users_email_idx;\n"
    report = check_new(tmp_path, migration("2", HEADED, down_sql))
    assert report.at(UP2) == [("VC303", "warning", 8, 5), ("VC305", "error", 10, 11)]
    assert report.exit_code == 1


# --- other dialects, and cases found by bench/squawk_agreement.py -------------------------


def test_vc301_and_vc302_read_sqlglots_tree_in_other_dialects(tmp_path: Path) -> None:
    cfg = SPLIT_CONFIG + 'dialect = "sqlite"\n'
    repo = make_repo(tmp_path / "lite", config=cfg)
    write(
        repo,
        {
            **migration("1", "CREATE TABLE notes (id INTEGER PRIMARY KEY);\n", "SELECT 1;\n"),
            **migration("2", "-- tidy up\nDELETE FROM notes;\n", "SELECT 1;\n"),
        },
    )
    report = check(repo)
    assert report.of("VC301") == [(down("1"), "error", 1, 1)]
    assert "table notes" in report.messages("VC301")[0]
    assert report.of("VC302") == [(up("2"), "error", 2, 1)]
    assert report.codes == {"VC301", "VC302"}  # no lock rule outside PostgreSQL
    assert report.exit_code == 1


def test_vc301_a_table_created_then_renamed_is_dropped_under_its_new_name(
    tmp_path: Path,
) -> None:
    repo = on_branch(tmp_path)
    write(
        repo,
        migration(
            "2",
            "CREATE TABLE login_attempts (id bigint);\n"
            "ALTER TABLE login_attempts RENAME TO login_attempts_archive;\n",
            "DROP TABLE IF EXISTS login_attempts_archive;\n",
        ),
    )
    assert check(repo).findings == []


def test_a_real_shaped_branch_migration_reports_each_problem_at_its_statement(
    tmp_path: Path,
) -> None:
    repo = on_branch(tmp_path)
    write(
        repo,
        migration(
            "2",
            "-- Release 2: plans for users\n"
            "SET lock_timeout = '2s';\n"
            "ALTER TABLE users ADD COLUMN plan text NOT NULL;\n"
            "CREATE INDEX users_plan_idx ON users (plan);\n"
            "ALTER TABLE accounts ADD CONSTRAINT accounts_user_fk\n"
            "    FOREIGN KEY (user_id) REFERENCES users (id);\n",
            "DROP INDEX users_plan_idx;\n"
            "ALTER TABLE accounts DROP CONSTRAINT accounts_user_fk;\n"
            "ALTER TABLE users DROP COLUMN plan;\n",
        ),
    )
    report = check(repo, "--format", "json")
    assert report.at(UP2) == [
        ("VC305", "error", 3, 1),
        ("VC303", "warning", 4, 1),
        ("VC307", "warning", 5, 1),
    ]
    assert report.exit_code == 1


# --- no input makes the safety rules raise ------------------------------------------------

FRAGMENTS = [
    "CREATE TABLE t (id bigint PRIMARY KEY, v varchar(10))",
    "DROP TABLE t",
    "ALTER TABLE users ADD COLUMN c int NOT NULL",
    "ALTER TABLE users ADD COLUMN c uuid DEFAULT gen_random_uuid()",
    "ALTER TABLE users ALTER COLUMN name TYPE text USING name::text",
    "ALTER TABLE users ALTER COLUMN c SET NOT NULL",
    "ALTER TABLE users ADD CONSTRAINT k UNIQUE USING INDEX k",
    "ALTER TABLE users ADD CONSTRAINT f FOREIGN KEY (id) REFERENCES t (id) NOT VALID",
    "ALTER TABLE users VALIDATE CONSTRAINT f",
    "ALTER TABLE users RENAME COLUMN c TO d",
    "ALTER TABLE t RENAME TO u",
    "CREATE INDEX CONCURRENTLY i ON users (email)",
    "DROP INDEX i",
    "REINDEX TABLE users",
    "CREATE OR REPLACE FUNCTION greeting() RETURNS text LANGUAGE sql AS $$ SELECT 1 $$",
    "DROP FUNCTION greeting()",
    "ALTER TYPE mood ADD VALUE 'meh'",
    "DELETE FROM users",
    "UPDATE users SET name = 'x' WHERE id = 1",
    "TRUNCATE events",
    "SET lock_timeout = '1s'",
    "DO $$ BEGIN DROP TABLE x; COMMIT; END $$",
    "ALTER TABLE ONLY users DROP CONSTRAINT k",
    "CREATE SCHEMA s; CREATE TABLE s.t (id int)",
    "DROP SCHEMA reporting CASCADE",
    "ALTER TABLE",  # does not parse: VC101's, not the safety rules'
]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(st.sampled_from(FRAGMENTS), max_size=5),
    st.lists(st.sampled_from(FRAGMENTS) | st.text(max_size=30), max_size=4),
    st.sampled_from(["-- vcsync: no-transaction\n", "-- vcsync: irreversible -- x\n", ""]),
)
def test_no_script_makes_a_safety_rule_raise(
    tmp_path_factory: pytest.TempPathFactory, ups: list[str], downs: list[str], directive: str
) -> None:
    from vcsync.check import run_check
    from vcsync.config import parse_config

    root = tmp_path_factory.mktemp("fuzz")
    write(root, BASE)
    write(root, migration("2", directive + ";\n".join(ups) + ";\n", ";\n".join(downs)))
    config = parse_config(
        {
            "migrations": "database/migrations",
            "rollbacks": "database/rollback",
            "select": ["VC", "VC311"],
        },
        root / "vcsync.toml",
    )
    result = run_check(config)
    lines = {p: (root / p).read_text().count("\n") + 1 for p in (up("2"), down("2"))}
    for finding in result.findings:
        if finding.path in lines:
            assert 1 <= finding.line <= lines[finding.path], finding
            assert finding.column >= 1, finding


def test_the_commit_hook_reads_earlier_migrations_from_the_index(tmp_path: Path) -> None:
    """With --staged, what earlier migrations made (a function, a column's type) is read
    from the index in one batch: a replaced function dropped by the rollback is VC301, a
    varchar widened to text is no VC306, an int narrowed is."""
    repo = on_branch(tmp_path)
    write(
        repo,
        migration(
            "2",
            "CREATE OR REPLACE FUNCTION greeting() RETURNS text LANGUAGE sql "
            "AS $$ SELECT 'hi' $$;\n"
            "ALTER TABLE users ALTER COLUMN name TYPE text;\n"
            "ALTER TABLE accounts ALTER COLUMN amount TYPE smallint;\n",
            "DROP FUNCTION greeting();\n"
            "ALTER TABLE users ALTER COLUMN name TYPE varchar(100);\n"
            "ALTER TABLE accounts ALTER COLUMN amount TYPE int;\n",
        ),
    )
    git(repo, "add", "-A")
    report = check(repo, "--staged")
    assert report.of("VC301") == [(DOWN2, "error", 1, 1)]
    assert "greeting" in report.messages("VC301")[0]
    assert report.of("VC306") == [(UP2, "warning", 3, 1)]


def test_vc303_reindex_of_an_index_on_a_live_table_is_a_warning_with_nothing_to_undo(
    tmp_path: Path,
) -> None:
    """REINDEX INDEX names only the index: its table comes from the migration that made it."""
    index = migration(
        "2", "CREATE INDEX users_email_idx ON users (email);\n", "DROP INDEX users_email_idx;\n"
    )
    repo = on_branch(tmp_path, base=index)
    write(repo, migration("3", "REINDEX INDEX users_email_idx;\n", "SELECT 1;\n"))
    report = check(repo)
    assert report.at(UP3) == [("VC303", "warning", 1, 1)]
    assert "live table users" in report.messages("VC303")[0]
    assert report.of("VC301") == []
    assert report.exit_code == 0
