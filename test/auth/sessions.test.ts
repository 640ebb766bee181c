import t, { type Test } from 'tap'
import { build, createUser, login, type App, type TestUser } from '../helper.js'

const INVALID_REFRESH = { error: 'invalid_grant', error_description: 'The refresh token is invalid, expired or revoked' }
const INVALID_TOKEN_BODY = { statusCode: 401, code: 'INVALID_TOKEN', error: 'Unauthorized', message: 'The access token is invalid or expired' }
const NEW_PASSWORD = 'another good passphrase'

const refresh = (app: App, refreshToken: string) =>
  app.inject({ method: 'POST', url: '/auth/token', payload: { grant_type: 'refresh_token', refresh_token: refreshToken } })
const me = (app: App, accessToken: string) =>
  app.inject({ method: 'GET', url: '/users/me', headers: { authorization: `Bearer ${accessToken}` } })

async function assertAccessEnded (t: Test, app: App, accessToken: string, name: string) {
  const res = await me(app, accessToken)
  t.equal(res.statusCode, 401, `${name}: 401`)
  t.match(res.headers['www-authenticate'], /^Bearer error="invalid_token"/, `${name}: RFC 6750 invalid_token challenge`)
  t.strictSame(res.json(), INVALID_TOKEN_BODY, `${name}: exact body`)
}

async function assertRefreshEnded (t: Test, app: App, refreshToken: string, name: string) {
  const res = await refresh(app, refreshToken)
  t.equal(res.statusCode, 400, `${name}: 400`)
  t.strictSame(res.json(), INVALID_REFRESH, `${name}: invalid_grant`)
}

const endings: Array<[string, (user: TestUser) => ReturnType<TestUser['inject']>, (user: TestUser) => string]> = [
  ['password change',
    (user) => user.inject({ method: 'PUT', url: '/users/me/password', payload: { current_password: user.password, new_password: NEW_PASSWORD } }),
    () => NEW_PASSWORD],
  ['sign-out everywhere',
    (user) => user.inject({ method: 'DELETE', url: '/users/me/sessions' }),
    (user) => user.password]
]

for (const [name, end, passwordAfter] of endings) {
  t.test(`${name} ends every access and refresh token of the user; a new login works`, async (t) => {
    const app = await build(t)
    const user = await createUser(app)
    const otherDevice = await login(app, user.email, user.password)
    const rotated = (await refresh(app, otherDevice.refresh_token)).json<{ access_token: string, refresh_token: string }>()
    const bystander = await createUser(app)
    t.equal((await me(app, user.accessToken)).statusCode, 200, 'baseline: the token works before')

    const res = await end(user)
    t.equal(res.statusCode, 204, `${name}: 204`)
    t.equal(res.body, '')

    await assertAccessEnded(t, app, user.accessToken, 'the caller\'s access token')
    await assertAccessEnded(t, app, otherDevice.access_token, 'another device\'s access token')
    await assertAccessEnded(t, app, rotated.access_token, 'an access token from a refresh')
    await assertRefreshEnded(t, app, user.refreshToken, 'the caller\'s refresh token')
    await assertRefreshEnded(t, app, rotated.refresh_token, 'another device\'s current refresh token')

    const fresh = await login(app, user.email, passwordAfter(user))
    const caller = await me(app, fresh.access_token)
    t.equal(caller.statusCode, 200, 'a new login works')
    t.equal(caller.json().id, user.id)
    t.equal((await refresh(app, fresh.refresh_token)).statusCode, 200, 'and its refresh token works')
    t.equal((await me(app, bystander.accessToken)).statusCode, 200, 'another user is not signed out')
    t.equal((await refresh(app, bystander.refreshToken)).statusCode, 200, 'nor is their refresh token')
  })
}

t.test('after a password change the old password is refused and the new one accepted', async (t) => {
  const app = await build(t)
  const user = await createUser(app)
  const changed = await user.inject({ method: 'PUT', url: '/users/me/password', payload: { current_password: user.password, new_password: NEW_PASSWORD } })
  t.equal(changed.statusCode, 204)
  const old = await app.inject({ method: 'POST', url: '/auth/token', payload: { username: user.email, password: user.password } })
  t.equal(old.statusCode, 400)
  t.strictSame(old.json(), { error: 'invalid_grant', error_description: 'Invalid username or password' })
  await t.resolves(login(app, user.email, NEW_PASSWORD))
})

t.test('a wrong current password ends nothing', async (t) => {
  const app = await build(t)
  const user = await createUser(app)
  const res = await user.inject({ method: 'PUT', url: '/users/me/password', payload: { current_password: 'not the password', new_password: NEW_PASSWORD } })
  t.equal(res.statusCode, 400)
  t.equal((await me(app, user.accessToken)).statusCode, 200, 'the access token still works')
  t.equal((await refresh(app, user.refreshToken)).statusCode, 200, 'the refresh token still works')
})

t.test('disabled and deleted users: their access tokens are 401 at once, their refresh tokens invalid_grant', async (t) => {
  const app = await build(t)
  const admin = await createUser(app, { role: 'admin' })
  const disabled = await createUser(app)
  const deletedByAdmin = await createUser(app)
  const deletedSelf = await createUser(app)
  for (const user of [disabled, deletedByAdmin, deletedSelf]) t.equal((await user.inject({ method: 'GET', url: '/users/me' })).statusCode, 200, 'baseline')

  t.equal((await admin.inject({ method: 'PATCH', url: `/users/${disabled.id}`, payload: { disabled: true } })).statusCode, 200)
  t.equal((await admin.inject({ method: 'DELETE', url: `/users/${deletedByAdmin.id}` })).statusCode, 204)
  t.equal((await deletedSelf.inject({ method: 'DELETE', url: '/users/me' })).statusCode, 204)

  for (const [name, user] of [['disabled', disabled], ['deleted by an admin', deletedByAdmin], ['deleted itself', deletedSelf]] as const) {
    await assertAccessEnded(t, app, user.accessToken, name)
    await assertRefreshEnded(t, app, user.refreshToken, name)
  }

  t.equal((await admin.inject({ method: 'PATCH', url: `/users/${disabled.id}`, payload: { disabled: false } })).statusCode, 200)
  await assertAccessEnded(t, app, disabled.accessToken, 're-enabled: the old access token stays dead')
  await assertRefreshEnded(t, app, disabled.refreshToken, 're-enabled: the old refresh token stays dead')
  await t.resolves(login(app, disabled.email, disabled.password), 're-enabled: a new login works')
})

t.test('a deleted user\'s token does not become a newcomer\'s: ids are never reused', async (t) => {
  const app = await build(t)
  const first = await createUser(app)
  t.equal((await first.inject({ method: 'DELETE', url: '/users/me' })).statusCode, 204)
  // The deleted row had the highest id, which plain SQLite rowids would hand out again.
  const newcomer = await createUser(app)
  t.not(newcomer.id, first.id)
  await assertAccessEnded(t, app, first.accessToken, 'the deleted user\'s token')
  t.equal((await me(app, newcomer.accessToken)).json().id, newcomer.id)
})
