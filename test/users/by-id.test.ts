import t from 'tap'
import type { HTTPMethods } from 'fastify'
import { build, createUser, login, asUser, type App, type TestUser, sqliteOf } from '../helper.js'

// /users/{id}: GET and DELETE for self or admin (anyone else: the 404 of a missing
// user), PATCH for admins only.

const errorBody = (statusCode: number, code: string, error: string, message: string) => ({ statusCode, code, error, message })
const USER_NOT_FOUND = errorBody(404, 'USER_NOT_FOUND', 'Not Found', 'User not found')
const needs = (scope: string) => errorBody(403, 'INSUFFICIENT_SCOPE', 'Forbidden', `This token does not carry the scope this needs: ${scope}`)
const FORBIDDEN = needs('users:write')
const INVALID_TOKEN = errorBody(401, 'INVALID_TOKEN', 'Unauthorized', 'The access token is invalid or expired')
const MISSING_ID = 999_999

const viewOf = async (admin: TestUser, id: number) => (await admin.inject({ method: 'GET', url: `/users/${id}` })).json()
const passwordLogin = (app: App, user: TestUser) =>
  app.inject({ method: 'POST', url: '/auth/token', payload: { grant_type: 'password', username: user.email, password: user.password } })

async function cast (app: App) {
  return {
    admin: await createUser(app, { role: 'admin' }),
    ann: await createUser(app, { fullName: 'Ann' }),
    bob: await createUser(app, { fullName: 'Bob' })
  }
}

t.test('GET /users/{id}: self and admin see the user; another customer gets the 404 of a missing id', async (t) => {
  const app = await build(t)
  const { admin, ann, bob } = await cast(app)
  const self = await ann.inject({ method: 'GET', url: `/users/${ann.id}` })
  t.equal(self.statusCode, 200)
  t.same(self.json(), (await ann.inject({ method: 'GET', url: '/users/me' })).json(), 'the same as /users/me')
  t.same(self.json(), { id: ann.id, email: ann.email, full_name: 'Ann', role: 'customer', disabled: false, created_at: self.json().created_at })

  const byAdmin = await admin.inject({ method: 'GET', url: `/users/${bob.id}` })
  t.equal(byAdmin.statusCode, 200)
  t.same(byAdmin.json(), (await bob.inject({ method: 'GET', url: '/users/me' })).json())

  const foreign = await bob.inject({ method: 'GET', url: `/users/${ann.id}` })
  const missingForBob = await bob.inject({ method: 'GET', url: `/users/${MISSING_ID}` })
  const missingForAdmin = await admin.inject({ method: 'GET', url: `/users/${MISSING_ID}` })
  for (const [name, res] of [['another customer', foreign], ['a missing id (customer)', missingForBob], ['a missing id (admin)', missingForAdmin]] as const) {
    t.equal(res.statusCode, 404, name)
    t.same(res.json(), USER_NOT_FOUND, name)
  }
  t.equal(foreign.body, missingForBob.body, 'byte for byte the same answer: no existence leak')
  t.equal((await bob.inject({ method: 'GET', url: `/users/${admin.id}` })).body, missingForBob.body, 'an admin is no exception')
})

t.test('malformed ids are 400 (out of range at most 404), never 500, for every method', async (t) => {
  const app = await build(t)
  const { admin, ann } = await cast(app)
  const ids = ['0', '-1', '1.5', 'abc', '01', '1e3', '0x1', '+1', '%20' + '1', '99999999999999999999', '9'.repeat(16)]
  const methods: HTTPMethods[] = ['GET', 'PATCH', 'DELETE']
  for (const method of methods) {
    for (const id of ids) {
      const res = await admin.inject({ method, url: `/users/${id}`, ...(method === 'PATCH' ? { payload: { full_name: 'X' } } : {}) })
      t.equal(res.statusCode, 400, `${method} /users/${id}`)
      t.same(res.json(), errorBody(400, 'VALIDATION_ERROR', 'Bad Request', 'params/id must match pattern "^[1-9][0-9]{0,14}$"'), `${method} /users/${id}`)
    }
    // The largest id the pattern allows is a safe integer that is simply not there.
    const largest = await admin.inject({ method, url: '/users/999999999999999', ...(method === 'PATCH' ? { payload: { full_name: 'X' } } : {}) })
    t.same([largest.statusCode, largest.json()], [404, USER_NOT_FOUND], `${method} /users/999999999999999`)
  }
  t.equal((await ann.inject({ method: 'GET', url: '/users/me' })).statusCode, 200, 'nobody was touched')
  t.same((await admin.inject({ method: 'GET', url: '/users' })).json().items.length, 3)
})

