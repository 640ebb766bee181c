import type { InjectOptions, LightMyRequestResponse } from 'fastify'
import t, { type Test } from 'tap'
import { build, clientToken, createClient, createUser, type App, type TestUser } from '../helper.js'

// /clients (contract v2, "Scopes and service clients"): service clients, all clients:admin.

const CLIENT_ID = /^svc_[0-9a-f]{20}$/
// 'sk_' and at least 256 bits of base64url (43 characters).
const CLIENT_SECRET = /^sk_[A-Za-z0-9_-]{43,}$/
const UNKNOWN_ID = 'svc_00000000000000000000'
const CLIENT_SCOPES = ['catalogue:write', 'orders:read', 'orders:write', 'users:read', 'users:write']
const NOT_FOUND = { statusCode: 404, code: 'CLIENT_NOT_FOUND', error: 'Not Found', message: 'Service client not found' }
const INVALID_CLIENT = { error: 'invalid_client', error_description: 'Client authentication failed' }
const insufficientScope = (scopes: string) => ({
  statusCode: 403, code: 'INSUFFICIENT_SCOPE', error: 'Forbidden', message: `This token does not carry the scope this needs: ${scopes}`
})
const notForClients = (scopes: string) => ({ statusCode: 400, code: 'SCOPE_NOT_FOR_CLIENTS', error: 'Bad Request', message: `A service client may not hold ${scopes}` })

interface Client { client_id: string, name: string, scopes: string[], disabled: boolean, created_at: string }
interface CreatedClient extends Client { client_secret: string }

async function create (t: Test, admin: TestUser, payload: object): Promise<CreatedClient> {
  const res = await admin.inject({ method: 'POST', url: '/clients', payload })
  t.equal(res.statusCode, 201, `POST /clients ${JSON.stringify(payload)}: 201`)
  return res.json<CreatedClient>()
}

/** client_credentials with client_secret_post: the status and body, whatever they are. */
const tokenRequest = (app: App, clientId: string, clientSecret: string) => app.inject({
  method: 'POST', url: '/auth/token', payload: { grant_type: 'client_credentials', client_id: clientId, client_secret: clientSecret }
})

async function assertSecretWorks (t: Test, app: App, clientId: string, secret: string, name: string) {
  const res = await tokenRequest(app, clientId, secret)
  t.equal(res.statusCode, 200, `${name}: the secret gets a token`)
}

async function assertSecretRefused (t: Test, app: App, clientId: string, secret: string, name: string) {
  const res = await tokenRequest(app, clientId, secret)
  t.equal(res.statusCode, 401, `${name}: 401`)
  t.strictSame(res.json(), INVALID_CLIENT, `${name}: invalid_client`)
}

async function listAll (admin: TestUser): Promise<Client[]> {
  const res = await admin.inject({ method: 'GET', url: '/clients?limit=100' })
  if (res.statusCode !== 200) throw new Error(`GET /clients: ${res.statusCode} ${res.body}`)
  return res.json<{ items: Client[] }>().items
}

function assertValidationError (t: Test, res: LightMyRequestResponse, message: RegExp, name: string) {
  t.equal(res.statusCode, 400, `${name}: 400`)
  const body = res.json()
  t.strictSame(body, { statusCode: 400, code: 'VALIDATION_ERROR', error: 'Bad Request', message: body.message }, `${name}: VALIDATION_ERROR`)
  t.match(body.message, message, `${name}: the message says what is wrong`)
}

