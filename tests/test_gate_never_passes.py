"""The gate never passes a check it could not make (DESIGN §4): round trips that cannot
run, a missing base ref, and targets that cannot be reached are reported, never skipped."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from tests.helpers import SPLIT_CONFIG, commit, git, make_repo, vcsync, write
from tests.projects import BASE, mig

UNREACHABLE = "postgresql://postgres@127.0.0.1:1/nowhere"


def gate_project(tmp_path: Path, files: dict[str, str], extra: str = "") -> Path:
    """A split-layout project holding `files` on branch `base`, with `staging` on SQLite."""
    config = (
        f'{SPLIT_CONFIG}{extra}[tool.vcsync.environments.staging]\nurl = "sqlite:///staging.db"\n'
    )
    path = make_repo(tmp_path / "p", files, config=config)
    git(path, "branch", "base")
    return path


def roundtrip(path: Path, *args: str) -> tuple[int, list[str], str]:
    run = vcsync(path, "verify", "--roundtrip", "--base", "base", *args)
    return run.exit_code, run.lines, run.stderr


# -- the round trip --------------------------------------------------------------------


def test_older_migrations_that_do_not_apply_on_the_scratch_database_are_a_finding(
    tmp_path: Path,
) -> None:
    # PostgreSQL SQL (the default dialect) on the default SQLite scratch database.
    path = gate_project(
        tmp_path,
        mig(
            "1", "docs", "CREATE TABLE docs (body text DEFAULT '{}'::text);\n", "DROP TABLE docs;\n"
        ),
    )
    write(path, mig("2", "more", "CREATE TABLE more (a int);\n", "DROP TABLE more;\n"))
    code, lines, _ = roundtrip(path)
    assert code == 1
    assert any(
        line.startswith(
            "database/migrations/V1__docs.sql:1:1: VC401 the round trip could not run: "
            "migration 1 does not apply on a scratch database: "
        )
        and line.endswith('statement 1 of 1 failed: unrecognized token: ":"')
        for line in lines
    ), lines
    assert (
        "VC401 round trip: 1 migration, 0 tested, 0 irreversible, 0 failed, 1 not reached (2)."
        in lines
    )


def test_a_dialect_no_scratch_database_suits_is_one_finding_naming_scratch_url(
    tmp_path: Path,
) -> None:
    path = gate_project(
        tmp_path,
        mig("1", "a", "CREATE TABLE a (x int);\n", "DROP TABLE a;\n"),
        extra='dialect = "mysql"\n',
    )
    write(path, mig("2", "b", "CREATE TABLE b (x int);\n", "DROP TABLE b;\n"))
    code, lines, _ = roundtrip(path)
    assert code == 1
    [line] = [line for line in lines if "VC401" in line]
    assert line.startswith("VC401 the round trip could not run for 1 new migration (2): ")
    assert "set scratch_url" in line


def test_a_scratch_server_that_cannot_be_reached_is_a_finding_not_exit_2(tmp_path: Path) -> None:
    path = gate_project(
        tmp_path,
        mig("1", "a", "CREATE TABLE a (x int);\n", "DROP TABLE a;\n"),
        extra=f'scratch_url = "{UNREACHABLE}"\n',
    )
    write(path, mig("2", "b", "CREATE TABLE b (x int);\n", "DROP TABLE b;\n"))
    code, lines, stderr = roundtrip(path)
    assert code == 1, stderr
    assert any(
        line.startswith("VC401 the round trip could not run for 1 new migration (2): cannot create")
        for line in lines
    ), lines


def _branch_of_four(path: Path) -> None:
    write(
        path,
        {
            **mig(
                "2",
                "archive",
                "CREATE TABLE archive (x int);\n",
                "-- vcsync: irreversible -- archived rows cannot come back\n",
            ),
            **mig("3", "b", "CREATE TABLE b (x int);\n", "DROP TABLE b;\n"),
            **mig("4", "c", "CREATE TABLE IF NOT EXISTS c (x int);\n", "SELECT 1;\n"),
            **mig("5", "d", "CREATE TABLE d (x int);\n", "SELECT 1;\n"),
        },
    )


def test_an_irreversible_migration_is_skipped_and_every_other_one_is_tested(
    tmp_path: Path,
) -> None:
    path = gate_project(tmp_path, mig("1", "a", "CREATE TABLE a (x int);\n", "DROP TABLE a;\n"))
    _branch_of_four(path)
    code, lines, stderr = roundtrip(path)
    assert code == 1
    assert lines[0] == "VC401 round trip: 4 migrations, 3 tested, 1 irreversible, 2 failed."
    assert (
        "database/migrations/V4__c.sql:1:1: VC401 after 4 and its rollback the schema "
        "differs: + table c" in lines
    )
    assert "database/migrations/V5__d.sql:1:1: VC401 after 5 and its rollback the schema " in (
        "\n".join(lines)
    )
    assert (
        "note: round trip: 2 is declared irreversible (archived rows cannot come back), "
        "so it was applied but not rolled back." in stderr
    )


def test_ignore_vc401_in_a_migration_silences_its_round_trip_findings(tmp_path: Path) -> None:
    path = gate_project(tmp_path, mig("1", "a", "CREATE TABLE a (x int);\n", "DROP TABLE a;\n"))
    _branch_of_four(path)
    for n, name in (("4", "c"), ("5", "d")):
        rollback = path / f"database/rollback/V{n}__{name}_rollback.sql"
        rollback.write_text(
            "-- vcsync: ignore VC301, VC401 -- the table stays on purpose\n" + rollback.read_text()
        )
    code, lines, stderr = roundtrip(path)
    assert code == 0, lines
    assert not [line for line in lines if "VC401" in line]
    assert (
        "note: round trip: 4 migrations, 3 tested, 1 irreversible, 0 failed, 2 ignored." in stderr
    )


def test_ignore_vc401_in_the_config_silences_the_round_trip(tmp_path: Path) -> None:
    path = gate_project(
        tmp_path,
        mig("1", "a", "CREATE TABLE a (x int);\n", "DROP TABLE a;\n"),
        extra='ignore = ["VC301", "VC401"]\n',
    )
    _branch_of_four(path)
    code, lines, stderr = roundtrip(path)
    assert code == 0, lines
    assert "note: round trip not run: the config ignores VC401." in stderr


def test_a_clean_round_trip_says_what_it_tested(tmp_path: Path) -> None:
    path = gate_project(tmp_path, mig("1", "a", "CREATE TABLE a (x int);\n", "DROP TABLE a;\n"))
    write(path, mig("2", "b", "CREATE TABLE b (x int);\n", "DROP TABLE b;\n"))
    code, lines, stderr = roundtrip(path)
    assert code == 0 and lines == []
    assert "note: round trip: 1 migration, 1 tested, 0 irreversible, 0 failed" in stderr


def test_a_missing_rollback_is_a_finding_and_later_migrations_are_still_tested(
    tmp_path: Path,
) -> None:
    path = gate_project(tmp_path, mig("1", "a", "CREATE TABLE a (x int);\n", "DROP TABLE a;\n"))
    write(
        path,
        {
            "database/migrations/V2__b.sql": "CREATE TABLE b (x int);\n",
            **mig("3", "c", "CREATE TABLE c (x int);\n", "SELECT 1;\n"),
        },
    )
    code, lines, _ = roundtrip(path)
    assert code == 1
    assert (
        "database/migrations/V2__b.sql:1:1: VC401 migration 2 has no rollback script, so its "
        "round trip could not run; write one, or declare it `-- vcsync: irreversible -- why`."
        in lines
    )
    assert (
        "database/migrations/V3__c.sql:1:1: VC401 after 3 and its rollback the schema "
        "differs: + table c" in lines
    )
    assert "VC401 round trip: 2 migrations, 2 tested, 0 irreversible, 2 failed." in lines


def test_a_migration_that_does_not_apply_again_shows_the_server_error(tmp_path: Path) -> None:
    path = gate_project(tmp_path, mig("1", "a", "CREATE TABLE a (x int);\n", "DROP TABLE a;\n"))
    write(
        path,
        {
            **mig(
                "2",
                "t",
                "CREATE TABLE t (a int);\nCREATE TABLE t_log (b int);\n",
                "DROP TABLE t;\n",
            ),
            **mig("3", "u", "CREATE TABLE u (a int);\n", "DROP TABLE u;\n"),
        },
    )
    code, lines, _ = roundtrip(path)
    assert code == 1
    again = [line for line in lines if "does not apply again" in line]
    assert len(again) == 1 and again[0].startswith(
        "database/migrations/V2__t.sql:1:1: VC401 migration 2 does not apply again after its "
        "rollback: "
    )
    assert "t_log already exists" in again[0]
    assert "VC401 round trip: 2 migrations, 2 tested, 0 irreversible, 1 failed." in lines


FUNCTION = """\
CREATE FUNCTION total(a int, b int) RETURNS int LANGUAGE plpgsql AS $$
BEGIN
  -- line one
  -- line two
  -- line three
  RETURN a + b;
