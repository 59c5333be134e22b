"""Running one operation over every database an environment names (fleets: DESIGN §9).

A fleet is `urls = [...]`, one `url` with `schemas = [...]`, or a `targets_query` run on
the environment's `control_url`. Each target is its own run: its own connection, lock and
ledger rows, so one failed or unreachable target never stops or hides the others (unless
`--fail-fast`, which stops *starting* targets and lists the rest as not started).

`--parallel N` runs up to N targets at once on threads: a target's time is nearly all
waiting on its database (psycopg and sqlite3 release the GIL while they wait), and threads
share the one project, plan and Git provenance that every target uses (measured against
processes in the fleet bench: see docs/deployments.md).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import NamedTuple, TypeVar

from vcsync.config import Config, Environment
from vcsync.db.urls import Target, UnsetVariable, target_for, targets, unresolved_name
from vcsync.deploy.provenance import Provenance, provenance
from vcsync.deploy.session import Progress, Session, TargetResult, target_name
from vcsync.errors import ConfigError, OperationFailed, VcsyncError
from vcsync.project import Project

NOT_STARTED = "not started"

T = TypeVar("T")
R = TypeVar("R")


def origin_of(project: Project) -> Provenance:
    return provenance(project.repo, list(dict.fromkeys(project.folders)))


def short_names(names: Iterable[tuple[Target, str]]) -> dict[str, str]:
    """Full name -> the shortest unambiguous label (a tenant's schema when every tenant
    lives on one URL), for status headers and the summary line."""
    pairs = list(names)
    schemas = [t.schema for t, _ in pairs if t.schema is not None]
    unique = len(schemas) == len(set(schemas))
    return {name: (t.schema if t.schema is not None and unique else name) for t, name in pairs}


def is_fleet(config: Config, environment: str) -> bool:
    env = config.environment(environment)
    return len(env.urls) > 1 or bool(env.schemas) or env.targets_query is not None


class Shard(NamedTuple):
    """`--shard K/N` (0-based K): the targets whose name's SHA-256 is K modulo N. The name,
    not the position: every shard agrees whatever order the list comes in."""

    part: int
    parts: int

    def holds(self, target: Target) -> bool:
        digest = hashlib.sha256(target_name(target).encode()).digest()
        return int.from_bytes(digest[:8], "big") % self.parts == self.part

    def __str__(self) -> str:
        return f"{self.part}/{self.parts}"


class Fleet(NamedTuple):
    """How to run over an environment's targets."""

    parallel: int = 1
    shard: Shard | None = None
    fail_fast: bool = False


def environment_targets(config: Config, environment: str) -> list[Target]:
    """Every target the environment names; a `targets_query` is run on its control_url."""
    env = config.environment(environment)
    if env.targets_query is None:
        return targets(env, config.root)
    return _queried_targets(config, env)


def _queried_targets(config: Config, env: Environment) -> list[Target]:
    from vcsync.db import connect

    assert env.targets_query is not None
    where = f"the targets_query of {env.name}"
    control_url = env.control_url or (env.urls[0] if len(env.urls) == 1 else None)
    if control_url is None:
        raise ConfigError(f"environments.{env.name} has a targets_query but no control_url.")
    control = target_for(env.name, control_url, config.root)
    conn = connect(control, holder="vcsync targets_query", create=False)
    try:
        rows = conn.query(env.targets_query)
    except OperationFailed as exc:
        raise OperationFailed(f"{where} failed on {control.display}: {exc}") from None
    finally:
        conn.close()
    values = []
    for row in rows:
        value = row[0] if row else None
        if not isinstance(value, str) or not value.strip():
            raise OperationFailed(
                f"{where} returned {value!r} in a row; each row must hold one URL or schema "
                "name as text."
            )
        values.append(value.strip())
    if not values:
        raise OperationFailed(
            f"{where} returned no rows on {control.display}, so there is no target to run on; "
            "check the query and the control database."
        )
    values = list(dict.fromkeys(values))  # a target listed twice runs once
    urls = [v for v in values if _looks_like_url(v)]
    if urls and len(urls) != len(values):
        raise OperationFailed(f"{where} returned both URLs and schema names; return one kind.")
    if urls:
        schemas: tuple[str | None, ...] = env.schemas or (None,)
        return [target_for(env.name, u, config.root, s) for u in urls for s in schemas]
    if env.schemas:
        raise ConfigError(
            f"environments.{env.name} sets schemas and a targets_query that returns schema "
            "names; keep one."
        )
    on = env.urls or (control_url,)
    return [target_for(env.name, u, config.root, s) for u in on for s in values]


def _looks_like_url(value: str) -> bool:
    return value.startswith(("sqlite:///", "postgresql://", "postgres://", "env:")) or (
        "=" in value and " " in value.strip()
    )


class Unresolved(NamedTuple):
    """An environment whose targets cannot be named (an unset `env:` variable: normal on a
    laptop; a targets_query that failed): how to name it without a secret, and why."""

    name: str
    reason: str


def readable_targets(
    config: Config, environment: str, shard: Shard | None = None
) -> list[Target] | Unresolved:
    """The targets a reading command (status, history, verify) reports on, only this
    shard's when `shard` is given, or why it cannot: one unset variable must not hide the
    other environments. An environment the config does not name, or a URL that is not one,
    stays a configuration error (exit 2)."""
    env = config.environment(environment)
    try:
        return in_shard(environment_targets(config, environment), shard)
    except UnsetVariable as exc:
        return Unresolved(unresolved_name(env.urls), str(exc))
    except OperationFailed as exc:  # a targets_query that failed or returned nothing
        return Unresolved("targets_query", str(exc))