t.test('POST /clients: 201 with the client and its secret, never cached; the id and secret have the contract\'s shape', async (t) => {
  const app = await build(t)
  const admin = await createUser(app, { role: 'admin' })
  const before = Date.now()
  const res = await admin.inject({ method: 'POST', url: '/clients', payload: { name: 'Warehouse', scopes: ['orders:write', 'orders:read'] } })
  t.equal(res.statusCode, 201)
  t.equal(res.headers['cache-control'], 'no-store', 'the secret is never cached')
  t.match(res.headers['content-type'], /^application\/json/)
  const body = res.json<CreatedClient>()
  t.strictSame(body, {
    client_id: body.client_id,
    name: 'Warehouse',
    scopes: ['orders:read', 'orders:write'],
    disabled: false,
    created_at: body.created_at,
    client_secret: body.client_secret
  }, 'exactly the client plus client_secret; scopes in the table\'s order')
  t.match(body.client_id, CLIENT_ID, 'client_id is svc_ and 20 hex digits')
  t.match(body.client_secret, CLIENT_SECRET, 'the secret is sk_ and at least 43 base64url characters')
  t.ok(Buffer.from(body.client_secret.slice(3), 'base64url').length >= 32, 'at least 256 bits')
  t.match(body.created_at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/, 'created_at is UTC ISO-8601')
  t.ok(Date.parse(body.created_at) >= before - 1000 && Date.parse(body.created_at) <= Date.now() + 1000, 'created_at is now')

  const other = await create(t, admin, { name: 'Warehouse', scopes: ['orders:read'] })
  t.not(other.client_id, body.client_id, 'every client gets its own id')
  t.not(other.client_secret, body.client_secret, 'and its own secret')

  await assertSecretWorks(t, app, body.client_id, body.client_secret, 'the new client')
  await assertSecretRefused(t, app, body.client_id, other.client_secret, 'another client\'s secret')
})

t.test('the secret is shown only by POST: GET and the list show the client without it, with the same fields', async (t) => {
  const app = await build(t)
  const admin = await createUser(app, { role: 'admin' })
  const created = await create(t, admin, { name: 'CRM', scopes: ['users:read'] })
  const { client_secret: secret, ...client } = created

  const one = await admin.inject({ method: 'GET', url: `/clients/${created.client_id}` })
  t.equal(one.statusCode, 200)
  t.strictSame(one.json(), client, 'GET: exactly the client, no secret')
  t.notOk(one.body.includes(secret), 'GET: the secret is nowhere in the answer')
  t.notOk(one.body.includes(secret.slice(3)), 'GET: nor its random part')

  const list = await admin.inject({ method: 'GET', url: '/clients' })
  t.equal(list.statusCode, 200)
  t.strictSame(list.json(), { items: [client], next_cursor: null }, 'the list: the same client, no secret')
  t.notOk(list.body.includes(secret.slice(3)), 'the list: the secret is nowhere in the answer')

  const patched = await admin.inject({ method: 'PATCH', url: `/clients/${created.client_id}`, payload: { name: 'CRM 2' } })
  t.equal(patched.statusCode, 200)
  t.notOk(patched.body.includes(secret.slice(3)), 'PATCH: no secret either')
  t.strictSame(Object.keys(patched.json()).sort(), ['client_id', 'created_at', 'disabled', 'name', 'scopes'])
})

t.test('GET /clients pages with limit and cursors: every client once, in creation order', async (t) => {
  const app = await build(t)
  const admin = await createUser(app, { role: 'admin' })
  const made: Client[] = []
  for (const name of ['one', 'two', 'three']) {
    const { client_secret: _secret, ...client } = await create(t, admin, { name, scopes: ['users:read'] })
    made.push(client)
  }

  const walked: Client[] = []
  const cursors: string[] = []
  let cursor: string | null = null
  do {
    const res: LightMyRequestResponse = await admin.inject({ method: 'GET', url: `/clients?limit=1${cursor ? `&cursor=${cursor}` : ''}` })
    t.equal(res.statusCode, 200)
    const page = res.json<{ items: Client[], next_cursor: string | null }>()
    t.equal(page.items.length, 1, 'limit=1: one client per page')
    walked.push(...page.items)
    cursor = page.next_cursor
    if (cursor) cursors.push(cursor)
  } while (cursor !== null && walked.length < 10)
  t.strictSame(walked, made, 'the walk sees the three clients once each, in order')
  t.equal(cursors.length, 2, 'two cursors, the last page has next_cursor null')
  t.equal(new Set(cursors).size, 2, 'distinct cursors')

  const two = await admin.inject({ method: 'GET', url: '/clients?limit=2' })
  t.strictSame(two.json(), { items: made.slice(0, 2), next_cursor: cursors[1] }, 'limit=2: two clients and the cursor after the second')
  const rest = await admin.inject({ method: 'GET', url: `/clients?limit=2&cursor=${cursors[1]}` })
  t.strictSame(rest.json(), { items: made.slice(2), next_cursor: null })

  const all = await admin.inject({ method: 'GET', url: '/clients' })
  t.strictSame(all.json(), { items: made, next_cursor: null }, 'default limit: all of them')

  const badCursor = await admin.inject({ method: 'GET', url: '/clients?cursor=nonsense' })
  t.equal(badCursor.statusCode, 400)
  t.strictSame(badCursor.json(), { statusCode: 400, code: 'INVALID_CURSOR', error: 'Bad Request', message: 'The cursor is not one this service issued' })
  for (const limit of ['0', '101', 'x']) {
    assertValidationError(t, await admin.inject({ method: 'GET', url: `/clients?limit=${limit}` }), /limit/, `limit=${limit}`)
  }
  assertValidationError(t, await admin.inject({ method: 'GET', url: '/clients?colour=red' }), /additional properties/, 'an unknown query parameter')
})

