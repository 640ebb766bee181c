import { execFile, spawn } from 'node:child_process'
import path from 'node:path'
import { promisify } from 'node:util'
import t, { type Test } from 'tap'
import { ClientToken, SCOPE, shipPlacedOrders } from '../../examples/fulfilment-service.js'
import type { FastifyRequest } from 'fastify'
import { buildApp } from '../../src/app.js'
import { asUser, createUser, login, freePort, tempDir, testConfig, type TestUser } from '../helper.js'

const root = path.resolve(import.meta.dirname, '../..')
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))
const run = promisify(execFile)
const expiryOf = (jwt: string): number => JSON.parse(Buffer.from(jwt.split('.')[1] ?? '', 'base64url').toString()).exp * 1000

interface Answer { method: string, url: string, status: number, grant?: string }

/**
 * Our API live on a port picked first, so that JWT_ISSUER is its real origin (discovery
 * checks the metadata's issuer against the URL it was asked); every answer recorded; an
 * admin, a product and the warehouse's client (orders:read orders:write) made.
 */
async function shop (t: Test, env: Record<string, string> = {}) {
  const port = await freePort()
  const issuer = `http://127.0.0.1:${port}`
  const app = await buildApp(testConfig(tempDir(t), { JWT_ISSUER: issuer, ...env }))
  t.teardown(() => app.close())
  const answers: Answer[] = []
  /** Run before each request: a test may hold requests back. */
  const gates: Array<(request: FastifyRequest) => Promise<void>> = []
  app.addHook('onRequest', async (request) => { for (const gate of gates) await gate(request) })
  // On the root before ready: it sees every route's answers.
  app.addHook('onResponse', async (request, reply) => {
    const grant = (request.body as { grant_type?: string } | undefined)?.grant_type
    answers.push({ method: request.method, url: request.url, status: reply.statusCode, ...(grant ? { grant } : {}) })
  })
  await app.ready()
  await app.listen({ host: '127.0.0.1', port })

  const admin = await createUser(app, { role: 'admin' })
  const created = await admin.inject({ method: 'POST', url: '/clients', payload: { name: 'warehouse', scopes: ['orders:read', 'orders:write'] } })
  if (created.statusCode !== 201) throw new Error(`POST /clients: ${created.statusCode} ${created.body}`)
  const { client_id: clientId, client_secret: clientSecret } = created.json<{ client_id: string, client_secret: string }>()
  const product = await admin.inject({ method: 'POST', url: '/products', payload: { name: 'Crate', price_cents: 2500, stock: 1000 } })
  if (product.statusCode !== 201) throw new Error(`POST /products: ${product.statusCode} ${product.body}`)
  const productId = product.json<{ id: number }>().id

  // Logged in afresh each time: with 3-second tokens, the one createUser got may have expired.
  const as = async (customer: TestUser) => asUser(app, (await login(app, customer.email, customer.password)).access_token)
  /** The customer checks out one crate; the order's id. */
  async function order (customer: TestUser): Promise<number> {
    const inject = await as(customer)
    const added = await inject({ method: 'POST', url: '/cart/items', payload: { product_id: productId, quantity: 1 } })
    if (added.statusCode !== 200) throw new Error(`POST /cart/items: ${added.statusCode} ${added.body}`)
    const placed = await inject({ method: 'POST', url: '/orders', payload: { shipping_address: '1 Dock Road' } })
    if (placed.statusCode !== 201) throw new Error(`POST /orders: ${placed.statusCode} ${placed.body}`)
    return placed.json<{ id: number }>().id
  }
  /** As its owner sees it. */
  const statusOf = async (customer: TestUser, id: number) => (await (await as(customer))({ method: 'GET', url: `/orders/${id}` })).json<{ status: string }>().status
  /** The service's token requests; people's logins are not its. */
  const tokenRequests = () => answers.filter((answer) => answer.url === '/auth/token' && answer.grant === 'client_credentials')
  const refused = () => answers.filter((answer) => answer.status === 401 || answer.status === 403)
  return { app, issuer, clientId, clientSecret, admin, order, statusOf, answers, gates, tokenRequests, refused }
}

