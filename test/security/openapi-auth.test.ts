import t from 'tap'
import type { HTTPMethods, InjectOptions, LightMyRequestResponse } from 'fastify'
import { build, createUser, createClient, login, asUser, type App } from '../helper.js'

// The route list comes from the live OpenAPI document, never from a list kept
// here: a route added tomorrow is checked tomorrow. What is listed here is the
// contract (docs/API.md) the document must match.

const PUBLIC = [
  'POST /users', 'POST /auth/token', 'POST /auth/revoke', 'POST /auth/introspect', 'POST /auth/password-reset', 'POST /auth/password-reset/confirm',
  'GET /.well-known/jwks.json', 'GET /.well-known/oauth-authorization-server', 'GET /health/live', 'GET /health/ready',
  'GET /categories', 'GET /products', 'GET /products/{id}'
]
// The contract's scope table (docs/API.md, "Scopes and service clients"), operation by
// operation: any one of the listed scopes allows the operation.
const CLIENTS_ADMIN = ['clients:admin']
const CONTRACT_SCOPES: Record<string, string[]> = {
  'GET /users/me': ['account'],
  'PATCH /users/me': ['account'],
  'PUT /users/me/password': ['account'],
  'DELETE /users/me/sessions': ['account'],
  'DELETE /users/me': ['account'],
  'GET /users': ['users:read'],
  'GET /users/{id}': ['account', 'users:read'],
  'PATCH /users/{id}': ['users:write'],
  'DELETE /users/{id}': ['account', 'users:write'],
  'POST /categories': ['catalogue:write'],
  'DELETE /categories/{id}': ['catalogue:write'],
  'POST /products': ['catalogue:write'],
  'PATCH /products/{id}': ['catalogue:write'],
  'DELETE /products/{id}': ['catalogue:write'],
  'GET /cart': ['cart'],
  'POST /cart/items': ['cart'],
  'PUT /cart/items/{product_id}': ['cart'],
  'DELETE /cart/items/{product_id}': ['cart'],
  'DELETE /cart': ['cart'],
  'POST /orders': ['orders'],
  'GET /orders': ['orders', 'orders:read'],
  'GET /orders/{id}': ['orders', 'orders:read'],
  'POST /orders/{id}/cancel': ['orders', 'orders:write'],
  'PATCH /orders/{id}': ['orders:write'],
  'POST /clients': CLIENTS_ADMIN,
  'GET /clients': CLIENTS_ADMIN,
  'GET /clients/{client_id}': CLIENTS_ADMIN,
  'PATCH /clients/{client_id}': CLIENTS_ADMIN,
  'POST /clients/{client_id}/secret': CLIENTS_ADMIN,
  'DELETE /clients/{client_id}': CLIENTS_ADMIN
}
const ALL_SCOPES = ['account', 'cart', 'orders', 'catalogue:write', 'orders:read', 'orders:write', 'users:read', 'users:write', 'clients:admin']
const CLIENT_SCOPES = ['catalogue:write', 'orders:read', 'orders:write', 'users:read', 'users:write']

const UNAUTHORIZED = { statusCode: 401, code: 'UNAUTHORIZED', error: 'Unauthorized', message: 'A valid access token is required' }
const INVALID_TOKEN = { statusCode: 401, code: 'INVALID_TOKEN', error: 'Unauthorized', message: 'The access token is invalid or expired' }
const insufficientScope = (scopes: string[]) => ({
  statusCode: 403, code: 'INSUFFICIENT_SCOPE', error: 'Forbidden', message: `This token does not carry the scope this needs: ${scopes.join(' ')}`
})
// A well-formed JWT that is not ours: claims an admin, signed with a key the service never had.
const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url')
const FOREIGN_JWT = [
  b64({ alg: 'HS256', typ: 'at+jwt' }),
  b64({ sub: '1', role: 'admin', gen: 0, iss: 'http://localhost:3000', aud: 'ecommerce-api', iat: 1, exp: 4_000_000_000, jti: 'x' }),
  Buffer.from('not our signature').toString('base64url')
].join('.')

