import t, { type Test } from 'tap'
import { Ajv } from 'ajv'
import addFormats from 'ajv-formats'
import type { HTTPMethods, InjectOptions, LightMyRequestResponse } from 'fastify'
import * as schema from '../../src/db/schema.js'
import { build, createUser, createClient, login, type App, type TestUser, sqliteOf, dbOf } from '../helper.js'

// The access-control matrix, derived from the live OpenAPI document: which
// operations are admin-only is found by probing with a customer's token, and
// every secured, non-admin operation with an id in its path is exercised as
// "user B holds user A's id". A route added tomorrow joins the matrix by itself;
// what is listed here is only the contract (docs/API.md) the probe must agree with.

const CONTRACT_ADMIN = [
  'GET /users', 'PATCH /users/{id}', 'POST /categories', 'DELETE /categories/{id}',
  'POST /products', 'PATCH /products/{id}', 'DELETE /products/{id}', 'PATCH /orders/{id}',
  'POST /clients', 'GET /clients', 'GET /clients/{client_id}', 'PATCH /clients/{client_id}', 'POST /clients/{client_id}/secret', 'DELETE /clients/{client_id}'
].sort()
const CONTRACT_OWNED = [
  'GET /users/{id}', 'DELETE /users/{id}', 'GET /orders/{id}', 'POST /orders/{id}/cancel',
  'PUT /cart/items/{product_id}', 'DELETE /cart/items/{product_id}'
].sort()

const UNAUTHORIZED = { statusCode: 401, code: 'UNAUTHORIZED', error: 'Unauthorized', message: 'A valid access token is required' }
// A customer's token lacks the scope of an admin operation (test/security/scopes.test.ts checks which scope each names).
const INSUFFICIENT_SCOPE = { statusCode: 403, code: 'INSUFFICIENT_SCOPE', error: 'Forbidden', message: /^This token does not carry the scope this needs: / }
// The largest id IdParams accepts: a well-formed id that no fixture here ever reaches.
const MISSING_ID = 999_999_999_999_999

interface JsonSchema {
  type?: string | string[]
  properties?: Record<string, JsonSchema>
  required?: string[]
  minProperties?: number
  enum?: unknown[]
  const?: unknown
  anyOf?: JsonSchema[]
  oneOf?: JsonSchema[]
  minimum?: number
  minLength?: number
  format?: string
  items?: JsonSchema
  minItems?: number
  $ref?: string
}
interface DocOperation { security?: unknown[], requestBody?: { content?: Record<string, { schema?: JsonSchema }> } }
interface Document { paths: Record<string, Record<string, DocOperation>>, components?: { schemas?: Record<string, JsonSchema> } }
interface Operation { name: string, method: HTTPMethods, path: string, secured: boolean, params: string[], body?: JsonSchema }

function operationsOf (app: App): { operations: Operation[], document: Document } {
  const document = app.swagger() as unknown as Document
  const operations = Object.entries(document.paths).flatMap(([path, methods]) =>
    Object.entries(methods).map(([method, operation]) => ({
      name: `${method.toUpperCase()} ${path}`,
      method: method.toUpperCase() as HTTPMethods,
      path,
      secured: (operation.security ?? []).length > 0,
      params: [...path.matchAll(/\{([^}]+)\}/g)].map((match) => match[1] as string),
      body: operation.requestBody?.content?.['application/json']?.schema
    })))
  return { operations, document }
}

/**
 * A body the schema accepts, each value its lowest valid one: `minimal` sends the
 * required fields (or enough for minProperties); otherwise every field, so a refused
 * request that slipped through would visibly change something.
 */
