-- The product dimension of the retail example, in PostgreSQL.
CREATE TABLE IF NOT EXISTS products (
    product_id    int8 PRIMARY KEY,
    name          text,
    category      text,
    price         numeric(8, 2),
    initial_stock int8
);
INSERT INTO products VALUES
    (1, 'widget',    'tools', 2.50,  30),
    (2, 'gadget',    'tools', 10.00, 500),
    (3, 'doohickey', 'toys',  4.00,  200)
ON CONFLICT (product_id) DO NOTHING;
