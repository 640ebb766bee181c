// npx tsx bench/pg-statements.ts: PostgreSQL's CPU per statement of the checkout path,
// each statement alone under pgbench (-M prepared, 10 clients, on CPU 0; the server on
// CPU 1, default durability). Shows where a checkout's server time goes; CPU time per
// transaction rather than transactions/s, because this machine's cores are shared.
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import pg from 'pg'
import { openStore } from '../src/db/index.js'
import { pgbench, startBenchCluster } from './postgres.js'

const SECONDS = Number(process.env.BENCH_DURATION ?? 5)
const CLIENTS = Number(process.env.DATABASE_POOL_SIZE ?? 10)
const cluster = await startBenchCluster(process.env.BENCH_PG_CPUS ?? '1')
const url = await cluster.createDatabase('statements')
const store = await openStore({ dataDir: fs.mkdtempSync(path.join(os.tmpdir(), 'pg-statements-')), databaseUrl: url })
await store.close()
const client = new pg.Client({ connectionString: url })
await client.connect()
await client.query('INSERT INTO users (email, password_hash, created_at) SELECT \'u\' || i || \'@bench.test\', \'x\', \'2026-01-01\' FROM generate_series(1, 200) i')
await client.query('INSERT INTO products (name, price_cents, stock, created_at) SELECT \'Bench product \' || i, 999 + i, 100000000, \'2026-01-01\' FROM generate_series(1, 25) i')
await client.end()

const USER_ROW = 'SELECT id, email, full_name, role, disabled, token_generation, created_at FROM users WHERE id = :uid;'
const head = '\\set uid 1 + :client_id\n\\set pid random(1, 25)\n'
const scripts: Array<[string, string]> = [
  ['SELECT 1 (a round trip, parse, commit of nothing)', 'SELECT 1;'],
  ['user row by id', `${head}${USER_ROW}`],
  ['user rows by id = ANY (10 ids)', `${head}SELECT id, email, full_name, role, disabled, token_generation, created_at FROM users WHERE id = ANY('{1,2,3,4,5,6,7,8,9,10}'::bigint[]);`],
  ['shop_cart_write then DELETE the line (2 commits)', `${head}SELECT shop_cart_write(:uid, :pid, 1, true, 1000, '2026-01-01T00:00:00.000Z');\nDELETE FROM cart_items WHERE user_id = :uid;`],
  ['shop_cart_write + shop_checkout (2 commits)', `${head}SELECT shop_cart_write(:uid, :pid, 1, true, 1000, '2026-01-01T00:00:00.000Z');\nSELECT shop_checkout(:uid, 'USD', '1 Bench Road', NULL, 'bench@bench.test', '2026-01-01T00:00:00.000Z', 0);`],
  ['the same in one transaction (1 commit)', `${head}BEGIN;\nSELECT shop_cart_write(:uid, :pid, 1, true, 1000, '2026-01-01T00:00:00.000Z');\nSELECT shop_checkout(:uid, 'USD', '1 Bench Road', NULL, 'bench@bench.test', '2026-01-01T00:00:00.000Z', 0);\nCOMMIT;`],
  ['UPDATE products stock − 1 (1 commit)', `${head}UPDATE products SET stock = stock - 1 WHERE id = :pid AND stock >= 1;`],
  ['INSERT order (1 commit)', `${head}INSERT INTO orders (user_id, status, total_cents, currency, shipping_address, created_at) VALUES (:uid, 'placed', 999, 'USD', '1 Bench Road', '2026-01-01');`],
  ['INSERT outbox row (1 commit)', `${head}INSERT INTO mail_outbox (recipient, subject, body, next_attempt_at, created_at) VALUES ('b@bench.test', 's', 'body', 0, '2026-01-01');`],
  ['INSERT order_items row for order 1 (1 commit)', `${head}INSERT INTO order_items (order_id, product_id, name, price_cents, quantity) VALUES (1, :pid, 'x', 999, 1);`],
  ['INSERT order + line + outbox row, plain statements in one transaction', `${head}BEGIN;\nINSERT INTO orders (user_id, status, total_cents, currency, shipping_address, created_at) VALUES (:uid, 'placed', 999, 'USD', '1 Bench Road', '2026-01-01');\nINSERT INTO order_items (order_id, product_id, name, price_cents, quantity) VALUES (currval('orders_id_seq'), :pid, 'x', 999, 1);\nINSERT INTO mail_outbox (recipient, subject, body, next_attempt_at, created_at) VALUES ('b@bench.test', 's', 'body', 0, '2026-01-01');\nCOMMIT;`]
]
console.log(`| statement(s), pgbench -M prepared, ${CLIENTS} clients, ${SECONDS} s | transactions/s | PostgreSQL CPU µs/transaction |`)
console.log('|---|---:|---:|')
for (const [name, script] of scripts) {
  const before = cluster.cpuMs()
  const result = pgbench(url, `${script}\n`, { clients: CLIENTS, seconds: SECONDS, cpus: '0' })
  console.log(`| ${name} | ${Math.round(result.tps)} | ${Math.round((cluster.cpuMs() - before) * 1000 / result.transactions)} |`)
}
cluster.stop()
process.exit(0)
