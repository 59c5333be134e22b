"""Migration discovery for every layout of DESIGN §2, seen through `vcsync check`.

Each tree is shaped like a real repository of the tool it imitates (Flyway, golang-migrate,
diesel, dbmate, goose) and checked by the CLI in a real Git repository. The configs select
VC0xx and VC1xx only: these tests prove discovery and positions, and stay true when safety
rules are added.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import commit, git, make_repo, vcsync, write
from vcsync.migrations.layouts import Folders, discover
from vcsync.scripts import load_script
from vcsync.source import WorkTree

Files = dict[str, str]


def config(layout: str, migrations: str, rollbacks: str | None = None) -> str:
    text = f'[tool.vcsync]\nmigrations = "{migrations}"\nlayout = "{layout}"\n'
    if rollbacks is not None:
        text += f'rollbacks = "{rollbacks}"\n'
    return text + 'select = ["VC0", "VC1"]\n'


SPLIT = config("split", "database/migrations", "database/rollback")
FLYWAY_DIR = "src/main/resources/db/migration"
FLYWAY = config("flyway", FLYWAY_DIR)
GOLANG = config("updown", "db/migrations")
DIESEL = config("updown", "migrations")
DBMATE = config("markers", "db/migrations")
GOOSE = config("markers", "sql/schema")


def check(path: Path, files: Mapping[str, str], cfg: str, *args: str) -> dict[str, Any]:
    """Commit `files` in a new repository, run `vcsync check --format json`; the report."""
    repo = make_repo(path, files, config=cfg)
    return run_check(repo, *args)


def check_uncommitted(path: Path, files: Mapping[str, str], cfg: str) -> dict[str, Any]:
    """`files` written into a repository's work tree, as before `git add` (and faster)."""
    repo = make_repo(path, config=cfg)
    write(repo, files)
    return run_check(repo)


def run_check(repo: Path, *args: str) -> dict[str, Any]:
    run = vcsync(repo, "check", "--format", "json", *args)
    assert run.exit_code in (0, 1), run.stderr
    report: dict[str, Any] = json.loads(run.stdout)
    assert run.exit_code == (1 if report["findings"] else 0)
    return report


def found(report: Mapping[str, Any]) -> list[tuple[str, str]]:
    return [(f["code"], f["path"]) for f in report["findings"]]


def messages(report: Mapping[str, Any], code: str) -> list[str]:
    return [f["message"] for f in report["findings"] if f["code"] == code]


def table(name: str) -> tuple[str, str]:
    """A realistic migration and the rollback that undoes it."""
    return (
        f"CREATE TABLE {name} (\n    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,\n"
        f"    created_at timestamptz NOT NULL DEFAULT now()\n);\n",
        f"DROP TABLE {name};\n",
    )


def goose(name: str) -> str:
    up, down = table(name)
    return f"-- +goose Up\n{up}\n-- +goose Down\n{down}"


def dbmate(name: str, options: str = "") -> str:
    up, down = table(name)
    return f"-- migrate:up{options}\n{up}\n-- migrate:down\n{down}"


# ---------------------------------------------------------------------------------------
# split (the default): database/migrations + database/rollback


def split_pair(version: str, desc: str, name: str) -> Files:
    up, down = table(name)
    return {
        f"database/migrations/V{version}__{desc}.sql": up,
        f"database/rollback/V{version}__{desc}_rollback.sql": down,
    }


def test_split_pairs_each_migration_with_its_rollback_file(tmp_path: Path) -> None:
    files = {
        **split_pair("1.0.0", "Initial_schema", "users"),
        **split_pair("1.3.2", "Orders", "orders"),
        **split_pair("1.4.0", "Analytics_tables", "analytics_events"),
        "database/migrations/README.md": "Migrations run in version order.\n",
        "database/rollback/README.md": "One rollback per migration.\n",
    }
    report = check(tmp_path / "p", files, SPLIT)
    assert (found(report), report["files_checked"]) == ([], 6)


def test_split_is_the_layout_when_the_config_names_none(tmp_path: Path) -> None:
    up, _down = table("analytics_events")
    report = check(
        tmp_path / "p", {"database/migrations/V1.4.0__Analytics_tables.sql": up}, "[tool.vcsync]\n"
    )
    assert messages(report, "VC001") == [
        "migration 1.4.0 has no rollback script; "
        "add database/rollback/V1.4.0__Analytics_tables_rollback.sql."
    ]


