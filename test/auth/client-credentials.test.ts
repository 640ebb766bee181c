import { Writable } from 'node:stream'
import type { FastifyServerOptions, InjectOptions, LightMyRequestResponse } from 'fastify'
import t, { type Test } from 'tap'
import { decodeJwt, decodeProtectedHeader } from 'jose'
import { buildApp, loggerOptions } from '../../src/app.js'
import { hashClientSecret } from '../../src/store/clients.js'
import { build, createClient, createUser, tempDir, testConfig, type App, type TestClient, type TestUser } from '../helper.js'
import { insertProduct, queryRows } from '../commerce-fixtures.js'
import { postgresServer } from '../postgres.js'

// grant_type=client_credentials (contract v2, "Scopes and service clients"; RFC 6749 §4.4, §2.3.1).

const FORM = { 'content-type': 'application/x-www-form-urlencoded' }
const INVALID_CLIENT = { error: 'invalid_client', error_description: 'Client authentication failed' }
const BASIC_CHALLENGE = 'Basic realm="ecommerce-api", charset="UTF-8"'
const INVALID_SCOPE = { error: 'invalid_scope', error_description: 'None of the requested scopes may be granted to this caller' }
const ONE_WAY = { error: 'invalid_request', error_description: 'Authenticate the client one way: the Basic header or client_secret in the body' }
const INVALID_TOKEN_BODY = { statusCode: 401, code: 'INVALID_TOKEN', error: 'Unauthorized', message: 'The access token is invalid or expired' }
const CLIENT_SCOPES = ['catalogue:write', 'orders:read', 'orders:write', 'users:read', 'users:write']
const insufficientScope = (scopes: string) => ({
  statusCode: 403, code: 'INSUFFICIENT_SCOPE', error: 'Forbidden', message: `This token does not carry the scope this needs: ${scopes}`
})

/** RFC 6749 §2.3.1 / Appendix B: application/x-www-form-urlencoded, a space is '+'. */
const formEncode = (value: string) => encodeURIComponent(value).replace(/%20/g, '+')
const basicOf = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`
/** The Authorization header client_secret_basic sends: id and secret form-urlencoded, then base64. */
const basic = (clientId: string, clientSecret: string) => basicOf(formEncode(clientId), formEncode(clientSecret))
/** Every character percent-encoded: what a decoder that skips form-decoding would not recognise. */
const percentAll = (value: string) => [...Buffer.from(value)].map((byte) => `%${byte.toString(16).toUpperCase().padStart(2, '0')}`).join('')
const formBody = (fields: Record<string, string>) => new URLSearchParams(fields).toString()

const tokenWithBasic = (app: App, authorization: string, fields: Record<string, string> = {}, extra: Partial<InjectOptions> = {}) => app.inject({
  method: 'POST', url: '/auth/token', ...extra, headers: { ...FORM, authorization, ...extra.headers }, payload: formBody({ grant_type: 'client_credentials', ...fields })
})
const tokenWithPost = (app: App, clientId: string, clientSecret: string, fields: Record<string, string> = {}, extra: Partial<InjectOptions> = {}) => app.inject({
  method: 'POST', url: '/auth/token', ...extra, payload: { grant_type: 'client_credentials', client_id: clientId, client_secret: clientSecret, ...fields }
})

/** A 200 of client_credentials: exactly the four fields, no refresh_token, never cached. */
function assertClientTokenAnswer (t: Test, res: LightMyRequestResponse, scope: string, name: string) {
  t.equal(res.statusCode, 200, `${name}: 200`)
  t.equal(res.headers['cache-control'], 'no-store', `${name}: Cache-Control: no-store`)
  t.equal(res.headers.pragma, 'no-cache', `${name}: Pragma: no-cache`)
  t.match(res.headers['content-type'], /^application\/json/, `${name}: JSON`)
  const body = res.json()
  t.strictSame(body, { access_token: body.access_token, token_type: 'Bearer', expires_in: 900, scope }, `${name}: exactly access_token, token_type, expires_in, scope`)
  t.notOk('refresh_token' in body, `${name}: no refresh_token`)
  t.match(body.access_token, /^[\w-]+\.[\w-]+\.[\w-]+$/, `${name}: a compact JWT`)
  return body.access_token as string
}

function assertClientClaims (t: Test, accessToken: string, clientId: string, scope: string, name: string) {
  const claims = decodeJwt(accessToken)
  t.equal(claims.sub, clientId, `${name}: sub is the client's id`)
  t.equal(claims.client_id, clientId, `${name}: client_id is the client's id`)
  t.equal(claims.scope, scope, `${name}: scope claim`)
  t.notOk('role' in claims, `${name}: no role claim`)
  t.strictSame(Object.keys(claims).sort(), ['aud', 'client_id', 'exp', 'gen', 'iat', 'iss', 'jti', 'scope', 'sub'], `${name}: RFC 9068 claims plus gen`)
  t.equal(claims.iss, 'http://localhost:3000')
  t.equal(claims.aud, 'ecommerce-api')
  t.equal((claims.exp ?? 0) - (claims.iat ?? 0), 900, `${name}: lives ACCESS_TOKEN_TTL`)
  t.equal(decodeProtectedHeader(accessToken).typ, 'at+jwt', `${name}: typ at+jwt`)
}