interface DocOperation { security?: Array<Record<string, string[]>>, requestBody?: unknown, responses?: Record<string, unknown> }
interface Document {
  paths: Record<string, Record<string, DocOperation>>
  components: { securitySchemes: Record<string, { type: string, flows?: Record<string, { tokenUrl?: string, scopes?: Record<string, string> }> }> }
  servers?: Array<{ url: string }>
}
interface Operation { name: string, method: HTTPMethods, path: string, secured: boolean, hasBody: boolean, responses: string[], schemes: string[], scopes: string[] }

function operationsOf (document: Document): Operation[] {
  return Object.entries(document.paths).flatMap(([path, methods]) =>
    Object.entries(methods).map(([method, operation]) => ({
      name: `${method.toUpperCase()} ${path}`,
      method: method.toUpperCase() as HTTPMethods,
      path,
      secured: (operation.security ?? []).length > 0,
      hasBody: operation.requestBody !== undefined,
      responses: Object.keys(operation.responses ?? {}),
      schemes: (operation.security ?? []).flatMap((requirement) => Object.keys(requirement)),
      // Alternatives: one requirement object per scope that allows the operation.
      scopes: (operation.security ?? []).flatMap((requirement) => Object.values(requirement).flat())
    })))
}

/** The brief's probe: path params filled with 1, {} wherever a body is taken. */
const probe = (operation: Operation, path = operation.path): InjectOptions => ({
  method: operation.method,
  url: path.replace(/\{[^}]+\}/g, '1'),
  ...(operation.hasBody ? { payload: {} } : {})
})

/**
 * Every route the router holds, from printRoutes' tree (each line a segment
 * under its parent, with its methods). This catches a route that is served but
 * missing from the document, which the document-driven checks cannot see.
 */
function servedRoutes (app: App): Array<{ method: string, path: string }> {
  const stack: string[] = []
  const routes: Array<{ method: string, path: string }> = []
  for (const line of app.printRoutes({ commonPrefix: false }).split('\n')) {
    const match = /^((?:│ {3}| {4})*)(?:├── |└── )(.+?)(?: \(([^)]+)\))?$/.exec(line)
    if (!match) continue
    const depth = (match[1] ?? '').length / 4
    stack.length = depth
    stack.push(`${depth > 0 ? stack[depth - 1] : ''}${match[2]}`)
    for (const method of (match[3] ?? '').split(',').map((m) => m.trim()).filter(Boolean)) {
      routes.push({ method, path: stack[depth] as string })
    }
  }
  return routes
}
/** Router spelling to document spelling: /users/:id/ → /users/{id}. */
const documented = (path: string) => path.replace(/:([A-Za-z0-9_]+)/g, '{$1}').replace(/(.)\/$/, '$1')

