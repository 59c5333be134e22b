"""`[tool.vcsync]` in pyproject.toml, or vcsync.toml, read into one validated, immutable Config.

The file is found by walking up from the working directory; paths in it are relative
to the folder that holds it. Every key is checked here, so the rest of vcsync can trust
what it reads: an unknown key or a bad value is one ConfigError naming the key.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from vcsync.errors import ConfigError

LAYOUTS = ("auto", "split", "flyway", "updown", "markers")
CONFIG_FILES = ("vcsync.toml", "pyproject.toml")
URL_FORMS = ("sqlite:///", "postgresql://", "postgres://", "env:")
_VERSION = re.compile(r"^\d+([._-]\d+)*$")
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")
_CODE_PREFIX = re.compile(r"^VC\d{0,3}$")
SEVERITIES = ("error", "warning")
POSTGRES_VERSIONS = range(10, 19)
NAME_MAX = 255


@dataclass(frozen=True)
class Environment:
    """A deployment target; `urls`/`schemas` name a fleet (DESIGN §9)."""

    name: str
    urls: tuple[str, ...]
    schemas: tuple[str, ...] = ()
    targets_query: str | None = None
    control_url: str | None = None  # where targets_query runs (default: the one url)
    # runs only what Git has at HEAD, and no migration with an error finding (DESIGN §10)
    protected: bool = False


@dataclass(frozen=True)
class Config:
    root: Path
    source: Path | None = None
    migrations: str = "database/migrations"
    rollbacks: str = "database/rollback"
    layout: str = "split"
    dialect: str = "postgres"
    base_ref: str = "origin/main"
    ledger_schema: str = "version_control"
    select: tuple[str, ...] = ("VC",)
    ignore: tuple[str, ...] = ()
    baseline: str | None = None
    scratch_url: str | None = None
    max_parse_bytes: int = 5_000_000
    # the oldest PostgreSQL major version the migrations must be safe on (the safety rules)
    postgres_version: int = 14
    # code -> "error" | "warning", replacing the rule's own severity in every finding
    severity: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    placeholders: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    # environment names in promotion order: each takes only what the one before has (§10)
    promotion: tuple[str, ...] = ()
    environments: Mapping[str, Environment] = field(default_factory=lambda: MappingProxyType({}))

    def rule_enabled(self, code: str, opt_in: bool = False) -> bool:
        """`select`/`ignore` take codes or prefixes (`VC2` is every history rule); an opt-in
        rule runs only when `select` names its code itself, as ruff's preview rules do."""
        chosen = code in self.select if opt_in else any(code.startswith(p) for p in self.select)
        return chosen and not any(code.startswith(p) for p in self.ignore)

    def severity_of(self, code: str, default: str) -> str:
        """The severity a finding of `code` carries: `[tool.vcsync.severity]`, else the rule's."""
        return self.severity.get(code, default)

    def environment(self, name: str) -> Environment:
        try:
            return self.environments[name]
        except KeyError:
            known = ", ".join(sorted(self.environments)) or "none"
            raise ConfigError(
                f"environment {name!r} is not configured (configured: {known})."
            ) from None


def find_config_file(start: Path) -> Path | None:
    """The nearest vcsync.toml, or pyproject.toml with a [tool.vcsync] table, at or above start."""
    for folder in (start, *start.parents):
        for name in CONFIG_FILES:
            candidate = folder / name
            if candidate.is_file() and (name == "vcsync.toml" or _has_vcsync_table(candidate)):
                return candidate
    return None


def _has_vcsync_table(pyproject: Path) -> bool:
    """Whether TOML says `tool.vcsync` in any spelling: `[tool.vcsync]`, `[tool]` with
    `vcsync = {…}`, dotted `tool.vcsync.layout = …`, quoted keys. A file that is not valid
    TOML counts when it has the usual heading, so its mistake is reported, not skipped."""
    import tomllib

    text = pyproject.read_text("utf-8", "replace")
    if "vcsync" not in text:
        return False  # most pyproject.toml files: no need to parse them
    try:
        tool = tomllib.loads(text).get("tool")
    except tomllib.TOMLDecodeError:
        return "[tool.vcsync" in text
    return isinstance(tool, dict) and "vcsync" in tool


