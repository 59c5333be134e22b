"""`--record-ref`: refs/deployments/<env> names the commit an environment's schema came from,
so `git log refs/deployments/production..v1.4.0 -- database/` lists what production lacks.

The ref points at the commit that added the newest migration applied there — right after
`migrate --to` and after a rollback alike, not merely at the commit vcsync ran from.
"""

from __future__ import annotations

from vcsync.check import open_project
from vcsync.config import Config
from vcsync.deploy.plan import load_deployables
from vcsync.deploy.report import read_states
from vcsync.deploy.targets import environment_targets
from vcsync.errors import GitError

REF_PREFIX = "refs/deployments/"


def record_deployment_ref(config: Config, environment: str) -> str:
    """Point the ref; return one line saying where (or why not)."""
    project = open_project(config)
    if project.repo is None or not project.repo.has_commits():
        raise GitError("--record-ref needs a Git repository with commits.")
    target = environment_targets(config, environment)[0]
    applied = [k for k, s in read_states(config, target).items() if s.applied and k[:1] != "~"]
    ref = REF_PREFIX + environment
    if not applied:
        project.repo.run("update-ref", "-d", ref, check=False)
        return f"{ref} removed: nothing is applied in {environment}."
    newest = max(applied)
    paths = {
        d.version_sort: d.migration.up.path
        for d in load_deployables(project, refuse_unplaced=False)
    }
    path = paths.get(newest)
    commit = (
        path
        and project.repo.run(
            "log", "-1", "--format=%H", "--diff-filter=A", "HEAD", "--", path
        ).strip()
    )
    if not commit:
        return (
            f"{ref} not recorded: the newest migration applied in {environment} is not committed."
        )
    project.repo.run("update-ref", "-m", f"vcsync: {environment}", ref, commit)
    return f"recorded {ref} at {commit[:12]}."