t.test('the OpenAPI security of every operation is exactly what the service enforces', async (t) => {
  const app = await build(t)
  const document = app.swagger() as unknown as Document
  const operations = operationsOf(document)
  t.ok(operations.length >= 30, `${operations.length} operations in the document`)
  const byName = new Map(operations.map((operation) => [operation.name, operation]))

  t.test('the public operations are exactly the contract\'s', async (t) => {
    t.same(operations.filter((operation) => !operation.secured).map((operation) => operation.name).sort(), [...PUBLIC].sort())
    for (const operation of operations.filter((op) => op.secured)) {
      t.same([...new Set(operation.schemes)], ['OAuth2'], `${operation.name} names the OAuth2 scheme`)
      t.ok(operation.responses.includes('401'), `${operation.name} documents its 401`)
    }
    t.ok(document.components.securitySchemes.OAuth2, 'the scheme the operations name exists')
  })

  t.test('without a token: secured → 401 with a Bearer challenge; public → anything but 401', async (t) => {
    for (const operation of operations) {
      const anonymous = await app.inject(probe(operation))
      if (operation.secured) {
        t.equal(anonymous.statusCode, 401, `${operation.name} without a token`)
        t.same(anonymous.json(), UNAUTHORIZED, `${operation.name}: the standard error body`)
        t.equal(anonymous.headers['www-authenticate'], 'Bearer', `${operation.name}: WWW-Authenticate: Bearer`)

        const forged = await app.inject({ ...probe(operation), headers: { authorization: `Bearer ${FOREIGN_JWT}` } })
        t.same([forged.statusCode, forged.json()], [401, INVALID_TOKEN], `${operation.name} with a token that is not ours`)
        t.match(forged.headers['www-authenticate'], /^Bearer error="invalid_token"/)

        if (operation.method === 'GET') {
          const head = await app.inject({ ...probe(operation), method: 'HEAD' })
          t.equal(head.statusCode, 401, `HEAD ${operation.path} is guarded like GET`)
          t.equal(head.headers['www-authenticate'], 'Bearer')
        }
      } else if (operation.name === 'POST /auth/introspect') {
        // Open to Bearer-less callers, but it authenticates its caller as a service client (RFC 7662 §2.1).
        t.same([anonymous.statusCode, anonymous.json()], [401, { error: 'invalid_client', error_description: 'Client authentication failed' }], `${operation.name}: client authentication`)
        t.notOk(anonymous.headers['www-authenticate'], `${operation.name}: no Bearer challenge`)
      } else {
        t.not(anonymous.statusCode, 401, `${operation.name} is open`)
        t.ok(anonymous.statusCode < 500, `${operation.name}: ${anonymous.statusCode}, not a server error`)
        t.notOk(anonymous.headers['www-authenticate'], `${operation.name}: no challenge`)
      }
    }
  })

  t.test('every operation names exactly the contract\'s scopes, one requirement object per alternative', async (t) => {
    const secured = operations.filter((op) => op.secured)
    t.same(secured.map((op) => op.name).sort(), Object.keys(CONTRACT_SCOPES).sort(), 'the secured operations are the contract\'s')
    for (const operation of secured) {
      t.same(operation.scopes, CONTRACT_SCOPES[operation.name], `${operation.name}: security names ${CONTRACT_SCOPES[operation.name]?.join(' | ')}`)
      t.ok(operation.responses.includes('403'), `${operation.name} documents its 403`)
    }
  })

  t.test('derived from the document: a token with one scope passes exactly the operations that name it', async (t) => {
    const secured = operations.filter((op) => op.secured)
    const passed: Record<string, string[]> = {}
    // A person's token narrowed to one scope (an admin may hold all nine), and a client's for the client scopes.
    const holders: Array<{ kind: string, scope: string, token: () => Promise<(options: InjectOptions) => Promise<LightMyRequestResponse>> }> = [
      ...ALL_SCOPES.map((scope) => ({
        kind: 'person',
        scope,
        token: async () => {
          const person = await createUser(app, { role: 'admin' })
          return asUser(app, (await login(app, person.email, person.password, scope)).access_token)
        }
      })),
      ...CLIENT_SCOPES.map((scope) => ({ kind: 'client', scope, token: async () => (await createClient(app, [scope])).inject }))
    ]
    for (const holder of holders) {
      for (const operation of secured) {
        // A fresh holder per probe: some operations end the caller (DELETE /users/me, a client deleted).
        const res = await (await holder.token())(probe(operation))
        t.ok(res.statusCode < 500, `${holder.kind} ${holder.scope} on ${operation.name}: ${res.statusCode}, not a server error`)
        t.not(res.statusCode, 401, `${holder.kind} ${holder.scope} on ${operation.name}: the token is valid`)
        if (res.statusCode === 403 && res.json<{ code: string }>().code === 'INSUFFICIENT_SCOPE') {
          t.same(res.json(), insufficientScope(operation.scopes), `${operation.name}: the 403 body`)
          t.equal(res.headers['www-authenticate'], `Bearer error="insufficient_scope", scope="${operation.scopes.join(' ')}"`, `${operation.name}: RFC 6750 challenge`)
        } else {
          (passed[`${holder.kind} ${holder.scope}`] ??= []).push(operation.name)
        }
      }
    }
    for (const holder of holders) {
      const expected = secured.filter((op) => CONTRACT_SCOPES[op.name]?.includes(holder.scope)).map((op) => op.name).sort()
      t.same((passed[`${holder.kind} ${holder.scope}`] ?? []).sort(), expected, `${holder.kind} with ${holder.scope} passes exactly the operations the table gives it`)
    }

    // A customer's login holds account, cart and orders: everything else is refused with the scope named.
    const customer = await createUser(app)
    for (const operation of secured.filter((op) => !op.scopes.some((scope) => ['account', 'cart', 'orders'].includes(scope)))) {
      const res = await customer.inject(probe(operation))
      t.same([res.statusCode, res.json()], [403, insufficientScope(operation.scopes)], `a customer on ${operation.name}`)
    }
  })

  t.test('every route the router serves is in the document and guarded as documented', async (t) => {
    const served = servedRoutes(app).filter((route) => !route.path.startsWith('/docs'))
    t.ok(served.length >= operations.length, `${served.length} routes served`)
    for (const route of served) {
      const method = route.method === 'HEAD' ? 'GET' : route.method
      const operation = byName.get(`${method} ${documented(route.path)}`)
      t.ok(operation, `${route.method} ${route.path} is documented`)
      if (!operation) continue
      // The trailing-slash twins (/users/, /cart/, /orders/) and HEAD must be guarded too.
      const res = await app.inject({ ...probe(operation, route.path.replace(/:([A-Za-z0-9_]+)/g, '{$1}')), method: route.method as HTTPMethods })
      if (operation.secured) t.equal(res.statusCode, 401, `${route.method} ${route.path} without a token`)
      else if (operation.name === 'POST /auth/introspect') t.equal(res.json<{ error: string }>().error, 'invalid_client', `${route.method} ${route.path}: client authentication only`)
      else t.not(res.statusCode, 401, `${route.method} ${route.path} is open`)
    }
  })
})