END;
$$;
"""


@pytest.fixture
def pg_scratch(pg_server: str) -> str:
    return f'scratch_url = "{pg_server}"\n'


def replaced_function_trip(
    tmp_path: Path, pg_scratch: str, old: str, restored: str
) -> tuple[int, list[str]]:
    """V1 creates total(); V2 replaces its body, and its rollback restores it with `old`
    rewritten as `restored`: the round trip's exit code and lines."""
    path = gate_project(
        tmp_path, mig("1", "f", FUNCTION, "DROP FUNCTION total(int, int);\n"), extra=pg_scratch
    )
    changed = FUNCTION.replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION")
    write(
        path,
        mig("2", "f2", changed.replace("a + b", "a + b + 1"), changed.replace(old, restored)),
    )
    code, lines, _ = roundtrip(path)
    return code, lines


def test_a_changed_function_is_a_short_unified_diff_of_its_body(
    tmp_path: Path, pg_scratch: str
) -> None:
    code, lines = replaced_function_trip(tmp_path, pg_scratch, "a + b", "b + a")
    assert code == 1
    start = lines.index(
        "database/migrations/V2__f2.sql:1:1: VC401 after 2 and its rollback the schema "
        "differs: ~ function public.total(a integer, b integer): definition"
    )
    assert lines[start + 1 : start + 8] == [
        "    --- before 2",
        "    +++ after its rollback",
        "    @@ -8,3 +8,3 @@",
        "       -- line three",
        "    -  RETURN a + b;",
        "    +  RETURN b + a;",
        "     END;",
    ]