t.test('PATCH /users/{id} (admin): name, role and disabled flag', async (t) => {
  const app = await build(t)
  const { admin, ann, bob } = await cast(app)
  const original = await viewOf(admin, ann.id)

  const renamed = await admin.inject({ method: 'PATCH', url: `/users/${ann.id}`, payload: { full_name: 'Ann Smith' } })
  t.equal(renamed.statusCode, 200)
  t.same(renamed.json(), { ...original, full_name: 'Ann Smith' })
  const cleared = await admin.inject({ method: 'PATCH', url: `/users/${ann.id}`, payload: { full_name: null } })
  t.same(cleared.json(), { ...original, full_name: null })

  const promoted = await admin.inject({ method: 'PATCH', url: `/users/${ann.id}`, payload: { role: 'admin' } })
  t.equal(promoted.statusCode, 200)
  t.same(promoted.json(), { ...original, full_name: null, role: 'admin' }, 'only the role changed')
  // A token carries the scopes of its login: promotion needs a new login, demotion applies at once.
  t.same((await ann.inject({ method: 'GET', url: '/users' })).json(), needs('users:read'), 'the token she holds keeps a customer\'s scopes')
  const promotedLogin = asUser(app, (await login(app, ann.email, ann.password)).access_token)
  t.equal((await promotedLogin({ method: 'GET', url: '/users' })).statusCode, 200, 'a new login gets an admin\'s scopes')

  const demoted = await admin.inject({ method: 'PATCH', url: `/users/${ann.id}`, payload: { role: 'customer' } })
  t.same(demoted.json(), { ...original, full_name: null })
  t.same((await promotedLogin({ method: 'GET', url: '/users' })).json(), needs('users:read'), 'the demotion applies to the admin token at once')

  const all = await admin.inject({ method: 'PATCH', url: `/users/${bob.id}`, payload: { full_name: 'Robert', role: 'admin', disabled: false } })
  t.same(all.json(), { ...(await viewOf(admin, bob.id)), full_name: 'Robert', role: 'admin', disabled: false })
  t.equal((await bob.inject({ method: 'GET', url: '/users/me' })).statusCode, 200, 'disabled: false on an enabled user ends nothing')

  const nothing = await admin.inject({ method: 'PATCH', url: `/users/${bob.id}`, payload: {} })
  t.equal(nothing.statusCode, 200, 'an empty change is a read')
  t.same(nothing.json(), await viewOf(admin, bob.id))
})

t.test('PATCH /users/{id} disabled: true ends every token of that user at once; enabling lets them log in again', async (t) => {
  const app = await build(t)
  const { admin, ann, bob } = await cast(app)
  const annSecond = await login(app, ann.email, ann.password)

  const disabled = await admin.inject({ method: 'PATCH', url: `/users/${ann.id}`, payload: { disabled: true } })
  t.equal(disabled.statusCode, 200)
  t.same(disabled.json(), { ...(await viewOf(admin, ann.id)), disabled: true })

  const next = await ann.inject({ method: 'GET', url: '/users/me' })
  t.equal(next.statusCode, 401, 'the very next request')
  t.same(next.json(), INVALID_TOKEN)
  t.match(next.headers['www-authenticate'], /^Bearer error="invalid_token"/)
  const refreshed = await app.inject({ method: 'POST', url: '/auth/token', payload: { grant_type: 'refresh_token', refresh_token: annSecond.refresh_token } })
  t.equal(refreshed.json().error, 'invalid_grant', 'refresh tokens end too')
  t.same((await passwordLogin(app, ann)).json(), { error: 'invalid_grant', error_description: 'Invalid username or password' }, 'a disabled user cannot log in')
  t.equal((await bob.inject({ method: 'GET', url: '/users/me' })).statusCode, 200, 'other users are unaffected')

  const enabled = await admin.inject({ method: 'PATCH', url: `/users/${ann.id}`, payload: { disabled: false } })
  t.equal(enabled.json().disabled, false)
  t.equal((await ann.inject({ method: 'GET', url: '/users/me' })).statusCode, 401, 'old tokens stay dead after re-enabling')
  t.equal((await passwordLogin(app, ann)).statusCode, 200, 'the password logs in again')
})

