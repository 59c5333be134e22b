"""Target URLs: `env:` indirection, SQLite paths relative to the config, and what a target
is called wherever vcsync prints, logs or records it.

URL parsing and redaction live here and nowhere else. A PostgreSQL URL is read by libpq's
own parser (psycopg's conninfo_to_dict calls PQconninfoParse), never by urllib: in
`postgresql://u:pa#ss@h/db` urllib sees a fragment where libpq sees a password, and only
libpq's reading decides what is sent. A target is named by `Target.display`, an identity
rebuilt from libpq's fields (user, host, port, database): it holds no password, and no
other parameter either, so the ledger rows that record it (hashed into the chain, never
to be rewritten) cannot carry one.
"""

from __future__ import annotations

import os
import re
from functools import lru_cache
from itertools import zip_longest
from pathlib import Path
from typing import NamedTuple
from urllib.parse import quote

from vcsync.config import Environment, path_problem
from vcsync.errors import ConfigError

SQLITE, POSTGRES = "sqlite", "postgres"
_URL_FORMS = ("postgresql://", "postgres://")
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*(?=:)")
_PUNCTUATION = re.compile(r"[^\w\s]")  # libpq quotes its own "=" and "]"
# Connection parameters that are secrets; libpq also reads PGPASSWORD from the environment.
_SECRET_KEYS = ("password", "sslpassword")


class Target(NamedTuple):
    """One database of an environment (a fleet has several)."""

    environment: str
    kind: str  # SQLITE or POSTGRES
    dsn: str  # for the driver only: may hold a password, never printed
    display: str  # a secret-free identity, for every message and ledger row
    path: Path | None = None  # SQLite's file
    schema: str | None = None  # schema-per-tenant (DESIGN §9)

    def ledger_schema(self, base: str) -> str:
        """Each tenant keeps its own ledger (and lock) beside its schema: `<base>_<tenant>`."""
        return base if self.schema is None else f"{base}_{self.schema}"


class UnsetVariable(ConfigError):
    """An `env:` URL whose variable is not set: on a laptop, normal for the environments one
    cannot reach (status and history report them as unreachable and go on)."""


def resolve(url: str, where: str) -> str:
    """`env:NAME` becomes that variable's value; `where` names the config key for errors."""
    if not url.startswith("env:"):
        return url
    name = url[len("env:") :]
    value = os.environ.get(name)
    if not value:
        raise UnsetVariable(f"the environment variable {name} named by {where} is not set.")
    return value


def _is_postgres(dsn: str) -> bool:
    """A PostgreSQL URL, or libpq's keyword/value form (`host=... dbname=...`)."""
    return dsn.startswith(_URL_FORMS) or (_SCHEME.match(dsn) is None and "=" in dsn)


def libpq_fields(dsn: str, where: str) -> dict[str, str]:
    """The connection parameters as libpq reads `dsn`, or a ConfigError naming `where`
    that quotes none of it (libpq's own message would: `invalid percent-encoded token:
    "S3cr3tPw%ZZ"`).

    libpq parses some mistyped URLs into something that cannot connect: with an unencoded
    "/" or "@" in the password it takes the rest for a port, a host or a database name, and
    the error it gives at connect time shows that rest, half a password. Those are refused
    here, with the fix."""
    import psycopg
    from psycopg.conninfo import conninfo_to_dict

    def invalid(reason: str) -> ConfigError:
        return ConfigError(f"{where} is not a valid PostgreSQL URL: {reason} (value withheld).")

    try:
        fields = {k: str(v) for k, v in conninfo_to_dict(dsn).items()}
    except psycopg.Error as exc:
        raise invalid(_withheld(str(exc), dsn)) from None
    if any(p.strip() and not p.strip().isdigit() for p in fields.get("port", "").split(",")):
        raise invalid('its port is not a number (write a "/" in the password as %2F)')
    hosts = fields.get("host", "").split(",")
    if any("@" in h and not h.startswith("/") for h in hosts):
        raise invalid('its host holds an "@" (write an "@" in the password as %40)')
    if dsn.startswith(_URL_FORMS) and "@" in _url_path(dsn):
        raise invalid('its database name holds an "@" (write "/" and "@" in it as %2F, %40)')
    return fields


def identity(fields: dict[str, str]) -> str:
    """`postgresql://USER@HOST:PORT/DBNAME` from libpq's fields: what a target is called."""
    hosts = (fields.get("host") or fields.get("hostaddr") or "").split(",")
    ports = fields.get("port", "").split(",")
    ports = ports * len(hosts) if len(ports) == 1 else ports  # one port serves every host
    netloc = ",".join(
        _host(host) + (f":{port}" if port else "")
        for host, port in zip_longest(hosts, ports, fillvalue="")
    )
    user = fields.get("user")
    text = f"postgresql://{quote(user, safe='') + '@' if user else ''}{netloc}"
    if fields.get("dbname"):
        text += f"/{quote(fields['dbname'], safe='')}"
    if fields.get("service"):
        text += f"?service={quote(fields['service'], safe='')}"
    return text