def test_a_whitespace_only_change_to_a_function_is_no_difference(
    tmp_path: Path, pg_scratch: str
) -> None:
    code, lines = replaced_function_trip(
        tmp_path, pg_scratch, "  RETURN a + b;", "      RETURN   a + b;  "
    )
    assert code == 0, lines
    assert lines == []


def test_a_server_error_on_the_postgres_scratch_names_the_migration(
    tmp_path: Path, pg_scratch: str
) -> None:
    path = gate_project(
        tmp_path, mig("1", "a", "CREATE TABLE a (x int);\n", "DROP TABLE a;\n"), extra=pg_scratch
    )
    write(path, mig("2", "b", "ALTER TABLE missing ADD COLUMN y int;\n", "SELECT 1;\n"))
    code, lines, _ = roundtrip(path)
    assert code == 1
    assert any(
        line.startswith(
            "database/migrations/V2__b.sql:1:1: VC401 migration 2 does not apply on a scratch "
            "database: "
        )
        and 'relation "missing" does not exist' in line
        for line in lines
    ), lines


# -- a missing base ref ----------------------------------------------------------------


def _clone(tmp_path: Path, *options: str) -> Path:
    upstream = make_repo(
        tmp_path / "up", mig("1", "a", "CREATE TABLE a (x int);\n", "DROP TABLE a;\n")
    )
    git(upstream, "checkout", "-q", "-b", "feature")
    write(upstream, mig("2", "b", "CREATE TABLE b (x int);\n", "DROP TABLE b;\n"))
    commit(upstream, "feature")
    git(tmp_path, "clone", "-q", *options, "--branch", "feature", f"file://{upstream}", "ci")
    return tmp_path / "ci"


def test_a_missing_base_under_ci_fails_verify_with_the_fetch_for_a_single_branch_clone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    clone = _clone(tmp_path, "--single-branch")
    monkeypatch.setenv("CI", "true")
    run = vcsync(clone, "verify")
    assert run.exit_code == 2
    hint = "git fetch origin main:refs/remotes/origin/main"
    assert run.stderr == f"vcsync: base ref origin/main is not in this clone; run `{hint}`.\n"
    git(clone, *hint.split()[1:])  # the fetch it names does bring origin/main
    assert vcsync(clone, "verify").exit_code == 0


