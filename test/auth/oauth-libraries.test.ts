import t, { type Test } from 'tap'
import * as client from 'openid-client'
import * as oauth from 'oauth4webapi'
import { build, createClient, createUser, type App, type TestClient } from '../helper.js'
import { insertProduct } from '../commerce-fixtures.js'
import { freePort } from '../postgres.js'

// Real OAuth2 client libraries against a real listening server (contract v2): what a
// service written with openid-client or oauth4webapi meets. RFC 8414 discovery
// (/.well-known/oauth-authorization-server: `algorithm: 'oauth2'`), client_credentials
// with both client authentication methods, RFC 7662 introspection, and the errors as
// the libraries surface them.

const SCOPE_NAMES = ['account', 'cart', 'orders', 'catalogue:write', 'orders:read', 'orders:write', 'users:read', 'users:write', 'clients:admin']

interface Served { app: App, issuer: URL, origin: string }

/** The issuer must be the URL the libraries reach, so the port is chosen before the app is built. */
async function serve (t: Test): Promise<Served> {
  for (let attempt = 1; ; attempt++) {
    const port = await freePort()
    const origin = `http://127.0.0.1:${port}`
    const app = await build(t, { JWT_ISSUER: origin })
    try {
      await app.listen({ port, host: '127.0.0.1' })
      return { app, issuer: new URL(origin), origin }
    } catch (err) {
      // Someone took the port in between: another one, another app.
      if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE' || attempt === 3) throw err
    }
  }
}

/** A customer with a placed order, so GET /orders has something to show a client. */
async function shop (app: App) {
  const customer = await createUser(app)
  const product = await insertProduct(app, { stock: 3 })
  await customer.inject({ method: 'POST', url: '/cart/items', payload: { product_id: product.id, quantity: 1 } })
  const order = await customer.inject({ method: 'POST', url: '/orders', payload: { shipping_address: '1 Library Lane' } })
  if (order.statusCode !== 201) throw new Error(`checkout: ${order.statusCode} ${order.body}`)
  return { customer, orderId: order.json<{ id: number }>().id }
}

const discover = (served: Served, service: Pick<TestClient, 'clientId' | 'clientSecret'>, auth?: client.ClientAuth) =>
  client.discovery(served.issuer, service.clientId, auth ? undefined : service.clientSecret, auth, { algorithm: 'oauth2', execute: [client.allowInsecureRequests] })

/** The error a promise rejects with (tap's rejects() checks shape only). */
async function rejection (promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise
  } catch (err) {
    return err
  }
  throw new Error('expected a rejection')
}

t.test('openid-client: RFC 8414 discovery, client_credentials with client_secret_post, the token used on GET /orders', async (t) => {
  const served = await serve(t)
  const { app, origin } = served
  const { orderId } = await shop(app)
  const service = await createClient(app, ['orders:read', 'orders:write', 'users:read'])

  const config = await discover(served, service)
  const metadata = config.serverMetadata()
  t.equal(metadata.issuer, origin, 'the issuer is the listening origin')
  t.equal(metadata.token_endpoint, `${origin}/auth/token`)
  t.equal(metadata.introspection_endpoint, `${origin}/auth/introspect`)
  t.strictSame(metadata.scopes_supported, SCOPE_NAMES)
  t.strictSame(metadata.grant_types_supported, ['password', 'refresh_token', 'client_credentials'])
  t.strictSame(metadata.token_endpoint_auth_methods_supported, ['none', 'client_secret_basic', 'client_secret_post'])
  t.strictSame(metadata.introspection_endpoint_auth_methods_supported, ['client_secret_basic', 'client_secret_post'])

  const tokens = await client.clientCredentialsGrant(config, { scope: 'orders:read orders:write' })
  t.equal(tokens.token_type, 'bearer', 'token_type Bearer (the library lower-cases it)')
  t.equal(tokens.scope, 'orders:read orders:write', 'the granted scopes')
  t.equal(tokens.expires_in, 900)
  t.equal(tokens.refresh_token, undefined, 'no refresh token')
  const expiresIn = tokens.expiresIn() ?? 0
  t.ok(expiresIn >= 899 && expiresIn <= 900, `the library read expires_in (${expiresIn} s left)`)
  const claims = JSON.parse(Buffer.from(tokens.access_token.split('.')[1]!, 'base64url').toString())
  t.equal(claims.iss, origin, 'the token\'s issuer is the origin')
  t.equal(claims.sub, service.clientId)

  const orders = await fetch(`${origin}/orders`, { headers: { authorization: `Bearer ${tokens.access_token}` } })
  t.equal(orders.status, 200, 'GET /orders over HTTP with the token')
  t.strictSame((await orders.json() as { items: Array<{ id: number }> }).items.map((order) => order.id), [orderId], 'everyone\'s orders (orders:read)')
  const shipped = await client.fetchProtectedResource(config, tokens.access_token, new URL(`${origin}/orders/${orderId}`), 'PATCH',
    JSON.stringify({ status: 'shipped' }), new Headers({ 'content-type': 'application/json' }))
  t.equal(shipped.status, 200, 'PATCH /orders/{id} through the library (orders:write)')
  t.equal((await shipped.json() as { status: string }).status, 'shipped')
  // users:read was not asked for: the library parses the RFC 6750 challenge of the 403.
  const users = await rejection(client.fetchProtectedResource(config, tokens.access_token, new URL(`${origin}/users`), 'GET'))
  t.ok(users instanceof client.WWWAuthenticateChallengeError, 'GET /users without users:read: the library reports the challenge')
  t.match(users, { status: 403, cause: [{ scheme: 'bearer', parameters: { error: 'insufficient_scope', scope: 'users:read' } }] })
  const direct = await fetch(`${origin}/users`, { headers: { authorization: `Bearer ${tokens.access_token}` } })
  t.equal(direct.status, 403)
  t.strictSame(await direct.json(), {
    statusCode: 403, code: 'INSUFFICIENT_SCOPE', error: 'Forbidden', message: 'This token does not carry the scope this needs: users:read'
  })

  const introspected = await client.tokenIntrospection(config, tokens.access_token)
  t.strictSame(introspected, {
    active: true,
    scope: 'orders:read orders:write',
    client_id: service.clientId,
    sub: service.clientId,
    token_type: 'Bearer',
    exp: claims.exp,
    iat: claims.iat,
    iss: origin,
    aud: 'ecommerce-api'
  }, 'openid-client\'s tokenIntrospection: the client\'s own token')

  const impossible = await rejection(client.clientCredentialsGrant(config, { scope: 'cart' }))
  t.ok(impossible instanceof client.ResponseBodyError, 'a scope the client may not hold: ResponseBodyError')
  t.match(impossible, { error: 'invalid_scope', status: 400 })
})

