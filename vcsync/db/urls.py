"""Target URLs: `env:` indirection, SQLite paths relative to the config, and redaction.

URL parsing and redaction live here and nowhere else: whatever vcsync prints, logs
or records names a target by `Target.display`, which never holds a password.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import NamedTuple
from urllib.parse import urlsplit, urlunsplit

from vcsync.config import Environment
from vcsync.errors import ConfigError

SQLITE, POSTGRES = "sqlite", "postgres"
_SECRET_PARAM = re.compile(r"(?i)(password=)[^&\s]*")


class Target(NamedTuple):
    """One database of an environment (a fleet has several)."""

    environment: str
    kind: str  # SQLITE or POSTGRES
    dsn: str  # for the driver only: may hold a password, never printed
    display: str  # redacted, for every message and ledger row
    path: Path | None = None  # SQLite's file
    schema: str | None = None  # schema-per-tenant (DESIGN §9)

    def ledger_schema(self, base: str) -> str:
        """Each tenant keeps its own ledger (and lock) beside its schema: `<base>_<tenant>`."""
        return base if self.schema is None else f"{base}_{self.schema}"


def redact(url: str) -> str:
    """The URL with any password replaced by ***; a URL too broken to parse is withheld."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return f"{url.split(':', 1)[0]}://(unparseable URL withheld)"
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, _, hostport = netloc.rpartition("@")
        user, sep, _password = userinfo.partition(":")
        netloc = f"{user}{':***' if sep else ''}@{hostport}"
    query = _SECRET_PARAM.sub(r"\1***", parts.query)
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def resolve(url: str, where: str) -> str:
    """`env:NAME` becomes that variable's value; `where` names the config key for errors."""
    if not url.startswith("env:"):
        return url
    name = url[len("env:") :]
    value = os.environ.get(name)
    if not value:
        raise ConfigError(f"the environment variable {name} named by {where} is not set.")
    return value


def target_for(environment: str, url: str, root: Path, schema: str | None = None) -> Target:
    where = f"environments.{environment}.url"
    real = resolve(url, where)
    if real.startswith("sqlite:///"):
        rest = real[len("sqlite:///") :]
        path = Path(rest) if rest.startswith("/") else root / rest
        return Target(environment, SQLITE, str(path), f"sqlite:///{rest}", path, schema)
    if real.startswith(("postgresql://", "postgres://")):
        try:
            urlsplit(real)
        except ValueError as exc:
            raise ConfigError(f"{where} is not a valid URL ({exc}): {redact(real)}.") from None
        return Target(environment, POSTGRES, real, redact(real), None, schema)
    raise ConfigError(
        f"{where} must be a sqlite:/// or postgresql:// URL (got {redact(real).split(':')[0]}:…)."
    )


def targets(env: Environment, root: Path) -> list[Target]:
    """Every database the environment names: each url, times each schema."""
    schemas: tuple[str | None, ...] = env.schemas or (None,)
    return [target_for(env.name, url, root, schema) for url in env.urls for schema in schemas]