def fleet_targets(config: Config, environment: str, shard: Shard | None) -> list[Target]:
    """The environment's targets, only this shard's when `shard` is given."""
    return in_shard(environment_targets(config, environment), shard)


def in_shard(found: list[Target], shard: Shard | None) -> list[Target]:
    """The targets `shard` holds, in their order; all of them without a shard."""
    return found if shard is None else [t for t in found if shard.holds(t)]


def not_started(target: Target, operation: str, dry_run: bool) -> TargetResult:
    return TargetResult(
        target.environment,
        target_name(target),
        operation,
        "",
        NOT_STARTED,
        [],
        "not started: --fail-fast stopped the run after a target failed",
        None,
        [],
        dry_run,
    )


def failed_before_start(target: Target, operation: str, dry_run: bool, error: str) -> TargetResult:
    """A target that could not be run at all (unreachable, its lock held too long)."""
    return TargetResult(
        target.environment,
        target_name(target),
        operation,
        "",
        "failed",
        [],
        error,
        None,
        [],
        dry_run,
    )


def run_everywhere(
    config: Config,
    project: Project,
    environment: str,
    operation: str,
    body: Callable[[Session], TargetResult],
    *,
    lock_timeout: float,
    dry_run: bool = False,
    reason: str | None = None,
    progress: Progress | None = None,
    origin: Provenance | None = None,
    fleet: Fleet | None = None,
    on_result: Callable[[TargetResult], None] | None = None,
    on_start: Callable[[list[Target]], None] | None = None,
) -> list[TargetResult]:
    """Each target under its own lock and with its own ledger rows. `origin`: where the
    scripts come from, when not the work tree (a release tag). Project, plan and provenance
    are read once, by the caller, for every target.

    With `on_result`, each target's result goes to it as the target finishes and none is
    kept (memory stays flat in the number of targets): the list returned is empty. With
    `on_start`, the targets are announced before the first one runs."""
    fleet = fleet or Fleet()
    origin = origin or origin_of(project)
    chosen = fleet_targets(config, environment, fleet.shard)
    if on_start is not None:
        on_start(chosen)
    # A single target keeps its errors as errors (exit 1 or 2 with one sentence), and
    # streams its steps; in a fleet each target's failure is a result beside the others.
    alone = len(chosen) == 1 and not is_fleet(config, environment)

    def one(target: Target) -> TargetResult:
        try:
            with Session(
                config,
                target,
                operation,
                origin,
                lock_timeout=lock_timeout,
                dry_run=dry_run,
                reason=reason,
                progress=progress if alone else None,
            ) as session:
                return body(session)
        except VcsyncError as exc:
            if alone:
                raise
            return failed_before_start(target, operation, dry_run, str(exc))

    kept: list[TargetResult] = []
    for result in each_target(chosen, one, fleet.parallel, fleet.fail_fast, operation, dry_run):
        if on_result is None:
            kept.append(result)
        else:
            on_result(result)
    return kept


def each_target(
    chosen: list[Target],
    one: Callable[[Target], TargetResult],
    parallel: int,
    fail_fast: bool,
    operation: str,
    dry_run: bool,
) -> Iterator[TargetResult]:
    """Results as targets finish, at most `parallel` running at once; after a failure under
    `fail_fast` nothing new starts, and each target left is yielded as not started."""
    queue = iter(chosen)
    stopped = False

    def stop(result: TargetResult) -> bool:
        nonlocal stopped
        stopped = stopped or (fail_fast and result.outcome == "failed")
        return stopped

    yield from bounded(queue, one, parallel, stop)
    if stopped:
        for target in queue:
            yield not_started(target, operation, dry_run)


def bounded(
    queue: Iterator[T],
    one: Callable[[T], R],
    parallel: int,
    stop: Callable[[R], bool] = lambda _: False,
) -> Iterator[R]:
    """`one` over the items of `queue`, at most `parallel` at once (on threads when more
    than 1), each result as it finishes; once `stop` says so of a result, no new item is
    taken from `queue` (what is left there is the caller's)."""
    if parallel <= 1:
        for item in queue:
            result = one(item)
            yield result
            if stop(result):
                return
        return
    halted = False
    with ThreadPoolExecutor(max_workers=parallel, thread_name_prefix="vcsync") as pool:
        running: set[Future[R]] = set()
        try:
            while True:
                while not halted and len(running) < parallel:
                    following = next(queue, None)
                    if following is None:
                        break
                    running.add(pool.submit(one, following))
                if not running:
                    break
                done, running = wait(running, return_when=FIRST_COMPLETED)
                for future in done:
                    result = future.result()
                    yield result
                    halted = stop(result) or halted
        finally:
            for future in running:  # an error or an interrupt: start nothing more
                future.cancel()


def map_targets(items: Sequence[T], read: Callable[[T], R], parallel: int = 1) -> list[R]:
    """`read` of each item (a target, or what names one), at most `parallel` at once on
    the pool `migrate` runs on, the results in the items' order whatever finishes first:
    the reading commands (status, history, verify) print the same thing at any --parallel."""
    done: dict[int, R] = {}
    for index, result in bounded(
        iter(enumerate(items)), lambda pair: (pair[0], read(pair[1])), parallel
    ):
        done[index] = result
    return [done[index] for index in range(len(items))]
