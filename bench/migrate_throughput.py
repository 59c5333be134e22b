"""Migrate throughput: `vcsync migrate` of 1,000 small migrations against `psql -1 -f`.

Why: DESIGN.md section 8 promises that `migrate` of 1,000 small migrations on a loopback
PostgreSQL takes at most 1.15x the time of `psql -1 -f` over the same scripts, although
vcsync runs each migration in its own transaction with its ledger rows and psql runs one
transaction and records nothing. This builds a Git repository of split-layout migrations,
each "a table, an index, a foreign key" (CREATE TABLE t{n} referencing t{n-1}, CREATE
INDEX on it), in SQL valid for PostgreSQL and SQLite alike, then times, each run on a
fresh database (created and dropped with psql, a CHECKPOINT before each run):

  a) psql -X -1 -q -v ON_ERROR_STOP=1 -f all.sql   the 1,000 up scripts concatenated
  b) vcsync migrate --env pg                       the console script, start-up included
  c) dbmate migrate                                when installed, or installable from npm
  d) vcsync migrate --env sqlite                   for information

and prints min / median per command, the client's CPU seconds (what the tool itself
costs, steadier than wall time on a shared machine) and the vcsync/psql ratio against
the target. Runs are interleaved, so a slow spell of the machine hits every command.
`--candidate DIR` also times a scratch copy of vcsync (DIR holds a `vcsync` package):
the way to measure a change before making it. `--profile` adds one run under cProfile
and prints where the time goes, the round trips (psycopg executes) and the transactions
the server committed. Timing is always time.perf_counter around subprocess.run (each run
needs a fresh database first), so --no-hyperfine changes nothing here.

    python bench/migrate_throughput.py [--runs 3] [--migrations 1000] [--work DIR]
        [--server postgresql://postgres@127.0.0.1:5432/postgres] [--profile]
"""

from __future__ import annotations

import json
import os
import pstats
import resource
import shutil
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from _repo import (
    MIGRATIONS,
    ROLLBACKS,
    Timing,
    bench_parser,
    clean_env,
    git,
    init_project,
    real_python,
    real_vcsync,
    work_dir,
)

TARGET = 1.15  # vcsync median / psql median
URL_VARIABLE = "VCSYNC_BENCH_PG_URL"
MARKER = ".vcsync-migrate-bench.json"


# --- the project ------------------------------------------------------------------------


def up_sql(n: int) -> str:
    """A table, an index, a foreign key: valid for PostgreSQL and SQLite alike."""
    parent = f"    parent_id bigint REFERENCES t{n - 1} (id),\n" if n > 1 else ""
    return (
        f"-- t{n}: one row per thing of kind {n}.\n"
        f"CREATE TABLE t{n} (\n"
        "    id bigint PRIMARY KEY,\n"
        f"{parent}"
        "    name text NOT NULL,\n"
        "    created_at timestamp DEFAULT CURRENT_TIMESTAMP\n"
        ");\n"
        f"CREATE INDEX t{n}_name_idx ON t{n} (name);\n"
    )


def down_sql(n: int) -> str:
    return f"DROP INDEX t{n}_name_idx;\nDROP TABLE t{n};\n"


def build_project(work: Path, count: int) -> Path:
    """`work`/repo (vcsync's project, committed), with all.sql and dbmate/ beside it."""
    params = {"count": count, "v": 1}
    marker, repo = work / MARKER, work / "repo"
    if marker.is_file() and json.loads(marker.read_text()) == params:
        return repo
    if marker.is_file():  # ours, with another count
        marker.unlink()
        for name in ("repo", "dbmate"):
            shutil.rmtree(work / name, ignore_errors=True)
    elif work.exists() and any(p.name != "npm" for p in work.iterdir()):
        raise SystemExit(
            f"{work} is not empty and was not made by this bench; give an empty or new folder."
        )
    init_project(repo, {"pg": f"env:{URL_VARIABLE}", "sqlite": "sqlite:///bench.db"})
    dbmate = work / "dbmate" / "migrations"
    dbmate.mkdir(parents=True)
    (repo / ".gitignore").write_text("bench.db*\n*.prof\n", "utf-8")
    scripts = []
    for n in range(1, count + 1):
        up, down = up_sql(n), down_sql(n)
        (repo / MIGRATIONS / f"V{n}__m{n}.sql").write_text(up, "utf-8")
        (repo / ROLLBACKS / f"V{n}__m{n}_rollback.sql").write_text(down, "utf-8")
        (dbmate / f"{n:06d}_m{n}.sql").write_text(
            f"-- migrate:up\n{up}\n-- migrate:down\n{down}", "utf-8"
        )
        scripts.append(up)
    (work / "all.sql").write_text("".join(scripts), "utf-8")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", f"migrations 1..{count}")
    marker.write_text(json.dumps(params))
    return repo