def test_a_missing_explicit_base_in_a_single_branch_clone_names_a_fetch_that_works(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CI", raising=False)
    clone = _clone(tmp_path, "--single-branch")
    run = vcsync(clone, "verify", "--base", "origin/main")
    assert run.exit_code == 2
    assert "`git fetch origin main:refs/remotes/origin/main`" in run.stderr


def test_a_missing_base_outside_ci_is_a_note(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CI", raising=False)
    clone = _clone(tmp_path, "--single-branch")
    run = vcsync(clone, "verify")
    assert run.exit_code == 0
    assert "note: VC004 and VC2xx skipped for origin/main" in run.stderr


# -- targets that cannot be reached ----------------------------------------------------


def fleet(tmp_path: Path, environments: str) -> Path:
    return make_repo(tmp_path / "p", BASE, config=SPLIT_CONFIG + environments)


TWO = (
    '[tool.vcsync.environments.staging]\nurl = "sqlite:///staging.db"\n'
    f'[tool.vcsync.environments.production]\nurl = "{UNREACHABLE}"\n'
)


def test_status_reports_reachable_targets_and_exits_1_for_an_unreachable_one(
    tmp_path: Path,
) -> None:
    path = fleet(tmp_path, TWO)
    assert vcsync(path, "migrate", "--env", "staging").exit_code == 0
    run = vcsync(path, "status")
    assert run.exit_code == 1
    assert run.lines[0].split() == ["version", "description", "staging", "production"]
    assert run.lines[1].split() == ["1", "customers", "applied", "unreachable"]
    assert "warning: production is unreachable: " in run.stderr


def test_status_with_an_unset_env_variable_reports_the_other_environments(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("VCSYNC_PROD_URL", raising=False)
    path = fleet(
        tmp_path,
        '[tool.vcsync.environments.staging]\nurl = "sqlite:///staging.db"\n'
        '[tool.vcsync.environments.production]\nurl = "env:VCSYNC_PROD_URL"\n',
    )
    assert vcsync(path, "migrate", "--env", "staging").exit_code == 0
    run = vcsync(path, "status")
    assert run.exit_code == 1, run.stderr
    assert run.lines[1].split() == ["1", "customers", "applied", "unreachable"]
    assert (
        "warning: production is unreachable: the environment variable VCSYNC_PROD_URL named by "
        "environments.production.url is not set." in run.stderr
    )
    data = json.loads(vcsync(path, "status", "--format", "json").stdout)
    assert [c["environment"] for c in data["environments"]] == ["staging", "production"]


def test_status_still_refuses_an_environment_the_config_does_not_name(tmp_path: Path) -> None:
    path = fleet(tmp_path, TWO)
    assert vcsync(path, "status", "--env", "nope").exit_code == 2


def test_verify_checks_every_environment_it_can_reach(tmp_path: Path) -> None:
    path = fleet(tmp_path, TWO)
    assert vcsync(path, "migrate", "--env", "staging").exit_code == 0
    write(path, {"database/migrations/V2__orders.sql": "CREATE TABLE orders (id int);\n"})
    commit(path, "edit an applied migration")
    run = vcsync(path, "verify", "--env", "production", "--env", "staging")
    assert run.exit_code == 1
    assert any(" VC204 migration 2 differs from what staging applied" in x for x in run.lines)
    assert any(
        line.startswith(
            "VC403 production (postgresql://postgres@127.0.0.1:1/nowhere) could not be reached: "
        )
        for line in run.lines
    ), run.lines


def test_history_shows_every_target_it_can_reach_and_marks_the_others(tmp_path: Path) -> None:
    path = fleet(
        tmp_path,
        f'[tool.vcsync.environments.staging]\nurls = ["sqlite:///staging.db", "{UNREACHABLE}"]\n',
    )
    with sqlite3.connect(path / "staging.db"):
        pass
    vcsync(path, "migrate", "--env", "staging")  # the unreachable target fails
    run = vcsync(path, "history", "--env", "staging")
    assert run.exit_code == 1
    assert run.lines[0] == "sqlite:///staging.db:"
    assert run.lines[2].split()[2:4] == ["migrate", "succeeded"]
    assert any(
        line.startswith("postgresql://postgres@127.0.0.1:1/nowhere: unreachable: ")
        for line in run.lines
    )


def test_a_shallow_clone_names_a_fetch_that_brings_the_base(tmp_path: Path) -> None:
    # `git clone --depth 1` is single-branch: `git fetch origin release` fills only FETCH_HEAD.
    upstream = make_repo(
        tmp_path / "up", mig("1", "a", "CREATE TABLE a (x int);\n", "DROP TABLE a;\n")
    )
    git(upstream, "branch", "release")
    commit(upstream, "second")
    git(tmp_path, "clone", "-q", "--depth", "1", f"file://{upstream}", "shallow")
    clone = tmp_path / "shallow"
    run = vcsync(clone, "verify", "--base", "origin/release")
    assert run.exit_code == 2
    hint = "git fetch --depth=1 origin release:refs/remotes/origin/release"
    assert f"`{hint}`" in run.stderr
    git(clone, *hint.split()[1:])
    assert vcsync(clone, "verify", "--base", "origin/release").exit_code == 0


def test_a_failing_rollback_shows_the_error_and_the_next_migration_is_still_tested(
    tmp_path: Path,
) -> None:
    path = gate_project(tmp_path, mig("1", "a", "CREATE TABLE a (x int);\n", "DROP TABLE a;\n"))
    write(
        path,
        {
            **mig("2", "b", "CREATE TABLE b (x int);\n", "DROP TABLE nothing_here;\n"),
            **mig("3", "c", "CREATE TABLE c (x int);\n", "SELECT 1;\n"),
        },
    )
    code, lines, _ = roundtrip(path)
    assert code == 1
    assert (
        "database/migrations/V2__b.sql:1:1: VC401 the rollback of 2 fails on a scratch "
        "database: statement 1 of 1 failed: no such table: nothing_here" in lines
    )
    assert (
        "database/migrations/V3__c.sql:1:1: VC401 after 3 and its rollback the schema "
        "differs: + table c" in lines
    )
    assert lines[0] == "VC401 round trip: 2 migrations, 2 tested, 0 irreversible, 2 failed."
