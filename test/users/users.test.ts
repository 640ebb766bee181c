import type { InjectOptions } from 'fastify'
import t from 'tap'
import { build, createUser, login, tempDir, DEFAULT_PASSWORD } from '../helper.js'

const errorBody = (statusCode: number, code: string, error: string, message: string) => ({ statusCode, code, error, message })

t.test('POST /users registers, normalises the e-mail and never shows a hash', async (t) => {
  const app = await build(t)
  const res = await app.inject({ method: 'POST', url: '/users', payload: { email: '  Ann@Example.TEST ', password: DEFAULT_PASSWORD, full_name: 'Ann Smith' } })
  t.equal(res.statusCode, 400, 'surrounding blanks are not an e-mail')

  const ok = await app.inject({ method: 'POST', url: '/users', payload: { email: 'Ann@Example.TEST', password: DEFAULT_PASSWORD, full_name: 'Ann Smith' } })
  t.equal(ok.statusCode, 201)
  const user = ok.json()
  t.same(user, { id: user.id, email: 'ann@example.test', full_name: 'Ann Smith', role: 'customer', disabled: false, created_at: user.created_at })
  t.match(user.created_at, /^\d{4}-\d\d-\d\dT/)
  t.notMatch(ok.body, /argon2|hash/i)

  const taken = await app.inject({ method: 'POST', url: '/users', payload: { email: 'ANN@example.test', password: DEFAULT_PASSWORD } })
  t.equal(taken.statusCode, 409)
  t.same(taken.json(), errorBody(409, 'EMAIL_TAKEN', 'Conflict', 'An account with this e-mail already exists'))

  for (const length of [8, 256]) {
    const edge = await app.inject({ method: 'POST', url: '/users', payload: { email: `len${length}@example.test`, password: 'x7'.repeat(length / 2) } })
    t.equal(edge.statusCode, 201, `a password of ${length} characters is accepted`)
  }
})

t.test('POST /users rejects bad input with 4xx and creates nothing', async (t) => {
  const app = await build(t)
  const admin = await createUser(app, { role: 'admin' })
  const email = 'bad@example.test'
  const cases: Array<[string, InjectOptions, number, string]> = [
    ['7-character password', { method: 'POST', url: '/users', payload: { email, password: 'x'.repeat(7) } }, 400, 'VALIDATION_ERROR'],
    ['257-character password', { method: 'POST', url: '/users', payload: { email, password: 'x'.repeat(257) } }, 400, 'VALIDATION_ERROR'],
    ['common password', { method: 'POST', url: '/users', payload: { email, password: 'password1' } }, 400, 'PASSWORD_TOO_COMMON'],
    ['bad e-mail', { method: 'POST', url: '/users', payload: { email: 'not-an-email', password: DEFAULT_PASSWORD } }, 400, 'VALIDATION_ERROR'],
    ['unknown field', { method: 'POST', url: '/users', payload: { email, password: DEFAULT_PASSWORD, role: 'admin' } }, 400, 'VALIDATION_ERROR'],
    ['full_name as a number', { method: 'POST', url: '/users', payload: { email, password: DEFAULT_PASSWORD, full_name: 5 } }, 400, 'VALIDATION_ERROR'],
    ['text/plain', { method: 'POST', url: '/users', headers: { 'content-type': 'text/plain' }, payload: 'hello' }, 415, 'UNSUPPORTED_MEDIA_TYPE'],
    ['malformed JSON', { method: 'POST', url: '/users', headers: { 'content-type': 'application/json' }, payload: '{"email":' }, 400, 'INVALID_JSON'],
    ['__proto__ key', { method: 'POST', url: '/users', headers: { 'content-type': 'application/json' }, payload: `{"email":"${email}","password":"${DEFAULT_PASSWORD}","__proto__":{"polluted":true}}` }, 400, 'INVALID_JSON'],
    ['oversized body', { method: 'POST', url: '/users', payload: { email, password: DEFAULT_PASSWORD, full_name: 'x'.repeat(70_000) } }, 413, 'PAYLOAD_TOO_LARGE']
  ]
  for (const [name, request, status, code] of cases) {
    const res = await app.inject(request)
    t.equal(res.statusCode, status, name)
    t.same(Object.keys(res.json()).sort(), ['code', 'error', 'message', 'statusCode'], `${name}: standard error body`)
    t.equal(res.json().code, code, name)
  }
  t.equal(({} as Record<string, unknown>).polluted, undefined, 'Object.prototype is not polluted')
  const listed = await admin.inject({ method: 'GET', url: `/users?email=${email}` })
  t.same(listed.json().items, [], 'no user was created')
})

