import crypto from 'node:crypto'
import type { InjectOptions, LightMyRequestResponse } from 'fastify'
import t, { type Test } from 'tap'
import fc from 'fast-check'
import { decodeJwt, generateKeyPair, SignJWT } from 'jose'
import { build, clientToken, createClient, createUser, login, type App, type TestClient, type TestUser } from '../helper.js'
import { insertProduct } from '../commerce-fixtures.js'

// POST /auth/introspect (contract v2; RFC 7662): is this token accepted right now, and for what?

const ISSUER = 'http://localhost:3000'
const AUDIENCE = 'ecommerce-api'
const REFRESH_TTL = 1_209_600
const CUSTOMER_SCOPES = 'account cart orders'
const ADMIN_SCOPES = 'account cart orders catalogue:write orders:read orders:write users:read users:write clients:admin'
const SCOPE_NAMES = ADMIN_SCOPES.split(' ')
const CLIENT_SCOPES = ['catalogue:write', 'orders:read', 'orders:write', 'users:read', 'users:write']
const FORM = { 'content-type': 'application/x-www-form-urlencoded' }
const INVALID_CLIENT = { error: 'invalid_client', error_description: 'Client authentication failed' }
const BASIC_CHALLENGE = 'Basic realm="ecommerce-api", charset="UTF-8"'
const INACTIVE = { active: false }

type Caller = Pick<TestClient, 'clientId' | 'clientSecret'>
const basic = (clientId: string, clientSecret: string) =>
  `Basic ${Buffer.from(`${encodeURIComponent(clientId)}:${encodeURIComponent(clientSecret)}`).toString('base64')}`

/** client_secret_post, JSON. */
const introspect = (app: App, caller: Caller, token: string | undefined, fields: Record<string, string> = {}) => app.inject({
  method: 'POST', url: '/auth/introspect', payload: { client_id: caller.clientId, client_secret: caller.clientSecret, ...(token === undefined ? {} : { token }), ...fields }
})
/** client_secret_basic, form. */
const introspectBasic = (app: App, caller: Caller, token: string, fields: Record<string, string> = {}) => app.inject({
  method: 'POST', url: '/auth/introspect', headers: { ...FORM, authorization: basic(caller.clientId, caller.clientSecret) }, payload: new URLSearchParams({ token, ...fields }).toString()
})

interface Expected { scope: string, client_id: string, sub: string, token_type: 'Bearer' | 'refresh_token' }

/** 200 {active: true, …}: exactly RFC 7662's fields; for an access token exp and iat are the JWT's. */
function assertActive (t: Test, res: LightMyRequestResponse, expected: Expected, token: string, name: string) {
  t.equal(res.statusCode, 200, `${name}: 200`)
  t.equal(res.headers['cache-control'], 'no-store', `${name}: no-store`)
  const body = res.json()
  t.strictSame(body, { active: true, ...expected, exp: body.exp, iat: body.iat, iss: ISSUER, aud: AUDIENCE }, `${name}: active, exactly the fields`)
  t.strictSame(Object.keys(body), ['active', 'scope', 'client_id', 'sub', 'token_type', 'exp', 'iat', 'iss', 'aud'])
  const now = Math.floor(Date.now() / 1000)
  if (expected.token_type === 'Bearer') {
    const claims = decodeJwt(token)
    t.equal(body.exp, claims.exp, `${name}: exp is the token's`)
    t.equal(body.iat, claims.iat, `${name}: iat is the token's`)
  } else {
    t.ok(body.iat <= now + 1 && body.iat >= now - 60, `${name}: iat is about now (${body.iat} vs ${now})`)
    t.ok(body.exp - body.iat >= REFRESH_TTL - 2 && body.exp - body.iat <= REFRESH_TTL + 2, `${name}: exp is REFRESH_TOKEN_TTL after iat`)
  }
}

function assertInactive (t: Test, res: LightMyRequestResponse, name: string) {
  t.equal(res.statusCode, 200, `${name}: 200`)
  t.strictSame(res.json(), INACTIVE, `${name}: exactly {active: false}`)
  t.equal(res.headers['cache-control'], 'no-store', `${name}: no-store`)
}

const person = (user: TestUser, scope: string, tokenType: Expected['token_type'] = 'Bearer'): Expected =>
  ({ scope, client_id: 'public', sub: String(user.id), token_type: tokenType })
const service = (client: Caller, scope: string): Expected => ({ scope, client_id: client.clientId, sub: client.clientId, token_type: 'Bearer' })

