"""`vcsync check`: scope, directives, baseline, history against real refs, output formats."""

from __future__ import annotations

import json
from pathlib import Path
from xml.etree import ElementTree

import pytest

from tests.helpers import commit, git, make_repo, vcsync, write

UP = "database/migrations/V1__create_users.sql"
DOWN = "database/rollback/V1__create_users_rollback.sql"
GOOD = {UP: "CREATE TABLE users (id bigint PRIMARY KEY);\n", DOWN: "DROP TABLE users;\n"}
V2 = "database/migrations/V2__add_email.sql"
V2_DOWN = "database/rollback/V2__add_email_rollback.sql"
EMAIL = {
    V2: "ALTER TABLE users ADD COLUMN email text;\n",
    V2_DOWN: "ALTER TABLE users DROP COLUMN email;\n",
}


def codes(run_stdout: str) -> list[tuple[str, str]]:
    return [(f["path"], f["code"]) for f in json.loads(run_stdout)["findings"]]


@pytest.fixture
def cloned(tmp_path: Path) -> Path:
    """A developer's clone of a bare origin whose main holds V1 and V2."""
    upstream = make_repo(tmp_path / "upstream", {**GOOD, **EMAIL})
    git(tmp_path, "init", "-q", "--bare", "origin.git")
    git(upstream, "push", "-q", str(tmp_path / "origin.git"), "main")
    git(tmp_path, "clone", "-q", str(tmp_path / "origin.git"), "clone")
    return tmp_path / "clone"


def test_a_clean_tree_exits_0_with_a_summary_on_stderr(repo: Path) -> None:
    write(repo, GOOD)
    run = vcsync(repo, "check")
    assert (run.exit_code, run.stdout) == (0, "")
    assert "no findings (2 files checked)" in run.stderr


def test_text_findings_are_path_line_col_code_message_sorted(repo: Path) -> None:
    write(
        repo,
        {
            UP: "SELECT 1;\nCREATE TABLE t (a int,);\n",
            "database/migrations/V0__first.sql": "SELECT 1;\n",
        },
    )
    run = vcsync(repo, "check")
    assert run.exit_code == 1
    assert run.lines == [
        "database/migrations/V0__first.sql:1:1: VC001 migration 0 has no rollback script; "
        "add database/rollback/V0__first_rollback.sql.",
        "database/migrations/V1__create_users.sql:1:1: VC001 migration 1 has no rollback "
        "script; add database/rollback/V1__create_users_rollback.sql.",
        "database/migrations/V1__create_users.sql:2:23: VC101 PostgreSQL cannot parse this: "
        'syntax error at or near ")".',
    ]


def test_json_output_is_one_object_with_findings_and_files_checked(repo: Path) -> None:
    write(repo, {UP: "CREATE TABLE t (a int,);\n", DOWN: "DROP TABLE t;\n"})
    data = json.loads(vcsync(repo, "check", "--format", "json").stdout)
    assert data == {
        "findings": [
            {
                "code": "VC101",
                "severity": "error",
                "path": UP,
                "line": 1,
                "column": 23,
                "message": 'PostgreSQL cannot parse this: syntax error at or near ")".',
            }
        ],
        "files_checked": 2,
    }


def test_github_format_is_workflow_commands(repo: Path) -> None:
    write(repo, {UP: "CREATE TABLE t (a int,);\n", DOWN: "DROP TABLE t;\n"})
    run = vcsync(repo, "check", "--format", "github")
    assert run.lines == [
        f"::error file={UP},line=1,col=23,title=VC101::PostgreSQL cannot "
        'parse this: syntax error at or near ")".'
    ]


def test_sarif_format_carries_rule_metadata_and_regions(repo: Path) -> None:
    write(repo, {UP: "CREATE TABLE t (a int,);\n"})
    sarif = json.loads(vcsync(repo, "check", "--format", "sarif").stdout)
    assert sarif["version"] == "2.1.0"
    run = sarif["runs"][0]
    rules = run["tool"]["driver"]["rules"]
    assert {"VC001", "VC101", "VC201"} <= {r["id"] for r in rules}
    results = {(r["ruleId"], r["level"]) for r in run["results"]}
    assert results == {("VC001", "error"), ("VC101", "error")}
    for result in run["results"]:
        assert rules[result["ruleIndex"]]["id"] == result["ruleId"]
        location = result["locations"][0]["physicalLocation"]
        assert location["artifactLocation"]["uri"] == UP
        assert location["region"]["startLine"] == 1