function assertInvalidClient (t: Test, res: LightMyRequestResponse, viaBasic: boolean, name: string) {
  t.equal(res.statusCode, 401, `${name}: 401`)
  t.strictSame(res.json(), INVALID_CLIENT, `${name}: invalid_client`)
  t.equal(res.headers['cache-control'], 'no-store', `${name}: no-store`)
  t.equal(res.headers['www-authenticate'], viaBasic ? BASIC_CHALLENGE : undefined, `${name}: ${viaBasic ? 'the Basic challenge' : 'no challenge'}`)
}

const bearer = (token: string) => ({ authorization: `Bearer ${token}` })

async function assertInsufficient (t: Test, res: LightMyRequestResponse, scopes: string, name: string) {
  t.equal(res.statusCode, 403, `${name}: 403`)
  t.strictSame(res.json(), insufficientScope(scopes), `${name}: INSUFFICIENT_SCOPE`)
  t.equal(res.headers['www-authenticate'], `Bearer error="insufficient_scope", scope="${scopes}"`, `${name}: challenge names ${scopes}`)
}

async function assertTokenEnded (t: Test, app: App, token: string, name: string) {
  const res = await app.inject({ method: 'GET', url: '/users', headers: bearer(token) })
  t.equal(res.statusCode, 401, `${name}: 401`)
  t.strictSame(res.json(), INVALID_TOKEN_BODY, `${name}: INVALID_TOKEN`)
  t.match(res.headers['www-authenticate'], /^Bearer error="invalid_token"/, `${name}: invalid_token challenge`)
}

/** A customer with one placed order of one product. */
async function customerWithOrder (app: App) {
  const customer = await createUser(app)
  const product = await insertProduct(app, { stock: 10 })
  const added = await customer.inject({ method: 'POST', url: '/cart/items', payload: { product_id: product.id, quantity: 1 } })
  if (added.statusCode !== 200) throw new Error(`add to cart failed: ${added.statusCode} ${added.body}`)
  const order = await customer.inject({ method: 'POST', url: '/orders', payload: { shipping_address: '1 Main St' } })
  if (order.statusCode !== 201) throw new Error(`checkout failed: ${order.statusCode} ${order.body}`)
  return { customer, order: order.json<{ id: number, user_id: number, status: string }>() }
}

t.test('client_secret_basic, form body: 200 with access_token, token_type, expires_in, scope; the JWT is the client\'s', async (t) => {
  const app = await build(t)
  const client = await createClient(app, ['orders:read', 'users:read'])
  const res = await tokenWithBasic(app, basic(client.clientId, client.clientSecret))
  const token = assertClientTokenAnswer(t, res, 'orders:read users:read', 'Basic')
  assertClientClaims(t, token, client.clientId, 'orders:read users:read', 'Basic')
  const users = await app.inject({ method: 'GET', url: '/users', headers: bearer(token) })
  t.equal(users.statusCode, 200, 'the token works')
  // A Basic header's client_id repeated in the body is fine (RFC 6749 allows it), a different one is not.
  assertClientTokenAnswer(t, await tokenWithBasic(app, basic(client.clientId, client.clientSecret), { client_id: client.clientId }), 'orders:read users:read', 'Basic and the same client_id in the body')
  const other = await tokenWithBasic(app, basic(client.clientId, client.clientSecret), { client_id: 'svc_00000000000000000000' })
  t.equal(other.statusCode, 400, 'Basic and another client_id in the body: 400')
  t.strictSame(other.json(), { error: 'invalid_request', error_description: 'client_id in the body differs from the Basic header\'s' })
  // JSON body with Basic works too.
  const json = await app.inject({ method: 'POST', url: '/auth/token', headers: { authorization: basic(client.clientId, client.clientSecret) }, payload: { grant_type: 'client_credentials' } })
  assertClientClaims(t, assertClientTokenAnswer(t, json, 'orders:read users:read', 'Basic, JSON body'), client.clientId, 'orders:read users:read', 'Basic, JSON body')
  // The scheme name is case-insensitive (RFC 7235).
  assertClientTokenAnswer(t, await tokenWithBasic(app, basic(client.clientId, client.clientSecret).replace('Basic', 'basic')), 'orders:read users:read', 'lower-case scheme')
})