t.test('an active access token, a person\'s: Basic and post, JSON and form, exactly the RFC 7662 fields', async (t) => {
  const app = await build(t)
  const caller = await createClient(app, ['catalogue:write'])
  const customer = await createUser(app)
  const admin = await createUser(app, { role: 'admin' })

  assertActive(t, await introspect(app, caller, customer.accessToken), person(customer, CUSTOMER_SCOPES), customer.accessToken, 'customer, post')
  assertActive(t, await introspectBasic(app, caller, customer.accessToken), person(customer, CUSTOMER_SCOPES), customer.accessToken, 'customer, Basic')
  assertActive(t, await introspect(app, caller, admin.accessToken), person(admin, ADMIN_SCOPES), admin.accessToken, 'admin, post')
  const form = await app.inject({
    method: 'POST', url: '/auth/introspect', headers: FORM, payload: new URLSearchParams({ token: admin.accessToken, client_id: caller.clientId, client_secret: caller.clientSecret }).toString()
  })
  assertActive(t, form, person(admin, ADMIN_SCOPES), admin.accessToken, 'admin, post, form')

  const narrowed = await app.inject({ method: 'POST', url: '/auth/token', payload: { username: admin.email, password: admin.password, scope: 'users:read orders', client_id: 'backoffice' } })
  const token = narrowed.json().access_token
  assertActive(t, await introspect(app, caller, token), { ...person(admin, 'orders users:read'), client_id: 'backoffice' }, token, 'a narrowed token with its client_id')
})

t.test('an active access token of a client: sub and client_id are the client\'s; scope the token\'s', async (t) => {
  const app = await build(t)
  const caller = await createClient(app, ['users:read'])
  const subject = await createClient(app, ['orders:read', 'orders:write'])
  assertActive(t, await introspectBasic(app, caller, subject.accessToken), service(subject, 'orders:read orders:write'), subject.accessToken, 'a client token')
  const narrowed = await clientToken(app, subject.clientId, subject.clientSecret, 'orders:write')
  assertActive(t, await introspect(app, caller, narrowed), service(subject, 'orders:write'), narrowed, 'a narrowed client token')
  assertActive(t, await introspect(app, subject, subject.accessToken), service(subject, 'orders:read orders:write'), subject.accessToken, 'a client introspects its own token')
})

t.test('an active refresh token: token_type refresh_token, the login\'s scopes and client_id', async (t) => {
  const app = await build(t)
  const caller = await createClient(app, ['users:read'])
  const customer = await createUser(app)
  assertActive(t, await introspect(app, caller, customer.refreshToken), person(customer, CUSTOMER_SCOPES, 'refresh_token'), customer.refreshToken, 'post')
  assertActive(t, await introspectBasic(app, caller, customer.refreshToken), person(customer, CUSTOMER_SCOPES, 'refresh_token'), customer.refreshToken, 'Basic')
  const narrowed = await app.inject({ method: 'POST', url: '/auth/token', payload: { username: customer.email, password: customer.password, scope: 'cart', client_id: 'mobile' } })
  const { refresh_token: refreshToken } = narrowed.json()
  assertActive(t, await introspect(app, caller, refreshToken), { ...person(customer, 'cart', 'refresh_token'), client_id: 'mobile' }, refreshToken, 'a narrowed login')
})

t.test('token_type_hint is only a hint: a wrong or unknown one still finds the token', async (t) => {
  const app = await build(t)
  const caller = await createClient(app, ['users:read'])
  const customer = await createUser(app)
  for (const hint of ['refresh_token', 'access_token', 'id_token', 'nonsense', '']) {
    assertActive(t, await introspect(app, caller, customer.accessToken, { token_type_hint: hint }), person(customer, CUSTOMER_SCOPES), customer.accessToken, `access token, hint "${hint}"`)
    assertActive(t, await introspect(app, caller, customer.refreshToken, { token_type_hint: hint }), person(customer, CUSTOMER_SCOPES, 'refresh_token'), customer.refreshToken, `refresh token, hint "${hint}"`)
  }
  assertInactive(t, await introspect(app, caller, 'garbage', { token_type_hint: 'access_token' }), 'garbage, hint access_token')
  assertInactive(t, await introspect(app, caller, 'a.b.c', { token_type_hint: 'refresh_token' }), 'a JWT-shaped string, hint refresh_token')
})

