// npm run bench: the real service (compiled, default argon2, fresh data) and a raw
// node:http "hello" baseline, both pinned to CPU 0, driven by autocannon from this
// process on CPU 1. Prints requests/s, p50/p99 and the ratio to the baseline, and
// writes the same to bench/results/<date>.json. Figures are reports, not tests.
//
// `npm run bench -- --store postgres` runs the service's scenarios twice in one run, on
// SQLite and then on a throw-away PostgreSQL 15 cluster (bench/postgres.ts: default
// durability settings, pinned to CPU 1 beside the load generator, i.e. "another machine"),
// prints both side by side, and measures PostgreSQL's own ceiling with pgbench running
// the statements the service issues, with as many clients as the service's pool.
// `npm run bench -- --pool-sizes 2,4,8,10,16` measures checkout and /users/me on
// PostgreSQL for each DATABASE_POOL_SIZE.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process'
import fs from 'node:fs'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import pg from 'pg'
import autocannon, { type Options, type Request as LoadRequest, type Result } from 'autocannon'
import { serviceArgs } from './start-command.js'
import { pgbench, processTicks, startBenchCluster, ticksToMs, type BenchCluster } from './postgres.js'

const root = path.resolve(import.meta.dirname, '..')
const WARMUP_S = Number(process.env.BENCH_WARMUP ?? 2)
const DURATION_S = Number(process.env.BENCH_DURATION ?? 8)
const CONNECTIONS = 50
const USERS = 200
const PASSWORD = 'bench passphrase 123'
const twoCores = os.cpus().length >= 2
const argument = (name: string) => { const i = process.argv.indexOf(`--${name}`); return i === -1 ? undefined : process.argv[i + 1] }
const STORE = argument('store') ?? 'sqlite'
if (STORE !== 'sqlite' && STORE !== 'postgres') throw new Error('--store sqlite|postgres')
// --quick: /users/me, checkout and the service-client scenarios only (A/B runs while working).
const QUICK = process.argv.includes('--quick')
const POOL_SIZES = argument('pool-sizes')?.split(',').map(Number)
// PostgreSQL's CPU(s): 1, beside the load generator, by default; the service keeps CPU 0 to itself.
const PG_CPUS = process.env.BENCH_PG_CPUS ?? '1'
const POOL_SIZE = Number(process.env.DATABASE_POOL_SIZE ?? 10)
const pinned = (cpu: number, command: string, args: string[]) => (twoCores ? ['taskset', ['-c', String(cpu), command, ...args]] : [command, args]) as [string, string[]]
const children: ChildProcess[] = []
const cleanup = () => { for (const child of children) if (child.exitCode === null) child.kill('SIGKILL') }
process.on('exit', cleanup)
process.on('SIGINT', () => { cleanup(); process.exit(130) })

// The load generator takes the other core.
if (twoCores) execFileSync('taskset', ['-cp', '1', String(process.pid)], { stdio: 'ignore' })

async function freePort (): Promise<number> {
  const server = net.createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as net.AddressInfo
  await new Promise((resolve) => server.close(resolve))
  return port
}

/** Starts a server pinned to CPU 0 and resolves once `readyPath` answers 200. */
async function start (nodeArgs: readonly string[], env: Record<string, string>, readyPath = '/health/ready') {
  const port = await freePort()
  const url = `http://127.0.0.1:${port}`
  const startedAt = performance.now()
  const [command, args] = pinned(0, process.execPath, [...nodeArgs])
  const child = spawn(command, args, { cwd: root, env: { ...process.env, ...env, PORT: String(port) }, stdio: ['ignore', 'ignore', 'inherit'] })
  children.push(child)
  let exited = false
  child.once('exit', () => { exited = true })
  for (;;) {
    if (exited) throw new Error(`${nodeArgs.join(' ')} exited before it was ready`)
    const res = await fetch(`${url}${readyPath}`).catch(() => undefined)
    if (res?.status === 200) return { child, url, readyMs: Math.round(performance.now() - startedAt) }
    await new Promise((resolve) => setTimeout(resolve, 5))
  }
}

async function stop (child: ChildProcess) {
  if (child.exitCode !== null) return
  child.kill('SIGTERM')
  await new Promise((resolve) => child.once('exit', resolve))
}

const fire = (options: Options) => new Promise<Result>((resolve, reject) => {
  autocannon(options, (err, result) => (err ? reject(err) : resolve(result)))
})