def test_junit_format_has_a_failing_case_per_file_with_findings(repo: Path) -> None:
    write(repo, {**GOOD, **EMAIL, V2: "ALTER TABLE users ADD COLUMN email text,;\n"})
    root = ElementTree.fromstring(vcsync(repo, "check", "--format", "junit").stdout)
    suite = root.find("testsuite")
    assert suite is not None and suite.get("tests") == "4" and suite.get("failures") == "1"
    failing = [c for c in suite.iter("testcase") if c.find("failure") is not None]
    assert [c.get("name") for c in failing] == [V2]
    failure = failing[0].find("failure")
    assert failure is not None and failure.get("type") == "VC101"


def test_paths_limit_the_check_to_those_files(repo: Path) -> None:
    write(repo, {**GOOD, V2: "ALTER TABLE users ADD COLUMN email text,;\n"})
    assert vcsync(repo, "check", UP, DOWN).exit_code == 0
    assert {c for _p, c in codes(vcsync(repo, "check", "--format", "json", V2).stdout)} == {
        "VC001",
        "VC101",
    }


def test_staged_checks_the_index_not_the_work_tree(repo: Path) -> None:
    write(repo, GOOD)
    git(repo, "add", UP, DOWN)
    write(
        repo,
        {
            UP: "CREATE TABLE broken (;\n",  # unstaged edit: not what the commit holds
            V2: "ALTER TABLE users ADD COLUMN email text;\n",
        },
    )  # untracked: not staged
    run = vcsync(repo, "check", "--staged")
    assert run.exit_code == 0, run.stdout
    assert "2 files checked" in run.stderr
    git(repo, "add", V2)
    assert codes(vcsync(repo, "check", "--staged", "--format", "json").stdout) == [(V2, "VC001")]


def test_staged_with_nothing_staged_checks_nothing(repo: Path) -> None:
    write(repo, {V2: "not sql at all"})
    run = vcsync(repo, "check", "--staged")
    assert run.exit_code == 0 and "0 files checked" in run.stderr


def test_staged_works_in_a_repository_without_commits(tmp_path: Path) -> None:
    git(tmp_path, "init", "-q")
    write(tmp_path, {"vcsync.toml": "", UP: "CREATE TABLE t (;\n", DOWN: "DROP TABLE t;\n"})
    git(tmp_path, "add", "-A")
    run = vcsync(tmp_path, "check", "--staged")
    assert run.exit_code == 1 and run.lines[0].startswith(f"{UP}:1:17: VC101")


def test_staged_outside_git_is_one_sentence_exit_2(tmp_path: Path) -> None:
    write(tmp_path, {"vcsync.toml": "", **GOOD})
    run = vcsync(tmp_path, "check", "--staged")
    assert run.exit_code == 2 and "not inside a Git repository" in run.stderr


def test_ignore_directive_with_a_reason_silences_that_rule_for_that_file(repo: Path) -> None:
    write(
        repo,
        {
            UP: "-- vcsync: ignore VC101 -- vendor syntax our parser lacks\nFROB t;\n",
            DOWN: "DROP TABLE t;\n",
        },
    )
    assert vcsync(repo, "check").exit_code == 0


def test_ignore_directive_without_a_reason_is_vc103(repo: Path) -> None:
    write(repo, {UP: "CREATE TABLE t (a int);\n-- vcsync: ignore VC101\n", DOWN: "DROP TABLE t;\n"})
    run = vcsync(repo, "check")
    assert run.exit_code == 1
    assert run.lines == [
        f"{UP}:2:1: VC103 `vcsync: ignore` needs a reason after a second `--`, "
        "e.g. `-- vcsync: ignore … -- why`."
    ]


def test_unknown_directive_is_vc103(repo: Path) -> None:
    write(
        repo, {UP: "  -- vcsync: no-transation\nCREATE TABLE t (a int);\n", DOWN: "DROP TABLE t;\n"}
    )
    assert vcsync(repo, "check").lines == [
        f"{UP}:1:3: VC103 unknown directive `vcsync: no-transation`; use no-transaction, "
        "ignore or irreversible."
    ]


def test_irreversible_rollback_is_not_vc006(repo: Path) -> None:
    write(
        repo,
        {
            UP: "DELETE FROM audit WHERE created < now() - interval '7 years';\n",
            DOWN: "-- vcsync: irreversible -- deleted rows are gone; restore from backup\n",
        },
    )
    assert vcsync(repo, "check").exit_code == 0
    write(repo, {DOWN: "-- nothing to do\n"})
    assert codes(vcsync(repo, "check", "--format", "json").stdout) == [(DOWN, "VC006")]


def test_placeholders_are_masked_before_parsing(repo: Path) -> None:
    write(
        repo,
        {
            UP: "CREATE TABLE ${schema}.users (id int);\nGRANT SELECT ON "
            "${schema}.users TO ${reader};\n",
            DOWN: "DROP TABLE ${schema}.users;\n",
        },
    )
    assert vcsync(repo, "check").exit_code == 0


