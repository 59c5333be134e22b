"""Throw-away databases: where verify's round trip and `diff` build schemas from Git.

A temporary SQLite file by default, or a database created on the PostgreSQL server that
`scratch_url` names and dropped afterwards. Migrations reach it through the same
`migrate`/`rollback` as any environment (its ledger is scratch too).
"""

from __future__ import annotations

import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING

from vcsync.config import Config, Environment
from vcsync.db import connect
from vcsync.db.urls import Target, identity, libpq_fields, on_database, resolve, without_secrets
from vcsync.deploy.targets import environment_targets
from vcsync.errors import VcsyncError

if TYPE_CHECKING:
    from vcsync.snapshot import Snapshot

SCRATCH = "scratch"
# Without `scratch_url` the scratch database is a temporary SQLite file: it runs SQLite's
# SQL, and stands in for PostgreSQL (what it cannot run there is reported, not skipped).
_SQLITE_SERVES = ("sqlite", "postgres", "postgresql")


def scratch_problem(config: Config) -> str | None:
    """Why no scratch database suits the configured dialect, or None when one can be had."""
    if config.scratch_url is not None or config.dialect in _SQLITE_SERVES:
        return None
    return (
        f"no scratch database suits the {config.dialect} dialect (without scratch_url vcsync "
        "builds one as a temporary SQLite file); set scratch_url to a server it can create "
        "scratch databases on"
    )


def scratch_stand_in(config: Config) -> str | None:
    """What the scratch database stands in for when it is not the dialect's own, or None."""
    if config.scratch_url is not None or config.dialect == "sqlite":
        return None
    return (
        f"the round trip ran on a temporary SQLite database standing in for {config.dialect}; "
        "set scratch_url to run it on a PostgreSQL server"
    )


def snapshot_of(target: Target, config: Config, *, create: bool = True) -> Snapshot:
    from vcsync.snapshot import take_snapshot

    conn = connect(target, holder="vcsync snapshot", create=create)
    try:
        return take_snapshot(conn, config.ledger_schema)
    finally:
        conn.close()


@contextmanager
def scratch_database(config: Config) -> Iterator[tuple[Config, Target]]:
    """A throw-away database: a temporary SQLite file, or a database created on the
    PostgreSQL server `scratch_url` names and dropped afterwards."""
    if config.scratch_url is None or resolve(config.scratch_url, "scratch_url").startswith(
        "sqlite"
    ):
        with tempfile.TemporaryDirectory(prefix="vcsync-scratch-") as folder:
            url = f"sqlite:///{Path(folder) / 'scratch.db'}"
            yield _with_scratch(config, url)
        return
    import psycopg
    from psycopg import sql

    server = resolve(config.scratch_url, "scratch_url")
    where = f"the scratch_url server {identity(libpq_fields(server, 'scratch_url'))}"
    name = f"vcsync_scratch_{uuid.uuid4().hex[:12]}"
    try:
        with psycopg.connect(server, autocommit=True, connect_timeout=10) as admin:
            admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    except psycopg.Error as exc:
        raise VcsyncError(
            f"cannot create a scratch database on {where}: {_reason(exc, server)}."
        ) from None
    try:
        yield _with_scratch(config, on_database(server, name))
    finally:
        try:
            with psycopg.connect(server, autocommit=True, connect_timeout=10) as admin:
                admin.execute(
                    sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
                )
        except psycopg.Error as exc:
            raise VcsyncError(
                f"cannot drop the scratch database {name} on {where}: {_reason(exc, server)}."
            ) from None


def _reason(exc: Exception, server: str) -> str:
    """The driver's first line, which may quote the URL back: never with its password."""
    text = str(exc).strip()
    return without_secrets(text.splitlines()[0].rstrip(".") if text else type(exc).__name__, server)


def _with_scratch(config: Config, url: str) -> tuple[Config, Target]:
    scratch = replace(
        config, environments=MappingProxyType({SCRATCH: Environment(SCRATCH, (url,))})
    )
    target = environment_targets(scratch, SCRATCH)[0]
    return scratch, target
