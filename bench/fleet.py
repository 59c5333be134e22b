"""Fleets: `vcsync migrate` over many targets, per target, in parallel, and its memory.

Why: DESIGN.md section 9 lets one environment name a fleet (`urls = [...]`, or one `url`
with `schemas = [...]`), and a fleet of a thousand tenants is only usable if a run that
has nothing to do costs little per target, `--parallel N` really overlaps the targets'
round trips, and the process does not grow with the fleet. This builds one Git project of
`--migrations` small migrations (a table, an index, a foreign key each: valid SQLite and
PostgreSQL) with these environments, then measures each command as a fresh `vcsync`
process (the console script, interpreter start included), as the other benches do:

  1. sqlite_one / sqlite_fleet   no-op `migrate` over 1 and `--targets` (1,000) SQLite files,
                                 all already migrated: per-target cost =
                                 (median(N) - median(1)) / (N - 1), so start-up, reading
                                 the project and Git drop out.        target <= 5 ms
  2. schema_one / schemas        the same over 1 and `--schemas` (200) tenant schemas of one
                                 scratch PostgreSQL database.         target <= 15 ms
  3. databases                   `--databases` (50) scratch PostgreSQL databases, each
                                 applying every migration (emptied before each run):
                                 serial vs `--parallel` (4), runs interleaved;
                                 throughput ratio = serial median / parallel median.
                                                                      target >= 1.6x
                                 Skipped, saying so, when `vcsync migrate` has no
                                 `--parallel`.
  4. memory                      peak RSS of the vcsync process (os.wait4's rusage of that
                                 one child: what RUSAGE_CHILDREN or `/usr/bin/time -v`
                                 report, without earlier children mixed in) for a no-op
                                 over `--targets`/10 (100) and `--targets` (1,000) SQLite
                                 files.                               target: ratio <= 1.25

The SQLite files are copies of one migrated file (a copy is a file vcsync migrated: its
ledger, hash chain and lock are per file); the untimed warm-up run over the fleet checks
that every target really has nothing to do. Scratch databases are named
`vcsync_bench_fleet_<random>_*`, created on `--server` and dropped afterwards, on failure
and Ctrl-C too. PostgreSQL URLs reach the config as `env:` variables, so a password in
`--server` is never written to the work folder.

    python bench/fleet.py [--targets 1000] [--schemas 200] [--databases 50]
        [--migrations 20] [--parallel 4] [--runs 3] [--work DIR] [--check]
        [--server postgresql://postgres@127.0.0.1:5432/postgres]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import urlsplit, urlunsplit

import psycopg
from _repo import (
    MIGRATIONS,
    PYPROJECT,
    ROLLBACKS,
    Timing,
    bench_parser,
    clean_env,
    git,
    measure,
    print_table,
    real_python,
    real_vcsync,
    timer_name,
    work_dir,
)
from migrate_throughput import children_cpu, down_sql, up_sql
from psycopg import sql

SQLITE_MS = 5.0  # per no-op SQLite target, at most
SCHEMA_MS = 15.0  # per no-op tenant schema, at most
PARALLEL_RATIO = 1.6  # serial median / --parallel median, at least
MEMORY_RATIO = 1.25  # peak RSS over the big fleet / the small one, at most
MARKER = ".vcsync-fleet-bench.json"
SCHEMAS_URL = "VCSYNC_BENCH_FLEET_SCHEMAS_URL"
DB_URL = "VCSYNC_BENCH_FLEET_DB_{}"


# --- the project ------------------------------------------------------------------------


class Fleet(NamedTuple):
    repo: Path
    sqlite_small: int  # files in sqlite_small
    sqlite: int  # files in sqlite_fleet
    schemas: list[str]
    databases: list[str]


def toml_list(items: Sequence[str]) -> str:
    return "[\n" + "".join(f'    "{item}",\n' for item in items) + "]"


def build_project(work: Path, args: argparse.Namespace, prefix: str) -> Fleet:
    """`work`/repo: the committed migrations and a config naming every fleet."""
    marker, repo = work / MARKER, work / "repo"
    if marker.is_file():  # ours, from an earlier run: rebuilt, it takes a second
        shutil.rmtree(repo, ignore_errors=True)
        marker.unlink()
    elif work.exists() and any(work.iterdir()):
        raise SystemExit(
            f"{work} is not empty and was not made by this bench; give an empty or new folder."
        )
    (repo / MIGRATIONS).mkdir(parents=True)
    (repo / ROLLBACKS).mkdir(parents=True)
    git(repo, "init", "-q", "-b", "main")
    for n in range(1, args.migrations + 1):
        (repo / MIGRATIONS / f"V{n}__m{n}.sql").write_text(up_sql(n), "utf-8")
        (repo / ROLLBACKS / f"V{n}__m{n}_rollback.sql").write_text(down_sql(n), "utf-8")
    small = max(1, args.targets // 10)
    schemas = [f"tenant_{i:04d}" for i in range(args.schemas)]
    databases = [f"{prefix}_db{i:03d}" for i in range(args.databases)]
    environments = {
        "template": 'url = "sqlite:///template.db"',
        "sqlite_one": 'urls = ["sqlite:///one/t0000.db"]',
        "sqlite_small": "urls = "
        + toml_list([f"sqlite:///small/t{i:04d}.db" for i in range(small)]),
        "sqlite_fleet": "urls = "
        + toml_list([f"sqlite:///fleet/t{i:04d}.db" for i in range(args.targets)]),
        "schema_one": f'url = "env:{SCHEMAS_URL}"\nschemas = ["solo"]',
        "schemas": f'url = "env:{SCHEMAS_URL}"\nschemas = {toml_list(schemas)}',
        "databases": "urls = "
        + toml_list([f"env:{DB_URL.format(i)}" for i in range(len(databases))]),
    }
    tables = "".join(
        f"\n[tool.vcsync.environments.{name}]\n{body}\n" for name, body in environments.items()
    )
    (repo / "pyproject.toml").write_text(PYPROJECT + tables, "utf-8")
    (repo / ".gitignore").write_text("*.db\n*.db-*\none/\nsmall/\nfleet/\n", "utf-8")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", f"migrations 1..{args.migrations}")
    marker.write_text(json.dumps({"v": 1}))
    return Fleet(repo, small, args.targets, schemas, databases)


# --- running vcsync -----------------------------------------------------------------------


def run_json(vcsync: str, repo: Path, *args: str) -> list[dict[str, Any]]:
    """`vcsync migrate ARGS --format json`, exit 0 required: its per-target results."""
    proc = subprocess.run(
        [vcsync, "migrate", *args, "--format", "json"],
        cwd=repo,
        env=clean_env(),
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        raise SystemExit(
            f"vcsync migrate {' '.join(args)} exited {proc.returncode}:\n"
            f"{proc.stdout[-2000:]}{proc.stderr[-2000:]}"
        )
    results = json.loads(proc.stdout)["results"]
    assert isinstance(results, list)
    return results


def expect(results: list[dict[str, Any]], targets: int, steps: int, what: str) -> None:
    """Every target succeeded, each with `steps` migrations applied."""
    bad = [
        r for r in results if r.get("outcome") != "succeeded" or len(r.get("steps") or []) != steps
    ]
    if len(results) != targets or bad:
        raise SystemExit(
            f"{what}: {len(results)} results for {targets} targets, {len(bad)} not "
            f"'succeeded with {steps} migrations' (first: {bad[:1]})"
        )


def has_parallel(vcsync: str) -> bool:
    proc = subprocess.run(
        [vcsync, "migrate", "--help"], env=clean_env(), capture_output=True, text=True
    )
    return "--parallel" in proc.stdout


def peak_rss_mb(cmd: list[str], cwd: Path) -> float:
    """Max RSS of one run of `cmd` (and the children it waited for), in MB."""
    proc = subprocess.Popen(
        cmd, cwd=cwd, env=clean_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} exited {proc.returncode}")
    return usage.ru_maxrss / 1024  # Linux: kilobytes


def per_target_ms(one: Timing, many: Timing, count: int) -> float:
    return (many.median - one.median) / max(1, count - 1) * 1000


# --- scratch PostgreSQL -------------------------------------------------------------------


class Scratch:
    """The databases this run creates on `server`; `drop_all` removes every one."""

    def __init__(self, server: str) -> None:
        self.server = server
        self.made: list[str] = []

    def url(self, database: str) -> str:
        parts = urlsplit(self.server)
        return urlunsplit((parts.scheme, parts.netloc, f"/{database}", parts.query, ""))

    def create(self, names: Sequence[str]) -> None:
        with psycopg.connect(self.server, autocommit=True) as admin:
            for name in names:
                admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
                self.made.append(name)

    def empty(self, names: Sequence[str]) -> None:
        """Every schema but the system ones dropped, `public` back: a fresh database, without
        DROP DATABASE's checkpoint per database."""
        for name in names:
            with psycopg.connect(self.url(name), autocommit=True) as conn:
                found = conn.execute(
                    "SELECT nspname FROM pg_namespace WHERE nspname NOT LIKE 'pg\\_%' "
                    "AND nspname <> 'information_schema'"
                ).fetchall()
                drops = [
                    sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(n)) for (n,) in found
                ]
                conn.execute(sql.SQL("; ").join([*drops, sql.SQL("CREATE SCHEMA public")]))
        with psycopg.connect(self.server, autocommit=True) as admin:
            admin.execute("CHECKPOINT")

    def drop_all(self) -> None:
        if not self.made:
            return
        with psycopg.connect(self.server, autocommit=True) as admin:
            for name in self.made:
                admin.execute(
                    sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
                )
        self.made.clear()


