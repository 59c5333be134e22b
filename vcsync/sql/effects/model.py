"""The statement-effects model's records, and what its readers share: where a statement
sits in its script, its opening words, SQLite's transaction keywords."""

from __future__ import annotations

import re
from typing import NamedTuple

POSTGRES, SQLITE = "postgres", "sqlite"
FIRST_WORDS = 6
# Objects named together with the table they belong to (`DROP TRIGGER trg ON orders`).
OWNED = ("TRIGGER", "POLICY", "RULE")

_SQLITE_CONTROL = re.compile(
    r"^\s*(?P<word>BEGIN|COMMIT|END|ROLLBACK(?!\s+(?:TRANSACTION\s+)?TO\b)|VACUUM)\b",
    re.IGNORECASE,
)


class DbObject(NamedTuple):
    """A database object as the statement names it."""

    kind: str  # "TABLE", "INDEX", "MATERIALIZED VIEW", … (as written when no parser read it)
    name: str  # qualified as written: "app.orders"; "" when no parser read the statement
    on: str = ""  # the table an index, trigger, policy or rule belongs to

    @property
    def display(self) -> str:
        """As a DROP statement names it: `trg ON orders` for a trigger."""
        return f"{self.name} ON {self.on}" if self.on and self.kind in OWNED else self.name


class Renamed(NamedTuple):
    object: DbObject  # under its old name
    new_name: str


class Alteration(NamedTuple):
    """One change to an existing object. The fields after `part` are PostgreSQL's facts
    the safety rules judge; other dialects leave them at their defaults."""

    object: DbObject  # the table, type or sequence altered
    action: str  # "ADD COLUMN", "DROP COLUMN", "ALTER COLUMN TYPE", "SET NOT NULL", …
    part: str = ""  # the column, constraint or enum value the action concerns
    # ADD COLUMN and ALTER COLUMN TYPE: the column's (new) type, as `Column.type_name`
    type_name: str = ""
    not_null: bool = False  # ADD COLUMN … NOT NULL (or PRIMARY KEY)
    # ADD COLUMN / SET DEFAULT: "" (none), "constant", "stable" (evaluated once per
    # statement, like now()) or "volatile" (per row: random(), nextval(), unknown functions)
    default: str = ""
    # ADD CONSTRAINT, or a constraint declared with ADD COLUMN: "FOREIGN KEY", "CHECK",
    # "UNIQUE", "PRIMARY KEY", "EXCLUDE", "NOT NULL"
    constraint: str = ""
    validated: bool = True  # False: added NOT VALID
    using_index: str = ""  # ADD CONSTRAINT … UNIQUE/PRIMARY KEY USING INDEX <this>
    checks_not_null: str = ""  # a CHECK (<column> IS NOT NULL) constraint: that column
    references: str = ""  # a FOREIGN KEY: the table it references
    column: str = ""  # a constraint declared inside ADD COLUMN: that column
    using: bool = False  # ALTER COLUMN TYPE … USING <expression>


class Column(NamedTuple):
    """A column of a table created by CREATE TABLE."""

    name: str
    # PostgreSQL's name for the type, schema dropped, modifiers kept: "varchar(255)",
    # "int8" (bigint), "numeric(12,2)", "text", "text[]"
    type_name: str


class RowChange(NamedTuple):
    verb: str  # INSERT, UPDATE, DELETE, TRUNCATE
    table: str  # "" when no parser read the statement
    filtered: bool  # whether a WHERE limits the rows (TRUNCATE never is)


