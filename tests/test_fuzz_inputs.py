"""Whatever a user types or commits, vcsync answers with an exit code and a sentence.

The cases a fuzzer found (10,418 inputs, 9 distinct tracebacks) are pinned here one by one
through the real CLI, and a bounded hypothesis run keeps looking: random configs, file
names (bytes that are not UTF-8 included), file contents and arguments for `check`,
`status` and `migrate --dry-run` on SQLite. Exit codes are only 0, 1 or 2, and no output
holds a traceback.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from tests.helpers import SPLIT_CONFIG, Run, git, make_repo, vcsync, write

STAGING = '[tool.vcsync.environments.staging]\nurl = "{url}"\n'
ONE = {
    "database/migrations/V1__a.sql": "CREATE TABLE a (id integer);\n",
    "database/rollback/V1__a_rollback.sql": "DROP TABLE a;\n",
}


def sqlite_project(tmp_path: Path, url: str = "sqlite:///staging.db", extra: str = "") -> Path:
    config = SPLIT_CONFIG + extra + STAGING.format(url=url)
    return make_repo(tmp_path / "p", ONE, config=config)


def one_sentence(run: Run) -> str:
    """The error: one line on stderr starting `vcsync:`, no traceback anywhere."""
    assert "Traceback" not in run.stdout + run.stderr
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("vcsync: "), run.stderr
    return lines[0]


# --- SQL text ---------------------------------------------------------------------------


def test_a_script_ending_mid_statement_is_a_vc101_finding_in_the_commit_hook(
    tmp_path: Path,
) -> None:
    repo = make_repo(tmp_path / "p")
    write(
        repo,
        {
            "database/migrations/V1__a.sql": "SELECT (",
            "database/rollback/V1__a_rollback.sql": "SELECT 1;\n",
        },
    )
    git(repo, "add", "-A")
    run = vcsync(repo, "check", "--staged")
    assert run.exit_code == 1
    assert "database/migrations/V1__a.sql:1:9: VC101" in run.stdout


@pytest.mark.parametrize("dialect", ["sqlite", "mysql"])
def test_deeply_nested_parentheses_are_a_finding_not_a_recursion_error(
    tmp_path: Path, dialect: str
) -> None:
    config = f'{SPLIT_CONFIG}dialect = "{dialect}"\n'
    deep = "SELECT " + "(" * 45 + "1" + ")" * 45 + ";\n"
    files = {
        "database/migrations/V1__a.sql": deep,
        "database/rollback/V1__a_rollback.sql": "SELECT " + "(" * 300 + "1;\n",
    }
    repo = make_repo(tmp_path / "p", files, config=config)
    run = vcsync(repo, "check")
    assert run.exit_code in (0, 1), run.stderr
    assert "Traceback" not in run.stdout + run.stderr
    assert "database/rollback/V1__a_rollback.sql:1:1: VC101" in run.stdout
    assert "nests too deeply" in run.stdout


# --- options ----------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["inf", "nan", "1e308", "-1"])
def test_a_lock_timeout_that_is_not_a_finite_number_of_seconds_is_a_usage_error(
    tmp_path: Path, value: str
) -> None:
    repo = sqlite_project(tmp_path)
    run = vcsync(repo, "migrate", "--env", "staging", "--lock-timeout", value)
    assert run.exit_code == 2
    assert "--lock-timeout" in run.stderr and "Traceback" not in run.stderr
    assert not (repo / "staging.db").exists()


@pytest.mark.parametrize(
    "args",
    [
        ("check", "a" * 300),
        ("check", "database/" + "é" * 130 + ".sql"),
        ("check", "--config", "a" * 256),
    ],
    ids=["path", "utf8-path", "config"],
)
def test_a_path_argument_no_file_system_holds_is_a_usage_error(
    tmp_path: Path, args: tuple[str, ...]
) -> None:
    repo = make_repo(tmp_path / "p", ONE)
    run = vcsync(repo, *args)
    assert run.exit_code == 2
    assert "no file system holds one longer than 255" in run.stderr
    assert "Traceback" not in run.stderr


# --- SQLite targets ---------------------------------------------------------------------


def test_a_lock_file_that_cannot_be_written_fails_the_migrate_in_one_sentence(
    tmp_path: Path,
) -> None:
    repo = sqlite_project(tmp_path)
    (repo / "staging.db-vcsync.lock").mkdir()  # what open(O_RDWR) cannot write, even as root
    run = vcsync(repo, "migrate", "--env", "staging")
    assert run.exit_code == 1
    sentence = one_sentence(run)
    assert "staging.db-vcsync.lock" in sentence and "lock file" in sentence
    status = vcsync(repo, "status")
    assert status.exit_code in (0, 1) and "Traceback" not in status.stderr


def test_a_sqlite_url_whose_folder_is_a_file_fails_in_one_sentence(tmp_path: Path) -> None:
    repo = sqlite_project(tmp_path, "sqlite:///afile/staging.db")
    (repo / "afile").write_text("not a folder\n")
    run = vcsync(repo, "migrate", "--env", "staging")
    assert run.exit_code == 1
    assert "sqlite:///afile/staging.db" in one_sentence(run)


@pytest.mark.parametrize(
    "url", ["sqlite:///" + "a" * 300 + ".db", "sqlite:///a\\u0000b.db"], ids=["long", "nul"]
)
def test_a_sqlite_path_the_system_refuses_is_a_config_error(tmp_path: Path, url: str) -> None:
    repo = sqlite_project(tmp_path, url)
    for args in (("migrate", "--env", "staging"), ("status",), ("history", "--env", "staging")):
        run = vcsync(repo, *args)
        assert run.exit_code == 2, (args, run.stderr)
        assert "staging.url" in one_sentence(run)


def test_a_sqlite_path_from_the_environment_the_system_refuses_fails_in_one_sentence(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VCSYNC_FUZZ_URL", "sqlite:///" + "a" * 300 + ".db")
    repo = sqlite_project(tmp_path, "env:VCSYNC_FUZZ_URL")
    for command in (("migrate", "--env", "staging"), ("status",), ("history", "--env", "staging")):
        run = vcsync(repo, *command)
        assert run.exit_code == 2
        assert "names a file or folder of 303 bytes" in one_sentence(run)


# --- configuration ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "tool = 5\n",
        "[[tool.vcsync]]\nlayout = 'split'\n",
        "[tool]\nvcsync = 5\n",
        "[tool.vcsync]\nselect = ['VC999']\n",
        "[tool.vcsync]\nignore = ['VC9']\n",
    ],
    ids=["tool-int", "array-of-tables", "vcsync-int", "unknown-select", "unknown-prefix"],
)
@pytest.mark.parametrize("name", ["pyproject.toml", "vcsync.toml"])
def test_a_config_of_the_wrong_shape_is_a_config_error(
    tmp_path: Path, text: str, name: str
) -> None:
    repo = make_repo(tmp_path / "p")
    (repo / name).write_text(text)
    run = vcsync(repo, "check", "--config", name)
    assert run.exit_code == 2
    assert name in one_sentence(run)


@pytest.mark.parametrize("known", ["VC", "VC2", "VC101", "VC204", "VC0"])
def test_known_rule_codes_and_prefixes_are_accepted(tmp_path: Path, known: str) -> None:
    repo = make_repo(tmp_path / "p", ONE, config=f'{SPLIT_CONFIG}select = ["{known}"]\n')
    assert vcsync(repo, "check").exit_code in (0, 1)


@pytest.mark.parametrize(
    "text",
    [
        '[tool]\nvcsync = {layout = "flyway", migrations = "db"}\n',
        'tool.vcsync.layout = "flyway"\ntool.vcsync.migrations = "db"\n',
        '[tool."vcsync"]\nlayout = "flyway"\nmigrations = "db"\n',
    ],
    ids=["inline-table", "dotted-keys", "quoted-key"],
)
def test_every_toml_spelling_of_tool_vcsync_is_read(tmp_path: Path, text: str) -> None:
    repo = make_repo(
        tmp_path / "p",
        {"db/V1__a.sql": "CREATE TABLE a (id integer);\n", "db/U1__a.sql": "DROP TABLE a;\n"},
        config=text,
    )
    run = vcsync(repo, "check")
    assert run.exit_code == 0, run.stdout + run.stderr
    assert "(2 files checked)" in run.stderr + run.stdout


# --- file names -------------------------------------------------------------------------


def test_a_file_name_that_is_not_utf8_stops_check_and_migrate_naming_it(tmp_path: Path) -> None:
    repo = sqlite_project(tmp_path)
    folder = os.fsencode(repo / "database")
    with open(folder + b"/migrations/V2__caf\xe9.sql", "wb") as up:
        up.write(b"CREATE TABLE b (id integer);\n")
    with open(folder + b"/rollback/V2__caf\xe9_rollback.sql", "wb") as down:
        down.write(b"DROP TABLE b;\n")
    for args in (("check",), ("migrate", "--env", "staging"), ("status",)):
        run = vcsync(repo, *args)
        assert run.exit_code == 2, (args, run.stdout, run.stderr)
        assert "V2__caf\\xe9.sql" in one_sentence(run)
    git(repo, "add", "-A")
    staged = vcsync(repo, "check", "--staged")
    assert staged.exit_code == 2
    assert "V2__caf\\xe9.sql" in one_sentence(staged)


# --- repair -----------------------------------------------------------------------------


def test_repair_after_a_failed_repeatable_migration_was_deleted_records_it(
    tmp_path: Path,
) -> None:
    config = '[tool.vcsync]\nlayout = "flyway"\nmigrations = "db"\n' + STAGING.format(
        url="sqlite:///staging.db"
    )
    files = {
        "db/V1__a.sql": "CREATE TABLE a (id integer);\n",
        "db/U1__a.sql": "DROP TABLE a;\n",
        "db/R__view.sql": "INSERT INTO missing VALUES (1);\n",
    }
    repo = make_repo(tmp_path / "p", files, config=config)
    assert vcsync(repo, "migrate", "--env", "staging").exit_code == 1
    (repo / "db/R__view.sql").unlink()
    run = vcsync(repo, "repair", "--env", "staging", "--resolution", "pending")
    assert run.exit_code == 0, run.stderr
    assert "R__view" in run.stdout
    with sqlite3.connect(repo / "staging.db") as db:
        rows = db.execute(
            "SELECT s.status FROM version_control__schema_migration_h h "
            "JOIN version_control__schema_migration_s s USING (migration_hk) "
            "WHERE h.version = 'R__view' ORDER BY s.load_dts"
        ).fetchall()
    assert rows[-1] == ("rolled_back",)


# --- PostgreSQL: a lost connection names the command that recovers ------------------------


def test_a_lost_connection_names_the_command_that_recovers(pg_url: str, tmp_path: Path) -> None:
    files = {
        **ONE,
        "database/migrations/V2__gone.sql": "SELECT pg_terminate_backend(pg_backend_pid());\n",
        "database/rollback/V2__gone_rollback.sql": "SELECT 1;\n",
    }
    config = SPLIT_CONFIG + STAGING.format(url=pg_url)
    repo = make_repo(tmp_path / "p", files, config=config)
    run = vcsync(repo, "migrate", "--env", "staging")
    assert run.exit_code == 1
    sentence = one_sentence(run)
    assert "lost the connection to postgresql://" in sentence
    assert "run the same vcsync command again" in sentence
    assert "`vcsync status --env staging` shows where this one stopped" in sentence
    again = vcsync(repo, "migrate", "--env", "staging")  # V2 cuts itself off again, from V2
    assert again.exit_code == 1 and "lost the connection" in again.stderr
    assert "applied      1" not in again.stdout  # V1 committed the first time, not re-run


# --- the fuzzer -------------------------------------------------------------------------

WRONG_VALUES = st.one_of(
    st.integers(-(2**63), 2**63 - 1),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.text(max_size=20),
    st.lists(st.one_of(st.integers(), st.text(max_size=6)), max_size=3),
    st.dictionaries(st.text(max_size=6), st.integers(), max_size=2),
)
KEYS = st.sampled_from(
    [
        "migrations",
        "rollbacks",
        "layout",
        "dialect",
        "base_ref",
        "select",
        "ignore",
        "baseline",
        "scratch_url",
        "max_parse_bytes",
        "placeholders",
        "environments",
        "promotion",
        "postgres_version",
        "severity",
        "nonsense",
    ]
)


def _toml_value(value: object) -> str:
    import json
    import math

    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and math.isnan(value):
        return "nan"
    if isinstance(value, float) and math.isinf(value):
        return "inf" if value > 0 else "-inf"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        # a JSON string is a TOML basic string, once DEL (which JSON leaves bare) is escaped
        return json.dumps(value).replace("\x7f", "\\u007f")
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    assert isinstance(value, dict)
    pairs = (f"{_toml_value(str(k))} = {_toml_value(v)}" for k, v in value.items())
    return "{" + ", ".join(pairs) + "}"


@st.composite
def configs(draw: st.DrawFn) -> bytes:
    """A pyproject.toml: random text, the project's table with wrong values, or a valid one
    (half the time, so file names and contents get past the config)."""
    kind = draw(st.integers(0, 5))
    if kind == 0:
        return draw(st.binary(max_size=80) | st.text(max_size=80).map(str.encode))
    staging = STAGING.format(url="sqlite:///staging.db")
    if kind >= 3:
        dialect = draw(st.sampled_from(["postgres", "sqlite", "mysql", "tsql"]))
        return f'{SPLIT_CONFIG}dialect = "{dialect}"\n{staging}'.encode()
    table: dict[str, object] = {"migrations": "database/migrations", "layout": "split"}
    table.update(draw(st.dictionaries(KEYS, WRONG_VALUES, min_size=1, max_size=2)))
    heading = draw(st.sampled_from(["[tool.vcsync]", "[[tool.vcsync]]", "[tool.vcsync.x]"]))
    body = "".join(f"{k} = {_toml_value(v)}\n" for k, v in table.items())
    return f"{heading}\n{body}{'' if 'environments' in table else staging}".encode()


NAME_BYTES = st.one_of(
    st.text(min_size=1, max_size=12).map(str.encode), st.binary(min_size=1, max_size=12)
).map(lambda b: b.replace(b"/", b"_").replace(b"\0", b"_"))
FILE_NAMES = st.one_of(
    NAME_BYTES,
    st.builds(lambda v, d: b"V%d__%s.sql" % (v, d), st.integers(0, 10**20), NAME_BYTES),
    st.sampled_from([b"V2__caf\xe9.sql", b"R__\xff.sql", b"V3__a.sql", b"V3__a_rollback.sql"]),
)
CONTENTS = st.one_of(
    st.binary(max_size=120),
    st.text(max_size=120).map(lambda t: t.encode("utf-8", "surrogatepass")),
    st.sampled_from(
        [b"SELECT (", b"SELECT " + b"(" * 60, b"-- vcsync:no-transaction\nBEGIN;", b"${x}"]
    ),
)
ARGS = st.sampled_from(
    [
        ["check"],
        ["check", "--staged"],
        ["check", "--format", "json"],
        ["status"],
        ["status", "--format", "json"],
        ["migrate", "--env", "staging", "--dry-run"],
        ["report", "--format", "json"],
        ["metrics"],
    ]
)
PATH_ARGS = st.one_of(
    st.text(min_size=1, max_size=20).filter(lambda t: "\0" not in t),
    st.sampled_from(["database/migrations", "database/migrations/V1__a.sql", "a" * 300, "."]),
)
EXTRA_ARGS = st.lists(
    st.sampled_from(
        [
            "--lock-timeout",
            "nan",
            "inf",
            "1e308",
            "0",
            "--to",
            "V1",
            "--env",
            "nowhere",
            "-x",
            "--shard",
            "1/0",
            "--parallel",
            "-3",
            "--release",
            "--skip-promotion",
            "--fail-fast",
        ]
    ),
    max_size=2,
)


@settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    config=configs(),
    files=st.lists(st.tuples(st.booleans(), FILE_NAMES, CONTENTS), max_size=3),
    args=ARGS,
    extra=EXTRA_ARGS,
    paths=st.lists(PATH_ARGS, max_size=2),
    stage=st.booleans(),
)
def test_no_input_prints_a_traceback_or_an_unknown_exit_code(
    template: Path,
    tmp_path_factory: pytest.TempPathFactory,
    config: bytes,
    files: list[tuple[bool, bytes, bytes]],
    args: list[str],
    extra: list[str],
    paths: list[str],
    stage: bool,
) -> None:
    repo = tmp_path_factory.mktemp("fuzz") / "p"
    shutil.copytree(template, repo, symlinks=True)
    (repo / "pyproject.toml").write_bytes(config)
    for rollback, name, content in files:
        folder = os.fsencode(repo / "database" / ("rollback" if rollback else "migrations"))
        with open(folder + b"/" + name, "wb") as handle:
            handle.write(content)
    if stage:
        git(repo, "add", "-A")
    extra = extra if args[0] == "migrate" else [p for p in paths if args[0] == "check"]
    run = vcsync(repo, *args, *extra)
    event(f"{args[0]} exit {run.exit_code}")
    assert run.exit_code in (0, 1, 2), (args, extra, config, files, run.stderr)
    assert "Traceback" not in run.stdout + run.stderr


@pytest.fixture
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A committed project each example copies (git init once per run, not per example)."""
    return make_repo(tmp_path_factory.mktemp("template") / "p", ONE)