t.test('{active: false} once a person\'s session ends: sign-out everywhere, disabled, deleted, password change', async (t) => {
  const app = await build(t)
  const caller = await createClient(app, ['users:read'])
  const admin = await createUser(app, { role: 'admin' })
  const endings: Array<[string, (user: TestUser) => Promise<LightMyRequestResponse>, number]> = [
    ['sign-out everywhere', (user) => user.inject({ method: 'DELETE', url: '/users/me/sessions' }), 204],
    ['disabled by an admin', (user) => admin.inject({ method: 'PATCH', url: `/users/${user.id}`, payload: { disabled: true } }), 200],
    ['deleted (by itself)', (user) => user.inject({ method: 'DELETE', url: '/users/me' }), 204],
    ['deleted by an admin', (user) => admin.inject({ method: 'DELETE', url: `/users/${user.id}` }), 204],
    ['password change', (user) => user.inject({ method: 'PUT', url: '/users/me/password', payload: { current_password: user.password, new_password: 'another good passphrase' } }), 204]
  ]
  for (const [name, end, status] of endings) {
    const user = await createUser(app)
    const second = await login(app, user.email, user.password)
    assertActive(t, await introspect(app, caller, user.accessToken), person(user, CUSTOMER_SCOPES), user.accessToken, `${name}, before`)
    t.equal((await end(user)).statusCode, status, `${name}: done`)
    for (const [what, token] of [['access token', user.accessToken], ['refresh token', user.refreshToken], ['another login\'s access token', second.access_token], ['another login\'s refresh token', second.refresh_token]]) {
      assertInactive(t, await introspect(app, caller, token!), `${name}: ${what}`)
      assertInactive(t, await introspectBasic(app, caller, token!), `${name}: ${what}, Basic`)
    }
  }
  // Re-enabling does not bring tokens back (the disable ended them).
  const user = await createUser(app)
  await admin.inject({ method: 'PATCH', url: `/users/${user.id}`, payload: { disabled: true } })
  await admin.inject({ method: 'PATCH', url: `/users/${user.id}`, payload: { disabled: false } })
  assertInactive(t, await introspect(app, caller, user.accessToken), 're-enabled: the token from before')
  t.equal((await user.inject({ method: 'GET', url: '/users/me' })).statusCode, 401, 'which authenticate refuses too')
})

t.test('{active: false} for a client\'s tokens once it is disabled, rotated or deleted', async (t) => {
  const app = await build(t)
  const admin = await createUser(app, { role: 'admin' })
  const caller = await createClient(app, ['users:read'], { admin })
  const endings: Array<[string, (client: TestClient) => Promise<LightMyRequestResponse>, number]> = [
    ['disabled', (client) => admin.inject({ method: 'PATCH', url: `/clients/${client.clientId}`, payload: { disabled: true } }), 200],
    ['secret rotated', (client) => admin.inject({ method: 'POST', url: `/clients/${client.clientId}/secret` }), 200],
    ['deleted', (client) => admin.inject({ method: 'DELETE', url: `/clients/${client.clientId}` }), 204]
  ]
  for (const [name, end, status] of endings) {
    const client = await createClient(app, ['orders:read'], { admin })
    assertActive(t, await introspect(app, caller, client.accessToken), service(client, 'orders:read'), client.accessToken, `${name}, before`)
    t.equal((await end(client)).statusCode, status, `${name}: done`)
    assertInactive(t, await introspect(app, caller, client.accessToken), `${name}: its token`)
    assertInactive(t, await introspectBasic(app, caller, client.accessToken), `${name}: its token, Basic`)
  }
  const narrowedAway = await createClient(app, ['orders:read', 'users:read'], { admin })
  await admin.inject({ method: 'PATCH', url: `/clients/${narrowedAway.clientId}`, payload: { scopes: ['users:read'] } })
  assertActive(t, await introspect(app, caller, narrowedAway.accessToken), service(narrowedAway, 'users:read'), narrowedAway.accessToken, 'narrowed: active with what is left')
  await admin.inject({ method: 'PATCH', url: `/clients/${narrowedAway.clientId}`, payload: { scopes: ['catalogue:write'] } })
  assertActive(t, await introspect(app, caller, narrowedAway.accessToken), service(narrowedAway, ''), narrowedAway.accessToken, 'narrowed to nothing the token had: active, empty scope')
})

t.test('refresh tokens: a used (rotated) one and a revoked one are inactive; the new one is active', async (t) => {
  const app = await build(t)
  const caller = await createClient(app, ['users:read'])
  const customer = await createUser(app)
  const rotated = await app.inject({ method: 'POST', url: '/auth/token', payload: { grant_type: 'refresh_token', refresh_token: customer.refreshToken } })
  t.equal(rotated.statusCode, 200)
  const next = rotated.json<{ access_token: string, refresh_token: string }>()
  assertInactive(t, await introspect(app, caller, customer.refreshToken), 'used once')
  assertActive(t, await introspect(app, caller, next.refresh_token), person(customer, CUSTOMER_SCOPES, 'refresh_token'), next.refresh_token, 'its successor')
  assertActive(t, await introspect(app, caller, customer.accessToken), person(customer, CUSTOMER_SCOPES), customer.accessToken, 'the first access token lives on (refresh ends no access token)')
  t.equal((await app.inject({ method: 'POST', url: '/auth/revoke', payload: { token: next.refresh_token } })).statusCode, 200)
  assertInactive(t, await introspect(app, caller, next.refresh_token), 'revoked')
  const other = await login(app, customer.email, customer.password)
  assertActive(t, await introspect(app, caller, other.refresh_token), person(customer, CUSTOMER_SCOPES, 'refresh_token'), other.refresh_token, 'another login is unaffected')
})

