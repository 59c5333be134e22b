CREATE OR REPLACE FUNCTION __SCHEMA__.catalog_snapshot(
    ledger_schema text DEFAULT (parse_ident($ledger$__SCHEMA__$ledger$))[1],
    tenant_schema text DEFAULT NULL)
RETURNS jsonb
LANGUAGE sql STABLE
SET search_path = pg_catalog
AS $catalog_snapshot$
-- The normalised snapshot of the live schema (DESIGN §5 schema_snapshot, §11): an object
-- per "<kind> <schema>.<name>" key, its attributes as the server prints them. The CLI
-- takes every PostgreSQL snapshot through this text (here, or installed in pg_temp on a
-- database without a ledger), so the CLI and SQL agree on what a schema is.
--
-- $1 is the ledger's schema (left out), $2 a tenant's schema ('' or NULL: every user
-- schema). search_path is pinned to pg_catalog, so every user name comes out
-- schema-qualified whatever the caller's search path. Left out: the system schemas, the
-- ledger's schema, and whatever belongs to an extension (its CREATE EXTENSION stands for
-- it). Lists whose order means nothing are sorted by code point (COLLATE "C").
WITH user_schema AS MATERIALIZED (
    SELECT n.oid, n.nspname
    FROM pg_namespace n
    WHERE n.nspname <> 'information_schema' AND n.nspname !~ '^pg_' AND n.nspname <> $1
      AND (coalesce($2, '') = '' OR n.nspname = $2)
      AND NOT EXISTS (SELECT 1 FROM pg_depend e WHERE e.classid = 'pg_namespace'::regclass
                      AND e.objid = n.oid AND e.deptype = 'e')
)
SELECT coalesce(jsonb_object_agg(o.key, o.value), '{}'::jsonb)
FROM (
    SELECT 'schema ' || n.nspname, '{}'::jsonb
    FROM user_schema n

    UNION ALL
    SELECT CASE c.relkind WHEN 'f' THEN 'foreign table ' ELSE 'table ' END
               || n.nspname || '.' || c.relname,
           jsonb_build_object(
               'row_security', c.relrowsecurity,
               'force_row_security', c.relforcerowsecurity,
               'unlogged', c.relpersistence = 'u',
               'partition_key', pg_get_partkeydef(c.oid),
               'partition_bound',
                   CASE WHEN c.relispartition THEN pg_get_expr(c.relpartbound, c.oid) END,
               'inherits', to_jsonb(ARRAY(
                   SELECT i.inhparent::regclass::text FROM pg_inherits i
                   WHERE i.inhrelid = c.oid ORDER BY i.inhparent::regclass::text COLLATE "C")),
               'options', to_jsonb(ARRAY(
                   SELECT o FROM unnest(c.reloptions) o ORDER BY o COLLATE "C")))
    FROM pg_class c JOIN user_schema n ON n.oid = c.relnamespace
    WHERE c.relkind IN ('r', 'p', 'f')
      AND NOT EXISTS (SELECT 1 FROM pg_depend e WHERE e.classid = 'pg_class'::regclass
                      AND e.objid = c.oid AND e.deptype = 'e')

    UNION ALL
    SELECT 'column ' || n.nspname || '.' || c.relname || '.' || a.attname,
           jsonb_build_object(
               'type', format_type(a.atttypid, a.atttypmod),
               'not_null', a.attnotnull,
               'default', pg_get_expr(d.adbin, d.adrelid),
               'identity', CASE a.attidentity WHEN 'a' THEN 'always'
                                              WHEN 'd' THEN 'by default' END,
               'generated', CASE a.attgenerated WHEN 's' THEN 'stored'
                                                WHEN 'v' THEN 'virtual' END,
               'collation', CASE WHEN a.attcollation <> t.typcollation
                                 THEN a.attcollation::regcollation::text END)
    FROM pg_attribute a
    JOIN pg_class c ON c.oid = a.attrelid
    JOIN user_schema n ON n.oid = c.relnamespace
    JOIN pg_type t ON t.oid = a.atttypid
    LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
    WHERE a.attnum > 0 AND NOT a.attisdropped AND c.relkind IN ('r', 'p', 'f')
      AND NOT EXISTS (SELECT 1 FROM pg_depend e WHERE e.classid = 'pg_class'::regclass
                      AND e.objid = c.oid AND e.deptype = 'e')

    UNION ALL
    -- NOT NULL is a column attribute; PostgreSQL 18 also lists it here (contype 'n').
    SELECT 'constraint ' || n.nspname || '.' || c.relname || '.' || con.conname,
           jsonb_build_object(
               'type', CASE con.contype WHEN 'p' THEN 'primary key' WHEN 'u' THEN 'unique'
                                        WHEN 'f' THEN 'foreign key' WHEN 'c' THEN 'check'
                                        WHEN 'x' THEN 'exclusion' WHEN 't' THEN 'trigger'
                                        ELSE con.contype::text END,
               'definition', pg_get_constraintdef(con.oid, true))
    FROM pg_constraint con
    JOIN pg_class c ON c.oid = con.conrelid
    JOIN user_schema n ON n.oid = c.relnamespace
    WHERE con.contype <> 'n'
      AND NOT EXISTS (SELECT 1 FROM pg_depend e WHERE e.classid = 'pg_class'::regclass
                      AND e.objid = c.oid AND e.deptype = 'e')

    UNION ALL
    SELECT 'index ' || n.nspname || '.' || ic.relname,
           jsonb_build_object(
               'table', i.indrelid::regclass::text,
               'definition', pg_get_indexdef(i.indexrelid),
               'valid', i.indisvalid)
    FROM pg_index i
    JOIN pg_class ic ON ic.oid = i.indexrelid
    JOIN user_schema n ON n.oid = ic.relnamespace
    WHERE NOT EXISTS (SELECT 1 FROM pg_depend e WHERE e.classid = 'pg_class'::regclass
                      AND e.objid = i.indrelid AND e.deptype = 'e')

    UNION ALL
    SELECT CASE c.relkind WHEN 'm' THEN 'materialized view ' ELSE 'view ' END
               || n.nspname || '.' || c.relname,
           jsonb_build_object(
               'definition', pg_get_viewdef(c.oid, true),
               'options', to_jsonb(ARRAY(
                   SELECT o FROM unnest(c.reloptions) o ORDER BY o COLLATE "C")))
    FROM pg_class c JOIN user_schema n ON n.oid = c.relnamespace
    WHERE c.relkind IN ('v', 'm')
      AND NOT EXISTS (SELECT 1 FROM pg_depend e WHERE e.classid = 'pg_class'::regclass
                      AND e.objid = c.oid AND e.deptype = 'e')

    UNION ALL
    -- An identity column's sequence (deptype 'i') is the column's business, not an object.
    SELECT 'sequence ' || n.nspname || '.' || c.relname,
           jsonb_build_object(
               'type', format_type(s.seqtypid, NULL),
               'start', s.seqstart,
               'increment', s.seqincrement,
               'min', s.seqmin,
               'max', s.seqmax,
               'cache', s.seqcache,
               'cycle', s.seqcycle,
               'owned_by', (
                   SELECT d.refobjid::regclass::text || '.' || a.attname
                   FROM pg_depend d
                   JOIN pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid
                   WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid
                     AND d.deptype = 'a' AND d.refclassid = 'pg_class'::regclass))
    FROM pg_sequence s
    JOIN pg_class c ON c.oid = s.seqrelid
    JOIN user_schema n ON n.oid = c.relnamespace
    WHERE NOT EXISTS (SELECT 1 FROM pg_depend e WHERE e.classid = 'pg_class'::regclass
                      AND e.objid = c.oid AND e.deptype = 'e')
      AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass
                      AND d.objid = c.oid AND d.deptype = 'i')

    UNION ALL
    -- pg_get_functiondef refuses aggregates; they are named by signature and result. The
    -- constructors a range type makes for itself (deptype 'i') belong to the type.
    SELECT CASE p.prokind WHEN 'p' THEN 'procedure ' WHEN 'a' THEN 'aggregate '
                          ELSE 'function ' END
               || n.nspname || '.' || p.proname
               || '(' || pg_get_function_identity_arguments(p.oid) || ')',
           jsonb_build_object(
               'returns', pg_get_function_result(p.oid),
               'definition', CASE WHEN p.prokind IN ('f', 'p', 'w')
                                  THEN pg_get_functiondef(p.oid) END)
    FROM pg_proc p JOIN user_schema n ON n.oid = p.pronamespace
    WHERE NOT EXISTS (SELECT 1 FROM pg_depend e WHERE e.classid = 'pg_proc'::regclass
                      AND e.objid = p.oid AND e.deptype = 'e')
      AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_proc'::regclass
                      AND d.objid = p.oid AND d.deptype = 'i')

    UNION ALL
    SELECT 'trigger ' || n.nspname || '.' || c.relname || '.' || t.tgname,
           jsonb_build_object(
               'definition', pg_get_triggerdef(t.oid, true),
               'enabled', CASE t.tgenabled WHEN 'O' THEN 'enabled' WHEN 'D' THEN 'disabled'
                                           WHEN 'R' THEN 'replica' WHEN 'A' THEN 'always'
                                           ELSE t.tgenabled::text END)
    FROM pg_trigger t
    JOIN pg_class c ON c.oid = t.tgrelid
    JOIN user_schema n ON n.oid = c.relnamespace
    WHERE NOT t.tgisinternal
      AND NOT EXISTS (SELECT 1 FROM pg_depend e WHERE e.classid = 'pg_class'::regclass
                      AND e.objid = c.oid AND e.deptype = 'e')

    UNION ALL
    -- Enums (labels in their order), domains, standalone composite types and ranges; a
    -- table's row type and the array types PostgreSQL makes by itself are not objects here.
    SELECT 'type ' || n.nspname || '.' || t.typname,
           CASE t.typtype
           WHEN 'e' THEN jsonb_build_object(
               'kind', 'enum',
               'labels', to_jsonb(ARRAY(
                   SELECT e.enumlabel::text FROM pg_enum e WHERE e.enumtypid = t.oid
                   ORDER BY e.enumsortorder)))
           WHEN 'd' THEN jsonb_build_object(
               'kind', 'domain',
               'base_type', format_type(t.typbasetype, t.typtypmod),
               'not_null', t.typnotnull,
               'default', t.typdefault,
               'constraints', coalesce((
                   SELECT jsonb_object_agg(con.conname, pg_get_constraintdef(con.oid, true))
                   FROM pg_constraint con
                   WHERE con.contypid = t.oid AND con.contype <> 'n'), '{}'::jsonb))
           WHEN 'c' THEN jsonb_build_object(
               'kind', 'composite',
               'attributes', coalesce((
                   SELECT jsonb_agg(jsonb_build_array(a.attname::text,
                                                      format_type(a.atttypid, a.atttypmod))
                                    ORDER BY a.attnum)
                   FROM pg_attribute a
                   WHERE a.attrelid = t.typrelid AND a.attnum > 0 AND NOT a.attisdropped),
                   '[]'::jsonb))
           ELSE jsonb_build_object(
               'kind', 'range',
               'subtype', (SELECT format_type(r.rngsubtype, NULL) FROM pg_range r
                           WHERE r.rngtypid = t.oid))
           END
    FROM pg_type t
    JOIN user_schema n ON n.oid = t.typnamespace
    LEFT JOIN pg_class c ON c.oid = t.typrelid
    WHERE t.typtype IN ('e', 'd', 'c', 'r') AND (t.typtype <> 'c' OR c.relkind = 'c')
      AND NOT EXISTS (SELECT 1 FROM pg_depend e WHERE e.classid = 'pg_type'::regclass
                      AND e.objid = t.oid AND e.deptype = 'e')

    UNION ALL
    SELECT 'extension ' || e.extname,
           jsonb_build_object('version', e.extversion, 'schema', n.nspname)
    FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace

    UNION ALL
    SELECT 'policy ' || n.nspname || '.' || c.relname || '.' || p.polname,
           jsonb_build_object(
               'command', CASE p.polcmd WHEN 'r' THEN 'SELECT' WHEN 'a' THEN 'INSERT'
                                        WHEN 'w' THEN 'UPDATE' WHEN 'd' THEN 'DELETE'
                                        WHEN '*' THEN 'ALL' ELSE p.polcmd::text END,
               'permissive', p.polpermissive,
               'roles', to_jsonb(ARRAY(
                   SELECT r.name FROM (
                       SELECT CASE WHEN u.oid = 0 THEN 'public'
                                   ELSE pg_get_userbyid(u.oid)::text END
                       FROM unnest(p.polroles) AS u(oid)) AS r(name)
                   ORDER BY r.name COLLATE "C")),
               'using', pg_get_expr(p.polqual, p.polrelid),
               'with_check', pg_get_expr(p.polwithcheck, p.polrelid))
    FROM pg_policy p
    JOIN pg_class c ON c.oid = p.polrelid
    JOIN user_schema n ON n.oid = c.relnamespace
    WHERE NOT EXISTS (SELECT 1 FROM pg_depend e WHERE e.classid = 'pg_class'::regclass
                      AND e.objid = c.oid AND e.deptype = 'e')
) AS o(key, value)
$catalog_snapshot$
