CREATE OR REPLACE FUNCTION __SCHEMA__.chain_json(value jsonb, compact boolean DEFAULT false)
RETURNS text LANGUAGE plpgsql IMMUTABLE AS $$
-- A JSON value as Python's json.dumps(value, sort_keys=True) writes it (the hash chain's
-- canonical form, ledger/chain.py), or with compact: json.dumps(value, sort_keys=True,
-- separators=(",", ":"), ensure_ascii=False) (a snapshot's text, snapshot.py). Keys sort by
-- code point (COLLATE "C" compares UTF-8 bytes, which orders as code points do).
DECLARE
  kind text := jsonb_typeof(value);
  item_sep text := CASE WHEN compact THEN ',' ELSE ', ' END;
  key_sep text := CASE WHEN compact THEN ':' ELSE ': ' END;
  result text;
  raw text;
  code integer;
  ch text;
BEGIN
  IF value IS NULL OR kind = 'null' THEN
    RETURN 'null';
  ELSIF kind = 'object' THEN
    SELECT '{' || coalesce(string_agg(__SCHEMA__.chain_json(to_jsonb(k), compact) || key_sep
                                      || __SCHEMA__.chain_json(v, compact), item_sep
                                      ORDER BY k COLLATE "C"), '') || '}'
      INTO result FROM jsonb_each(value) AS e(k, v);
    RETURN result;
  ELSIF kind = 'array' THEN
    SELECT '[' || coalesce(string_agg(__SCHEMA__.chain_json(v, compact), item_sep
                                      ORDER BY n), '') || ']'
      INTO result FROM jsonb_array_elements(value) WITH ORDINALITY AS a(v, n);
    RETURN result;
  ELSIF kind = 'boolean' THEN
    RETURN value::text;
  ELSIF kind = 'number' THEN
    raw := value::text;
    IF raw ~ '^-?[0-9]+$' THEN
      RETURN raw;  -- a Python int
    END IF;
    raw := (raw::float8)::text;  -- a Python float: shortest round-trip form, as repr
    RETURN CASE WHEN raw ~ '^-?[0-9]+$' THEN raw || '.0' ELSE raw END;
  END IF;
  -- a string
  raw := value #>> '{}';
  result := replace(replace(raw, '\', '\\'), '"', '\"');
  result := replace(replace(replace(result, E'\n', '\n'), E'\r', '\r'), E'\t', '\t');
  result := replace(replace(result, E'\b', '\b'), E'\f', '\f');
  IF (compact AND result ~ '[\x01-\x1f]') OR (NOT compact AND result ~ '[^ -~]') THEN
    raw := result;
    result := '';
    FOREACH ch IN ARRAY regexp_split_to_array(raw, '') LOOP
      code := ascii(ch);
      IF code BETWEEN 32 AND 126 OR (compact AND code > 126) THEN
        result := result || ch;
      ELSIF code <= 65535 THEN
        result := result || '\u' || lpad(to_hex(code), 4, '0');
      ELSE  -- beyond the BMP: a UTF-16 surrogate pair, as Python writes it
        code := code - 65536;
        result := result || '\u' || to_hex(55296 + (code >> 10))
                         || '\u' || to_hex(56320 + (code & 1023));
      END IF;
    END LOOP;
  END IF;
  RETURN '"' || result || '"';
END
$$