t.test('openid-client with ClientSecretBasic: the token, and a wrong secret as the Basic challenge', async (t) => {
  const served = await serve(t)
  const { app, origin } = served
  await shop(app)
  const service = await createClient(app, ['orders:read', 'orders:write'])

  const config = await discover(served, service, client.ClientSecretBasic(service.clientSecret))
  const tokens = await client.clientCredentialsGrant(config, { scope: 'orders:read orders:write' })
  t.equal(tokens.scope, 'orders:read orders:write')
  const orders = await client.fetchProtectedResource(config, tokens.access_token, new URL(`${origin}/orders`), 'GET')
  t.equal(orders.status, 200, 'GET /orders with the Basic-obtained token')
  t.equal((await orders.json() as { items: unknown[] }).items.length, 1)
  const all = await client.clientCredentialsGrant(config)
  t.equal(all.scope, 'orders:read orders:write', 'no scope asked: all the client holds')

  // Only a Basic request is answered with the Basic challenge, so this proves the method used.
  const wrongBasic = await discover(served, service, client.ClientSecretBasic('sk_wrong'))
  const basicError = await rejection(client.clientCredentialsGrant(wrongBasic, { scope: 'orders:read' }))
  t.ok(basicError instanceof client.WWWAuthenticateChallengeError, 'Basic with a wrong secret: the library reports the challenge')
  t.match(basicError, { status: 401, cause: [{ scheme: 'basic', parameters: { realm: 'ecommerce-api', charset: 'UTF-8' } }] })

  const wrongPost = await discover(served, { clientId: service.clientId, clientSecret: 'sk_wrong' })
  const postError = await rejection(client.clientCredentialsGrant(wrongPost, { scope: 'orders:read' }))
  t.ok(postError instanceof client.ResponseBodyError, 'post with a wrong secret: ResponseBodyError (no challenge)')
  t.match(postError, { error: 'invalid_client', status: 401, error_description: 'Client authentication failed' })
})

