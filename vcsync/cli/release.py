"""The release commands: tag-release and changelog."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from vcsync.cli import render
from vcsync.cli.options import data_options, load

F = TypeVar("F", bound=Callable[..., Any])


@click.command("tag-release")
@click.argument("tag")
@click.option(
    "--env",
    "environments",
    multiple=True,
    metavar="ENV",
    help="Record the release in this environment's ledger (repeatable).",
)
@click.option("-m", "--message", help="The tag message's first line (default: Release TAG).")
@click.option(
    "--lock-timeout",
    type=click.FloatRange(min=0),
    default=60.0,
    show_default=True,
    help="Seconds to wait for a deployment holding an environment's lock.",
)
@data_options
def tag_release(
    tag: str,
    environments: tuple[str, ...],
    message: str | None,
    lock_timeout: float,
    fmt: str,
    config_path: Path | None,
) -> int:
    """Tag HEAD as release TAG (schema version and manifest hash in the message) and
    record it in each named environment's ledger."""
    from vcsync.release import tag_release as run

    result = run(
        load(config_path), tag, list(environments), message=message, lock_timeout=lock_timeout
    )
    render.release_result(result, fmt)
    return 1 if result.failed else 0


@click.command()
@click.argument("from_ref", metavar="FROM")
@click.argument("to_ref", metavar="TO")
@data_options
def changelog(from_ref: str, to_ref: str, fmt: str, config_path: Path | None) -> int:
    """Release notes from FROM to TO (tags, branches or commits): the migrations added,
    what they change, destructive steps, and the rollback plan back to FROM."""
    from vcsync.changelog import changelog as read

    render.changelog_report(read(load(config_path), from_ref, to_ref), fmt)
    return 0


COMMANDS = (tag_release, changelog)
