"""The Data Vault ledger inside each target database: DDL, the insert-only writer, readers."""
