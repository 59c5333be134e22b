"""No password reaches output, a ledger row or the server's activity view, whatever it holds.

libpq decides what a URL's password is (an unencoded `#`, `?` or `:` stays in it; a `/`
or a second `@` ends it early), so vcsync must agree with libpq, not with urllib. Each
password below goes into a real project's `staging` URL, in the userinfo and as
`?password=`; the real CLI then migrates, reports, rolls back and verifies, and the test
looks for the password, raw and percent-decoded, in stdout and stderr, in every column of
every ledger table, and in `pg_stat_activity` as another session saw it during the run.
A URL libpq cannot use is one sentence naming the config key, exit 2.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import unquote

import pytest

from tests.helpers import Run, git, write
from tests.projects import Project, make_project, mig

IDENTITY = re.compile(r"postgresql://postgres@127\.0\.0\.1:5432/vcsync_(test|scratch)_[0-9a-f]+")
PASSWORDS = ["pa#ss", "p?w=1", "p/w", "p@w", "S3cr3tPw%ZZ", "pw%23enc", "plain"]


def in_userinfo(url: str, password: str) -> str:
    return url.replace("postgres@", f"postgres:{password}@")


def in_query(url: str, password: str) -> str:
    return f"{url}?password={password}"


FORMS: dict[str, Callable[[str, str], str]] = {"userinfo": in_userinfo, "query": in_query}
# What libpq makes of these (conninfo_to_dict, and connecting for real): a bad percent
# escape or a second "=" in a query value does not parse; in the userinfo "p/w" ends the
# authority at "/" (host "postgres", port "p") and "p@w" leaves the host "w@127.0.0.1".
UNUSABLE = {
    ("userinfo", "p/w"),
    ("userinfo", "p@w"),
    ("userinfo", "S3cr3tPw%ZZ"),
    ("query", "S3cr3tPw%ZZ"),
    ("query", "p?w=1"),
}
CASES = [(form, password) for form in FORMS for password in PASSWORDS]
USABLE = [case for case in CASES if case not in UNUSABLE]
# a migration slow enough for the watcher to see; applied alone (after `--to 3`), so its
# statements open the query text (pg_stat_activity.query keeps only the first 1 kB)
SLEEPY = mig(
    "4",
    "sleepy",
    "CREATE TABLE sleepy (id integer);\nSELECT pg_sleep(0.3);\n",
    "DROP TABLE sleepy;\n",
)
COMMANDS = [
    ("migrate", "--env", "staging", "--to", "3"),
    ("migrate", "--env", "staging"),
    ("status",),
    ("status", "--format", "json"),
    ("history", "--env", "staging"),
    ("history", "--env", "staging", "--format", "json"),
    ("verify", "--env", "staging"),
    ("verify", "--env", "staging", "--format", "json"),
    ("rollback", "--env", "staging", "--steps", "1", "--reason", "x"),
    ("migrate", "--env", "staging", "--format", "json"),
    ("rollback", "--env", "staging", "--steps", "1", "--reason", "x", "--format", "json"),
]


def forms_of(password: str) -> set[str]:
    """The password as written and as libpq decodes it."""
    return {password, unquote(password)}


def assert_absent(password: str, text: str, where: str) -> None:
    for form in forms_of(password):
        assert form not in text, f"{form!r} leaked into {where}: {text}"


def assert_only_identities(text: str, where: str) -> None:
    """Every URL in `text` is a target's identity: user, host, port and database, nothing
    after them (this catches a password cut in two, such as "pa" + "#ss")."""
    for url in re.findall(r"postgres(?:ql)?://[^\s'\"),]*", text):
        assert IDENTITY.fullmatch(url), f"{url!r} in {where} is not a bare target identity"


def one_sentence(run: Run) -> str:
    assert run.exit_code == 2, run.stdout + run.stderr
    assert "Traceback" not in run.stderr
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1, run.stderr
    assert lines[0].startswith("vcsync: ") and lines[0].endswith("."), lines[0]
    return lines[0]


def ledger_text(url: str) -> str:
    """Every row of every ledger table, each cast to text."""
    import psycopg
    from psycopg import sql

    with psycopg.connect(url, autocommit=True) as conn:
        tables = [
            name
            for (name,) in conn.execute(
                "SELECT table_name FROM information_schema.tables "
                "WHERE table_schema = 'version_control' ORDER BY 1"
            ).fetchall()
        ]
        assert "deployment_log" in tables
        rows = [
            row
            for name in tables
            for (row,) in conn.execute(
                sql.SQL("SELECT t::text FROM {} t").format(sql.Identifier("version_control", name))
            ).fetchall()
        ]
    return "\n".join(rows)


@contextmanager
def activity(server: str, database: str | None) -> Iterator[list[str]]:
    """What another session sees in pg_stat_activity (query, application_name) meanwhile:
    of `database`, or of every scratch database when None."""
    import psycopg

    seen: list[str] = []
    stop = threading.Event()
    pattern = database or "vcsync_scratch_%"

    def watch() -> None:
        with psycopg.connect(server, autocommit=True) as conn:
            while not stop.is_set():
                for query, name in conn.execute(
                    "SELECT query, application_name FROM pg_stat_activity "
                    "WHERE datname LIKE %s AND pid <> pg_backend_pid()",
                    [pattern],
                ).fetchall():
                    seen.append(f"{query}\n{name}")
                time.sleep(0.002)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        yield seen
    finally:
        stop.set()
        watcher.join(5)


def project_with(tmp_path: Path, url: str, extra: str = "") -> Project:
    project = make_project(tmp_path, "postgres", url, extra)
    write(project.path, SLEEPY)
    return project


@pytest.mark.parametrize(("form", "password"), USABLE)
def test_a_password_libpq_accepts_never_reaches_output_ledger_or_server(
    pg_server: str, pg_url: str, tmp_path: Path, form: str, password: str
) -> None:
    project = project_with(tmp_path, FORMS[form](pg_url, password))
    with activity(pg_server, pg_url.rsplit("/", 1)[1]) as seen:
        for command in COMMANDS:
            run = project.run(*command)
            assert run.exit_code in ((0, 1) if command[0] == "verify" else (0,)), run.stderr
            assert_absent(password, run.stdout + run.stderr, " ".join(command))
    assert any("pg_sleep" in text for text in seen), "the watcher saw no migration run"
    assert_absent(password, "\n".join(seen), "pg_stat_activity")
    assert_only_identities("\n".join(seen), "pg_stat_activity")
    ledger = ledger_text(pg_url)
    assert_absent(password, ledger, "the ledger")
    assert_only_identities(ledger, "the ledger")


@pytest.mark.parametrize(("form", "password"), sorted(UNUSABLE))
def test_a_url_libpq_cannot_use_exits_2_naming_the_key_without_the_password(
    pg_url: str, tmp_path: Path, form: str, password: str
) -> None:
    project = project_with(tmp_path, FORMS[form](pg_url, password))
    for command in COMMANDS:
        sentence = one_sentence(project.run(*command))
        assert sentence.startswith("vcsync: environments.staging.url is not a valid PostgreSQL URL")
        assert_absent(password, sentence, " ".join(command))


def test_a_bad_percent_escape_is_named_and_withheld(pg_url: str, tmp_path: Path) -> None:
    project = project_with(tmp_path, in_userinfo(pg_url, "S3cr3tPw%ZZ"))
    assert one_sentence(project.run("history", "--env", "staging")) == (
        "vcsync: environments.staging.url is not a valid PostgreSQL URL: "
        "invalid percent-encoded token (value withheld)."
    )


@pytest.mark.parametrize(("form", "password"), USABLE)
def test_the_target_is_named_by_libpqs_own_fields_without_a_secret(
    tmp_path: Path, form: str, password: str
) -> None:
    from vcsync.db.urls import target_for

    url = FORMS[form]("postgresql://postgres@127.0.0.1:5432/app", password)
    target = target_for("staging", url, tmp_path)
    assert target.dsn == url
    assert target.display == "postgresql://postgres@127.0.0.1:5432/app"


ROUNDTRIP = [  # (form, password, output format)
    ("userinfo", "pa#ss", "text"),
    ("userinfo", "p?w=1", "json"),
    ("userinfo", "pw%23enc", "text"),
    ("query", "p/w", "json"),
    ("query", "p@w", "text"),
]


def roundtrip_project(tmp_path: Path, scratch_url: str) -> Project:
    project = make_project(
        tmp_path, "sqlite", "sqlite:///staging.db", f'scratch_url = "{scratch_url}"\n'
    )
    git(project.path, "branch", "base")
    write(
        project.path,
        mig(
            "4",
            "status",
            "ALTER TABLE orders ADD COLUMN status text;\nSELECT pg_sleep(0.3);\n",
            "ALTER TABLE orders DROP COLUMN status;\n",
        ),
    )
    return project


@pytest.mark.parametrize(("form", "password", "fmt"), ROUNDTRIP)
def test_the_round_trip_on_a_scratch_url_with_a_password_shows_none_of_it(
    pg_server: str, tmp_path: Path, form: str, password: str, fmt: str
) -> None:
    project = roundtrip_project(tmp_path, FORMS[form](pg_server, password))
    with activity(pg_server, None) as seen:
        run = project.run("verify", "--roundtrip", "--base", "base", "--format", fmt)
    assert run.exit_code == 0, run.stdout + run.stderr
    assert_absent(password, run.stdout + run.stderr, f"verify --roundtrip ({fmt})")
    assert any("pg_sleep" in text for text in seen), "the watcher saw no migration run"
    assert_absent(password, "\n".join(seen), "pg_stat_activity")
    assert_only_identities("\n".join(seen), "pg_stat_activity")
    admin = make_project(tmp_path / "admin", "postgres", pg_server)
    assert admin.query("SELECT to_regclass('public.orders')") == [(None,)], "ran on the server's db"


@pytest.mark.parametrize(("form", "password"), [case[:2] for case in ROUNDTRIP])
def test_a_scratch_database_is_named_by_its_identity_and_is_the_one_created(
    pg_server: str, tmp_path: Path, form: str, password: str
) -> None:
    import psycopg

    from vcsync.config import parse_config
    from vcsync.scratch import scratch_database

    config = parse_config({"scratch_url": FORMS[form](pg_server, password)}, tmp_path / "x.toml")
    with (
        scratch_database(config) as (_, target),
        psycopg.connect(target.dsn, autocommit=True) as conn,
    ):
        (database,) = conn.execute("SELECT current_database()").fetchone() or ("",)
    assert database.startswith("vcsync_scratch_")
    assert target.display == f"postgresql://postgres@127.0.0.1:5432/{database}"


@pytest.mark.parametrize(
    ("form", "password"), [("userinfo", "S3cr3tPw%ZZ"), ("query", "p?w=1"), ("userinfo", "p@w")]
)
def test_a_scratch_url_libpq_cannot_use_exits_2_naming_the_key_without_the_password(
    pg_server: str, tmp_path: Path, form: str, password: str
) -> None:
    project = roundtrip_project(tmp_path, FORMS[form](pg_server, password))
    sentence = one_sentence(project.run("verify", "--roundtrip", "--base", "base"))
    assert sentence.startswith("vcsync: scratch_url is not a valid PostgreSQL URL")
    assert_absent(password, sentence, "verify --roundtrip")


def test_a_keyword_value_dsn_from_the_environment_is_named_without_its_password(
    pg_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    password = "kw pa#ss@w/rd"
    database = pg_url.rsplit("/", 1)[1]
    monkeypatch.setenv(
        "VCSYNC_TEST_DSN",
        f"host=127.0.0.1 port=5432 user=postgres dbname={database} password='{password}'",
    )
    monkeypatch.setenv("PGPASSWORD", "pgpw-S3cret")
    project = make_project(tmp_path, "postgres", "env:VCSYNC_TEST_DSN")
    for command in COMMANDS[:5]:
        run = project.run(*command)
        assert run.exit_code == 0, run.stderr
        for secret in (password, "pgpw-S3cret"):
            assert_absent(secret, run.stdout + run.stderr, " ".join(command))
    history = project.run("history", "--env", "staging").stdout
    assert f"postgresql://postgres@127.0.0.1:5432/{database}" in history
    for secret in (password, "pgpw-S3cret"):
        assert_absent(secret, ledger_text(pg_url), "the ledger")


def test_a_keyword_value_dsn_libpq_cannot_parse_is_withheld(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VCSYNC_TEST_DSN", "host=127.0.0.1 password='kw-S3cret")
    project = make_project(tmp_path, "postgres", "env:VCSYNC_TEST_DSN")
    sentence = one_sentence(project.run("migrate", "--env", "staging"))
    assert sentence.startswith("vcsync: environments.staging.url is not a valid PostgreSQL URL")
    assert "kw-S3cret" not in sentence


def test_connection_errors_withhold_the_password_libpq_parsed(pg_url: str, tmp_path: Path) -> None:
    """A role that does not exist: libpq's message names the role, never the password."""
    url = pg_url.replace("postgres@", "nosuchrole:pa#ss?x=1@")
    project = make_project(tmp_path, "postgres", url)
    sentence = one_sentence(project.run("migrate", "--env", "staging"))
    assert sentence.startswith("vcsync: cannot connect to postgresql://nosuchrole@127.0.0.1:")
    assert_absent("pa#ss?x=1", sentence, "the connection error")


def test_a_keyword_value_dsn_written_into_the_config_is_refused_without_its_password(
    tmp_path: Path,
) -> None:
    """The config's url takes URLs (or env:VAR); a libpq keyword string pasted there is
    refused, and the refusal must not quote it back."""
    project = make_project(tmp_path, "postgres", "host=127.0.0.1 password=S3cr3t#kv")
    run = project.run("migrate", "--env", "staging")
    assert run.exit_code == 2
    assert "got a value that is withheld" in run.stderr
    assert "S3cr3t" not in run.stdout + run.stderr
