"""The pull-request gate's speed: `vcsync verify --env bench` over 2,000 migrations.

Why: DESIGN.md section 8 asks for `vcsync verify` over 2,000 migrations and one
environment (no round trip) under 5 s wall. This builds the same repository as the
other benches (2,000 committed migrations, origin/main, a release tag), migrates a fresh
PostgreSQL database as environment `bench` once, then times verify as CI runs it: rules
over the whole tree, VC004/VC2xx against origin/main and the tag, the ledger against
Git, the deployment_log hash chain, and the live schema against the recorded snapshot.

    python bench/verify.py [--runs 5] [--migrations 2000] [--work DIR]
        [--server postgresql://postgres@127.0.0.1:5432/postgres]
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid

import psycopg
from _repo import (
    bench_parser,
    build_repo,
    clean_env,
    measure,
    print_table,
    real_python,
    real_vcsync,
    timer_name,
    work_dir,
)
from psycopg import sql

TARGET = 5.0  # seconds, median


def main(argv: list[str] | None = None) -> int:
    parser = bench_parser(
        __doc__,
        runs=5,
        warmup=1,
        migrations=2000,
        target=f"the median is under {TARGET:.0f} s",
        server=True,
    )
    args = parser.parse_args(argv)
    vcsync = real_vcsync(args.vcsync, real_python(args.python))
    name = f"vcsync_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(args.server, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    os.environ["VCSYNC_BENCH_URL"] = f"{args.server.rsplit('/', 1)[0]}/{name}"
    try:
        with work_dir(args.work) as work:
            bench = build_repo(work, args.migrations, stage_one=False)
            start = time.perf_counter()
            subprocess.run(
                [vcsync, "migrate", "--env", "bench", "--format", "json"],
                cwd=bench.repo,
                env=clean_env(),
                check=True,
                stdout=subprocess.DEVNULL,
            )
            print(
                f"verify: {args.migrations:,} migrations, migrated to a fresh PostgreSQL "
                f"database in {time.perf_counter() - start:.1f} s (not timed below)"
            )
            command = [vcsync, "verify", "--env", "bench"]
            once = subprocess.run(
                command, cwd=bench.repo, env=clean_env(), capture_output=True, text=True
            )
            if once.returncode != 0:
                print(once.stdout + once.stderr, file=sys.stderr)
                raise SystemExit(f"`vcsync verify` exited {once.returncode}; not timing it.")
            print(f"  vcsync says: {once.stderr.strip().splitlines()[-1]}")
            print(
                f"  timer: {timer_name(not args.no_hyperfine)}, {args.runs} runs after "
                f"{args.warmup} warm-up; load average before {os.getloadavg()[0]:.2f}"
            )
            result = measure(
                "vcsync verify --env bench",
                command,
                bench.repo,
                args.runs,
                args.warmup,
                hyperfine=not args.no_hyperfine,
            )
            print_table([result])
            met = result.median < TARGET
            print(
                f"target: median < {TARGET:.1f} s -> {result.median:.2f} s "
                f"{'meets' if met else 'MISSES'} it"
            )
    finally:
        with psycopg.connect(args.server, autocommit=True) as admin:
            admin.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )
    return 0 if met or not args.check else 1


if __name__ == "__main__":
    sys.exit(main())
