import crypto from 'node:crypto'
import type { InjectOptions, LightMyRequestResponse } from 'fastify'
import t, { type Test } from 'tap'
import { decodeJwt } from 'jose'
import { SCOPE_NAMES } from '../../src/scopes.js'
import { build, createClient, createUser, type App, type TestUser } from '../helper.js'
import { insertProduct, queryRows } from '../commerce-fixtures.js'

// People's tokens under contract v2 ("Scopes and service clients"): the scopes of a login,
// of its refreshes, and what a demotion does to tokens already issued.

const CUSTOMER_SCOPES = 'account cart orders'
const ADMIN_SCOPES = 'account cart orders catalogue:write orders:read orders:write users:read users:write clients:admin'
const FORM = { 'content-type': 'application/x-www-form-urlencoded' }
const INVALID_SCOPE = { error: 'invalid_scope', error_description: 'None of the requested scopes may be granted to this caller' }
const INVALID_CREDENTIALS = { error: 'invalid_grant', error_description: 'Invalid username or password' }
const INVALID_REFRESH = { error: 'invalid_grant', error_description: 'The refresh token is invalid, expired or revoked' }
const insufficientScope = (scopes: string) => ({
  statusCode: 403, code: 'INSUFFICIENT_SCOPE', error: 'Forbidden', message: `This token does not carry the scope this needs: ${scopes}`
})

interface Tokens { access_token: string, refresh_token: string, scope: string }

const passwordGrant = (app: App, user: TestUser, fields: Record<string, string> = {}) => app.inject({
  method: 'POST', url: '/auth/token', payload: { grant_type: 'password', username: user.email, password: user.password, ...fields }
})
const refreshGrant = (app: App, refreshToken: string, fields: Record<string, string> = {}) => app.inject({
  method: 'POST', url: '/auth/token', payload: { grant_type: 'refresh_token', refresh_token: refreshToken, ...fields }
})
const bearer = (token: string) => ({ authorization: `Bearer ${token}` })
const call = (app: App, token: string, options: InjectOptions) => app.inject({ ...options, headers: { ...options.headers, ...bearer(token) } })
const refreshTokenCount = async (app: App) =>
  ((await queryRows(app, 'SELECT CAST(count(*) AS INTEGER) AS n FROM refresh_tokens'))[0] as { n: number }).n

/** A 200 of the password or refresh grant: the five fields, `scope` the granted set, the JWT's claim the same. */
function assertTokens (t: Test, res: LightMyRequestResponse, scope: string, name: string): Tokens {
  t.equal(res.statusCode, 200, `${name}: 200`)
  const body = res.json<Tokens>()
  t.strictSame(body, { access_token: body.access_token, token_type: 'Bearer', expires_in: 900, refresh_token: body.refresh_token, scope },
    `${name}: access_token, token_type, expires_in, refresh_token and scope "${scope}"`)
  t.equal(decodeJwt(body.access_token).scope, scope, `${name}: the JWT's scope claim is the same`)
  return body
}

function assertInsufficient (t: Test, res: LightMyRequestResponse, scopes: string, name: string) {
  t.equal(res.statusCode, 403, `${name}: 403`)
  t.strictSame(res.json(), insufficientScope(scopes), `${name}: INSUFFICIENT_SCOPE`)
  t.equal(res.headers['www-authenticate'], `Bearer error="insufficient_scope", scope="${scopes}"`, `${name}: the challenge`)
}

/** A placed order of the user's, of one new product. */
async function placeOrder (app: App, user: TestUser): Promise<number> {
  const product = await insertProduct(app, { stock: 5 })
  const added = await user.inject({ method: 'POST', url: '/cart/items', payload: { product_id: product.id, quantity: 1 } })
  if (added.statusCode !== 200) throw new Error(`add to cart: ${added.statusCode} ${added.body}`)
  const order = await user.inject({ method: 'POST', url: '/orders', payload: { shipping_address: 'Somewhere 1' } })
  if (order.statusCode !== 201) throw new Error(`checkout: ${order.statusCode} ${order.body}`)
  return order.json<{ id: number }>().id
}