t.test('an unknown client: 404 CLIENT_NOT_FOUND from GET, PATCH, POST secret and DELETE', async (t) => {
  const app = await build(t)
  const admin = await createUser(app, { role: 'admin' })
  const requests: InjectOptions[] = []
  for (const id of [UNKNOWN_ID, 'svc_ffffffffffffffffffff', '12345', 'not-a-client']) {
    requests.push(
      { method: 'GET', url: `/clients/${id}` },
      { method: 'PATCH', url: `/clients/${id}`, payload: { name: 'x' } },
      { method: 'POST', url: `/clients/${id}/secret` },
      { method: 'DELETE', url: `/clients/${id}` }
    )
  }
  for (const request of requests) {
    const res = await admin.inject(request)
    t.equal(res.statusCode, 404, `${request.method} ${request.url}: 404`)
    t.strictSame(res.json(), NOT_FOUND, `${request.method} ${request.url}: CLIENT_NOT_FOUND`)
  }
  t.strictSame(await listAll(admin), [], 'nothing was created on the way')
})

t.test('PATCH /clients/{id}: name, scopes and disabled, each and together; the answer is the client as now stored', async (t) => {
  const app = await build(t)
  const admin = await createUser(app, { role: 'admin' })
  const created = await create(t, admin, { name: 'Feed', scopes: ['catalogue:write'] })
  const { client_secret: secret, ...client } = created
  const patch = async (payload: object, expected: Client, name: string) => {
    const res = await admin.inject({ method: 'PATCH', url: `/clients/${client.client_id}`, payload })
    t.equal(res.statusCode, 200, `${name}: 200`)
    t.strictSame(res.json(), expected, `${name}: the client as changed`)
    const read = await admin.inject({ method: 'GET', url: `/clients/${client.client_id}` })
    t.strictSame(read.json(), expected, `${name}: GET shows the change`)
  }

  await patch({ name: 'Inventory feed' }, { ...client, name: 'Inventory feed' }, 'rename')
  await patch({ scopes: ['users:write', 'catalogue:write', 'orders:read'] },
    { ...client, name: 'Inventory feed', scopes: ['catalogue:write', 'orders:read', 'users:write'] }, 'new scopes (kept in table order)')
  await patch({}, { ...client, name: 'Inventory feed', scopes: ['catalogue:write', 'orders:read', 'users:write'] }, 'an empty patch changes nothing')

  await patch({ disabled: true }, { ...client, name: 'Inventory feed', scopes: ['catalogue:write', 'orders:read', 'users:write'], disabled: true }, 'disable')
  await assertSecretRefused(t, app, client.client_id, secret, 'a disabled client')
  await patch({ disabled: false, name: 'Feed', scopes: ['orders:read'] }, { ...client, scopes: ['orders:read'] }, 'enable, rename and re-scope at once')
  await assertSecretWorks(t, app, client.client_id, secret, 're-enabled, the same secret')
  const token = await clientToken(app, client.client_id, secret)
  const claims = JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString())
  t.equal(claims.scope, 'orders:read', 'its new tokens carry the new scopes')

  // A wrong PATCH changes nothing.
  const refused = await admin.inject({ method: 'PATCH', url: `/clients/${client.client_id}`, payload: { name: 'Hacked', scopes: ['orders:read', 'cart'] } })
  t.equal(refused.statusCode, 400)
  t.strictSame(refused.json(), notForClients('cart'))
  assertValidationError(t, await admin.inject({ method: 'PATCH', url: `/clients/${client.client_id}`, payload: { name: 'Hacked', secret: 'mine' } }),
    /additional properties/, 'PATCH with an extra field')
  assertValidationError(t, await admin.inject({ method: 'PATCH', url: `/clients/${client.client_id}`, payload: { scopes: [] } }),
    /fewer than 1 items/, 'PATCH to no scopes')
  assertValidationError(t, await admin.inject({ method: 'PATCH', url: `/clients/${client.client_id}`, payload: { disabled: 'yes' } }),
    /disabled/, 'PATCH disabled with a string')
  assertValidationError(t, await admin.inject({ method: 'PATCH', url: `/clients/${client.client_id}`, payload: { name: '' } }),
    /name/, 'PATCH to an empty name')
  const after = await admin.inject({ method: 'GET', url: `/clients/${client.client_id}` })
  t.strictSame(after.json(), { ...client, scopes: ['orders:read'] }, 'the refused PATCHes changed nothing')
})

