import type { InjectOptions } from 'fastify'
import t from 'tap'
import { build, createUser, DEFAULT_PASSWORD } from '../helper.js'

const form = { 'content-type': 'application/x-www-form-urlencoded' }
const INVALID_GRANT = { error: 'invalid_grant', error_description: 'Invalid username or password' }

t.test('password grant: form or JSON, case-insensitive username, the RFC 6749 answer', async (t) => {
  const app = await build(t)
  await app.inject({ method: 'POST', url: '/users', payload: { email: 'Ann@Example.test', password: DEFAULT_PASSWORD } })

  const viaForm = await app.inject({
    method: 'POST',
    url: '/auth/token',
    headers: { ...form, authorization: 'Basic ' + Buffer.from(':').toString('base64') },
    payload: new URLSearchParams({ grant_type: 'password', username: 'ann@example.TEST', password: DEFAULT_PASSWORD, scope: 'anything', client_secret: '' }).toString()
  })
  t.equal(viaForm.statusCode, 200, 'Swagger UI\'s empty Basic header, scope and client_secret are ignored')
  t.equal(viaForm.headers['cache-control'], 'no-store')
  const body = viaForm.json()
  t.same(Object.keys(body).sort(), ['access_token', 'expires_in', 'refresh_token', 'token_type'])
  t.equal(body.token_type, 'Bearer')
  t.equal(body.expires_in, 900)
  t.match(body.access_token, /^[\w-]+\.[\w-]+\.[\w-]+$/)
  t.match(body.refresh_token, /^[\w-]{43}$/, '256 random bits')

  const viaJson = await app.inject({ method: 'POST', url: '/auth/token', payload: { username: 'ANN@example.test', password: DEFAULT_PASSWORD, client_id: 'mobile-app' } })
  t.equal(viaJson.statusCode, 200, 'grant_type defaults to password')
  const claims = JSON.parse(Buffer.from(viaJson.json().access_token.split('.')[1], 'base64url').toString())
  t.equal(claims.client_id, 'mobile-app')
  const formClaims = JSON.parse(Buffer.from(body.access_token.split('.')[1], 'base64url').toString())
  t.equal(formClaims.client_id, 'public', 'client_id defaults to public')
})

t.test('wrong password and unknown e-mail get the same answer; disabled users are refused', async (t) => {
  const app = await build(t)
  const admin = await createUser(app, { role: 'admin' })
  const user = await createUser(app)
  const wrong = await app.inject({ method: 'POST', url: '/auth/token', payload: { username: user.email, password: 'not the password' } })
  const unknown = await app.inject({ method: 'POST', url: '/auth/token', payload: { username: 'nobody@example.test', password: 'not the password' } })
  t.equal(wrong.statusCode, 400)
  t.equal(unknown.statusCode, 400)
  t.same(wrong.json(), INVALID_GRANT)
  t.same(unknown.json(), wrong.json(), 'identical bodies')
  t.equal(wrong.headers['cache-control'], 'no-store')

  await admin.inject({ method: 'PATCH', url: `/users/${user.id}`, payload: { disabled: true } })
  const disabled = await app.inject({ method: 'POST', url: '/auth/token', payload: { username: user.email, password: user.password } })
  t.equal(disabled.statusCode, 400)
  t.same(disabled.json(), INVALID_GRANT, 'a disabled user looks like a wrong password')
})

t.test('malformed token requests are invalid_request or unsupported_grant_type', async (t) => {
  const app = await build(t)
  const cases: Array<[string, InjectOptions, string]> = [
    ['missing password', { method: 'POST', url: '/auth/token', payload: { username: 'a@example.test' } }, 'invalid_request'],
    ['missing username', { method: 'POST', url: '/auth/token', payload: { password: 'x' } }, 'invalid_request'],
    ['unknown grant', { method: 'POST', url: '/auth/token', payload: { grant_type: 'client_credentials' } }, 'unsupported_grant_type'],
    ['refresh without token', { method: 'POST', url: '/auth/token', payload: { grant_type: 'refresh_token' } }, 'invalid_request'],
    ['malformed JSON', { method: 'POST', url: '/auth/token', headers: { 'content-type': 'application/json' }, payload: '{"username":' }, 'invalid_request'],
    ['username as a number', { method: 'POST', url: '/auth/token', payload: { username: 5, password: 'x' } }, 'invalid_request'],
    ['repeated form field', { method: 'POST', url: '/auth/token', headers: form, payload: 'username=a@example.test&username=b@example.test&password=x' }, 'invalid_request']
  ]
  for (const [name, request, error] of cases) {
    const res = await app.inject(request)
    t.equal(res.statusCode, 400, name)
    t.equal(res.json().error, error, name)
    t.same(Object.keys(res.json()).sort(), ['error', 'error_description'], `${name}: RFC 6749 body`)
  }
  const textBody = await app.inject({ method: 'POST', url: '/auth/token', headers: { 'content-type': 'text/plain' }, payload: 'hi' })
  t.equal(textBody.statusCode, 415)
})

t.test('metadata and JWKS describe the issuer, absolute endpoints and the signing key', async (t) => {
  const app = await build(t, { JWT_ISSUER: 'https://shop.example/api' })
  const metadata = await app.inject({ method: 'GET', url: '/.well-known/oauth-authorization-server' })
  t.equal(metadata.statusCode, 200)
  t.same(metadata.json(), {
    issuer: 'https://shop.example/api',
    token_endpoint: 'https://shop.example/api/auth/token',
    revocation_endpoint: 'https://shop.example/api/auth/revoke',
    jwks_uri: 'https://shop.example/api/.well-known/jwks.json',
    grant_types_supported: ['password', 'refresh_token'],
    token_endpoint_auth_methods_supported: ['none'],
    revocation_endpoint_auth_methods_supported: ['none'],
    response_types_supported: [],
    service_documentation: 'https://shop.example/api/docs'
  })
  const jwks = (await app.inject({ method: 'GET', url: '/.well-known/jwks.json' })).json()
  t.equal(jwks.keys.length, 1)
  t.same(Object.keys(jwks.keys[0]).sort(), ['alg', 'crv', 'kid', 'kty', 'use', 'x'])
  t.match(jwks.keys[0], { kty: 'OKP', crv: 'Ed25519', alg: 'EdDSA', use: 'sig' })
  t.notOk('d' in jwks.keys[0], 'no private part')
})
