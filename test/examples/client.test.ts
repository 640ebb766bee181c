import { execFile } from 'node:child_process'
import path from 'node:path'
import { promisify } from 'node:util'
import t from 'tap'
import { clientOptionsFrom, runClient } from '../../examples/client.js'
import { build, createUser, sqliteOf } from '../helper.js'
import { countRows, insertProduct } from '../commerce-fixtures.js'

const root = path.resolve(import.meta.dirname, '../..')
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

t.test('the typed example client logs in, refreshes on 401 and places an order against a live server', async (t) => {
  // Two seconds: whole-second JWT times leave a fresh token at least one second to live.
  const app = await build(t, { ACCESS_TOKEN_TTL: '2' })
  const user = await createUser(app)
  const product = await insertProduct(app, { name: 'Example mug', priceCents: 1500, stock: 5 })
  const baseUrl = await app.listen({ host: '127.0.0.1', port: 0 })
  const lines: string[] = []
  const client = await runClient({ baseUrl, email: user.email, password: user.password, productId: product.id, log: (line) => lines.push(line) })
  t.equal(client.me.id, user.id)
  t.equal(client.session.refreshes, 0)

  // Outlive the access token, so the next call must refresh.
  await sleep(3100)
  const order = await client.order()
  t.ok(client.session.refreshes >= 1, 'the client refreshed its token after a 401')
  t.match(order, { user_id: user.id, status: 'placed', total_cents: 1500, currency: 'USD', items: [{ product_id: product.id, quantity: 1, name: 'Example mug', price_cents: 1500 }] })
  t.same(lines.slice(0, 2), ['logged in', `hello ${user.email}`])
  t.ok(lines.includes('access token refreshed'))
  t.equal(lines.at(-1), `order #${order.id} placed: 1500 USD`)
  t.equal(await countRows(app, 'orders'), 1, 'one order, not two')

  // Calls that fail together share one refresh: a second refresh would present
  // a spent refresh token, and the service would revoke the whole login.
  await sleep(3100)
  const before = client.session.refreshes
  const answers = await Promise.all([client.api.GET('/users/me'), client.api.GET('/cart'), client.api.GET('/orders', { params: { query: { limit: 20 } } })])
  t.same(answers.map((answer) => answer.response.status), [200, 200, 200])
  t.equal(client.session.refreshes, before + 1, 'one refresh for three expired calls')
  t.equal((await client.api.GET('/users/me')).response.status, 200, 'the login is still alive')
})

t.test('arguments win over the environment', async (t) => {
  const env = { API_URL: 'http://env.test', API_EMAIL: 'env@example.test', API_PASSWORD: 'from env', PRODUCT_ID: '7' }
  t.same(clientOptionsFrom([], env), { baseUrl: 'http://env.test', email: 'env@example.test', password: 'from env', productId: 7 })
  t.same(clientOptionsFrom(['http://arg.test', 'arg@example.test', 'from args', '9'], env),
    { baseUrl: 'http://arg.test', email: 'arg@example.test', password: 'from args', productId: 9 })
})

t.test('run as a command, the client takes its settings from the environment and prints what it did', async (t) => {
  const app = await build(t)
  const user = await createUser(app)
  const product = await insertProduct(app, { name: 'Example tea', priceCents: 900, stock: 1 })
  const baseUrl = await app.listen({ host: '127.0.0.1', port: 0 })
  const run = promisify(execFile)
  // Asynchronously: the server answering it lives in this process.
  const { stdout } = await run(process.execPath, ['--import', 'tsx', 'examples/client.ts'], {
    cwd: root,
    env: { ...process.env, API_URL: baseUrl, API_EMAIL: user.email, API_PASSWORD: user.password, PRODUCT_ID: String(product.id) }
  })
  const orderId = sqliteOf(app).prepare('SELECT id FROM orders WHERE user_id = ?').pluck().get(user.id) as number
  t.same(stdout.trim().split('\n'), ['logged in', `hello ${user.email}`, 'cart total 900 USD', `order #${orderId} placed: 900 USD`])

  const failed = await run(process.execPath, ['--import', 'tsx', 'examples/client.ts', baseUrl, user.email, 'not the password', '1'], { cwd: root })
    .then(() => null, (err: { code: number, stderr: string }) => err)
  t.equal(failed?.code, 1, 'a failed login exits non-zero')
  t.match(failed?.stderr, /token request failed: .*invalid_grant/)
  t.equal(await countRows(app, 'orders'), 1)
})
