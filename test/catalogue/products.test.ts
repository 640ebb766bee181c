import t, { type Test } from 'tap'
import { build, createUser, type App, type TestUser, sqliteOf } from '../helper.js'
import type { operations } from '../../openapi/schema.js'

// A product as the published contract describes it.
type ProductBody = operations['getProductsById']['responses'][200]['content']['application/json']

const error = (statusCode: number, code: string, error: string, message: string) => ({ statusCode, code, error, message })
const invalid = (message: string) => error(400, 'VALIDATION_ERROR', 'Bad Request', message)
const PRODUCT_NOT_FOUND = error(404, 'PRODUCT_NOT_FOUND', 'Not Found', 'Product not found')
const CATEGORY_NOT_FOUND = error(404, 'CATEGORY_NOT_FOUND', 'Not Found', 'Category not found')
const NAME_PATTERN = 'body/name must match pattern "^(?=.*\\S)[^\\u0000-\\u001F\\u007F]+$"'

const productRows = (app: App) => sqliteOf(app).prepare('SELECT * FROM products ORDER BY id').all()

async function createCategory (admin: TestUser, name: string): Promise<number> {
  const res = await admin.inject({ method: 'POST', url: '/categories', payload: { name } })
  if (res.statusCode !== 201) throw new Error(`category: ${res.statusCode} ${res.body}`)
  return res.json<{ id: number }>().id
}

async function createProduct (admin: TestUser, payload: Record<string, unknown>): Promise<ProductBody> {
  const res = await admin.inject({ method: 'POST', url: '/products', payload })
  if (res.statusCode !== 201) throw new Error(`product: ${res.statusCode} ${res.body}`)
  return res.json<ProductBody>()
}

/** created_at is the server's clock: check it is a fresh ISO-8601 UTC time, then compare the rest exactly. */
function assertCreatedNow (t: Test, createdAt: string, before: number) {
  t.match(createdAt, /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/)
  const time = Date.parse(createdAt)
  t.ok(time >= before - 1000 && time <= Date.now() + 1000, 'created_at is now')
}

t.test('POST /products creates a product; GET /products/{id} returns it; both public reads agree', async (t) => {
  const app = await build(t)
  const admin = await createUser(app, { role: 'admin' })
  const categoryId = await createCategory(admin, 'Kitchen')
  const before = Date.now()
  const res = await admin.inject({
    method: 'POST',
    url: '/products',
    payload: { name: 'Chef knife', description: '20 cm, carbon steel', price_cents: 8950, stock: 7, category_id: categoryId }
  })
  t.equal(res.statusCode, 201)
  const product = res.json<ProductBody>()
  assertCreatedNow(t, product.created_at, before)
  t.same(product, {
    id: product.id,
    name: 'Chef knife',
    description: '20 cm, carbon steel',
    price_cents: 8950,
    currency: 'USD',
    stock: 7,
    category_id: categoryId,
    created_at: product.created_at
  })
  t.same(Object.keys(product).sort(), ['category_id', 'created_at', 'currency', 'description', 'id', 'name', 'price_cents', 'stock'])

  const one = await app.inject({ method: 'GET', url: `/products/${product.id}` })
  t.equal(one.statusCode, 200)
  t.same(one.json(), product)

  const list = await app.inject({ method: 'GET', url: '/products' })
  t.equal(list.statusCode, 200)
  t.same(list.json(), { items: [product], next_cursor: null })
})

t.test('POST /products: defaults, trimming, bounds and the configured currency', async (t) => {
  const app = await build(t, { CURRENCY: 'EUR' })
  const admin = await createUser(app, { role: 'admin' })
  const minimal = await createProduct(admin, { name: '  Gift card  ', price_cents: 0, stock: 0 })
  t.same(minimal, {
    id: minimal.id,
    name: 'Gift card',
    description: '',
    price_cents: 0,
    currency: 'EUR',
    stock: 0,
    category_id: null,
    created_at: minimal.created_at
  })
  const maximal = await createProduct(admin, {
    name: 'n'.repeat(200), description: 'd'.repeat(2000), price_cents: 100_000_000, stock: 1_000_000, category_id: null
  })
  t.same(maximal, {
    id: maximal.id,
    name: 'n'.repeat(200),
    description: 'd'.repeat(2000),
    price_cents: 100_000_000,
    currency: 'EUR',
    stock: 1_000_000,
    category_id: null,
    created_at: maximal.created_at
  })
  const multiline = await createProduct(admin, { name: 'Notebook', description: 'A5\n\tdotted', price_cents: 450, stock: 2 })
  t.equal(multiline.description, 'A5\n\tdotted', 'descriptions keep their line breaks')
})