t.test('client_secret_basic form-decodes id and secret (RFC 6749 §2.3.1): percent-escapes and \'+\' for a space', async (t) => {
  const app = await build(t)
  const client = await createClient(app, ['users:read'])
  const { clientId, clientSecret } = client
  t.match(clientId, /_/, 'the id has an underscore to escape')
  const escapedId = clientId.replace(/_/g, '%5F')
  // The letter first: the escapes below bring their own capitals.
  const escapedSecret = clientSecret.replace(/[A-Z]/, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`).replace(/_/g, '%5F').replace(/-/g, '%2D')
  t.not(escapedSecret, clientSecret, 'the secret has characters to escape')
  assertClientTokenAnswer(t, await tokenWithBasic(app, basicOf(escapedId, escapedSecret)), 'users:read', '%5F, %2D and an escaped letter')
  assertClientTokenAnswer(t, await tokenWithBasic(app, basicOf(percentAll(clientId), percentAll(clientSecret))), 'users:read', 'every character percent-escaped')
  assertClientTokenAnswer(t, await tokenWithBasic(app, basicOf(escapedId.toLowerCase(), clientSecret)), 'users:read', 'lower-case hex escape')

  // A percent-escape is decoded, not compared as typed: the escape of another character fails.
  assertInvalidClient(t, await tokenWithBasic(app, basicOf(clientId.replace('_', '%5E'), clientSecret)), true, '%5E is ^, not _')
  assertInvalidClient(t, await tokenWithBasic(app, basicOf(clientId, `${clientSecret}+`)), true, 'a trailing + is a space, not part of the secret')
  assertInvalidClient(t, await tokenWithBasic(app, basicOf(clientId, `${clientSecret}%zz`)), true, 'a broken escape: a failed authentication')
  assertInvalidClient(t, await tokenWithBasic(app, `Basic ${Buffer.from('no colon here').toString('base64')}`), true, 'no colon')
  assertInvalidClient(t, await tokenWithBasic(app, 'Basic !!!'), true, 'not base64')

  // A secret with the characters form-encoding is for: stored directly as a hash, as POST /clients would.
  const secret = 'a secret+with spaces/&:=%?'
  const rows = await queryRows(app, `UPDATE clients SET secret_hash = '${hashClientSecret(secret)}' WHERE client_id = '${clientId}' RETURNING client_id`)
  t.equal(rows.length, 1, 'the secret was set')
  const encoded = formEncode(secret)
  t.equal(encoded, 'a+secret%2Bwith+spaces%2F%26%3A%3D%25%3F')
  assertClientTokenAnswer(t, await tokenWithBasic(app, basicOf(formEncode(clientId), encoded)), 'users:read', 'spaces as +, + as %2B, : as %3A')
  assertClientTokenAnswer(t, await tokenWithBasic(app, basicOf(clientId, encodeURIComponent(secret))), 'users:read', 'spaces as %20')
  assertInvalidClient(t, await tokenWithBasic(app, basicOf(clientId, secret.replace(/%/g, '%25'))), true, 'the secret unencoded: its + becomes a space')
  assertClientTokenAnswer(t, await tokenWithPost(app, clientId, secret), 'users:read', 'client_secret_post: the secret as it is (the body is form-decoded once)')
})

t.test('client_secret_post, JSON and form bodies: the same answer', async (t) => {
  const app = await build(t)
  const client = await createClient(app, ['catalogue:write'])
  const json = await tokenWithPost(app, client.clientId, client.clientSecret)
  assertClientClaims(t, assertClientTokenAnswer(t, json, 'catalogue:write', 'JSON'), client.clientId, 'catalogue:write', 'JSON')
  const form = await app.inject({
    method: 'POST', url: '/auth/token', headers: FORM, payload: formBody({ grant_type: 'client_credentials', client_id: client.clientId, client_secret: client.clientSecret })
  })
  assertClientClaims(t, assertClientTokenAnswer(t, form, 'catalogue:write', 'form'), client.clientId, 'catalogue:write', 'form')
  t.not(json.json().access_token, form.json().access_token, 'every request gets its own token')
  t.not(decodeJwt(json.json().access_token).jti, decodeJwt(form.json().access_token).jti, 'with its own jti')
  // Swagger UI's empty Basic header with the secret in the body: that is client_secret_post.
  const emptyBasic = await app.inject({
    method: 'POST', url: '/auth/token', headers: { ...FORM, authorization: 'Basic Og==' }, payload: formBody({ grant_type: 'client_credentials', client_id: client.clientId, client_secret: client.clientSecret })
  })
  assertClientTokenAnswer(t, emptyBasic, 'catalogue:write', 'an empty Basic header and the secret in the body')
})

t.test('scope narrows; names the client may not hold are dropped; nothing left → 400 invalid_scope', async (t) => {
  const app = await build(t)
  const client = await createClient(app, ['orders:read', 'orders:write', 'users:read'])
  const cases: Array<[string, string]> = [
    ['users:read', 'users:read'],
    ['users:read orders:read', 'orders:read users:read'],
    ['orders:read cart clients:admin bogus orders', 'orders:read'],
    ['  orders:write   users:read ', 'orders:write users:read'],
    ['', 'orders:read orders:write users:read']
  ]
  for (const [requested, granted] of cases) {
    const post = await tokenWithPost(app, client.clientId, client.clientSecret, { scope: requested })
    assertClientClaims(t, assertClientTokenAnswer(t, post, granted, `post, scope="${requested}"`), client.clientId, granted, `post, scope="${requested}"`)
    const viaBasic = await tokenWithBasic(app, basic(client.clientId, client.clientSecret), { scope: requested })
    assertClientTokenAnswer(t, viaBasic, granted, `Basic, scope="${requested}"`)
  }
  const narrowed = (await tokenWithPost(app, client.clientId, client.clientSecret, { scope: 'orders:read' })).json().access_token
  await assertInsufficient(t, await app.inject({ method: 'GET', url: '/users', headers: bearer(narrowed) }), 'users:read', 'a token narrowed to orders:read on GET /users')
  t.equal((await app.inject({ method: 'GET', url: '/orders', headers: bearer(narrowed) })).statusCode, 200, 'but GET /orders works')

  for (const requested of ['catalogue:write', 'cart account', 'bogus', 'clients:admin users:write']) {
    const res = await tokenWithPost(app, client.clientId, client.clientSecret, { scope: requested })
    t.equal(res.statusCode, 400, `scope="${requested}": 400`)
    t.strictSame(res.json(), INVALID_SCOPE, `scope="${requested}": invalid_scope`)
    t.equal(res.headers['cache-control'], 'no-store')
  }
  // The scope is judged after the client: a stranger learns nothing from it.
  assertInvalidClient(t, await tokenWithPost(app, client.clientId, 'sk_wrong', { scope: 'bogus' }), false, 'a wrong secret with an impossible scope')
})

t.test('invalid_client: unknown client, wrong secret, disabled, deleted — 401, one body; WWW-Authenticate Basic only after Basic', async (t) => {
  const app = await build(t)
  const admin = await createUser(app, { role: 'admin' })
  const client = await createClient(app, ['users:read'], { admin })
  const disabled = await createClient(app, ['users:read'], { admin })
  const deleted = await createClient(app, ['users:read'], { admin })
  t.equal((await admin.inject({ method: 'PATCH', url: `/clients/${disabled.clientId}`, payload: { disabled: true } })).statusCode, 200)
  t.equal((await admin.inject({ method: 'DELETE', url: `/clients/${deleted.clientId}` })).statusCode, 204)

  const cases: Array<[string, string, string]> = [
    ['an unknown client', 'svc_00000000000000000000', client.clientSecret],
    ['an id that is no client\'s shape', 'warehouse', client.clientSecret],
    ['a wrong secret', client.clientId, 'sk_' + 'A'.repeat(43)],
    ['an empty secret', client.clientId, ''],
    ['another client\'s secret', client.clientId, disabled.clientSecret],
    ['a disabled client', disabled.clientId, disabled.clientSecret],
    ['a deleted client', deleted.clientId, deleted.clientSecret]
  ]
  const bodies = new Set<string>()
  // Each case from its own address, so that failures never add up to the address's throttle.
  let address = 0
  for (const [name, id, secret] of cases) {
    const viaBasic = await tokenWithBasic(app, basic(id, secret), {}, { remoteAddress: `10.0.1.${++address}` })
    assertInvalidClient(t, viaBasic, true, `${name}, Basic`)
    const viaPost = await tokenWithPost(app, id, secret, {}, { remoteAddress: `10.0.1.${++address}` })
    assertInvalidClient(t, viaPost, false, `${name}, post`)
    bodies.add(viaBasic.body).add(viaPost.body)
  }
  t.equal(bodies.size, 1, 'byte for byte the same body for every case')

  // The user's password is not a client secret.
  assertInvalidClient(t, await tokenWithPost(app, admin.email, admin.password), false, 'a user\'s e-mail and password')
  assertClientTokenAnswer(t, await tokenWithPost(app, client.clientId, client.clientSecret), 'users:read', 'the good client still works')
})

t.test('Basic and client_secret in the body at once: 400 invalid_request; no credentials: 401 invalid_client', async (t) => {
  const app = await build(t)
  const client = await createClient(app, ['users:read'])
  for (const [name, secret] of [['the same secret', client.clientSecret], ['another secret', 'x'], ['an empty one', '']] as const) {
    const res = await tokenWithBasic(app, basic(client.clientId, client.clientSecret), { client_secret: secret })
    t.equal(res.statusCode, 400, `Basic and ${name} in the body: 400`)
    t.strictSame(res.json(), ONE_WAY, `Basic and ${name} in the body: invalid_request`)
    t.equal(res.headers['www-authenticate'], undefined)
  }
  const json = await app.inject({
    method: 'POST', url: '/auth/token', headers: { authorization: basic(client.clientId, client.clientSecret) }, payload: { grant_type: 'client_credentials', client_id: client.clientId, client_secret: client.clientSecret }
  })
  t.equal(json.statusCode, 400, 'JSON body too')
  t.strictSame(json.json(), ONE_WAY)

  const missing: Array<[string, InjectOptions]> = [
    ['nothing', { payload: { grant_type: 'client_credentials' } }],
    ['only client_id', { payload: { grant_type: 'client_credentials', client_id: client.clientId } }],
    ['only client_secret', { payload: { grant_type: 'client_credentials', client_secret: client.clientSecret } }],
    ['an empty Basic header', { headers: { authorization: 'Basic Og==' }, payload: { grant_type: 'client_credentials' } }],
    ['a Bearer header', { headers: bearer(client.accessToken), payload: { grant_type: 'client_credentials' } }],
    ['a form with nothing', { headers: FORM, payload: 'grant_type=client_credentials' }]
  ]
  for (const [name, request] of missing) {
    assertInvalidClient(t, await app.inject({ method: 'POST', url: '/auth/token', ...request }), false, `${name}`)
  }
})

t.test('a client token works where its scopes allow, and is 403 INSUFFICIENT_SCOPE on people\'s routes, never 500', async (t) => {
  const app = await build(t)
  const admin = await createUser(app, { role: 'admin' })
  const { customer, order } = await customerWithOrder(app)
  const { customer: other, order: otherOrder } = await customerWithOrder(app)
  const adminOrder = await (async () => {
    const product = await insertProduct(app, { stock: 10 })
    await admin.inject({ method: 'POST', url: '/cart/items', payload: { product_id: product.id, quantity: 2 } })
    return (await admin.inject({ method: 'POST', url: '/orders', payload: { shipping_address: 'HQ' } })).json<{ id: number }>()
  })()

  const reader = await createClient(app, ['orders:read'], { admin })
  const everyone = await reader.inject({ method: 'GET', url: '/orders' })
  t.equal(everyone.statusCode, 200, 'orders:read: GET /orders 200')
  t.strictSame(everyone.json().items.map((o: { id: number }) => o.id), [adminOrder.id, otherOrder.id, order.id], 'everyone\'s orders, newest first')
  const filtered = await reader.inject({ method: 'GET', url: `/orders?user_id=${customer.id}` })
  t.strictSame(filtered.json().items.map((o: { id: number }) => o.id), [order.id], '?user_id= filters to that customer')
  t.strictSame((await reader.inject({ method: 'GET', url: `/orders?user_id=${other.id}` })).json().items.map((o: { id: number }) => o.id), [otherOrder.id])
  const one = await reader.inject({ method: 'GET', url: `/orders/${order.id}` })
  t.equal(one.statusCode, 200, 'orders:read: GET /orders/{id} of anyone')
  t.equal(one.json().user_id, customer.id)
  await assertInsufficient(t, await reader.inject({ method: 'PATCH', url: `/orders/${order.id}`, payload: { status: 'shipped' } }), 'orders:write', 'orders:read on PATCH /orders/{id}')
  await assertInsufficient(t, await reader.inject({ method: 'POST', url: `/orders/${order.id}/cancel` }), 'orders orders:write', 'orders:read on cancel')

  const writer = await createClient(app, ['orders:write'], { admin })
  const shipped = await writer.inject({ method: 'PATCH', url: `/orders/${order.id}`, payload: { status: 'shipped' } })
  t.equal(shipped.statusCode, 200, 'orders:write: PATCH /orders/{id} 200')
  t.equal(shipped.json().status, 'shipped')
  t.equal((await customer.inject({ method: 'GET', url: `/orders/${order.id}` })).json().status, 'shipped', 'the customer sees it shipped')
  const cancelled = await writer.inject({ method: 'POST', url: `/orders/${otherOrder.id}/cancel` })
  t.equal(cancelled.statusCode, 200, 'orders:write: cancel anyone\'s placed order')
  t.equal(cancelled.json().status, 'cancelled')
  const missingOrder = await writer.inject({ method: 'PATCH', url: '/orders/999999', payload: { status: 'shipped' } })
  t.equal(missingOrder.statusCode, 404)
  await assertInsufficient(t, await writer.inject({ method: 'GET', url: '/orders' }), 'orders orders:read', 'orders:write on GET /orders')

  const catalogue = await createClient(app, ['catalogue:write'], { admin })
  const category = await catalogue.inject({ method: 'POST', url: '/categories', payload: { name: 'Feeds' } })
  t.equal(category.statusCode, 201, 'catalogue:write: POST /categories 201')
  const product = await catalogue.inject({ method: 'POST', url: '/products', payload: { name: 'Fed', price_cents: 250, stock: 7, category_id: category.json().id } })
  t.equal(product.statusCode, 201, 'catalogue:write: POST /products 201')
  t.match(product.json(), { name: 'Fed', price_cents: 250, stock: 7, category_id: category.json().id })
  const restocked = await catalogue.inject({ method: 'PATCH', url: `/products/${product.json().id}`, payload: { stock: 70 } })
  t.equal(restocked.statusCode, 200)
  t.equal(restocked.json().stock, 70)
  t.equal((await app.inject({ method: 'GET', url: `/products/${product.json().id}` })).json().stock, 70, 'the public sees the new stock')
  t.equal((await catalogue.inject({ method: 'DELETE', url: `/products/${product.json().id}` })).statusCode, 204)
  await assertInsufficient(t, await catalogue.inject({ method: 'GET', url: '/users' }), 'users:read', 'catalogue:write on GET /users')

  const crm = await createClient(app, ['users:read'], { admin })
  const users = await crm.inject({ method: 'GET', url: '/users?limit=100' })
  t.equal(users.statusCode, 200, 'users:read: GET /users 200')
  t.strictSame(users.json().items.map((u: { id: number }) => u.id).sort((a: number, b: number) => a - b), [admin.id, customer.id, other.id].sort((a, b) => a - b))
  const found = await crm.inject({ method: 'GET', url: `/users?email=${encodeURIComponent(customer.email)}` })
  t.strictSame(found.json().items.map((u: { id: number }) => u.id), [customer.id], '?email= filter')
  t.equal((await crm.inject({ method: 'GET', url: `/users/${customer.id}` })).json().email, customer.email, 'users:read: GET /users/{id} of anyone')
  await assertInsufficient(t, await crm.inject({ method: 'PATCH', url: `/users/${customer.id}`, payload: { full_name: 'X' } }), 'users:write', 'users:read on PATCH /users/{id}')
  await assertInsufficient(t, await crm.inject({ method: 'DELETE', url: `/users/${customer.id}` }), 'account users:write', 'users:read on DELETE /users/{id}')

  const userAdmin = await createClient(app, ['users:write'], { admin })
  const renamed = await userAdmin.inject({ method: 'PATCH', url: `/users/${other.id}`, payload: { full_name: 'Renamed by CRM' } })
  t.equal(renamed.statusCode, 200, 'users:write: PATCH /users/{id}')
  t.equal(renamed.json().full_name, 'Renamed by CRM')
  t.equal((await userAdmin.inject({ method: 'DELETE', url: `/users/${other.id}` })).statusCode, 204, 'users:write: DELETE /users/{id}')
  t.equal((await other.inject({ method: 'GET', url: '/users/me' })).statusCode, 401, 'the deleted user\'s token ends')
  await assertInsufficient(t, await userAdmin.inject({ method: 'GET', url: `/users/${customer.id}` }), 'account users:read', 'users:write on GET /users/{id}')

  // Every client scope at once: still no person's route.
  const all = await createClient(app, CLIENT_SCOPES, { admin })
  const productForCart = await insertProduct(app)
  const personal: Array<[InjectOptions, string]> = [
    [{ method: 'GET', url: '/users/me' }, 'account'],
    [{ method: 'PATCH', url: '/users/me', payload: { full_name: 'Client' } }, 'account'],
    [{ method: 'PUT', url: '/users/me/password', payload: { current_password: 'x'.repeat(10), new_password: 'another good passphrase' } }, 'account'],
    [{ method: 'DELETE', url: '/users/me/sessions' }, 'account'],
    [{ method: 'DELETE', url: '/users/me' }, 'account'],
    [{ method: 'GET', url: '/cart' }, 'cart'],
    [{ method: 'POST', url: '/cart/items', payload: { product_id: productForCart.id, quantity: 1 } }, 'cart'],
    [{ method: 'PUT', url: `/cart/items/${productForCart.id}`, payload: { quantity: 2 } }, 'cart'],
    [{ method: 'DELETE', url: `/cart/items/${productForCart.id}` }, 'cart'],
    [{ method: 'DELETE', url: '/cart' }, 'cart'],
    [{ method: 'POST', url: '/orders', payload: { shipping_address: 'Warehouse' } }, 'orders'],
    [{ method: 'GET', url: '/clients' }, 'clients:admin']
  ]
  for (const [request, scope] of personal) {
    await assertInsufficient(t, await all.inject(request), scope, `every client scope, ${request.method} ${request.url}`)
  }
  // What it may do, it may do with any of the alternatives.
  t.equal((await all.inject({ method: 'GET', url: `/users/${customer.id}` })).statusCode, 200, 'GET /users/{id} through users:read')
  t.equal((await all.inject({ method: 'GET', url: `/orders/${order.id}` })).statusCode, 200, 'GET /orders/{id} through orders:read')
  t.equal((await all.inject({ method: 'GET', url: '/users/999999' })).statusCode, 404, 'an unknown user is 404, not 500')
  t.equal((await all.inject({ method: 'POST', url: '/orders/999999/cancel' })).statusCode, 404, 'an unknown order is 404, not 500')
})

t.test('narrowing, disabling, rotating and deleting apply to tokens already issued, at once', async (t) => {
  const app = await build(t)
  const admin = await createUser(app, { role: 'admin' })
  const client = await createClient(app, ['orders:read', 'users:read'], { admin })
  const patch = async (payload: object) => {
    const res = await admin.inject({ method: 'PATCH', url: `/clients/${client.clientId}`, payload })
    t.equal(res.statusCode, 200, `PATCH ${JSON.stringify(payload)}: 200`)
  }
  t.equal((await client.inject({ method: 'GET', url: '/users' })).statusCode, 200, 'baseline: users:read works')

  await patch({ scopes: ['orders:read'] })
  await assertInsufficient(t, await client.inject({ method: 'GET', url: '/users' }), 'users:read', 'narrowed away: GET /users')
  t.equal((await client.inject({ method: 'GET', url: '/orders' })).statusCode, 200, 'the scope that is left still works')
  assertClientTokenAnswer(t, await tokenWithPost(app, client.clientId, client.clientSecret), 'orders:read', 'a new token has the narrowed scopes')
  const res = await tokenWithPost(app, client.clientId, client.clientSecret, { scope: 'users:read' })
  t.strictSame(res.json(), INVALID_SCOPE, 'a narrowed-away scope cannot be asked for')

  await patch({ scopes: ['orders:read', 'users:read', 'catalogue:write'] })
  t.equal((await client.inject({ method: 'GET', url: '/users' })).statusCode, 200, 'widened back: the token\'s own users:read works again')
  await assertInsufficient(t, await client.inject({ method: 'POST', url: '/categories', payload: { name: 'New' } }), 'catalogue:write',
    'a scope added after the token was issued is not in it')

  const beforeDisable = await tokenWithPost(app, client.clientId, client.clientSecret)
  const beforeDisableToken = beforeDisable.json().access_token
  await patch({ disabled: true })
  await assertTokenEnded(t, app, client.accessToken, 'disabled: the first token')
  await assertTokenEnded(t, app, beforeDisableToken, 'disabled: a later token')
  assertInvalidClient(t, await tokenWithPost(app, client.clientId, client.clientSecret), false, 'disabled: no new token')
  await patch({ disabled: false })
  await assertTokenEnded(t, app, client.accessToken, 're-enabled: a token from before the disable stays dead')
  await assertTokenEnded(t, app, beforeDisableToken, 're-enabled: the later one too')
  const afterEnable = (await tokenWithPost(app, client.clientId, client.clientSecret)).json().access_token
  t.equal((await app.inject({ method: 'GET', url: '/users', headers: bearer(afterEnable) })).statusCode, 200, 're-enabled: a new token works')
  await patch({ disabled: false })
  await patch({ name: 'renamed' })
  t.equal((await app.inject({ method: 'GET', url: '/users', headers: bearer(afterEnable) })).statusCode, 200, 'enabling an enabled client or renaming it ends nothing')

  const rotation = await admin.inject({ method: 'POST', url: `/clients/${client.clientId}/secret` })
  t.equal(rotation.statusCode, 200)
  await assertTokenEnded(t, app, afterEnable, 'rotated: the token from before')
  assertInvalidClient(t, await tokenWithPost(app, client.clientId, client.clientSecret), false, 'rotated: the old secret')
  const afterRotation = (await tokenWithPost(app, client.clientId, rotation.json().client_secret)).json().access_token
  t.equal((await app.inject({ method: 'GET', url: '/users', headers: bearer(afterRotation) })).statusCode, 200, 'rotated: the new secret\'s token works')

  const bystander = await createClient(app, ['users:read'], { admin })
  t.equal((await admin.inject({ method: 'DELETE', url: `/clients/${client.clientId}` })).statusCode, 204)
  await assertTokenEnded(t, app, afterRotation, 'deleted: its token')
  assertInvalidClient(t, await tokenWithPost(app, client.clientId, rotation.json().client_secret), false, 'deleted: its secret')
  t.equal((await bystander.inject({ method: 'GET', url: '/users' })).statusCode, 200, 'another client\'s token is untouched')
})

t.test('throttling: after LOGIN_MAX_FAILURES failed client authentications from an address it waits, right secret or not; a success clears the count', async (t) => {
  const app = await build(t, { LOGIN_MAX_FAILURES: '3', LOGIN_RATE_LIMIT: '100000' })
  const client = await createClient(app, ['users:read'])
  const other = await createClient(app, ['users:read'])
  const fail = async (name: string, extra: Partial<InjectOptions> = {}) =>
    assertInvalidClient(t, await tokenWithPost(app, client.clientId, 'sk_wrong', {}, extra), false, name)

  await fail('failure 1')
  await fail('failure 2')
  assertClientTokenAnswer(t, await tokenWithPost(app, client.clientId, client.clientSecret), 'users:read', 'a success after 2 failures')
  await fail('failure 1 after the success')
  assertInvalidClient(t, await tokenWithBasic(app, basic('svc_00000000000000000000', 'sk_x')), true, 'failure 2 after the success: an unknown client, Basic')
  assertClientTokenAnswer(t, await tokenWithPost(app, client.clientId, client.clientSecret), 'users:read', 'the count was cleared: 2 more failures are not 3')

  await fail('failure 1 of 3')
  assertInvalidClient(t, await tokenWithPost(app, other.clientId, 'sk_wrong'), false, 'failure 2 of 3: another client, the same address')
  await fail('failure 3 of 3')
  for (const [name, res] of [
    ['the right secret, post', await tokenWithPost(app, client.clientId, client.clientSecret)],
    ['the right secret, Basic', await tokenWithBasic(app, basic(client.clientId, client.clientSecret))],
    ['another client\'s right secret', await tokenWithPost(app, other.clientId, other.clientSecret)],
    ['introspection from the address', await app.inject({ method: 'POST', url: '/auth/introspect', payload: { client_id: other.clientId, client_secret: other.clientSecret, token: other.accessToken } })]
  ] as const) {
    t.equal(res.statusCode, 429, `throttled, ${name}: 429`)
    const retryAfter = Number(res.headers['retry-after'])
    t.ok(retryAfter > 14 * 60 && retryAfter <= 15 * 60, `${name}: Retry-After about 15 minutes (${res.headers['retry-after']})`)
    t.strictSame(res.json(), { statusCode: 429, code: 'TOO_MANY_REQUESTS', error: 'Too Many Requests', message: `Too many requests; retry in ${retryAfter} seconds` }, `${name}: body`)
  }
  assertClientTokenAnswer(t, await tokenWithPost(app, client.clientId, client.clientSecret, {}, { remoteAddress: '10.0.0.9' }), 'users:read',
    'another address is not throttled')
  // A person's login from the throttled address is throttled per e-mail, not by the clients' count.
  const user = await createUser(app)
  t.equal((await app.inject({ method: 'POST', url: '/auth/token', payload: { username: user.email, password: user.password } })).statusCode, 200,
    'a password login from the same address')
  t.equal((await client.inject({ method: 'GET', url: '/users' })).statusCode, 200, 'tokens issued before keep working')
})

t.test('throttling: a person\'s failed logins never count as a client address\'s failures (the keys must not collide)', async (t) => {
  const app = await build(t, { LOGIN_MAX_FAILURES: '3', LOGIN_RATE_LIMIT: '100000' })
  const client = await createClient(app, ['users:read'])
  // A stranger elsewhere fails logins with a "username" shaped like the service's throttle key.
  for (let attempt = 1; attempt <= 3; attempt++) {
    const res = await app.inject({
      method: 'POST', url: '/auth/token', remoteAddress: '10.6.6.6', payload: { grant_type: 'password', username: 'client-address:127.0.0.1', password: 'guess' }
    })
    t.equal(res.statusCode, 400, `stranger's failed login ${attempt}: 400`)
  }
  // Contract: failures count per submitted e-mail for logins and per address for clients.
  const res = await tokenWithPost(app, client.clientId, client.clientSecret)
  t.equal(res.statusCode, 200, 'the service at 127.0.0.1, with its right secret and no failure of its own: 200, not throttled')
  t.strictSame(Object.keys(res.json()).sort(), ['access_token', 'expires_in', 'scope', 'token_type'], 'a token answer')
})