t.test('an expired access token is inactive (ACCESS_TOKEN_TTL=1)', async (t) => {
  const app = await build(t, { ACCESS_TOKEN_TTL: '1' })
  const caller = await createClient(app, ['users:read'])
  const customer = await createUser(app)
  const client = await createClient(app, ['orders:read'])
  t.equal(decodeJwt(customer.accessToken).exp! - decodeJwt(customer.accessToken).iat!, 1)
  await new Promise((resolve) => setTimeout(resolve, 2100))
  assertInactive(t, await introspect(app, caller, customer.accessToken), 'a person\'s, expired')
  assertInactive(t, await introspect(app, caller, client.accessToken), 'a client\'s, expired')
  t.equal((await customer.inject({ method: 'GET', url: '/users/me' })).statusCode, 401, 'authenticate refuses it too')
  assertActive(t, await introspect(app, caller, customer.refreshToken), person(customer, CUSTOMER_SCOPES, 'refresh_token'), customer.refreshToken, 'the refresh token lives longer')
  // A login after the wait: its refresh token's iat is its own issue time, not the app's start.
  const before = Math.floor(Date.now() / 1000)
  const later = await login(app, customer.email, customer.password)
  const res = await introspect(app, caller, later.refresh_token)
  assertActive(t, res, person(customer, CUSTOMER_SCOPES, 'refresh_token'), later.refresh_token, 'a later login\'s refresh token')
  t.ok(res.json().iat >= before, `its iat (${res.json().iat}) is not before the login (${before})`)
  // (exp and iat are read from the clock a moment apart: a second boundary may fall between.)
  t.ok([REFRESH_TTL, REFRESH_TTL - 1].includes(res.json().exp - res.json().iat), 'and exp is REFRESH_TOKEN_TTL after it')
})

t.test('anything that is not a token of ours: {active: false}', async (t) => {
  const app = await build(t)
  const caller = await createClient(app, ['users:read'])
  const customer = await createUser(app)
  const genuine = decodeJwt(customer.accessToken)
  const { privateKey } = await generateKeyPair('EdDSA')
  const forged = await new SignJWT({ ...genuine })
    .setProtectedHeader({ alg: 'EdDSA', typ: 'at+jwt', kid: app.keyRing.active.kid })
    .sign(privateKey)
  const [header, payload, signature] = customer.accessToken.split('.') as [string, string, string]
  const flipped = signature.slice(0, -2) + (signature.at(-2) === 'A' ? 'B' : 'A') + signature.at(-1)
  const elevated = Buffer.from(JSON.stringify({ ...genuine, scope: ADMIN_SCOPES, role: 'admin' })).toString('base64url')
  const none = `${Buffer.from(JSON.stringify({ alg: 'none', typ: 'at+jwt' })).toString('base64url')}.${payload}.`
  const cases: Array<[string, string]> = [
    ['a word', 'garbage'],
    ['a dot', '.'],
    ['three dots', 'a.b.c'],
    ['an opaque string of a refresh token\'s shape', crypto.randomBytes(32).toString('base64url')],
    ['a JWT signed by someone else, our kid', forged],
    ['a tampered signature', `${header}.${payload}.${flipped}`],
    ['a changed payload', `${header}.${elevated}.${signature}`],
    ['alg none', none],
    ['the token with a suffix', `${customer.accessToken}x`],
    ['a refresh token with a suffix', `${customer.refreshToken}x`],
    ['very long', 'x'.repeat(4096)],
    ['the client\'s own secret', caller.clientSecret]
  ]
  for (const [name, token] of cases) {
    assertInactive(t, await introspect(app, caller, token), name)
  }
  t.equal((await app.inject({ method: 'GET', url: '/users/me', headers: { authorization: `Bearer ${forged}` } })).statusCode, 401, 'authenticate refuses the forged token too')
  const tooLong = await introspect(app, caller, 'x'.repeat(4097))
  t.equal(tooLong.statusCode, 400, 'a token over 4096 characters: 400')
  t.equal(tooLong.json().error, 'invalid_request')
})

t.test('demotion: the admin\'s tokens stay active with the reduced scope', async (t) => {
  const app = await build(t)
  const caller = await createClient(app, ['users:read'])
  const admin = await createUser(app, { role: 'admin' })
  const operator = await createUser(app, { role: 'admin' })
  const narrowed = await app.inject({ method: 'POST', url: '/auth/token', payload: { username: admin.email, password: admin.password, scope: 'cart users:read' } })
  const narrowedToken = narrowed.json().access_token
  t.equal((await operator.inject({ method: 'PATCH', url: `/users/${admin.id}`, payload: { role: 'customer' } })).statusCode, 200)
  assertActive(t, await introspect(app, caller, admin.accessToken), person(admin, CUSTOMER_SCOPES), admin.accessToken, 'demoted: access token')
  assertActive(t, await introspect(app, caller, admin.refreshToken), person(admin, CUSTOMER_SCOPES, 'refresh_token'), admin.refreshToken, 'demoted: refresh token')
  assertActive(t, await introspect(app, caller, narrowedToken), person(admin, 'cart'), narrowedToken, 'demoted: a narrowed token keeps only cart')
  t.equal((await operator.inject({ method: 'PATCH', url: `/users/${admin.id}`, payload: { role: 'admin' } })).statusCode, 200)
  assertActive(t, await introspect(app, caller, admin.accessToken), person(admin, ADMIN_SCOPES), admin.accessToken, 'promoted again: all of it')
})

