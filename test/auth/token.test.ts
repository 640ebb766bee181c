import type { InjectOptions, LightMyRequestResponse } from 'fastify'
import t, { type Test } from 'tap'
import { decodeJwt } from 'jose'
import { build, createUser, createClient, DEFAULT_PASSWORD, type App, sqliteOf } from '../helper.js'

const FORM = { 'content-type': 'application/x-www-form-urlencoded' }
const INVALID_CREDENTIALS = { error: 'invalid_grant', error_description: 'Invalid username or password' }
const MISSING_CREDENTIALS = { error: 'invalid_request', error_description: 'username and password are required for grant_type=password' }

const formBody = (fields: Record<string, string>) => new URLSearchParams(fields).toString()
const refreshTokenRows = (app: App) => (sqliteOf(app).prepare('SELECT count(*) AS n FROM refresh_tokens').get() as { n: number }).n

/** A 200 of the token endpoint: exactly the RFC 6749 fields, never cached; a customer's login gets every scope a customer may hold. */
function assertTokenAnswer (t: Test, res: LightMyRequestResponse, name: string, scope = 'account cart orders') {
  t.equal(res.statusCode, 200, `${name}: 200`)
  t.equal(res.headers['cache-control'], 'no-store', `${name}: Cache-Control: no-store`)
  t.match(res.headers['content-type'], /^application\/json/, `${name}: JSON`)
  const body = res.json()
  t.strictSame(body, {
    access_token: body.access_token,
    token_type: 'Bearer',
    expires_in: 900,
    refresh_token: body.refresh_token,
    scope
  }, `${name}: exactly access_token, token_type, expires_in, refresh_token, scope`)
  t.equal(decodeJwt(body.access_token).scope, scope, `${name}: the token's scope claim is the granted set`)
  t.match(body.access_token, /^[\w-]+\.[\w-]+\.[\w-]+$/, `${name}: a compact JWT`)
  t.match(body.refresh_token, /^[\w-]{43}$/, `${name}: an opaque 256-bit refresh token`)
  return body as { access_token: string, refresh_token: string }
}

async function me (app: App, accessToken: string) {
  return app.inject({ method: 'GET', url: '/users/me', headers: { authorization: `Bearer ${accessToken}` } })
}

t.test('password grant, form-encoded: 200 with the RFC 6749 answer; the username is matched case-insensitively', async (t) => {
  const app = await build(t)
  const registered = await app.inject({ method: 'POST', url: '/users', payload: { email: 'Ann@Example.test', password: DEFAULT_PASSWORD } })
  t.equal(registered.statusCode, 201)

  const res = await app.inject({
    method: 'POST',
    url: '/auth/token',
    headers: FORM,
    payload: formBody({ grant_type: 'password', username: 'ann@example.TEST', password: DEFAULT_PASSWORD })
  })
  const body = assertTokenAnswer(t, res, 'form')
  const claims = decodeJwt(body.access_token)
  t.equal(claims.sub, String(registered.json().id), 'the token is for the registered user')
  t.equal(claims.client_id, 'public', 'client_id defaults to public')
  const caller = await me(app, body.access_token)
  t.equal(caller.statusCode, 200)
  t.equal(caller.json().email, 'ann@example.test')
})

