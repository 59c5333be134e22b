"""Full-tree check: `vcsync check` over 1,000 migrations, against squawk on the same files.

Why: DESIGN.md section 8 asks that a full `vcsync check` of 1,000 migrations runs at least
half as fast as squawk, the Rust PostgreSQL migration linter (vcsync's median at most
2x squawk's). Both parse every script with PostgreSQL's own grammar (libpg_query), so
squawk is the honest peer. This builds the same repository as hook_latency.py (split
layout, 1,000 migrations and rollbacks committed, `origin/main` on a bare origin, a
release tag, nothing staged) and times, each as a fresh process:

    vcsync check                       (every rule, up and rollback scripts: 2,000 files)
    squawk 'database/migrations/*.sql' (the 1,000 up scripts; squawk exits 1 on findings)

and, for information, squawk over the rollbacks too (the same 2,000 files vcsync reads).

    python bench/check_full_tree.py [--runs 10] [--migrations 1000] [--work DIR]
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

from _repo import (
    MIGRATIONS,
    ROLLBACKS,
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

TARGET_RATIO = 2.0  # vcsync median / squawk median, at most


def main(argv: list[str] | None = None) -> int:
    parser = bench_parser(
        __doc__,
        runs=10,
        warmup=2,
        migrations=1000,
        target=f"vcsync's median is at most {TARGET_RATIO:.0f}x squawk's",
    )
    parser.add_argument("--squawk", help="the squawk binary (default: beside python, or PATH)")
    args = parser.parse_args(argv)
    python = real_python(args.python)
    vcsync = real_vcsync(args.vcsync, python)
    squawk = args.squawk or _squawk_beside(python)
    hyperfine = not args.no_hyperfine

    with work_dir(args.work) as work:
        bench = build_repo(work, args.migrations, stage_one=False)
        ups = f"{MIGRATIONS}/*.sql"  # squawk expands the pattern itself
        downs = f"{ROLLBACKS}/*.sql"
        once = subprocess.run(
            [vcsync, "check"], cwd=bench.repo, env=clean_env(), capture_output=True, text=True
        )
        summary = once.stderr.strip().splitlines()
        if once.returncode not in (0, 1):
            print(once.stdout + once.stderr, file=sys.stderr)
            raise SystemExit(f"`vcsync check` exited {once.returncode}; not timing it.")
        print(f"full-tree check: {args.migrations:,} migrations (+ rollbacks), nothing staged")
        print(f"  repo: {bench.repo}")
        print(f"  vcsync says: {summary[-1] if summary else '(nothing)'}")
        if once.returncode == 1:
            print(
                "  note: vcsync reported findings on the generated tree (shown below); "
                "the timing still stands, but the generator or a rule needs a look."
            )
            print("    " + "\n    ".join(once.stdout.splitlines()[:5]))
        if squawk:
            findings = subprocess.run(
                [squawk, ups], cwd=bench.repo, env=clean_env(), capture_output=True, text=True
            )
            last = (findings.stdout.strip().splitlines() or ["(nothing)"])[-1]
            print(f"  squawk says: {last} (exit {findings.returncode})")
        print(
            f"  timer: {timer_name(hyperfine)}, {args.runs} runs after {args.warmup} warm-up;"
            f" load average before {os.getloadavg()[0]:.2f}"
            " (other work on the machine makes medians noisy: compare the mins too)"
        )
        timings = [
            measure(
                "vcsync check",
                [vcsync, "check"],
                bench.repo,
                args.runs,
                args.warmup,
                hyperfine=hyperfine,
                allow_failure=True,
            )
        ]
        if squawk is None:
            print_table(timings)
            print("squawk is not installed (pip install squawk-cli); no comparison.")
            return 0
        timings.append(
            measure(
                f"squawk '{ups}'",
                [squawk, ups],
                bench.repo,
                args.runs,
                args.warmup,
                hyperfine=hyperfine,
                allow_failure=True,
            )
        )
        timings.append(
            measure(
                f"squawk '{ups}' '{downs}'",
                [squawk, ups, downs],
                bench.repo,
                args.runs,
                args.warmup,
                hyperfine=hyperfine,
                allow_failure=True,
            )
        )
        print_table(timings)
        ratio = timings[0].median / timings[1].median
        verdict = "meets" if ratio <= TARGET_RATIO else "MISSES"
        print(
            f"target: vcsync <= {TARGET_RATIO:.0f}x squawk (median, up files) -> "
            f"{ratio:.2f}x, {verdict} it "
            f"(budget {TARGET_RATIO * timings[1].median:.3f} s, "
            f"vcsync {timings[0].median:.3f} s)"
        )
        # vcsync parses every rollback too (VC301 compares it with its up): for information,
        # the same 2,000 files through squawk
        print(f"  like for like (2,000 files each): {timings[0].median / timings[2].median:.2f}x")
    return 1 if args.check and ratio > TARGET_RATIO else 0


def _squawk_beside(python: str) -> str | None:
    """pip installs squawk-cli's binary beside the interpreter; a pyenv shim is avoided."""
    beside = os.path.join(os.path.dirname(python), "squawk")
    if os.path.isfile(beside):
        return beside
    found = shutil.which("squawk")
    return found if found and "/shims/" not in found else None


if __name__ == "__main__":
    sys.exit(main())
