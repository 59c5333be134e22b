-- An order relates a customer and a product: a link, with its own hash key
-- (SHA-256 of the order number and both business keys) and a satellite for its state.
CREATE TABLE order_l (
    order_hk char(64) PRIMARY KEY,
    customer_hk char(64) NOT NULL REFERENCES customer_h (customer_hk),
    product_hk char(64) NOT NULL REFERENCES product_h (product_hk),
    order_bk text NOT NULL,
    load_dts timestamp NOT NULL DEFAULT CURRENT_TIMESTAMP,
    record_source text NOT NULL
);
CREATE INDEX order_l_customer_hk_idx ON order_l (customer_hk);
CREATE INDEX order_l_product_hk_idx ON order_l (product_hk);
CREATE TABLE order_s (
    order_hk char(64) NOT NULL REFERENCES order_l (order_hk),
    load_dts timestamp NOT NULL DEFAULT CURRENT_TIMESTAMP,
    hashdiff char(64) NOT NULL,
    record_source text NOT NULL,
    quantity integer NOT NULL CHECK (quantity > 0),
    total_cents integer NOT NULL CHECK (total_cents >= 0),
    PRIMARY KEY (order_hk, load_dts)
);