t.test('PATCH /users/{id} refusals change nothing', async (t) => {
  const app = await build(t)
  const { admin, ann, bob } = await cast(app)
  const before = await viewOf(admin, ann.id)

  const byCustomer = await bob.inject({ method: 'PATCH', url: `/users/${ann.id}`, payload: { disabled: true } })
  t.same([byCustomer.statusCode, byCustomer.json()], [403, FORBIDDEN], 'a customer on someone else')
  const selfPromotion = await bob.inject({ method: 'PATCH', url: `/users/${bob.id}`, payload: { role: 'admin' } })
  t.same([selfPromotion.statusCode, selfPromotion.json()], [403, FORBIDDEN], 'a customer on themselves')
  t.equal((await viewOf(admin, bob.id)).role, 'customer')

  const refused: Array<[Record<string, unknown>, string]> = [
    [{ nickname: 'x' }, 'body must NOT have additional properties'],
    [{ full_name: 'X', email: 'taken@example.test' }, 'body must NOT have additional properties'],
    [{ role: 'root' }, 'body/role must be equal to constant, body/role must be equal to constant, body/role must match a schema in anyOf'],
    [{ disabled: 'true' }, 'body/disabled must be boolean'],
    [{ disabled: 1 }, 'body/disabled must be boolean']
  ]
  for (const [payload, message] of refused) {
    const res = await admin.inject({ method: 'PATCH', url: `/users/${ann.id}`, payload })
    t.equal(res.statusCode, 400, JSON.stringify(payload))
    t.same(res.json(), errorBody(400, 'VALIDATION_ERROR', 'Bad Request', message), JSON.stringify(payload))
  }
  t.same(await viewOf(admin, ann.id), before, 'Ann is unchanged')
  t.equal((await ann.inject({ method: 'GET', url: '/users/me' })).statusCode, 200, 'and still signed in')

  const missing = await admin.inject({ method: 'PATCH', url: `/users/${MISSING_ID}`, payload: { disabled: true } })
  t.same([missing.statusCode, missing.json()], [404, USER_NOT_FOUND])
  t.equal((await admin.inject({ method: 'GET', url: '/users' })).json().items.length, 3, 'a PATCH never creates')
})

t.test('DELETE /users/{id}: self or admin; anyone else gets 404 and the user stays', async (t) => {
  const app = await build(t)
  const { admin, ann, bob } = await cast(app)
  const carl = await createUser(app)

  const foreign = await bob.inject({ method: 'DELETE', url: `/users/${ann.id}` })
  t.same([foreign.statusCode, foreign.json()], [404, USER_NOT_FOUND])
  t.equal(foreign.body, (await bob.inject({ method: 'DELETE', url: `/users/${MISSING_ID}` })).body, 'the same answer as a missing id')
  t.equal((await bob.inject({ method: 'DELETE', url: `/users/${admin.id}` })).statusCode, 404, 'an admin is no exception')
  t.equal((await ann.inject({ method: 'GET', url: '/users/me' })).statusCode, 200, 'Ann still exists and is signed in')
  t.equal((await passwordLogin(app, ann)).statusCode, 200)
  t.equal((await admin.inject({ method: 'GET', url: '/users/me' })).statusCode, 200)

  const self = await ann.inject({ method: 'DELETE', url: `/users/${ann.id}` })
  t.equal(self.statusCode, 204, 'self')
  t.equal(self.body, '')
  t.equal((await ann.inject({ method: 'GET', url: '/users/me' })).statusCode, 401, 'her token ends with her')
  t.same(await viewOf(admin, ann.id), USER_NOT_FOUND)

  const byAdmin = await admin.inject({ method: 'DELETE', url: `/users/${carl.id}` })
  t.equal(byAdmin.statusCode, 204, 'admin')
  t.equal(byAdmin.body, '')
  t.equal((await carl.inject({ method: 'GET', url: '/users/me' })).statusCode, 401)
  t.equal((await passwordLogin(app, carl)).json().error, 'invalid_grant')
  t.same(await viewOf(admin, carl.id), USER_NOT_FOUND)
  t.same([(await admin.inject({ method: 'DELETE', url: `/users/${carl.id}` })).statusCode], [404], 'twice: 404')

  t.same((await admin.inject({ method: 'GET', url: '/users' })).json().items.map((user: { id: number }) => user.id), [admin.id, bob.id])
})

t.test('deleting a user with orders, a cart and sessions takes all of it along', async (t) => {
  const app = await build(t)
  const { admin, ann, bob } = await cast(app)
  const product = sqliteOf(app).prepare('INSERT INTO products (name, description, price_cents, stock, created_at) VALUES (?, ?, ?, ?, ?)')
    .run('Mug', '', 900, 10, new Date().toISOString())
  const productId = Number(product.lastInsertRowid)
  for (const user of [ann, bob]) {
    t.equal((await user.inject({ method: 'POST', url: '/cart/items', payload: { product_id: productId, quantity: 1 } })).statusCode, 200)
    t.equal((await user.inject({ method: 'POST', url: '/orders', payload: { shipping_address: 'Road 1' } })).statusCode, 201)
    t.equal((await user.inject({ method: 'POST', url: '/cart/items', payload: { product_id: productId, quantity: 1 } })).statusCode, 200)
  }
  const rows = (table: string, userId: number) =>
    (sqliteOf(app).prepare(`SELECT count(*) AS n FROM ${table} WHERE user_id = ?`).get(userId) as { n: number }).n

  t.equal((await admin.inject({ method: 'DELETE', url: `/users/${ann.id}` })).statusCode, 204)
  for (const table of ['orders', 'cart_items', 'refresh_tokens']) {
    t.equal(rows(table, ann.id), 0, `Ann's ${table} are gone`)
    t.ok(rows(table, bob.id) > 0, `Bob's ${table} stay`)
  }
  t.equal((await bob.inject({ method: 'GET', url: '/orders' })).json().items.length, 1)
})
