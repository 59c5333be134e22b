"""PostgreSQL column types, defaults and constraints, read from the parse tree: a type's
name as the catalog spells it, how often a default is evaluated (once, or for every row),
the facts of an added constraint, and which type changes keep the stored values. Shared
by the statement handlers (postgres.py) and the table-rewrite check (pg_locks.py).
"""

from __future__ import annotations

import re

from vcsync.sql.effects.model import Alteration, DbObject
from vcsync.sql.effects.pg_nodes import Node, dotted, name_part, only, rv

# -- types and defaults ---------------------------------------------------------------------

CONSTANT, STABLE, VOLATILE = "constant", "stable", "volatile"
_VOLATILITY = (CONSTANT, STABLE, VOLATILE)
# Functions of no argument whose value is fixed for the statement (PostgreSQL's "Current
# Date/Time": now() and its kin are STABLE). Every function not named here counts as
# volatile, as random(), gen_random_uuid(), uuid_generate_v4(), clock_timestamp(),
# timeofday() and nextval() are: this code cannot read a function's declared volatility.
_STABLE_FUNCTIONS = {"now", "statement_timestamp", "transaction_timestamp"}
# Built-in arithmetic and concatenation operators are immutable or stable, so their
# operands decide whether a value is computed per row; the result is at least "stable"
# (timestamptz + interval depends on the session's time zone).
_ARITHMETIC = {"+", "-", "*", "/", "||"}
# Column types whose values come from a sequence, one per row (PostgreSQL's "Serial Types").
_SERIAL = {"serial", "bigserial", "smallserial", "serial2", "serial4", "serial8"}


def type_name(type_node: Node) -> str:
    """PostgreSQL's name for a TypeName, schema dropped, modifiers kept: "varchar(255)",
    "int8" (the grammar reads bigint as pg_catalog.int8), "numeric(12,2)", "text[]"."""
    names = type_node.get("names") or ()
    name = name_part(names[-1]) if names else ""
    modifiers = [_modifier(m) for m in type_node.get("typmods") or ()]
    if name == "interval":
        # interval's first modifier is a mask of its fields (DAY TO SECOND), not a size
        modifiers = modifiers[1:]
    if modifiers:
        name += f"({','.join(modifiers)})"
    return name + ("[]" if type_node.get("arrayBounds") else "")


def _modifier(wrapped: Node) -> str:
    kind, body = only(wrapped)
    if kind == "A_Const":
        if "sval" in body:
            return str(body["sval"].get("sval", ""))
        if "fval" in body:
            return str(body["fval"].get("fval", ""))
        return str((body.get("ival") or {}).get("ival", 0))
    if kind == "ColumnRef":
        return dotted(body.get("fields") or ())
    return kind


def volatility(wrapped: Node) -> str:
    """How often PostgreSQL evaluates a default expression: once ("constant", "stable") or
    for every row ("volatile"); whatever cannot be proven otherwise is volatile."""
    kind, body = only(wrapped)
    if kind == "A_Const":  # a literal, or NULL (the grammar folds -1 into the constant)
        return CONSTANT
    if kind == "TypeCast":  # 'x'::text, '{}'::jsonb: the cast of a constant is one value
        return volatility(body["arg"])
    if kind == "SQLValueFunction":  # CURRENT_TIMESTAMP, CURRENT_DATE, CURRENT_USER, …
        return STABLE
    if kind == "FuncCall":
        name = name_part(body["funcname"][-1])
        return STABLE if name in _STABLE_FUNCTIONS and not body.get("args") else VOLATILE
    if kind == "A_ArrayExpr":  # ARRAY[…] is as volatile as its most volatile element
        return max(map(volatility, body.get("elements") or ()), default=CONSTANT, key=_rank)
    if kind == "A_Expr" and body.get("kind") == "AEXPR_OP":
        operator = dotted(body.get("name") or ())
        operands = [volatility(body[side]) for side in ("lexpr", "rexpr") if side in body]
        if operator in ("-", "+") and "lexpr" not in body:  # -x: a sign
            return operands[0]
        if operator in _ARITHMETIC:
            return max([STABLE, *operands], key=_rank)
    return VOLATILE


def _rank(volatility: str) -> int:
    return _VOLATILITY.index(volatility)


def _is_null(wrapped: Node) -> bool:
    kind, body = only(wrapped)
    if kind == "TypeCast":
        return _is_null(body["arg"])
    return kind == "A_Const" and bool(body.get("isnull"))


def column_default(column: Node) -> tuple[str, bool]:
    """A column definition's default ("" when none) and whether it is DEFAULT NULL. A
    serial type, an identity column and a STORED generated column fill every row, as a
    volatile default does (a VIRTUAL one, PostgreSQL 18, computes on read: no default)."""
    if type_name(column.get("typeName") or {}) in _SERIAL:
        return VOLATILE, False
    for wrapped in column.get("constraints") or ():
        constraint = wrapped["Constraint"]
        contype = constraint.get("contype")
        if contype == "CONSTR_DEFAULT":
            expression = constraint["raw_expr"]
            return volatility(expression), _is_null(expression)
        if contype == "CONSTR_IDENTITY" or (
            contype == "CONSTR_GENERATED" and constraint.get("generated_kind") == "s"
        ):
            return VOLATILE, False
    return "", False