t.test('the caller: GET, PATCH, password change, sign-out everywhere, delete', async (t) => {
  const app = await build(t)
  const user = await createUser(app, { fullName: 'Ann' })
  const me = await user.inject({ method: 'GET', url: '/users/me' })
  t.equal(me.statusCode, 200)
  t.match(me.json(), { id: user.id, email: user.email, full_name: 'Ann', role: 'customer', disabled: false })

  const renamed = await user.inject({ method: 'PATCH', url: '/users/me', payload: { full_name: 'Ann Smith' } })
  t.equal(renamed.statusCode, 200)
  t.equal(renamed.json().full_name, 'Ann Smith')
  t.equal((await user.inject({ method: 'PATCH', url: '/users/me', payload: { full_name: null } })).json().full_name, null)
  t.equal((await user.inject({ method: 'PATCH', url: '/users/me', payload: { role: 'admin' } })).statusCode, 400, 'no self-promotion')
  t.equal((await user.inject({ method: 'PATCH', url: '/users/me', payload: {} })).statusCode, 400)

  const wrong = await user.inject({ method: 'PUT', url: '/users/me/password', payload: { current_password: 'nope nope', new_password: 'a new passphrase' } })
  t.equal(wrong.statusCode, 400)
  t.same(wrong.json(), errorBody(400, 'WRONG_PASSWORD', 'Bad Request', 'The current password is wrong'))
  t.equal((await user.inject({ method: 'PUT', url: '/users/me/password', payload: { current_password: user.password, new_password: 'short' } })).statusCode, 400)
  t.equal((await user.inject({ method: 'PUT', url: '/users/me/password', payload: { current_password: user.password, new_password: 'qwertyuiop' } })).json().code, 'PASSWORD_TOO_COMMON')
  await t.resolves(login(app, user.email, user.password), 'refused changes leave the password as it was')

  const fresh = await login(app, user.email)
  const signOut = await app.inject({ method: 'DELETE', url: '/users/me/sessions', headers: { authorization: `Bearer ${fresh.access_token}` } })
  t.equal(signOut.statusCode, 204)
  t.equal(signOut.body, '')

  const again = await login(app, user.email)
  const del = await app.inject({ method: 'DELETE', url: '/users/me', headers: { authorization: `Bearer ${again.access_token}` } })
  t.equal(del.statusCode, 204)
  t.equal((await app.inject({ method: 'GET', url: '/users/me', headers: { authorization: `Bearer ${again.access_token}` } })).statusCode, 401)
  const gone = await app.inject({ method: 'POST', url: '/auth/token', payload: { username: user.email, password: user.password } })
  t.equal(gone.json().error, 'invalid_grant')
})

t.test('GET /users (admin): filter, pagination, walk while users come and go', async (t) => {
  const app = await build(t)
  const admin = await createUser(app, { role: 'admin' })
  const customer = await createUser(app)
  const made = [admin.id, customer.id]
  for (let i = 0; i < 5; i++) made.push((await createUser(app)).id)

  const filtered = await admin.inject({ method: 'GET', url: `/users?email=${encodeURIComponent(customer.email.toUpperCase())}` })
  t.same(filtered.json().items.map((user: { id: number }) => user.id), [customer.id])
  t.equal(filtered.json().next_cursor, null)

  const seen: number[] = []
  let cursor: string | null = null
  let round = 0
  do {
    const page: { items: Array<{ id: number }>, next_cursor: string | null } = (await admin.inject({ method: 'GET', url: `/users?limit=2${cursor ? `&cursor=${cursor}` : ''}` })).json()
    seen.push(...page.items.map((user: { id: number }) => user.id))
    cursor = page.next_cursor
    // Churn during the walk: a new user appears, and a user not yet seen (the newest) goes.
    if (round++ === 1) {
      await createUser(app)
      const newest = made.pop() as number
      await admin.inject({ method: 'DELETE', url: `/users/${newest}` })
    }
  } while (cursor)
  t.ok(made.every((id) => seen.filter((s) => s === id).length === 1), 'every user that existed throughout was seen exactly once')
  t.equal(new Set(seen).size, seen.length, 'no duplicates')

  for (const url of ['/users?limit=0', '/users?limit=101', '/users?limit=abc', '/users?cursor=garbage', '/users?unknown=1']) {
    t.equal((await admin.inject({ method: 'GET', url })).statusCode, 400, url)
  }
  t.equal((await admin.inject({ method: 'GET', url: '/users?cursor=garbage' })).json().code, 'INVALID_CURSOR')
  const forbidden = await customer.inject({ method: 'GET', url: '/users' })
  t.equal(forbidden.statusCode, 403)
  t.same(forbidden.json(), errorBody(403, 'FORBIDDEN', 'Forbidden', 'Your role may not do this'))
  t.equal((await app.inject({ method: 'GET', url: '/users' })).statusCode, 401)
})

