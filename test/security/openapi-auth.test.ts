import t from 'tap'
import type { HTTPMethods, InjectOptions } from 'fastify'
import { build, createUser, type App } from '../helper.js'

// The route list comes from the live OpenAPI document, never from a list kept
// here: a route added tomorrow is checked tomorrow. What is listed here is the
// contract (docs/API.md) the document must match.

const PUBLIC = [
  'POST /users', 'POST /auth/token', 'POST /auth/revoke', 'POST /auth/password-reset', 'POST /auth/password-reset/confirm',
  'GET /.well-known/jwks.json', 'GET /.well-known/oauth-authorization-server', 'GET /health/live', 'GET /health/ready',
  'GET /categories', 'GET /products', 'GET /products/{id}'
]
const ADMIN = [
  'GET /users', 'PATCH /users/{id}', 'POST /categories', 'DELETE /categories/{id}',
  'POST /products', 'PATCH /products/{id}', 'DELETE /products/{id}', 'PATCH /orders/{id}'
]

const UNAUTHORIZED = { statusCode: 401, code: 'UNAUTHORIZED', error: 'Unauthorized', message: 'A valid access token is required' }
const INVALID_TOKEN = { statusCode: 401, code: 'INVALID_TOKEN', error: 'Unauthorized', message: 'The access token is invalid or expired' }
const FORBIDDEN = { statusCode: 403, code: 'FORBIDDEN', error: 'Forbidden', message: 'Your role may not do this' }
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
  components: { securitySchemes: Record<string, { type: string, flows?: Record<string, { tokenUrl?: string }> }> }
  servers?: Array<{ url: string }>
}
interface Operation { name: string, method: HTTPMethods, path: string, secured: boolean, hasBody: boolean, responses: string[], schemes: string[] }

function operationsOf (document: Document): Operation[] {
  return Object.entries(document.paths).flatMap(([path, methods]) =>
    Object.entries(methods).map(([method, operation]) => ({
      name: `${method.toUpperCase()} ${path}`,
      method: method.toUpperCase() as HTTPMethods,
      path,
      secured: (operation.security ?? []).length > 0,
      hasBody: operation.requestBody !== undefined,
      responses: Object.keys(operation.responses ?? {}),
      schemes: (operation.security ?? []).flatMap((requirement) => Object.keys(requirement))
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
      t.same(operation.schemes, ['OAuth2'], `${operation.name} names the OAuth2 scheme`)
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
      } else {
        t.not(anonymous.statusCode, 401, `${operation.name} is open`)
        t.ok(anonymous.statusCode < 500, `${operation.name}: ${anonymous.statusCode}, not a server error`)
        t.notOk(anonymous.headers['www-authenticate'], `${operation.name}: no challenge`)
      }
    }
  })

  t.test('with a customer token, 403 comes exactly from the admin operations', async (t) => {
    const admin = await createUser(app, { role: 'admin' })
    const forbidden: string[] = []
    for (const operation of operations.filter((op) => op.secured)) {
      // A fresh customer each time: some operations (DELETE /users/me) end the caller.
      const customer = await createUser(app)
      const res = await customer.inject(probe(operation))
      t.ok(res.statusCode < 500, `${operation.name} as a customer: ${res.statusCode}`)
      if (res.statusCode === 403) {
        forbidden.push(operation.name)
        t.same(res.json(), FORBIDDEN, `${operation.name}: the standard 403 body`)
      }
    }
    t.same(forbidden.sort(), [...ADMIN].sort(), 'exactly the admin operations refuse a customer')

    for (const name of ADMIN) {
      const operation = byName.get(name)
      if (!operation) continue
      t.ok(operation.responses.includes('403'), `${name} documents its 403`)
      const res = await admin.inject(probe(operation))
      t.notOk([401, 403].includes(res.statusCode), `${name} is open to an admin (${res.statusCode})`)
    }
    const documented403 = operations.filter((operation) => operation.responses.includes('403')).map((operation) => operation.name)
    t.same(documented403.sort(), [...ADMIN].sort(), 'the document declares 403 on the admin operations only')
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
  t.same(Object.keys(scheme?.flows ?? {}), ['password'], 'the password flow, and only it')
  t.equal(scheme?.flows?.password?.tokenUrl, '/auth/token', 'a relative tokenUrl: works on any host')
  t.notOk((document.servers ?? []).some((server) => /^https?:/.test(server.url)), 'no absolute servers URL')
})
