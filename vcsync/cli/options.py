"""Options every command shares."""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from vcsync.cli import render
from vcsync.config import Config, load_config, path_problem

if TYPE_CHECKING:  # the deploy machinery loads only when a fleet command runs
    from vcsync.deploy.targets import Shard

F = TypeVar("F", bound=Callable[..., Any])
MAX_SECONDS = 2_147_483  # PostgreSQL's longest lock_timeout, in seconds


class Seconds(click.FloatRange):
    """A finite wait in seconds: `inf`, `nan` and `1e308` are floats Python accepts, but no
    lock can wait that long (PostgreSQL's lock_timeout stops at 2,147,483 s, ~24 days)."""

    name = "seconds"

    def __init__(self) -> None:
        super().__init__(min=0, max=MAX_SECONDS)

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        seconds = super().convert(value, param, ctx)
        if math.isnan(seconds):
            self.fail(f"{value!r} is not a number of seconds (0 to {MAX_SECONDS}).", param, ctx)
        return seconds


class FilePath(click.Path):
    """A path that could exist: no name in it longer than a file system takes (asking the
    system about one fails with ENAMETOOLONG, where the user should hear what is wrong)."""

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        try:
            path_problem(os.fsdecode(value))
        except ValueError as exc:
            self.fail(f"it {exc}.", param, ctx)
        return super().convert(value, param, ctx)


def config_option(command: F) -> F:
    return click.option(
        "--config",
        "config_path",
        type=FilePath(path_type=Path, dir_okay=False),
        help="The config file (default: the nearest vcsync.toml or pyproject.toml above here).",
    )(command)


def format_option(command: F) -> F:
    return click.option(
        "--format",
        "fmt",
        type=click.Choice(render.FORMATS),
        default="text",
        show_default=True,
        help="Output format.",
    )(command)


def data_format_option(command: F) -> F:
    """`--format text|json`, for commands whose output is data, not findings."""
    return click.option(
        "--format",
        "fmt",
        type=click.Choice(["text", "json"]),
        default="text",
        show_default=True,
        help="Output format.",
    )(command)


def data_options(command: F) -> F:
    """--config and --format text|json."""
    return config_option(data_format_option(command))


def load(config_path: Path | None) -> Config:
    return load_config(config_path)


class ShardSpec(click.ParamType):  # type: ignore[type-arg]
    """`K/N`, 0-based: this run takes shard K of N (DESIGN §9)."""

    name = "K/N"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, tuple):
            return value
        index, slash, count = str(value).partition("/")
        if not (slash and index.strip().isdigit() and count.strip().isdigit()):
            self.fail(f"{value!r} is not K/N (0-based, e.g. 0/4).", param, ctx)
        k, n = int(index), int(count)
        if n < 1 or k >= n:
            self.fail(f"{value!r}: K must be 0 to N-1, and N at least 1 (0-based).", param, ctx)
        return (k, n)


def shard_of(value: tuple[int, int] | None) -> Shard | None:
    """The Shard a `--shard K/N` value names (None without the option)."""
    from vcsync.deploy.targets import Shard

    return None if value is None else Shard(*value)


def shard_option(command: F) -> F:
    """--shard K/N: only this shard's targets (DESIGN §9)."""
    return click.option(
        "--shard",
        type=ShardSpec(),
        help="Only shard K of N (0-based), a stable partition by a hash of each target's name.",
    )(command)


def parallel_option(command: F) -> F:
    """--parallel N: up to N targets of a fleet at once."""
    return click.option(
        "--parallel",
        type=click.IntRange(min=1, max=256),
        default=1,
        show_default=True,
        metavar="N",
        help="Run up to N targets of a fleet at once.",
    )(command)


def read_fleet_options(command: F) -> F:
    """--parallel and --shard, for the commands that only read each target's ledger
    (status, history, verify): a read never fails a target, so no --fail-fast."""
    return parallel_option(shard_option(command))


def fleet_options(command: F) -> F:
    """--parallel, --shard and --fail-fast: how a command runs over a fleet's targets."""
    command = click.option(
        "--fail-fast",
        is_flag=True,
        help="After a target fails, start no more (those left are listed as not started).",
    )(command)
    return read_fleet_options(command)
