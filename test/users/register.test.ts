import type { InjectOptions } from 'fastify'
import t from 'tap'
import { build, createUser, login, asUser, DEFAULT_PASSWORD, type App, type TestUser, sqliteOf } from '../helper.js'

// POST /users (docs/API.md, Users): public registration.

const errorBody = (statusCode: number, code: string, error: string, message: string) => ({ statusCode, code, error, message })
const ISO_UTC = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/

const register = (app: App, payload: Record<string, unknown>) => app.inject({ method: 'POST', url: '/users', payload })
const userCount = (app: App) => (sqliteOf(app).prepare('SELECT count(*) AS n FROM users').get() as { n: number }).n
const storedHashOf = (app: App, id: number) => (sqliteOf(app).prepare('SELECT password_hash FROM users WHERE id = ?').get(id) as { password_hash: string }).password_hash
const listByEmail = async (admin: TestUser, email: string) =>
  (await admin.inject({ method: 'GET', url: `/users?email=${encodeURIComponent(email)}` })).json()

t.test('201 with exactly the public user: e-mail lower-cased, customer, enabled, ISO created_at, no hash', async (t) => {
  const app = await build(t)
  const before = Date.now()
  const res = await register(app, { email: 'Ann.Smith@Example.TEST', password: DEFAULT_PASSWORD, full_name: 'Ann Smith' })
  t.equal(res.statusCode, 201)
  t.match(res.headers['content-type'], /^application\/json/)
  const user = res.json()
  t.same(user, {
    id: user.id,
    email: 'ann.smith@example.test',
    full_name: 'Ann Smith',
    role: 'customer',
    disabled: false,
    created_at: user.created_at
  })
  t.same(Object.keys(user).sort(), ['created_at', 'disabled', 'email', 'full_name', 'id', 'role'], 'no other field')
  t.ok(Number.isSafeInteger(user.id) && user.id > 0, 'the id is a positive integer')
  t.match(user.created_at, ISO_UTC, 'created_at is ISO-8601 UTC')
  const created = Date.parse(user.created_at)
  t.ok(created >= before - 1000 && created <= Date.now() + 1000, 'created_at is now')

  const hash = storedHashOf(app, user.id)
  t.match(hash, /^\$argon2id\$/, 'the password is stored as an argon2id hash')
  t.notMatch(hash, DEFAULT_PASSWORD, 'and not in clear')
  t.notOk(res.body.includes(hash), 'the hash is not in the answer')
  t.notMatch(res.body, /argon2|hash|password/i)

  // Nowhere else either: the caller, the admin list and the by-id read.
  const admin = await createUser(app, { role: 'admin' })
  const ann = await login(app, 'ann.smith@example.test')
  const asAnn = asUser(app, ann.access_token)
  const views: Array<[string, InjectOptions, (options: InjectOptions) => Promise<{ statusCode: number, body: string }>]> = [
    ['GET /users/me', { method: 'GET', url: '/users/me' }, asAnn],
    ['PATCH /users/me', { method: 'PATCH', url: '/users/me', payload: { full_name: 'Ann' } }, asAnn],
    ['GET /users', { method: 'GET', url: '/users' }, admin.inject],
    ['GET /users/{id}', { method: 'GET', url: `/users/${user.id}` }, admin.inject],
    ['PATCH /users/{id}', { method: 'PATCH', url: `/users/${user.id}`, payload: { full_name: 'Ann Smith' } }, admin.inject]
  ]
  for (const [name, request, send] of views) {
    const view = await send(request)
    t.equal(view.statusCode, 200, name)
    t.notOk(view.body.includes(hash), `${name}: no hash`)
    t.notMatch(view.body, /argon2|hash|password/i)
  }
})

t.test('full_name is optional and may be null', async (t) => {
  const app = await build(t)
  for (const [email, extra] of [['absent@example.test', {}], ['null@example.test', { full_name: null }]] as const) {
    const res = await register(app, { email, password: DEFAULT_PASSWORD, ...extra })
    t.equal(res.statusCode, 201)
    t.same(res.json(), { id: res.json().id, email, full_name: null, role: 'customer', disabled: false, created_at: res.json().created_at })
  }
})