t.test('password grant, JSON: same answer; grant_type defaults to password; client_id becomes the claim', async (t) => {
  const app = await build(t)
  await app.inject({ method: 'POST', url: '/users', payload: { email: 'Ann@Example.test', password: DEFAULT_PASSWORD } })

  const explicit = await app.inject({
    method: 'POST', url: '/auth/token', payload: { grant_type: 'password', username: 'ann@example.TEST', password: DEFAULT_PASSWORD }
  })
  t.equal(decodeJwt(assertTokenAnswer(t, explicit, 'JSON').access_token).client_id, 'public', 'client_id defaults to public')

  const noGrant = await app.inject({
    method: 'POST', url: '/auth/token', payload: { username: 'ANN@EXAMPLE.TEST', password: DEFAULT_PASSWORD, client_id: 'mobile-app' }
  })
  const body = assertTokenAnswer(t, noGrant, 'no grant_type')
  t.equal(decodeJwt(body.access_token).client_id, 'mobile-app', 'client_id is carried into the token')
  t.equal((await me(app, body.access_token)).statusCode, 200)

  const formNoGrant = await app.inject({
    method: 'POST', url: '/auth/token', headers: FORM, payload: formBody({ username: 'ann@example.test', password: DEFAULT_PASSWORD, client_id: 'cli' })
  })
  t.equal(decodeJwt(assertTokenAnswer(t, formNoGrant, 'form without grant_type').access_token).client_id, 'cli')
})

t.test('a Basic Authorization header and client_secret are accepted and ignored by the password grant', async (t) => {
  const app = await build(t)
  const user = await createUser(app)
  const basic = (credentials: string) => `Basic ${Buffer.from(credentials).toString('base64')}`
  const variants: Array<[string, InjectOptions]> = [
    ['Swagger UI\'s empty Basic header, form', {
      headers: { ...FORM, authorization: basic(':') },
      payload: formBody({ grant_type: 'password', username: user.email, password: user.password, scope: '', client_secret: '' })
    }],
    ['a client id and secret in Basic, JSON', {
      headers: { authorization: basic('some-client:some-secret') },
      payload: { username: user.email, password: user.password, client_secret: 'whatever', scope: 'anything account cart orders' }
    }],
    ['an unparseable Basic header', {
      headers: { authorization: 'Basic !!!not-base64' },
      payload: { username: user.email, password: user.password }
    }]
  ]
  for (const [name, request] of variants) {
    const res = await app.inject({ method: 'POST', url: '/auth/token', ...request })
    const body = assertTokenAnswer(t, res, name)
    t.equal(decodeJwt(body.access_token).client_id, 'public', `${name}: the Basic header does not set the client`)
    t.equal((await me(app, body.access_token)).statusCode, 200, `${name}: the token works`)
  }
})

t.test('wrong password and unknown e-mail: the same status, headers and body; nothing is issued', async (t) => {
  const app = await build(t)
  const user = await createUser(app)
  const before = refreshTokenRows(app)
  const wrong = await app.inject({ method: 'POST', url: '/auth/token', payload: { username: user.email, password: 'not the password' } })
  const unknown = await app.inject({ method: 'POST', url: '/auth/token', payload: { username: 'nobody@example.test', password: 'not the password' } })
  const wrongForm = await app.inject({ method: 'POST', url: '/auth/token', headers: FORM, payload: formBody({ username: user.email, password: 'nope' }) })
  const unknownForm = await app.inject({ method: 'POST', url: '/auth/token', headers: FORM, payload: formBody({ username: 'nobody@example.test', password: 'nope' }) })

  t.equal(wrong.statusCode, 400)
  t.equal(unknown.statusCode, wrong.statusCode, 'same status')
  t.same(wrong.json(), INVALID_CREDENTIALS)
  t.same(unknown.json(), wrong.json(), 'same body')
  t.equal(unknown.body, wrong.body, 'byte for byte')
  for (const header of ['cache-control', 'content-type', 'content-length', 'www-authenticate']) {
    t.equal(unknown.headers[header], wrong.headers[header], `same ${header}`)
  }
  t.equal(wrong.headers['cache-control'], 'no-store')
  t.same(wrongForm.json(), INVALID_CREDENTIALS, 'form: wrong password')
  t.same(unknownForm.json(), wrongForm.json(), 'form: unknown e-mail, same body')
  t.equal(unknownForm.statusCode, wrongForm.statusCode)
  t.equal(refreshTokenRows(app), before, 'no refresh token was issued')
})