# -- constraints -----------------------------------------------------------------------------

_CONSTRAINTS = {
    "CONSTR_FOREIGN": "FOREIGN KEY",
    "CONSTR_CHECK": "CHECK",
    "CONSTR_UNIQUE": "UNIQUE",
    "CONSTR_PRIMARY": "PRIMARY KEY",
    "CONSTR_EXCLUSION": "EXCLUDE",
    "CONSTR_NOTNULL": "NOT NULL",
}
# Declared with ADD COLUMN, these become constraints of their own (NOT NULL and DEFAULT
# are facts of the column's ADD COLUMN alteration).
COLUMN_CONSTRAINTS = {"CONSTR_FOREIGN", "CONSTR_CHECK", "CONSTR_UNIQUE", "CONSTR_PRIMARY"}


def constraint_alteration(
    table: DbObject, constraint: Node, part: str, column: str = ""
) -> Alteration:
    contype = constraint.get("contype", "")
    return Alteration(
        table,
        "ADD CONSTRAINT",
        part,
        constraint=_CONSTRAINTS.get(contype, contype.removeprefix("CONSTR_")),
        # NOT VALID sets skip_validation (initially_valid is also false for UNIQUE and
        # PRIMARY KEY, which are always validated)
        validated=not constraint.get("skip_validation"),
        using_index=constraint.get("indexname", ""),
        checks_not_null=_checks_not_null(constraint),
        references=rv(constraint.get("pktable")),
        column=column,
    )


def _checks_not_null(constraint: Node) -> str:
    """The column of a `CHECK (column IS NOT NULL)`: once validated, PostgreSQL 12+ proves
    SET NOT NULL from it without scanning the table."""
    if constraint.get("contype") != "CONSTR_CHECK":
        return ""
    test = (constraint.get("raw_expr") or {}).get("NullTest") or {}
    argument = (test.get("arg") or {}).get("ColumnRef") or {}
    fields = argument.get("fields") or ()
    if test.get("nulltesttype") != "IS_NOT_NULL" or not fields:
        return ""
    return name_part(fields[-1])


# -- binary-compatible type changes ----------------------------------------------------------

_TYPE = re.compile(r"^(?P<name>[a-z_][\w ]*?)\s*(?:\((?P<mods>[\d\s,]*)\))?(?P<array>\[\])?$")
_SPELLINGS = {
    "character varying": "varchar",
    "bit varying": "varbit",
    "decimal": "numeric",
    "string": "text",
}


def binary_compatible(old_type: str, new_type: str) -> bool:
    """Whether ALTER COLUMN TYPE from `old_type` to `new_type` (names as `Column.type_name`
    spells them) keeps every stored value as it is, so PostgreSQL skips the table rewrite.

    PostgreSQL's ALTER TABLE page: "when … the old type is either binary coercible to the
    new type or an unconstrained domain over the new type, a table rewrite is not needed",
    e.g. varchar(n) to a longer varchar or to text, a numeric to one of larger precision
    and the same scale, cidr to inet; "however, indexes must still be rebuilt" for some.
    Any other change, or one this code does not recognise, counts as a rewrite."""
    old, new = _parse_type(old_type), _parse_type(new_type)
    if old is None or new is None:
        return False
    if old == new:
        return True
    (old_name, old_mods, old_array), (new_name, new_mods, new_array) = old, new
    if old_array != new_array:
        return False
    if old_name in ("varchar", "text") and new_name in ("varchar", "text"):
        if new_name == "text" or not new_mods:
            return True  # unlimited: every value fits as it is
        return old_name == "varchar" and bool(old_mods) and new_mods[0] >= old_mods[0]
    if old_name == new_name == "varbit":
        return not new_mods or (bool(old_mods) and new_mods[0] >= old_mods[0])
    if old_name == new_name == "numeric":
        if not new_mods:
            return True  # unconstrained numeric holds any value as stored
        if not old_mods:
            return False
        old_scale = old_mods[1] if len(old_mods) > 1 else 0
        new_scale = new_mods[1] if len(new_mods) > 1 else 0
        return new_mods[0] >= old_mods[0] and new_scale == old_scale
    return (old_name, new_name) == ("cidr", "inet")


def _parse_type(type_name: str) -> tuple[str, tuple[int, ...], bool] | None:
    match = _TYPE.match(type_name.strip().lower())
    if not match:
        return None
    name = " ".join(match["name"].split())
    modifiers = tuple(int(m) for m in (match["mods"] or "").replace(" ", "").split(",") if m)
    return _SPELLINGS.get(name, name), modifiers, bool(match["array"])