t.test('POST /products with strict types and bounds: 400 and nothing is added', async (t) => {
  const app = await build(t)
  const admin = await createUser(app, { role: 'admin' })
  const valid = { name: 'Mug', price_cents: 1200, stock: 5 }
  const cases: Array<[string, Record<string, unknown>, ReturnType<typeof invalid>]> = [
    ['price as a string', { ...valid, price_cents: '5' }, invalid('body/price_cents must be integer')],
    ['fractional price', { ...valid, price_cents: 1.5 }, invalid('body/price_cents must be integer')],
    ['negative price', { ...valid, price_cents: -1 }, invalid('body/price_cents must be >= 0')],
    ['price too high', { ...valid, price_cents: 100_000_001 }, invalid('body/price_cents must be <= 100000000')],
    ['stock as a string', { ...valid, stock: '5' }, invalid('body/stock must be integer')],
    ['fractional stock', { ...valid, stock: 2.5 }, invalid('body/stock must be integer')],
    ['negative stock', { ...valid, stock: -1 }, invalid('body/stock must be >= 0')],
    ['stock too high', { ...valid, stock: 1_000_001 }, invalid('body/stock must be <= 1000000')],
    ['empty name', { ...valid, name: '' }, invalid('body/name must NOT have fewer than 1 characters')],
    ['blank name', { ...valid, name: '  ' }, invalid(NAME_PATTERN)],
    ['name with a newline', { ...valid, name: 'Mug\nlarge' }, invalid(NAME_PATTERN)],
    ['name too long', { ...valid, name: 'n'.repeat(201) }, invalid('body/name must NOT have more than 200 characters')],
    ['description too long', { ...valid, description: 'd'.repeat(2001) }, invalid('body/description must NOT have more than 2000 characters')],
    ['null description', { ...valid, description: null }, invalid('body/description must be string')],
    ['category_id as a string', { ...valid, category_id: '1' },
      invalid('body/category_id must be integer, body/category_id must be null, body/category_id must match a schema in anyOf')],
    ['category_id 0', { ...valid, category_id: 0 },
      invalid('body/category_id must be >= 1, body/category_id must be null, body/category_id must match a schema in anyOf')],
    ['no price', { name: 'Mug', stock: 5 }, invalid('body must have required property \'price_cents\'')],
    ['no stock', { name: 'Mug', price_cents: 5 }, invalid('body must have required property \'stock\'')],
    ['no name', { price_cents: 5, stock: 5 }, invalid('body must have required property \'name\'')],
    ['unknown field', { ...valid, currency: 'EUR' }, invalid('body must NOT have additional properties')]
  ]
  for (const [label, payload, expected] of cases) {
    const res = await admin.inject({ method: 'POST', url: '/products', payload })
    t.equal(res.statusCode, 400, label)
    t.same(res.json(), expected, label)
  }
  t.same(productRows(app), [])
})

t.test('POST /products with an unknown category_id is 404 CATEGORY_NOT_FOUND and adds nothing', async (t) => {
  const app = await build(t)
  const admin = await createUser(app, { role: 'admin' })
  const res = await admin.inject({ method: 'POST', url: '/products', payload: { name: 'Mug', price_cents: 1200, stock: 5, category_id: 42 } })
  t.equal(res.statusCode, 404)
  t.same(res.json(), CATEGORY_NOT_FOUND)
  t.same(productRows(app), [])
})

t.test('GET /products/{id} of a missing or malformed id', async (t) => {
  const app = await build(t)
  const missing = await app.inject({ method: 'GET', url: '/products/12345' })
  t.equal(missing.statusCode, 404)
  t.same(missing.json(), PRODUCT_NOT_FOUND)
  for (const id of ['0', 'abc', '07', '1e3']) {
    const res = await app.inject({ method: 'GET', url: `/products/${id}` })
    t.equal(res.statusCode, 400, id)
    t.same(res.json(), invalid('params/id must match pattern "^[1-9][0-9]{0,14}$"'), id)
  }
})

