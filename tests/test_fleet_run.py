"""Fleets (DESIGN §9): every target its own line, JSON object, lock and ledger; a summary;
one failed or unreachable target never stops the others (unless --fail-fast); --parallel,
--shard and targets_query."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import psycopg
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.helpers import SPLIT_CONFIG, make_repo, vcsync
from tests.projects import BASE
from vcsync.db.urls import SQLITE, Target
from vcsync.deploy.targets import Shard

NAMES = ["t1", "t2", "t3", "t4"]


def sqlite_fleet(tmp_path: Path, names: list[str] = NAMES, extra: str = "") -> Path:
    urls = ", ".join(f'"sqlite:///{n}.db"' for n in names)
    config = f"{SPLIT_CONFIG}[tool.vcsync.environments.fleet]\nurls = [{urls}]\n{extra}"
    return make_repo(tmp_path / "p", BASE, config=config)


def applied(db: Path) -> list[str]:
    with sqlite3.connect(db) as conn:
        rows = conn.execute(
            "SELECT version, status FROM version_control__migration_dashboard ORDER BY version_sort"
        ).fetchall()
    return [f"{v}:{s}" for v, s in rows]


def test_each_target_has_its_line_and_json_object_and_a_summary(tmp_path: Path) -> None:
    repo = sqlite_fleet(tmp_path)
    run = vcsync(repo, "migrate", "--env", "fleet")
    assert run.exit_code == 0, run.stderr
    for name in NAMES:
        assert f"fleet (sqlite:///{name}.db): migrate 3 migrations" in run.stdout
    assert run.lines[-1] == "4 targets: 4 migrated."
    again = json.loads(vcsync(repo, "migrate", "--env", "fleet", "--format", "json").stdout)
    assert sorted(r["target"] for r in again["results"]) == [f"sqlite:///{n}.db" for n in NAMES]
    assert again["summary"]["counts"] == {"nothing to do": 4}
    assert again["summary"]["text"] == "4 targets: 4 nothing to do."


def test_a_failing_target_in_the_middle_stops_no_other(tmp_path: Path) -> None:
    repo = sqlite_fleet(tmp_path)
    with sqlite3.connect(repo / "t2.db") as db:
        db.execute("CREATE TABLE customers (x int)")  # migration 1 fails there
    run = vcsync(repo, "migrate", "--env", "fleet")
    assert run.exit_code == 1
    assert "vcsync: migrate of fleet (sqlite:///t2.db) failed: migration 1 failed" in run.stderr
    for name in ("t1", "t3", "t4"):
        assert f"fleet (sqlite:///{name}.db): migrate 3 migrations" in run.stdout
        assert applied(repo / f"{name}.db") == ["1:applied", "2:applied", "3:applied"]
    assert run.lines[-1].startswith("4 targets: 3 migrated; 1 failed: sqlite:///t2.db (migration 1")


def test_an_unreachable_target_is_named_and_the_others_run(tmp_path: Path) -> None:
    config = (
        f"{SPLIT_CONFIG}[tool.vcsync.environments.fleet]\n"
        'urls = ["sqlite:///a.db", "postgresql://nobody@127.0.0.1:1/gone", "sqlite:///b.db"]\n'
    )
    repo = make_repo(tmp_path / "p", BASE, config=config)
    run = vcsync(repo, "migrate", "--env", "fleet", "--format", "json")
    assert run.exit_code == 1
    results = {r["target"]: r for r in json.loads(run.stdout)["results"]}
    gone = results["postgresql://nobody@127.0.0.1:1/gone"]
    assert gone["outcome"] == "failed" and "cannot connect" in gone["error"]
    assert results["sqlite:///a.db"]["outcome"] == results["sqlite:///b.db"]["outcome"]
    assert results["sqlite:///b.db"]["outcome"] == "succeeded"
    status = vcsync(repo, "status")
    assert status.exit_code == 1
    assert "fleet:postgresql://nobody@127.0.0.1:1/gone is unreachable" in status.stderr
    history = vcsync(repo, "history", "--env", "fleet")
    assert history.exit_code == 1
    assert "postgresql://nobody@127.0.0.1:1/gone: unreachable" in history.stdout
    assert "sqlite:///a.db:" in history.stdout


def test_fail_fast_starts_nothing_after_a_failure_and_lists_the_rest(tmp_path: Path) -> None:
    repo = sqlite_fleet(tmp_path)
    with sqlite3.connect(repo / "t2.db") as db:
        db.execute("CREATE TABLE customers (x int)")
    run = vcsync(repo, "migrate", "--env", "fleet", "--fail-fast")
    assert run.exit_code == 1
    assert "fleet (sqlite:///t3.db): not started" in run.stderr
    assert "fleet (sqlite:///t4.db): not started" in run.stderr
    assert not (repo / "t3.db").exists() and not (repo / "t4.db").exists()
    assert run.lines[-1] == (
        "4 targets: 1 migrated; 1 failed: sqlite:///t2.db (migration 1 failed: statement 1 of 1 "
        "failed: table customers already exists); 2 not started: sqlite:///t3.db, sqlite:///t4.db."
    )


def test_parallel_gives_the_ledgers_a_serial_run_gives(tmp_path: Path) -> None:
    names = [f"n{i}" for i in range(8)]
    serial = sqlite_fleet(tmp_path / "s", names)
    parallel = sqlite_fleet(tmp_path / "p", names)
    for repo in (serial, parallel):
        with sqlite3.connect(repo / "n5.db") as db:
            db.execute("CREATE TABLE orders (x int)")  # migration 2 fails there
    one = vcsync(serial, "migrate", "--env", "fleet")
    four = vcsync(parallel, "migrate", "--env", "fleet", "--parallel", "4")
    assert one.exit_code == four.exit_code == 1
    assert (
        sorted(one.lines[:-1])
        == sorted(line.replace(line.split("deployment ")[-1], "") for line in four.lines[:-1])
        or four.lines[-1] == one.lines[-1]
    )
    for name in names:
        assert applied(serial / f"{name}.db") == applied(parallel / f"{name}.db")
    assert applied(parallel / "n5.db") == ["1:applied", "2:failed"]
    rolled = vcsync(
        parallel,
        "rollback",
        "--env",
        "fleet",
        "--steps",
        "1",
        "--reason",
        "test",
        "--parallel",
        "3",
    )
    assert rolled.exit_code == 0, rolled.stderr
    assert rolled.lines[-1] == "8 targets: 8 rolled back."


def _target(name: str) -> Target:
    return Target("fleet", SQLITE, name, name)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.text(min_size=1, max_size=12), min_size=0, max_size=40, unique=True),
    st.integers(min_value=1, max_value=7),
    st.randoms(use_true_random=False),
)
def test_shards_cover_every_target_exactly_once_in_any_order(
    names: list[str], count: int, rng: object
) -> None:
    targets = [_target(n) for n in names]
    shuffled = list(targets)
    rng.shuffle(shuffled)  # type: ignore[attr-defined]
    for listing in (targets, shuffled):
        taken = [t.display for k in range(count) for t in listing if Shard(k, count).holds(t)]
        assert sorted(taken) == sorted(names)
    for k in range(count):
        assert {t.display for t in targets if Shard(k, count).holds(t)} == {
            t.display for t in shuffled if Shard(k, count).holds(t)
        }


def test_shard_runs_its_part_and_bad_shards_are_usage_errors(tmp_path: Path) -> None:
    repo = sqlite_fleet(tmp_path)
    seen = []
    for k in range(3):
        run = vcsync(repo, "migrate", "--env", "fleet", "--shard", f"{k}/3", "--format", "json")
        assert run.exit_code == 0, run.stderr
        seen += [r["target"] for r in json.loads(run.stdout)["results"]]
    assert sorted(seen) == [f"sqlite:///{n}.db" for n in NAMES]
    for bad in ("3/3", "1", "a/b", "0/0", "-1/2"):
        run = vcsync(repo, "migrate", "--env", "fleet", "--shard", bad)
        assert run.exit_code == 2, (bad, run.stderr)
        assert "--shard" in run.stderr


def test_targets_query_returning_urls(tmp_path: Path) -> None:
    control = tmp_path / "control.db"
    with sqlite3.connect(control) as db:
        db.execute("CREATE TABLE tenants (url text, active int)")
        db.executemany(
            "INSERT INTO tenants VALUES (?, ?)",
            [(f"sqlite:///{n}.db", 1) for n in ("q1", "q2")] + [("sqlite:///off.db", 0)],
        )
    extra = (
        "[tool.vcsync.environments.tenants]\n"
        'targets_query = "SELECT url FROM tenants WHERE active = 1 ORDER BY url"\n'
        f'control_url = "sqlite:///{control}"\n'
    )
    repo = sqlite_fleet(tmp_path, ["t1"], extra)
    run = vcsync(repo, "migrate", "--env", "tenants")
    assert run.exit_code == 0, run.stderr
    assert "tenants (sqlite:///q1.db): migrate 3 migrations" in run.stdout
    assert "tenants (sqlite:///q2.db): migrate 3 migrations" in run.stdout
    assert run.lines[-1] == "2 targets: 2 migrated."
    assert not (repo / "off.db").exists()


def test_targets_query_failing_or_empty_is_an_error_not_a_no_op(tmp_path: Path) -> None:
    control = tmp_path / "control.db"
    with sqlite3.connect(control) as db:
        db.execute("CREATE TABLE tenants (url text)")
    for query, says in (
        ("SELECT url FROM tenants", "returned no rows"),
        ("SELECT url FROM no_such_table", "failed on sqlite:///"),
    ):
        extra = (
            "[tool.vcsync.environments.tenants]\n"
            f'targets_query = "{query}"\ncontrol_url = "sqlite:///{control}"\n'
        )
        repo = sqlite_fleet(tmp_path / query.split()[-1], ["t1"], extra)
        run = vcsync(repo, "migrate", "--env", "tenants")
        assert run.exit_code == 1, run.stdout
        assert run.stderr.startswith("vcsync: the targets_query of tenants ")
        assert says in run.stderr and len(run.stderr.strip().splitlines()) == 1
        status = vcsync(repo, "status", "--env", "tenants")
        assert status.exit_code == 1
        assert "tenants is unreachable: the targets_query of tenants" in status.stderr


def test_targets_query_needs_a_control_url(tmp_path: Path) -> None:
    extra = '[tool.vcsync.environments.tenants]\ntargets_query = "SELECT 1"\n'
    repo = sqlite_fleet(tmp_path, ["t1"], extra)
    run = vcsync(repo, "migrate", "--env", "tenants")
    assert run.exit_code == 2
    assert "control_url" in run.stderr


def test_schema_fleet_from_a_targets_query_names_each_tenant(tmp_path: Path, pg_url: str) -> None:
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("CREATE TABLE public.tenants (name text)")
        for name in ("tenant_a", "tenant_b", "tenant_c"):
            conn.execute(f"CREATE SCHEMA {name}")
            conn.execute("INSERT INTO public.tenants VALUES (%s)", [name])
        conn.execute("CREATE TABLE tenant_b.orders (x int)")  # migration 2 fails there
    config = (
        f'{SPLIT_CONFIG}[tool.vcsync.environments.tenants]\nurl = "{pg_url}"\n'
        'targets_query = "SELECT name FROM public.tenants ORDER BY name"\n'
    )
    repo = make_repo(tmp_path / "p", BASE, config=config)
    display = pg_url  # user, host, port and database: the URL holds no secret
    run = vcsync(repo, "migrate", "--env", "tenants", "--parallel", "2")
    assert run.exit_code == 1
    assert f"tenants ({display}#tenant_a): migrate 3 migrations" in run.stdout
    assert f"tenants ({display}#tenant_c): migrate 3 migrations" in run.stdout
    assert f"migrate of tenants ({display}#tenant_b) failed: migration 2 failed" in run.stderr
    assert run.lines[-1].startswith("3 targets: 2 migrated; 1 failed: tenant_b (migration 2")

    status = vcsync(repo, "status")
    header = status.lines[0].split()
    assert header == [
        "version",
        "description",
        "tenants:tenant_a",
        "tenants:tenant_b",
        "tenants:tenant_c",
    ]
    report = json.loads(vcsync(repo, "status", "--format", "json").stdout)
    keys = [c["key"] for c in report["environments"]]
    assert keys == ["tenants:tenant_a", "tenants:tenant_b", "tenants:tenant_c"]
    orders = next(m for m in report["migrations"] if m["version"] == "2")
    assert orders["states"] == {
        "tenants:tenant_a": "applied",
        "tenants:tenant_b": "failed",
        "tenants:tenant_c": "applied",
    }

    history = json.loads(vcsync(repo, "history", "--env", "tenants", "--format", "json").stdout)
    assert [h["target"] for h in history] == [f"{display}#tenant_{t}" for t in "abc"]

    verify = vcsync(repo, "verify", "--env", "tenants", "--format", "json")
    assert verify.exit_code == 0, verify.stdout  # each tenant's ledger read and checked
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("DROP TABLE tenant_b.orders")
    fixed = vcsync(repo, "migrate", "--env", "tenants", "--format", "json")
    assert fixed.exit_code == 0, fixed.stdout + fixed.stderr
    summary = json.loads(fixed.stdout)["summary"]
    assert summary["counts"] == {"nothing to do": 2, "migrated": 1}

    tag = vcsync(repo, "tag-release", "v1", "--env", "tenants", "--format", "json")
    assert tag.exit_code == 0, tag.stderr
    recorded = json.loads(tag.stdout)["recorded"]
    assert [r["target"] for r in recorded] == [f"{display}#tenant_{t}" for t in "abc"]
    assert {r["outcome"] for r in recorded} == {"recorded"}


def _mixed_fleet(tmp_path: Path, pg_url: str) -> Path:
    """Six SQLite files and three PostgreSQL tenant schemas, migrated, one target of each
    kind with a failed migration: several targets with different ledgers to read."""
    names = [f"r{i}" for i in range(6)]
    tenants = ["tenant_x", "tenant_y", "tenant_z"]
    with psycopg.connect(pg_url, autocommit=True) as conn:
        for name in tenants:
            conn.execute(f"CREATE SCHEMA {name}")
        conn.execute("CREATE TABLE tenant_y.orders (x int)")  # migration 2 fails there
    extra = (
        f'[tool.vcsync.environments.tenants]\nurl = "{pg_url}"\n'
        f"schemas = [{', '.join(repr(t).replace(chr(39), chr(34)) for t in tenants)}]\n"
    )
    repo = sqlite_fleet(tmp_path, names, extra)
    with sqlite3.connect(repo / "r3.db") as db:
        db.execute("CREATE TABLE orders (x int)")
    for env in ("fleet", "tenants"):
        assert vcsync(repo, "migrate", "--env", env).exit_code == 1
    with sqlite3.connect(repo / "r1.db") as db:
        db.execute("CREATE TABLE made_by_hand (x int)")  # drift for verify to find
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("CREATE TABLE tenant_z.made_by_hand (x int)")
    return repo


def test_reading_commands_print_the_same_at_any_parallel(tmp_path: Path, pg_url: str) -> None:
    repo = _mixed_fleet(tmp_path, pg_url)
    commands: list[list[str]] = [
        ["status"],
        ["status", "--format", "json"],
        ["history", "--env", "fleet"],
        ["history", "--env", "tenants", "--format", "json"],
        ["verify", "--env", "fleet", "--env", "tenants"],
        ["verify", "--env", "fleet", "--env", "tenants", "--format", "json"],
    ]
    for command in commands:
        serial = vcsync(repo, *command)
        assert (serial.stdout + serial.stderr).strip(), command
        for _ in range(3):  # whatever finishes first, the same lines in the same order
            parallel = vcsync(repo, *command, "--parallel", "4")
            assert parallel.exit_code == serial.exit_code, (command, parallel.stderr)
            assert parallel.stdout == serial.stdout, command
            assert parallel.stderr == serial.stderr, command
    report = json.loads(vcsync(repo, "status", "--format", "json", "--parallel", "4").stdout)
    keys = [c["key"] for c in report["environments"]]
    assert keys == [f"fleet:sqlite:///r{i}.db" for i in range(6)] + [
        f"tenants:tenant_{t}" for t in "xyz"
    ]
    verify = vcsync(repo, "verify", "--env", "fleet", "--env", "tenants", "--parallel", "4")
    assert verify.exit_code == 1
    assert "made_by_hand" in verify.stdout + verify.stderr
    history = json.loads(
        vcsync(repo, "history", "--env", "tenants", "--format", "json", "--parallel", "3").stdout
    )
    assert [h["target"] for h in history] == [f"{pg_url}#tenant_{t}" for t in "xyz"]


def test_status_shard_shows_its_targets_and_the_shards_cover_each_once(tmp_path: Path) -> None:
    names = [f"s{i}" for i in range(7)]
    repo = sqlite_fleet(tmp_path, names)
    assert vcsync(repo, "migrate", "--env", "fleet").exit_code == 0
    everything = json.loads(vcsync(repo, "status", "--format", "json").stdout)
    every_key = [c["key"] for c in everything["environments"]]
    assert every_key == [f"fleet:sqlite:///{n}.db" for n in names]
    count = 3
    seen: list[str] = []
    for k in range(count):
        shard = Shard(k, count)
        mine = [
            f"fleet:sqlite:///{n}.db" for n in names if shard.holds(_target(f"sqlite:///{n}.db"))
        ]
        for parallel in ("1", "3"):
            run = vcsync(
                repo,
                "status",
                "--shard",
                f"{k}/{count}",
                "--parallel",
                parallel,
                "--format",
                "json",
            )
            assert run.exit_code == 0, run.stderr
            keys = [c["key"] for c in json.loads(run.stdout)["environments"]]
            assert keys == mine  # only this shard's targets, in config order
        text = vcsync(repo, "status", "--env", "fleet", "--shard", f"{k}/{count}")
        assert text.lines[0].split()[2:] == mine
        seen += keys
    assert sorted(seen) == sorted(every_key) and len(seen) == len(set(seen))
    history = vcsync(repo, "history", "--env", "fleet", "--shard", "0/1", "--format", "json")
    assert [h["target"] for h in json.loads(history.stdout)] == [f"sqlite:///{n}.db" for n in names]


def test_bad_shard_on_a_reading_command_is_a_usage_error(tmp_path: Path) -> None:
    repo = sqlite_fleet(tmp_path)
    for command in (["status"], ["history", "--env", "fleet"], ["verify", "--env", "fleet"]):
        for bad in ("3/3", "1", "a/b", "0/0", "-1/2"):
            run = vcsync(repo, *command, "--shard", bad)
            assert run.exit_code == 2, (command, bad, run.stderr)
            assert "--shard" in run.stderr
        run = vcsync(repo, *command, "--parallel", "0")
        assert run.exit_code == 2 and "--parallel" in run.stderr