def test_split_migration_without_rollback_is_vc001_naming_the_rollback_to_add(
    tmp_path: Path,
) -> None:
    files = split_pair("1.3.2", "Orders", "orders")
    files["database/migrations/V1.4.0__Analytics_tables.sql"] = table("analytics_events")[0]
    report = check(tmp_path / "p", files, SPLIT)
    assert report["findings"] == [
        {
            "code": "VC001",
            "severity": "error",
            "path": "database/migrations/V1.4.0__Analytics_tables.sql",
            "line": 1,
            "column": 1,
            "message": "migration 1.4.0 has no rollback script; "
            "add database/rollback/V1.4.0__Analytics_tables_rollback.sql.",
        }
    ]


def test_split_rollback_without_migration_is_vc002(tmp_path: Path) -> None:
    files = {
        **split_pair("1.3.2", "Orders", "orders"),
        "database/rollback/V1.4.0__Analytics_tables_rollback.sql": "DROP TABLE analytics;\n",
    }
    report = check(tmp_path / "p", files, SPLIT)
    assert found(report) == [("VC002", "database/rollback/V1.4.0__Analytics_tables_rollback.sql")]


@pytest.mark.parametrize(
    ("first", "second"), [("1.4.0", "1.4.0"), ("1.4", "1.4.0"), ("1.4.0", "01.04")]
)
def test_split_two_migrations_with_one_version_are_vc003(
    tmp_path: Path, first: str, second: str
) -> None:
    files = {
        **split_pair(first, "Analytics_tables", "analytics_events"),
        **split_pair(second, "Billing", "invoices"),
        **split_pair("1.10", "Audit", "audit_log"),
        **split_pair("1.9", "Search", "search_terms"),
    }
    report = check(tmp_path / "p", files, SPLIT)
    analytics = f"database/migrations/V{first}__Analytics_tables.sql"
    billing = f"database/migrations/V{second}__Billing.sql"
    # each pairs with its own rollback (no VC001/VC002); 1.10 is the highest, not 1.9
    assert {f["path"]: (f["code"], f["message"]) for f in report["findings"]} == {
        analytics: (
            "VC003",
            f"version {first} is also taken by {billing}; give one of them a version above 1.10.",
        ),
        billing: (
            "VC003",
            f"version {second} is also taken by {analytics}; give one of them a version above "
            "1.10.",
        ),
    }


def test_split_rollback_pairs_by_version_number_not_spelling(tmp_path: Path) -> None:
    up, down = table("orders")
    files = {
        "database/migrations/V1.4__Orders.sql": up,
        "database/rollback/V1.4.0__Orders_rollback.sql": down,
    }
    assert found(check(tmp_path / "p", files, SPLIT)) == []


def test_split_in_one_shared_folder_tells_rollbacks_by_their_suffix(tmp_path: Path) -> None:
    files = {
        path.replace("database/rollback/", "database/migrations/"): text
        for path, text in {
            **split_pair("1", "Users", "users"),
            **split_pair("2", "Orders", "orders"),
        }.items()
    }
    files["database/migrations/V3__Invoices.sql"] = table("invoices")[0]
    cfg = config("split", "database/migrations", "database/migrations")
    report = check(tmp_path / "p", files, cfg)
    assert messages(report, "VC001") == [
        "migration 3 has no rollback script; add database/migrations/V3__Invoices_rollback.sql."
    ]
    assert report["files_checked"] == 5


# ---------------------------------------------------------------------------------------
# flyway: V / U / R in one folder


def fly(name: str) -> str:
    return f"{FLYWAY_DIR}/{name}"


def flyway_tree() -> Files:
    users, drop_users = table("users")
    orders, drop_orders = table("orders")
    return {
        fly("V1__Create_users.sql"): users,
        fly("U1__Create_users.sql"): drop_users,
        fly("V1_1__Create_orders.sql"): orders,  # version 1.1: pairs with U1.1
        fly("U1.1__Create_orders.sql"): drop_orders,
        fly("V2__Add_email.sql"): "ALTER TABLE users ADD COLUMN email text;\n",
        fly("U2__Add_email.sql"): "ALTER TABLE users DROP COLUMN email;\n",
        fly("R__Order_totals_view.sql"): (
            "CREATE OR REPLACE VIEW order_totals AS SELECT count(*) AS n FROM orders;\n"
        ),
        fly("README.md"): "Flyway scans this folder.\n",
        fly("helpers.sql"): "-- shared snippets, included by hand\nSELECT 1;\n",
        fly("V2__Add_email.sql.conf"): "executeInTransaction=false\n",
        fly("afterMigrate.sql"): "ANALYZE;\n",
        fly("seed/README.md"): "Reference data, loaded by the app.\n",
        fly("seed/countries.csv"): "code,name\nDE,Germany\n",
        fly("seed/load_countries.sql"): "COPY countries FROM STDIN WITH (FORMAT csv);\n",
    }