t.test('PATCH /products/{id} changes only the fields sent', async (t) => {
  const app = await build(t)
  const admin = await createUser(app, { role: 'admin' })
  const kitchen = await createCategory(admin, 'Kitchen')
  const garden = await createCategory(admin, 'Garden')
  const product = await createProduct(admin, { name: 'Watering can', description: '5 l', price_cents: 1500, stock: 4, category_id: kitchen })

  const steps: Array<[Record<string, unknown>, Partial<ProductBody>]> = [
    [{ price_cents: 1800 }, { price_cents: 1800 }],
    [{ name: '  Watering can, zinc ', stock: 0 }, { name: 'Watering can, zinc', stock: 0 }],
    [{ description: '' }, { description: '' }],
    [{ category_id: garden }, { category_id: garden }],
    [{ category_id: null }, { category_id: null }],
    [{ name: 'Can', description: '7 l', price_cents: 0, stock: 1_000_000, category_id: kitchen },
      { name: 'Can', description: '7 l', price_cents: 0, stock: 1_000_000, category_id: kitchen }]
  ]
  let expected = product
  for (const [payload, change] of steps) {
    const res = await admin.inject({ method: 'PATCH', url: `/products/${product.id}`, payload })
    t.equal(res.statusCode, 200, JSON.stringify(payload))
    expected = { ...expected, ...change }
    t.same(res.json(), expected, JSON.stringify(payload))
    t.same((await app.inject({ method: 'GET', url: `/products/${product.id}` })).json(), expected, 'stored')
  }
})

t.test('PATCH /products/{id} failures: 400, 404 PRODUCT_NOT_FOUND, 404 CATEGORY_NOT_FOUND, nothing changes', async (t) => {
  const app = await build(t)
  const admin = await createUser(app, { role: 'admin' })
  const categoryId = await createCategory(admin, 'Kitchen')
  const product = await createProduct(admin, { name: 'Kettle', price_cents: 3000, stock: 3, category_id: categoryId })
  const before = productRows(app)
  const url = `/products/${product.id}`

  const cases: Array<[string, unknown, ReturnType<typeof invalid>]> = [
    ['empty body', {}, invalid('body must NOT have fewer than 1 properties')],
    ['unknown field', { price_cents: 100, currency: 'EUR' }, invalid('body must NOT have additional properties')],
    ['price as a string', { price_cents: '5' }, invalid('body/price_cents must be integer')],
    ['fractional price', { price_cents: 1.5 }, invalid('body/price_cents must be integer')],
    ['negative stock', { stock: -1 }, invalid('body/stock must be >= 0')],
    ['null name', { name: null }, invalid('body/name must be string')],
    ['blank name', { name: ' ' }, invalid(NAME_PATTERN)],
    ['not an object', [{ stock: 1 }], invalid('body must be object')]
  ]
  for (const [label, payload, expected] of cases) {
    const res = await admin.inject({ method: 'PATCH', url, payload: payload as object })
    t.equal(res.statusCode, 400, label)
    t.same(res.json(), expected, label)
  }

  const unknownCategory = await admin.inject({ method: 'PATCH', url, payload: { category_id: 999, stock: 1 } })
  t.equal(unknownCategory.statusCode, 404)
  t.same(unknownCategory.json(), CATEGORY_NOT_FOUND)

  const missing = await admin.inject({ method: 'PATCH', url: '/products/999', payload: { stock: 1 } })
  t.equal(missing.statusCode, 404)
  t.same(missing.json(), PRODUCT_NOT_FOUND)
  const missingBoth = await admin.inject({ method: 'PATCH', url: '/products/999', payload: { category_id: 999 } })
  t.equal(missingBoth.statusCode, 404)
  t.same(missingBoth.json(), PRODUCT_NOT_FOUND, 'the product is looked for first')

  t.same(productRows(app), before, 'nothing changed')
})

t.test('DELETE /products/{id} removes the product; 404 afterwards and for unknown ids', async (t) => {
  const app = await build(t)
  const admin = await createUser(app, { role: 'admin' })
  const keep = await createProduct(admin, { name: 'Keep', price_cents: 100, stock: 1 })
  const gone = await createProduct(admin, { name: 'Gone', price_cents: 100, stock: 1 })
  const res = await admin.inject({ method: 'DELETE', url: `/products/${gone.id}` })
  t.equal(res.statusCode, 204)
  t.equal(res.body, '')
  t.same((await app.inject({ method: 'GET', url: '/products' })).json(), { items: [keep], next_cursor: null })

  const getGone = await app.inject({ method: 'GET', url: `/products/${gone.id}` })
  t.equal(getGone.statusCode, 404)
  t.same(getGone.json(), PRODUCT_NOT_FOUND)
  const again = await admin.inject({ method: 'DELETE', url: `/products/${gone.id}` })
  t.equal(again.statusCode, 404)
  t.same(again.json(), PRODUCT_NOT_FOUND)
  const malformed = await admin.inject({ method: 'DELETE', url: '/products/x' })
  t.equal(malformed.statusCode, 400)
  t.same(malformed.json(), invalid('params/id must match pattern "^[1-9][0-9]{0,14}$"'))
})