def load_config(explicit: Path | None = None, cwd: Path | None = None) -> Config:
    cwd = cwd or Path.cwd()
    path = explicit if explicit is not None else find_config_file(cwd)
    if path is None:
        return Config(root=cwd)
    try:
        found = path.is_file()
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read config file {path}: {exc}.") from None
    if not found:
        raise ConfigError(f"config file {path} does not exist.")
    return parse_config(_read_toml(path), path)


def _read_toml(path: Path) -> dict[str, Any]:
    import tomllib

    try:
        data = tomllib.loads(path.read_text("utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read config file {path}: {exc}.") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}.") from None
    tool = data.get("tool", {})
    if not isinstance(tool, dict):
        raise ConfigError(f"{path}: tool must be a table ([tool.vcsync] holds vcsync's keys).")
    if path.name != "pyproject.toml" and "vcsync" not in tool:
        return data  # vcsync.toml may hold the keys at its top level
    section = tool.get("vcsync")
    if section is None:
        raise ConfigError(f"{path} has no [tool.vcsync] table.")
    if not isinstance(section, dict):
        written = "[[tool.vcsync]]" if isinstance(section, list) else "tool.vcsync = …"
        raise ConfigError(
            f"{path}: tool.vcsync must be one table; write [tool.vcsync], not {written}."
        )
    return section


def parse_config(raw: Mapping[str, Any], path: Path) -> Config:
    """Validate every key; the message names the file and the key."""
    where = f"{path.name}: "
    values: dict[str, Any] = {}
    for key, value in raw.items():
        parse = _KEYS.get(key)
        if parse is None:
            known = ", ".join(sorted(_KEYS))
            raise ConfigError(f"{where}unknown key {key!r} (known keys: {known}).")
        try:
            values[key] = parse(value)
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"{where}{key} {exc}.") from None
    _check_promotion(values.get("promotion", ()), values.get("environments", {}), where)
    return Config(root=path.parent, source=path, **values)


def _check_promotion(chain: tuple[str, ...], environments: Mapping[str, Any], where: str) -> None:
    """Every name in `promotion` must be a configured environment (a typo would silently
    leave production unguarded)."""
    for name in chain:
        if name not in environments:
            known = ", ".join(sorted(environments)) or "none"
            raise ConfigError(
                f"{where}promotion names {name!r}, which is not a configured environment "
                f"(configured: {known})."
            )