def test_flyway_versioned_undo_and_repeatable_in_one_folder_check_clean(tmp_path: Path) -> None:
    report = check(tmp_path / "p", flyway_tree(), FLYWAY)
    assert found(report) == []
    assert report["files_checked"] == 7  # 3 V + 3 U + 1 R; README, helpers, seed are not


def test_flyway_repeatable_needs_no_undo_but_versioned_does(tmp_path: Path) -> None:
    files = flyway_tree()
    del files[fly("U2__Add_email.sql")]
    report = check(tmp_path / "p", files, FLYWAY)
    assert report["findings"][0]["path"] == fly("V2__Add_email.sql")
    assert messages(report, "VC001") == [
        f"migration 2 has no rollback script; add {fly('U2__Add_email.sql')}."
    ]


def test_flyway_undo_without_versioned_migration_is_vc002(tmp_path: Path) -> None:
    files = {**flyway_tree(), fly("U3__Drop_legacy.sql"): "CREATE TABLE legacy (id int);\n"}
    assert found(check(tmp_path / "p", files, FLYWAY)) == [("VC002", fly("U3__Drop_legacy.sql"))]


def test_flyway_underscores_in_a_version_are_dots(tmp_path: Path) -> None:
    files = {**flyway_tree(), fly("V1.1__Create_invoices.sql"): table("invoices")[0]}
    report = check(tmp_path / "p", files, FLYWAY)
    assert found(report) == [
        ("VC001", fly("V1.1__Create_invoices.sql")),
        ("VC003", fly("V1.1__Create_invoices.sql")),
        ("VC003", fly("V1_1__Create_orders.sql")),
    ]


@pytest.mark.parametrize(
    "name", ["v1__lowercase_prefix.sql", "V2_single_underscore.sql", "1__no_prefix.sql"]
)
def test_flyway_almost_migration_names_are_vc005(tmp_path: Path, name: str) -> None:
    files = {**flyway_tree(), fly(name): "SELECT 1;\n"}
    report = check(tmp_path / "p", files, FLYWAY)
    assert found(report) == [("VC005", fly(name))]
    assert "does not follow the flyway layout's naming" in messages(report, "VC005")[0]


def flyway_branch(tmp_path: Path, base: Files, added: Files) -> dict[str, Any]:
    """`added` on a feature branch off main, checked against main (VC004 shows the order)."""
    repo = make_repo(tmp_path / "p", base, config=FLYWAY)
    git(repo, "switch", "-q", "-c", "feature")
    write(repo, added)
    commit(repo, "feature")
    return run_check(repo, "--base", "main")


def flyway_pair(version: str, name: str) -> Files:
    up, down = table(name)
    return {fly(f"V{version}__Create_{name}.sql"): up, fly(f"U{version}__Create_{name}.sql"): down}


def test_flyway_dated_version_segments_sort_by_number(tmp_path: Path) -> None:
    """V7.0_2018.04.16 is 7, 0, 2018, 4, 16: after .04.15, and 2018.4.9 is before it."""
    base = flyway_pair("7.0_2018.04.16", "reports")
    report = flyway_branch(
        tmp_path,
        base,
        {
            **flyway_pair("7.0_2018.04.15", "exports"),
            **flyway_pair("7.0_2018.4.9", "imports"),
            **flyway_pair("7.0_2018.04.17", "charts"),
            **flyway_pair("7.0_2018.4.100", "alerts"),
        },
    )
    assert found(report) == [
        ("VC004", fly("V7.0_2018.04.15__Create_exports.sql")),
        ("VC004", fly("V7.0_2018.4.9__Create_imports.sql")),
    ]
    assert messages(report, "VC004")[0].startswith(
        "version 7.0_2018.04.15 is not above 7.0_2018.04.16, the highest on main;"
    )


def test_flyway_version_1_10_is_above_1_9(tmp_path: Path) -> None:
    report = flyway_branch(
        tmp_path,
        {**flyway_pair("1.9", "users"), **flyway_pair("1.2", "orders")},
        {**flyway_pair("1.10", "invoices"), **flyway_pair("1.8.9", "legacy")},
    )
    assert found(report) == [("VC004", fly("V1.8.9__Create_legacy.sql"))]


# ---------------------------------------------------------------------------------------
# updown: golang-migrate files and diesel folders