interface Row { scenario: string, store?: string, serviceCpuUs?: number, pgCpuUs?: number, rps: number, p50: number, p99: number, non2xx: number, non2xxStatuses?: string, ratio?: number, errors: number, peakRssMb?: number }
const rows: Row[] = []
let baselineRps = NaN
// Set once the service runs: each scenario then records the service's peak RSS so far.
let servicePid: number | undefined
// Set while the service runs on PostgreSQL: each scenario then records the server's CPU per request.
let activeCluster: BenchCluster | undefined

async function measure (scenario: string, options: Options): Promise<Row> {
  await fire({ ...options, duration: WARMUP_S })
  // CPU time per request, of the service's process and of PostgreSQL's: what a request
  // costs, which contention on a shared machine changes less than requests/s.
  const serviceTicks = servicePid === undefined ? 0 : processTicks(servicePid, false)
  const pgMs = activeCluster?.cpuMs() ?? 0
  const result = await fire({ ...options, duration: DURATION_S })
  const requests = result.requests.total
  const row = {
    scenario,
    serviceCpuUs: servicePid === undefined ? undefined : Math.round(ticksToMs(processTicks(servicePid, false) - serviceTicks) * 1000 / requests),
    pgCpuUs: activeCluster === undefined ? undefined : Math.round((activeCluster.cpuMs() - pgMs) * 1000 / requests),
    rps: Math.round(result.requests.average),
    p50: result.latency.p50,
    p99: result.latency.p99,
    non2xx: result.non2xx,
    non2xxStatuses: non2xxStatuses(result),
    errors: result.errors + result.timeouts,
    ratio: Number.isNaN(baselineRps) ? undefined : +(result.requests.average / baselineRps).toFixed(2),
    peakRssMb: servicePid === undefined ? undefined : peakRssMb(servicePid)
  }
  rows.push(row)
  console.log(`  ${scenario}: ${row.rps} req/s, p50 ${row.p50} ms, p99 ${row.p99} ms, CPU per request: service ${row.serviceCpuUs ?? '-'} µs${row.pgCpuUs === undefined ? '' : `, PostgreSQL ${row.pgCpuUs} µs`}${row.non2xx ? `, ${row.non2xx} non-2xx (${row.non2xxStatuses})` : ''}${row.peakRssMb ? `, peak RSS so far ${row.peakRssMb} MB` : ''}`)
  return row
}

// "409×3, 503×2": which answers were not 2xx, so a non-zero count explains itself.
function non2xxStatuses (result: Result): string {
  return Object.entries(result.statusCodeStats as Record<string, { count: number }>)
    .filter(([status]) => !status.startsWith('2'))
    .map(([status, { count }]) => `${status}×${count}`)
    .join(', ')
}

async function json<T> (response: Response): Promise<T> {
  if (!response.ok) throw new Error(`${response.status} ${await response.text()}`)
  return await response.json() as T
}

function peakRssMb (pid: number): number {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8')
  return Math.round(Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? 0) / 1024)
}

console.log('building…')
execFileSync('npm', ['run', 'build', '--silent'], { cwd: root, stdio: 'inherit' })
const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'ecommerce-bench-'))
// Request logging off (warn): at 10k+ req/s the log, not the service, would be measured.
const env = {
  DATA_DIR: dataDir,
  LOG_LEVEL: 'warn',
  SMTP_URL: '',
  ADMIN_EMAIL: 'admin@bench.test',
  ADMIN_PASSWORD: PASSWORD,
  LOGIN_RATE_LIMIT: '100000000',
  LOGIN_MAX_FAILURES: '100000000'
}

interface Seeded { productIds: number[], tokens: string[], emails: string[], userIds: number[], adminToken: string }

/** Seeds through the service's own API: 25 products, USERS customers with a token and one cart line each. */
async function seed (api: string): Promise<Seeded> {
  console.log(`seeding ${USERS} users and a catalogue…`)
  const admin = await json<{ access_token: string }>(await fetch(`${api}/auth/token`, { method: 'POST', body: new URLSearchParams({ username: 'admin@bench.test', password: PASSWORD }) }))
  const adminHeaders = { authorization: `Bearer ${admin.access_token}`, 'content-type': 'application/json' }
  const productIds: number[] = []
  for (let i = 0; i < 25; i++) {
    const product = await json<{ id: number }>(await fetch(`${api}/products`, {
      method: 'POST', headers: adminHeaders, body: JSON.stringify({ name: `Bench product ${i}`, description: 'A product for load tests', price_cents: 999 + i, stock: 1_000_000 })
    }))
    productIds.push(product.id)
  }
  const emails = Array.from({ length: USERS }, (_, i) => `bench-${i}@bench.test`)
  const tokens: string[] = []
  for (let i = 0; i < USERS; i += 8) {
    await Promise.all(emails.slice(i, i + 8).map(async (email) => {
      await json(await fetch(`${api}/users`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ email, password: PASSWORD }) }))
      const pair = await json<{ access_token: string }>(await fetch(`${api}/auth/token`, { method: 'POST', body: new URLSearchParams({ username: email, password: PASSWORD }) }))
      tokens.push(pair.access_token)
    }))
  }
  // Every user has one line in the cart for GET /cart.
  await Promise.all(tokens.map((token, i) => fetch(`${api}/cart/items`, {
    method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify({ product_id: productIds[i % productIds.length], quantity: 1 })
  })))
  const userIds = tokens.map((token) => Number((JSON.parse(Buffer.from(token.split('.')[1] as string, 'base64url').toString()) as { sub: string }).sub))
  return { productIds, tokens, emails, userIds, adminToken: admin.access_token }
}

