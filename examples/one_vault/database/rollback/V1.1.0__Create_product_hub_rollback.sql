DROP TABLE product_s;
DROP TABLE product_h;
