"""Hook latency: `vcsync check --staged` with one staged migration among 2,000.

Why: the pre-commit hook runs on every commit of every developer, so DESIGN.md section 8
asks for under 0.25 s wall, interpreter start included. This builds a split-layout
repository with 2,000 committed migrations (and their rollbacks), a bare origin so
`origin/main` exists and the history rules run, and a release tag; stages one new
migration and its rollback; then times the real console script as a Git hook spawns
it. Baselines (`python -c pass`, `import click`, `import pglast`, `vcsync --version`)
are timed the same way, so the floor under the budget is visible.

    python bench/hook_latency.py [--runs 20] [--migrations 2000] [--work DIR]
"""

from __future__ import annotations

import os
import subprocess
import sys

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

TARGET = 0.25  # seconds, median


def main(argv: list[str] | None = None) -> int:
    parser = bench_parser(
        __doc__, runs=20, warmup=3, migrations=2000, target=f"the median is under {TARGET} s"
    )
    parser.add_argument(
        "--no-tag",
        action="store_true",
        help="no release tag (history rules compare with origin/main only)",
    )
    parser.add_argument("--no-baselines", action="store_true", help="time vcsync only")
    args = parser.parse_args(argv)
    python = real_python(args.python)
    vcsync = real_vcsync(args.vcsync, python)
    hyperfine = not args.no_hyperfine

    with work_dir(args.work) as work:
        bench = build_repo(work, args.migrations, stage_one=True, tag_gap=0 if args.no_tag else 10)
        command = [vcsync, "check", "--staged"]
        # One run first: a benchmark of a failing or misconfigured check measures nothing.
        once = subprocess.run(
            command, cwd=bench.repo, env=clean_env(), capture_output=True, text=True
        )
        summary = once.stderr.strip().splitlines()
        if once.returncode != 0:
            print(once.stdout + once.stderr, file=sys.stderr)
            raise SystemExit(f"`vcsync check --staged` exited {once.returncode}; not timing it.")

        print(
            f"hook latency: {args.migrations:,} migrations committed "
            f"(base origin/main{', tag ' + bench.tag if bench.tag else ''}), "
            f"{len(bench.staged)} files staged"
        )
        print(f"  repo: {bench.repo}")
        print(f"  vcsync says: {summary[-1] if summary else '(nothing)'}")
        print(
            f"  timer: {timer_name(hyperfine)}, {args.runs} runs after {args.warmup} warm-up;"
            f" load average before {os.getloadavg()[0]:.2f}"
            " (other work on the machine makes medians noisy: compare the mins too)"
        )
        timings = []
        if not args.no_baselines:
            for label, cmd in (
                ("python -c pass", [python, "-c", "pass"]),
                ("python -c 'import click'", [python, "-c", "import click"]),
                ("python -c 'import pglast'", [python, "-c", "import pglast"]),
                ("vcsync --version", [vcsync, "--version"]),
            ):
                timings.append(
                    measure(label, cmd, bench.repo, args.runs, args.warmup, hyperfine=hyperfine)
                )
        result = measure(
            "vcsync check --staged",
            command,
            bench.repo,
            args.runs,
            args.warmup,
            hyperfine=hyperfine,
        )
        timings.append(result)
        print_table(timings)
        verdict = "meets" if result.median < TARGET else "MISSES"
        print(
            f"target: median < {TARGET:.3f} s -> {result.median:.3f} s {verdict} it "
            f"({result.median / TARGET:.0%} of the budget)"
        )
    return 1 if args.check and result.median >= TARGET else 0


if __name__ == "__main__":
    sys.exit(main())
