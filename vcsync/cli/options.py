"""Options every command shares."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from vcsync.cli import render
from vcsync.config import Config, load_config

F = TypeVar("F", bound=Callable[..., Any])


def config_option(command: F) -> F:
    return click.option(
        "--config",
        "config_path",
        type=click.Path(path_type=Path, dir_okay=False),
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
