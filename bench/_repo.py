"""Shared by the bench scripts: a realistic split-layout repository, and a timer.

Why a builder of our own rather than a checked-in fixture: the numbers DESIGN.md section 8
promises are about repositories of 1,000-2,000 migrations with real Git history (a base
ref on a bare origin, a release tag), and such a tree is cheaper to generate in a second
than to store. The SQL is small but realistic PostgreSQL (tables, identity keys, indexes,
foreign keys, ALTERs, a plpgsql function, a CONCURRENTLY index with its directive), so
the parsers and squawk do the work they do on a real project.

The timer spawns each command as a new process (interpreter start included), through
hyperfine when it is installed, else with time.perf_counter around subprocess.run.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import NamedTuple

MIGRATIONS = "database/migrations"
ROLLBACKS = "database/rollback"
PYPROJECT = f"""\
[project]
name = "bench-app"
version = "0"

[tool.vcsync]
migrations = "{MIGRATIONS}"
rollbacks = "{ROLLBACKS}"
layout = "split"
"""
# Variables Git exports to hooks; stripped so the bench never talks to another repository.
_GIT_INHERITED = (
    "GIT_DIR",
    "GIT_INDEX_FILE",
    "GIT_WORK_TREE",
    "GIT_PREFIX",
    "GIT_OBJECT_DIRECTORY",
)
GIT_ENV = {
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_AUTHOR_NAME": "Bench",
    "GIT_AUTHOR_EMAIL": "bench@example.invalid",
    "GIT_COMMITTER_NAME": "Bench",
    "GIT_COMMITTER_EMAIL": "bench@example.invalid",
}
MARKER = ".vcsync-bench.json"


def clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in _GIT_INHERITED}


# --- the migrations -----------------------------------------------------------------------


def migration(n: int) -> tuple[str, str, str]:
    """Version n's (description, up SQL, rollback SQL); a cycle of five kinds of change.

    Each cycle of five starts with a new table t{b}; the others build on it, so every
    object referenced exists and every rollback really undoes its migration.
    """
    kind = (n - 1) % 5
    b = n - kind  # the table this cycle created
    if kind == 0:
        return (
            f"create_t{b}",
            f"-- The t{b} table: one row per thing the application tracks.\n"
            f"CREATE TABLE t{b} (\n"
            "    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,\n"
            "    name text NOT NULL,\n"
            "    status text NOT NULL DEFAULT 'new',\n"
            "    created_at timestamptz NOT NULL DEFAULT now()\n"
            ");\n"
            f"CREATE INDEX t{b}_created_at_idx ON t{b} (created_at);\n"
            # the previous cycle's foreign key, added NOT VALID, is validated a migration later
            + (f"ALTER TABLE t{b - 5} VALIDATE CONSTRAINT t{b - 5}_owner_fk;\n" if b > 5 else ""),
            f"DROP INDEX t{b}_created_at_idx;\nDROP TABLE t{b};\n",
        )
    if kind == 1:
        return (
            f"create_t{n}_items",
            f"CREATE TABLE t{n} (\n"
            "    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,\n"
            f"    parent_id bigint NOT NULL REFERENCES t{b} (id) ON DELETE CASCADE,\n"
            "    amount numeric(12, 2) NOT NULL CHECK (amount >= 0),\n"
            "    note text\n"
            ");\n"
            f"CREATE INDEX t{n}_parent_id_idx ON t{n} (parent_id);\n",
            f"DROP TABLE t{n};\n",
        )
    if kind == 2:
        return (
            f"t{b}_add_updated_at",
            f"ALTER TABLE t{b} ADD COLUMN updated_at timestamptz;\n"
            f"ALTER TABLE t{b} ALTER COLUMN name SET DEFAULT '';\n"
            f"COMMENT ON COLUMN t{b}.updated_at IS 'set by the touch trigger';\n",
            f"ALTER TABLE t{b} ALTER COLUMN name DROP DEFAULT;\n"
            f"ALTER TABLE t{b} DROP COLUMN updated_at;\n",
        )
    if kind == 3:
        return (
            f"index_t{b}_status",
            "-- vcsync: no-transaction\n"
            f"CREATE INDEX CONCURRENTLY IF NOT EXISTS t{b}_status_idx\n"
            f"    ON t{b} (status) WHERE status <> 'done';\n",
            f"-- vcsync: no-transaction\nDROP INDEX CONCURRENTLY IF EXISTS t{b}_status_idx;\n",
        )
    return (
        f"t{b}_owner_and_touch",
        f"ALTER TABLE t{b} ADD COLUMN owner_id bigint;\n"
        f"ALTER TABLE t{b} ADD CONSTRAINT t{b}_owner_fk\n"
        f"    FOREIGN KEY (owner_id) REFERENCES t{b + 1} (id) NOT VALID;\n"
        f"CREATE OR REPLACE FUNCTION t{b}_touch() RETURNS trigger\n"
        "LANGUAGE plpgsql AS $$\n"
        "BEGIN\n"
        "    NEW.updated_at := now();\n"
        "    RETURN NEW;\n"
        "END;\n"
        "$$;\n"
        f"CREATE TRIGGER t{b}_touch BEFORE UPDATE ON t{b}\n"
        f"    FOR EACH ROW EXECUTE FUNCTION t{b}_touch();\n",
        f"DROP TRIGGER t{b}_touch ON t{b};\n"
        f"DROP FUNCTION t{b}_touch();\n"
        f"ALTER TABLE t{b} DROP CONSTRAINT t{b}_owner_fk;\n"
        f"ALTER TABLE t{b} DROP COLUMN owner_id;\n",
    )


def write_migration(root: Path, n: int) -> tuple[str, str]:
    """Writes V{n}'s up and rollback files; returns their repository paths."""
    desc, up, down = migration(n)
    paths = (f"{MIGRATIONS}/V{n}__{desc}.sql", f"{ROLLBACKS}/V{n}__{desc}_rollback.sql")
    for rel, text in zip(paths, (up, down), strict=True):
        (root / rel).write_text(text, "utf-8", newline="")
    return paths


