import { once } from 'node:events'
import t from 'tap'
import { SMTPServer } from 'smtp-server'
import { openDatabase, schema } from '../src/db/index.js'
import { tempDir, testEnv, DEFAULT_PASSWORD } from './helper.js'
import { startServer } from './server-process.js'

const INITIAL_STOCK = 100_000
const USERS = 12

/** A real SMTP server that keeps what it receives. */
async function startSink (port = 0) {
  const messages: string[] = []
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS'],
    logger: false,
    onData (stream, _session, callback) {
      let data = ''
      stream.on('data', (chunk: Buffer) => { data += chunk.toString() })
      stream.on('end', () => { messages.push(data); callback() })
    }
  })
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve))
  const address = server.server.address()
  const boundPort = typeof address === 'object' && address ? address.port : port
  return { messages, port: boundPort, close: () => new Promise<void>((resolve) => server.close(() => resolve())) }
}

async function json<T> (response: Response): Promise<T> {
  return await response.json() as T
}

t.test('SIGKILL during concurrent checkouts loses no acknowledged order, stock or e-mail', { timeout: 120_000 }, async (t) => {
  const dataDir = tempDir(t)
  // Reserve a port for the mail server, then leave it closed: mail queues up while the service runs.
  const reserved = await startSink()
  const smtpPort = reserved.port
  await reserved.close()

  const seed = openDatabase(dataDir)
  const product = seed.db.insert(schema.products)
    .values({ name: 'Crash-test mug', priceCents: 1250, stock: INITIAL_STOCK }).returning().get()
  seed.close()

  const env = testEnv(dataDir, { PORT: '0', LOG_LEVEL: 'info', SMTP_URL: `smtp://127.0.0.1:${smtpPort}`, LOGIN_RATE_LIMIT: '100000' })
  const first = await startServer(env)
  t.teardown(() => { if (first.child.exitCode === null) first.child.kill('SIGKILL') })

  const users = await Promise.all(Array.from({ length: USERS }, async (_, i) => {
    const email = `crash-${i}@example.test`
    await fetch(`${first.url}/users`, {
      method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ email, password: DEFAULT_PASSWORD })
    })
    const token = await json<{ access_token: string }>(await fetch(`${first.url}/auth/token`, {
      method: 'POST', body: new URLSearchParams({ username: email, password: DEFAULT_PASSWORD })
    }))
    return { email, headers: { authorization: `Bearer ${token.access_token}`, 'content-type': 'application/json' } }
  }))

  // Every user loops add-to-cart + checkout until the server dies; 201s are acknowledged orders.
  const acknowledged: Array<{ id: number, quantity: number, headers: Record<string, string> }> = []
  let killed = false
  const shoppers = users.map(async (user, i) => {
    const quantity = (i % 3) + 1
    while (!killed) {
      try {
        const add = await fetch(`${first.url}/cart/items`, {
          method: 'POST', headers: user.headers, body: JSON.stringify({ product_id: product.id, quantity })
        })
        if (add.status !== 200) throw new Error(`add to cart: ${add.status} ${await add.text()}`)
        const order = await fetch(`${first.url}/orders`, {
          method: 'POST', headers: user.headers, body: JSON.stringify({ shipping_address: `${i} Crash Lane` })
        })
        if (order.status === 201) acknowledged.push({ id: (await json<{ id: number }>(order)).id, quantity, headers: user.headers })
      } catch (err) {
        if (!killed) throw err
      }
    }
  })

  // Let the load run, then pull the plug mid-flight (a shopper's failure ends the wait too).
  let failure: unknown
  const failed = Promise.all(shoppers).catch((err: unknown) => { failure = err })
  while (acknowledged.length < 40 && failure === undefined) await Promise.race([failed, new Promise((resolve) => setTimeout(resolve, 20))])
  t.equal(failure, undefined, 'every checkout before the kill answered as expected')
  killed = true
  first.child.kill('SIGKILL')
  await once(first.child, 'exit')
  await failed
  t.ok(acknowledged.length >= 40, `${acknowledged.length} orders acknowledged before the kill`)

  // Back up on the same data directory, with the mail server there this time.
  const sink = await startSink(smtpPort)
  t.teardown(() => sink.close())
  const second = await startServer(env)
  t.teardown(() => { if (second.child.exitCode === null) second.child.kill('SIGKILL') })

  for (const order of acknowledged) {
    const res = await fetch(`${second.url}/orders/${order.id}`, { headers: order.headers })
    t.equal(res.status, 200, `acknowledged order ${order.id} survived`)
    const body = await json<{ items: Array<{ product_id: number, quantity: number }> }>(res)
    t.same(body.items.map((line) => [line.product_id, line.quantity]), [[product.id, order.quantity]], `order ${order.id} has its line`)
  }

  // Stock equals the initial stock minus everything ordered (orders that committed
  // just before the kill count too, acknowledged or not).
  const check = openDatabase(dataDir)
  const ordered = check.sqlite.prepare('SELECT coalesce(sum(quantity), 0) FROM order_items WHERE product_id = ?').pluck().get(product.id) as number
  const stock = check.sqlite.prepare('SELECT stock FROM products WHERE id = ?').pluck().get(product.id) as number
  const orderCount = check.sqlite.prepare('SELECT count(*) FROM orders').pluck().get() as number
  check.close()
  t.equal(stock, INITIAL_STOCK - ordered, `stock ${stock} = ${INITIAL_STOCK} - ${ordered} ordered`)
  t.ok(orderCount >= acknowledged.length)

  // Every order's confirmation, queued before the crash, still goes out.
  const deadline = Date.now() + 60_000
  while (sink.messages.length < orderCount && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 200))
  t.equal(sink.messages.length, orderCount, 'one confirmation e-mail per order arrived after the restart')
  for (const order of acknowledged) {
    t.ok(sink.messages.some((message) => message.includes(`#${order.id}`)), `the e-mail for order ${order.id} arrived`)
  }
})
