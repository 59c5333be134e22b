-- Products: a second hub and its satellite.
CREATE TABLE product_h (
    product_hk char(64) PRIMARY KEY,
    product_bk text NOT NULL UNIQUE,
    load_dts timestamp NOT NULL DEFAULT CURRENT_TIMESTAMP,
    record_source text NOT NULL
);
CREATE TABLE product_s (
    product_hk char(64) NOT NULL REFERENCES product_h (product_hk),
    load_dts timestamp NOT NULL DEFAULT CURRENT_TIMESTAMP,
    hashdiff char(64) NOT NULL,
    record_source text NOT NULL,
    title text NOT NULL,
    price_cents integer NOT NULL CHECK (price_cents >= 0),
    PRIMARY KEY (product_hk, load_dts)
);