/** application/x-www-form-urlencoded, as RFC 6749 §2.3.1 wants the Basic header's id and secret. */
const formEncoded = (value: string) => new URLSearchParams({ v: value }).toString().slice(2)

/**
 * A service client (contract v2) made as the bench admin, with what its scenarios send:
 * the client_secret_basic header of the token request, and one client token to read with.
 */
async function serviceClient (api: string, adminToken: string, scopes: string[]) {
  const created = await json<{ client_id: string, client_secret: string }>(await fetch(`${api}/clients`, {
    method: 'POST', headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' }, body: JSON.stringify({ name: 'bench service', scopes })
  }))
  const basic = `Basic ${Buffer.from(`${formEncoded(created.client_id)}:${formEncoded(created.client_secret)}`).toString('base64')}`
  const tokenRequest = { method: 'POST' as const, path: '/auth/token', headers: { authorization: basic, 'content-type': 'application/x-www-form-urlencoded' }, body: 'grant_type=client_credentials' }
  const token = await json<{ access_token: string, scope: string }>(await fetch(`${api}${tokenRequest.path}`, tokenRequest))
  if (token.scope !== scopes.join(' ')) throw new Error(`client_credentials granted "${token.scope}", not "${scopes.join(' ')}"`)
  return { clientId: created.client_id, tokenRequest, accessToken: token.access_token }
}

function usersMe (api: string, tokens: string[], connections = CONNECTIONS): Options {
  let next = 0
  return { url: api, connections, requests: [{ method: 'GET', path: '/users/me', setupRequest: (request: LoadRequest): LoadRequest => ({ ...request, headers: { ...request.headers, authorization: `Bearer ${tokens[next++ % tokens.length] as string}` } }) }] }
}

// Checkout: each connection is one user, adding to the cart then checking out. Orders
// rotate over the 25 products, or (hot) all take the first: on PostgreSQL every order
// then waits for the previous one's commit to release that product's row lock, so the
// disk's flush latency bounds it (SQLite takes one write lock for everything either way).
function checkoutLoad (api: string, tokens: string[], productIds: number[], hot = false): Options {
  let connectionUser = 0
  let nextProduct = 0
  return {
    url: api,
    connections: CONNECTIONS,
    requests: [
      {
        method: 'POST',
        path: '/cart/items',
        setupRequest: (request: LoadRequest, context: { token?: string }): LoadRequest => {
          context.token ??= tokens[connectionUser++ % tokens.length]
          return { ...request, headers: { authorization: `Bearer ${String(context.token)}`, 'content-type': 'application/json' }, body: JSON.stringify({ product_id: hot ? productIds[0] : productIds[nextProduct++ % productIds.length], quantity: 1 }) }
        }
      },
      {
        method: 'POST',
        path: '/orders',
        setupRequest: (request: LoadRequest, context: { token?: string }): LoadRequest => ({
          ...request, headers: { authorization: `Bearer ${String(context.token)}`, 'content-type': 'application/json' }, body: JSON.stringify({ shipping_address: '1 Bench Road' })
        })
      }
    ]
  }
}

interface Pass { store: string, rows: Row[], seeded: Seeded, ordersPerSecond: number, mailsPerSecond: number, loginRps: number, stormP99: number, rssMb: number, readyMs: number }