// ---- logs ---------------------------------------------------------------------------------

function capture () {
  const lines: string[] = []
  const stream = new Writable({ write (chunk, _encoding, done) { lines.push(String(chunk)); done() } })
  return { stream, text: () => lines.join(''), lines }
}

/** build(), but with a logger: on SQLite or, under TEST_STORE=postgres, a fresh PostgreSQL database. */
async function buildLogged (t: Test, env: Record<string, string>, logger: (config: ReturnType<typeof testConfig>) => FastifyServerOptions['logger']): Promise<App> {
  if (process.env.TEST_STORE === 'postgres') {
    const server = await postgresServer()
    if (!server) throw new Error('TEST_STORE=postgres, but there is no PostgreSQL server')
    const databaseUrl = await server.createDatabase()
    t.teardown(() => server.dropDatabase(databaseUrl))
    env = { ...env, DATABASE_URL: databaseUrl }
  }
  const config = testConfig(tempDir(t), env)
  const app = await buildApp(config, { logger: logger(config) })
  t.teardown(() => app.close())
  await app.ready()
  return app
}

/** Everything a service does with its secret: made, used (Basic, post, introspection, wrong), rotated. */
async function useClientSecrets (t: Test, app: App): Promise<string[]> {
  const admin: TestUser = await createUser(app, { role: 'admin' })
  const created = await admin.inject({ method: 'POST', url: '/clients', payload: { name: 'Logged', scopes: ['users:read'] } })
  t.equal(created.statusCode, 201)
  const { client_id: clientId, client_secret: first } = created.json<{ client_id: string, client_secret: string }>()
  const client: Pick<TestClient, 'clientId' | 'clientSecret'> = { clientId, clientSecret: first }
  t.equal((await tokenWithBasic(app, basic(client.clientId, first))).statusCode, 200, 'Basic')
  t.equal((await tokenWithPost(app, client.clientId, first)).statusCode, 200, 'post, JSON')
  t.equal((await app.inject({ method: 'POST', url: '/auth/token', headers: FORM, payload: formBody({ grant_type: 'client_credentials', client_id: clientId, client_secret: first }) })).statusCode, 200, 'post, form')
  t.equal((await tokenWithPost(app, client.clientId, `${first}x`)).statusCode, 401, 'a wrong secret')
  t.equal((await tokenWithBasic(app, basic(client.clientId, first), { client_secret: first })).statusCode, 400, 'both at once')
  t.equal((await app.inject({ method: 'POST', url: '/auth/introspect', headers: { authorization: basic(clientId, first) }, payload: { token: admin.accessToken } })).statusCode, 200, 'introspection')
  const rotated = await admin.inject({ method: 'POST', url: `/clients/${clientId}/secret` })
  t.equal(rotated.statusCode, 200)
  const second = rotated.json<{ client_secret: string }>().client_secret
  t.equal((await tokenWithPost(app, client.clientId, first)).statusCode, 401, 'the old secret')
  const token = await tokenWithBasic(app, basic(client.clientId, second))
  t.equal(token.statusCode, 200, 'the new secret, Basic')
  t.equal((await app.inject({ method: 'GET', url: '/users', headers: bearer(token.json().access_token) })).statusCode, 200)
  return [first, second, `${first}x`, basic(clientId, first).slice(6), basic(clientId, second).slice(6), token.json().access_token]
}