function sample (node: JsonSchema, document: Document, minimal: boolean): unknown {
  if (node.$ref) {
    const target = document.components?.schemas?.[node.$ref.replace('#/components/schemas/', '')]
    if (!target) throw new Error(`unresolvable $ref ${node.$ref}`)
    return sample(target, document, minimal)
  }
  if (node.const !== undefined) return node.const
  if (node.enum) return node.enum[0]
  const branches = node.anyOf ?? node.oneOf
  if (branches) return sample(branches.find((branch) => branch.type !== 'null') ?? branches[0] as JsonSchema, document, minimal)
  const type = Array.isArray(node.type) ? node.type.find((name) => name !== 'null') : node.type
  switch (type) {
    case 'integer':
    case 'number': return node.minimum ?? 1
    case 'boolean': return false
    case 'string': return node.format === 'email' ? 'probe@example.test' : 'x'.repeat(Math.max(node.minLength ?? 1, 1))
    case 'array': return Array.from({ length: node.minItems ?? 0 }, () => sample(node.items ?? {}, document, minimal))
    case 'null': return null
    default: {
      const properties = Object.keys(node.properties ?? {})
      const chosen = minimal ? [...(node.required ?? [])] : properties
      for (const name of properties) if (chosen.length < (node.minProperties ?? 0) && !chosen.includes(name)) chosen.push(name)
      return Object.fromEntries(chosen.map((name) => [name, sample(node.properties?.[name] ?? {}, document, minimal)]))
    }
  }
}

const ajv = new Ajv({ strict: false })
addFormats.default(ajv)
/** A body the operation's own schema accepts, so an answer is never a 400 about the probe itself. */
function validBody (t: Test, operation: Operation, document: Document, minimal = true): unknown {
  if (!operation.body) return undefined
  const body = sample(operation.body, document, minimal)
  t.ok(ajv.validate(operation.body, body), `${operation.name}: the generated body ${JSON.stringify(body)} is valid`, { errors: ajv.errors })
  return body
}

/** The collection an id belongs to: the path segment before the parameter ("orders" in /orders/{id}, "items" in /cart/items/{product_id}). */
const collectionOf = (path: string, param: string) => path.split('/')[path.split('/').indexOf(`{${param}}`) - 1] ?? ''

type IdFor = (collection: string) => number | string

function request (operation: Operation, idFor: IdFor, payload: unknown): InjectOptions {
  return {
    method: operation.method,
    url: operation.path.replace(/\{([^}]+)\}/g, (_, param: string) => String(idFor(collectionOf(operation.path, param)))),
    ...(payload === undefined ? {} : { payload: payload as InjectOptions['payload'] })
  }
}

function insertProduct (app: App, name: string, categoryId: number | null = null) {
  return dbOf(app).insert(schema.products).values({ name, priceCents: 1250, stock: 50, categoryId }).returning().get()
}

/** Every row of every table; mail_outbox without the columns its background worker updates. */
function everyRow (app: App) {
  const tables = sqliteOf(app).prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name NOT LIKE '__drizzle%' ORDER BY name").pluck().all() as string[]
  return Object.fromEntries(tables.map((table) => [table, sqliteOf(app).prepare(table === 'mail_outbox'
    ? 'SELECT id, recipient, subject, body FROM mail_outbox ORDER BY id'
    : `SELECT * FROM "${table}" ORDER BY rowid`).all()]))
}

/** A customer's token on every secured operation: the 403s are the admin operations. */
async function probeAdminOperations (t: Test, app: App, operations: Operation[], document: Document, idFor: IdFor) {
  const admin = new Set<string>()
  for (const operation of operations.filter((op) => op.secured)) {
    // A fresh customer per probe: DELETE /users/me or sign-out everywhere must not spoil the next one.
    const customer = await createUser(app)
    const res = await customer.inject(request(operation, idFor, validBody(t, operation, document)))
    t.ok(res.statusCode < 500, `${operation.name}: a customer's probe is answered, not failed (${res.statusCode})`)
    if (res.statusCode === 403) admin.add(operation.name)
  }
  return admin
}

/** A user with a placed order, so the probes have real ids of every collection to aim at. */
async function fixtures (app: App) {
  const owner = await createUser(app)
  const category = dbOf(app).insert(schema.categories).values({ name: `Category ${owner.id}` }).returning().get()
  const product = insertProduct(app, `Product of ${owner.id}`, category.id)
  await owner.inject({ method: 'POST', url: '/cart/items', payload: { product_id: product.id, quantity: 1 } })
  const orderRes = await owner.inject({ method: 'POST', url: '/orders', payload: { shipping_address: '1 Owner Road' } })
  if (orderRes.statusCode !== 201) throw new Error(`fixture order: ${orderRes.statusCode} ${orderRes.body}`)
  const { clientId } = await createClient(app, ['orders:read'])
  const ids: Record<string, number | string> = {
    users: owner.id, orders: orderRes.json<{ id: number }>().id, categories: category.id, products: product.id, items: product.id, clients: clientId
  }
  return (collection: string) => {
    const id = ids[collection]
    // A new kind of id in a path needs a fixture here: failing says so instead of skipping the route.
    if (id === undefined) throw new Error(`no fixture id for the collection "${collection}"`)
    return id
  }
}