t.test('POST /clients/{id}/secret: a new secret, no-store; the old one stops working at once', async (t) => {
  const app = await build(t)
  const admin = await createUser(app, { role: 'admin' })
  const created = await create(t, admin, { name: 'Warehouse', scopes: ['orders:write'] })
  const bystander = await create(t, admin, { name: 'Other', scopes: ['orders:write'] })

  const res = await admin.inject({ method: 'POST', url: `/clients/${created.client_id}/secret` })
  t.equal(res.statusCode, 200)
  t.equal(res.headers['cache-control'], 'no-store')
  const rotated = res.json<{ client_id: string, client_secret: string }>()
  t.strictSame(rotated, { client_id: created.client_id, client_secret: rotated.client_secret }, 'exactly client_id and client_secret')
  t.match(rotated.client_secret, CLIENT_SECRET)
  t.not(rotated.client_secret, created.client_secret, 'a different secret')

  await assertSecretRefused(t, app, created.client_id, created.client_secret, 'the old secret')
  await assertSecretWorks(t, app, created.client_id, rotated.client_secret, 'the new secret')
  await assertSecretWorks(t, app, bystander.client_id, bystander.client_secret, 'another client is untouched')

  const again = (await admin.inject({ method: 'POST', url: `/clients/${created.client_id}/secret` })).json<{ client_secret: string }>()
  await assertSecretRefused(t, app, created.client_id, rotated.client_secret, 'the second secret after another rotation')
  await assertSecretWorks(t, app, created.client_id, again.client_secret, 'the third secret')

  const read = await admin.inject({ method: 'GET', url: `/clients/${created.client_id}` })
  const { client_secret: _secret, ...client } = created
  t.strictSame(read.json(), client, 'rotation changes nothing else about the client')
  for (const secret of [created.client_secret, rotated.client_secret, again.client_secret]) {
    t.notOk(read.body.includes(secret.slice(3)), 'GET shows none of the secrets')
  }
})

t.test('DELETE /clients/{id}: 204, then 404 everywhere; its secret no longer authenticates', async (t) => {
  const app = await build(t)
  const admin = await createUser(app, { role: 'admin' })
  const doomed = await create(t, admin, { name: 'Old', scopes: ['users:read'] })
  const kept = await create(t, admin, { name: 'Kept', scopes: ['users:read'] })

  const res = await admin.inject({ method: 'DELETE', url: `/clients/${doomed.client_id}` })
  t.equal(res.statusCode, 204)
  t.equal(res.body, '', 'no body')

  for (const request of [
    { method: 'GET', url: `/clients/${doomed.client_id}` },
    { method: 'DELETE', url: `/clients/${doomed.client_id}` },
    { method: 'PATCH', url: `/clients/${doomed.client_id}`, payload: { disabled: false } },
    { method: 'POST', url: `/clients/${doomed.client_id}/secret` }
  ] as InjectOptions[]) {
    const after = await admin.inject(request)
    t.equal(after.statusCode, 404, `after DELETE, ${request.method}: 404`)
    t.strictSame(after.json(), NOT_FOUND)
  }
  await assertSecretRefused(t, app, doomed.client_id, doomed.client_secret, 'the deleted client')
  const { client_secret: _secret, ...keptClient } = kept
  t.strictSame(await listAll(admin), [keptClient], 'the list has only the other client')
  await assertSecretWorks(t, app, kept.client_id, kept.client_secret, 'the other client')
})

