"""Secret leaks: does a password reach output, a ledger row or pg_stat_activity, on any path?

Why: libpq, not urllib, decides what a PostgreSQL URL's password is. When vcsync redacted
URLs its own way, a password with an unencoded `#`, `?`, `/` or `@` was printed by
migrate/rollback/history, showed in pg_stat_activity.query and was written into the
`target` column of every ledger row, hashed into the chain where it can never be
scrubbed. This tries every (password x URL form x command x output format) path against
a real server, with the console script as a user runs it, and counts the paths where a
password shows: raw, percent-decoded or percent-encoded, or as what is left of it in a
URL that is more than a bare identity (`postgresql://USER@HOST:PORT/DBNAME`). A URL that
libpq cannot use must fail in one sentence that quotes none of it; that is a path too.

Paths: each command run (its stdout and stderr), each project's ledger (every column of
every table in version_control, cast to text) and each project's pg_stat_activity (query
and application_name, polled from another session all along).

    python bench/secret_leaks.py [--server postgresql://postgres@127.0.0.1:5432/postgres]
        [--jobs 2] [--work DIR] [--show 10]

Prints a table per URL form, then `leaks: N of M paths`; exits 1 when N > 0.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import NamedTuple
from urllib.parse import quote, unquote

import psycopg
from _repo import (
    MIGRATIONS,
    ROLLBACKS,
    bench_parser,
    clean_env,
    git,
    init_project,
    migration,
    real_python,
    real_vcsync,
    work_dir,
)
from psycopg import sql

PASSWORDS = [
    "pa#ss",
    "p?w=1",
    "p/w",
    "p@w",
    "S3cr3tPw%ZZ",
    "pw%23enc",
    "plain",
    "Hunter#2?x=y/z@w",
    "col:on:Pw",
    "sp ace Pw",
    "quo'te Pw",
    'dq"uotePw',
    "amp&Pw=1;x",
    "ünïcødéPw",
]
# A URL vcsync may show: a bare identity, nothing after the database name but a service.
IDENTITY = re.compile(
    r"postgresql://(?:[^\s:@/?#]+@)?[^\s@/?#]*(?:/[^\s:@/?#]*)?(?:\?service=[^\s&#]*)?"
)
# A redaction that leaves nothing of the password behind is no leak ("u:***@", "password=***").
REDACTED = re.compile(r":\*\*\*@|[?&]password=\*\*\*(?=&|$)")
URLS = re.compile(r"postgres(?:ql)?://[^\s'\"),]*")
DB_PREFIX = "vcsync_leak_"
# V1, slow enough for the watcher to see its transaction: pg_stat_activity.query holds only
# a query's first 1 kB (track_activity_query_size), so the batch's ledger rows must be early
SLEEPY = "CREATE TABLE sleepy (id integer);\nSELECT pg_sleep(0.2);\n"
COMMANDS = [  # each in text and in json
    ("migrate", "--env", "staging"),
    ("status",),
    ("history", "--env", "staging"),
    ("verify", "--env", "staging"),
    ("tag-release", "{tag}", "--env", "staging"),
    ("rollback", "--env", "staging", "--steps", "1", "--reason", "bench"),
]
ROUNDTRIP = [("verify", "--roundtrip", "--base", "base")]


class Form(NamedTuple):
    """Where the password goes. `url` makes the URL from (database URL, password), or None
    when the form cannot carry that password (TOML can't hold it unescaped)."""

    name: str
    url: Callable[[str, str], str | None]
    via_env: bool = False  # the URL goes in VCSYNC_LEAK_URL, the config says env:
    pgpassword: bool = False  # the password goes in PGPASSWORD
    scratch: bool = False  # the URL is scratch_url; staging is SQLite


def userinfo(url: str, password: str, user: str = "postgres") -> str:
    return url.replace("postgres@", f"{user}:{password}@", 1)


def toml_safe(url: str) -> str | None:
    return None if '"' in url or "\\" in url else url


def keyword(url: str, password: str) -> str:
    """libpq's keyword/value form, the password quoted as libpq reads it."""
    host_port, database = url.split("@", 1)[1].split("/", 1)
    host, port = host_port.split(":")
    escaped = password.replace("\\", "\\\\").replace("'", "\\'")
    return f"host={host} port={port} user=postgres dbname={database} password='{escaped}'"


FORMS = [
    Form("config userinfo", lambda u, p: toml_safe(userinfo(u, p))),
    Form("config ?password=", lambda u, p: toml_safe(f"{u}?password={p}")),
    Form("config encoded", lambda u, p: userinfo(u, quote(p, safe=""))),
    Form("env userinfo", userinfo, via_env=True),
    Form("env ?password=", lambda u, p: f"{u}?password={p}", via_env=True),
    Form("env keyword/value", keyword, via_env=True),
    Form("PGPASSWORD", lambda u, p: u, pgpassword=True),
    Form("wrong user", lambda u, p: userinfo(u, quote(p, safe=""), "nosuchrole")),
    Form("config keyword/value", lambda u, p: toml_safe(keyword(u, p))),
    Form("scratch_url userinfo", lambda u, p: toml_safe(userinfo(u, p)), scratch=True),
    Form("scratch_url ?password=", lambda u, p: toml_safe(f"{u}?password={p}"), scratch=True),
    Form("scratch_url env keyword", keyword, via_env=True, scratch=True),
]


class Tried(NamedTuple):
    """One path: where a password was looked for, and what showed (None: nothing)."""

    form: str
    password: str
    where: str  # the command, "ledger" or "pg_stat_activity"
    leaked: str | None  # what showed, or None


def forms_of(password: str) -> set[str]:
    return {password, unquote(password), quote(password, safe="")}


def leak_in(text: str, password: str) -> str | None:
    """The first sign of `password` in `text`: itself, or a URL that is not a bare identity."""
    for form in forms_of(password):
        if form in text:
            at = text.index(form)
            return text[max(0, at - 60) : at + len(form) + 20].replace("\n", " ")
    for url in URLS.findall(text):
        bare = re.sub(r"[.:;,]$", "", url)  # a sentence's punctuation
        if bare.endswith("://"):  # a scheme named in a message ("must start with …"), no URL
            continue
        bare = REDACTED.sub(lambda m: "@" if m[0].startswith(":") else "", bare)
        if not IDENTITY.fullmatch(bare):  # what is left of a password cut in two ("#ss")
            return url
    return None


@contextmanager
def watching(server: str) -> Iterator[set[tuple[str, str]]]:
    """(database, query + application_name) of every leak-bench session, seen meanwhile."""
    seen: set[tuple[str, str]] = set()
    stop = threading.Event()

    def watch() -> None:
        with psycopg.connect(server, autocommit=True) as conn:
            while not stop.is_set():
                rows = conn.execute(
                    "SELECT datname, coalesce(query, '') || ' ' || coalesce(application_name, '') "
                    "FROM pg_stat_activity WHERE pid <> pg_backend_pid() "
                    "AND (datname LIKE %s OR datname LIKE 'vcsync_scratch_%%')",
                    [f"{DB_PREFIX}%"],
                ).fetchall()
                seen.update(rows)
                time.sleep(0.005)

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    try:
        yield seen
    finally:
        stop.set()
        thread.join(5)


def ledger_text(url: str) -> str:
    with psycopg.connect(url, autocommit=True) as conn:
        tables = conn.execute(
            "SELECT table_name FROM information_schema.tables "
            "WHERE table_schema = 'version_control' ORDER BY 1"
        ).fetchall()
        return "\n".join(
            str(row[0])
            for (name,) in tables
            for row in conn.execute(
                sql.SQL("SELECT t::text FROM {} t").format(sql.Identifier("version_control", name))
            ).fetchall()
        )


def build(repo: Path, url_in_config: str, form: Form) -> None:
    """A committed project of four migrations (five with the round trip's new one)."""
    if form.scratch:
        init_project(repo, {"staging": "sqlite:///staging.db"})
        config = repo / "pyproject.toml"
        text = config.read_text("utf-8")
        scratch = f'layout = "split"\nscratch_url = "{url_in_config}"\n'
        config.write_text(text.replace('layout = "split"\n', scratch, 1), "utf-8")
    else:
        init_project(repo, {"staging": url_in_config})
    (repo / MIGRATIONS / "V1__sleepy.sql").write_text(SLEEPY, "utf-8")
    (repo / ROLLBACKS / "V1__sleepy_rollback.sql").write_text("DROP TABLE sleepy;\n", "utf-8")
    for n in (1, 2, 3):  # the bench's realistic migrations, as V2..V4
        desc, up, down = migration(n)
        (repo / MIGRATIONS / f"V{n + 1}__{desc}.sql").write_text(up, "utf-8")
        (repo / ROLLBACKS / f"V{n + 1}__{desc}_rollback.sql").write_text(down, "utf-8")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "migrations")
    git(repo, "branch", "base")
    if form.scratch:
        desc, up, down = migration(4)  # new on this branch: the round trip applies it
        (repo / MIGRATIONS / f"V5__{desc}.sql").write_text(up, "utf-8")
        (repo / ROLLBACKS / f"V5__{desc}_rollback.sql").write_text(down, "utf-8")