const orderIds = async (app: App, token: string, query = '') => {
  const res = await call(app, token, { method: 'GET', url: `/orders${query}` })
  if (res.statusCode !== 200) throw new Error(`GET /orders${query}: ${res.statusCode} ${res.body}`)
  return res.json<{ items: Array<{ id: number }> }>().items.map((order) => order.id)
}

t.test('the password grant grants everything the role may hold: customer account cart orders, admin all nine in the table\'s order', async (t) => {
  const app = await build(t)
  t.equal(ADMIN_SCOPES, SCOPE_NAMES.join(' '), 'the nine scopes, in SCOPE_NAMES order')
  const customer = await createUser(app)
  const admin = await createUser(app, { role: 'admin' })
  assertTokens(t, await passwordGrant(app, customer), CUSTOMER_SCOPES, 'customer, JSON')
  assertTokens(t, await passwordGrant(app, admin), ADMIN_SCOPES, 'admin, JSON')
  const form = await app.inject({ method: 'POST', url: '/auth/token', headers: FORM, payload: new URLSearchParams({ username: customer.email, password: customer.password }).toString() })
  assertTokens(t, form, CUSTOMER_SCOPES, 'customer, form, no grant_type')
  for (const empty of ['', ' ', '   ']) {
    assertTokens(t, await passwordGrant(app, admin, { scope: empty }), ADMIN_SCOPES, `admin, scope="${empty}" means everything`)
  }
  // The claims besides scope are a person's.
  const claims = decodeJwt(customer.accessToken)
  t.equal(claims.sub, String(customer.id))
  t.equal(claims.role, 'customer')
  t.equal(claims.client_id, 'public')
  t.equal(decodeJwt(admin.accessToken).role, 'admin')
})

t.test('scope narrows the password grant; names the role may not hold are dropped; nothing left → 400 invalid_scope', async (t) => {
  const app = await build(t)
  const customer = await createUser(app)
  const admin = await createUser(app, { role: 'admin' })
  const cases: Array<[TestUser, string, string]> = [
    [admin, 'orders:read users:read', 'orders:read users:read'],
    [admin, 'users:read orders:read', 'orders:read users:read'],
    [admin, 'clients:admin', 'clients:admin'],
    [admin, 'orders bogus', 'orders'],
    [customer, 'users:read orders', 'orders'],
    [customer, 'orders cart  account', CUSTOMER_SCOPES],
    [customer, 'cart clients:admin catalogue:write', 'cart']
  ]
  for (const [user, requested, granted] of cases) {
    assertTokens(t, await passwordGrant(app, user, { scope: requested }), granted, `${user === admin ? 'admin' : 'customer'} asks "${requested}"`)
  }
  const form = await app.inject({
    method: 'POST', url: '/auth/token', headers: FORM, payload: new URLSearchParams({ username: admin.email, password: admin.password, scope: 'users:read users:write' }).toString()
  })
  assertTokens(t, form, 'users:read users:write', 'form, scope with a space encoded as +')

  const before = await refreshTokenCount(app)
  for (const requested of ['users:read', 'clients:admin orders:write', 'bogus', 'ACCOUNT']) {
    const res = await passwordGrant(app, customer, { scope: requested })
    t.equal(res.statusCode, 400, `customer asks "${requested}" with the right password: 400`)
    t.strictSame(res.json(), INVALID_SCOPE, `customer asks "${requested}": invalid_scope`)
    t.equal(res.headers['cache-control'], 'no-store')
  }
  t.equal(await refreshTokenCount(app), before, 'no refresh token was issued for a refused scope')
  const wrong = await passwordGrant(app, { ...customer, password: 'not the password' }, { scope: 'users:read' })
  t.equal(wrong.statusCode, 400)
  t.strictSame(wrong.json(), INVALID_CREDENTIALS, 'with a wrong password it is invalid_grant: the scope says nothing to a stranger')

  // The narrowed tokens do only what they carry.
  const reader = assertTokens(t, await passwordGrant(app, admin, { scope: 'orders:read users:read' }), 'orders:read users:read', 'admin reader')
  t.equal((await call(app, reader.access_token, { method: 'GET', url: '/users' })).statusCode, 200, 'users:read: GET /users')
  assertInsufficient(t, await call(app, reader.access_token, { method: 'GET', url: '/users/me' }), 'account', 'no account: GET /users/me')
  assertInsufficient(t, await call(app, reader.access_token, { method: 'PATCH', url: `/users/${customer.id}`, payload: { full_name: 'x' } }), 'users:write', 'no users:write')
  assertInsufficient(t, await call(app, reader.access_token, { method: 'POST', url: '/products', payload: { name: 'x', price_cents: 1, stock: 1 } }), 'catalogue:write', 'no catalogue:write')
  const shopper = assertTokens(t, await passwordGrant(app, customer, { scope: 'orders' }), 'orders', 'customer orders only')
  t.equal((await call(app, shopper.access_token, { method: 'GET', url: '/orders' })).statusCode, 200, 'orders: GET /orders')
  assertInsufficient(t, await call(app, shopper.access_token, { method: 'GET', url: '/cart' }), 'cart', 'no cart: GET /cart')
  assertInsufficient(t, await call(app, shopper.access_token, { method: 'GET', url: `/users/${customer.id}` }), 'account users:read', 'no account: GET /users/{own id}')
})