t.test('a disabled user gets the same invalid_grant as a wrong password', async (t) => {
  const app = await build(t)
  const admin = await createUser(app, { role: 'admin' })
  const user = await createUser(app)
  const patched = await admin.inject({ method: 'PATCH', url: `/users/${user.id}`, payload: { disabled: true } })
  t.equal(patched.statusCode, 200)
  t.equal(patched.json().disabled, true)
  const before = refreshTokenRows(app)

  const disabled = await app.inject({ method: 'POST', url: '/auth/token', payload: { username: user.email, password: user.password } })
  t.equal(disabled.statusCode, 400)
  t.same(disabled.json(), INVALID_CREDENTIALS)
  t.equal(disabled.headers['cache-control'], 'no-store')
  t.equal(refreshTokenRows(app), before, 'no refresh token was issued')

  await admin.inject({ method: 'PATCH', url: `/users/${user.id}`, payload: { disabled: false } })
  const enabled = await app.inject({ method: 'POST', url: '/auth/token', payload: { username: user.email, password: user.password } })
  assertTokenAnswer(t, enabled, 're-enabled')
})

t.test('malformed requests: exact RFC 6749 bodies, 400, no-store, nothing issued', async (t) => {
  const app = await build(t)
  const user = await createUser(app)
  const invalid = (description: string) => ({ error: 'invalid_request', error_description: description })
  const cases: Array<[string, InjectOptions, object]> = [
    ['missing password', { payload: { username: user.email } }, MISSING_CREDENTIALS],
    ['missing username', { payload: { password: user.password } }, MISSING_CREDENTIALS],
    ['empty username', { payload: { username: '', password: user.password } }, MISSING_CREDENTIALS],
    ['missing both, form', { headers: FORM, payload: formBody({ grant_type: 'password' }) }, MISSING_CREDENTIALS],
    ['empty form body', { headers: FORM, payload: '' }, MISSING_CREDENTIALS],
    ['unknown grant_type', { payload: { grant_type: 'implicit', username: user.email, password: user.password } },
      { error: 'unsupported_grant_type', error_description: 'grant_type must be password, refresh_token or client_credentials' }],
    ['authorization_code, form', { headers: FORM, payload: formBody({ grant_type: 'authorization_code', code: 'x' }) },
      { error: 'unsupported_grant_type', error_description: 'grant_type must be password, refresh_token or client_credentials' }],
    ['refresh_token grant without the token', { payload: { grant_type: 'refresh_token' } },
      invalid('refresh_token is required for grant_type=refresh_token')],
    ['malformed JSON', { headers: { 'content-type': 'application/json' }, payload: '{"username":' }, invalid('Malformed request body')],
    ['empty JSON body', { headers: { 'content-type': 'application/json' }, payload: '' }, invalid('Malformed request body')],
    ['JSON array', { headers: { 'content-type': 'application/json' }, payload: '[]' }, invalid('Invalid request: body must be object')],
    ['no body at all', {}, invalid('Invalid request: body must be object')],
    ['username as a number', { payload: { username: 5, password: user.password } }, invalid('Invalid request: body/username must be string')],
    ['password as a number', { payload: { username: user.email, password: 12345678 } }, invalid('Invalid request: body/password must be string')],
    ['repeated form field', { headers: FORM, payload: `username=${encodeURIComponent(user.email)}&username=b%40example.test&password=x` },
      invalid('Invalid request: body/username must be string')],
    ['repeated grant_type', { headers: FORM, payload: 'grant_type=password&grant_type=refresh_token' },
      invalid('Invalid request: body/grant_type must be string')],
    ['empty client_id', { payload: { username: user.email, password: user.password, client_id: '' } },
      invalid('Invalid request: body/client_id must NOT have fewer than 1 characters')]
  ]
  const before = refreshTokenRows(app)
  for (const [name, request, expected] of cases) {
    const res = await app.inject({ method: 'POST', url: '/auth/token', ...request })
    t.equal(res.statusCode, 400, `${name}: 400`)
    t.strictSame(res.json(), expected, `${name}: exact body`)
    t.equal(res.headers['cache-control'], 'no-store', `${name}: no-store`)
  }
  t.equal(refreshTokenRows(app), before, 'nothing was issued')

  const text = await app.inject({ method: 'POST', url: '/auth/token', headers: { 'content-type': 'text/plain' }, payload: 'username=x' })
  t.equal(text.statusCode, 415, 'other media types are refused, not parsed')
  t.equal(text.json().code, 'UNSUPPORTED_MEDIA_TYPE')
})