t.test('oauth4webapi: discovery, introspection with ClientSecretPost and ClientSecretBasic, active and inactive; invalid_client as ResponseBodyError', async (t) => {
  const served = await serve(t)
  const { app, issuer, origin } = served
  const { customer } = await shop(app)
  const introspector = await createClient(app, ['users:read'])
  const subject = await createClient(app, ['orders:read'])
  const insecure = { [oauth.allowInsecureRequests]: true }

  const as = await oauth.processDiscoveryResponse(issuer, await oauth.discoveryRequest(issuer, { algorithm: 'oauth2', ...insecure }))
  t.equal(as.issuer, origin)
  t.equal(as.introspection_endpoint, `${origin}/auth/introspect`)
  const me: oauth.Client = { client_id: introspector.clientId }

  const customerClaims = JSON.parse(Buffer.from(customer.accessToken.split('.')[1]!, 'base64url').toString())
  const expectedCustomer = {
    active: true,
    scope: 'account cart orders',
    client_id: 'public',
    sub: String(customer.id),
    token_type: 'Bearer',
    exp: customerClaims.exp,
    iat: customerClaims.iat,
    iss: origin,
    aud: 'ecommerce-api'
  }
  for (const [name, auth] of [['ClientSecretPost', oauth.ClientSecretPost(introspector.clientSecret)], ['ClientSecretBasic', oauth.ClientSecretBasic(introspector.clientSecret)]] as const) {
    const active = await oauth.processIntrospectionResponse(as, me, await oauth.introspectionRequest(as, me, auth, customer.accessToken, insecure))
    t.strictSame(active, expectedCustomer, `${name}: a customer's token is active, with its scopes`)
    const ofClient = await oauth.processIntrospectionResponse(as, me, await oauth.introspectionRequest(as, me, auth, subject.accessToken, insecure))
    t.match(ofClient, { active: true, scope: 'orders:read', sub: subject.clientId, client_id: subject.clientId }, `${name}: a client's token`)
    const garbage = await oauth.processIntrospectionResponse(as, me, await oauth.introspectionRequest(as, me, auth, 'not-a-token', insecure))
    t.strictSame(garbage, { active: false }, `${name}: garbage is inactive`)
  }

  // Sign-out everywhere ends the customer's token: both methods see it inactive.
  t.equal((await customer.inject({ method: 'DELETE', url: '/users/me/sessions' })).statusCode, 204)
  for (const [name, auth] of [['ClientSecretPost', oauth.ClientSecretPost(introspector.clientSecret)], ['ClientSecretBasic', oauth.ClientSecretBasic(introspector.clientSecret)]] as const) {
    const inactive = await oauth.processIntrospectionResponse(as, me, await oauth.introspectionRequest(as, me, auth, customer.accessToken, insecure))
    t.strictSame(inactive, { active: false }, `${name}: after sign-out, {active: false}`)
  }

  // The client_credentials grant through oauth4webapi too.
  const grant = await oauth.processClientCredentialsResponse(as, { client_id: subject.clientId },
    await oauth.clientCredentialsGrantRequest(as, { client_id: subject.clientId }, oauth.ClientSecretBasic(subject.clientSecret), { scope: 'orders:read' }, insecure))
  t.equal(grant.scope, 'orders:read')
  t.equal(grant.token_type, 'bearer')
  const viaGrant = await oauth.processIntrospectionResponse(as, me, await oauth.introspectionRequest(as, me, oauth.ClientSecretPost(introspector.clientSecret), grant.access_token, insecure))
  t.match(viaGrant, { active: true, scope: 'orders:read', sub: subject.clientId })

  const wrongPost = await rejection(oauth.introspectionRequest(as, me, oauth.ClientSecretPost('sk_wrong'), subject.accessToken, insecure)
    .then((response) => oauth.processIntrospectionResponse(as, me, response)))
  t.ok(wrongPost instanceof oauth.ResponseBodyError, 'a wrong secret, post: ResponseBodyError')
  t.match(wrongPost, { error: 'invalid_client', status: 401, error_description: 'Client authentication failed', cause: { error: 'invalid_client' } })

  const unknown = await rejection(oauth.introspectionRequest(as, { client_id: 'svc_00000000000000000000' }, oauth.ClientSecretPost(introspector.clientSecret), subject.accessToken, insecure)
    .then((response) => oauth.processIntrospectionResponse(as, { client_id: 'svc_00000000000000000000' }, response)))
  t.ok(unknown instanceof oauth.ResponseBodyError, 'an unknown client, post: ResponseBodyError')
  t.match(unknown, { error: 'invalid_client', status: 401 })

  const wrongBasic = await rejection(oauth.introspectionRequest(as, me, oauth.ClientSecretBasic('sk_wrong'), subject.accessToken, insecure)
    .then((response) => oauth.processIntrospectionResponse(as, me, response)))
  t.ok(wrongBasic instanceof oauth.WWWAuthenticateChallengeError, 'a wrong secret, Basic: the library reports the Basic challenge first')
  t.match(wrongBasic, { status: 401, cause: [{ scheme: 'basic', parameters: { realm: 'ecommerce-api', charset: 'UTF-8' } }] })
  const body = await (wrongBasic as oauth.WWWAuthenticateChallengeError).response.json()
  t.strictSame(body, { error: 'invalid_client', error_description: 'Client authentication failed' }, 'and the body under it is invalid_client')

  // A disabled client may not introspect.
  const admin = await createUser(app, { role: 'admin' })
  t.equal((await admin.inject({ method: 'PATCH', url: `/clients/${introspector.clientId}`, payload: { disabled: true } })).statusCode, 200)
  const disabled = await rejection(oauth.introspectionRequest(as, me, oauth.ClientSecretPost(introspector.clientSecret), subject.accessToken, insecure)
    .then((response) => oauth.processIntrospectionResponse(as, me, response)))
  t.ok(disabled instanceof oauth.ResponseBodyError, 'a disabled client: ResponseBodyError')
  t.match(disabled, { error: 'invalid_client', status: 401 })
})