t.test('a refresh keeps the login\'s scopes; a scope on the refresh narrows that access token only', async (t) => {
  const app = await build(t)
  const customer = await createUser(app)
  const admin = await createUser(app, { role: 'admin' })

  const login = assertTokens(t, await passwordGrant(app, customer, { scope: 'orders cart' }), 'cart orders', 'login with cart orders')
  const first = assertTokens(t, await refreshGrant(app, login.refresh_token), 'cart orders', 'refresh: the login\'s scopes, not the role\'s')
  assertInsufficient(t, await call(app, first.access_token, { method: 'GET', url: '/users/me' }), 'account', 'the refreshed token has no account either')
  const narrowed = assertTokens(t, await refreshGrant(app, first.refresh_token, { scope: 'cart' }), 'cart', 'refresh with scope=cart')
  assertInsufficient(t, await call(app, narrowed.access_token, { method: 'GET', url: '/orders' }), 'orders orders:read', 'the narrowed token: GET /orders')
  t.equal((await call(app, narrowed.access_token, { method: 'GET', url: '/cart' })).statusCode, 200, 'the narrowed token: GET /cart')
  const back = assertTokens(t, await refreshGrant(app, narrowed.refresh_token), 'cart orders', 'the next refresh, no scope: back to the login\'s')
  t.equal((await call(app, back.access_token, { method: 'GET', url: '/orders' })).statusCode, 200, 'and that token reaches orders again')

  const adminLogin = assertTokens(t, await passwordGrant(app, admin, { scope: 'users:read orders:read' }), 'orders:read users:read', 'admin login, narrowed')
  const adminRefresh = assertTokens(t, await refreshGrant(app, adminLogin.refresh_token), 'orders:read users:read', 'admin refresh keeps the narrowed login')
  const adminNarrowed = assertTokens(t, await refreshGrant(app, adminRefresh.refresh_token, { scope: 'users:read clients:admin' }), 'users:read',
    'admin refresh asking users:read clients:admin: users:read (clients:admin is not the login\'s)')
  assertTokens(t, await refreshGrant(app, adminNarrowed.refresh_token), 'orders:read users:read', 'and back')
})

