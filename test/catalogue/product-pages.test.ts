import t from 'tap'
import { build, createUser, tempDir, type App } from '../helper.js'
import { addToCart, SHIPPING } from '../commerce-fixtures.js'

// GET /products pages are kept in memory for CATALOGUE_CACHE_MS (plugins/product-pages.ts).
// What must hold: this instance never shows what it has itself changed, a page from
// memory is the same answer, and another instance's writes show within the window.

interface ProductBody { id: number, name: string, price_cents: number, stock: number }
const page = async (app: App, query = 'limit=20') => {
  const res = await app.inject({ method: 'GET', url: `/products?${query}` })
  if (res.statusCode !== 200) throw new Error(`${res.statusCode} ${res.body}`)
  return res
}
const itemsOf = async (app: App, query?: string) => (await page(app, query)).json<{ items: ProductBody[] }>().items
const byId = async (app: App, id: number) => (await itemsOf(app)).find((item) => item.id === id)

t.test('a page from memory is the same answer, headers included', async (t) => {
  const app = await build(t)
  const admin = await createUser(app, { role: 'admin' })
  await admin.inject({ method: 'POST', url: '/products', payload: { name: 'Kettle "Deluxe" ü', price_cents: 2599, stock: 3 } })
  const first = await page(app)
  const second = await page(app)
  t.equal(second.body, first.body, 'same bytes')
  t.equal(second.headers['content-type'], 'application/json; charset=utf-8')
  t.equal(second.headers['content-type'], first.headers['content-type'])
  t.equal(second.headers['x-content-type-options'], 'nosniff', 'security headers as on any answer')
  t.not(second.headers['x-request-id'], first.headers['x-request-id'], 'each answer has its own request id')
  t.equal(second.json().items[0].name, 'Kettle "Deluxe" ü')
  t.equal((await app.inject({ method: 'HEAD', url: '/products?limit=20' })).statusCode, 200, 'HEAD works')
})

t.test('this instance shows its own writes at once: create, change, delete, checkout, cancel', async (t) => {
  const app = await build(t, { CATALOGUE_CACHE_MS: '60000' })
  const admin = await createUser(app, { role: 'admin' })
  const shopper = await createUser(app)
  t.same(await itemsOf(app), [], 'empty, and that page is now in memory')

  const created = (await admin.inject({ method: 'POST', url: '/products', payload: { name: 'Lamp', price_cents: 1000, stock: 5 } })).json<ProductBody>()
  t.equal((await byId(app, created.id))?.name, 'Lamp', 'a created product is listed at once')

  await admin.inject({ method: 'PATCH', url: `/products/${created.id}`, payload: { price_cents: 1200 } })
  t.equal((await byId(app, created.id))?.price_cents, 1200, 'a price change shows at once')

  await addToCart(shopper, created.id, 2)
  const order = await shopper.inject({ method: 'POST', url: '/orders', payload: SHIPPING })
  t.equal(order.statusCode, 201)
  t.equal((await byId(app, created.id))?.stock, 3, 'a checkout\'s stock shows at once')

  t.equal((await shopper.inject({ method: 'POST', url: `/orders/${order.json().id}/cancel` })).statusCode, 200)
  t.equal((await byId(app, created.id))?.stock, 5, 'a cancel\'s returned stock shows at once')

  await admin.inject({ method: 'DELETE', url: `/products/${created.id}` })
  t.equal(await byId(app, created.id), undefined, 'a deleted product is gone at once')
})

t.test('a page read before a write committed is not kept after it', async (t) => {
  const app = await build(t, { CATALOGUE_CACHE_MS: '60000' })
  const pages = app.productPages
  const readAt = pages.version()
  pages.invalidate()
  pages.set('/0/20', Buffer.from('{"stale":true}'), readAt)
  t.equal(pages.get('/0/20'), undefined, 'the stale page was refused')
  pages.set('/0/20', Buffer.from('{"fresh":true}'), pages.version())
  t.equal(pages.get('/0/20')?.toString(), '{"fresh":true}')
})

t.test('another instance\'s writes show within CATALOGUE_CACHE_MS; 0 means at once', async (t) => {
  const dataDir = tempDir(t)
  const writer = await build(t, {}, dataDir)
  const admin = await createUser(writer, { role: 'admin' })
  const product = (await admin.inject({ method: 'POST', url: '/products', payload: { name: 'Chair', price_cents: 5000, stock: 2 } })).json<ProductBody>()
  const cached = await build(t, { CATALOGUE_CACHE_MS: '300' }, dataDir)
  const uncached = await build(t, { CATALOGUE_CACHE_MS: '0' }, dataDir)
  t.equal((await byId(cached, product.id))?.price_cents, 5000)
  t.equal((await byId(uncached, product.id))?.price_cents, 5000)

  await admin.inject({ method: 'PATCH', url: `/products/${product.id}`, payload: { price_cents: 4500 } })
  t.equal((await byId(uncached, product.id))?.price_cents, 4500, 'without the cache: at once')
  await new Promise((resolve) => setTimeout(resolve, 350))
  t.equal((await byId(cached, product.id))?.price_cents, 4500, 'with it: once the window has passed')
})

t.test('searches are answered fresh, and CATALOGUE_CACHE_MS is checked', async (t) => {
  const dataDir = tempDir(t)
  const writer = await build(t, {}, dataDir)
  const reader = await build(t, { CATALOGUE_CACHE_MS: '60000' }, dataDir)
  const admin = await createUser(writer, { role: 'admin' })
  t.same(await itemsOf(reader, 'q=sofa'), [])
  await admin.inject({ method: 'POST', url: '/products', payload: { name: 'Sofa', price_cents: 90000, stock: 1 } })
  t.equal((await itemsOf(reader, 'q=sofa')).length, 1, 'a search reads the database every time')
  await t.rejects(build(t, { CATALOGUE_CACHE_MS: '-1' }), /CATALOGUE_CACHE_MS/)
  await t.rejects(build(t, { CATALOGUE_CACHE_MS: '1.5' }), /CATALOGUE_CACHE_MS/)
})
