import { setTimeout as sleep } from 'node:timers/promises'
import pg from 'pg'
import t from 'tap'
import { DEFAULT_PASSWORD, tempDir, testEnv } from '../helper.js'
import { NOT_FOUND, startCluster, unavailable } from '../postgres.js'
import { startServer } from '../server-process.js'

// A routine PostgreSQL restart (a failover, a minor upgrade) while shoppers check out:
// the service must live through it, answer 503 DATABASE_UNAVAILABLE in the API's error
// shape while the database is gone, and come back by itself — with every acknowledged
// order stored and the stock adding up.

const SHOPPERS = 10
const INITIAL_STOCK = 100_000
const ADMIN = { email: 'admin@restart.example', password: 'an admin password of some length' }

interface Outcome { status: number, code?: string, retryAfter: string | null, phase: Phase }
type Phase = 'before' | 'down' | 'after'

t.test('PostgreSQL stopped and started under concurrent checkouts', { timeout: 120_000 }, async (t) => {
  let cluster
  try {
    cluster = await startCluster()
  } catch {
    return unavailable(t, 'PostgreSQL', NOT_FOUND)
  }
  const admin = new pg.Client({ connectionString: cluster.adminUrl })
  await admin.connect()
  await admin.query('CREATE DATABASE shop')
  await admin.end()
  const databaseUrl = cluster.adminUrl.replace(/\/postgres$/, '/shop')

  const server = await startServer(testEnv(tempDir(t), {
    PORT: '0', LOG_LEVEL: 'info', DATABASE_URL: databaseUrl, ADMIN_EMAIL: ADMIN.email, ADMIN_PASSWORD: ADMIN.password
  }))
  t.teardown(() => { if (server.child.exitCode === null) server.child.kill('SIGKILL') })
  let exitCode: number | null = null
  server.child.once('exit', (code) => { exitCode = code })

  const post = (path: string, body: unknown, token?: string, headers: Record<string, string> = {}) => fetch(`${server.url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}), ...headers },
    body: JSON.stringify(body)
  })
  const login = async (email: string, password: string) => {
    const res = await fetch(`${server.url}/auth/token`, { method: 'POST', body: new URLSearchParams({ username: email, password }) })
    return (await res.json() as { access_token: string }).access_token
  }

  const adminToken = await login(ADMIN.email, ADMIN.password)
  const product = await (await post('/products', { name: 'Restart mug', price_cents: 900, stock: INITIAL_STOCK }, adminToken)).json() as { id: number }
  const tokens = await Promise.all(Array.from({ length: SHOPPERS }, async (_, i) => {
    const email = `shopper-${i}@restart.example`
    await post('/users', { email, password: DEFAULT_PASSWORD })
    return login(email, DEFAULT_PASSWORD)
  }))

  let phase: Phase = 'before'
  let stopping = false
  const outcomes: Outcome[] = []
  const acknowledged: Array<{ id: number, token: string }> = []
  const record = async (res: Response): Promise<unknown> => {
    const body = await res.json() as { code?: string }
    outcomes.push({ status: res.status, code: body.code, retryAfter: res.headers.get('retry-after'), phase })
    return body
  }
  const shoppers = tokens.map(async (token, i) => {
    for (let n = 0; !stopping; n++) {
      try {
        const add = await post('/cart/items', { product_id: product.id, quantity: 1 }, token)
        await record(add)
        if (add.status !== 200) { await sleep(20); continue }
        const order = await post('/orders', { shipping_address: `${i} Failover Road` }, token, { 'idempotency-key': `shopper-${i}-${n}` })
        const body = await record(order) as { id: number }
        if (order.status === 201) acknowledged.push({ id: body.id, token })
        else await sleep(20)
      } catch (error) {
        // A reset connection is not an answer: count it, so the test fails on it.
        outcomes.push({ status: 0, code: String(error), retryAfter: null, phase })
        await sleep(20)
      }
    }
  })

  await sleep(1500)
  phase = 'down'
  cluster.stop()
  const downSince = Date.now()
  let readyWhileDown = 0
  while (Date.now() - downSince < 4000) {
    readyWhileDown = (await fetch(`${server.url}/health/ready`)).status
    await sleep(200)
  }
  t.equal(exitCode, null, 'the process is alive while PostgreSQL is down')
  t.equal(readyWhileDown, 503, '/health/ready says 503 while PostgreSQL is down')

  cluster.start()
  const upSince = Date.now()
  phase = 'after'
  let ready = 0
  while (ready !== 200 && Date.now() - upSince < 15_000) {
    ready = (await fetch(`${server.url}/health/ready`)).status
    if (ready !== 200) await sleep(50)
  }
  t.equal(ready, 200, `/health/ready is 200 again ${Date.now() - upSince} ms after PostgreSQL is back, without a restart`)
  const ackedBefore = acknowledged.length
  const recovered = Date.now()
  while (acknowledged.length < ackedBefore + SHOPPERS && Date.now() - recovered < 10_000) await sleep(50)
  stopping = true
  await Promise.all(shoppers)
  t.equal(exitCode, null, 'the process never exited')
  t.ok(acknowledged.length >= ackedBefore + SHOPPERS, `checkouts succeed again after the restart (${acknowledged.length - ackedBefore} more)`)

  const down = outcomes.filter((outcome) => outcome.phase === 'down')
  const failures = outcomes.filter((outcome) => outcome.status >= 500 || outcome.status === 0)
  t.ok(down.some((outcome) => outcome.status === 503), `503s while PostgreSQL was down (${down.length} answers then)`)
  t.same(failures.filter((outcome) => outcome.status !== 503 || outcome.code !== 'DATABASE_UNAVAILABLE' || outcome.retryAfter === null), [],
    'every failure is 503 DATABASE_UNAVAILABLE with Retry-After: no 500, no reset connection')
  t.same(outcomes.filter((outcome) => outcome.status >= 400 && outcome.status < 500), [], 'no 4xx: the outage is never blamed on the client')
  t.ok(outcomes.filter((outcome) => outcome.phase === 'before' && outcome.status === 201).length > 0, 'checkouts ran before the outage')

  // Straight from the database: every acknowledged order, and stock = initial − ordered.
  const check = new pg.Client({ connectionString: databaseUrl })
  await check.connect()
  t.teardown(() => check.end())
  const ids = new Set((await check.query<{ id: string }>('SELECT id FROM orders')).rows.map((row) => Number(row.id)))
  t.same(acknowledged.filter((order) => !ids.has(order.id)), [], `all ${acknowledged.length} acknowledged orders are stored`)
  const ordered = Number((await check.query('SELECT coalesce(sum(quantity), 0) AS n FROM order_items WHERE product_id = $1', [product.id])).rows[0].n)
  const stock = Number((await check.query('SELECT stock FROM products WHERE id = $1', [product.id])).rows[0].stock)
  t.equal(stock, INITIAL_STOCK - ordered, `stock ${stock} = ${INITIAL_STOCK} − ${ordered} ordered`)
  const outbox = Number((await check.query('SELECT count(*) AS n FROM mail_outbox WHERE subject LIKE \'Order #%\'')).rows[0].n)
  t.equal(outbox, ids.size, 'one confirmation e-mail queued per stored order')
  t.notMatch(server.output(), /second error|Connection terminated unexpectedly\n\s+at/, 'no error reached nobody')
})
