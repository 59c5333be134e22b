"""Running one operation over every database an environment names (fleets: DESIGN §9)."""

from __future__ import annotations

from collections.abc import Callable

from vcsync.config import Config
from vcsync.db.urls import Target, targets
from vcsync.deploy.provenance import Provenance, provenance
from vcsync.deploy.session import Progress, Session, TargetResult
from vcsync.project import Project


def origin_of(project: Project) -> Provenance:
    return provenance(project.repo, list(dict.fromkeys(project.folders)))


def environment_targets(config: Config, environment: str) -> list[Target]:
    return targets(config.environment(environment), config.root)


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
) -> list[TargetResult]:
    """Each target in turn, each under its own lock and with its own ledger rows."""
    origin = origin_of(project)
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