t.test('a refresh asking beyond the login\'s scopes: 400 invalid_scope, and the refresh token is not used up', async (t) => {
  const app = await build(t)
  const customer = await createUser(app)
  const admin = await createUser(app, { role: 'admin' })

  const login = assertTokens(t, await passwordGrant(app, customer, { scope: 'orders' }), 'orders', 'customer login with orders')
  for (const requested of ['account', 'cart', 'users:read', 'bogus']) {
    const res = await refreshGrant(app, login.refresh_token, { scope: requested })
    t.equal(res.statusCode, 400, `refresh asking "${requested}": 400`)
    t.strictSame(res.json(), INVALID_SCOPE, `refresh asking "${requested}": invalid_scope`)
  }
  // The refusals did not use the token: this refresh succeeds (and uses it).
  const next = assertTokens(t, await refreshGrant(app, login.refresh_token, { scope: 'orders account' }), 'orders', 'asking orders and account: orders, the rest dropped')
  const reused = await refreshGrant(app, login.refresh_token)
  t.equal(reused.statusCode, 400, 'once a refresh succeeded, the token is used')
  t.strictSame(reused.json(), INVALID_REFRESH)
  t.equal((await refreshGrant(app, next.refresh_token)).statusCode, 400, 'and its reuse revoked the family, as before v2')

  const adminLogin = assertTokens(t, await passwordGrant(app, admin, { scope: 'orders:read' }), 'orders:read', 'admin login with orders:read')
  const refused = await refreshGrant(app, adminLogin.refresh_token, { scope: 'users:read' })
  t.strictSame(refused.json(), INVALID_SCOPE, 'an admin\'s refresh may not reach past its login either, though the role could hold it')
  const after = assertTokens(t, await refreshGrant(app, adminLogin.refresh_token), 'orders:read', 'the refused refresh did not use the token up: it refreshes')
  t.equal((await refreshGrant(app, after.refresh_token)).statusCode, 200, 'and its family is intact (no reuse was detected)')
})

t.test('demotion: an admin\'s tokens lose the admin scopes at once, keep a customer\'s; its refresh yields account cart orders', async (t) => {
  const app = await build(t)
  const demoted = await createUser(app, { role: 'admin' })
  const other = await createUser(app, { role: 'admin' })
  const narrowed = assertTokens(t, await passwordGrant(app, demoted, { scope: 'users:read account' }), 'account users:read', 'an admin token narrowed to account users:read')

  t.equal((await demoted.inject({ method: 'GET', url: '/users' })).statusCode, 200, 'before: GET /users 200')
  t.equal((await demoted.inject({ method: 'GET', url: '/clients' })).statusCode, 200, 'before: GET /clients 200')
  const patched = await other.inject({ method: 'PATCH', url: `/users/${demoted.id}`, payload: { role: 'customer' } })
  t.equal(patched.statusCode, 200)
  t.equal(patched.json().role, 'customer')

  assertInsufficient(t, await demoted.inject({ method: 'GET', url: '/users' }), 'users:read', 'after: GET /users')
  assertInsufficient(t, await demoted.inject({ method: 'GET', url: '/clients' }), 'clients:admin', 'after: GET /clients')
  assertInsufficient(t, await demoted.inject({ method: 'PATCH', url: `/users/${other.id}`, payload: { role: 'customer' } }), 'users:write', 'after: PATCH /users/{id}')
  assertInsufficient(t, await demoted.inject({ method: 'POST', url: '/categories', payload: { name: 'x' } }), 'catalogue:write', 'after: POST /categories')
  t.equal((await demoted.inject({ method: 'GET', url: `/users/${other.id}` })).statusCode, 404, 'after: another user is not found (account: self only)')
  const me = await demoted.inject({ method: 'GET', url: '/users/me' })
  t.equal(me.statusCode, 200, 'after: /users/me still 200')
  t.equal(me.json().role, 'customer')
  t.equal((await demoted.inject({ method: 'GET', url: '/cart' })).statusCode, 200, 'after: /cart 200')
  assertInsufficient(t, await call(app, narrowed.access_token, { method: 'GET', url: '/users' }), 'users:read', 'after: the narrowed token loses users:read')
  t.equal((await call(app, narrowed.access_token, { method: 'GET', url: '/users/me' })).statusCode, 200, 'after: and keeps account')

  const refreshed = assertTokens(t, await refreshGrant(app, demoted.refreshToken), CUSTOMER_SCOPES, 'after: the refresh of the admin login')
  t.equal(decodeJwt(refreshed.access_token).role, 'customer', 'and its role claim is customer')
  assertInsufficient(t, await call(app, refreshed.access_token, { method: 'GET', url: '/users' }), 'users:read', 'the refreshed token on GET /users')
  const refusedUp = await refreshGrant(app, refreshed.refresh_token, { scope: 'users:read' })
  t.strictSame(refusedUp.json(), INVALID_SCOPE, 'a refresh may not ask for the lost scopes back')
  assertTokens(t, await passwordGrant(app, demoted), CUSTOMER_SCOPES, 'a new login: a customer\'s scopes')

  // Promoted again, the role may hold them again, and the earlier tokens carry them.
  t.equal((await other.inject({ method: 'PATCH', url: `/users/${demoted.id}`, payload: { role: 'admin' } })).statusCode, 200)
  t.equal((await demoted.inject({ method: 'GET', url: '/users' })).statusCode, 200, 'promoted: the first token has users:read again')
  assertInsufficient(t, await call(app, refreshed.access_token, { method: 'GET', url: '/users' }), 'users:read', 'promoted: a token issued while a customer does not')
})

