"""`--record-ref`: refs/deployments/<env> names the commit an environment's schema came from,
so `git log refs/deployments/production..v1.4.0 -- database/` lists what production lacks.

The ref points at an anchor commit whose parent is the commit that added the newest
migration applied there (right after `migrate --to` and after a rollback alike, not merely
the commit vcsync ran from) and whose tree is that commit's. Its message carries each
target's ledger head (`Ledger-Head: TARGET SEQ:HASH`): the chain anchored outside the
database, which `verify` compares with the ledger, so deleting its newest rows shows.
"""

from __future__ import annotations

import re

from vcsync.config import Config
from vcsync.db import connect
from vcsync.db.urls import Target
from vcsync.deploy.plan import load_deployables
from vcsync.deploy.report import read_states
from vcsync.deploy.session import target_name
from vcsync.deploy.targets import environment_targets
from vcsync.errors import GitError
from vcsync.gitrepo import Repo
from vcsync.ledger.chain import describe_head, head
from vcsync.project import open_project

REF_PREFIX = "refs/deployments/"
HEAD_TRAILER = "Ledger-Head"
_HEAD_LINE = re.compile(
    rf"^{HEAD_TRAILER}: (?P<target>.+) (?P<seq>\d+):(?P<hash>[0-9a-f]{{64}})$", re.M
)
# An anchor commit needs an author; a CI runner often has no Git identity configured.
_FALLBACK_IDENTITY = (("user.name", "vcsync"), ("user.email", "vcsync@localhost"))


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
    heads = [
        f"{HEAD_TRAILER}: {target_name(target)} {_head_of(config, target)}"
        for target in environment_targets(config, environment)
    ]
    anchor = _anchor_commit(
        project.repo,
        commit,
        f"vcsync: {environment} deployed at {commit[:12]}\n\n" + "\n".join(heads),
    )
    project.repo.run("update-ref", "-m", f"vcsync: {environment}", ref, anchor)
    return f"recorded {ref} at {commit[:12]} (anchor {anchor[:12]}, {len(heads)} ledger head(s))."


def _head_of(config: Config, target: Target) -> str:
    conn = connect(target, holder="vcsync record-ref", create=False)
    try:
        return describe_head(*head(conn, target.ledger_schema(config.ledger_schema)))
    finally:
        conn.close()


def _anchor_commit(repo: Repo, parent: str, message: str) -> str:
    """A child of `parent` with its tree, carrying `message`."""
    has_identity = repo.run("var", "GIT_COMMITTER_IDENT", check=False).strip()
    fallback = [] if has_identity else [f"-c{key}={value}" for key, value in _FALLBACK_IDENTITY]
    tree = f"{parent}^{{tree}}"
    return repo.run(*fallback, "commit-tree", tree, "-p", parent, "-m", message).strip()


def anchored_heads(repo: Repo | None, environment: str) -> dict[str, tuple[int, str]]:
    """The ledger heads refs/deployments/<env> anchors, by target; empty without the ref."""
    if repo is None:
        return {}
    ref = REF_PREFIX + environment
    if repo.resolve(ref) is None:
        return {}
    message = repo.run("log", "-1", "--format=%B", ref, check=False)
    return {
        match["target"]: (int(match["seq"]), match["hash"])
        for match in _HEAD_LINE.finditer(message)
    }
