import t from 'tap'
import { build, createUser, login, asUser, tempDir, type App, sqliteOf } from '../helper.js'

// ADMIN_EMAIL / ADMIN_PASSWORD: at start, create that admin, or promote the
// existing account (which keeps its password).

const ADMIN_ENV = { ADMIN_EMAIL: 'Boss@Example.test', ADMIN_PASSWORD: 'the admin passphrase' }
const tokenAnswer = (app: App, username: string, password: string) =>
  app.inject({ method: 'POST', url: '/auth/token', payload: { grant_type: 'password', username, password } })
const accountsNamed = (app: App, email: string) =>
  (sqliteOf(app).prepare('SELECT count(*) AS n FROM users WHERE email = ?').get(email) as { n: number }).n

t.test('a fresh database: the admin is created, logs in and may list users', async (t) => {
  const app = await build(t, ADMIN_ENV)
  const tokens = await login(app, 'boss@example.test', 'the admin passphrase')
  const asBoss = asUser(app, tokens.access_token)
  const me = await asBoss({ method: 'GET', url: '/users/me' })
  t.same(me.json(), { id: me.json().id, email: 'boss@example.test', full_name: null, role: 'admin', disabled: false, created_at: me.json().created_at })
  const list = await asBoss({ method: 'GET', url: '/users' })
  t.equal(list.statusCode, 200)
  t.same(list.json(), { items: [me.json()], next_cursor: null })
  t.equal((await tokenAnswer(app, 'BOSS@example.test', 'the admin passphrase')).statusCode, 200, 'the e-mail matches in any case')

  const customer = await createUser(app)
  t.equal((await customer.inject({ method: 'GET', url: '/users' })).statusCode, 403, 'only that account became admin')
})

t.test('an existing account is promoted and keeps its old password; restarts change nothing more', async (t) => {
  const dataDir = tempDir(t)
  const first = await build(t, {}, dataDir)
  const owner = await createUser(first, { email: 'boss@example.test', password: 'the original passphrase', fullName: 'Owner' })
  await createUser(first, { email: 'someone@example.test' })
  const before = (await owner.inject({ method: 'GET', url: '/users/me' })).json()
  t.equal(before.role, 'customer')
  await first.close()

  for (const round of ['first start with the env', 'second start with the env']) {
    const app = await build(t, ADMIN_ENV, dataDir)
    t.equal(accountsNamed(app, 'boss@example.test'), 1, `${round}: still one account`)
    const tokens = await tokenAnswer(app, 'boss@example.test', 'the original passphrase')
    t.equal(tokens.statusCode, 200, `${round}: the old password logs in`)
    t.same((await tokenAnswer(app, 'boss@example.test', 'the admin passphrase')).json().error, 'invalid_grant', `${round}: ADMIN_PASSWORD does not replace it`)
    const asOwner = asUser(app, tokens.json().access_token)
    t.same((await asOwner({ method: 'GET', url: '/users/me' })).json(), { ...before, role: 'admin' }, `${round}: promoted, nothing else changed`)
    const list = await asOwner({ method: 'GET', url: '/users' })
    t.equal(list.statusCode, 200, `${round}: may list users`)
    t.equal(list.json().items.length, 2)
    t.match(list.json().items[1], { email: 'someone@example.test', role: 'customer' }, `${round}: nobody else was promoted`)
    await app.close()
  }
})