# --- the repository -----------------------------------------------------------------------


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args],
        cwd=cwd,
        check=True,
        capture_output=True,
        text=True,
        env={**clean_env(), **GIT_ENV},
    ).stdout


class Bench(NamedTuple):
    repo: Path  # the clone vcsync runs in
    migrations: int  # committed on main
    staged: tuple[str, ...]  # paths staged on top (empty: a clean tree)
    tag: str | None  # the release tag, at an earlier commit than origin/main


def init_project(repo: Path, environments: dict[str, str]) -> None:
    """An empty Git repository with the migration folders and a config naming each
    environment's URL."""
    (repo / MIGRATIONS).mkdir(parents=True)
    (repo / ROLLBACKS).mkdir(parents=True)
    git(repo, "init", "-q", "-b", "main")
    tables = "".join(
        f'\n[tool.vcsync.environments.{name}]\nurl = "{url}"\n'
        for name, url in environments.items()
    )
    (repo / "pyproject.toml").write_text(PYPROJECT + tables, "utf-8")


def build_repo(work: Path, count: int, *, stage_one: bool, tag_gap: int = 10) -> Bench:
    """`work`/repo with `count` migrations on main, pushed to `work`/origin.git.

    With `tag_gap` > 0 the history is two commits: migrations 1..count-tag_gap tagged
    v1.0.0 (annotated, a release), then the rest, so the history rules compare with both
    origin/main and the tag, as they do in a team's repository. With `stage_one`,
    migration count+1 and its rollback are written and staged (what a commit hook sees).
    The build is reused when `work` already holds one made with the same parameters.
    """
    params = {"count": count, "stage_one": stage_one, "tag_gap": tag_gap, "v": 2}
    marker = work / MARKER
    repo = work / "repo"
    tag = "v1.0.0" if 0 < tag_gap < count else None
    if marker.is_file() and json.loads(marker.read_text()) == params:
        listed = git(repo, "diff", "--cached", "--name-only").split()
        return Bench(repo, count, tuple(listed), tag)
    if marker.is_file():  # ours, built with other parameters
        for name in ("repo", "origin.git", MARKER):
            target = work / name
            if target.is_dir():
                shutil.rmtree(target)
            elif target.exists():
                target.unlink()
    elif work.exists() and any(work.iterdir()):
        raise SystemExit(
            f"{work} is not empty and was not made by this bench; give an empty or new folder."
        )
    init_project(repo, {"bench": "env:VCSYNC_BENCH_URL"})
    first = count - tag_gap if tag else count
    for n in range(1, first + 1):
        write_migration(repo, n)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", f"migrations 1..{first}")
    if tag:
        git(repo, "tag", "-a", tag, "-m", f"release {tag}")
        for n in range(first + 1, count + 1):
            write_migration(repo, n)
        git(repo, "add", "-A")
        git(repo, "commit", "-q", "-m", f"migrations {first + 1}..{count}")
    git(work, "init", "-q", "--bare", "-b", "main", "origin.git")
    git(repo, "remote", "add", "origin", "../origin.git")
    git(repo, "push", "-q", "origin", "main", "--tags")
    git(repo, "fetch", "-q", "origin")
    git(repo, "branch", "-q", "--set-upstream-to=origin/main", "main")
    git(repo, "gc", "-q")  # packed, as a real clone is
    staged: tuple[str, ...] = ()
    if stage_one:
        staged = write_migration(repo, count + 1)
        git(repo, "add", "--", *staged)
    marker.write_text(json.dumps(params))
    return Bench(repo, count, staged, tag)


@contextmanager
def work_dir(given: str | None) -> Iterator[Path]:
    """The --work folder (kept, reused next time), or a temporary one (removed)."""
    if given:
        path = Path(given).resolve()
        path.mkdir(parents=True, exist_ok=True)
        yield path
        return
    with tempfile.TemporaryDirectory(prefix="vcsync-bench-") as tmp:
        yield Path(tmp)