t.test('client authentication: a wrong, unknown or disabled client gets 401 invalid_client; missing token 400', async (t) => {
  const app = await build(t)
  const admin = await createUser(app, { role: 'admin' })
  const caller = await createClient(app, ['users:read'], { admin })
  const disabled = await createClient(app, ['users:read'], { admin })
  t.equal((await admin.inject({ method: 'PATCH', url: `/clients/${disabled.clientId}`, payload: { disabled: true } })).statusCode, 200)
  const customer = await createUser(app)

  const wrongs: Array<[string, Caller]> = [
    ['a wrong secret', { clientId: caller.clientId, clientSecret: 'sk_nope' }],
    ['an unknown client', { clientId: 'svc_00000000000000000000', clientSecret: caller.clientSecret }],
    ['a disabled client', disabled]
  ]
  let address = 0
  for (const [name, who] of wrongs) {
    const viaPost = await app.inject({
      method: 'POST', url: '/auth/introspect', remoteAddress: `10.0.2.${++address}`, payload: { client_id: who.clientId, client_secret: who.clientSecret, token: customer.accessToken }
    })
    t.equal(viaPost.statusCode, 401, `${name}, post: 401`)
    t.strictSame(viaPost.json(), INVALID_CLIENT, `${name}, post: invalid_client`)
    t.equal(viaPost.headers['www-authenticate'], undefined, `${name}, post: no challenge`)
    const viaBasic = await app.inject({
      method: 'POST', url: '/auth/introspect', remoteAddress: `10.0.2.${++address}`, headers: { authorization: basic(who.clientId, who.clientSecret) }, payload: { token: customer.accessToken }
    })
    t.equal(viaBasic.statusCode, 401, `${name}, Basic: 401`)
    t.strictSame(viaBasic.json(), INVALID_CLIENT, `${name}, Basic: invalid_client`)
    t.equal(viaBasic.headers['www-authenticate'], BASIC_CHALLENGE, `${name}, Basic: the Basic challenge`)
  }
  const unauthenticated: Array<[string, InjectOptions]> = [
    ['no client at all', { payload: { token: customer.accessToken } }],
    ['only client_id', { payload: { token: customer.accessToken, client_id: caller.clientId } }],
    ['a Bearer token instead', { headers: { authorization: `Bearer ${customer.accessToken}` }, payload: { token: customer.accessToken } }],
    ['a missing token and no client', { payload: {} }]
  ]
  for (const [name, request] of unauthenticated) {
    const res = await app.inject({ method: 'POST', url: '/auth/introspect', ...request })
    t.equal(res.statusCode, 401, `${name}: 401`)
    t.strictSame(res.json(), INVALID_CLIENT, `${name}: invalid_client`)
  }
  const both = await app.inject({
    method: 'POST', url: '/auth/introspect', headers: { authorization: basic(caller.clientId, caller.clientSecret) }, payload: { token: customer.accessToken, client_secret: caller.clientSecret }
  })
  t.equal(both.statusCode, 400, 'Basic and client_secret: 400')
  t.strictSame(both.json(), { error: 'invalid_request', error_description: 'Authenticate the client one way: the Basic header or client_secret in the body' })

  for (const [name, fields] of [['no token', {}], ['an empty token', { token: '' }]] as const) {
    const res = await introspect(app, caller, undefined, fields)
    t.equal(res.statusCode, 400, `${name}: 400`)
    t.strictSame(res.json(), { error: 'invalid_request', error_description: 'token is required' }, `${name}: invalid_request`)
  }
  // Any enabled client may introspect, whatever its scopes; re-enabled, the disabled one may again.
  t.equal((await admin.inject({ method: 'PATCH', url: `/clients/${disabled.clientId}`, payload: { disabled: false } })).statusCode, 200)
  assertActive(t, await introspect(app, disabled, customer.accessToken), person(customer, CUSTOMER_SCOPES), customer.accessToken, 're-enabled client introspects')
  // A person's credentials are no client's.
  const asPerson = await app.inject({ method: 'POST', url: '/auth/introspect', payload: { client_id: customer.email, client_secret: customer.password, token: customer.accessToken } })
  t.equal(asPerson.statusCode, 401)
})

// ---- property: introspection agrees with authenticate and the guards, and with a model -------

