CREATE OR REPLACE FUNCTION __SCHEMA__.chain_rows_digest(run_id text, ledger_key bytea)
RETURNS text LANGUAGE plpgsql STABLE AS $$
-- ledger/chain.py `rows_digest`: the seal of every non-link row run `run_id` wrote, each as
-- its table's name and canonical JSON, sorted, one a line.
DECLARE
  ledger_schema text;
  tbl text;
  found text[] := ARRAY[]::text[];
  part text[];
BEGIN
  SELECT n.nspname INTO ledger_schema FROM pg_class c
    JOIN pg_namespace n ON n.oid = c.relnamespace
   WHERE c.oid = (SELECT tableoid FROM __SCHEMA__.ledger_version LIMIT 1);
  FOREACH tbl IN ARRAY ARRAY['ledger_version', 'schema_migration_h', 'schema_migration_s',
                             'migration_progress', 'schema_snapshot', 'release_h',
                             'release_s'] LOOP
    IF to_regclass(format('%I.%I', ledger_schema, tbl)) IS NULL THEN
      CONTINUE;
    END IF;
    EXECUTE format('SELECT coalesce(array_agg(%L || %I.chain_json(%I.chain_row(to_jsonb(t)))), '
                   '''{}'') FROM %I.%I t WHERE deployment_id = $1',
                   tbl, ledger_schema, ledger_schema, ledger_schema, tbl)
      INTO part USING run_id;
    found := found || part;
  END LOOP;
  RETURN __SCHEMA__.chain_seal(
    coalesce((SELECT string_agg(line, E'\n' ORDER BY line COLLATE "C")
                FROM unnest(found) AS line), ''),
    ledger_key);
END
$$