def golang_pair(version: str, desc: str, name: str) -> Files:
    up, down = table(name)
    return {
        f"db/migrations/{version}_{desc}.up.sql": up,
        f"db/migrations/{version}_{desc}.down.sql": down,
    }


def test_golang_migrate_up_and_down_files_pair(tmp_path: Path) -> None:
    files = {
        **golang_pair("000001", "create_users_table", "users"),
        **golang_pair("000002", "create_orders_table", "orders"),
        **golang_pair("000123", "create_invoices_table", "invoices"),
        "db/migrations/README.md": "migrate -path db/migrations -database $DB up\n",
    }
    report = check(tmp_path / "p", files, GOLANG)
    assert (found(report), report["files_checked"]) == ([], 6)


def test_golang_migrate_versions_are_integers(tmp_path: Path) -> None:
    files = {
        **golang_pair("000123", "create_invoices_table", "invoices"),
        **golang_pair("123", "create_payments_table", "payments"),
        **golang_pair("99", "create_users_table", "users"),
    }
    report = check(tmp_path / "p", files, GOLANG)
    assert found(report) == [
        ("VC003", "db/migrations/000123_create_invoices_table.up.sql"),
        ("VC003", "db/migrations/123_create_payments_table.up.sql"),
    ]
    assert messages(report, "VC003")[0] == (
        "version 000123 is also taken by db/migrations/123_create_payments_table.up.sql; "
        "give one of them a version above 123."
    )


def test_golang_migrate_pairs_up_and_down_by_version_number(tmp_path: Path) -> None:
    """golang-migrate keys a migration by its number; the two halves' descriptions may differ."""
    up, down = table("invoices")
    files = {
        "db/migrations/000123_create_invoices.up.sql": up,
        "db/migrations/123_create_invoices_table.down.sql": down,
    }
    assert found(check(tmp_path / "p", files, GOLANG)) == []


def test_golang_migrate_missing_down_is_vc001_and_lone_down_is_vc002(tmp_path: Path) -> None:
    files = golang_pair("000001", "create_users_table", "users")
    files["db/migrations/000002_create_orders_table.up.sql"] = table("orders")[0]
    files["db/migrations/000003_add_index.down.sql"] = "DROP INDEX orders_created_idx;\n"
    report = check(tmp_path / "p", files, GOLANG)
    assert found(report) == [
        ("VC001", "db/migrations/000002_create_orders_table.up.sql"),
        ("VC002", "db/migrations/000003_add_index.down.sql"),
    ]
    assert messages(report, "VC001") == [
        "migration 000002 has no rollback script; "
        "add db/migrations/000002_create_orders_table.down.sql."
    ]


DIESEL_SETUP = (
    "CREATE OR REPLACE FUNCTION diesel_manage_updated_at(_tbl regclass) RETURNS VOID AS $$\n"
    "BEGIN\n"
    "    EXECUTE format('CREATE TRIGGER set_updated_at BEFORE UPDATE ON %s\n"
    "                    FOR EACH ROW EXECUTE PROCEDURE diesel_set_updated_at()', _tbl);\n"
    "END;\n"
    "$$ LANGUAGE plpgsql;\n"
)


def diesel_folder(folder: str, name: str) -> Files:
    up, down = table(name)
    return {f"migrations/{folder}/up.sql": up, f"migrations/{folder}/down.sql": down}


def diesel_tree() -> Files:
    return {
        "migrations/.keep": "",
        "migrations/00000000000000_diesel_initial_setup/up.sql": DIESEL_SETUP,
        "migrations/00000000000000_diesel_initial_setup/down.sql": (
            "DROP FUNCTION IF EXISTS diesel_manage_updated_at(_tbl regclass);\n"
        ),
        **diesel_folder("2017-09-23-123456_create_users", "users"),
        **diesel_folder("20170708123456_create_posts", "posts"),
        "migrations/20170708123456_create_posts/metadata.toml": "run_in_transaction = false\n",
        **diesel_folder("2017-10-01-080000_create_comments", "comments"),
        # what `diesel migration generate` writes today: the second, then a hex counter
        **diesel_folder("2024-01-01-000000-0000_create_likes", "likes"),
    }


def test_diesel_folders_in_every_spelling_diesel_generates_check_clean(tmp_path: Path) -> None:
    report = check(tmp_path / "p", diesel_tree(), DIESEL)
    assert (found(report), report["files_checked"]) == ([], 10)  # metadata.toml is no script


