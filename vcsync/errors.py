"""The exceptions users can see; the CLI's one error boundary maps them to exit codes.

Every message is one sentence that says what is wrong and, where it can, what to do.
"""

from __future__ import annotations


class VcsyncError(Exception):
    """Something the user asked for cannot be done as asked (exit 2)."""

    exit_code = 2


class ConfigError(VcsyncError):
    """The configuration file or a command-line option is invalid."""


class GitError(VcsyncError):
    """Git could not answer: no repository, a missing ref, a shallow history."""


class OperationFailed(VcsyncError):
    """An operation ran and failed: a migration, a lock, a lost connection (exit 1)."""

    exit_code = 1