def test_valid_postgresql_that_other_parsers_reject_is_not_blocked(repo: Path) -> None:
    write(
        repo,
        {
            UP: "DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'app') "
            "THEN CREATE ROLE app; END IF; END $$;\n"
            "CREATE POLICY own ON users USING (owner = current_user);\n"
            "CREATE FUNCTION touch() RETURNS trigger LANGUAGE plpgsql AS $f$\n"
            "BEGIN NEW.updated := now(); RETURN NEW; END $f$;\n"
            "CREATE TRIGGER t BEFORE UPDATE ON users FOR EACH ROW EXECUTE FUNCTION touch();\n",
            DOWN: "DROP TRIGGER t ON users;\nDROP FUNCTION touch();\nDROP POLICY own ON users;\n",
        },
    )
    assert vcsync(repo, "check").exit_code == 0


def test_other_dialects_parse_with_sqlglot(tmp_path: Path) -> None:
    repo = make_repo(
        tmp_path / "p",
        {
            UP: "CREATE TABLE t (id INT AUTO_INCREMENT PRIMARY KEY) ENGINE=InnoDB;\n",
            DOWN: "DROP TABLE t;\n",
        },
        config='[tool.vcsync]\ndialect = "mysql"\n',
    )
    assert vcsync(repo, "check").exit_code == 0
    write(repo, {UP: "CREATE TABLE t (id INT,\nSELECT FROM WHERE;\n"})
    run = vcsync(repo, "check")
    assert run.exit_code == 1 and " VC101 mysql cannot parse this" in run.stdout


def test_baseline_exempts_adopted_history_from_file_rules_but_not_syntax(tmp_path: Path) -> None:
    files = {UP: "CREATE TABLE t (a int,);\n", V2: "CREATE TABLE u (a int);\n"}
    repo = make_repo(tmp_path / "p", files, config='[tool.vcsync]\nbaseline = "1"\n')
    assert codes(vcsync(repo, "check", "--format", "json").stdout) == [(UP, "VC101"), (V2, "VC001")]


def test_modified_applied_migration_is_vc201(cloned: Path) -> None:
    write(cloned, {UP: "CREATE TABLE users (id bigint PRIMARY KEY, name text);\n"})
    run = vcsync(cloned, "check")
    assert run.exit_code == 1
    assert run.lines[0].startswith(
        f"{UP}:1:1: VC201 migration 1 was modified after it reached origin/main (checksum "
    )


def test_crlf_checkout_of_an_applied_migration_is_not_a_change(cloned: Path) -> None:
    write(cloned, {UP: "CREATE TABLE users (id bigint PRIMARY KEY);\r\n"})
    assert vcsync(cloned, "check").exit_code == 0


def test_deleted_and_renamed_applied_migrations_are_vc202(cloned: Path) -> None:
    (cloned / V2).rename(cloned / "database/migrations/V2__add_mail.sql")
    (cloned / UP).unlink()
    (cloned / DOWN).unlink()
    run = vcsync(cloned, "check")
    assert run.lines == [
        f"{UP}:1:1: VC202 migration 1 exists on origin/main but was deleted; restore it as it "
        "was (databases that applied it still expect it).",
        f"{V2}:1:1: VC202 migration 2 exists on origin/main but was renamed to "
        "database/migrations/V2__add_mail.sql; restore it as it was (databases that applied "
        "it still expect it).",
    ]


def test_staged_deletion_of_an_applied_migration_is_blocked(cloned: Path) -> None:
    git(cloned, "rm", "-q", V2, V2_DOWN)
    assert codes(vcsync(cloned, "check", "--staged", "--format", "json").stdout) == [(V2, "VC202")]


def test_new_migration_below_the_base_highest_is_vc004(cloned: Path) -> None:
    write(
        cloned,
        {
            "database/migrations/V1.5__add_name.sql": "ALTER TABLE users ADD name text;\n",
            "database/rollback/V1.5__add_name_rollback.sql": "ALTER TABLE users DROP name;\n",
        },
    )
    git(cloned, "add", "-A")
    run = vcsync(cloned, "check", "--staged")
    assert run.lines == [
        "database/migrations/V1.5__add_name.sql:1:1: VC004 version 1.5 is not "
        "above 2, the highest on origin/main; renumber it to 3 or later."
    ]