@contextmanager
def terminated_as_exit() -> Iterator[None]:
    """SIGTERM (a CI timeout, `kill`) unwinds like Ctrl-C, so the databases are dropped."""

    def stop(signum: int, frame: object) -> None:
        raise SystemExit(128 + signum)

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


# --- the parts ----------------------------------------------------------------------------


def sqlite_fleet(vcsync: str, fleet: Fleet, migrations: int) -> None:
    """template.db migrated once, copied to every file of every SQLite fleet."""
    repo = fleet.repo
    expect(run_json(vcsync, repo, "--env", "template"), 1, migrations, "template")
    for folder, count in (("one", 1), ("small", fleet.sqlite_small), ("fleet", fleet.sqlite)):
        (repo / folder).mkdir()
        for i in range(count):
            shutil.copyfile(repo / "template.db", repo / folder / f"t{i:04d}.db")


def timed_noop(
    vcsync: str, repo: Path, env: str, count: int, args: argparse.Namespace, label: str
) -> Timing:
    """The untimed check (every target: nothing to do), then the timed runs."""
    expect(run_json(vcsync, repo, "--env", env), count, 0, env)
    return measure(
        label,
        [vcsync, "migrate", "--env", env],
        repo,
        args.runs,
        args.warmup,
        hyperfine=not args.no_hyperfine,
    )


