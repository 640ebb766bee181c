import crypto from 'node:crypto'
import type { LightMyRequestResponse } from 'fastify'
import t, { type Test } from 'tap'
import { decodeJwt } from 'jose'
import { build, createUser, login, type App, sqliteOf } from '../helper.js'

const FORM = { 'content-type': 'application/x-www-form-urlencoded' }
const INVALID_REFRESH = { error: 'invalid_grant', error_description: 'The refresh token is invalid, expired or revoked' }

const refresh = (app: App, refreshToken: string) =>
  app.inject({ method: 'POST', url: '/auth/token', payload: { grant_type: 'refresh_token', refresh_token: refreshToken } })
const refreshByForm = (app: App, refreshToken: string) =>
  app.inject({ method: 'POST', url: '/auth/token', headers: FORM, payload: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: refreshToken }).toString() })
const me = (app: App, accessToken: string) =>
  app.inject({ method: 'GET', url: '/users/me', headers: { authorization: `Bearer ${accessToken}` } })
const revoke = (app: App, payload: object) => app.inject({ method: 'POST', url: '/auth/revoke', payload })
const revokeByForm = (app: App, fields: Record<string, string>) =>
  app.inject({ method: 'POST', url: '/auth/revoke', headers: FORM, payload: new URLSearchParams(fields).toString() })

const hashOf = (token: string) => crypto.createHash('sha256').update(token).digest('base64url')
interface Row { family_id: string, expires_at: number, used_at: number | null, revoked_at: number | null }
const rowOf = (app: App, token: string) =>
  sqliteOf(app).prepare('SELECT family_id, expires_at, used_at, revoked_at FROM refresh_tokens WHERE token_hash = ?').get(hashOf(token)) as Row | undefined
const liveRows = (app: App) =>
  (sqliteOf(app).prepare('SELECT count(*) AS n FROM refresh_tokens WHERE revoked_at IS NULL').get() as { n: number }).n

/** A 200 of the token endpoint: exactly the RFC 6749 fields, never cached. */
function pairOf (t: Test, res: LightMyRequestResponse, name: string) {
  t.equal(res.statusCode, 200, `${name}: 200`)
  t.equal(res.headers['cache-control'], 'no-store', `${name}: no-store`)
  const body = res.json()
  t.strictSame(body, { access_token: body.access_token, token_type: 'Bearer', expires_in: 900, refresh_token: body.refresh_token, scope: body.scope }, `${name}: exact body`)
  t.equal(body.scope, decodeJwt(body.access_token).scope, `${name}: the answer's scope is the token's`)
  return body as { access_token: string, refresh_token: string }
}

async function assertRefused (t: Test, app: App, token: string, name: string) {
  const res = await refresh(app, token)
  t.equal(res.statusCode, 400, `${name}: 400`)
  t.strictSame(res.json(), INVALID_REFRESH, `${name}: invalid_grant`)
  t.equal(res.headers['cache-control'], 'no-store', `${name}: no-store`)
}

t.test('refresh_token grant: a new pair, both tokens new, the new refresh token works, the client is kept', async (t) => {
  const app = await build(t)
  const user = await createUser(app)
  const viaClient = (await app.inject({ method: 'POST', url: '/auth/token', payload: { username: user.email, password: user.password, client_id: 'mobile-app' } })).json()

  const first = pairOf(t, await refresh(app, user.refreshToken), 'JSON refresh')
  t.not(first.access_token, user.accessToken, 'a new access token')
  t.not(first.refresh_token, user.refreshToken, 'a new refresh token')
  const caller = await me(app, first.access_token)
  t.equal(caller.statusCode, 200, 'the new access token works')
  t.equal(caller.json().id, user.id)
  t.equal(decodeJwt(first.access_token).sub, String(user.id))
  t.equal(decodeJwt(first.access_token).client_id, 'public')
  t.equal(rowOf(app, first.refresh_token)?.family_id, rowOf(app, user.refreshToken)?.family_id, 'the successor belongs to the same family')

  const second = pairOf(t, await refreshByForm(app, first.refresh_token), 'form refresh')
  t.not(second.refresh_token, first.refresh_token)
  t.not(second.access_token, first.access_token)
  t.equal((await me(app, second.access_token)).statusCode, 200)

  const mobile = pairOf(t, await refresh(app, viaClient.refresh_token), 'refresh of another client')
  t.equal(decodeJwt(mobile.access_token).client_id, 'mobile-app', 'a refresh keeps the client_id of the login')
})