/** Every scenario against the service on one store (env selects it), as npm start runs it. */
async function servicePass (store: string, storeEnv: Record<string, string>): Promise<Pass> {
  rows.length = 1
  const service = await start(serviceArgs, { ...env, ...storeEnv })
  servicePid = service.child.pid
  console.log(`${store}: service at ${service.url}; RSS when ready: ${peakRssMb(service.child.pid as number)} MB`)
  const api = service.url
  const seeded = await seed(api)
  const { tokens, emails, productIds } = seeded
  let next = 0
  const loginRequest = { method: 'POST' as const, path: '/auth/token', headers: { 'content-type': 'application/x-www-form-urlencoded' }, setupRequest: (request: LoadRequest): LoadRequest => ({ ...request, body: new URLSearchParams({ username: emails[next++ % emails.length] as string, password: PASSWORD }).toString() }) }
  const asNextUser = { setupRequest: (request: LoadRequest): LoadRequest => ({ ...request, headers: { ...request.headers, authorization: `Bearer ${tokens[next++ % tokens.length] as string}` } }) }

  console.log('scenarios')
  if (!QUICK) await measure('GET /health/live', { url: `${api}/health/live`, connections: CONNECTIONS })
  await measure('GET /users/me (200 users\' tokens)', usersMe(api, tokens))
  if (!QUICK) await measure('GET /products (20 items)', { url: api, connections: CONNECTIONS, requests: [{ method: 'GET', path: '/products?limit=20' }] })
  if (!QUICK) await measure('GET /cart', { url: api, connections: CONNECTIONS, requests: [{ method: 'GET', path: '/cart', ...asNextUser }] })
  const checkout = await measure('checkout: POST /cart/items + POST /orders (25 products)', checkoutLoad(api, tokens, productIds))
  const ordersPerSecond = Math.round(checkout.rps / 2)
  await measure('checkout, every order on one product', checkoutLoad(api, tokens, productIds, true))

  // Every order queued a confirmation e-mail, which the outbox worker sends in the
  // background on the same event loop. Waiting for that backlog keeps it out of the
  // login figures, and times the worker:
  // without SMTP_URL a "send" is a log call that LOG_LEVEL=warn drops, so this is the
  // outbox's own rate (claim, mark sent), not an SMTP server's.
  const outboxBacklog = async () => (await json<{ outbox_backlog: number }>(await fetch(`${api}/health/ready`))).outbox_backlog
  const mailsQueued = await outboxBacklog()
  const drainStarted = performance.now()
  const DRAIN_LIMIT_MS = 120_000
  while (await outboxBacklog() > 0 && performance.now() - drainStarted < DRAIN_LIMIT_MS) await new Promise((resolve) => setTimeout(resolve, 50))
  const drainSeconds = (performance.now() - drainStarted) / 1000
  const mailsLeft = await outboxBacklog()
  const mailsPerSecond = Math.round((mailsQueued - mailsLeft) / drainSeconds)
  console.log(`  outbox: ${mailsQueued} e-mails queued by the checkout, ${mailsQueued - mailsLeft} sent in ${drainSeconds.toFixed(1)} s (${mailsPerSecond}/s)${mailsLeft ? `, ${mailsLeft} still queued` : ''}`)

  const login = QUICK ? { rps: NaN } : await measure('POST /auth/token (login)', { url: api, connections: 8, requests: [loginRequest] })

  // Protected reads while a login storm runs.
  const [storm, reads] = QUICK
    ? [undefined, { requests: { average: NaN }, latency: { p50: NaN, p99: NaN }, non2xx: 0, errors: 0, timeouts: 0 }]
    : await Promise.all([
      fire({ url: api, connections: 32, duration: DURATION_S, requests: [loginRequest] }),
      fire(usersMe(api, tokens, 10))
    ])
  if (!QUICK) rows.push({ scenario: 'GET /users/me during a login storm', rps: Math.round(reads.requests.average), p50: reads.latency.p50, p99: reads.latency.p99, non2xx: reads.non2xx, errors: reads.errors + reads.timeouts, ratio: +(reads.requests.average / baselineRps).toFixed(2) })
  if (storm) console.log(`  storm: ${Math.round(storm.requests.average)} logins/s (${storm.non2xx} non-2xx${storm.non2xx ? ` ${non2xxStatuses(storm)}` : ''}: 503s would be the bounded queue); /users/me p99 ${reads.latency.p99} ms`)

  // The RSS goal's figure, as before the service-client scenarios below (their rows have their own).
  const rssMb = peakRssMb(service.child.pid as number)

  // Contract v2's service clients, after every older scenario so that those run as they did
  // before scopes existed (before/after comparisons). The token endpoint counts toward
  // LOGIN_RATE_LIMIT per address, which env sets out of reach, as for the logins.
  const client = await serviceClient(api, seeded.adminToken, ['orders:read', 'orders:write'])
  await measure('POST /auth/token (client_credentials)', { url: api, connections: 8, requests: [client.tokenRequest] })
  // A service asks for a token now and then, not eight at a time: the latency one caller sees.
  await measure('POST /auth/token (client_credentials, one caller)', { url: api, connections: 1, requests: [client.tokenRequest] })
  // orders:read: everyone's orders, the newest page (default limit), thousands placed by the checkouts.
  await measure('GET /orders (client token, orders:read)', { url: api, connections: CONNECTIONS, requests: [{ method: 'GET', path: '/orders', headers: { authorization: `Bearer ${client.accessToken}` } }] })
  // The same page with a person's token (the admin's, orders:read among its scopes): what the client's path costs over a user's.
  await measure('GET /orders (admin token, orders:read)', { url: api, connections: CONNECTIONS, requests: [{ method: 'GET', path: '/orders', headers: { authorization: `Bearer ${seeded.adminToken}` } }] })

  await stop(service.child)
  servicePid = undefined

  // Start to ready on the existing database.
  const restarted = await start(serviceArgs, { ...env, ...storeEnv })
  const { readyMs } = restarted
  await stop(restarted.child)
  return { store, rows: rows.map((row) => ({ ...row, store })), seeded, ordersPerSecond, mailsPerSecond, loginRps: login.rps, stormP99: reads.latency.p99, rssMb, readyMs }
}