def test_diesel_timestamps_interleave_with_separators_removed(tmp_path: Path) -> None:
    """20170708123456 (July) is below 2017-09-23-123456 (September), whatever the text says."""
    repo = make_repo(
        tmp_path / "p", diesel_folder("2017-09-23-123456_create_users", "users"), config=DIESEL
    )
    git(repo, "switch", "-q", "-c", "feature")
    write(repo, diesel_folder("20170708123456_create_posts", "posts"))
    write(repo, diesel_folder("20171001000000_create_tags", "tags"))
    write(repo, diesel_folder("2017-09-24-000000_create_likes", "likes"))
    commit(repo, "feature")
    report = run_check(repo, "--base", "main")
    assert found(report) == [("VC004", "migrations/20170708123456_create_posts/up.sql")]
    assert messages(report, "VC004")[0].startswith(
        "version 20170708123456 is not above 2017-09-23-123456, the highest on main;"
    )


def test_diesel_folder_without_down_is_vc001_and_without_up_is_vc002(tmp_path: Path) -> None:
    files = diesel_tree()
    del files["migrations/2017-10-01-080000_create_comments/down.sql"]
    del files["migrations/2017-09-23-123456_create_users/up.sql"]
    report = check(tmp_path / "p", files, DIESEL)
    assert found(report) == [
        ("VC002", "migrations/2017-09-23-123456_create_users/down.sql"),
        ("VC001", "migrations/2017-10-01-080000_create_comments/up.sql"),
    ]
    assert messages(report, "VC001") == [
        "migration 2017-10-01-080000 has no rollback script; "
        "add migrations/2017-10-01-080000_create_comments/down.sql."
    ]


def test_diesel_metadata_is_attached_to_its_migration(tmp_path: Path) -> None:
    write(tmp_path, diesel_tree())
    folders = Folders("migrations", "migrations")
    discovery = discover("updown", WorkTree(tmp_path, ["migrations"]).paths(), folders)
    by_version = {str(m.version): m.up.metadata for m in discovery.migrations}
    assert by_version == {
        "00000000000000": None,
        "20170708123456": "migrations/20170708123456_create_posts/metadata.toml",
        "2017-09-23-123456": None,
        "2017-10-01-080000": None,
        "2024-01-01-000000-0000": None,
    }
    # the rollback runs under the same metadata (`run_in_transaction` holds both ways)
    assert {str(m.version): m.down.metadata for m in discovery.migrations if m.down} == by_version
    assert list(by_version) == sorted(by_version, key=lambda v: int(v.replace("-", "")))


def test_diesel_run_in_transaction_false_makes_the_migration_no_transaction(
    tmp_path: Path,
) -> None:
    write(tmp_path, diesel_tree())
    source = WorkTree(tmp_path, ["migrations"])
    discovery = discover("updown", source.paths(), Folders("migrations", "migrations"))
    posts = next(m for m in discovery.migrations if m.up.metadata is not None)
    assert posts.down is not None
    assert load_script(source, posts.up, 5_000_000).no_transaction
    assert load_script(source, posts.down, 5_000_000).no_transaction


# ---------------------------------------------------------------------------------------
# markers: dbmate and goose


PLPGSQL_GOOSE = """\
-- +goose Up
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION touch_updated_at() RETURNS trigger AS $$
BEGIN
    NEW.updated_at := now();
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;
-- +goose StatementEnd

-- +goose Down
-- +goose StatementBegin
DROP FUNCTION touch_updated_at();
-- +goose StatementEnd
"""

GOOSE_NO_TX = """\
-- +goose NO TRANSACTION
-- +goose Up
CREATE INDEX CONCURRENTLY users_created_at_idx ON users (created_at);

-- +goose Down
DROP INDEX CONCURRENTLY users_created_at_idx;
"""

GO_MIGRATION = """\
package migrations

import (
\t"context"
\t"database/sql"

\t"github.com/pressly/goose/v3"
)

func init() {
\tgoose.AddMigrationContext(upAdd, downAdd)
}
"""


def goose_tree() -> Files:
    return {
        "sql/schema/00001_create_users.sql": goose("users"),
        "sql/schema/00003_touch_updated_at.sql": PLPGSQL_GOOSE,
        "sql/schema/00004_users_created_at_idx.sql": GOOSE_NO_TX,
        "sql/schema/main.go": "package migrations\n",
        "sql/schema/README.md": "goose -dir sql/schema postgres $DB up\n",
    }


def test_goose_files_with_statement_blocks_check_clean(tmp_path: Path) -> None:
    report = check(tmp_path / "p", goose_tree(), GOOSE)
    assert (found(report), report["files_checked"]) == ([], 3)