t.test('admin operations: found by probing, 403 for a customer, 401 without a token, and exactly the contract\'s list', async (t) => {
  const app = await build(t)
  const { operations, document } = operationsOf(app)
  const idFor = await fixtures(app)
  const admin = await probeAdminOperations(t, app, operations, document, idFor)
  t.comment(`admin operations found by probing: ${[...admin].sort().join(', ')}`)
  t.same([...admin].sort(), CONTRACT_ADMIN, 'the operations a customer is refused are exactly docs/API.md\'s admin operations')

  const customer = await createUser(app)
  const anAdmin = await createUser(app, { role: 'admin' })
  const adminOperations = operations.filter((op) => admin.has(op.name))
  for (const operation of adminOperations) {
    const options = request(operation, idFor, validBody(t, operation, document, false))
    const before = everyRow(app)
    const refused = await customer.inject(options)
    t.equal(refused.statusCode, 403, `${operation.name}: a customer gets 403`)
    t.match(refused.json(), INSUFFICIENT_SCOPE, `${operation.name}: the 403 body`)
    t.match(refused.headers['www-authenticate'], /^Bearer error="insufficient_scope", scope="[^"]+"$/, `${operation.name}: the 403 challenge`)
    const anonymous = await app.inject(options)
    t.equal(anonymous.statusCode, 401, `${operation.name}: no token gets 401`)
    t.same(anonymous.json(), UNAUTHORIZED, `${operation.name}: the 401 body`)
    t.equal(anonymous.headers['www-authenticate'], 'Bearer', `${operation.name}: the 401 challenges for a Bearer token`)
    t.same(everyRow(app), before, `${operation.name}: the refused requests changed nothing`)
  }
  // Last, since these do act: an admin passes the guard, so "admin" is not "nobody".
  for (const operation of adminOperations) {
    const res = await anAdmin.inject(request(operation, idFor, validBody(t, operation, document, false)))
    t.ok(![401, 403].includes(res.statusCode) && res.statusCode < 500, `${operation.name}: an admin passes the guard (${res.statusCode})`)
  }
})

