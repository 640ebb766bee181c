-- Checkout and cart writes as one statement each (SELECT shop_checkout(…), SELECT
-- shop_cart_write(…)): one round trip instead of eight (checkout) or four (cart), all or
-- nothing because a statement outside BEGIN is its own transaction — RAISE rolls back
-- every write the function made. Each statement inside a VOLATILE plpgsql function takes
-- a fresh READ COMMITTED snapshot, so the races settle exactly as they did in the
-- multi-statement transactions these replace: conditional UPDATEs re-check the stock
-- after waiting on a row lock, rows are locked in product-id order, and the idempotency
-- key is a unique index. Errors are SQLSTATEs of our own (class SH), mapped to the
-- API's errors in routes/*/repository.postgres.ts.

-- "59.97 USD" from 5997, exactly as formatMoney in routes/orders/repository.ts (cents ≥ 0).
CREATE FUNCTION shop_format_money (cents bigint, currency text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN (cents / 100)::text || '.' || lpad((cents % 100)::text, 2, '0') || ' ' || currency;
--> statement-breakpoint

-- An existing order in the shape OrderRepository returns, or NULL.
CREATE FUNCTION shop_order_json (order_id bigint, created boolean) RETURNS json
LANGUAGE sql STABLE
AS $$
  SELECT json_build_object(
    'created', created,
    'id', o.id, 'userId', o.user_id, 'status', o.status, 'totalCents', o.total_cents,
    'currency', o.currency, 'shippingAddress', o.shipping_address, 'createdAt', o.created_at,
    'items', (SELECT coalesce(json_agg(json_build_object('productId', i.product_id, 'name', i.name, 'priceCents', i.price_cents, 'quantity', i.quantity) ORDER BY i.id), '[]'::json)
              FROM order_items i WHERE i.order_id = o.id))
  FROM orders o WHERE o.id = order_id
$$;
--> statement-breakpoint

-- The whole checkout. Returns the order as JSON with "created"; raises SH001 for an empty
-- cart, SH002 (DETAIL: the product id) for a line the stock cannot cover. A concurrent
-- checkout committing the same idempotency key first makes the INSERT fail with the
-- unique index's 23505; the caller then reads that order (the only extra round trip).
CREATE FUNCTION shop_checkout (
  p_user_id bigint, p_currency text, p_shipping_address text, p_idempotency_key text,
  p_recipient text, p_created_at text, p_next_attempt_at bigint
) RETURNS json
LANGUAGE plpgsql VOLATILE
AS $$
DECLARE
  earlier bigint;
  product_ids bigint[];
  quantities int[];
  names text[];
  prices int[];
  -- The lines in the cart's order (added first, ties by product id): the order's lines and the e-mail follow it.
  line record;
  line_name text;
  line_price int;
  total bigint := 0;
  new_order orders%ROWTYPE;
  lines_text text := '';
  items json;
BEGIN
  IF p_idempotency_key IS NOT NULL THEN
    SELECT id INTO earlier FROM orders WHERE user_id = p_user_id AND idempotency_key = p_idempotency_key;
    IF FOUND THEN RETURN shop_order_json(earlier, false); END IF;
  END IF;

  -- Deleting first takes exactly the lines this order is made of: a line added meanwhile
  -- (another tab, another instance) stays in the cart. A concurrent checkout of the same
  -- cart waits here on the rows' locks and then finds them gone.
  WITH taken AS (DELETE FROM cart_items WHERE user_id = p_user_id RETURNING product_id, quantity, created_at)
  SELECT array_agg(product_id ORDER BY created_at, product_id), array_agg(quantity ORDER BY created_at, product_id)
    INTO product_ids, quantities FROM taken;
  IF product_ids IS NULL THEN
    -- The same key's checkout may have taken the cart and committed while this one waited:
    -- this statement's fresh snapshot sees its order.
    IF p_idempotency_key IS NOT NULL THEN
      SELECT id INTO earlier FROM orders WHERE user_id = p_user_id AND idempotency_key = p_idempotency_key;
      IF FOUND THEN RETURN shop_order_json(earlier, false); END IF;
    END IF;
    RAISE EXCEPTION 'the cart is empty' USING ERRCODE = 'SH001';
  END IF;
  names := array_fill(NULL::text, ARRAY[cardinality(product_ids)]);
  prices := array_fill(NULL::int, ARRAY[cardinality(product_ids)]);

  -- Stock taken in product-id order, so two checkouts never deadlock. The conditional
  -- UPDATE waits on a row another transaction holds, then re-checks stock >= quantity
  -- against the committed row (EvalPlanQual): no oversell. A miss raises, which undoes
  -- the stock taken so far and the cart's deletion.
  FOR line IN SELECT u.product_id, u.quantity, u.n::int AS n FROM unnest(product_ids, quantities) WITH ORDINALITY AS u(product_id, quantity, n) ORDER BY u.product_id LOOP
    UPDATE products SET stock = stock - line.quantity WHERE id = line.product_id AND stock >= line.quantity
      RETURNING name, price_cents INTO line_name, line_price;
    IF NOT FOUND THEN
      RAISE EXCEPTION 'insufficient stock' USING ERRCODE = 'SH002', DETAIL = line.product_id::text;
    END IF;
    names[line.n] := line_name;
    prices[line.n] := line_price;
    total := total + line_price::bigint * line.quantity;
  END LOOP;

  INSERT INTO orders (user_id, status, total_cents, currency, shipping_address, idempotency_key, created_at)
    VALUES (p_user_id, 'placed', total, p_currency, p_shipping_address, p_idempotency_key, p_created_at)
    RETURNING * INTO new_order;
  -- Ids follow the lines' order, which is how find() reads them back.
  INSERT INTO order_items (order_id, product_id, name, price_cents, quantity)
    SELECT new_order.id, u.product_id, u.name, u.price_cents, u.quantity
    FROM unnest(product_ids, names, prices, quantities) WITH ORDINALITY AS u(product_id, name, price_cents, quantity, n) ORDER BY u.n;

  -- The confirmation e-mail, character for character confirmationText(order) in routes/orders/repository.ts.
  SELECT string_agg(u.quantity || ' × ' || u.name || ' at ' || shop_format_money(u.price_cents, p_currency)
                    || ' = ' || shop_format_money(u.price_cents::bigint * u.quantity, p_currency), E'\n' ORDER BY u.n),
         json_agg(json_build_object('productId', u.product_id, 'name', u.name, 'priceCents', u.price_cents, 'quantity', u.quantity) ORDER BY u.n)
    INTO lines_text, items
    FROM unnest(product_ids, names, prices, quantities) WITH ORDINALITY AS u(product_id, name, price_cents, quantity, n);
  INSERT INTO mail_outbox (recipient, subject, body, next_attempt_at, created_at)
    VALUES (p_recipient, 'Order #' || new_order.id || ' confirmed',
            'Thank you for your order #' || new_order.id || '.' || E'\n\n' || lines_text || E'\n\n'
            || 'Total: ' || shop_format_money(total, p_currency) || E'\n' || 'Shipping to: ' || p_shipping_address,
            p_next_attempt_at, p_created_at);

  RETURN json_build_object(
    'created', true,
    'id', new_order.id, 'userId', new_order.user_id, 'status', new_order.status, 'totalCents', new_order.total_cents,
    'currency', new_order.currency, 'shippingAddress', new_order.shipping_address, 'createdAt', new_order.created_at,
    'items', items);
END
$$;
--> statement-breakpoint

-- Adds to (p_add) or sets a cart line in one statement, so two instances adding at once
-- both count (the upsert waits on the other's row and adds to what it committed), then
-- checks the result against the line limit and today's stock; a failed check raises and
-- so undoes the write. SH003: no such product; SH004 (DETAIL: the line's would-be
-- quantity): over p_max_quantity; SH002 (DETAIL: the product id): over the stock.
CREATE FUNCTION shop_cart_write (
  p_user_id bigint, p_product_id bigint, p_quantity int, p_add boolean, p_max_quantity int, p_created_at text
) RETURNS int
LANGUAGE plpgsql VOLATILE
AS $$
DECLARE
  in_stock int;
  total int;
BEGIN
  SELECT stock INTO in_stock FROM products WHERE id = p_product_id;
  IF NOT FOUND THEN RAISE EXCEPTION 'no such product' USING ERRCODE = 'SH003'; END IF;
  INSERT INTO cart_items AS c (user_id, product_id, quantity, created_at) VALUES (p_user_id, p_product_id, p_quantity, p_created_at)
    ON CONFLICT (user_id, product_id) DO UPDATE SET quantity = CASE WHEN p_add THEN c.quantity + excluded.quantity ELSE excluded.quantity END
    RETURNING quantity INTO total;
  IF total > p_max_quantity THEN RAISE EXCEPTION 'line over the limit' USING ERRCODE = 'SH004', DETAIL = total::text; END IF;
  IF total > in_stock THEN RAISE EXCEPTION 'insufficient stock' USING ERRCODE = 'SH002', DETAIL = p_product_id::text; END IF;
  RETURN total;
END
$$;