def test_goose_go_migration_among_sql_ones_is_vc005(tmp_path: Path) -> None:
    """vcsync runs SQL only: a Go migration would be skipped, so it is a finding."""
    files = {**goose_tree(), "sql/schema/00002_add.go": GO_MIGRATION}
    report = check(tmp_path / "p", files, GOOSE)
    assert (found(report), report["files_checked"]) == ([("VC005", "sql/schema/00002_add.go")], 3)
    assert "goose Go migration, which vcsync cannot run" in messages(report, "VC005")[0]


def test_dbmate_files_with_marker_options_check_clean(tmp_path: Path) -> None:
    files = {
        "db/migrations/20151129054053_create_users.sql": dbmate("users"),
        "db/migrations/20151129054054_create_orders.sql": dbmate("orders", " transaction:false"),
        "db/migrations/20160101000000_orders_idx.sql": (
            "-- migrate:up transaction:false\n"
            "CREATE INDEX CONCURRENTLY orders_created_idx ON orders (created_at);\n\n"
            "-- migrate:down transaction:false\n"
            "DROP INDEX CONCURRENTLY orders_created_idx;\n"
        ),
        "db/schema.sql": "-- dumped by dbmate, outside the migrations folder\n",
    }
    report = check(tmp_path / "p", files, DBMATE)
    assert (found(report), report["files_checked"]) == ([], 3)


@pytest.mark.parametrize(
    ("cfg", "path", "text", "marker"),
    [
        (DBMATE, "db/migrations/20240102120000_add_email.sql", "-- migrate:up\n", "migrate:down"),
        pytest.param(
            GOOSE,
            "sql/schema/00005_add_email.sql",
            "-- +goose Up\n",
            "+goose Down",
        ),
    ],
    ids=["dbmate", "goose"],
)
def test_markers_file_without_a_down_marker_is_vc001_naming_the_marker(
    tmp_path: Path, cfg: str, path: str, text: str, marker: str
) -> None:
    files = {path: text + "ALTER TABLE users ADD COLUMN email text;\n"}
    report = check(tmp_path / "p", files, cfg)
    version = path.rsplit("/", 1)[1].split("_", 1)[0]
    assert found(report) == [("VC001", path)]
    assert messages(report, "VC001") == [
        f"migration {version} has no `-- {marker}` section; add one that undoes it."
    ]


def test_goose_file_without_a_down_marker_is_vc001(tmp_path: Path) -> None:
    path = "sql/schema/00005_add_email.sql"
    files = {**goose_tree(), path: "-- +goose Up\nALTER TABLE users ADD COLUMN email text;\n"}
    assert found(check(tmp_path / "p", files, GOOSE)) == [("VC001", path)]


def test_dbmate_file_without_an_up_marker_is_a_finding(tmp_path: Path) -> None:
    """dbmate refuses such a file; vcsync must not pass it (nor leave its SQL unchecked)."""
    path = "db/migrations/20240102120000_add_email.sql"
    text = "ALTER TABLE users ADD COLUMN email text,;\n-- migrate:down\nDROP TABLE users;\n"
    report = check(tmp_path / "p", {path: text}, DBMATE)
    assert path in [f["path"] for f in report["findings"]]


DOWN_WITH_ERROR = (
    "-- +goose Up\n"  # 1
    "-- +goose StatementBegin\n"  # 2
    "CREATE FUNCTION f() RETURNS int AS $$\n"  # 3
    "BEGIN\n"  # 4
    "    RETURN 1;\n"  # 5
    "END;\n"  # 6
    "$$ LANGUAGE plpgsql;\n"  # 7
    "-- +goose StatementEnd\n"  # 8
    "\n"  # 9
    "-- +goose Down\n"  # 10
    "DROP FUNCTION f();\n"  # 11
    "DROP TABLE IF EXISTS (legacy;\n"  # 12: the error is the "(" at column 22
)


@pytest.mark.parametrize(
    "variant",
    ["lf", "crlf", "form-feed", "bom"],
)
def test_syntax_error_in_the_down_section_reports_the_line_in_the_file(
    tmp_path: Path, variant: str
) -> None:
    text = DOWN_WITH_ERROR
    if variant == "crlf":
        text = text.replace("\n", "\r\n")
    elif variant == "form-feed":  # an Emacs page break is no line break
        text = text.replace("-- +goose StatementEnd\n", "-- +goose StatementEnd\f\n")
    elif variant == "bom":
        text = "\ufeff" + text
    path = "sql/schema/00007_legacy.sql"
    report = check(tmp_path / "p", {path: text}, GOOSE)
    assert [(f["code"], f["path"], f["line"], f["column"]) for f in report["findings"]] == [
        ("VC101", path, 12, 22)
    ]