// The service's statements, as it sends them, for pgbench: auth's user row, the cart
// write and the checkout (one order = the four statements of POST /cart/items and
// POST /orders), and before 6c77da3 the transactions they replaced.
const USER_ROW = 'SELECT id, email, full_name, role, disabled, token_generation, created_at FROM users WHERE id = :uid;'
const PGBENCH_SCRIPTS = {
  usersMe: `\\set uid random(:first_uid, :last_uid)\n${USER_ROW}\n`,
  checkout: `\\set uid :first_uid + :client_id
\\set pid random(:first_pid, :last_pid)
${USER_ROW}
SELECT shop_cart_write(:uid, :pid, 1, true, 1000, '2026-01-01T00:00:00.000Z');
${USER_ROW}
SELECT shop_checkout(:uid, 'USD', '1 Bench Road', NULL, 'bench@bench.test', '2026-01-01T00:00:00.000Z', 0);
`,
  checkoutBefore: `\\set uid :first_uid + :client_id
\\set pid random(:first_pid, :last_pid)
${USER_ROW}
BEGIN;
SELECT stock FROM products WHERE id = :pid;
INSERT INTO cart_items (user_id, product_id, quantity, created_at) VALUES (:uid, :pid, 1, '2026-01-01T00:00:00.000Z') ON CONFLICT (user_id, product_id) DO UPDATE SET quantity = cart_items.quantity + 1 RETURNING quantity;
COMMIT;
${USER_ROW}
BEGIN;
DELETE FROM cart_items WHERE user_id = :uid RETURNING product_id, quantity, created_at;
UPDATE products SET stock = stock - 1 WHERE id = :pid AND stock >= 1 RETURNING name, price_cents;
INSERT INTO orders (user_id, status, total_cents, currency, shipping_address, idempotency_key, created_at) VALUES (:uid, 'placed', 999, 'USD', '1 Bench Road', NULL, '2026-01-01T00:00:00.000Z') RETURNING id, user_id, status, total_cents, currency, shipping_address, created_at;
INSERT INTO order_items (order_id, product_id, name, price_cents, quantity) VALUES (currval('orders_id_seq'), :pid, 'Bench product 0', 999, 1);
INSERT INTO mail_outbox (recipient, subject, body, attempts, next_attempt_at, created_at) VALUES ('bench@bench.test', 'Order confirmed', 'Thank you for your order.', 0, 0, '2026-01-01T00:00:00.000Z');
COMMIT;
`
}