def try_group(
    vcsync: str, server: str, work: Path, index: int, form: Form, password: str
) -> tuple[list[Tried], str | None]:
    """Every command of one (form, password) in text and json, then its ledger; and the
    database the project deployed to (None: a round trip's scratch databases)."""
    base = server.rsplit("/", 1)[0]
    database = f"{DB_PREFIX}{uuid.uuid4().hex[:10]}"
    target = f"{base}/{database}"
    made = form.url(server if form.scratch else target, password)
    if made is None:
        return [], None
    env = {k: v for k, v in clean_env().items() if k != "PGPASSWORD"}
    if form.pgpassword:
        env["PGPASSWORD"] = password
    if form.via_env:
        env["VCSYNC_LEAK_URL"] = made
    repo = work / f"p{index}"
    build(repo, "env:VCSYNC_LEAK_URL" if form.via_env else made, form)
    if not form.scratch:
        with psycopg.connect(server, autocommit=True) as admin:
            admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database)))
    paths: list[Tried] = []
    try:
        for number, command in enumerate(ROUNDTRIP if form.scratch else COMMANDS):
            for fmt in ("text", "json"):
                args = [a.format(tag=f"v{number}{fmt}") for a in command]
                run = subprocess.run(
                    [vcsync, *args, "--format", fmt],
                    cwd=repo,
                    env=env,
                    capture_output=True,
                    text=True,
                    check=False,
                )
                where = f"{' '.join(args)} ({fmt})"
                if "Traceback" in run.stderr:  # not a leak, but not one sentence either
                    where += " TRACEBACK: " + run.stderr.strip().splitlines()[-1]
                paths.append(
                    Tried(form.name, password, where, leak_in(run.stdout + run.stderr, password))
                )
        if not form.scratch:
            try:
                ledger = ledger_text(target)
            except psycopg.Error:
                ledger = ""  # nothing was deployed (a URL that cannot connect)
            paths.append(
                Tried(form.name, password, f"ledger of {database}", leak_in(ledger, password))
            )
    finally:
        if not form.scratch:
            with psycopg.connect(server, autocommit=True) as admin:
                admin.execute(
                    sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                        sql.Identifier(database)
                    )
                )
    return paths, None if form.scratch else database