def parallel_runs(
    vcsync: str, fleet: Fleet, scratch: Scratch, args: argparse.Namespace
) -> tuple[Timing, Timing, dict[str, float]]:
    """Serial and --parallel over the databases, each run on emptied databases, interleaved;
    with the vcsync process's median CPU seconds (user + system) per mode."""
    serial = [vcsync, "migrate", "--env", "databases", "--format", "json"]
    parallel = [*serial, "--parallel", str(args.parallel)]
    times: dict[str, list[float]] = {"serial": [], "parallel": []}
    cpu: dict[str, list[float]] = {"serial": [], "parallel": []}
    for i in range(args.warmup + args.runs):
        for key, cmd in (("serial", serial), ("parallel", parallel)):
            scratch.empty(fleet.databases)
            cpu_before = children_cpu()
            start = time.perf_counter()
            proc = subprocess.run(
                cmd, cwd=fleet.repo, env=clean_env(), capture_output=True, text=True
            )
            elapsed = time.perf_counter() - start
            used = children_cpu() - cpu_before
            if proc.returncode != 0:
                raise SystemExit(
                    f"{' '.join(cmd[1:])} exited {proc.returncode}:\n"
                    f"{proc.stdout[-2000:]}{proc.stderr[-2000:]}"
                )
            results = json.loads(proc.stdout)["results"]
            expect(results, len(fleet.databases), args.migrations, key)
            if i >= args.warmup:
                times[key].append(elapsed)
                cpu[key].append(used)
    n = len(fleet.databases)
    return (
        Timing(f"migrate {n} databases, serial", times["serial"]),
        Timing(f"migrate {n} databases, --parallel {args.parallel}", times["parallel"]),
        {key: statistics.median(values) for key, values in cpu.items()},
    )


def verdict(ok: bool) -> str:
    return "meets it" if ok else "MISSES it"


