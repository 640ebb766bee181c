import crypto from 'node:crypto'
import fs from 'node:fs'
import path from 'node:path'
import t from 'tap'
import { startServer, type ServerProcess } from '../server-process.js'
import { DEFAULT_PASSWORD, tempDir, testEnv } from '../helper.js'
import { postgresOrSkip } from '../postgres.js'
import { redisOrSkip } from '../redis.js'
import { SmtpSink, waitFor } from '../smtp-sink.js'

// Two real service processes behind no balancer, on one PostgreSQL, one Redis and one
// signing key, the way a deployment runs them. Every request names its instance.

const LOGIN_RATE_LIMIT = 10
const ADMIN = { email: 'admin@shop.example', password: 'an admin password of some length' }

interface Answer<T = any> { status: number, body: T, headers: Headers }

t.test('two instances on one PostgreSQL and one Redis act as one service', { timeout: 180_000 }, async (t) => {
  const databaseUrl = await postgresOrSkip(t)
  const redisUrl = databaseUrl && await redisOrSkip(t)
  if (!databaseUrl || !redisUrl) return

  const sink = await new SmtpSink().start()
  t.teardown(() => sink.stop())
  const keyDir = tempDir(t)
  const keyFile = path.join(keyDir, 'signing-key.pem')
  fs.writeFileSync(keyFile, crypto.generateKeyPairSync('ed25519').privateKey.export({ format: 'pem', type: 'pkcs8' }), { mode: 0o600 })

  const env = (dataDir: string) => testEnv(dataDir, {
    PORT: '0',
    LOG_LEVEL: 'info',
    DATABASE_URL: databaseUrl,
    REDIS_URL: redisUrl,
    JWT_PRIVATE_KEY_FILE: keyFile,
    SMTP_URL: sink.url,
    // Each test client below has its own address (X-Forwarded-For), as behind a load balancer.
    TRUST_PROXY: 'true',
    LOGIN_RATE_LIMIT: String(LOGIN_RATE_LIMIT),
    ADMIN_EMAIL: ADMIN.email,
    ADMIN_PASSWORD: ADMIN.password
  })
  // Both start at once on an empty database: the migration lock lets one migrate, the other wait.
  const instances: ServerProcess[] = await Promise.all([startServer(env(tempDir(t))), startServer(env(tempDir(t)))])
  t.teardown(async () => {
    await Promise.all(instances.map(({ child }) => new Promise<void>((resolve) => {
      if (child.exitCode !== null) return resolve()
      child.once('exit', () => resolve())
      child.kill('SIGTERM')
    })))
  })
  const [a, b] = instances.map((instance) => instance.url) as [string, string]

  let address = 0
  async function call (base: string, method: string, url: string, options: { token?: string, body?: unknown, form?: Record<string, string>, ip?: string, headers?: Record<string, string> } = {}): Promise<Answer> {
    const headers: Record<string, string> = { 'x-forwarded-for': options.ip ?? `10.0.${Math.floor(++address / 250)}.${address % 250 + 1}`, ...options.headers }
    if (options.token) headers.authorization = `Bearer ${options.token}`
    let body: string | undefined
    if (options.form) {
      headers['content-type'] = 'application/x-www-form-urlencoded'
      body = new URLSearchParams(options.form).toString()
    } else if (options.body !== undefined) {
      headers['content-type'] = 'application/json'
      body = JSON.stringify(options.body)
    }
    const res = await fetch(`${base}${url}`, { method, headers, body })
    const text = await res.text()
    return { status: res.status, body: text ? JSON.parse(text) : null, headers: res.headers }
  }
  const login = async (base: string, email: string, password = DEFAULT_PASSWORD, ip?: string) =>
    call(base, 'POST', '/auth/token', { form: { grant_type: 'password', username: email, password }, ip })
  async function customer (base: string, email: string) {
    const registered = await call(base, 'POST', '/users', { body: { email, password: DEFAULT_PASSWORD } })
    if (registered.status !== 201) throw new Error(`register: ${registered.status} ${JSON.stringify(registered.body)}`)
    const tokens = await login(base, email)
    if (tokens.status !== 200) throw new Error(`login: ${tokens.status} ${JSON.stringify(tokens.body)}`)
    return { id: registered.body.id as number, email, accessToken: tokens.body.access_token as string, refreshToken: tokens.body.refresh_token as string }
  }

  t.test('a token from A works on B; signing out on A is refused by B at once', async (t) => {
    const ann = await customer(a, 'ann@example.test')
    t.equal((await call(b, 'GET', '/users/me', { token: ann.accessToken })).status, 200)
    t.same((await call(a, 'GET', '/.well-known/jwks.json')).body, (await call(b, 'GET', '/.well-known/jwks.json')).body, 'both publish the same key')
    t.equal((await call(a, 'DELETE', '/users/me/sessions', { token: ann.accessToken })).status, 204)
    t.equal((await call(b, 'GET', '/users/me', { token: ann.accessToken })).status, 401, 'B refuses the signed-out token')
    t.equal((await call(a, 'GET', '/users/me', { token: ann.accessToken })).status, 401)
  })

  t.test('a disabled or deleted user is refused by the other instance at once', async (t) => {
    const admin = (await login(a, ADMIN.email, ADMIN.password)).body.access_token as string
    const bob = await customer(b, 'bob@example.test')
    const carol = await customer(b, 'carol@example.test')
    t.equal((await call(a, 'PATCH', `/users/${bob.id}`, { token: admin, body: { disabled: true } })).status, 200)
    t.equal((await call(b, 'GET', '/users/me', { token: bob.accessToken })).status, 401, 'disabled on A, refused on B')
    t.equal((await call(b, 'DELETE', '/users/me', { token: carol.accessToken })).status, 204)
    t.equal((await call(a, 'GET', '/users/me', { token: carol.accessToken })).status, 401, 'deleted on B, refused on A')
  })

  const INVALID_TOKEN = { statusCode: 401, code: 'INVALID_TOKEN', error: 'Unauthorized', message: 'The access token is invalid or expired' }
  const INVALID_CLIENT = { error: 'invalid_client', error_description: 'Client authentication failed' }
  const insufficientScope = (scope: string) => ({ statusCode: 403, code: 'INSUFFICIENT_SCOPE', error: 'Forbidden', message: `This token does not carry the scope this needs: ${scope}` })
  /** client_credentials, with HTTP Basic (client_secret_basic). */
  const clientToken = (base: string, clientId: string, secret: string) => call(base, 'POST', '/auth/token', {
    form: { grant_type: 'client_credentials' },
    headers: { authorization: `Basic ${Buffer.from(`${encodeURIComponent(clientId)}:${encodeURIComponent(secret)}`).toString('base64')}` }
  })

  t.test('a service client made on A: B accepts its token; narrowing, rotating and deleting on one apply on the other at once', async (t) => {
    const admin = (await login(a, ADMIN.email, ADMIN.password)).body.access_token as string
    const created = await call(a, 'POST', '/clients', { token: admin, body: { name: 'warehouse', scopes: ['orders:read', 'orders:write', 'users:read'] } })
    t.equal(created.status, 201)
    const clientId = created.body.client_id as string
    const issued = await clientToken(a, clientId, created.body.client_secret)
    t.equal(issued.status, 200)
    t.equal(issued.body.scope, 'orders:read orders:write users:read')
    const token = issued.body.access_token as string
    t.equal((await call(b, 'GET', '/orders?limit=1', { token })).status, 200, 'B accepts the token A issued')
    t.equal((await call(b, 'GET', '/users?limit=1', { token })).status, 200)

    const narrowed = await call(b, 'PATCH', `/clients/${clientId}`, { token: admin, body: { scopes: ['orders:read', 'orders:write'] } })
    t.equal(narrowed.status, 200)
    const refused = await call(a, 'GET', '/users?limit=1', { token })
    t.equal(refused.status, 403, 'narrowed on B: A refuses the scope taken away, for the token issued before')
    t.same(refused.body, insufficientScope('users:read'))
    t.equal(refused.headers.get('www-authenticate'), 'Bearer error="insufficient_scope", scope="users:read"')
    t.equal((await call(a, 'GET', '/orders?limit=1', { token })).status, 200, 'the scopes it kept still work')

    const rotated = await call(a, 'POST', `/clients/${clientId}/secret`, { token: admin })
    t.equal(rotated.status, 200)
    const gone = await call(b, 'GET', '/orders?limit=1', { token })
    t.equal(gone.status, 401, 'rotated on A: B refuses the token issued before at once')
    t.same(gone.body, INVALID_TOKEN)
    const oldSecret = await clientToken(b, clientId, created.body.client_secret)
    t.equal(oldSecret.status, 401, 'and the old secret')
    t.same(oldSecret.body, INVALID_CLIENT)
    const fresh = await clientToken(b, clientId, rotated.body.client_secret)
    t.equal(fresh.status, 200, 'the new secret works on B')
    t.equal(fresh.body.scope, 'orders:read orders:write', 'with the narrowed scopes')
    t.equal((await call(a, 'GET', '/orders?limit=1', { token: fresh.body.access_token })).status, 200)

    t.equal((await call(b, 'DELETE', `/clients/${clientId}`, { token: admin })).status, 204)
    for (const [name, base] of [['A', a], ['B', b]] as const) {
      const after = await call(base, 'GET', '/orders?limit=1', { token: fresh.body.access_token })
      t.equal(after.status, 401, `deleted on B: ${name} refuses its token`)
      t.same(after.body, INVALID_TOKEN)
      const secret = await clientToken(base, clientId, rotated.body.client_secret)
      t.equal(secret.status, 401, `deleted on B: ${name} refuses its secret`)
      t.same(secret.body, INVALID_CLIENT)
    }
  })

  t.test('an admin demoted on A: B refuses the admin scopes of its earlier token at once', async (t) => {
    const admin = (await login(a, ADMIN.email, ADMIN.password)).body.access_token as string
    const frank = await customer(b, 'frank@example.test')
    t.equal((await call(a, 'PATCH', `/users/${frank.id}`, { token: admin, body: { role: 'admin' } })).status, 200)
    const promoted = await login(b, frank.email)
    t.equal(promoted.body.scope, 'account cart orders catalogue:write orders:read orders:write users:read users:write clients:admin')
    const token = promoted.body.access_token as string
    t.equal((await call(b, 'GET', '/users?limit=1', { token })).status, 200, 'an admin\'s token, on B')
    t.equal((await call(a, 'GET', '/clients', { token })).status, 200, 'and on A')

    t.equal((await call(a, 'PATCH', `/users/${frank.id}`, { token: admin, body: { role: 'customer' } })).status, 200)
    for (const [url, scope] of [['/users?limit=1', 'users:read'], ['/clients', 'clients:admin']] as const) {
      const refused = await call(b, 'GET', url, { token })
      t.equal(refused.status, 403, `demoted on A: B refuses GET ${url} at once`)
      t.same(refused.body, insufficientScope(scope))
      t.equal(refused.headers.get('www-authenticate'), `Bearer error="insufficient_scope", scope="${scope}"`)
    }
    const me = await call(b, 'GET', '/users/me', { token })
    t.equal(me.status, 200, 'what a customer may do, the token still does')
    t.equal(me.body.role, 'customer')
  })

  t.test('one refresh token presented to both at once: one rotation, the family revoked', async (t) => {
    const dave = await customer(a, 'dave@example.test')
    const form = { grant_type: 'refresh_token', refresh_token: dave.refreshToken }
    const answers = await Promise.all([call(a, 'POST', '/auth/token', { form }), call(b, 'POST', '/auth/token', { form })])
    t.same(answers.map((answer) => answer.status).sort(), [200, 400])
    const winner = answers.find((answer) => answer.status === 200)!
    const next = await call(b, 'POST', '/auth/token', { form: { grant_type: 'refresh_token', refresh_token: winner.body.refresh_token } })
    t.equal(next.status, 400, 'the reuse revoked the winner\'s token too')
  })

  t.test('40 checkouts spread over both for a stock of 10: exactly 10 orders, one e-mail each', async (t) => {
    const admin = (await login(b, ADMIN.email, ADMIN.password)).body.access_token as string
    const product = await call(a, 'POST', '/products', { token: admin, body: { name: 'Limited teapot', price_cents: 4500, stock: 10 } })
    t.equal(product.status, 201)
    const shoppers = await Promise.all(Array.from({ length: 40 }, (_, i) => customer(i % 2 ? a : b, `shopper-${i}@example.test`)))
    for (const [i, shopper] of shoppers.entries()) {
      const added = await call(i % 2 ? b : a, 'POST', '/cart/items', { token: shopper.accessToken, body: { product_id: product.body.id, quantity: 1 } })
      if (added.status !== 200) throw new Error(`add: ${added.status}`)
    }
    const answers = await Promise.all(shoppers.map((shopper, i) =>
      call(i % 2 ? a : b, 'POST', '/orders', { token: shopper.accessToken, body: { shipping_address: '1 Road' } })))
    const statuses = answers.map((answer) => answer.status)
    t.equal(statuses.filter((status) => status === 201).length, 10, 'exactly 10 orders')
    t.equal(statuses.filter((status) => status === 409).length, 30, 'the rest: not enough stock')
    t.equal((await call(b, 'GET', `/products/${product.body.id}`)).body.stock, 0)
    const orderIds = answers.filter((answer) => answer.status === 201).map((answer) => answer.body.id as number)
    t.equal(new Set(orderIds).size, 10)

    const subjects = () => sink.messages.map((message) => message.subject ?? '').filter((subject) => /^Order #\d+ confirmed$/.test(subject))
    await waitFor(() => subjects().length >= 10, 30_000, 'ten order e-mails')
    // Both workers poll every half second: give a duplicate time to show up.
    await new Promise((resolve) => setTimeout(resolve, 2_000))
    t.same(subjects().sort(), orderIds.map((id) => `Order #${id} confirmed`).sort(), 'each order\'s e-mail exactly once')
  })

  t.test('the per-address limit counts requests to both instances together', async (t) => {
    await customer(a, 'erin@example.test')
    const ip = '192.0.2.77'
    const statuses = []
    for (let i = 0; i < LOGIN_RATE_LIMIT + 2; i++) statuses.push((await login(i % 2 ? a : b, 'erin@example.test', DEFAULT_PASSWORD, ip)).status)
    t.same(statuses, [...Array(LOGIN_RATE_LIMIT).fill(200), 429, 429], `${LOGIN_RATE_LIMIT} logins from one address over both, then 429 from either`)
    t.equal((await login(a, 'erin@example.test', DEFAULT_PASSWORD, '192.0.2.78')).status, 200, 'another address is not affected')
  })
})
