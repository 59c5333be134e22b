"""vcsync keeps a team's SQL migrations honest from the keyboard to production."""

__version__ = "0.1.0"