t.test('scopes a client may not hold: 400 SCOPE_NOT_FOR_CLIENTS, nothing created', async (t) => {
  const app = await build(t)
  const admin = await createUser(app, { role: 'admin' })
  const cases: Array<[string[], string]> = [
    [['account'], 'account'],
    [['cart'], 'cart'],
    [['orders'], 'orders'],
    [['clients:admin'], 'clients:admin'],
    [['orders:read', 'orders'], 'orders'],
    [['clients:admin', 'users:read', 'account'], 'clients:admin, account']
  ]
  for (const [scopes, refused] of cases) {
    const res = await admin.inject({ method: 'POST', url: '/clients', payload: { name: 'Greedy', scopes } })
    t.equal(res.statusCode, 400, `${scopes.join(' ')}: 400`)
    t.strictSame(res.json(), notForClients(refused), `${scopes.join(' ')}: SCOPE_NOT_FOR_CLIENTS naming ${refused}`)
  }
  t.strictSame(await listAll(admin), [], 'no client was made')

  // Every scope a client may hold, at once, is fine.
  const all = await create(t, admin, { name: 'Everything allowed', scopes: [...CLIENT_SCOPES].reverse() })
  t.strictSame(all.scopes, CLIENT_SCOPES)
})

t.test('malformed bodies: 400 VALIDATION_ERROR, nothing created', async (t) => {
  const app = await build(t)
  const admin = await createUser(app, { role: 'admin' })
  const cases: Array<[string, unknown, RegExp]> = [
    ['an unknown scope name', { name: 'x', scopes: ['orders:delete'] }, /scopes\/0/],
    ['an unknown scope among good ones', { name: 'x', scopes: ['users:read', 'admin'] }, /scopes\/1/],
    ['a scope string instead of a list', { name: 'x', scopes: 'users:read' }, /scopes must be array/],
    ['the scopes space-separated in one item', { name: 'x', scopes: ['users:read orders:read'] }, /scopes\/0/],
    ['empty scopes', { name: 'x', scopes: [] }, /scopes must NOT have fewer than 1 items/],
    ['a scope twice', { name: 'x', scopes: ['users:read', 'users:read'] }, /duplicate items/],
    ['an extra field', { name: 'x', scopes: ['users:read'], client_secret: 'chosen' }, /must NOT have additional properties/],
    ['an extra field: disabled', { name: 'x', scopes: ['users:read'], disabled: true }, /must NOT have additional properties/],
    ['no scopes', { name: 'x' }, /must have required property 'scopes'/],
    ['no name', { scopes: ['users:read'] }, /must have required property 'name'/],
    ['an empty name', { name: '', scopes: ['users:read'] }, /name must NOT have fewer than 1 characters/],
    ['a name too long', { name: 'x'.repeat(201), scopes: ['users:read'] }, /name must NOT have more than 200 characters/],
    ['a number as name', { name: 5, scopes: ['users:read'] }, /name must be string/]
  ]
  for (const [name, payload, message] of cases) {
    assertValidationError(t, await admin.inject({ method: 'POST', url: '/clients', payload: payload as object }), message, name)
  }
  t.strictSame(await listAll(admin), [], 'no client was made')
})