# --- databases ----------------------------------------------------------------------------


class Postgres:
    """Scratch databases on the server `admin_url` names, made and dropped with psql."""

    def __init__(self, psql: str, admin_url: str) -> None:
        self.psql, self.admin_url = psql, admin_url

    def url(self, database: str, scheme: str = "postgresql", query: str = "") -> str:
        parts = urlsplit(self.admin_url)
        return urlunsplit((scheme, parts.netloc, f"/{database}", query, ""))

    def sql(self, statement: str, database: str | None = None) -> str:
        url = self.url(database) if database else self.admin_url
        command = [self.psql, "-X", "-Atq", "-v", "ON_ERROR_STOP=1", "-d", url, "-c", statement]
        proc = subprocess.run(command, capture_output=True, text=True)
        if proc.returncode != 0:
            raise SystemExit(f"psql failed on {statement!r}: {proc.stderr.strip()}")
        return proc.stdout.strip()

    def fresh(self, database: str) -> None:
        """A new database, and a checkpoint so no run pays for the last one's dirty pages."""
        self.drop(database)
        self.sql(f'CREATE DATABASE "{database}"')
        self.sql("CHECKPOINT")

    def drop(self, database: str) -> None:
        self.sql(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')

    def tables(self, database: str) -> int:
        return int(
            self.sql(
                "SELECT count(*) FROM pg_tables WHERE schemaname = 'public' "
                "AND tablename ~ '^t[0-9]+$'",
                database,
            )
        )

    def commits(self, database: str) -> int:
        return int(
            self.sql(f"SELECT xact_commit FROM pg_stat_database WHERE datname = '{database}'")
        )


def fresh_sqlite(repo: Path) -> None:
    for path in repo.glob("bench.db*"):
        path.unlink()


def sqlite_tables(repo: Path) -> int:
    db = sqlite3.connect(repo / "bench.db")
    try:
        query = "SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name GLOB 't[0-9]*'"
        return int(db.execute(query).fetchone()[0])
    finally:
        db.close()


# --- dbmate -------------------------------------------------------------------------------


def find_dbmate(given: str | None, work: Path) -> tuple[str | None, str]:
    """The native dbmate binary (npm's `dbmate` is a node wrapper: node's start-up on top)."""
    if given:
        return given, "given"
    cached = sorted((work / "npm").glob("node_modules/@dbmate/*/bin/dbmate"))
    if cached:
        return str(cached[0]), "npm, in the work folder"
    found = shutil.which("dbmate")
    if found:
        return found, "PATH"
    npm = shutil.which("npm")
    if npm is None:
        return None, "npm is not installed"
    command = [npm, "install", "--prefix", str(work / "npm"), "--no-audit", "--no-fund", "dbmate"]
    proc = subprocess.run(command, capture_output=True, text=True)
    installed = sorted((work / "npm").glob("node_modules/@dbmate/*/bin/dbmate"))
    if installed:
        return str(installed[0]), "npm install --prefix WORK/npm dbmate"
    return None, f"npm install dbmate failed: {proc.stderr.strip()[-300:]}"


# --- timing -------------------------------------------------------------------------------


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


class Runner:
    """One command, each run on a fresh database, checked for every table afterwards."""

    def __init__(
        self,
        label: str,
        cmd: list[str],
        cwd: Path,
        env: dict[str, str],
        prepare: Callable[[], None],
        tables: Callable[[], int],
    ) -> None:
        self.label, self.cmd, self.cwd, self.env = label, cmd, cwd, env
        self.prepare, self.tables = prepare, tables
        self.times: list[float] = []
        self.cpu: list[float] = []

    def run(self, expected: int, *, timed: bool) -> tuple[float, float]:
        self.prepare()
        cpu = children_cpu()
        start = time.perf_counter()
        proc = subprocess.run(self.cmd, cwd=self.cwd, env=self.env, capture_output=True, text=True)
        elapsed = time.perf_counter() - start
        cpu = children_cpu() - cpu
        if proc.returncode != 0:
            raise SystemExit(
                f"{self.label} exited {proc.returncode}:\n"
                f"{proc.stdout[-2000:]}{proc.stderr[-2000:]}"
            )
        found = self.tables()
        if found != expected:
            raise SystemExit(f"{self.label} made {found} tables, not {expected}")
        if timed:
            self.times.append(elapsed)
            self.cpu.append(cpu)
        return elapsed, cpu


def print_results(runners: list[Runner]) -> None:
    timings = [Timing(r.label, r.times) for r in runners]
    base = timings[0].median
    width = max(len(t.label) for t in timings)
    print(
        f"  {'command':<{width}}  {'min':>7}  {'median':>7}  {'max':>7}  {'x psql':>6}  "
        f"{'cpu':>6}   (seconds: wall; x psql = median / psql's; cpu = client's, median)"
    )
    for t, r in zip(timings, runners, strict=True):
        cpu = Timing(r.label, r.cpu).median
        print(
            f"  {t.label:<{width}}  {t.min:7.3f}  {t.median:7.3f}  {t.max:7.3f}  "
            f"{t.median / base:6.2f}  {cpu:6.2f}"
        )


# --- profiling ----------------------------------------------------------------------------

# (label, part of the file name, function name): cumulative seconds, overlapping
PARTS = (
    ("psycopg Connection.execute (round trips)", "psycopg/connection.py", "execute"),
    ("  of which waiting for the server", "psycopg/connection.py", "wait"),
    ("open_project", "vcsync/check.py", "open_project"),
    ("load_deployables (read + checksum files)", "deploy/plan.py", "load_deployables"),
    ("provenance (git)", "deploy/targets.py", "origin_of"),
    ("Session.__enter__ (connect, lock, ledger)", "deploy/session.py", "__enter__"),
    ("migration_states (the states query)", "ledger/reader.py", "migration_states"),
    ("Session.run_step (every migration)", "deploy/session.py", "run_step"),
    ("  _run_statements (the scripts)", "deploy/session.py", "_run_statements"),
    ("    PostgresConnection.split (pglast)", "db/postgres.py", "split"),
    ("  record_migration (ledger inserts)", "ledger/writer.py", "record_migration"),
    ("  Session.event (building the row)", "deploy/session.py", "event"),
    ("Session.finish (deployment_log, snapshot)", "deploy/session.py", "finish"),
    ("  take_snapshot", "vcsync/snapshot.py", "take_snapshot"),
)


def profile(
    python: str,
    repo: Path,
    env: dict[str, str],
    pg: Postgres,
    database: str,
    expected: int,
    top: int,
) -> None:
    """One cProfile run of migrate on PostgreSQL: hot spots, round trips, server commits."""
    out = repo / "migrate.prof"
    pg.fresh(database)
    before = pg.commits(database)
    command = [python, "-m", "cProfile", "-o", str(out), "-m", "vcsync", "migrate", "--env", "pg"]
    start = time.perf_counter()
    proc = subprocess.run(command, cwd=repo, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"profiled migrate exited {proc.returncode}:\n{proc.stderr[-2000:]}")
    if pg.tables(database) != expected:
        raise SystemExit("the profiled migrate did not make every table")
    time.sleep(1.0)  # the server publishes its counters at most every 500 ms
    commits = pg.commits(database) - before - 1  # less the transaction of our own query
    stats = pstats.Stats(str(out))
    raw = stats.stats  # type: ignore[attr-defined]
    total = stats.total_tt  # type: ignore[attr-defined]
    executes = sum(
        v[1] for k, v in raw.items() if k[2] == "execute" and k[0].endswith("psycopg/connection.py")
    )
    print(
        f"\ncProfile: {wall:.2f} s wall under the profiler, {total:.2f} s profiled; "
        f"{executes} psycopg Connection.execute calls (a round trip each); "
        f"{commits} transactions committed by the server; profile kept in {out}"
    )
    print("  cumulative seconds by part (nested parts are indented):")
    for label, file_part, func in PARTS:
        cum = sum(
            v[3]
            for k, v in raw.items()
            if k[0].endswith(".py") and file_part in k[0] and k[2] == func
        )
        calls = sum(v[1] for k, v in raw.items() if file_part in k[0] and k[2] == func)
        print(f"    {label:<44} {cum:7.2f}  ({calls} calls)")
    print(f"  top {top} by internal time:")
    stats.sort_stats("tottime").print_stats(top)


# --- main ---------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = bench_parser(
        __doc__,
        runs=3,
        warmup=1,
        migrations=1000,
        target=f"the vcsync/psql median ratio is at most {TARGET}",
        server=True,
    )
    parser.add_argument(
        "--db-prefix",
        default="vcsync_bench_mt",
        help="scratch databases: PREFIX_psql, PREFIX_vcsync, PREFIX_dbmate, PREFIX_candN",
    )
    parser.add_argument("--psql", default="psql", help="the psql client")
    parser.add_argument("--dbmate", help="the dbmate binary (default: PATH, else npm install)")
    parser.add_argument("--no-dbmate", action="store_true", help="do not time dbmate")
    parser.add_argument("--no-sqlite", action="store_true", help="do not time SQLite")
    parser.add_argument(
        "--candidate",
        action="append",
        default=[],
        metavar="DIR",
        help="also time `python -m vcsync migrate --env pg` with DIR first on PYTHONPATH "
        "(a scratch copy of vcsync with a change to measure); repeatable",
    )
    parser.add_argument(
        "--profile", action="store_true", help="then profile one PostgreSQL run with cProfile"
    )
    parser.add_argument("--top", type=int, default=25, help="functions --profile lists")
    args = parser.parse_args(argv)
    python = real_python(args.python)
    vcsync = real_vcsync(args.vcsync, python)
    psql = shutil.which(args.psql)
    if psql is None:
        raise SystemExit(f"{args.psql} not found; install postgresql-client.")
    pg = Postgres(psql, args.server)
    pg.sql("SELECT 1")
    names = {k: f"{args.db_prefix}_{k}" for k in ("psql", "vcsync", "dbmate")}
    names |= {f"cand{i}": f"{args.db_prefix}_cand{i}" for i in range(len(args.candidate))}
    count = args.migrations

    with work_dir(args.work) as work:
        start = time.perf_counter()
        repo = build_project(work, count)
        print(f"project: {count} migrations in {repo} ({time.perf_counter() - start:.1f} s)")
        env = clean_env()

        def fresh(key: str) -> Callable[[], None]:
            return lambda: pg.fresh(names[key])

        def tables(key: str) -> Callable[[], int]:
            return lambda: pg.tables(names[key])

        vc_env = {**env, URL_VARIABLE: pg.url(names["vcsync"])}
        psql_cmd = [psql, "-X", "-1", "-q", "-v", "ON_ERROR_STOP=1", "-d", pg.url(names["psql"])]
        runners = [
            Runner(
                "psql -1 -f all.sql",
                [*psql_cmd, "-f", str(work / "all.sql")],
                work,
                env,
                fresh("psql"),
                tables("psql"),
            ),
            Runner(
                "vcsync migrate --env pg",
                [vcsync, "migrate", "--env", "pg"],
                repo,
                vc_env,
                fresh("vcsync"),
                tables("vcsync"),
            ),
        ]
        for i, folder in enumerate(args.candidate):
            path = str(Path(folder).resolve())
            key = f"cand{i}"
            runners.append(
                Runner(
                    f"candidate {Path(folder).name}",
                    [python, "-m", "vcsync", "migrate", "--env", "pg"],
                    repo,
                    {**env, URL_VARIABLE: pg.url(names[key]), "PYTHONPATH": path},
                    fresh(key),
                    tables(key),
                )
            )
        if not args.no_dbmate:
            dbmate, how = find_dbmate(args.dbmate, work)
            if dbmate is None:
                print(f"note: dbmate skipped ({how})")
            else:
                print(f"dbmate: {dbmate} ({how})")
                url = pg.url(names["dbmate"], "postgres", "sslmode=disable")
                folder = str(work / "dbmate" / "migrations")
                dbmate_cmd = [dbmate, "--url", url, "--migrations-dir", folder]
                dbmate_cmd += ["--no-dump-schema", "migrate"]
                runners.append(
                    Runner(
                        "dbmate migrate",
                        dbmate_cmd,
                        work,
                        env,
                        fresh("dbmate"),
                        tables("dbmate"),
                    )
                )
        if not args.no_sqlite:
            runners.append(
                Runner(
                    "vcsync migrate --env sqlite",
                    [vcsync, "migrate", "--env", "sqlite"],
                    repo,
                    vc_env,
                    lambda: fresh_sqlite(repo),
                    lambda: sqlite_tables(repo),
                )
            )

        print(
            f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs; "
            f"{args.warmup} warm-up + {args.runs} timed runs each, interleaved, each on a "
            "fresh database; timer: perf_counter around subprocess.run"
        )
        try:
            for i in range(args.warmup + args.runs):
                kind = "run" if i >= args.warmup else "warm-up"
                for runner in runners:
                    wall, cpu = runner.run(count, timed=i >= args.warmup)
                    print(f"  {kind} {i + 1}: {runner.label}: {wall:.3f} s (cpu {cpu:.2f} s)")
            print()
            print_results(runners)
            psql_t, vc_t = (Timing(r.label, r.times) for r in runners[:2])
            ratio = vc_t.median / psql_t.median
            verdict = "meets" if ratio <= TARGET else "MISSES"
            print(f"\nvcsync / psql: {ratio:.2f} x (medians), {vc_t.min / psql_t.min:.2f} x (mins)")
            print(f"target: <= {TARGET} x (medians) -> {verdict} it")
            if args.profile:
                profile(python, repo, vc_env, pg, names["vcsync"], count, args.top)
        finally:
            for name in names.values():
                pg.drop(name)
            fresh_sqlite(repo)
    return 1 if args.check and ratio > TARGET else 0


if __name__ == "__main__":
    sys.exit(main())
