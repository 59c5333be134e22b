DROP TABLE order_s;
DROP INDEX order_l_product_hk_idx;
DROP INDEX order_l_customer_hk_idx;
DROP TABLE order_l;