t.test('an admin token narrowed to orders: 403 on GET /users, only its own orders on GET /orders', async (t) => {
  const app = await build(t)
  const admin = await createUser(app, { role: 'admin' })
  const customer = await createUser(app)
  const customerOrder = await placeOrder(app, customer)
  const adminOrder = await placeOrder(app, admin)
  const ordersOnly = assertTokens(t, await passwordGrant(app, admin, { scope: 'orders' }), 'orders', 'admin asks orders')

  assertInsufficient(t, await call(app, ordersOnly.access_token, { method: 'GET', url: '/users' }), 'users:read', 'GET /users')
  t.strictSame(await orderIds(app, ordersOnly.access_token), [adminOrder], 'GET /orders: only the admin\'s own')
  t.strictSame(await orderIds(app, ordersOnly.access_token, `?user_id=${customer.id}`), [adminOrder], '?user_id= does not reach others\' orders')
  const other = await call(app, ordersOnly.access_token, { method: 'GET', url: `/orders/${customerOrder}` })
  t.equal(other.statusCode, 404, 'GET /orders/{a customer\'s}: 404')
  t.equal(other.json().code, 'ORDER_NOT_FOUND')
  t.equal((await call(app, ordersOnly.access_token, { method: 'POST', url: `/orders/${customerOrder}/cancel` })).statusCode, 404, 'cancel a customer\'s: 404')
  assertInsufficient(t, await call(app, ordersOnly.access_token, { method: 'PATCH', url: `/orders/${adminOrder}`, payload: { status: 'shipped' } }), 'orders:write', 'PATCH its own order')

  // The admin's full token for comparison: everyone's, filterable.
  t.strictSame(await orderIds(app, admin.accessToken), [adminOrder, customerOrder], 'the full admin token: everyone\'s orders')
  t.strictSame(await orderIds(app, admin.accessToken, `?user_id=${customer.id}`), [customerOrder], 'and ?user_id= filters')
  const reader = assertTokens(t, await passwordGrant(app, admin, { scope: 'orders:read' }), 'orders:read', 'admin asks orders:read')
  t.strictSame(await orderIds(app, reader.access_token), [adminOrder, customerOrder], 'orders:read alone: everyone\'s')
  assertInsufficient(t, await call(app, reader.access_token, { method: 'POST', url: '/orders', payload: { shipping_address: 'x' } }), 'orders', 'orders:read alone may not check out')
  t.strictSame(await orderIds(app, customer.accessToken, `?user_id=${admin.id}`), [customerOrder], 'a customer\'s ?user_id= is ignored too')
})

