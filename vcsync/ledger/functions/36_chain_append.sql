CREATE OR REPLACE FUNCTION __SCHEMA__.chain_append(link_table text, link jsonb, ledger_key bytea)
RETURNS text LANGUAGE plpgsql AS $$
-- ledger/writer.py `_append_link`: insert `link` (a deployment_log or deployment_end row,
-- timestamps as chain_time text) as the chain's next link, with its seq, hash_kind,
-- prev_hash and row_hash; returns the hash. Call under the deploy lock (no race).
DECLARE
  ledger_schema text;
  head_seq integer := 0;
  head_hash text := repeat('0', 64);
  candidate record;
  full_row jsonb;
  hash text;
BEGIN
  IF link_table NOT IN ('deployment_log', 'deployment_end') THEN
    RAISE EXCEPTION 'chain_append writes deployment_log or deployment_end rows, not %.',
      link_table;
  END IF;
  SELECT n.nspname INTO ledger_schema FROM pg_class c
    JOIN pg_namespace n ON n.oid = c.relnamespace
   WHERE c.oid = (SELECT tableoid FROM __SCHEMA__.ledger_version LIMIT 1);
  FOR candidate IN
    SELECT seq, row_hash FROM __SCHEMA__.deployment_log
    UNION ALL SELECT seq, row_hash FROM __SCHEMA__.deployment_end
    ORDER BY 1 DESC LIMIT 1
  LOOP
    head_seq := candidate.seq;
    head_hash := candidate.row_hash;
  END LOOP;
  link := link || jsonb_build_object(
    'seq', head_seq + 1,
    'hash_kind', CASE WHEN ledger_key IS NULL THEN 'sha256' ELSE 'hmac-sha256' END,
    'prev_hash', head_hash);
  -- every column of the table, NULL where `link` has none, as the writer hashes it
  EXECUTE format('SELECT to_jsonb(jsonb_populate_record(NULL::%I.%I, $1))', ledger_schema,
                 link_table)
    INTO full_row USING link;
  full_row := __SCHEMA__.chain_row(full_row) - 'row_hash';
  hash := __SCHEMA__.chain_seal(head_hash || link_table || __SCHEMA__.chain_json(full_row),
                                ledger_key);
  EXECUTE format('INSERT INTO %I.%I SELECT * FROM jsonb_populate_record(NULL::%I.%I, $1)',
                 ledger_schema, link_table, ledger_schema, link_table)
    USING full_row || jsonb_build_object('row_hash', hash);
  RETURN hash;
END
$$