t.test('one run ships every customer\'s placed orders, page by page, and leaves a cancelled one alone', async (t) => {
  const api = await shop(t)
  const ann = await createUser(api.app)
  const bob = await createUser(api.app)
  const annOrders = [await api.order(ann), await api.order(ann)]
  const bobOrder = await api.order(bob)
  const cancelled = await api.order(bob)
  t.equal((await bob.inject({ method: 'POST', url: `/orders/${cancelled}/cancel` })).statusCode, 200)

  const token = await ClientToken.discover(api.issuer, api.clientId, api.clientSecret)
  const lines: string[] = []
  const shipped = await shipPlacedOrders({ apiUrl: api.issuer, token, pageSize: 2, log: (line) => lines.push(line) })
  t.same(shipped, [bobOrder, annOrders[1], annOrders[0]], 'every placed order, newest first as GET /orders lists them')
  t.same(lines, shipped.map((id) => `order #${id} shipped`))
  t.equal(await api.statusOf(ann, annOrders[0]!), 'shipped')
  t.equal(await api.statusOf(ann, annOrders[1]!), 'shipped')
  t.equal(await api.statusOf(bob, bobOrder), 'shipped')
  t.equal(await api.statusOf(bob, cancelled), 'cancelled', 'the cancelled order is left alone')

  const listings = api.answers.filter((answer) => answer.method === 'GET' && answer.url.startsWith('/orders?'))
  t.equal(listings.length, 2, 'four orders at two a page: two pages')
  t.match(listings[1]?.url, /^\/orders\?limit=2&cursor=[\w-]+$/, 'the second page by the first one\'s next_cursor')
  t.same(api.answers.filter((answer) => answer.method === 'PATCH').map((answer) => [answer.url, answer.status]),
    shipped.map((id) => [`/orders/${id}`, 200]), 'one PATCH per placed order, none for the cancelled one')
  t.equal(api.tokenRequests().length, 1, 'one token')
  t.same(api.refused(), [], 'no 401 or 403 on the way')

  t.same(await shipPlacedOrders({ apiUrl: api.issuer, token, log: (line) => lines.push(line) }), [], 'a second run finds nothing placed')
  t.equal(api.tokenRequests().length, 1, 'and reuses the token')
})

