import t from 'tap'
import { startServer } from '../server-process.js'
import { build, createUser, tempDir, testEnv, type TestUser, sqliteOf } from '../helper.js'
import { countRows, errorBody, insertProduct, snapshot, stockOf, SHIPPING, type OrderBody } from '../commerce-fixtures.js'

// In one process every handler runs to completion before the next starts, so
// app.inject alone cannot show a race between two database connections. Here
// four processes (this one and three servers) share one SQLite file, the way
// several instances would, and the same requests are spread across them.

const CHILDREN = 3

interface Answer { status: number, body: string }

t.test('four processes on one database: no oversell, one order per key, one cancel, no lost cart update', { timeout: 120_000 }, async (t) => {
  const dataDir = tempDir(t)
  // This app creates the schema and the signing key first; the servers then share both.
  const app = await build(t, {}, dataDir)
  const local = await app.listen({ host: '127.0.0.1', port: 0 })
  const children = await Promise.all(Array.from({ length: CHILDREN }, () => startServer(testEnv(dataDir, { PORT: '0', LOG_LEVEL: 'info' }))))
  t.teardown(async () => {
    await Promise.all(children.map(({ child }) => new Promise<void>((resolve) => {
      if (child.exitCode !== null) return resolve()
      child.once('exit', () => resolve())
      child.kill('SIGTERM')
    })))
  })
  const urls = [local, ...children.map(({ url }) => url)]

  let next = 0
  /** Each call goes to the next process in turn. */
  async function call (user: TestUser, method: string, url: string, body?: unknown, headers: Record<string, string> = {}): Promise<Answer> {
    const base = urls[next++ % urls.length]
    const res = await fetch(`${base}${url}`, {
      method,
      headers: { authorization: `Bearer ${user.accessToken}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
      ...(body === undefined ? {} : { body: JSON.stringify(body) })
    })
    return { status: res.status, body: await res.text() }
  }
  const statuses = (answers: Answer[]) => answers.map((answer) => answer.status).sort((a, b) => a - b)
  const count = (answers: Answer[], status: number) => answers.filter((answer) => answer.status === status).length

  t.test('60 checkouts for a stock of 10, spread over four processes', async (t) => {
    const mug = await insertProduct(app, { name: 'Mug', priceCents: 1250, stock: 10 })
    const users = await Promise.all(Array.from({ length: 60 }, () => createUser(app)))
    const added = await Promise.all(users.map((user) => call(user, 'POST', '/cart/items', { product_id: mug.id, quantity: 1 })))
    t.same(statuses(added), Array(60).fill(200), 'every line added')

    const answers = await Promise.all(users.map((user) => call(user, 'POST', '/orders', SHIPPING)))
    t.equal(count(answers, 201), 10, 'exactly 10 orders')
    t.equal(count(answers, 409), 50, 'and 50 refusals, nothing else (no 500 from a busy database)')
    const refusal = JSON.stringify(errorBody(409, 'INSUFFICIENT_STOCK', `Not enough stock for product ${mug.id}`))
    t.ok(answers.filter((answer) => answer.status === 409).every((answer) => answer.body === refusal), 'every refusal is INSUFFICIENT_STOCK')
    const orders = answers.filter((answer) => answer.status === 201).map((answer) => JSON.parse(answer.body) as OrderBody)
    t.equal(new Set(orders.map((order) => order.user_id)).size, 10, 'ten different owners')

    t.equal(await stockOf(app, mug.id), 0)
    t.equal(await countRows(app, 'orders'), 10)
    t.equal(await countRows(app, 'order_items'), 10)
    t.equal(await countRows(app, 'mail_outbox'), 10)
    t.equal(await countRows(app, 'cart_items'), 50, 'the losers keep their carts')
  })

  t.test('12 repeats of one Idempotency-Key across processes make one order', async (t) => {
    const user = await createUser(app)
    const tea = await insertProduct(app, { name: 'Tea', priceCents: 399, stock: 100 })
    t.equal((await call(user, 'PUT', `/cart/items/${tea.id}`, { quantity: 2 })).status, 200)
    const headers = { 'idempotency-key': 'multi-process-1' }
    const ordersBefore = await countRows(app, 'orders')

    const answers = await Promise.all(Array.from({ length: 12 }, () => call(user, 'POST', '/orders', SHIPPING, headers)))
    t.equal(count(answers, 201), 1, 'one 201')
    const created = answers.find((answer) => answer.status === 201)
    const replays = answers.filter((a) => a !== created)
    t.same(replays.map((answer) => [answer.status, answer.body]), replays.map(() => [200, created?.body]), 'every repeat is a 200 with the same order, byte for byte')
    t.equal(await countRows(app, 'orders'), ordersBefore + 1, 'exactly one order row')
    t.equal(sqliteOf(app).prepare('SELECT count(*) FROM orders WHERE user_id = ? AND idempotency_key = ?').pluck().get(user.id, headers['idempotency-key']), 1)
    t.equal(await stockOf(app, tea.id), 98, 'stock taken once')
  })

  t.test('8 concurrent cancels across processes give the stock back once', async (t) => {
    const user = await createUser(app)
    const kettle = await insertProduct(app, { stock: 10 })
    t.equal((await call(user, 'POST', '/cart/items', { product_id: kettle.id, quantity: 3 })).status, 200)
    const placed = await call(user, 'POST', '/orders', SHIPPING)
    t.equal(placed.status, 201)
    const order = JSON.parse(placed.body) as OrderBody
    t.equal(await stockOf(app, kettle.id), 7)

    const answers = await Promise.all(Array.from({ length: 8 }, () => call(user, 'POST', `/orders/${order.id}/cancel`)))
    t.same(statuses(answers), [200, 409, 409, 409, 409, 409, 409, 409])
    t.same(JSON.parse(answers.find((answer) => answer.status === 200)?.body ?? 'null'), { ...order, status: 'cancelled' })
    t.equal(await stockOf(app, kettle.id), 10, 'returned exactly once')
  })

  t.test('20 concurrent adds to one line across processes: no lost update, never past stock', async (t) => {
    const user = await createUser(app)
    const spoon = await insertProduct(app, { stock: 5 })
    const answers = await Promise.all(Array.from({ length: 20 }, () => call(user, 'POST', '/cart/items', { product_id: spoon.id, quantity: 1 })))
    t.same(statuses(answers), [...Array(5).fill(200), ...Array(15).fill(409)])
    const line = (await snapshot(app)).cartItems.filter((row) => (row as { user_id: number }).user_id === user.id)
    t.same(line.map((row) => (row as { quantity: number }).quantity), [5])
  })
})