def test_a_release_tag_guards_history_too(cloned: Path) -> None:
    git(cloned, "tag", "-a", "v1.0.0", "-m", "release")
    write(cloned, {V2: "ALTER TABLE users ADD COLUMN email varchar(320);\n"})
    commit(cloned, "edit an applied migration")
    git(cloned, "push", "-q", "origin", "main")  # the base ref now agrees; the tag does not
    git(cloned, "fetch", "-q")
    run = vcsync(cloned, "check")
    assert (
        run.exit_code == 1
        and "VC201 migration 2 was modified after it reached v1.0.0" in run.stdout
    )


def test_a_missing_base_ref_names_the_fetch_to_run(cloned: Path) -> None:
    run = vcsync(cloned, "check", "--base", "upstream/release")
    assert run.exit_code == 2
    assert run.stderr == (
        "vcsync: base ref upstream/release is not in this clone; run "
        "`git fetch upstream release`.\n"
    )


def test_the_default_base_ref_missing_is_a_note_not_a_failure(repo: Path) -> None:
    write(repo, GOOD)
    run = vcsync(repo, "check")
    assert run.exit_code == 0
    assert (
        "note: VC004 and VC2xx skipped for origin/main: it is not in this clone; run "
        "`git fetch origin main`." in run.stderr
    )


def test_shallow_clone_checks_history_and_hints_depth(cloned: Path, tmp_path: Path) -> None:
    git(tmp_path, "clone", "-q", "--depth", "1", f"file://{tmp_path / 'origin.git'}", "shallow")
    shallow = tmp_path / "shallow"
    write(shallow, {V2: "ALTER TABLE users ADD COLUMN email citext;\n"})
    assert "VC201" in vcsync(shallow, "check").stdout
    run = vcsync(shallow, "check", "--base", "origin/release")
    assert run.exit_code == 2
    assert "`git fetch --depth=1 origin release:refs/remotes/origin/release`" in run.stderr


def test_detached_head_is_checked_like_a_branch(cloned: Path) -> None:
    git(cloned, "checkout", "-q", "--detach")
    write(cloned, {V2: "ALTER TABLE users ADD COLUMN email citext;\n"})
    assert "VC201" in vcsync(cloned, "check").stdout


def test_a_path_that_does_not_exist_is_exit_2(repo: Path) -> None:
    write(repo, GOOD)
    run = vcsync(repo, "check", "database/migrations/V9__nope.sql")
    assert run.exit_code == 2 and run.stderr == (
        "vcsync: database/migrations/V9__nope.sql does not exist.\n"
    )


def test_an_unreadable_migration_is_one_sentence_exit_2(repo: Path) -> None:
    write(repo, GOOD)
    (repo / V2).symlink_to(repo / "nowhere.sql")
    run = vcsync(repo, "check")
    assert run.exit_code == 2 and run.stderr == (
        f"vcsync: cannot read {V2}: No such file or directory.\n"
    )


def test_a_missing_migrations_folder_is_exit_2(tmp_path: Path) -> None:
    write(tmp_path, {"vcsync.toml": ""})
    run = vcsync(tmp_path, "check")
    assert (
        run.exit_code == 2
        and "the migrations folder database/migrations does not exist" in run.stderr
    )


@pytest.mark.parametrize(
    ("content", "line", "column", "what"),
    [
        (b"CREATE TABLE t (a int);\n\x00\x01\x02", 2, 1, "NUL byte"),
        (b"CREATE TABLE caf\xe9 (a int);\n", 1, 17, "not valid UTF-8"),
        (b"<<<<<<< HEAD\nCREATE TABLE t (a int);\n=======\n", 1, 1, "merge-conflict marker"),
    ],
)
def test_binary_and_broken_text_is_vc102(
    repo: Path, content: bytes, line: int, column: int, what: str
) -> None:
    write(repo, {UP: content, DOWN: "DROP TABLE t;\n"})
    data = json.loads(vcsync(repo, "check", "--format", "json").stdout)
    first = data["findings"][0]
    assert (first["code"], first["line"], first["column"]) == ("VC102", line, column)
    assert what in first["message"]


def test_a_script_above_max_parse_bytes_skips_vc101_with_a_note(tmp_path: Path) -> None:
    big = "INSERT INTO t VALUES (1);\n" * 100 + "THIS IS NOT SQL;\n"
    repo = make_repo(
        tmp_path / "p",
        {UP: big, DOWN: "DROP TABLE t;\n"},
        config="[tool.vcsync]\nmax_parse_bytes = 1000\n",
    )
    run = vcsync(repo, "check")
    assert run.exit_code == 0
    assert f"note: {UP}: VC101 skipped: 2,617 bytes is above max_parse_bytes (1,000)." in run.stderr
    assert "VC301-VC311 did not read it either; raise max_parse_bytes" in run.stderr