def test_dbmate_syntax_error_in_the_down_section_reports_the_line_in_the_file(
    tmp_path: Path,
) -> None:
    path = "db/migrations/20240102120000_add_email.sql"
    text = (
        "-- migrate:up\nALTER TABLE users ADD COLUMN email text;\n\n"
        "-- migrate:down transaction:false\nALTER TABLE users DROP COLUMN email,;\n"
    )
    report = check(tmp_path / "p", {path: text}, DBMATE)
    assert [(f["code"], f["line"], f["column"]) for f in report["findings"]] == [("VC101", 5, 37)]


def test_markers_almost_migration_names_and_go_migrations_are_vc005_go_helpers_are_not(
    tmp_path: Path,
) -> None:
    files = {
        **goose_tree(),
        "sql/schema/00002_add.go": GO_MIGRATION,
        "sql/schema/00002_add_test.go": "package migrations\n",  # goose skips Go tests
        "sql/schema/v6_add_email.sql": goose("emails"),
        "sql/schema/00007-add-phone.sql": goose("phones"),
    }
    report = check(tmp_path / "p", files, GOOSE)
    assert found(report) == [
        ("VC005", "sql/schema/00002_add.go"),
        ("VC005", "sql/schema/00007-add-phone.sql"),
        ("VC005", "sql/schema/v6_add_email.sql"),
    ]


# ---------------------------------------------------------------------------------------
# layout = "auto"


def auto(migrations: str, rollbacks: str = "database/rollback") -> str:
    return config("auto", migrations, rollbacks)


AUTO_TREES: dict[str, tuple[str, Files, str]] = {
    "split": (
        auto("database/migrations"),
        split_pair("1", "Users", "users"),
        "database/migrations",
    ),
    "flyway": (auto(FLYWAY_DIR), flyway_tree(), FLYWAY_DIR),
    "updown-golang-migrate": (
        auto("db/migrations"),
        golang_pair("000001", "create_users_table", "users"),
        "db/migrations",
    ),
    "updown-diesel": (auto("migrations"), diesel_tree(), "migrations"),
    "markers-dbmate": (
        auto("db/migrations"),
        {"db/migrations/20151129054053_create_users.sql": dbmate("users")},
        "db/migrations",
    ),
    "markers-goose": (auto("sql/schema"), goose_tree(), "sql/schema"),
}


@pytest.mark.parametrize("name", list(AUTO_TREES))
def test_auto_detects_the_layout_of_a_real_tree(tmp_path: Path, name: str) -> None:
    """The VC005 message names the layout `auto` chose; the rest of the tree pairs up."""
    cfg, files, folder = AUTO_TREES[name]
    report = check(tmp_path / "p", {**files, f"{folder}/v9_typo.sql": "SELECT 1;\n"}, cfg)
    assert found(report) == [("VC005", f"{folder}/v9_typo.sql")]
    layout = name.split("-")[0]
    assert f"does not follow the {layout} layout's naming" in messages(report, "VC005")[0]


def test_auto_is_markers_when_the_folder_holds_goose_go_migrations(tmp_path: Path) -> None:
    """A goose project whose first migrations are Go: VC005 names them as goose's."""
    files = {"sql/schema/00001_seed_admins.go": GO_MIGRATION, "sql/schema/main.go": "package m\n"}
    report = check(tmp_path / "p", files, auto("sql/schema"))
    assert found(report) == [("VC005", "sql/schema/00001_seed_admins.go")]
    assert "goose Go migration" in messages(report, "VC005")[0]


def test_auto_is_flyway_when_the_rollbacks_folder_holds_no_files(tmp_path: Path) -> None:
    files = split_pair("1", "Users", "users")
    files = {p: t for p, t in files.items() if p.startswith("database/migrations/")}
    report = check(tmp_path / "p", files, auto("database/migrations"))
    assert messages(report, "VC001") == [
        "migration 1 has no rollback script; add database/migrations/U1__Users.sql."
    ]


def test_auto_is_split_when_one_shared_folder_holds_rollback_files(tmp_path: Path) -> None:
    files = {
        "db/V1__Users.sql": table("users")[0],
        "db/V1__Users_rollback.sql": table("users")[1],
        "db/V2__Orders.sql": table("orders")[0],
    }
    report = check(tmp_path / "p", files, auto("db", "db"))
    assert messages(report, "VC001") == [
        "migration 2 has no rollback script; add db/V2__Orders_rollback.sql."
    ]


