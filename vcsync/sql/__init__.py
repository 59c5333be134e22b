"""Parsing: PostgreSQL's own grammar (pglast) for `postgres`, sqlglot for every other dialect."""