interface Ceiling { scenario: string, tps: number, latencyMs: number, failed: number, pgCpuUs: number }
/** PostgreSQL alone: pgbench from CPU 0 (where the service was), as many clients as the pool. */
function pgCeilings (cluster: BenchCluster, databaseUrl: string, seeded: Seeded, clients: number): Ceiling[] {
  const defines = { first_uid: Math.min(...seeded.userIds), last_uid: Math.max(...seeded.userIds), first_pid: Math.min(...seeded.productIds), last_pid: Math.max(...seeded.productIds) }
  const run = (scenario: string, script: string) => {
    const before = cluster.cpuMs()
    const result = pgbench(databaseUrl, script, { clients, seconds: DURATION_S, cpus: '0', defines })
    const pgCpuUs = Math.round((cluster.cpuMs() - before) * 1000 / result.transactions)
    console.log(`  pgbench ${scenario}: ${Math.round(result.tps)} tps, ${result.latencyMs} ms average, PostgreSQL CPU ${pgCpuUs} µs per transaction${result.failed ? `, ${result.failed} failed` : ''}`)
    return { scenario, tps: Math.round(result.tps), latencyMs: result.latencyMs, failed: result.failed, pgCpuUs }
  }
  return [
    run('user row by id (/users/me\'s query)', PGBENCH_SCRIPTS.usersMe),
    run('one order (25 products): user row, shop_cart_write, user row, shop_checkout', PGBENCH_SCRIPTS.checkout),
    run('one order (25 products), the statements before 6c77da3 (14 round trips)', PGBENCH_SCRIPTS.checkoutBefore),
    run('one order, all on one product', PGBENCH_SCRIPTS.checkout.replace(/^\\set pid .*$/m, `\\set pid ${Math.min(...seeded.productIds)}`))
  ]
}

// 1. The ceiling: raw node:http.
const baseline = await start(['bench/baseline-server.mjs'], {}, '/')
console.log('baseline')
baselineRps = (await measure('raw node:http hello (baseline)', { url: `${baseline.url}/`, connections: CONNECTIONS })).rps
baselineRps = rows[0]!.rps
rows[0]!.ratio = 1
await stop(baseline.child)

const machine = { cpus: os.cpus().length, cpu: os.cpus()[0]?.model ?? 'unknown', node: process.version, load: os.loadavg().map((v) => +v.toFixed(2)) }
fs.mkdirSync(path.join(root, 'bench/results'), { recursive: true })
const write = (prefix: string, results: Record<string, unknown>) => {
  const file = path.join(root, 'bench/results', `${prefix}${String(results.date).replace(/[:.]/g, '-')}.json`)
  fs.writeFileSync(file, JSON.stringify(results, null, 2))
  console.log(`\nwritten to ${path.relative(root, file)}`)
}

// 2b. --pool-sizes: checkout and /users/me on PostgreSQL for each pool size, one seeded database.
if (POOL_SIZES) {
  const cluster = await startBenchCluster(PG_CPUS)
  const databaseUrl = await cluster.createDatabase('bench_pool')
  const storeEnv = { DATABASE_URL: databaseUrl }
  activeCluster = cluster
  const seeding = await start(serviceArgs, { ...env, ...storeEnv })
  const seeded = await seed(seeding.url)
  await stop(seeding.child)
  const sizes: Array<{ poolSize: number, usersMeRps: number, usersMeP99: number, ordersPerSecond: number, checkoutP99: number, non2xx: string, pgCpuUsPerOrder?: number }> = []
  // The e-mails a size's checkout queued would be sent during the next size's
  // measurements (the worker starts with the service): marked sent in between.
  const admin = new pg.Client({ connectionString: databaseUrl })
  await admin.connect()
  for (const poolSize of POOL_SIZES) {
    await admin.query('UPDATE mail_outbox SET sent_at = 0 WHERE sent_at IS NULL')
    await admin.query('VACUUM ANALYZE')
    const service = await start(serviceArgs, { ...env, ...storeEnv, DATABASE_POOL_SIZE: String(poolSize) })
    servicePid = service.child.pid
    const me = await measure(`pool ${poolSize}: GET /users/me`, usersMe(service.url, seeded.tokens))
    const checkout = await measure(`pool ${poolSize}: checkout`, checkoutLoad(service.url, seeded.tokens, seeded.productIds))
    sizes.push({ poolSize, usersMeRps: me.rps, usersMeP99: me.p99, ordersPerSecond: Math.round(checkout.rps / 2), checkoutP99: checkout.p99, non2xx: [me.non2xxStatuses, checkout.non2xxStatuses].filter(Boolean).join('; '), pgCpuUsPerOrder: checkout.pgCpuUs === undefined ? undefined : checkout.pgCpuUs * 2 })
    await stop(service.child)
  }
  await admin.end()
  cluster.stop()
  fs.rmSync(dataDir, { recursive: true, force: true })
  console.log(`\n${new Date().toISOString()} · ${machine.cpus} × ${machine.cpu} · Node ${machine.node} · service on CPU 0, PostgreSQL (${cluster.settings}) on CPU ${PG_CPUS}, load on CPU 1 · load average before ${machine.load.join(' ')}\n`)
  console.log('| DATABASE_POOL_SIZE | GET /users/me req/s | p99 ms | checkout orders/s | p99 ms | PostgreSQL CPU µs/order | non-2xx |')
  console.log('|---:|---:|---:|---:|---:|---:|---|')
  for (const size of sizes) console.log(`| ${size.poolSize} | ${size.usersMeRps} | ${size.usersMeP99} | ${size.ordersPerSecond} | ${size.checkoutP99} | ${size.pgCpuUsPerOrder ?? ''} | ${size.non2xx} |`)
  write('pool-sizes-', { date: new Date().toISOString(), machine, postgres: cluster.settings, baselineRps, sizes })
  process.exit(0)
}

