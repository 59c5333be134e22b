"""PostgreSQL's catalog as a snapshot: one set-based query per kind of object.

Everything the server can print (types, defaults, definitions) is printed by the server
(format_type, pg_get_expr, pg_get_*def) with search_path pinned to pg_catalog, so every
user name comes out schema-qualified and two sessions with different search paths (a
tenant's, verify's) print the same text. Left out: the system schemas, the ledger's
schema, and whatever belongs to an extension (its `CREATE EXTENSION` stands for it).
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import suppress
from typing import Any

from vcsync.db import Connection, DatabaseError, Row

Snapshot = dict[str, dict[str, Any]]

# A user's schema: not a system one (users cannot name a schema pg_*), not the ledger's,
# and for a tenant target only the tenant's own.
_USER_SCHEMA = (
    "n.nspname <> 'information_schema' AND n.nspname !~ '^pg_' AND n.nspname <> %s "
    "AND (%s = '' OR n.nspname = %s) "
    "AND NOT EXISTS (SELECT 1 FROM pg_depend e WHERE e.classid = 'pg_namespace'::regclass "
    "AND e.objid = n.oid AND e.deptype = 'e')"
)


def _not_in_extension(catalog: str, oid: str) -> str:
    return (
        f"NOT EXISTS (SELECT 1 FROM pg_depend e WHERE e.classid = '{catalog}'::regclass "
        f"AND e.objid = {oid} AND e.deptype = 'e')"
    )


_TABLE_KINDS = {"r": "table", "p": "table", "f": "foreign table"}
_VIEW_KINDS = {"v": "view", "m": "materialized view"}
_CONSTRAINT_TYPES = {
    "p": "primary key",
    "u": "unique",
    "f": "foreign key",
    "c": "check",
    "x": "exclusion",
    "t": "trigger",
}
_ROUTINE_KINDS = {"f": "function", "w": "function", "p": "procedure", "a": "aggregate"}
_IDENTITY = {"a": "always", "d": "by default"}
_GENERATED = {"s": "stored", "v": "virtual"}
_TRIGGER_ENABLED = {"O": "enabled", "D": "disabled", "R": "replica", "A": "always"}
_POLICY_COMMANDS = {"r": "SELECT", "a": "INSERT", "w": "UPDATE", "d": "DELETE", "*": "ALL"}

SCHEMAS = f"SELECT n.nspname FROM pg_namespace n WHERE {_USER_SCHEMA}"

TABLES = f"""
SELECT n.nspname, c.relname, c.relkind, c.relrowsecurity, c.relforcerowsecurity,
       c.relpersistence = 'u', pg_get_partkeydef(c.oid),
       CASE WHEN c.relispartition THEN pg_get_expr(c.relpartbound, c.oid) END,
       ARRAY(SELECT i.inhparent::regclass::text FROM pg_inherits i WHERE i.inhrelid = c.oid),
       coalesce(c.reloptions, '{{}}')
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p', 'f') AND {_USER_SCHEMA} AND {_not_in_extension("pg_class", "c.oid")}
"""

COLUMNS = f"""
SELECT n.nspname, c.relname, a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull,
       pg_get_expr(d.adbin, d.adrelid), a.attidentity, a.attgenerated,
       CASE WHEN a.attcollation <> t.typcollation THEN a.attcollation::regcollation::text END
FROM pg_attribute a
JOIN pg_class c ON c.oid = a.attrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_type t ON t.oid = a.atttypid
LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
WHERE a.attnum > 0 AND NOT a.attisdropped AND c.relkind IN ('r', 'p', 'f')
  AND {_USER_SCHEMA} AND {_not_in_extension("pg_class", "c.oid")}
"""

# NOT NULL is a column attribute; PostgreSQL 18 also lists it here (contype 'n').
CONSTRAINTS = f"""
SELECT n.nspname, c.relname, con.conname, con.contype, pg_get_constraintdef(con.oid, true)
FROM pg_constraint con
JOIN pg_class c ON c.oid = con.conrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE con.contype <> 'n' AND {_USER_SCHEMA} AND {_not_in_extension("pg_class", "c.oid")}
"""

INDEXES = f"""
SELECT n.nspname, ic.relname, i.indrelid::regclass::text, pg_get_indexdef(i.indexrelid),
       i.indisvalid
FROM pg_index i
JOIN pg_class ic ON ic.oid = i.indexrelid
JOIN pg_namespace n ON n.oid = ic.relnamespace
WHERE {_USER_SCHEMA} AND {_not_in_extension("pg_class", "i.indrelid")}
"""

VIEWS = f"""
SELECT n.nspname, c.relname, c.relkind, pg_get_viewdef(c.oid, true),
       coalesce(c.reloptions, '{{}}')
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('v', 'm') AND {_USER_SCHEMA} AND {_not_in_extension("pg_class", "c.oid")}
"""

# An identity column's sequence (deptype 'i') is the column's business, not an object.
SEQUENCES = f"""
SELECT n.nspname, c.relname, format_type(s.seqtypid, NULL), s.seqstart, s.seqincrement,
       s.seqmin, s.seqmax, s.seqcache, s.seqcycle,
       (SELECT d.refobjid::regclass::text || '.' || a.attname
        FROM pg_depend d
        JOIN pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid
        WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'a'
          AND d.refclassid = 'pg_class'::regclass)