def _promotion(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise TypeError('must be a list of environment names such as ["staging", "production"]')
    seen: set[str] = set()
    for name in value:
        if name in seen:
            raise ValueError(f"names {name!r} twice; each environment has one place in the chain")
        seen.add(name)
    return tuple(value)


def _string(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise TypeError("must be a non-empty string")
    return value


def _folder(value: Any) -> str:
    text = _string(value).strip("/")
    if Path(text).is_absolute() or ".." in Path(text).parts:
        raise ValueError("must be a folder inside the project, relative to the config file")
    return text


def _layout(value: Any) -> str:
    if value not in LAYOUTS:
        raise ValueError(f"must be one of {', '.join(LAYOUTS)}, not {value!r}")
    return str(value)


def _codes(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise TypeError('must be a list of rule codes such as ["VC201"]')
    for code in value:
        if not _CODE_PREFIX.match(code):
            raise ValueError(f"has {code!r}, which is not a rule code or prefix such as VC2")
    known = _known_codes()
    for code in value:
        if not any(k.startswith(code) for k in known):
            raise ValueError(
                f"has {code!r}, which matches no rule (see `vcsync rules` for the codes)"
            )
    return tuple(value)


def _severities(value: Any) -> Mapping[str, str]:
    if not isinstance(value, dict):
        raise TypeError('must be a table of CODE = "error" or "warning"')
    for code, level in value.items():
        if level not in SEVERITIES:
            raise ValueError(f'{code} must be "error" or "warning", not {level!r}')
    known = set(_known_codes()) if value else set()
    for code in value:
        if code not in known:
            raise ValueError(
                f"has {code!r}, which is no rule or gate code (see `vcsync rules` for the codes)"
            )
    return MappingProxyType(dict(value))


def _postgres_version(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value not in POSTGRES_VERSIONS:
        raise ValueError(f"must be a PostgreSQL major version from 10 to 18, not {value!r}")
    return value


def _known_codes() -> list[str]:
    """The registry's codes: rules and verify's gate checks. Imported only for a config that
    names codes, and `check` imports the rules anyway, so the hook pays nothing for it."""
    from vcsync.rules import all_codes

    return [rule.code for rule in all_codes()]


def _version(value: Any) -> str:
    text = str(value) if isinstance(value, int | float) else value
    if not isinstance(text, str) or not _VERSION.match(text):
        raise ValueError(f'must be a version such as "1.4.0" or "000123", not {value!r}')
    return text


def _url(value: Any) -> str:
    text = _string(value)
    if not text.startswith(URL_FORMS) or text == "env:":
        # name the scheme only: whatever follows may be a password (`host=… password=…`)
        scheme = _SCHEME.match(text)
        got = f"{scheme.group()}…" if scheme else "a value that is withheld"
        raise ValueError(f"must start with one of {', '.join(URL_FORMS)} (got {got})")
    if text.startswith("sqlite:///"):
        path_problem(text[len("sqlite:///") :])
    elif "\0" in text:
        raise ValueError("holds a NUL character, which no database name or path can")
    return text


def path_problem(path: str) -> None:
    """A path the system can open (ValueError saying why not): no NUL, and no name in it
    longer than NAME_MAX (255 bytes). For SQLite URLs (`env:` values too, when resolved)
    and the paths given on the command line."""
    if "\0" in path:
        raise ValueError("holds a NUL character, which no database name or path can")
    for name in path.split("/"):
        if len(os.fsencode(name)) > NAME_MAX:
            raise ValueError(
                f"names a file or folder of {len(os.fsencode(name))} bytes; no file system "
                f"holds one longer than {NAME_MAX}, so shorten it"
            )


def _positive_int(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"must be a positive whole number of bytes, not {value!r}")
    return value


def _placeholders(value: Any) -> Mapping[str, str]:
    if not isinstance(value, dict) or not all(
        isinstance(v, str | int | float) for v in value.values()
    ):
        raise TypeError('must be a table of name = "value"')
    return MappingProxyType({str(k): str(v) for k, v in value.items()})


_ENV_KEYS = ("url", "urls", "schemas", "targets_query", "control_url", "protected")


def _environments(value: Any) -> Mapping[str, Environment]:
    if not isinstance(value, dict):
        raise TypeError("must be a table of [tool.vcsync.environments.NAME] tables")
    result = {}
    for name, table in value.items():
        if not isinstance(table, dict):
            raise TypeError(f"{name} must be a table with a url")
        unknown = sorted(set(table) - set(_ENV_KEYS))
        if unknown:
            raise ValueError(
                f"{name} has unknown key {unknown[0]!r} (known: {', '.join(_ENV_KEYS)})"
            )
        urls = [table["url"]] if "url" in table else list(table.get("urls", []))
        if "url" in table and "urls" in table:
            raise ValueError(f"{name} sets both url and urls; keep one")
        if not urls and "targets_query" not in table:
            raise ValueError(f"{name} needs a url, urls or targets_query")
        schemas = table.get("schemas", [])
        if not isinstance(schemas, list) or not all(isinstance(s, str) for s in schemas):
            raise TypeError(f"{name}.schemas must be a list of schema names")
        query = table.get("targets_query")
        control = table.get("control_url")
        if control is not None and query is None:
            raise ValueError(f"{name}.control_url is only read by a targets_query; add one")
        if query is not None and control is None and len(urls) != 1:
            raise ValueError(f"{name}.targets_query needs a control_url: the database it runs on")
        protected = table.get("protected", False)
        if not isinstance(protected, bool):
            raise TypeError(f"{name}.protected must be true or false, not {protected!r}")
        try:
            checked = tuple(_url(u) for u in urls)
            control_url = _url(control) if control is not None else None
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{name}.url {exc}") from None
        result[name] = Environment(
            name=name,
            urls=checked,
            schemas=tuple(schemas),
            targets_query=_string(query) if query is not None else None,
            control_url=control_url,
            protected=protected,
        )
    return MappingProxyType(result)


_KEYS = {
    "migrations": _folder,
    "rollbacks": _folder,
    "layout": _layout,
    "dialect": lambda v: _string(v).lower(),
    "base_ref": _string,
    "ledger_schema": _string,
    "select": _codes,
    "ignore": _codes,
    "baseline": _version,
    "scratch_url": _url,
    "max_parse_bytes": _positive_int,
    "postgres_version": _postgres_version,
    "severity": _severities,
    "placeholders": _placeholders,
    "environments": _environments,
    "promotion": _promotion,
}
