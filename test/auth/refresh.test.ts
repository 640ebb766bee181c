import t from 'tap'
import { build, createUser, login, type App } from '../helper.js'

const refresh = (app: App, refreshToken: string) =>
  app.inject({ method: 'POST', url: '/auth/token', payload: { grant_type: 'refresh_token', refresh_token: refreshToken } })
const INVALID = { error: 'invalid_grant', error_description: 'The refresh token is invalid, expired or revoked' }

t.test('refresh rotates the pair; reusing a used token revokes the whole family, not other logins', async (t) => {
  const app = await build(t)
  const user = await createUser(app)
  const otherLogin = await login(app, user.email)

  const first = await refresh(app, user.refreshToken)
  t.equal(first.statusCode, 200)
  t.equal(first.headers['cache-control'], 'no-store')
  const pair = first.json()
  t.not(pair.refresh_token, user.refreshToken)
  t.not(pair.access_token, user.accessToken)
  const me = await app.inject({ method: 'GET', url: '/users/me', headers: { authorization: `Bearer ${pair.access_token}` } })
  t.equal(me.statusCode, 200, 'the new access token works')

  const second = await refresh(app, pair.refresh_token)
  t.equal(second.statusCode, 200, 'the new refresh token works once')
  const newest = second.json().refresh_token

  const replay = await refresh(app, user.refreshToken)
  t.equal(replay.statusCode, 400)
  t.same(replay.json(), INVALID, 'a used refresh token fails')
  t.same((await refresh(app, newest)).json(), INVALID, 'and the newest of its family died with it')
  t.equal((await refresh(app, otherLogin.refresh_token)).statusCode, 200, 'another login of the same user lives on')
})

t.test('expired and unknown refresh tokens fail', async (t) => {
  const app = await build(t)
  const user = await createUser(app)
  t.same((await refresh(app, 'not-a-token')).json(), INVALID)
  app.sqlite.prepare('UPDATE refresh_tokens SET expires_at = ?').run(Math.floor(Date.now() / 1000) - 1)
  t.same((await refresh(app, user.refreshToken)).json(), INVALID)
})

t.test('concurrent refreshes of one token: at most one succeeds', async (t) => {
  const app = await build(t)
  const user = await createUser(app)
  const answers = await Promise.all(Array.from({ length: 5 }, () => refresh(app, user.refreshToken)))
  t.ok(answers.filter((res) => res.statusCode === 200).length <= 1)
  t.equal(answers.filter((res) => res.statusCode === 400).length >= 4, true)
})

t.test('POST /auth/revoke: always 200; the token and its family stop working', async (t) => {
  const app = await build(t)
  const user = await createUser(app)
  const rotated = (await refresh(app, user.refreshToken)).json().refresh_token

  const viaForm = await app.inject({
    method: 'POST', url: '/auth/revoke', headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: `token=${rotated}&token_type_hint=refresh_token`
  })
  t.equal(viaForm.statusCode, 200)
  t.equal(viaForm.body, '')
  t.same((await refresh(app, rotated)).json(), INVALID)

  const unknown = await app.inject({ method: 'POST', url: '/auth/revoke', payload: { token: 'never-issued' } })
  t.equal(unknown.statusCode, 200, 'unknown tokens are fine (RFC 7009)')
  const missing = await app.inject({ method: 'POST', url: '/auth/revoke', payload: {} })
  t.equal(missing.statusCode, 400)
  t.equal(missing.json().error, 'invalid_request')

  const second = await login(app, user.email)
  await app.inject({ method: 'POST', url: '/auth/revoke', payload: { token: second.refresh_token } })
  t.same((await refresh(app, second.refresh_token)).json(), INVALID, 'JSON bodies work too')
})

t.test('password change and sign-out everywhere end existing access and refresh tokens', async (t) => {
  for (const [name, end] of [
    ['password change', (user: Awaited<ReturnType<typeof createUser>>) => user.inject({ method: 'PUT', url: '/users/me/password', payload: { current_password: user.password, new_password: 'another good passphrase' } })],
    ['sign-out everywhere', (user: Awaited<ReturnType<typeof createUser>>) => user.inject({ method: 'DELETE', url: '/users/me/sessions' })]
  ] as const) {
    const app = await build(t)
    const user = await createUser(app)
    const otherDevice = await login(app, user.email)
    t.equal((await end(user)).statusCode, 204, name)
    for (const accessToken of [user.accessToken, otherDevice.access_token]) {
      const res = await app.inject({ method: 'GET', url: '/users/me', headers: { authorization: `Bearer ${accessToken}` } })
      t.equal(res.statusCode, 401, `${name}: access token ends`)
      t.match(res.headers['www-authenticate'], /^Bearer error="invalid_token"/)
    }
    t.same((await refresh(app, user.refreshToken)).json(), INVALID, `${name}: refresh token ends`)
    t.same((await refresh(app, otherDevice.refresh_token)).json(), INVALID, `${name}: the other device's refresh token ends`)
    const password = name === 'password change' ? 'another good passphrase' : user.password
    const fresh = await login(app, user.email, password)
    const me = await app.inject({ method: 'GET', url: '/users/me', headers: { authorization: `Bearer ${fresh.access_token}` } })
    t.equal(me.statusCode, 200, `${name}: a new login works`)
  }
})

t.test('disabled and deleted users\' tokens fail at once', async (t) => {
  const app = await build(t)
  const admin = await createUser(app, { role: 'admin' })
  const disabled = await createUser(app)
  const deleted = await createUser(app)
  await admin.inject({ method: 'PATCH', url: `/users/${disabled.id}`, payload: { disabled: true } })
  await admin.inject({ method: 'DELETE', url: `/users/${deleted.id}` })
  for (const user of [disabled, deleted]) {
    const res = await user.inject({ method: 'GET', url: '/users/me' })
    t.equal(res.statusCode, 401)
    t.same(res.json(), { statusCode: 401, code: 'INVALID_TOKEN', error: 'Unauthorized', message: 'The access token is invalid or expired' })
    t.same((await refresh(app, user.refreshToken)).json(), INVALID)
  }
  await admin.inject({ method: 'PATCH', url: `/users/${disabled.id}`, payload: { disabled: false } })
  t.equal((await disabled.inject({ method: 'GET', url: '/users/me' })).statusCode, 401, 're-enabling does not revive old tokens')
})