/** A route needing exactly these alternatives, what it answers when allowed, and what the fixture makes it answer. */
interface Probe { request: InjectOptions, scopes: string[], allowed: number }
const PROBES: Probe[] = [
  { request: { method: 'GET', url: '/users/me' }, scopes: ['account'], allowed: 200 },
  { request: { method: 'GET', url: '/cart' }, scopes: ['cart'], allowed: 200 },
  { request: { method: 'POST', url: '/orders', payload: { shipping_address: 'Probe' } }, scopes: ['orders'], allowed: 409 },
  { request: { method: 'DELETE', url: '/categories/999999' }, scopes: ['catalogue:write'], allowed: 404 },
  { request: { method: 'PATCH', url: '/orders/999999', payload: { status: 'shipped' } }, scopes: ['orders:write'], allowed: 404 },
  { request: { method: 'GET', url: '/users?limit=1' }, scopes: ['users:read'], allowed: 200 },
  { request: { method: 'PATCH', url: '/users/999999', payload: { full_name: 'Probe' } }, scopes: ['users:write'], allowed: 404 },
  { request: { method: 'GET', url: '/clients/svc_00000000000000000000' }, scopes: ['clients:admin'], allowed: 404 },
  { request: { method: 'POST', url: '/orders/999999/cancel' }, scopes: ['orders', 'orders:write'], allowed: 404 },
  { request: { method: 'GET', url: '/users/999999' }, scopes: ['account', 'users:read'], allowed: 404 }
]

type Holder = 'customer' | 'admin' | 'client'
type Event =
  | { kind: 'issue', who: Holder, scope: string[] | null }
  | { kind: 'signOut', who: 'customer' | 'admin' }
  | { kind: 'setDisabled', who: 'customer' | 'admin', disabled: boolean }
  | { kind: 'setRole', who: 'customer' | 'admin', role: 'customer' | 'admin' }
  | { kind: 'setClientScopes', scopes: string[] }
  | { kind: 'setClientDisabled', disabled: boolean }
  | { kind: 'rotateSecret' }
  | { kind: 'deleteClient', scopes: string[] }

const clientScopesArb = fc.subarray(CLIENT_SCOPES, { minLength: 1 })
const eventArb: fc.Arbitrary<Event> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('issue' as const), who: fc.constantFrom<Holder>('customer', 'admin', 'client'), scope: fc.option(fc.subarray([...SCOPE_NAMES, 'bogus'], { minLength: 1 }), { nil: null }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('signOut' as const), who: fc.constantFrom('customer' as const, 'admin' as const) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('setDisabled' as const), who: fc.constantFrom('customer' as const, 'admin' as const), disabled: fc.boolean() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('setRole' as const), who: fc.constantFrom('customer' as const, 'admin' as const), role: fc.constantFrom('customer' as const, 'admin' as const) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('setClientScopes' as const), scopes: clientScopesArb }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('setClientDisabled' as const), disabled: fc.boolean() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('rotateSecret' as const) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('deleteClient' as const), scopes: clientScopesArb }) }
)

interface ModelUser { user: TestUser, role: 'customer' | 'admin', disabled: boolean, generation: number }
interface ModelClient { clientId: string, secret: string, scopes: string[], disabled: boolean, generation: number, deleted: boolean }
interface IssuedToken { token: string, who: Holder, user?: ModelUser, client?: ModelClient, granted: string[], generation: number, label: string }

const mayHold = (role: 'customer' | 'admin') => role === 'admin' ? SCOPE_NAMES : CUSTOMER_SCOPES.split(' ')
const inOrder = (scopes: Iterable<string>) => { const set = new Set(scopes); return SCOPE_NAMES.filter((scope) => set.has(scope)) }
const intersect = (a: string[], b: string[]) => inOrder(a.filter((scope) => b.includes(scope)))

class Mismatch extends Error {}
function expect (actual: unknown, expected: unknown, what: string) {
  const a = JSON.stringify(actual)
  const e = JSON.stringify(expected)
  if (a !== e) throw new Mismatch(`${what}: expected ${e}, got ${a}`)
}