t.test('the docs are public, serve the live document and offer the password flow', async (t) => {
  const app = await build(t)
  for (const url of ['/docs', '/docs/']) {
    const page = await app.inject({ method: 'GET', url })
    t.equal(page.statusCode, 200, `${url} without a token`)
    t.match(page.headers['content-type'], /^text\/html/)
    t.match(page.body, /<html/i)
    t.match(page.body, /swagger-ui/i)
  }
  const json = await app.inject({ method: 'GET', url: '/docs/json' })
  t.equal(json.statusCode, 200)
  t.match(json.headers['content-type'], /^application\/json/)
  const document = json.json<Document & { openapi: string }>()
  t.same(document, JSON.parse(JSON.stringify(app.swagger())), 'the live document')
  t.match(document.openapi, /^3\./)
  t.same(operationsOf(document).map((operation) => operation.name).filter((name) => PUBLIC.includes(name)).sort(),
    operationsOf(document).filter((operation) => !operation.secured).map((operation) => operation.name).sort())

  const scheme = document.components.securitySchemes.OAuth2
  t.equal(scheme?.type, 'oauth2')
  t.same(Object.keys(scheme?.flows ?? {}), ['password', 'clientCredentials'], 'the password and client credentials flows')
  for (const flow of ['password', 'clientCredentials']) {
    t.equal(scheme?.flows?.[flow]?.tokenUrl, '/auth/token', `${flow}: a relative tokenUrl: works on any host`)
    t.same(Object.keys(scheme?.flows?.[flow]?.scopes ?? {}), ALL_SCOPES, `${flow}: every scope, in the table's order`)
    for (const description of Object.values(scheme?.flows?.[flow]?.scopes ?? {})) t.match(description, /\w{3,}/, `${flow}: each scope is described`)
  }
  t.notOk((document.servers ?? []).some((server) => /^https?:/.test(server.url)), 'no absolute servers URL')
})