t.test('deleting a product keeps past order lines and drops it from carts', async (t) => {
  const app = await build(t)
  const admin = await createUser(app, { role: 'admin' })
  const customer = await createUser(app)
  const product = await createProduct(admin, { name: 'Teapot', price_cents: 2500, stock: 10 })
  const other = await createProduct(admin, { name: 'Cup', price_cents: 700, stock: 10 })

  // The orders routes are written separately: put an order in the tables directly.
  const orderId = Number(sqliteOf(app).prepare(
    'INSERT INTO orders (user_id, status, total_cents, currency, shipping_address, created_at) VALUES (?, ?, ?, ?, ?, ?)'
  ).run(customer.id, 'placed', 5700, 'USD', '1 Main St', new Date().toISOString()).lastInsertRowid)
  const insertLine = sqliteOf(app).prepare('INSERT INTO order_items (order_id, product_id, name, price_cents, quantity) VALUES (?, ?, ?, ?, ?)')
  insertLine.run(orderId, product.id, 'Teapot', 2500, 2)
  insertLine.run(orderId, other.id, 'Cup', 700, 1)
  const cartLine = sqliteOf(app).prepare('INSERT INTO cart_items (user_id, product_id, quantity, created_at) VALUES (?, ?, ?, ?)')
  cartLine.run(customer.id, product.id, 1, new Date().toISOString())
  cartLine.run(customer.id, other.id, 3, new Date().toISOString())

  const res = await admin.inject({ method: 'DELETE', url: `/products/${product.id}` })
  t.equal(res.statusCode, 204)

  t.same(sqliteOf(app).prepare('SELECT order_id, product_id, name, price_cents, quantity FROM order_items ORDER BY id').all(), [
    { order_id: orderId, product_id: product.id, name: 'Teapot', price_cents: 2500, quantity: 2 },
    { order_id: orderId, product_id: other.id, name: 'Cup', price_cents: 700, quantity: 1 }
  ], 'the order keeps both lines')
  t.same(sqliteOf(app).prepare('SELECT user_id, product_id, quantity FROM cart_items').all(), [
    { user_id: customer.id, product_id: other.id, quantity: 3 }
  ], 'the deleted product left the cart')
  t.same(sqliteOf(app).prepare('SELECT id FROM products').all(), [{ id: other.id }])
})

t.test('admin-only product routes: 401 without a token, 403 for a customer, nothing changes', async (t) => {
  const app = await build(t)
  const admin = await createUser(app, { role: 'admin' })
  const customer = await createUser(app)
  const product = await createProduct(admin, { name: 'Lamp', price_cents: 4000, stock: 2 })
  const before = productRows(app)
  const requests = [
    { method: 'POST' as const, url: '/products', payload: { name: 'Chair', price_cents: 1, stock: 1 } },
    { method: 'PATCH' as const, url: `/products/${product.id}`, payload: { price_cents: 1 } },
    { method: 'DELETE' as const, url: `/products/${product.id}` }
  ]
  for (const request of requests) {
    const anonymous = await app.inject(request)
    t.equal(anonymous.statusCode, 401, `${request.method} anonymous`)
    t.equal(anonymous.headers['www-authenticate'], 'Bearer')
    t.same(anonymous.json(), error(401, 'UNAUTHORIZED', 'Unauthorized', 'A valid access token is required'))

    const forbidden = await customer.inject(request)
    t.equal(forbidden.statusCode, 403, `${request.method} customer`)
    t.same(forbidden.json(), error(403, 'INSUFFICIENT_SCOPE', 'Forbidden', 'This token does not carry the scope this needs: catalogue:write'))
    t.equal(forbidden.headers['www-authenticate'], 'Bearer error="insufficient_scope", scope="catalogue:write"')
  }
  t.same(productRows(app), before, 'nothing changed')

  for (const url of ['/products', `/products/${product.id}`]) {
    const asCustomer = await customer.inject({ method: 'GET', url })
    t.equal(asCustomer.statusCode, 200, `${url} with a customer token`)
    const anonymous = await app.inject({ method: 'GET', url })
    t.equal(anonymous.statusCode, 200, `${url} without a token`)
    t.same(asCustomer.json(), anonymous.json())
  }
})