t.test('a token from before v2 (no scope claim) holds everything its holder\'s role may hold, now', async (t) => {
  const app = await build(t)
  const customer = await createUser(app)
  const admin = await createUser(app, { role: 'admin' })
  const operator = await createUser(app, { role: 'admin' })
  const generationOf = async (id: number) => (await app.repos.users.findById(id))!.tokenGeneration
  type Payload = Parameters<App['signAccessToken']>[0]
  const legacy = async (user: TestUser, role: 'customer' | 'admin') => {
    const token = app.signAccessToken({ sub: String(user.id), client_id: 'public', role, gen: await generationOf(user.id), jti: crypto.randomUUID() } as unknown as Payload)
    t.notOk('scope' in decodeJwt(token), 'the token has no scope claim')
    return token
  }
  const customerToken = await legacy(customer, 'customer')
  const adminToken = await legacy(admin, 'admin')

  for (const url of ['/users/me', '/cart', '/orders']) {
    t.equal((await call(app, customerToken, { method: 'GET', url })).statusCode, 200, `customer's legacy token: GET ${url}`)
    t.equal((await call(app, adminToken, { method: 'GET', url })).statusCode, 200, `admin's legacy token: GET ${url}`)
  }
  for (const url of ['/users', '/clients']) {
    t.equal((await call(app, adminToken, { method: 'GET', url })).statusCode, 200, `admin's legacy token: GET ${url}`)
  }
  assertInsufficient(t, await call(app, customerToken, { method: 'GET', url: '/users' }), 'users:read', 'customer\'s legacy token: GET /users')
  assertInsufficient(t, await call(app, customerToken, { method: 'GET', url: '/clients' }), 'clients:admin', 'customer\'s legacy token: GET /clients')
  // The role claim is not what counts: the user's role now is.
  const claimsAdmin = await legacy(customer, 'admin')
  assertInsufficient(t, await call(app, claimsAdmin, { method: 'GET', url: '/users' }), 'users:read', 'a customer\'s legacy token claiming role admin')

  t.equal((await operator.inject({ method: 'PATCH', url: `/users/${admin.id}`, payload: { role: 'customer' } })).statusCode, 200)
  assertInsufficient(t, await call(app, adminToken, { method: 'GET', url: '/users' }), 'users:read', 'demoted: the legacy admin token on GET /users')
  t.equal((await call(app, adminToken, { method: 'GET', url: '/users/me' })).statusCode, 200, 'demoted: /users/me still works')

  // A refresh token of a login from before v2 (no stored scope) likewise.
  const rows = await queryRows(app, `UPDATE refresh_tokens SET scope = NULL WHERE user_id = ${operator.id} RETURNING id`)
  t.equal(rows.length, 1, 'the operator\'s login now looks like one from before v2')
  const refreshed = assertTokens(t, await refreshGrant(app, operator.refreshToken), ADMIN_SCOPES, 'a pre-v2 refresh token of an admin: everything an admin may hold')
  assertTokens(t, await refreshGrant(app, refreshed.refresh_token, { scope: 'users:read' }), 'users:read', 'and it may be narrowed')

  // A client's token always carries its scopes: one without is not ours.
  const client = await createClient(app, ['users:read'], { admin: operator })
  const clientRow = (await app.repos.clients.findById(client.clientId))!
  const scopeless = app.signAccessToken({ sub: client.clientId, client_id: client.clientId, gen: clientRow.tokenGeneration, jti: crypto.randomUUID() } as unknown as Payload)
  const res = await call(app, scopeless, { method: 'GET', url: '/users' })
  t.equal(res.statusCode, 401, 'a client token without a scope claim: 401')
  t.equal(res.json().code, 'INVALID_TOKEN')
})