t.test('/.well-known/oauth-authorization-server: RFC 8414 metadata from JWT_ISSUER', async (t) => {
  const issuers: Array<[string, string]> = [
    ['http://localhost:3000', 'http://localhost:3000'],
    ['https://shop.example/api', 'https://shop.example/api'],
    ['https://auth.example/', 'https://auth.example']
  ]
  for (const [issuer, base] of issuers) {
    const app = await build(t, issuer === 'http://localhost:3000' ? {} : { JWT_ISSUER: issuer })
    const res = await app.inject({ method: 'GET', url: '/.well-known/oauth-authorization-server' })
    t.equal(res.statusCode, 200)
    t.strictSame(res.json(), {
      issuer,
      token_endpoint: `${base}/auth/token`,
      revocation_endpoint: `${base}/auth/revoke`,
      introspection_endpoint: `${base}/auth/introspect`,
      jwks_uri: `${base}/.well-known/jwks.json`,
      grant_types_supported: ['password', 'refresh_token', 'client_credentials'],
      token_endpoint_auth_methods_supported: ['none', 'client_secret_basic', 'client_secret_post'],
      revocation_endpoint_auth_methods_supported: ['none'],
      introspection_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post'],
      scopes_supported: ['account', 'cart', 'orders', 'catalogue:write', 'orders:read', 'orders:write', 'users:read', 'users:write', 'clients:admin'],
      response_types_supported: [],
      service_documentation: `${base}/docs`
    }, `issuer ${issuer}`)
    const user = await createUser(app)
    t.equal(decodeJwt(user.accessToken).iss, issuer, 'tokens carry the same issuer')
  }
})

t.test('/.well-known/jwks.json publishes the public signing key only', async (t) => {
  const app = await build(t)
  const res = await app.inject({ method: 'GET', url: '/.well-known/jwks.json' })
  t.equal(res.statusCode, 200)
  const { keys } = res.json()
  t.equal(keys.length, 1)
  t.strictSame(Object.keys(keys[0]).sort(), ['alg', 'crv', 'kid', 'kty', 'use', 'x'], 'no private member (d)')
  t.match(keys[0], { kty: 'OKP', crv: 'Ed25519', alg: 'EdDSA', use: 'sig', kid: /^[\w-]{43}$/, x: /^[\w-]{43}$/ })
})

t.test('a person\'s login may not name a service client as its client_id: that client would have to authenticate', async (t) => {
  const app = await build(t)
  const user = await createUser(app)
  const client = await createClient(app, ['orders:read'])
  const before = refreshTokenRows(app)
  const res = await app.inject({ method: 'POST', url: '/auth/token', payload: { username: user.email, password: user.password, client_id: client.clientId } })
  t.same([res.statusCode, res.json()], [401, { error: 'invalid_client', error_description: 'A service client gets tokens with grant_type=client_credentials' }])
  t.equal(refreshTokenRows(app), before, 'nothing was issued')
  const other = await app.inject({ method: 'POST', url: '/auth/token', payload: { username: user.email, password: user.password, client_id: 'svc-lookalike' } })
  t.equal(decodeJwt(assertTokenAnswer(t, other, 'another client_id').access_token).client_id, 'svc-lookalike', 'any other client_id is carried as before')
})
