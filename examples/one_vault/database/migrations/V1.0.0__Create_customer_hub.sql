-- OneVault, Data Vault 2.0: a hub holds the business key once, with its hash key;
-- satellites hold the descriptive attributes over time, insert-only.
CREATE TABLE customer_h (
    customer_hk char(64) PRIMARY KEY,       -- SHA-256 of the business key
    customer_bk text NOT NULL UNIQUE,       -- the business key, as the source system spells it
    load_dts timestamp NOT NULL DEFAULT CURRENT_TIMESTAMP,
    record_source text NOT NULL
);
CREATE TABLE customer_s (
    customer_hk char(64) NOT NULL REFERENCES customer_h (customer_hk),
    load_dts timestamp NOT NULL DEFAULT CURRENT_TIMESTAMP,
    hashdiff char(64) NOT NULL,             -- SHA-256 of the attributes: a change is a new row
    record_source text NOT NULL,
    name text NOT NULL,
    email text,
    PRIMARY KEY (customer_hk, load_dts)
);
