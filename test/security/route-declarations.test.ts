import t from 'tap'
import { buildApp } from '../../src/app.js'
import { createClient, createUser, tempDir, testConfig } from '../helper.js'

// The one declaration per route (config.auth) beyond what the service's own routes use:
// a route that declares nothing still needs a valid token, of anyone, and says so in the
// document; alternatives are any-one-of.

t.test('an undeclared route needs a token, any valid one; declared alternatives allow any one of them', async (t) => {
  const app = await buildApp(testConfig(tempDir(t)))
  t.teardown(() => app.close())
  app.get('/probe/undeclared', { schema: { response: { 200: { type: 'object', properties: { scopes: { type: 'integer' } } } } } },
    async (request) => ({ scopes: request.scopes }))
  app.get('/probe/either', { config: { auth: ['cart', 'users:read'] } }, async () => ({ ok: true }))
  await app.ready()

  const document = app.swagger() as { paths: Record<string, Record<string, { security?: unknown, responses?: Record<string, unknown> }>> }
  t.same(document.paths['/probe/undeclared']?.get?.security, [{ OAuth2: [] }], 'documented as needing a token, no scope')
  t.notOk(document.paths['/probe/undeclared']?.get?.responses?.['403'], 'no 403: no scope to lack')
  t.same(document.paths['/probe/either']?.get?.security, [{ OAuth2: ['cart'] }, { OAuth2: ['users:read'] }], 'one requirement object per alternative')

  const anonymous = await app.inject({ method: 'GET', url: '/probe/undeclared' })
  t.same([anonymous.statusCode, anonymous.json().code], [401, 'UNAUTHORIZED'])
  const customer = await createUser(app)
  const narrowed = await createClient(app, ['orders:read'])
  t.same((await customer.inject({ method: 'GET', url: '/probe/undeclared' })).json(), { scopes: 0b111 }, 'a customer: account, cart, orders')
  t.equal((await narrowed.inject({ method: 'GET', url: '/probe/undeclared' })).statusCode, 200, 'a client token is a valid token too')

  t.equal((await customer.inject({ method: 'GET', url: '/probe/either' })).statusCode, 200, 'cart allows it')
  const usersReader = await createClient(app, ['users:read'])
  t.equal((await usersReader.inject({ method: 'GET', url: '/probe/either' })).statusCode, 200, 'so does users:read')
  const refused = await narrowed.inject({ method: 'GET', url: '/probe/either' })
  t.equal(refused.statusCode, 403, 'orders:read does not')
  t.equal(refused.headers['www-authenticate'], 'Bearer error="insufficient_scope", scope="cart users:read"', 'the challenge names the alternatives')
})