t.test('reusing a used refresh token fails and revokes its whole family, not the user\'s other logins', async (t) => {
  const app = await build(t)
  const user = await createUser(app)
  const otherLogin = await login(app, user.email, user.password)

  const second = pairOf(t, await refresh(app, user.refreshToken), 'first rotation')
  const third = pairOf(t, await refresh(app, second.refresh_token), 'second rotation')
  const family = rowOf(app, user.refreshToken)?.family_id

  await assertRefused(t, app, user.refreshToken, 'the already-used first token')
  const familyRows = sqliteOf(app).prepare('SELECT revoked_at FROM refresh_tokens WHERE family_id = ?').all(family) as Row[]
  t.equal(familyRows.length, 3)
  t.ok(familyRows.every((row) => row.revoked_at !== null), 'every token of the family is revoked in the database')
  await assertRefused(t, app, third.refresh_token, 'the newest token of the family')
  await assertRefused(t, app, second.refresh_token, 'the middle token of the family')

  const other = pairOf(t, await refresh(app, otherLogin.refresh_token), 'a separate login of the same user')
  t.equal((await me(app, other.access_token)).statusCode, 200)
  pairOf(t, await refresh(app, other.refresh_token), 'and its successor')
})

t.test('unknown refresh tokens fail', async (t) => {
  const app = await build(t)
  const user = await createUser(app)
  const before = liveRows(app)
  await assertRefused(t, app, 'not-a-token', 'garbage')
  await assertRefused(t, app, crypto.randomBytes(32).toString('base64url'), 'well-formed but never issued')
  await assertRefused(t, app, user.refreshToken.slice(0, -1) + (user.refreshToken.endsWith('A') ? 'B' : 'A'), 'one character off')
  t.equal(liveRows(app), before, 'failed refreshes changed nothing')
  pairOf(t, await refresh(app, user.refreshToken), 'the real one still works')
})

t.test('an expired refresh token fails (expiry set in the database)', async (t) => {
  const app = await build(t)
  const user = await createUser(app)
  const otherLogin = await login(app, user.email, user.password)
  const now = Math.floor(Date.now() / 1000)
  const row = rowOf(app, user.refreshToken)
  t.ok(row && row.expires_at >= now + 1_209_600 - 5 && row.expires_at <= now + 1_209_600, 'REFRESH_TOKEN_TTL defaults to 14 days')

  sqliteOf(app).prepare('UPDATE refresh_tokens SET expires_at = ? WHERE token_hash = ?').run(now - 1, hashOf(user.refreshToken))
  await assertRefused(t, app, user.refreshToken, 'expired')
  pairOf(t, await refresh(app, otherLogin.refresh_token), 'another login, not expired, still works')
})

t.test('REFRESH_TOKEN_TTL: a token lives that many seconds, and its successors too', async (t) => {
  // Two seconds: the login and its refresh may straddle a second boundary.
  const app = await build(t, { REFRESH_TOKEN_TTL: '2' })
  const user = await createUser(app)
  const before = Math.floor(Date.now() / 1000)
  const successor = pairOf(t, await refresh(app, user.refreshToken), 'refresh within the lifetime')
  const after = Math.floor(Date.now() / 1000)
  const expiresAt = rowOf(app, successor.refresh_token)?.expires_at ?? 0
  t.ok(expiresAt >= before + 2 && expiresAt <= after + 2, 'the successor gets the configured lifetime')
  await new Promise((resolve) => setTimeout(resolve, (expiresAt + 0.05) * 1000 - Date.now()))
  await assertRefused(t, app, successor.refresh_token, 'after REFRESH_TOKEN_TTL')
})