class StatementEffect(NamedTuple):
    """What one statement of a script does."""

    line: int  # where its code starts, past comments (1-based, counted from first_line)
    column: int  # 1-based
    # the grammar's name: pglast's node ("DropStmt"), sqlglot's ("Drop"); "" when the facts
    # below were read from the statement's words because no parser's tree explained it
    kind: str
    summary: str  # "ALTER TABLE customers ADD COLUMN status"
    objects_created: tuple[DbObject, ...] = ()
    objects_dropped: tuple[DbObject, ...] = ()
    cascade: bool = False  # the drop also removes everything that depends on the objects
    objects_renamed: tuple[Renamed, ...] = ()
    objects_altered: tuple[Alteration, ...] = ()
    rows: tuple[RowChange, ...] = ()
    transaction_control: str | None = None  # e.g. "COMMIT", "CREATE INDEX CONCURRENTLY"
    # PostgreSQL only: the strongest table lock the statement takes on an existing table
    # ("ACCESS EXCLUSIVE", "SHARE", …), for the statements PostgreSQL's documentation names
    lock: str | None = None
    # the existing tables that lock is taken on (an index's table, both tables of a
    # FOREIGN KEY); () when the statement names only an index (DROP INDEX i)
    lock_on: tuple[str, ...] = ()
    # PostgreSQL only: the statement rewrites the whole table under its lock, for the
    # `postgres_version` it was read for (a volatile default, a type change, VACUUM FULL)
    rewrites: bool = False
    columns: tuple[Column, ...] = ()  # CREATE TABLE: its columns, in order
    # run-time settings the statement sets (SET, SET LOCAL, set_config()): "lock_timeout"
    settings: tuple[str, ...] = ()
    text: str = ""  # the statement's code, from its first keyword


class TransactionControl(NamedTuple):
    """The first statement of a script that cannot run inside vcsync's transaction."""

    number: int  # 1-based statement number
    what: str  # e.g. "COMMIT", "CREATE INDEX CONCURRENTLY"

    def describe(self) -> str:
        return f"statement {self.number} is {self.what}"


def without_leading_comments(statement: str) -> str:
    text = statement.lstrip()
    while text.startswith(("--", "/*")):
        end = text.find("\n") if text.startswith("--") else text.find("*/") + 1
        if end <= 0:
            return ""
        text = text[end + 1 :].lstrip()
    return text


def keyword_control(statement: str) -> str | None:
    """SQLite's own parser decides these few statement kinds by their leading keyword."""
    match = _SQLITE_CONTROL.match(without_leading_comments(statement))
    return match["word"].upper() if match else None


LEADING = re.compile(r"(?:\s+|--[^\n]*|/\*.*?\*/)*", re.DOTALL)
WHERE = re.compile(r"\bWHERE\b", re.IGNORECASE)


def code_start(piece: str) -> int:
    """Where the code of a statement begins, past white space and comments."""
    match = LEADING.match(piece)
    return match.end() if match else 0


def position_of(text: str, offset: int, first_line: int) -> tuple[int, int]:
    return first_line + text.count("\n", 0, offset), offset - text.rfind("\n", 0, offset)


class Described(NamedTuple):
    summary: str | None
    created: tuple[DbObject, ...] = ()
    dropped: tuple[DbObject, ...] = ()
    cascade: bool = False
    renamed: tuple[Renamed, ...] = ()
    altered: tuple[Alteration, ...] = ()
    rows: tuple[RowChange, ...] = ()
    columns: tuple[Column, ...] = ()
    settings: tuple[str, ...] = ()


def effect_at(
    text: str,
    offset: int,
    first_line: int,
    kind: str,
    code: str,
    described: Described,
    *,
    transaction_control: str | None = None,
    lock: str | None = None,
    lock_on: tuple[str, ...] = (),
    rewrites: bool = False,
) -> StatementEffect:
    line, column = position_of(text, offset, first_line)
    summary = described.summary or first_words(code)
    return StatementEffect(
        line,
        column,
        kind,
        summary,
        described.created,
        described.dropped,
        described.cascade,
        described.renamed,
        described.altered,
        described.rows,
        transaction_control,
        lock,
        lock_on,
        rewrites,
        described.columns,
        described.settings,
        code,
    )


def first_words(code: str) -> str:
    """A statement's opening words, up to its first parenthesis or body."""
    head = re.split(r"\(|\$\w*\$|\bAS\b|\n\s*\n", code, maxsplit=1, flags=re.IGNORECASE)[0]
    words = head.split()[:FIRST_WORDS]
    if words:
        words[0] = words[0].upper()
    return " ".join(words) or code.strip()[:40]