t.test('409 EMAIL_TAKEN, also when only the case differs; the first account is untouched', async (t) => {
  const app = await build(t)
  const admin = await createUser(app, { role: 'admin' })
  const first = await register(app, { email: 'bob@example.test', password: DEFAULT_PASSWORD, full_name: 'Bob' })
  t.equal(first.statusCode, 201)
  const hashBefore = storedHashOf(app, first.json().id)

  for (const email of ['bob@example.test', 'BOB@example.test', 'Bob@Example.Test']) {
    const taken = await register(app, { email, password: 'another passphrase', full_name: 'Mallory' })
    t.equal(taken.statusCode, 409, email)
    t.same(taken.json(), errorBody(409, 'EMAIL_TAKEN', 'Conflict', 'An account with this e-mail already exists'))
  }
  t.same((await listByEmail(admin, 'bob@example.test')).items, [first.json()], 'one account, with its own name')
  t.equal(storedHashOf(app, first.json().id), hashBefore, 'its password hash is unchanged')
  await t.resolves(login(app, 'bob@example.test'), 'the original password still logs in')
  await t.rejects(login(app, 'bob@example.test', 'another passphrase'), 'the second password does not')
})

t.test('concurrent registrations of one address: exactly one wins', async (t) => {
  const app = await build(t)
  const spellings = ['race@example.test', 'RACE@example.test', 'Race@Example.test', 'race@EXAMPLE.TEST', 'rAcE@example.test', 'race@example.TEST']
  const answers = await Promise.all(spellings.map((email) => register(app, { email, password: DEFAULT_PASSWORD })))
  t.same(answers.map((res) => res.statusCode).sort(), [201, 409, 409, 409, 409, 409])
  for (const res of answers.filter((r) => r.statusCode === 409)) {
    t.same(res.json(), errorBody(409, 'EMAIL_TAKEN', 'Conflict', 'An account with this e-mail already exists'))
  }
  t.equal(userCount(app), 1)
})

t.test('passwords of exactly 8 and 256 characters are accepted, and kept whole', async (t) => {
  const app = await build(t)
  const cases = [
    { email: 'eight@example.test', password: 'q7!kZ2#m' },
    { email: 'long@example.test', password: 'Zq9-'.repeat(64) },
    // Characters, not bytes or UTF-16 units: 8 emoji are 8 characters (32 bytes).
    { email: 'emoji@example.test', password: '🔑🌊🦊🍋🎲🧭🪐🎻' }
  ]
  for (const { email, password } of cases) {
    const res = await register(app, { email, password })
    t.equal(res.statusCode, 201, `${[...password].length} characters`)
    await t.resolves(login(app, email, password), 'logs in with it')
    await t.rejects(login(app, email, password.slice(0, -1)), 'not with all but its last character')
  }
  t.equal([...cases[1]!.password].length, 256)
})