def on_database(dsn: str, dbname: str) -> str:
    """`dsn` (a URL or keyword/value string) pointed at another database on the same server,
    as a keyword/value string that keeps every other parameter, password included."""
    from psycopg.conninfo import make_conninfo

    return make_conninfo(dsn, dbname=dbname)


def without_secrets(text: str, dsn: str) -> str:
    """`text` (a driver's message) with every secret `dsn` carries replaced by ***."""
    from_env = os.environ.get("PGPASSWORD")  # libpq's fallback when the dsn has none
    secrets = sorted({*_secrets(dsn), *([from_env] if from_env else [])}, key=len, reverse=True)
    for secret in secrets:  # longest first: no password survives as the tail of another
        text = text.replace(secret, "***")
    return text


@lru_cache(maxsize=64)
def _secrets(dsn: str) -> tuple[str, ...]:
    """The secrets `dsn` carries as libpq reads them, and percent-encoded."""
    import psycopg
    from psycopg.conninfo import conninfo_to_dict

    try:
        fields = conninfo_to_dict(dsn)
    except psycopg.Error:
        fields = {}
    found = {str(fields[k]) for k in _SECRET_KEYS if fields.get(k)}
    return tuple(found | {quote(s, safe="") for s in found})


def _withheld(message: str, dsn: str) -> str:
    """libpq's complaint up to the first value it quotes: `invalid percent-encoded token:
    "S3cr3tPw%ZZ"` becomes `invalid percent-encoded token`. libpq's own quoted constants
    (`"="`, `"]"`) stay; anything after a quoted value goes, as a double quote inside the
    value may have moved libpq's closing quote."""
    lines = message.strip().splitlines()
    pieces = (lines[0].rstrip(".") if lines else "").split('"')
    kept = pieces[0]
    for inside, outside in zip(pieces[1::2], pieces[2::2], strict=False):
        if not _PUNCTUATION.fullmatch(inside) or not outside.startswith((" ", ")")):
            break
        kept += f'"{inside}"{outside}'
    kept = re.sub(r"(:|,| in| after)?\s*$", "", kept)
    words = (w.strip(",:;()") for w in kept.split())
    if len(pieces) % 2 == 0 or not kept or any(len(w) >= 3 and w in dsn for w in words):
        return "libpq cannot parse it"  # unbalanced quotes, or words that are the value's
    return kept


def _url_path(url: str) -> str:
    """The path of a URL as libpq delimits it: after the authority's first "/", before "?"."""
    rest = url.split("://", 1)[1].split("?", 1)[0]
    return rest.split("/", 1)[1] if "/" in rest else ""


def _host(host: str) -> str:
    return f"[{host}]" if ":" in host else quote(host, safe="")


def target_for(environment: str, url: str, root: Path, schema: str | None = None) -> Target:
    where = f"environments.{environment}.url"
    real = resolve(url, where)
    if real.startswith("sqlite:///"):
        rest = real[len("sqlite:///") :]
        path = Path(rest) if rest.startswith("/") else root / rest
        try:
            path_problem(str(path))
        except ValueError as exc:  # an `env:` value: the config's own check never saw it
            raise ConfigError(f"{where} {exc}.") from None
        return Target(environment, SQLITE, str(path), f"sqlite:///{rest}", path, schema)
    if _is_postgres(real):
        display = identity(libpq_fields(real, where))
        return Target(environment, POSTGRES, real, display, None, schema)
    scheme = _SCHEME.match(real)
    got = f"got {scheme[0]}:…" if scheme else "got a value of neither form, withheld"
    raise ConfigError(f"{where} must be a sqlite:/// or postgresql:// URL ({got}).")


def targets(env: Environment, root: Path) -> list[Target]:
    """Every database the environment names: each url, times each schema."""
    schemas: tuple[str | None, ...] = env.schemas or (None,)
    return [target_for(env.name, url, root, schema) for url in env.urls for schema in schemas]


def unresolved_name(urls: tuple[str, ...] | list[str]) -> str:
    """How to name an environment's targets when they cannot be resolved (an unset `env:`
    variable, a URL libpq cannot parse): `env:VAR` says where the value comes from and holds
    no secret; a URL written into the config might, so it is withheld."""
    return " ".join(url if url.startswith("env:") else "(URL withheld)" for url in urls)