# --- main ---------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = bench_parser(
        __doc__,
        runs=3,
        warmup=1,
        migrations=20,
        target="every target of DESIGN section 9's fleet numbers is met",
        server=True,
    )
    parser.add_argument("--targets", type=int, default=1000, help="SQLite files in the fleet")
    parser.add_argument("--schemas", type=int, default=200, help="tenant schemas in one database")
    parser.add_argument(
        "--databases", type=int, default=50, help="PostgreSQL databases for --parallel"
    )
    parser.add_argument("--parallel", type=int, default=4, help="vcsync migrate --parallel N")
    args = parser.parse_args(argv)
    if args.targets < 2 or args.schemas < 2 or args.databases < 1 or args.migrations < 1:
        parser.error("--targets and --schemas need at least 2, the others at least 1")
    vcsync = real_vcsync(args.vcsync, real_python(args.python))
    prefix = f"vcsync_bench_fleet_{uuid.uuid4().hex[:8]}"
    scratch = Scratch(args.server)
    lines: list[str] = []  # the verdicts
    misses = 0
    with terminated_as_exit(), work_dir(args.work) as work:
        try:
            start = time.perf_counter()
            fleet = build_project(work, args, prefix)
            sqlite_fleet(vcsync, fleet, args.migrations)
            print(
                f"fleet: {args.migrations} migrations; {args.targets:,} SQLite files, "
                f"{args.schemas} schemas, {args.databases} databases "
                f"(built in {time.perf_counter() - start:.1f} s, in {fleet.repo})"
            )
            print(
                f"  timer: {timer_name(not args.no_hyperfine)}, {args.runs} runs after "
                f"{args.warmup} warm-up; load average before {os.getloadavg()[0]:.2f}"
            )
            timings: list[Timing] = []

            # 1. SQLite, no-op
            one = timed_noop(vcsync, fleet.repo, "sqlite_one", 1, args, "no-op, 1 SQLite file")
            many = timed_noop(
                vcsync,
                fleet.repo,
                "sqlite_fleet",
                fleet.sqlite,
                args,
                f"no-op, {fleet.sqlite:,} SQLite files",
            )
            timings += [one, many]
            cost = per_target_ms(one, many, fleet.sqlite)
            ok = cost <= SQLITE_MS
            misses += not ok
            lines.append(
                f"per SQLite target (no-op)        <= {SQLITE_MS:.0f} ms   -> {cost:6.2f} ms  "
                f"{verdict(ok)}"
            )

            # 2. tenant schemas, no-op
            schemas_db = f"{prefix}_schemas"
            scratch.create([schemas_db])
            os.environ[SCHEMAS_URL] = scratch.url(schemas_db)
            with psycopg.connect(scratch.url(schemas_db), autocommit=True) as conn:
                for schema in ["solo", *fleet.schemas]:
                    conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
            setup = ["--parallel", str(args.parallel)] if has_parallel(vcsync) else []
            started = time.perf_counter()
            expect(
                run_json(vcsync, fleet.repo, "--env", "schemas", *setup),
                len(fleet.schemas),
                args.migrations,
                "schemas",
            )
            expect(run_json(vcsync, fleet.repo, "--env", "schema_one"), 1, args.migrations, "solo")
            print(
                f"  (migrating the {len(fleet.schemas)} schemas first took "
                f"{time.perf_counter() - started:.1f} s{', ' + ' '.join(setup) if setup else ''})"
            )
            one = timed_noop(vcsync, fleet.repo, "schema_one", 1, args, "no-op, 1 schema")
            many = timed_noop(
                vcsync,
                fleet.repo,
                "schemas",
                len(fleet.schemas),
                args,
                f"no-op, {len(fleet.schemas)} schemas",
            )
            timings += [one, many]
            cost = per_target_ms(one, many, len(fleet.schemas))
            ok = cost <= SCHEMA_MS
            misses += not ok
            lines.append(
                f"per PostgreSQL schema (no-op)    <= {SCHEMA_MS:.0f} ms  -> {cost:6.2f} ms  "
                f"{verdict(ok)}"
            )

            # 3. databases, serial vs --parallel
            if has_parallel(vcsync):
                scratch.create(fleet.databases)
                for i, name in enumerate(fleet.databases):
                    os.environ[DB_URL.format(i)] = scratch.url(name)
                serial, parallel, cpu = parallel_runs(vcsync, fleet, scratch, args)
                timings += [serial, parallel]
                ratio = serial.median / parallel.median
                ok = ratio >= PARALLEL_RATIO
                misses += not ok
                lines.append(
                    f"--parallel {args.parallel} throughput vs serial  >= {PARALLEL_RATIO}x  "
                    f"-> {ratio:6.2f}x  {verdict(ok)} (vcsync's own CPU, median: "
                    f"{cpu['serial']:.1f} s serial, {cpu['parallel']:.1f} s parallel; "
                    f"{os.cpu_count()} cores shared with the server)"
                )
            else:
                lines.append(
                    "--parallel: `vcsync migrate` has no --parallel yet; part 3 skipped "
                    "(not counted as a miss)"
                )

            # 4. memory
            small_mb = peak_rss_mb([vcsync, "migrate", "--env", "sqlite_small"], fleet.repo)
            big_mb = peak_rss_mb([vcsync, "migrate", "--env", "sqlite_fleet"], fleet.repo)
            ratio = big_mb / small_mb
            ok = ratio <= MEMORY_RATIO
            misses += not ok
            lines.append(
                f"peak RSS, {fleet.sqlite:,} / {fleet.sqlite_small:,} SQLite targets <= "
                f"{MEMORY_RATIO}x -> {big_mb:.1f} MB / {small_mb:.1f} MB = {ratio:.2f}x  "
                f"{verdict(ok)}"
            )

            print()
            print_table(timings)
            print()
            for line in lines:
                print(f"target: {line}")
        finally:
            scratch.drop_all()
    return 1 if misses and args.check else 0


if __name__ == "__main__":
    sys.exit(main())