FROM pg_sequence s
JOIN pg_class c ON c.oid = s.seqrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE {_USER_SCHEMA} AND {_not_in_extension("pg_class", "c.oid")}
  AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass
                  AND d.objid = c.oid AND d.deptype = 'i')
"""

# pg_get_functiondef refuses aggregates; they are named by signature and result. The
# constructors a range type makes for itself (deptype 'i') belong to the type.
ROUTINES = f"""
SELECT n.nspname, p.proname, pg_get_function_identity_arguments(p.oid), p.prokind,
       pg_get_function_result(p.oid),
       CASE WHEN p.prokind IN ('f', 'p', 'w') THEN pg_get_functiondef(p.oid) END
FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
WHERE {_USER_SCHEMA} AND {_not_in_extension("pg_proc", "p.oid")}
  AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_proc'::regclass
                  AND d.objid = p.oid AND d.deptype = 'i')
"""

TRIGGERS = f"""
SELECT n.nspname, c.relname, t.tgname, pg_get_triggerdef(t.oid, true), t.tgenabled
FROM pg_trigger t
JOIN pg_class c ON c.oid = t.tgrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE NOT t.tgisinternal AND {_USER_SCHEMA} AND {_not_in_extension("pg_class", "c.oid")}
"""

# Enums (labels in their order), domains, standalone composite types and ranges; a
# table's row type and the array types PostgreSQL makes by itself are not objects here.
TYPES = f"""
SELECT n.nspname, t.typname, t.typtype,
       ARRAY(SELECT e.enumlabel::text FROM pg_enum e WHERE e.enumtypid = t.oid
             ORDER BY e.enumsortorder),
       CASE WHEN t.typtype = 'd' THEN format_type(t.typbasetype, t.typtypmod) END,
       t.typnotnull, t.typdefault,
       ARRAY(SELECT con.conname::text FROM pg_constraint con
             WHERE con.contypid = t.oid AND con.contype <> 'n' ORDER BY con.conname),
       ARRAY(SELECT pg_get_constraintdef(con.oid, true) FROM pg_constraint con
             WHERE con.contypid = t.oid AND con.contype <> 'n' ORDER BY con.conname),
       ARRAY(SELECT a.attname::text FROM pg_attribute a
             WHERE a.attrelid = t.typrelid AND a.attnum > 0 AND NOT a.attisdropped
             ORDER BY a.attnum),
       ARRAY(SELECT format_type(a.atttypid, a.atttypmod) FROM pg_attribute a
             WHERE a.attrelid = t.typrelid AND a.attnum > 0 AND NOT a.attisdropped
             ORDER BY a.attnum),
       (SELECT format_type(r.rngsubtype, NULL) FROM pg_range r WHERE r.rngtypid = t.oid)
FROM pg_type t
JOIN pg_namespace n ON n.oid = t.typnamespace
LEFT JOIN pg_class c ON c.oid = t.typrelid
WHERE t.typtype IN ('e', 'd', 'c', 'r') AND (t.typtype <> 'c' OR c.relkind = 'c')
  AND {_USER_SCHEMA} AND {_not_in_extension("pg_type", "t.oid")}
"""

EXTENSIONS = """
SELECT e.extname, e.extversion, n.nspname
FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
"""

POLICIES = f"""
SELECT n.nspname, c.relname, p.polname, p.polcmd, p.polpermissive,
       ARRAY(SELECT CASE WHEN r = 0 THEN 'public' ELSE pg_get_userbyid(r)::text END
             FROM unnest(p.polroles) r),
       pg_get_expr(p.polqual, p.polrelid), pg_get_expr(p.polwithcheck, p.polrelid)