t.test('two workers at once ship each order exactly once: an order the other shipped is a 409, skipped', async (t) => {
  const api = await shop(t)
  const ann = await createUser(api.app)
  const ids: number[] = []
  for (let i = 0; i < 6; i++) ids.push(await api.order(ann))
  // Neither listing is answered before both have arrived: both see all six placed.
  let arrive: () => void
  const bothListing = new Promise<void>((resolve) => { let count = 0; arrive = () => { if (++count === 2) resolve() } })
  api.gates.push(async (request) => {
    if (request.method !== 'GET' || !request.url.startsWith('/orders?')) return
    arrive()
    await bothListing
  })
  const worker = async () => {
    const lines: string[] = []
    const token = await ClientToken.discover(api.issuer, api.clientId, api.clientSecret)
    return { shipped: await shipPlacedOrders({ apiUrl: api.issuer, token, log: (line) => lines.push(line) }), lines }
  }
  const [one, other] = await Promise.all([worker(), worker()])
  t.same([...one.shipped, ...other.shipped].sort((a, b) => a - b), ids, 'each order shipped once, by one of them')
  const skipped = (lines: string[]) => lines.filter((line) => line.endsWith(' skipped: INVALID_STATUS_TRANSITION')).map((line) => Number(/#(\d+)/.exec(line)?.[1]))
  t.same(skipped(one.lines).sort((a, b) => a - b), [...other.shipped].sort((a, b) => a - b), 'the one skipped what the other shipped')
  t.same(skipped(other.lines).sort((a, b) => a - b), [...one.shipped].sort((a, b) => a - b), 'and the other way round')
  const patches = api.answers.filter((answer) => answer.method === 'PATCH').map((answer) => answer.status)
  t.same([patches.filter((status) => status === 200).length, patches.filter((status) => status === 409).length], [6, 6])
  for (const id of ids) t.equal(await api.statusOf(ann, id), 'shipped')
})

t.test('with 3-second tokens it fetches a new one before the old one ends, and keeps shipping past the first one\'s lifetime', async (t) => {
  const api = await shop(t, { ACCESS_TOKEN_TTL: '3' })
  const ann = await createUser(api.app)
  const token = await ClientToken.discover(api.issuer, api.clientId, api.clientSecret)
  const first = await token.get()
  t.equal(await token.get(), first, 'a fresh token is reused')
  t.equal(token.fetches, 1)
  const firstExpiry = expiryOf(first)

  // Poll until the holder lets go of the first token: that must be while it still works.
  let second = first
  while (second === first) {
    await sleep(50)
    second = await token.get()
  }
  t.ok(Date.now() < firstExpiry, `refetched ${firstExpiry - Date.now()} ms before the first token's exp`)
  const stillValid = await fetch(`${api.issuer}/orders?limit=1`, { headers: { authorization: `Bearer ${first}` } })
  t.equal(stillValid.status, 200, 'the first token still worked when it was replaced')
  t.equal(token.fetches, 2)
  t.equal(api.tokenRequests().length, 2)

  // Ship a fresh order every half second until well past the first token's lifetime.
  let rounds = 0
  while (Date.now() < firstExpiry + 2_000) {
    const id = await api.order(ann)
    t.same(await shipPlacedOrders({ apiUrl: api.issuer, token, log: () => {} }), [id], `round ${++rounds} ships its order`)
    await sleep(500)
  }
  t.ok(token.fetches >= 3, `${token.fetches} tokens over ${rounds} rounds`)
  t.equal(api.tokenRequests().length, token.fetches, 'every fetch counted is one POST /auth/token')
  t.same(api.refused(), [], 'not one call was refused: every token was replaced before it expired')
  const expired = await fetch(`${api.issuer}/orders?limit=1`, { headers: { authorization: `Bearer ${first}` } })
  t.equal(expired.status, 401, 'the first token has expired by now: this ran past its lifetime')
})

t.test('the refetch comes at 30 s or a tenth of the lifetime (the smaller) plus one second before expiry; stale callers share one fetch', async (t) => {
  for (const [ttl, keptMs] of [[900, 869_000], [60, 53_000]] as const) {
    const api = await shop(t, { ACCESS_TOKEN_TTL: String(ttl) })
    const { config } = await ClientToken.discover(api.issuer, api.clientId, api.clientSecret)
    let clock = Date.now()
    const token = new ClientToken(config, SCOPE, () => clock)
    const first = await token.get()
    clock += keptMs - 1
    t.equal(await token.get(), first, `TTL ${ttl}: still used ${keptMs - 1} ms later`)
    clock += 1
    const again = await Promise.all([token.get(), token.get(), token.get()])
    t.not(again[0], first, `TTL ${ttl}: replaced ${keptMs} ms after it was asked for`)
    t.same(again, [again[0], again[0], again[0]], 'three stale callers get the one new token')
    t.equal(token.fetches, 2)
    t.equal(api.tokenRequests().length, 2, 'one request for the three')
  }
})

t.test('a client whose scopes were narrowed fails at once, saying what it lacks', async (t) => {
  const api = await shop(t)
  const narrowed = await api.admin.inject({ method: 'PATCH', url: `/clients/${api.clientId}`, payload: { scopes: ['orders:read'] } })
  t.equal(narrowed.statusCode, 200)
  const token = await ClientToken.discover(api.issuer, api.clientId, api.clientSecret)
  await t.rejects(shipPlacedOrders({ apiUrl: api.issuer, token, log: () => {} }),
    { message: 'the token lacks orders:write: ask an admin to grant them to this client' })
  t.same(api.answers.filter((answer) => answer.url.startsWith('/orders')), [], 'it stopped before any call to /orders')
})

t.test('run as a command with RUN_ONCE=1: ships, prints what it did, never the secret, exits 0', async (t) => {
  const api = await shop(t)
  const ann = await createUser(api.app)
  const ids = [await api.order(ann), await api.order(ann)]
  const env = { ...process.env, API_URL: api.issuer, CLIENT_ID: api.clientId, CLIENT_SECRET: api.clientSecret, RUN_ONCE: '1' }
  // Asynchronously: the server answering it lives in this process.
  const { stdout, stderr } = await run(process.execPath, ['--import=tsx', 'examples/fulfilment-service.ts'], { cwd: root, env })
  t.same(stdout.trim().split('\n'), [
    `fulfilment client ${api.clientId} on ${api.issuer}`, `order #${ids[1]} shipped`, `order #${ids[0]} shipped`, '2 order(s) shipped'
  ])
  t.equal(stderr, '')
  t.notOk(stdout.includes(api.clientSecret), 'the secret is not in its output')
  for (const id of ids) t.equal(await api.statusOf(ann, id), 'shipped')

  const refused = await run(process.execPath, ['--import=tsx', 'examples/fulfilment-service.ts'], { cwd: root, env: { ...env, CLIENT_SECRET: `${api.clientSecret}x` } })
    .then(() => null, (err: { code: number, stdout: string, stderr: string }) => err)
  t.equal(refused?.code, 1, 'a wrong secret exits 1')
  t.equal(refused?.stderr, 'server responded with an error in the response body: invalid_client\n')
  t.notOk(`${refused?.stdout}${refused?.stderr}`.includes(api.clientSecret), 'the secret is not in its output')

  const unset = await run(process.execPath, ['--import=tsx', 'examples/fulfilment-service.ts'], { cwd: root, env: { ...env, CLIENT_SECRET: '' } })
    .then(() => null, (err: { code: number, stderr: string }) => err)
  t.equal(unset?.code, 1)
  t.equal(unset?.stderr, 'set CLIENT_ID and CLIENT_SECRET (POST /clients answers both)\n')
})

t.test('run as a command without RUN_ONCE: it ships again every INTERVAL_SECONDS', async (t) => {
  const api = await shop(t)
  const ann = await createUser(api.app)
  const before = await api.order(ann)
  const child = spawn(process.execPath, ['--import=tsx', 'examples/fulfilment-service.ts'], {
    cwd: root, env: { ...process.env, API_URL: api.issuer, CLIENT_ID: api.clientId, CLIENT_SECRET: api.clientSecret, INTERVAL_SECONDS: '1' }
  })
  let output = ''
  child.stdout.on('data', (chunk: Buffer) => { output += chunk })
  child.stderr.on('data', (chunk: Buffer) => { output += chunk })
  const exited = new Promise((resolve) => child.once('exit', resolve))
  t.teardown(async () => {
    if (child.exitCode === null) child.kill('SIGTERM')
    await exited
  })
  const printed = async (line: string) => {
    for (let waited = 0; !output.split('\n').includes(line); waited += 50) {
      if (waited > 20_000) throw new Error(`no "${line}" in:\n${output}`)
      await sleep(50)
    }
  }
  await printed(`order #${before} shipped`)
  const after = await api.order(ann)
  await printed(`order #${after} shipped`)
  t.equal(await api.statusOf(ann, after), 'shipped', 'an order placed after the first round is shipped by a later one')
  t.notOk(output.includes(api.clientSecret), 'the secret is not in its output')
  t.equal(child.exitCode, null, 'it keeps running between rounds')
  child.kill('SIGTERM')
  await exited
})
