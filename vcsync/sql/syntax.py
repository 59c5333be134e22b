"""VC101's question: does this script parse in the configured dialect, and if not, where not?

For `postgres` the answer is PostgreSQL's own (pglast wraps libpg_query), so valid
PostgreSQL is never blocked; sqlglot answers for the other dialects. Both parsers are
imported only when a script is parsed, never on start-up.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import NamedTuple

from vcsync.errors import ConfigError

POSTGRES = "postgres"
_PLACEHOLDER = re.compile(r"\$\{[^}\n]*\}")
# sqlglot parses nested expressions recursively: in some dialects about 40 levels of
# parentheses exhaust Python's stack, where PostgreSQL's own parser goes far deeper.
_TOO_DEEP = "{dialect} cannot parse this: it nests too deeply for sqlglot; split the expression"


class SyntaxProblem(NamedTuple):
    line: int
    column: int
    message: str


@contextmanager
def quiet_sqlglot() -> Iterator[None]:
    """sqlglot logs a warning for each statement it keeps as an opaque command; a check or a
    changelog already says what matters, so those warnings would only be noise on stderr."""
    logger = logging.getLogger("sqlglot")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def ensure_dialect(name: str) -> None:
    if name == POSTGRES:
        return
    from sqlglot.dialects.dialect import Dialect

    if name not in Dialect.classes:
        known = ", ".join(sorted(k for k in Dialect.classes if k))
        raise ConfigError(f"dialect {name!r} is not a known SQL dialect (known: {known}).")


def mask_placeholders(text: str) -> str:
    """`${name}` becomes an identifier of the same length, so positions stay true."""
    return _PLACEHOLDER.sub(lambda m: "_" * len(m.group()), text)


def substitute_placeholders(text: str, values: Mapping[str, str], where: str) -> str:
    """`${name}` becomes its configured value before a script runs."""

    def value(match: re.Match[str]) -> str:
        name = match.group()[2:-1]
        if name not in values:
            raise ConfigError(
                f"{where} uses the placeholder ${{{name}}}, which "
                "[tool.vcsync.placeholders] does not define."
            )
        return values[name]

    return _PLACEHOLDER.sub(value, text)


class Parsed(NamedTuple):
    """One parse of a script, shared by every rule that reads it."""

    problem: SyntaxProblem | None
    # PostgreSQL's tree as libpg_query's JSON when the script parsed: the statement-effects
    # model reads it without parsing again (sqlglot's dialects keep no tree here)
    tree: str | None = None


def parse_script(text: str, dialect: str, first_line: int = 1) -> Parsed:
    masked = mask_placeholders(text)
    if dialect == POSTGRES:
        return _postgres_parse(masked, first_line)
    return Parsed(_sqlglot_problem(masked, dialect, first_line))


def _position(text: str, offset: int, first_line: int) -> tuple[int, int]:
    offset = max(0, min(offset, len(text)))
    line = text.count("\n", 0, offset) + first_line
    column = offset - (text.rfind("\n", 0, offset) + 1) + 1
    return line, column


def _postgres_parse(text: str, first_line: int) -> Parsed:
    # parse_sql_json runs the same libpg_query parse without building pglast's Python AST
    # (about 20 times faster over a full tree)
    from pglast.parser import ParseError, parse_sql_json

    try:
        return Parsed(None, parse_sql_json(text))
    except ParseError as exc:
        # a script that ends mid-statement has no location: the problem is at its end
        offset = exc.args[1] if len(exc.args) > 1 and exc.args[1] is not None else len(text)
        message = exc.args[0]
        line, column = _position(text, offset, first_line)
        return Parsed(SyntaxProblem(line, column, f"PostgreSQL cannot parse this: {message}."))


def _sqlglot_problem(text: str, dialect: str, first_line: int) -> SyntaxProblem | None:
    from sqlglot import parse
    from sqlglot.errors import ParseError, TokenError

    try:
        with quiet_sqlglot():
            parse(text, read=dialect)
    except ParseError as exc:
        first = exc.errors[0] if exc.errors else {}
        line = int(first.get("line") or 1)
        end_column = int(first.get("col") or 1)
        column = max(1, end_column - len(first.get("highlight") or "") + 1)
        description = first.get("description") or str(exc)
        return SyntaxProblem(
            line + first_line - 1, column, f"{dialect} cannot parse this: {description}."
        )
    except TokenError as exc:
        return SyntaxProblem(first_line, 1, f"{dialect} cannot tokenize this: {exc}.")
    except RecursionError:
        return SyntaxProblem(first_line, 1, _TOO_DEEP.format(dialect=dialect) + ".")
    return None


_POSITIONS = ("location", "stmt_location", "stmt_len")


def _without_positions(node: object) -> object:
    if isinstance(node, dict):
        return {k: _without_positions(v) for k, v in node.items() if k not in _POSITIONS}
    if isinstance(node, list):
        return [_without_positions(v) for v in node]
    return node


def parse_tree(text: str, dialect: str) -> object | None:
    """The script's parse tree without positions (None if it does not parse): equal trees
    mean an edit changed only whitespace, comments or the letter case of keywords."""
    masked = mask_placeholders(text)
    if dialect == POSTGRES:
        import json

        from pglast.parser import ParseError, parse_sql_json

        try:
            return _without_positions(json.loads(parse_sql_json(masked)))
        except (ParseError, RecursionError):
            return None
    from sqlglot import parse
    from sqlglot.errors import ParseError as GlotParseError
    from sqlglot.errors import TokenError

    try:
        with quiet_sqlglot():
            return [e.sql(dialect=dialect) if e else "" for e in parse(masked, read=dialect)]
    except (GlotParseError, TokenError, RecursionError):
        return None


def same_parse_tree(before: str, after: str, dialect: str) -> bool:
    tree = parse_tree(before, dialect)
    return tree is not None and tree == parse_tree(after, dialect)