function assertNoSecrets (t: Test, logged: string, secrets: string[]) {
  for (const secret of secrets) {
    t.notOk(logged.includes(secret), `${secret.slice(0, 6)}… is not in the log`)
    // The random part alone would do, and the token's signature alone.
    const tail = secret.startsWith('sk_') ? secret.slice(3) : secret.split('.')[2]
    if (tail) t.notOk(logged.includes(tail), `the secret part of ${secret.slice(0, 6)}… is not in the log`)
  }
}

t.test('logs never carry a client secret: from POST /clients, from rotation, in a Basic header or in client_secret', async (t) => {
  const captured = capture()
  const app = await buildLogged(t, { LOG_LEVEL: 'info' }, () => ({ level: 'info', stream: captured.stream }))
  const secrets = await useClientSecrets(t, app)
  const logged = captured.text()
  t.ok(captured.lines.filter((line) => line.includes('"incoming request"')).length >= 10, 'the request logs were captured')
  t.match(logged, /"event":"client_created"/, 'client events are logged')
  t.match(logged, /"event":"client_auth_failed"/)
  t.match(logged, /"event":"client_secret_rotated"/)
  assertNoSecrets(t, logged, secrets)
})

t.test('the same at trace level with the service\'s own logger options', async (t) => {
  const captured = capture()
  const app = await buildLogged(t, { LOG_LEVEL: 'trace' }, (config) => ({ ...(loggerOptions(config) as object), stream: captured.stream }))
  const secrets = await useClientSecrets(t, app)
  t.ok(captured.lines.length > 20, 'trace lines were captured')
  assertNoSecrets(t, captured.text(), secrets)
})
