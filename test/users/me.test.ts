import t, { type Test } from 'tap'
import type { LightMyRequestResponse } from 'fastify'
import { build, createUser, login, asUser, type App, type TestUser } from '../helper.js'

// The caller's own account: GET/PATCH /users/me, PUT /users/me/password,
// DELETE /users/me/sessions, DELETE /users/me.

const errorBody = (statusCode: number, code: string, error: string, message: string) => ({ statusCode, code, error, message })
const INVALID_TOKEN = errorBody(401, 'INVALID_TOKEN', 'Unauthorized', 'The access token is invalid or expired')
const UNAUTHORIZED = errorBody(401, 'UNAUTHORIZED', 'Unauthorized', 'A valid access token is required')

const me = (user: TestUser) => user.inject({ method: 'GET', url: '/users/me' })
const refresh = (app: App, refreshToken: string) =>
  app.inject({ method: 'POST', url: '/auth/token', payload: { grant_type: 'refresh_token', refresh_token: refreshToken } })
const passwordLogin = (app: App, email: string, password: string) =>
  app.inject({ method: 'POST', url: '/auth/token', payload: { grant_type: 'password', username: email, password } })

/** A second, independent session of the same account (another device). */
async function secondSession (app: App, user: TestUser) {
  const tokens = await login(app, user.email, user.password)
  return { ...tokens, inject: asUser(app, tokens.access_token) }
}

function assertTokenDead (t: Test, res: LightMyRequestResponse, name: string) {
  t.equal(res.statusCode, 401, `${name}: 401`)
  t.same(res.json(), INVALID_TOKEN, `${name}: invalid token body`)
  t.match(res.headers['www-authenticate'], /^Bearer error="invalid_token"/, `${name}: RFC 6750 challenge`)
}

t.test('GET /users/me: exactly the caller', async (t) => {
  const app = await build(t)
  const ann = await createUser(app, { email: 'Ann@Example.test', fullName: 'Ann' })
  await createUser(app)
  const res = await me(ann)
  t.equal(res.statusCode, 200)
  const body = res.json()
  t.same(body, { id: ann.id, email: 'ann@example.test', full_name: 'Ann', role: 'customer', disabled: false, created_at: body.created_at })
  t.match(body.created_at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/)

  const anonymous = await app.inject({ method: 'GET', url: '/users/me' })
  t.equal(anonymous.statusCode, 401)
  t.same(anonymous.json(), UNAUTHORIZED)
  t.equal(anonymous.headers['www-authenticate'], 'Bearer')
})

t.test('PATCH /users/me changes the name only, also to null', async (t) => {
  const app = await build(t)
  const ann = await createUser(app, { fullName: 'Ann' })
  const original = (await me(ann)).json()

  const renamed = await ann.inject({ method: 'PATCH', url: '/users/me', payload: { full_name: 'Ann Smith' } })
  t.equal(renamed.statusCode, 200)
  t.same(renamed.json(), { ...original, full_name: 'Ann Smith' })
  t.same((await me(ann)).json(), { ...original, full_name: 'Ann Smith' }, 'stored')

  const cleared = await ann.inject({ method: 'PATCH', url: '/users/me', payload: { full_name: null } })
  t.equal(cleared.statusCode, 200)
  t.same(cleared.json(), { ...original, full_name: null })
  t.same((await me(ann)).json(), { ...original, full_name: null }, 'stored')

  const refused: Array<[string, unknown, string]> = [
    ['no field', {}, 'body must have required property \'full_name\''],
    ['self-promotion', { full_name: 'Ann', role: 'admin' }, 'body must NOT have additional properties'],
    ['another e-mail', { full_name: 'Ann', email: 'mallory@example.test' }, 'body must NOT have additional properties'],
    ['self-enabling flag', { full_name: 'Ann', disabled: false }, 'body must NOT have additional properties'],
    ['a number', { full_name: 5 }, 'body/full_name must be string, body/full_name must be null, body/full_name must match a schema in anyOf'],
    ['an empty name', { full_name: '' }, 'body/full_name must NOT have fewer than 1 characters, body/full_name must be null, body/full_name must match a schema in anyOf'],
    ['201 characters', { full_name: 'x'.repeat(201) }, 'body/full_name must NOT have more than 200 characters, body/full_name must be null, body/full_name must match a schema in anyOf']
  ]
  for (const [name, payload, message] of refused) {
    const res = await ann.inject({ method: 'PATCH', url: '/users/me', payload: payload as Record<string, unknown> })
    t.equal(res.statusCode, 400, name)
    t.same(res.json(), errorBody(400, 'VALIDATION_ERROR', 'Bad Request', message), name)
  }
  t.same((await me(ann)).json(), { ...original, full_name: null }, 'refused changes changed nothing')
  const exactly200 = await ann.inject({ method: 'PATCH', url: '/users/me', payload: { full_name: 'y'.repeat(200) } })
  t.equal(exactly200.json().full_name, 'y'.repeat(200), '200 characters fit')

  const anonymous = await app.inject({ method: 'PATCH', url: '/users/me', payload: { full_name: 'x' } })
  t.same([anonymous.statusCode, anonymous.json()], [401, UNAUTHORIZED])
})