t.test('bad input: 4xx with the standard error body, and no user is created', async (t) => {
  const app = await build(t)
  const admin = await createUser(app, { role: 'admin' })
  const usersBefore = userCount(app)
  const json = { 'content-type': 'application/json' }
  const valid = (email: string) => JSON.stringify({ email, password: DEFAULT_PASSWORD })

  const cases: Array<{ name: string, email: string, request: InjectOptions, body: ReturnType<typeof errorBody> }> = [
    {
      name: 'password of 7 characters',
      email: 'seven@example.test',
      request: { payload: { email: 'seven@example.test', password: 'q7!kZ2#' } },
      body: errorBody(400, 'VALIDATION_ERROR', 'Bad Request', 'body/password must NOT have fewer than 8 characters')
    },
    {
      name: 'password of 257 characters',
      email: 'toolong@example.test',
      request: { payload: { email: 'toolong@example.test', password: 'Zq9-'.repeat(64) + 'x' } },
      body: errorBody(400, 'VALIDATION_ERROR', 'Bad Request', 'body/password must NOT have more than 256 characters')
    },
    {
      name: 'missing password',
      email: 'nopassword@example.test',
      request: { payload: { email: 'nopassword@example.test' } },
      body: errorBody(400, 'VALIDATION_ERROR', 'Bad Request', 'body must have required property \'password\'')
    },
    {
      name: 'bad e-mail',
      email: 'not-an-email',
      request: { payload: { email: 'not-an-email', password: DEFAULT_PASSWORD } },
      body: errorBody(400, 'VALIDATION_ERROR', 'Bad Request', 'body/email must match format "email"')
    },
    {
      name: 'e-mail with surrounding blanks',
      email: 'blanks@example.test',
      request: { payload: { email: ' blanks@example.test ', password: DEFAULT_PASSWORD } },
      body: errorBody(400, 'VALIDATION_ERROR', 'Bad Request', 'body/email must match format "email"')
    },
    {
      name: 'unknown field (role)',
      email: 'climber@example.test',
      request: { payload: { email: 'climber@example.test', password: DEFAULT_PASSWORD, role: 'admin' } },
      body: errorBody(400, 'VALIDATION_ERROR', 'Bad Request', 'body must NOT have additional properties')
    },
    {
      name: 'full_name as a number',
      email: 'number@example.test',
      request: { payload: { email: 'number@example.test', password: DEFAULT_PASSWORD, full_name: 5 } },
      body: errorBody(400, 'VALIDATION_ERROR', 'Bad Request', 'body/full_name must be string, body/full_name must be null, body/full_name must match a schema in anyOf')
    },
    {
      name: 'password as a number',
      email: 'numeric@example.test',
      request: { payload: { email: 'numeric@example.test', password: 12345678 } },
      body: errorBody(400, 'VALIDATION_ERROR', 'Bad Request', 'body/password must be string')
    },
    {
      name: 'a common password',
      email: 'common@example.test',
      request: { payload: { email: 'common@example.test', password: 'password1' } },
      body: errorBody(400, 'PASSWORD_TOO_COMMON', 'Bad Request', 'This password is on a list of commonly used passwords; choose another')
    },
    {
      name: 'text/plain (a valid JSON text)',
      email: 'plain@example.test',
      request: { headers: { 'content-type': 'text/plain' }, payload: valid('plain@example.test') },
      body: errorBody(415, 'UNSUPPORTED_MEDIA_TYPE', 'Unsupported Media Type', 'Unsupported Media Type')
    },
    {
      name: 'an HTML form post (what a cross-site form sends)',
      email: 'form@example.test',
      request: { headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: new URLSearchParams({ email: 'form@example.test', password: DEFAULT_PASSWORD }).toString() },
      body: errorBody(415, 'UNSUPPORTED_MEDIA_TYPE', 'Unsupported Media Type', 'Unsupported Media Type')
    },
    {
      name: 'malformed JSON',
      email: 'broken@example.test',
      request: { headers: json, payload: valid('broken@example.test').slice(0, -1) },
      body: errorBody(400, 'INVALID_JSON', 'Bad Request', 'Body is not valid JSON but content-type is set to \'application/json\'')
    },
    {
      name: 'empty JSON body',
      email: '',
      request: { headers: json, payload: '' },
      body: errorBody(400, 'INVALID_JSON', 'Bad Request', 'Body cannot be empty when content-type is set to \'application/json\'')
    },
    {
      name: 'a JSON array',
      email: '',
      request: { headers: json, payload: '[]' },
      body: errorBody(400, 'VALIDATION_ERROR', 'Bad Request', 'body must be object')
    },
    {
      name: '__proto__ key',
      email: 'proto@example.test',
      request: { headers: json, payload: `{"email":"proto@example.test","password":"${DEFAULT_PASSWORD}","__proto__":{"polluted":true,"role":"admin"}}` },
      body: errorBody(400, 'INVALID_JSON', 'Bad Request', 'Body is not valid JSON but content-type is set to \'application/json\'')
    },
    {
      name: 'constructor.prototype key',
      email: 'ctor@example.test',
      request: { headers: json, payload: `{"email":"ctor@example.test","password":"${DEFAULT_PASSWORD}","constructor":{"prototype":{"polluted":true}}}` },
      body: errorBody(400, 'INVALID_JSON', 'Bad Request', 'Body is not valid JSON but content-type is set to \'application/json\'')
    },
    {
      name: 'a body over the limit',
      email: 'huge@example.test',
      request: { payload: { email: 'huge@example.test', password: DEFAULT_PASSWORD, full_name: 'x'.repeat(70_000) } },
      body: errorBody(413, 'PAYLOAD_TOO_LARGE', 'Payload Too Large', 'Request body is too large')
    }
  ]

  for (const { name, email, request, body } of cases) {
    const res = await app.inject({ method: 'POST', url: '/users', ...request })
    t.equal(res.statusCode, body.statusCode, `${name}: status`)
    t.match(res.headers['content-type'], /^application\/json/, `${name}: a JSON answer`)
    t.same(res.json(), body, `${name}: exactly the standard error body`)
    if (email) t.same(await listByEmail(admin, email), { items: [], next_cursor: null }, `${name}: no user ${email}`)
  }
  t.equal(({} as Record<string, unknown>).polluted, undefined, 'Object.prototype is not polluted')
  t.equal(({} as Record<string, unknown>).role, undefined)
  t.equal(userCount(app), usersBefore, 'no failed request created a user')
})
