import t from 'tap'
import { build, createUser } from '../helper.js'

interface Operation { method: string, path: string, secured: boolean, hasBody: boolean }

// The contract's public operations (API.md): everything else needs a token.
const PUBLIC = [
  'POST /users', 'POST /auth/token', 'POST /auth/revoke', 'POST /auth/password-reset', 'POST /auth/password-reset/confirm',
  'GET /.well-known/jwks.json', 'GET /.well-known/oauth-authorization-server', 'GET /health/live', 'GET /health/ready',
  'GET /categories', 'GET /products', 'GET /products/{id}'
]
const ADMIN = [
  'GET /users', 'PATCH /users/{id}', 'POST /categories', 'DELETE /categories/{id}',
  'POST /products', 'PATCH /products/{id}', 'DELETE /products/{id}', 'PATCH /orders/{id}'
]

t.test('the OpenAPI security of every operation is exactly what the service enforces', async (t) => {
  const app = await build(t)
  const document = app.swagger() as { paths: Record<string, Record<string, { security?: unknown[], requestBody?: unknown }>> }
  const operations: Operation[] = Object.entries(document.paths).flatMap(([path, methods]) =>
    Object.entries(methods).map(([method, operation]) => ({
      method: method.toUpperCase(),
      path,
      secured: (operation.security ?? []).length > 0,
      hasBody: operation.requestBody !== undefined
    })))
  t.ok(operations.length >= 35, `${operations.length} operations in the document`)
  const name = (operation: Operation) => `${operation.method} ${operation.path}`
  t.same(operations.filter((operation) => !operation.secured).map(name).sort(), [...PUBLIC].sort(), 'the open operations are the contract\'s public ones')

  const admins: string[] = []
  for (const operation of operations) {
    const url = operation.path.replace(/\{[^}]+\}/g, '1')
    const request = { method: operation.method as 'GET', url, ...(operation.hasBody ? { payload: {} } : {}) }
    const anonymous = await app.inject(request)
    if (operation.secured) {
      t.equal(anonymous.statusCode, 401, `${name(operation)} without a token`)
      t.equal(anonymous.headers['www-authenticate'], 'Bearer')
      t.same(anonymous.json(), { statusCode: 401, code: 'UNAUTHORIZED', error: 'Unauthorized', message: 'A valid access token is required' })
      // A fresh customer each time: some operations (DELETE /users/me) end the caller.
      const asCustomer = await (await createUser(app)).inject(request)
      if (asCustomer.statusCode === 403) admins.push(name(operation))
    } else {
      t.not(anonymous.statusCode, 401, `${name(operation)} is open`)
    }
  }
  t.same(admins.sort(), [...ADMIN].sort(), 'exactly the admin operations refuse a customer with 403')
})

t.test('the docs are public and offer the password flow', async (t) => {
  const app = await build(t)
  const page = await app.inject({ method: 'GET', url: '/docs/' })
  t.equal(page.statusCode, 200)
  t.match(page.headers['content-type'], /text\/html/)
  const document = (await app.inject({ method: 'GET', url: '/docs/json' })).json()
  t.same(document.components.securitySchemes.OAuth2, {
    type: 'oauth2',
    description: 'OAuth2 password grant; send the access token as `Authorization: Bearer …`',
    flows: { password: { tokenUrl: '/auth/token', refreshUrl: '/auth/token', scopes: {} } }
  })
})