FROM pg_policy p
JOIN pg_class c ON c.oid = p.polrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE {_USER_SCHEMA} AND {_not_in_extension("pg_class", "c.oid")}
"""


def _schemas(row: Row) -> tuple[str, dict[str, Any]]:
    return f"schema {row[0]}", {}


def _table(row: Row) -> tuple[str, dict[str, Any]]:
    schema, name, kind, rls, force_rls, unlogged, part_key, bound, parents, options = row
    return f"{_TABLE_KINDS[kind]} {schema}.{name}", {
        "row_security": rls,
        "force_row_security": force_rls,
        "unlogged": unlogged,
        "partition_key": part_key,
        "partition_bound": bound,
        "inherits": sorted(parents),
        "options": sorted(options),
    }


def _column(row: Row) -> tuple[str, dict[str, Any]]:
    schema, table, name, type_, not_null, default, identity, generated, collation = row
    return f"column {schema}.{table}.{name}", {
        "type": type_,
        "not_null": not_null,
        "default": default,
        "identity": _IDENTITY.get(identity),
        "generated": _GENERATED.get(generated),
        "collation": collation,
    }


def _constraint(row: Row) -> tuple[str, dict[str, Any]]:
    schema, table, name, kind, definition = row
    return f"constraint {schema}.{table}.{name}", {
        "type": _CONSTRAINT_TYPES.get(kind, kind),
        "definition": definition,
    }


def _index(row: Row) -> tuple[str, dict[str, Any]]:
    schema, name, table, definition, valid = row
    return f"index {schema}.{name}", {"table": table, "definition": definition, "valid": valid}


def _view(row: Row) -> tuple[str, dict[str, Any]]:
    schema, name, kind, definition, options = row
    return f"{_VIEW_KINDS[kind]} {schema}.{name}", {
        "definition": definition,
        "options": sorted(options),
    }


def _sequence(row: Row) -> tuple[str, dict[str, Any]]:
    schema, name, type_, start, increment, minimum, maximum, cache, cycle, owned_by = row
    return f"sequence {schema}.{name}", {
        "type": type_,
        "start": start,
        "increment": increment,
        "min": minimum,
        "max": maximum,
        "cache": cache,
        "cycle": cycle,
        "owned_by": owned_by,
    }


def _routine(row: Row) -> tuple[str, dict[str, Any]]:
    schema, name, arguments, kind, result, definition = row
    return f"{_ROUTINE_KINDS.get(kind, 'function')} {schema}.{name}({arguments})", {
        "returns": result,
        "definition": definition,
    }


def _trigger(row: Row) -> tuple[str, dict[str, Any]]:
    schema, table, name, definition, enabled = row
    return f"trigger {schema}.{table}.{name}", {
        "definition": definition,
        "enabled": _TRIGGER_ENABLED.get(enabled, enabled),
    }


def _type(row: Row) -> tuple[str, dict[str, Any]]:
    schema, name, kind = row[:3]
    labels, base, not_null, default, check_names, checks, fields, field_types, subtype = row[3:]
    attributes: dict[str, Any]
    if kind == "e":
        attributes = {"kind": "enum", "labels": list(labels)}  # their order is meaningful
    elif kind == "d":
        attributes = {
            "kind": "domain",
            "base_type": base,
            "not_null": not_null,
            "default": default,
            "constraints": dict(zip(check_names, checks, strict=True)),
        }
    elif kind == "c":
        attributes = {
            "kind": "composite",
            "attributes": [[f, t] for f, t in zip(fields, field_types, strict=True)],
        }
    else:
        attributes = {"kind": "range", "subtype": subtype}
    return f"type {schema}.{name}", attributes


def _extension(row: Row) -> tuple[str, dict[str, Any]]:
    name, version, schema = row
    return f"extension {name}", {"version": version, "schema": schema}


def _policy(row: Row) -> tuple[str, dict[str, Any]]:
    schema, table, name, command, permissive, roles, using, with_check = row
    return f"policy {schema}.{table}.{name}", {
        "command": _POLICY_COMMANDS.get(command, command),
        "permissive": permissive,
        "roles": sorted(roles),
        "using": using,
        "with_check": with_check,
    }


_KINDS: tuple[tuple[str, Callable[[Row], tuple[str, dict[str, Any]]]], ...] = (
    (SCHEMAS, _schemas),
    (TABLES, _table),
    (COLUMNS, _column),
    (CONSTRAINTS, _constraint),
    (INDEXES, _index),
    (VIEWS, _view),
    (SEQUENCES, _sequence),
    (ROUTINES, _routine),
    (TRIGGERS, _trigger),
    (TYPES, _type),
    (EXTENSIONS, _extension),
    (POLICIES, _policy),
)


def postgres_snapshot(conn: Connection, ledger_schema: str) -> Snapshot:
    """Every user object in the database (a tenant target: in its schema), by name."""
    original = conn.query("SELECT current_setting('search_path')")[0][0]
    conn.query("SELECT set_config('search_path', 'pg_catalog', false)")
    try:
        snapshot: Snapshot = {}
        for query, entry in _KINDS:
            tenant = conn.target.schema or ""
            rows = conn.query(query, [ledger_schema, tenant, tenant] * (query.count("%s") // 3))
            snapshot.update(entry(row) for row in rows)
        return snapshot
    finally:
        # In a failed transaction this fails too, and rolling back restores the search path.
        with suppress(DatabaseError):
            conn.query("SELECT set_config('search_path', %s, false)", [original])