t.test('user-owned resources: user B holding user A\'s id gets the 404 of a missing id, and A\'s things do not change', async (t) => {
  const app = await build(t)
  const { operations, document } = operationsOf(app)
  const admin = await probeAdminOperations(t, app, operations, document, await fixtures(app))
  const expected = operations.filter((op) => op.secured && op.params.length > 0 && !admin.has(op.name))
  const covered: string[] = []
  const cartAnswers: string[] = []

  for (const operation of expected) {
    const name = operation.name
    // Fresh users and products per operation, so every probe starts from a known state.
    const a: TestUser = await createUser(app, { fullName: 'Alice Owner' })
    const b: TestUser = await createUser(app, { fullName: 'Bob Intruder' })
    const ordered = insertProduct(app, `Ordered by ${a.id}`)
    const inACart = insertProduct(app, `In the cart of ${a.id}`)
    const inBCart = insertProduct(app, `In the cart of ${b.id}`)
    const setup = [
      await a.inject({ method: 'POST', url: '/cart/items', payload: { product_id: ordered.id, quantity: 2 } }),
      await a.inject({ method: 'POST', url: '/orders', payload: { shipping_address: '1 Owner Road' } }),
      await a.inject({ method: 'POST', url: '/cart/items', payload: { product_id: inACart.id, quantity: 3 } }),
      await b.inject({ method: 'POST', url: '/cart/items', payload: { product_id: inBCart.id, quantity: 1 } })
    ]
    t.same(setup.map((res) => res.statusCode), [200, 201, 200, 200], `${name}: setup`)
    const order = setup[1]?.json<{ id: number }>()
    if (!order) throw new Error('no order')
    // A's id in each collection; for cart lines, a product in A's cart and not in B's.
    const aIds: Record<string, number> = { users: a.id, orders: order.id, items: inACart.id }
    const idOfA = (collection: string) => {
      const id = aIds[collection]
      if (id === undefined) throw new Error(`${name}: no user-owned fixture for the collection "${collection}"`)
      return id
    }

    const ownerView = async () => ({
      me: (await a.inject({ method: 'GET', url: '/users/me' })).json(),
      order: (await a.inject({ method: 'GET', url: `/orders/${order.id}` })).json(),
      orders: (await a.inject({ method: 'GET', url: '/orders' })).json(),
      cart: (await a.inject({ method: 'GET', url: '/cart' })).json(),
      // Rows an API view would not show: password hash, session generation, refresh tokens, stock.
      rows: {
        user: sqliteOf(app).prepare('SELECT * FROM users WHERE id = ?').get(a.id),
        refreshTokens: sqliteOf(app).prepare('SELECT * FROM refresh_tokens WHERE user_id = ? ORDER BY id').all(a.id),
        cart: sqliteOf(app).prepare('SELECT * FROM cart_items WHERE user_id = ? ORDER BY product_id').all(a.id),
        orders: sqliteOf(app).prepare('SELECT * FROM orders WHERE user_id = ? ORDER BY id').all(a.id),
        orderItems: sqliteOf(app).prepare('SELECT i.* FROM order_items i JOIN orders o ON o.id = i.order_id WHERE o.user_id = ? ORDER BY i.id').all(a.id),
        products: sqliteOf(app).prepare('SELECT * FROM products WHERE id IN (?, ?) ORDER BY id').all(ordered.id, inACart.id)
      }
    })
    const before = await ownerView()
    t.equal((before.me as { id: number }).id, a.id, `${name}: A sees itself before`)

    const body = validBody(t, operation, document)
    const foreign: LightMyRequestResponse = await b.inject(request(operation, idOfA, body))
    const missing: LightMyRequestResponse = await b.inject(request(operation, () => MISSING_ID, body))
    t.equal(missing.statusCode, 404, `${name}: an id that does not exist is 404`)
    t.match(missing.json(), { statusCode: 404, code: String, error: 'Not Found', message: String }, `${name}: the 404 body`)

    if (foreign.statusCode === 404) {
      t.same(foreign.json(), missing.json(), `${name}: A's id gets exactly the answer of a missing id`)
      if (operation.path.startsWith('/cart/')) cartAnswers.push(`${name} → 404 ${foreign.json<{ code: string }>().code}`)
    } else if (operation.path.startsWith('/cart/') && foreign.statusCode === 200) {
      // Every user has one cart: a product id names a line of the caller's own cart, so B may act on B's.
      t.same(foreign.json(), (await b.inject({ method: 'GET', url: '/cart' })).json(), `${name}: a 200 is about B's own cart`)
      cartAnswers.push(`${name} → 200 with B's own cart`)
    } else {
      t.fail(`${name}: B with A's id got ${foreign.statusCode} ${foreign.body}`)
    }

    t.same(await ownerView(), before, `${name}: A's account, order, orders, cart and rows are unchanged`)
    const tokens = await login(app, a.email, a.password).catch((err: Error) => err)
    t.notOk(tokens instanceof Error, `${name}: A can still log in`, { error: tokens })
    if (!(tokens instanceof Error)) {
      const fresh = await app.inject({ method: 'GET', url: '/users/me', headers: { authorization: `Bearer ${tokens.access_token}` } })
      t.same(fresh.json(), before.me, `${name}: A's /users/me with a new login is unchanged`)
    }
    covered.push(name)
  }

  t.comment(`user-owned operations covered: ${covered.join(', ')}`)
  t.comment(`cart answers to B holding A's product id: ${cartAnswers.join('; ') || 'none'}`)
  t.ok(covered.length > 0, 'the matrix covered some operations')
  t.same(covered.sort(), expected.map((op) => op.name).sort(), 'every secured, non-admin operation with a path parameter was covered')
  t.same(covered.sort(), CONTRACT_OWNED, 'and they are docs/API.md\'s user-owned operations')
})