# --- the commands -------------------------------------------------------------------------


def bench_parser(
    doc: str, *, runs: int, warmup: int, migrations: int, target: str, server: bool = False
) -> argparse.ArgumentParser:
    """The options every bench takes (`--server` where it needs PostgreSQL); a script adds
    its own. `target` says what `--check` holds the result to."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--runs", type=int, default=runs, help="timed runs per command")
    parser.add_argument("--warmup", type=int, default=warmup, help="untimed runs first")
    parser.add_argument("--migrations", type=int, default=migrations, help="committed migrations")
    parser.add_argument("--work", help="build here and keep it (reused when it matches)")
    parser.add_argument("--python", help="the real interpreter (default: this one)")
    parser.add_argument("--vcsync", help="the vcsync console script (default: beside python)")
    parser.add_argument(
        "--no-hyperfine",
        action="store_true",
        help="time with perf_counter even when hyperfine is installed",
    )
    parser.add_argument("--check", action="store_true", help=f"exit 1 unless {target}")
    if server:
        parser.add_argument(
            "--server",
            default="postgresql://postgres@127.0.0.1:5432/postgres",
            help="a database on a PostgreSQL server where scratch databases may be created",
        )
    return parser


def real_python(given: str | None) -> str:
    """The interpreter itself, never a pyenv shim (a shim is a bash script: +50 ms a call)."""
    path = given or sys.executable
    if "/shims/" in path:
        raise SystemExit(f"{path} is a pyenv shim; pass the real interpreter with --python.")
    return path


def real_vcsync(given: str | None, python: str) -> str:
    """The `vcsync` console script beside the interpreter (what a Git hook execs), with the
    package byte-compiled as pip leaves a regular install: an editable checkout under
    PYTHONDONTWRITEBYTECODE would otherwise compile every module on every run (+20 ms)."""
    subprocess.run(
        [
            python,
            "-c",
            "import compileall, vcsync; compileall.compile_dir(vcsync.__path__[0], quiet=1)",
        ],
        check=True,
    )
    if given:
        return given
    beside = Path(python).parent / "vcsync"
    if beside.is_file():
        return str(beside)
    found = shutil.which("vcsync")
    if found is None or "/shims/" in found:
        raise SystemExit("no vcsync console script beside the interpreter; pass --vcsync PATH.")
    return found


# --- timing -------------------------------------------------------------------------------


class Timing(NamedTuple):
    label: str
    times: list[float]  # seconds, one per run

    @property
    def min(self) -> float:
        return min(self.times)

    @property
    def median(self) -> float:
        return statistics.median(self.times)

    @property
    def max(self) -> float:
        return max(self.times)


def measure(
    label: str,
    cmd: Sequence[str],
    cwd: Path,
    runs: int,
    warmup: int,
    *,
    hyperfine: bool,
    allow_failure: bool = False,
) -> Timing:
    """Wall seconds of `cmd` as a fresh process, `runs` times after `warmup` untimed runs."""
    tool = shutil.which("hyperfine") if hyperfine else None
    if tool:
        with tempfile.TemporaryDirectory() as tmp:
            export = Path(tmp) / "times.json"
            args = [
                tool,
                "--shell=none",
                "--style",
                "none",
                "--runs",
                str(runs),
                "--warmup",
                str(warmup),
                "--export-json",
                str(export),
            ]
            if allow_failure:
                args.append("--ignore-failure")
            # hyperfine's warnings (ignored exit codes, a slow first run) would break the
            # table; its stderr is shown only when it fails.
            run = subprocess.run(
                [*args, shlex.join(cmd)],
                cwd=cwd,
                env=clean_env(),
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                text=True,
            )
            if run.returncode != 0:
                raise SystemExit(f"hyperfine failed on {shlex.join(cmd)}:\n{run.stderr}")
            return Timing(label, json.loads(export.read_text())["results"][0]["times"])
    times = []
    for i in range(warmup + runs):
        start = time.perf_counter()
        proc = subprocess.run(
            cmd, cwd=cwd, env=clean_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        elapsed = time.perf_counter() - start
        if proc.returncode != 0 and not allow_failure:
            raise SystemExit(f"{shlex.join(cmd)} exited {proc.returncode}")
        if i >= warmup:
            times.append(elapsed)
    return Timing(label, times)


def timer_name(hyperfine: bool) -> str:
    return "hyperfine" if hyperfine and shutil.which("hyperfine") else "perf_counter"


def print_table(timings: Sequence[Timing]) -> None:
    width = max(len(t.label) for t in timings)
    print(f"  {'command':<{width}}  {'min':>7}  {'median':>7}  {'max':>7}   (wall seconds)")
    for t in timings:
        print(f"  {t.label:<{width}}  {t.min:7.3f}  {t.median:7.3f}  {t.max:7.3f}")
