"""Reading libpg_query's parse tree: the JSON `pglast.parser.parse_sql_json` returns
(decoded with `json.loads`), read by dict lookups. Kept apart from what the nodes mean
(pg_locks, pg_values, postgres) so every reader shares one way of walking the tree.

Reading the JSON: a field of a node type is wrapped in its type's name
(`{"String": {"sval": "x"}}`, lists of `{"RangeVar": {...}}`), a field of a fixed struct
type is not (`"relation": {"relname": ...}`); enums are their names ("OBJECT_TABLE");
false, zero, null and empty fields are left out, so every field is read with `.get`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from vcsync.sql.effects.model import OWNED, DbObject

Node = dict[str, Any]


def only(wrapped: Node) -> tuple[str, Node]:
    """A wrapped node's type and its fields: `{"String": {"sval": "x"}}`."""
    kind = next(iter(wrapped))
    return kind, wrapped[kind]


def option_names(options: Sequence[Node] | None) -> set[str]:
    """The names of a statement's `(option, …)` list of DefElem nodes."""
    return {o["DefElem"].get("defname", "") for o in options or () if "DefElem" in o}


def commands(node: Node) -> Iterator[Node]:
    """An ALTER TABLE statement's subcommands (AlterTableCmd)."""
    return (c["AlterTableCmd"] for c in node.get("cmds") or ())


def constraint_node(cmd: Node) -> Node:
    """ADD CONSTRAINT's Constraint node ({} when the subcommand holds another)."""
    found: Node = (cmd.get("def") or {}).get("Constraint") or {}
    return found


def rv(node: Node | None) -> str:
    """A RangeVar's name as written: schema.table."""
    if not node:
        return ""
    return ".".join(p for p in (node.get("schemaname"), node.get("relname")) if p)


def name_part(wrapped: Node) -> str:
    """One part of a dotted name: a String (or, rarely, a type or `*`)."""
    kind, body = only(wrapped)
    if kind == "String":
        return str(body.get("sval", ""))
    if kind == "TypeName":
        return dotted(body.get("names") or ())
    return "*" if kind == "A_Star" else kind


def dotted(names: Iterable[Node]) -> str:
    return ".".join(name_part(n) for n in names)


def pg_object(wrapped: Node, kind: str) -> DbObject:
    name, body = only(wrapped)
    if name == "RangeVar":
        return DbObject(kind, rv(body))
    if name == "String":
        return DbObject(kind, str(body.get("sval", "")))
    if name == "ObjectWithArgs":
        return DbObject(kind, dotted(body.get("objname") or ()))
    if name == "TypeName":
        return DbObject(kind, dotted(body.get("names") or ()))
    if name == "List":
        items = body.get("items") or []
        if kind in OWNED and len(items) > 1:
            return DbObject(kind, dotted(items[-1:]), dotted(items[:-1]))
        return DbObject(kind, dotted(items))
    return DbObject(kind, name)


_OBJECT_WORDS = {
    "MATVIEW": "MATERIALIZED VIEW",
    "FDW": "FOREIGN DATA WRAPPER",
    "FOREIGN_SERVER": "SERVER",
    "TABCONSTRAINT": "CONSTRAINT",
    "DOMCONSTRAINT": "CONSTRAINT",
}


def object_kind(object_type: str) -> str:
    word = object_type.removeprefix("OBJECT_")
    return _OBJECT_WORDS.get(word, word.replace("_", " "))


def object_names(objects: Sequence[DbObject]) -> str:
    return ", ".join(o.display for o in objects)
