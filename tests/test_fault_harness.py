"""The fault harness (bench/fault_harness.py) with small counts, in the suite.

Real `vcsync` processes against the real PostgreSQL server and SQLite files: four racing
migrates, `kill -9` at random moments during transactional migrations, and a
`no-transaction` migration cut off after its first statement committed (by `kill -9`, and
by `pg_terminate_backend`). The harness counts what a user sees (exit codes, one-sentence
errors, `vcsync history` and `status`, table rows); each test asserts every count is full
and shows the harness's own account of anything that was not. The full counts (16 x 5
rounds, 100 and 60 kills, 8 trials) are `python bench/fault_harness.py`, run by hand.

Every wait is a poll with a deadline (the harness's `wait_for`); the one sleep is the
random moment of a kill, which decides where it lands, never whether a test passes.
"""

from __future__ import annotations

import importlib
import random
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import vcsync

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
harness: Any = importlib.import_module("fault_harness")

VCSYNC = [sys.executable, "-m", "vcsync"]
SEED = 20240611  # where the kills land; the assertions hold wherever that is


@pytest.fixture
def make_project(request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    """A project whose `staging` is a scratch PostgreSQL database or a SQLite file, its base
    migration applied; processes it started are killed at the end."""

    def make(kind: str) -> Any:
        if kind == "postgres":
            url = request.getfixturevalue("pg_url")
            backend = harness.Postgres(url)
            request.addfinalizer(backend.close)
        else:
            url, backend = harness.Sqlite.url, None
        project = harness.Project.create(tmp_path / "p", backend, url, VCSYNC)
        request.addfinalizer(project.stop)
        return project

    return make


def history_outcomes(project: Any) -> list[str]:
    """The outcome column of `vcsync history --env staging`, as printed, newest first."""
    run = vcsync(project.root, "history", "--env", "staging")
    assert run.exit_code == 0, run.stderr
    rows = run.lines[2:]  # the target, then the table's header
    return [row.split()[3] for row in rows]


@pytest.mark.parametrize("kind", ["postgres", "sqlite"])
def test_four_concurrent_migrates_apply_each_migration_exactly_once(
    make_project: Any, kind: str
) -> None:
    result = harness.race(make_project(kind), processes=4, rounds=1)
    assert not result.problems, "\n".join(result.problems)
    assert result.migrations == 3 and result.applied_once == 3
    assert result.one_winner == 1
    # each loser waited and found nothing to do, or (--lock-timeout 0) said so in a sentence
    assert result.losers == 3 and result.nothing_to_do + result.locked == 3
    assert result.verified and result.ok


@pytest.mark.parametrize(("kind", "kills"), [("postgres", 3), ("sqlite", 2)])
def test_kill_9_at_random_moments_frees_the_lock_and_shows_the_run_interrupted(
    make_project: Any, kind: str, kills: int
) -> None:
    project = make_project(kind)
    result = harness.kill_trials(project, kills, random.Random(SEED), log=lambda _: None)
    assert not result.problems, "\n".join(result.problems)
    assert result.kills == kills and result.consistent == kills
    assert result.shown == result.unfinished
    # a killed run's lock goes at once (SQLite: the kernel) or within the server's 1 s
    # client check (PostgreSQL); 5 s leaves room for a loaded machine
    assert max(result.lock_free) < 5
    assert result.ok
    # what `vcsync history` prints: one `interrupted` row per run killed between its start
    # row and its end row, every other run succeeded
    outcomes = history_outcomes(project)
    assert outcomes.count("interrupted") == result.unfinished
    assert set(outcomes) <= {"interrupted", "succeeded"}


@pytest.mark.parametrize("kind", ["postgres", "sqlite"])
def test_a_killed_no_transaction_migration_is_refused_not_repeated(
    make_project: Any, kind: str
) -> None:
    result = harness.partial_trials(make_project(kind), 1)
    assert not result.problems, "\n".join(result.problems)
    assert result.refused == 1  # exit 1 naming `vcsync repair --env staging`
    assert result.repeated == 0  # its first statement's counter row is there once
    assert result.status_shown == 1  # `vcsync status` says interrupted, not pending
    assert result.recovered == 1  # finished by hand + repair: nothing to do, rows once
    assert result.ok


def test_a_terminated_no_transaction_migration_is_refused_not_repeated(
    make_project: Any,
) -> None:
    result = harness.partial_trials(make_project("postgres"), 1, "pg_terminate_backend")
    assert not result.problems, "\n".join(result.problems)
    assert result.lost_sentence == 1  # the run said it lost the connection, in one sentence
    assert result.refused == 1 and result.repeated == 0
    assert result.status_shown == 1 and result.recovered == 1
    assert result.ok