# ---------------------------------------------------------------------------------------
# a few hundred migrations per layout, as real repositories grow them

COUNT = 240


def generated_split() -> Files:
    files: Files = {"database/migrations/README.md": "How we write migrations.\n"}
    for i in range(COUNT):
        files.update(split_pair(f"{1 + i // 100}.{i // 10 % 10}.{i % 10}", f"Step_{i}", f"t{i}"))
    return files


def generated_flyway() -> Files:
    files = flyway_tree()
    for i in range(COUNT):
        version = f"3_{i}" if i % 3 == 0 else f"3.{i}" if i % 3 == 1 else f"3.{i}.0"
        up, down = table(f"t{i}")
        files[fly(f"V{version}__Step_{i}.sql")] = up
        files[fly(f"U3.{i}__Step_{i}.sql")] = down
        if i % 40 == 0:
            files[fly(f"R__View_{i}.sql")] = f"CREATE OR REPLACE VIEW v{i} AS SELECT 1 AS one;\n"
            files[fly(f"V{version}__Step_{i}.sql.conf")] = "executeInTransaction=true\n"
    return files


def generated_golang_migrate() -> Files:
    files: Files = {"db/migrations/README.md": "golang-migrate files.\n"}
    for i in range(1, COUNT + 1):
        files.update(golang_pair(f"{i:06d}", f"step_{i}", f"t{i}"))
    return files


def generated_diesel() -> Files:
    files = diesel_tree()
    start = datetime(2018, 1, 1, 9, 0, 0)
    for i in range(COUNT):
        stamp = start + timedelta(hours=7 * i, seconds=i)
        spelled = stamp.strftime(("%Y%m%d%H%M%S", "%Y-%m-%d-%H%M%S", "%Y-%m-%d-%H%M%S-")[i % 3])
        spelled += f"{i % 16:04x}" if i % 3 == 2 else ""
        files.update(diesel_folder(f"{spelled}_step_{i}", f"t{i}"))
        if i % 25 == 0:
            files[f"migrations/{spelled}_step_{i}/metadata.toml"] = "run_in_transaction = false\n"
    return files


def generated_dbmate() -> Files:
    files: Files = {}
    start = datetime(2019, 5, 1, 8, 30, 0)
    for i in range(COUNT):
        stamp = (start + timedelta(minutes=13 * i)).strftime("%Y%m%d%H%M%S")
        options = " transaction:false" if i % 10 == 0 else ""
        files[f"db/migrations/{stamp}_step_{i}.sql"] = dbmate(f"t{i}", options)
    return files


def generated_goose() -> Files:
    files = goose_tree()
    for i in range(5, COUNT + 5):
        path = f"sql/schema/{i:05d}_step_{i}"
        if i % 7 == 0:
            files[path + ".sql"] = PLPGSQL_GOOSE.replace("touch_updated_at", f"touch_{i}")
        elif i % 11 == 0:
            files[path + ".sql"] = GOOSE_NO_TX.replace("users_created_at_idx", f"idx_{i}")
        else:
            files[path + ".sql"] = goose(f"t{i}")
    return files


GENERATED: dict[str, tuple[str, Callable[[], Files]]] = {
    "split": (SPLIT, generated_split),
    "flyway": (FLYWAY, generated_flyway),
    "updown-golang-migrate": (GOLANG, generated_golang_migrate),
    "updown-diesel": (DIESEL, generated_diesel),
    "markers-dbmate": (DBMATE, generated_dbmate),
    "markers-goose": (GOOSE, generated_goose),
}


@pytest.mark.parametrize("name", list(GENERATED))
def test_a_few_hundred_migrations_check_clean(tmp_path: Path, name: str) -> None:
    cfg, build = GENERATED[name]
    files = build()
    report = check_uncommitted(tmp_path / "p", files, cfg)
    scripts = [p for p in files if p.endswith(".sql") and "/seed/" not in p]
    scripts = [p for p in scripts if not p.endswith(("helpers.sql", "afterMigrate.sql"))]
    assert (found(report), report["files_checked"]) == ([], len(scripts))


@pytest.mark.parametrize("name", list(GENERATED))
def test_auto_detects_the_layout_of_a_few_hundred_migrations(tmp_path: Path, name: str) -> None:
    cfg, build = GENERATED[name]
    cfg = re.sub(r'layout = "\w+"', 'layout = "auto"', cfg)
    assert found(check_uncommitted(tmp_path / "p", build(), cfg)) == []