t.test('PUT /users/me/password: a wrong current password or a short new one changes nothing', async (t) => {
  const app = await build(t)
  const ann = await createUser(app)
  const other = await secondSession(app, ann)

  const wrong = await ann.inject({ method: 'PUT', url: '/users/me/password', payload: { current_password: 'not my password', new_password: 'a brand new passphrase' } })
  t.equal(wrong.statusCode, 400)
  t.same(wrong.json(), errorBody(400, 'WRONG_PASSWORD', 'Bad Request', 'The current password is wrong'))

  const refused: Array<[string, Record<string, unknown>, string, string]> = [
    ['new password of 7 characters', { current_password: ann.password, new_password: 'q7!kZ2#' }, 'VALIDATION_ERROR', 'body/new_password must NOT have fewer than 8 characters'],
    ['new password of 257 characters', { current_password: ann.password, new_password: 'Zq9-'.repeat(64) + 'x' }, 'VALIDATION_ERROR', 'body/new_password must NOT have more than 256 characters'],
    ['no current password', { new_password: 'a brand new passphrase' }, 'VALIDATION_ERROR', 'body must have required property \'current_password\''],
    ['unknown field', { current_password: ann.password, new_password: 'a brand new passphrase', email: 'x@example.test' }, 'VALIDATION_ERROR', 'body must NOT have additional properties'],
    ['a common new password', { current_password: ann.password, new_password: 'qwertyuiop' }, 'PASSWORD_TOO_COMMON', 'This password is on a list of commonly used passwords; choose another']
  ]
  for (const [name, payload, code, message] of refused) {
    const res = await ann.inject({ method: 'PUT', url: '/users/me/password', payload })
    t.equal(res.statusCode, 400, name)
    t.same(res.json(), errorBody(400, code, 'Bad Request', message), name)
  }

  t.equal((await passwordLogin(app, ann.email, ann.password)).statusCode, 200, 'the old password still logs in')
  for (const attempted of ['a brand new passphrase', 'q7!kZ2#', 'qwertyuiop']) {
    t.equal((await passwordLogin(app, ann.email, attempted)).json().error, 'invalid_grant', `${attempted} was not set`)
  }
  t.equal((await me(ann)).statusCode, 200, 'a refused change ends no session')
  t.equal((await other.inject({ method: 'GET', url: '/users/me' })).statusCode, 200)
  t.equal((await refresh(app, other.refresh_token)).statusCode, 200, 'nor a refresh token')
})