t.test('only clients:admin reaches /clients: customers, clients (every client scope) and an admin without it get 403 on every operation', async (t) => {
  const app = await build(t)
  const admin = await createUser(app, { role: 'admin' })
  const target = await create(t, admin, { name: 'Target', scopes: ['users:read'] })
  const { client_secret: targetSecret, ...targetClient } = target

  const customer = await createUser(app)
  const service = await createClient(app, CLIENT_SCOPES, { admin })
  const narrowed = await app.inject({ method: 'POST', url: '/auth/token', payload: { username: admin.email, password: admin.password, scope: 'orders' } })
  t.equal(narrowed.json().scope, 'orders', 'the admin\'s narrowed token carries only orders')
  const allButClientsAdmin = await app.inject({
    method: 'POST', url: '/auth/token', payload: { username: admin.email, password: admin.password, scope: 'account cart orders catalogue:write orders:read orders:write users:read users:write' }
  })
  t.notOk(allButClientsAdmin.json().scope.includes('clients:admin'))
  const callers: Array<[string, string]> = [
    ['a customer', customer.accessToken],
    ['a client holding every client scope', service.accessToken],
    ['an admin whose token asked for scope=orders', narrowed.json().access_token],
    ['an admin whose token asked for everything but clients:admin', allButClientsAdmin.json().access_token]
  ]
  const operations: InjectOptions[] = [
    { method: 'POST', url: '/clients', payload: { name: 'Mine', scopes: ['users:read'] } },
    { method: 'GET', url: '/clients' },
    { method: 'GET', url: `/clients/${target.client_id}` },
    { method: 'GET', url: `/clients/${UNKNOWN_ID}` },
    { method: 'PATCH', url: `/clients/${target.client_id}`, payload: { name: 'Taken over', scopes: CLIENT_SCOPES } },
    { method: 'POST', url: `/clients/${target.client_id}/secret` },
    { method: 'DELETE', url: `/clients/${target.client_id}` }
  ]
  for (const [who, token] of callers) {
    for (const operation of operations) {
      const res = await app.inject({ ...operation, headers: { authorization: `Bearer ${token}` } })
      const name = `${who}, ${operation.method} ${operation.url}`
      t.equal(res.statusCode, 403, `${name}: 403`)
      t.strictSame(res.json(), insufficientScope('clients:admin'), `${name}: INSUFFICIENT_SCOPE`)
      t.equal(res.headers['www-authenticate'], 'Bearer error="insufficient_scope", scope="clients:admin"', `${name}: RFC 6750 challenge`)
    }
  }
  for (const operation of operations) {
    const res = await app.inject(operation)
    t.equal(res.statusCode, 401, `no token, ${operation.method} ${operation.url}: 401`)
    t.strictSame(res.json(), { statusCode: 401, code: 'UNAUTHORIZED', error: 'Unauthorized', message: 'A valid access token is required' })
  }

  // Nothing the refused requests asked for happened.
  const remaining = await listAll(admin)
  t.strictSame(remaining.map((client) => client.client_id), [target.client_id, service.clientId], 'no client was added or deleted')
  t.strictSame(remaining[1]?.scopes, CLIENT_SCOPES, 'the calling client did not change either')
  const read = await admin.inject({ method: 'GET', url: `/clients/${target.client_id}` })
  t.strictSame(read.json(), targetClient, 'the target is unchanged')
  await assertSecretWorks(t, app, target.client_id, targetSecret, 'the target\'s secret was not rotated')

  // The same admin with a token that carries clients:admin may do all of it.
  const only = await app.inject({ method: 'POST', url: '/auth/token', payload: { username: admin.email, password: admin.password, scope: 'clients:admin' } })
  t.equal(only.json().scope, 'clients:admin')
  const manager = (options: InjectOptions) => app.inject({ ...options, headers: { authorization: `Bearer ${only.json().access_token}` } })
  t.equal((await manager({ method: 'GET', url: `/clients/${target.client_id}` })).statusCode, 200, 'scope=clients:admin: GET 200')
  t.equal((await manager({ method: 'DELETE', url: `/clients/${target.client_id}` })).statusCode, 204, 'scope=clients:admin: DELETE 204')
  const me = await manager({ method: 'GET', url: '/users/me' })
  t.equal(me.statusCode, 403, 'but that token has no account scope')
  t.strictSame(me.json(), insufficientScope('account'))
})