def own_tables(server: str) -> int:
    """Tables in the server's own database: a round trip must build in a scratch one."""
    with psycopg.connect(server, autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(*) FROM information_schema.tables "
            "WHERE table_schema NOT IN ('pg_catalog', 'information_schema')"
        ).fetchone()
    return int(row[0]) if row else 0


def main(argv: list[str] | None = None) -> int:
    parser = bench_parser(
        __doc__, runs=1, warmup=0, migrations=3, target="no path leaks", server=True
    )
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 2, help="projects at once")
    parser.add_argument("--show", type=int, default=10, help="leaks to print in full")
    parser.add_argument(
        "--password",
        action="append",
        help=f"try only this password (repeatable; default: all {len(PASSWORDS)})",
    )
    args = parser.parse_args(argv)
    vcsync = real_vcsync(args.vcsync, real_python(args.python))
    groups = [(form, password) for form in FORMS for password in args.password or PASSWORDS]
    start, tables_before = time.perf_counter(), own_tables(args.server)
    with (
        work_dir(args.work) as work,
        watching(args.server) as seen,
        ThreadPoolExecutor(args.jobs) as pool,
    ):
        results = list(
            pool.map(
                lambda job: try_group(vcsync, args.server, work, job[0], *job[1]),
                enumerate(groups),
            )
        )
    paths = [p for group, _ in results for p in group]
    skipped = 0
    # pg_stat_activity: one path per project, its own database's sessions (a round trip's
    # scratch databases have names of their own: every scratch session, for those)
    for (form, password), (group, database) in zip(groups, results, strict=True):
        if not group:
            skipped += 1
            continue
        texts = "\n".join(
            text
            for name, text in seen
            if name == database or (database is None and name.startswith("vcsync_scratch_"))
        )
        paths.append(Tried(form.name, password, "pg_stat_activity", leak_in(texts, password)))
    leaks = [p for p in paths if p.leaked is not None]
    by_form = Counter(p.form for p in paths)
    leaked_by_form = Counter(p.form for p in leaks)
    print(f"{'URL form':<26} {'paths':>6} {'leaks':>6}")
    for form in FORMS:
        print(f"{form.name:<26} {by_form[form.name]:>6} {leaked_by_form[form.name]:>6}")
    for p in leaks[: args.show]:
        print(f"  LEAK {p.form} / {p.password!r} / {p.where}: {p.leaked}")
    if len(leaks) > args.show:
        print(f"  … and {len(leaks) - args.show} more")
    crashed = [p for p in paths if " TRACEBACK: " in p.where]
    if crashed:
        print(f"{len(crashed)} runs ended in a traceback, e.g. {crashed[0].where}")
    watched = sum(1 for _, text in seen if "pg_sleep" in text)
    print(f"pg_stat_activity: {len(seen)} distinct entries seen, {watched} of a running migration")
    print(f"{skipped} (form, password) pairs skipped: a TOML string cannot hold them as written")
    if own_tables(args.server) != tables_before:
        print(
            f"WARNING: {args.server} gained tables: a round trip ran outside its scratch database"
        )
    print(f"took {time.perf_counter() - start:.0f} s")
    print(f"leaks: {len(leaks)} of {len(paths)} paths")
    return 1 if leaks else 0


if __name__ == "__main__":
    sys.exit(main())