t.test('PUT /users/me/password: 204, the new password works, the old one and every earlier session end', async (t) => {
  const app = await build(t)
  const ann = await createUser(app)
  const bob = await createUser(app)
  const other = await secondSession(app, ann)

  const changed = await ann.inject({ method: 'PUT', url: '/users/me/password', payload: { current_password: ann.password, new_password: 'a brand new passphrase' } })
  t.equal(changed.statusCode, 204)
  t.equal(changed.body, '')

  t.same((await passwordLogin(app, ann.email, ann.password)).json(), { error: 'invalid_grant', error_description: 'Invalid username or password' }, 'the old password is gone')
  const fresh = await passwordLogin(app, ann.email, 'a brand new passphrase')
  t.equal(fresh.statusCode, 200, 'the new one logs in')
  t.equal((await asUser(app, fresh.json().access_token)({ method: 'GET', url: '/users/me' })).statusCode, 200)

  assertTokenDead(t, await other.inject({ method: 'GET', url: '/users/me' }), 'another session\'s access token')
  assertTokenDead(t, await me(ann), 'the access token issued before the change')
  t.equal((await refresh(app, other.refresh_token)).json().error, 'invalid_grant', 'another session\'s refresh token')
  t.equal((await refresh(app, ann.refreshToken)).json().error, 'invalid_grant', 'the caller\'s earlier refresh token')
  t.equal((await me(bob)).statusCode, 200, 'other users are unaffected')
})

t.test('DELETE /users/me/sessions: 204 and every session ends, access and refresh tokens alike', async (t) => {
  const app = await build(t)
  const ann = await createUser(app)
  const bob = await createUser(app)
  const other = await secondSession(app, ann)

  const out = await ann.inject({ method: 'DELETE', url: '/users/me/sessions' })
  t.equal(out.statusCode, 204)
  t.equal(out.body, '')
  assertTokenDead(t, await me(ann), 'the caller\'s token')
  assertTokenDead(t, await other.inject({ method: 'GET', url: '/users/me' }), 'another session\'s token')
  t.equal((await refresh(app, ann.refreshToken)).json().error, 'invalid_grant')
  t.equal((await refresh(app, other.refresh_token)).json().error, 'invalid_grant')

  const again = await secondSession(app, ann)
  t.equal((await again.inject({ method: 'GET', url: '/users/me' })).statusCode, 200, 'the password still logs in afterwards')
  t.equal((await me(bob)).statusCode, 200, 'other users are unaffected')
  t.same((await app.inject({ method: 'DELETE', url: '/users/me/sessions' })).json(), UNAUTHORIZED)
})

t.test('DELETE /users/me: 204, the token dies, login fails, the account is gone', async (t) => {
  const app = await build(t)
  const admin = await createUser(app, { role: 'admin' })
  const ann = await createUser(app, { email: 'ann@example.test' })
  const bob = await createUser(app)
  const other = await secondSession(app, ann)

  const gone = await ann.inject({ method: 'DELETE', url: '/users/me' })
  t.equal(gone.statusCode, 204)
  t.equal(gone.body, '')

  assertTokenDead(t, await me(ann), 'its token')
  assertTokenDead(t, await other.inject({ method: 'GET', url: '/users/me' }), 'its other session')
  t.same((await passwordLogin(app, ann.email, ann.password)).json(), { error: 'invalid_grant', error_description: 'Invalid username or password' })
  t.equal((await refresh(app, other.refresh_token)).json().error, 'invalid_grant')
  t.same((await admin.inject({ method: 'GET', url: `/users/${ann.id}` })).json(), errorBody(404, 'USER_NOT_FOUND', 'Not Found', 'User not found'))
  t.same((await admin.inject({ method: 'GET', url: '/users?email=ann@example.test' })).json(), { items: [], next_cursor: null })
  t.equal((await me(bob)).statusCode, 200, 'other users are unaffected')

  const again = await app.inject({ method: 'POST', url: '/users', payload: { email: 'ann@example.test', password: 'a new life passphrase' } })
  t.equal(again.statusCode, 201, 'the address is free again')
  t.not(again.json().id, ann.id, 'as a new account')
  t.equal((await passwordLogin(app, 'ann@example.test', ann.password)).statusCode, 400, 'the old password does not open the new account')
})
