"""`vcsync report` and `vcsync metrics`: what the ledgers say, for people and for monitors.

Both read one overview of every environment and target (vcsync/overview.py) and only
render it: an HTML page or JSON (report), Prometheus' text format (metrics).
"""

from __future__ import annotations

import click

COMMANDS: list[click.Command] = []
