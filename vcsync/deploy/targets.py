"""Running one operation over every database an environment names (fleets: DESIGN §9)."""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

from vcsync.config import Config
from vcsync.db.urls import Target, UnsetVariable, targets, unresolved_name
from vcsync.deploy.provenance import Provenance, provenance
from vcsync.deploy.session import Progress, Session, TargetResult
from vcsync.project import Project


def origin_of(project: Project) -> Provenance:
    return provenance(project.repo, list(dict.fromkeys(project.folders)))


def environment_targets(config: Config, environment: str) -> list[Target]:
    return targets(config.environment(environment), config.root)


class Unresolved(NamedTuple):
    """An environment whose targets cannot be named (an unset `env:` variable: normal on a
    laptop): how to name it without a secret, and why."""

    name: str
    reason: str


def readable_targets(config: Config, environment: str) -> list[Target] | Unresolved:
    """The targets a reading command (status, history, verify) reports on, or why it cannot:
    one unset variable must not hide the other environments. An environment the config does
    not name, or a URL that is not one, stays a configuration error (exit 2)."""
    urls = config.environment(environment).urls
    try:
        return environment_targets(config, environment)
    except UnsetVariable as exc:
        return Unresolved(unresolved_name(urls), str(exc))


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
) -> list[TargetResult]:
    """Each target in turn, each under its own lock and with its own ledger rows. `origin`:
    where the scripts come from, when not the work tree (a release tag)."""
    origin = origin or origin_of(project)
    results = []
    for target in environment_targets(config, environment):
        with Session(
            config,
            target,
            operation,
            origin,
            lock_timeout=lock_timeout,
            dry_run=dry_run,
            reason=reason,
            progress=progress,
        ) as session:
            results.append(body(session))
    return results