t.test('/users/{id}: self or admin; anyone else gets the same 404 as a missing user', async (t) => {
  const app = await build(t)
  const admin = await createUser(app, { role: 'admin' })
  const ann = await createUser(app)
  const bob = await createUser(app)

  t.equal((await ann.inject({ method: 'GET', url: `/users/${ann.id}` })).statusCode, 200)
  t.equal((await admin.inject({ method: 'GET', url: `/users/${ann.id}` })).json().email, ann.email)
  const foreign = await bob.inject({ method: 'GET', url: `/users/${ann.id}` })
  const missing = await admin.inject({ method: 'GET', url: '/users/99999' })
  t.equal(foreign.statusCode, 404)
  t.same(foreign.json(), missing.json())
  t.same(foreign.json(), errorBody(404, 'USER_NOT_FOUND', 'Not Found', 'User not found'))
  for (const id of ['0', '-1', '1.5', 'abc', '01', '99999999999999999999']) {
    const res = await admin.inject({ method: 'GET', url: `/users/${id}` })
    t.equal(res.statusCode, 400, `id ${id}`)
  }

  const bobDeletesAnn = await bob.inject({ method: 'DELETE', url: `/users/${ann.id}` })
  t.equal(bobDeletesAnn.statusCode, 404)
  t.equal((await ann.inject({ method: 'GET', url: '/users/me' })).statusCode, 200, 'Ann is still there')
  t.equal((await bob.inject({ method: 'PATCH', url: `/users/${ann.id}`, payload: { role: 'admin' } })).statusCode, 403)

  const promoted = await admin.inject({ method: 'PATCH', url: `/users/${ann.id}`, payload: { full_name: 'Ann', role: 'admin' } })
  t.equal(promoted.statusCode, 200)
  t.match(promoted.json(), { full_name: 'Ann', role: 'admin' })
  t.equal((await ann.inject({ method: 'GET', url: '/users' })).statusCode, 200, 'the role applies at once')
  t.equal((await admin.inject({ method: 'PATCH', url: `/users/${ann.id}`, payload: { nickname: 'x' } })).statusCode, 400)
  t.equal((await admin.inject({ method: 'PATCH', url: '/users/99999', payload: { disabled: true } })).statusCode, 404)

  const disabled = await admin.inject({ method: 'PATCH', url: `/users/${bob.id}`, payload: { disabled: true } })
  t.equal(disabled.json().disabled, true)
  t.equal((await bob.inject({ method: 'GET', url: '/users/me' })).statusCode, 401, 'disabling ends the session at once')

  t.equal((await admin.inject({ method: 'DELETE', url: `/users/${bob.id}` })).statusCode, 204)
  t.equal((await ann.inject({ method: 'DELETE', url: `/users/${ann.id}` })).statusCode, 204, 'self-delete by id')
})

t.test('ADMIN_EMAIL/ADMIN_PASSWORD create an admin, or promote the account keeping its password', async (t) => {
  const app = await build(t, { ADMIN_EMAIL: 'Boss@Example.test', ADMIN_PASSWORD: 'the admin passphrase' })
  const tokens = await login(app, 'boss@example.test', 'the admin passphrase')
  const list = await app.inject({ method: 'GET', url: '/users', headers: { authorization: `Bearer ${tokens.access_token}` } })
  t.equal(list.statusCode, 200)

  const dataDir = tempDir(t)
  const first = await build(t, {}, dataDir)
  await createUser(first, { email: 'owner@example.test', password: 'the original passphrase' })
  await first.close()
  const second = await build(t, { ADMIN_EMAIL: 'owner@example.test', ADMIN_PASSWORD: 'a different passphrase' }, dataDir)
  const owner = await login(second, 'owner@example.test', 'the original passphrase')
  const me = await second.inject({ method: 'GET', url: '/users/me', headers: { authorization: `Bearer ${owner.access_token}` } })
  t.equal(me.json().role, 'admin', 'promoted, old password kept')
})