t.test('concurrent refreshes of one token: at most one succeeds, the rest are invalid_grant', async (t) => {
  const app = await build(t)
  const user = await createUser(app)
  const answers = await Promise.all(Array.from({ length: 5 }, () => refresh(app, user.refreshToken)))
  const succeeded = answers.filter((res) => res.statusCode === 200)
  t.ok(succeeded.length <= 1, `at most one 200 (got ${succeeded.length})`)
  for (const res of answers.filter((res) => res.statusCode !== 200)) {
    t.equal(res.statusCode, 400)
    t.strictSame(res.json(), INVALID_REFRESH)
  }
  // The losers presented a used token: theft, so the winner's successor died with the family.
  for (const res of succeeded) await assertRefused(t, app, res.json().refresh_token, 'the winner\'s successor')
})

t.test('POST /auth/revoke, form: 200, empty body; the token and the rest of its family fail', async (t) => {
  const app = await build(t)
  const user = await createUser(app)
  const otherLogin = await login(app, user.email, user.password)
  const second = pairOf(t, await refresh(app, user.refreshToken), 'rotation')
  const third = pairOf(t, await refresh(app, second.refresh_token), 'rotation')

  const res = await revokeByForm(app, { token: second.refresh_token, token_type_hint: 'refresh_token' })
  t.equal(res.statusCode, 200)
  t.equal(res.body, '', 'no body')
  t.equal(res.headers['cache-control'], 'no-store')
  await assertRefused(t, app, third.refresh_token, 'the current token of the revoked family')
  await assertRefused(t, app, second.refresh_token, 'the revoked token')
  pairOf(t, await refresh(app, otherLogin.refresh_token), 'another login of the same user')
})

t.test('POST /auth/revoke, JSON: the current token stops working; revoking twice is fine', async (t) => {
  const app = await build(t)
  const user = await createUser(app)
  const res = await revoke(app, { token: user.refreshToken })
  t.equal(res.statusCode, 200)
  t.equal(res.body, '')
  await assertRefused(t, app, user.refreshToken, 'revoked by JSON')
  const again = await revoke(app, { token: user.refreshToken, token_type_hint: 'refresh_token' })
  t.equal(again.statusCode, 200, 'already revoked: still 200')
  t.equal((await me(app, user.accessToken)).statusCode, 200, 'the access token lives until it expires (revocation is for refresh tokens)')
})

t.test('POST /auth/revoke: unknown tokens are 200 and change nothing; a missing token is invalid_request', async (t) => {
  const app = await build(t)
  const user = await createUser(app)
  const before = liveRows(app)
  for (const [name, request] of [
    ['unknown, JSON', () => revoke(app, { token: 'never-issued' })],
    ['unknown, form', () => revokeByForm(app, { token: crypto.randomBytes(32).toString('base64url') })],
    ['an access token', () => revoke(app, { token: user.accessToken, token_type_hint: 'access_token' })]
  ] as const) {
    const res = await request()
    t.equal(res.statusCode, 200, name)
    t.equal(res.body, '', name)
  }
  for (const [name, request] of [
    ['missing, JSON', () => revoke(app, {})],
    ['missing, form', () => revokeByForm(app, { token_type_hint: 'refresh_token' })],
    ['empty', () => revoke(app, { token: '' })]
  ] as const) {
    const res = await request()
    t.equal(res.statusCode, 400, name)
    t.strictSame(res.json(), { error: 'invalid_request', error_description: 'token is required' }, `${name}: exact body`)
  }
  const repeated = await app.inject({ method: 'POST', url: '/auth/revoke', headers: FORM, payload: `token=a&token=${user.refreshToken}` })
  t.equal(repeated.statusCode, 400)
  t.strictSame(repeated.json(), { error: 'invalid_request', error_description: 'Invalid request: body/token must be string' })
  t.equal(liveRows(app), before, 'no token was revoked')
  pairOf(t, await refresh(app, user.refreshToken), 'the user\'s refresh token still works')
})