t.test('property: introspection says exactly what authenticate and the scope guards decide, and what the model expects', async (t) => {
  const app = await build(t, { LOGIN_MAX_FAILURES: '100000' })
  const operator = await createUser(app, { role: 'admin' })
  const auditor = await createClient(app, ['users:read'], { admin: operator })
  const customer = await createUser(app)
  const admin = await createUser(app, { role: 'admin' })
  // The customer's one order: who sees it on GET /orders says whether orders:read is in force.
  const product = await insertProduct(app, { stock: 1000 })
  await customer.inject({ method: 'POST', url: '/cart/items', payload: { product_id: product.id, quantity: 1 } })
  const seeded = await customer.inject({ method: 'POST', url: '/orders', payload: { shipping_address: 'Seed' } })
  t.equal(seeded.statusCode, 201)
  const seedOrder = seeded.json<{ id: number }>().id

  const as = (options: InjectOptions) => operator.inject(options)
  const stats = { runs: 0, steps: 0, introspections: 0, probes: 0, active: 0, inactive: 0, emptyScope: 0 }
  let clientCounter = 0

  async function newClient (scopes: string[]): Promise<ModelClient> {
    const res = await as({ method: 'POST', url: '/clients', payload: { name: `prop ${++clientCounter}`, scopes } })
    expect(res.statusCode, 201, 'POST /clients')
    const body = res.json<{ client_id: string, client_secret: string }>()
    return { clientId: body.client_id, secret: body.client_secret, scopes: inOrder(scopes), disabled: false, generation: 0, deleted: false }
  }

  await fc.assert(fc.asyncProperty(clientScopesArb, fc.array(eventArb, { minLength: 3, maxLength: 10 }), async (initialScopes, events) => {
    stats.runs++
    // A fresh start: both users enabled in their roles, a new client; tokens of earlier runs are not looked at.
    for (const [user, role] of [[customer, 'customer'], [admin, 'admin']] as const) {
      expect((await as({ method: 'PATCH', url: `/users/${user.id}`, payload: { disabled: false, role } })).statusCode, 200, 'reset user')
    }
    const users: Record<'customer' | 'admin', ModelUser> = {
      customer: { user: customer, role: 'customer', disabled: false, generation: 0 },
      admin: { user: admin, role: 'admin', disabled: false, generation: 0 }
    }
    let client = await newClient(initialScopes)
    const tokens: IssuedToken[] = []

    async function issue (who: Holder, scope: string[] | null) {
      const requested = scope === null ? {} : { scope: scope.join(' ') }
      const label = `${who}#${tokens.length}${scope === null ? '' : ` (asked "${scope.join(' ')}")`}`
      if (who === 'client') {
        const res = await app.inject({ method: 'POST', url: '/auth/token', payload: { grant_type: 'client_credentials', client_id: client.clientId, client_secret: client.secret, ...requested } })
        if (client.disabled) return expect([res.statusCode, res.json().error], [401, 'invalid_client'], `issue ${label} while disabled`)
        const granted = scope === null ? client.scopes : intersect(scope, client.scopes)
        if (granted.length === 0) return expect([res.statusCode, res.json().error], [400, 'invalid_scope'], `issue ${label}`)
        expect([res.statusCode, res.json().scope], [200, granted.join(' ')], `issue ${label}`)
        tokens.push({ token: res.json().access_token, who, client, granted, generation: client.generation, label })
        return
      }
      const holder = users[who]
      const res = await app.inject({ method: 'POST', url: '/auth/token', payload: { grant_type: 'password', username: holder.user.email, password: holder.user.password, ...requested } })
      if (holder.disabled) return expect([res.statusCode, res.json().error], [400, 'invalid_grant'], `issue ${label} while disabled`)
      const granted = scope === null ? mayHold(holder.role) : intersect(scope, mayHold(holder.role))
      if (granted.length === 0) return expect([res.statusCode, res.json().error], [400, 'invalid_scope'], `issue ${label}`)
      expect([res.statusCode, res.json().scope], [200, granted.join(' ')], `issue ${label}`)
      tokens.push({ token: res.json().access_token, who, user: holder, granted, generation: holder.generation, label })
      tokens.push({ token: res.json().refresh_token, who, user: holder, granted, generation: holder.generation, label: `${label} refresh` })
    }

    async function apply (event: Event) {
      switch (event.kind) {
        case 'issue': return issue(event.who, event.scope)
        case 'signOut': {
          const holder = users[event.who]
          if (holder.disabled) return // a disabled user cannot sign in to sign out
          const session = await login(app, holder.user.email, holder.user.password)
          expect((await app.inject({ method: 'DELETE', url: '/users/me/sessions', headers: { authorization: `Bearer ${session.access_token}` } })).statusCode,
            204, 'sign out')
          holder.generation++
          return
        }
        case 'setDisabled': {
          const holder = users[event.who]
          expect((await as({ method: 'PATCH', url: `/users/${holder.user.id}`, payload: { disabled: event.disabled } })).statusCode, 200, 'PATCH user disabled')
          if (holder.disabled !== event.disabled) holder.generation++
          holder.disabled = event.disabled
          return
        }
        case 'setRole': {
          const holder = users[event.who]
          expect((await as({ method: 'PATCH', url: `/users/${holder.user.id}`, payload: { role: event.role } })).statusCode, 200, 'PATCH user role')
          holder.role = event.role
          return
        }
        case 'setClientScopes':
          expect((await as({ method: 'PATCH', url: `/clients/${client.clientId}`, payload: { scopes: event.scopes } })).json().scopes, inOrder(event.scopes), 'PATCH client scopes')
          client.scopes = inOrder(event.scopes)
          return
        case 'setClientDisabled':
          expect((await as({ method: 'PATCH', url: `/clients/${client.clientId}`, payload: { disabled: event.disabled } })).json().disabled, event.disabled, 'PATCH client disabled')
          if (client.disabled !== event.disabled) client.generation++
          client.disabled = event.disabled
          return
        case 'rotateSecret': {
          const res = await as({ method: 'POST', url: `/clients/${client.clientId}/secret` })
          expect(res.statusCode, 200, 'rotate')
          client.secret = res.json().client_secret
          client.generation++
          return
        }
        case 'deleteClient':
          expect((await as({ method: 'DELETE', url: `/clients/${client.clientId}` })).statusCode, 204, 'DELETE client')
          client.deleted = true
          client = await newClient(event.scopes)
      }
    }

    /** What the model says: active, and the effective scopes. */
    function modelOf (issued: IssuedToken): { active: boolean, scope: string[] } {
      if (issued.client) {
        const c = issued.client
        const active = !c.deleted && !c.disabled && c.generation === issued.generation
        return { active, scope: active ? intersect(issued.granted, c.scopes) : [] }
      }
      const u = issued.user!
      const active = !u.disabled && u.generation === issued.generation
      return { active, scope: active ? intersect(issued.granted, mayHold(u.role)) : [] }
    }

    /** One token, now: introspection against the model, then against authenticate and every guard. */
    async function checkToken (issued: IssuedToken, step: string) {
      const where = `${step}, ${issued.label}`
      const res = await introspect(app, auditor, issued.token)
      stats.introspections++
      expect(res.statusCode, 200, `${where}: introspection status`)
      const answer = res.json<{ active: boolean, scope?: string, sub?: string, client_id?: string, token_type?: string }>()
      const model = modelOf(issued)
      expect(answer.active, model.active, `${where}: active (introspection vs model)`)
      const isRefresh = issued.label.endsWith('refresh')
      if (!answer.active) {
        expect(answer, INACTIVE, `${where}: inactive body`)
        stats.inactive++
      } else {
        stats.active++
        const scope = answer.scope === '' ? [] : (answer.scope ?? '').split(' ')
        if (scope.length === 0) stats.emptyScope++
        expect(scope, model.scope, `${where}: scope (introspection vs model)`)
        const sub = issued.client ? issued.client.clientId : String(issued.user!.user.id)
        expect([answer.sub, answer.client_id, answer.token_type], [sub, issued.client ? sub : 'public', isRefresh ? 'refresh_token' : 'Bearer'], `${where}: sub, client_id, token_type`)
      }
      if (isRefresh) return // a refresh token is no Bearer token: the guards never see it
      const effective = answer.active ? (answer.scope ?? '').split(' ').filter(Boolean) : []
      // authenticate's decision: 401 exactly when introspection says inactive.
      const probes = answer.active ? PROBES : PROBES.slice(0, 1)
      // The probes change nothing, so they may run side by side (PostgreSQL then uses its pool).
      await Promise.all(probes.map(async (probe) => {
        const got = await app.inject({ ...probe.request, headers: { authorization: `Bearer ${issued.token}` } })
        stats.probes++
        const what = `${where}: ${probe.request.method} ${probe.request.url}`
        if (!answer.active) {
          expect([got.statusCode, got.json().code], [401, 'INVALID_TOKEN'], `${what} (introspection: inactive)`)
          return
        }
        const allowed = probe.scopes.some((scope) => effective.includes(scope))
        if (allowed) {
          expect(got.statusCode, probe.allowed, `${what} (introspection scope "${answer.scope}" allows it)`)
        } else {
          expect([got.statusCode, got.json().code, got.headers['www-authenticate']], [403, 'INSUFFICIENT_SCOPE', `Bearer error="insufficient_scope", scope="${probe.scopes.join(' ')}"`],
            `${what} (introspection scope "${answer.scope}" lacks it)`)
        }
      }))
      if (answer.active) {
        // orders:read shows everyone's orders; orders alone only one's own.
        const list = await app.inject({ method: 'GET', url: '/orders?limit=100', headers: { authorization: `Bearer ${issued.token}` } })
        stats.probes++
        const mayList = effective.includes('orders') || effective.includes('orders:read')
        expect(list.statusCode, mayList ? 200 : 403, `${where}: GET /orders`)
        if (mayList) {
          const seesSeed = list.json<{ items: Array<{ id: number }> }>().items.some((order) => order.id === seedOrder)
          const ownsSeed = issued.user?.user.id === customer.id
          expect(seesSeed, effective.includes('orders:read') || ownsSeed, `${where}: GET /orders shows the customer's order`)
        }
      }
    }

    const check = async (step: string) => { await Promise.all(tokens.map((issued) => checkToken(issued, step))) }

    await issue('customer', null)
    await issue('admin', null)
    await issue('client', null)
    await check('start')
    for (const [i, event] of events.entries()) {
      await apply(event)
      stats.steps++
      await check(`after step ${i + 1} ${JSON.stringify(event)}`)
    }
  }), { numRuns: 30, endOnFailure: true })

  t.equal(stats.runs >= 30, true, `ran ${stats.runs} sequences, ${stats.steps} steps`)
  t.ok(stats.active > 100 && stats.inactive > 20, `both answers were seen: ${stats.active} active, ${stats.inactive} inactive`)
  t.ok(stats.probes > 1000, `${stats.introspections} introspections, ${stats.probes} probes`)
  t.comment(`stats: ${JSON.stringify(stats)}`)
})