// 2. The service, seeded through its own API, on SQLite and (--store postgres) on PostgreSQL.
const passes: Pass[] = [await servicePass('SQLite', {})]
let ceilings: Ceiling[] = []
let cluster: BenchCluster | undefined
if (STORE === 'postgres') {
  cluster = await startBenchCluster(PG_CPUS)
  const databaseUrl = await cluster.createDatabase('bench')
  fs.rmSync(dataDir, { recursive: true, force: true })
  fs.mkdirSync(dataDir)
  activeCluster = cluster
  passes.push(await servicePass('PostgreSQL', { DATABASE_URL: databaseUrl, DATABASE_POOL_SIZE: String(POOL_SIZE) }))
  activeCluster = undefined
  console.log(`PostgreSQL alone: pgbench, ${POOL_SIZE} clients (the service's pool), from CPU 0`)
  ceilings = pgCeilings(cluster, databaseUrl, passes[1]!.seeded, POOL_SIZE)
  cluster.stop()
}

// The argon2 ceiling on the same core, same parameters and concurrency as the service's pool.
const verifiesPerSecond = QUICK ? NaN : Number(JSON.parse(execFileSync(...pinned(0, process.execPath, ['bench/argon2-ceiling.mjs', String(DURATION_S)]), { cwd: root, encoding: 'utf8' })).verifiesPerSecond)
fs.rmSync(dataDir, { recursive: true, force: true })

/** A client token's read of everyone's orders beside a person's cheapest read, both × baseline. */
function clientReadSummary (pass: Pass): string {
  const ratio = (prefix: string) => pass.rows.find((row) => row.scenario.startsWith(prefix))?.ratio ?? NaN
  const orders = ratio('GET /orders (client token')
  const me = ratio('GET /users/me (')
  const sameWork = ratio('GET /orders (admin token')
  return `${pass.store}: GET /orders (client token, orders:read) ${orders} × baseline vs GET /users/me ${me} × baseline: ${(orders / me).toFixed(2)} of /users/me's rate; ` +
    `vs the same page with an admin's token ${sameWork} × baseline: ${(orders / sameWork).toFixed(2)} of its rate`
}

const goalsOf = (pass: Pass) => {
  const find = (prefix: string) => pass.rows.find((row) => row.scenario.startsWith(prefix)) ?? { ratio: NaN, p50: NaN }
  return [
    ['GET /users/me ≥ 0.55 × baseline', find('GET /users/me (').ratio ?? 0, (v: number) => v >= 0.55],
    ['GET /products ≥ 0.4 × baseline', find('GET /products').ratio ?? 0, (v: number) => v >= 0.4],
    ['POST /auth/token (client_credentials) p50 ≤ 2 ms, 8 connections', find('POST /auth/token (client_credentials)').p50 ?? NaN, (v: number) => v <= 2],
    ['POST /auth/token (client_credentials) p50 ≤ 2 ms, one caller', find('POST /auth/token (client_credentials, one caller)').p50 ?? NaN, (v: number) => v <= 2],
    ['checkout ≥ 1,500 orders/s', pass.ordersPerSecond, (v: number) => v >= 1500],
    ['login ≥ 0.9 × argon2 ceiling', +(pass.loginRps / verifiesPerSecond).toFixed(2), (v: number) => v >= 0.9],
    ['/users/me p99 < 25 ms in a login storm', pass.stormP99, (v: number) => v < 25],
    ['peak RSS ≤ 150 MB', pass.rssMb, (v: number) => v <= 150],
    ['ready ≤ 1 s on an existing database (ms)', pass.readyMs, (v: number) => v <= 1000]
  ] as const
}

