CREATE OR REPLACE FUNCTION __SCHEMA__.chain_row(row_values jsonb) RETURNS jsonb
LANGUAGE plpgsql IMMUTABLE STRICT AS $$
-- A ledger row (to_jsonb of it) with its timestamps as the chain serialises them.
DECLARE
  name text;
BEGIN
  FOREACH name IN ARRAY ARRAY['load_dts', 'started_at', 'ended_at'] LOOP
    IF jsonb_typeof(row_values -> name) = 'string' THEN
      row_values := jsonb_set(row_values, ARRAY[name],
        to_jsonb(__SCHEMA__.chain_time((row_values ->> name)::timestamptz)));
    END IF;
  END LOOP;
  RETURN row_values;
END
$$