console.log(`\n${new Date().toISOString()} · ${machine.cpus} × ${machine.cpu} · Node ${machine.node} · server on CPU 0, load on CPU 1${cluster ? `, PostgreSQL 15 on CPU ${PG_CPUS} (${cluster.settings}, pool ${POOL_SIZE})` : ''} · load average before ${machine.load.join(' ')}\n`)
const [sqlite, postgres] = passes as [Pass, Pass | undefined]
if (!postgres) {
  console.log('| scenario | req/s | p50 ms | p99 ms | non-2xx | × baseline |')
  console.log('|---|---:|---:|---:|---:|---:|')
  for (const row of [rows[0]!, ...sqlite.rows.slice(1)]) console.log(`| ${row.scenario} | ${row.rps} | ${row.p50} | ${row.p99} | ${row.non2xx} | ${row.ratio ?? ''} |`)
} else {
  console.log('| scenario | SQLite req/s | p50 / p99 ms | PostgreSQL req/s | p50 / p99 ms | non-2xx SQLite / PG | PG ÷ SQLite | service CPU µs/req SQLite / PG | PostgreSQL CPU µs/req |')
  console.log('|---|---:|---:|---:|---:|---:|---:|---:|---:|')
  console.log(`| ${rows[0]!.scenario} | ${rows[0]!.rps} | ${rows[0]!.p50} / ${rows[0]!.p99} | | | | | | |`)
  for (const row of sqlite.rows.slice(1)) {
    const pg = postgres.rows.find((other) => other.scenario === row.scenario)
    if (!pg) continue
    console.log(`| ${row.scenario} | ${row.rps} | ${row.p50} / ${row.p99} | ${pg.rps} | ${pg.p50} / ${pg.p99} | ${row.non2xx} / ${pg.non2xx} | ${(pg.rps / row.rps).toFixed(2)} | ${row.serviceCpuUs ?? ''} / ${pg.serviceCpuUs ?? ''} | ${pg.pgCpuUs ?? ''} |`)
  }
  console.log(`\n| PostgreSQL alone (pgbench -M prepared, ${POOL_SIZE} clients, same statements) | transactions/s | avg latency ms | PostgreSQL CPU µs/transaction | failed |`)
  console.log('|---|---:|---:|---:|---:|')
  for (const ceiling of ceilings) console.log(`| ${ceiling.scenario} | ${ceiling.tps} | ${ceiling.latencyMs} | ${ceiling.pgCpuUs} | ${ceiling.failed} |`)
}
for (const pass of passes) {
  console.log(`\n${pass.store}: orders/s ${pass.ordersPerSecond} · outbox e-mails/s ${pass.mailsPerSecond} · logins/s ${pass.loginRps} vs argon2 verifies/s ${verifiesPerSecond} · peak RSS ${pass.rssMb} MB · ready in ${pass.readyMs} ms`)
  for (const [goal, value, ok] of goalsOf(pass)) console.log(`${ok(value) ? 'PASS' : 'MISS'}  ${goal}: ${value}`)
  console.log(clientReadSummary(pass))
}
if (postgres) {
  const me = (pass: Pass) => pass.rows.find((row) => row.scenario.startsWith('GET /users/me ('))!.rps
  const checkoutCeiling = ceilings[1]!.tps
  const pgGoals = [
    ['PostgreSQL checkout ≥ 1,500 orders/s', postgres.ordersPerSecond, (v: number) => v >= 1500],
    ['PostgreSQL GET /users/me ≥ 0.8 × SQLite', +(me(postgres) / me(sqlite)).toFixed(2), (v: number) => v >= 0.8]
  ] as const
  console.log(`\nPostgreSQL ÷ its own ceiling (pgbench): checkout ${(postgres.ordersPerSecond / checkoutCeiling).toFixed(2)} (${postgres.ordersPerSecond} of ${checkoutCeiling}), /users/me ${(me(postgres) / ceilings[0]!.tps).toFixed(2)} (${me(postgres)} of ${ceilings[0]!.tps})`)
  for (const [goal, value, ok] of pgGoals) console.log(`${ok(value) ? 'PASS' : 'MISS'}  ${goal}: ${value}`)
}

const results = {
  date: new Date().toISOString(),
  machine,
  settings: { warmupSeconds: WARMUP_S, durationSeconds: DURATION_S, connections: CONNECTIONS, users: USERS, postgres: cluster?.settings, postgresCpus: cluster ? PG_CPUS : undefined, poolSize: cluster ? POOL_SIZE : undefined },
  baseline: rows[0],
  passes: passes.map((pass) => ({ ...pass, seeded: undefined, goals: goalsOf(pass).map(([goal, value, ok]) => ({ goal, value, met: ok(value) })) })),
  pgbench: ceilings,
  argon2VerifiesPerSecond: verifiesPerSecond
}
write('', results)
process.exit(0)
