import t, { type Test } from 'tap'
import { build, createUser, type App, type TestUser } from '../helper.js'

const error = (statusCode: number, code: string, error: string, message: string) => ({ statusCode, code, error, message })
const invalid = (message: string) => error(400, 'VALIDATION_ERROR', 'Bad Request', message)

interface ProductBody { id: number, name: string, category_id: number | null }
interface PageBody { items: ProductBody[], next_cursor: string | null }

async function createProduct (admin: TestUser, name: string, categoryId: number | null = null): Promise<ProductBody> {
  const res = await admin.inject({ method: 'POST', url: '/products', payload: { name, price_cents: 100, stock: 1, category_id: categoryId } })
  if (res.statusCode !== 201) throw new Error(`product: ${res.statusCode} ${res.body}`)
  return res.json<ProductBody>()
}

async function createCategory (admin: TestUser, name: string): Promise<number> {
  const res = await admin.inject({ method: 'POST', url: '/categories', payload: { name } })
  if (res.statusCode !== 201) throw new Error(`category: ${res.statusCode} ${res.body}`)
  return res.json<{ id: number }>().id
}

/** Walks every page of a query; `between` runs after each page, to change the data mid-walk. */
async function walk (t: Test, app: App, query: string, between: (page: number) => Promise<void> = async () => {}) {
  const items: ProductBody[] = []
  let cursor: string | null = null
  let pages = 0
  do {
    const url: string = `/products?${query}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`
    const res = await app.inject({ method: 'GET', url })
    t.equal(res.statusCode, 200, url)
    const page = res.json<PageBody>()
    items.push(...page.items)
    cursor = page.next_cursor
    pages++
    if (cursor !== null) await between(pages)
  } while (cursor !== null && pages < 100)
  return { items, pages }
}

const names = (items: ProductBody[]) => items.map((item) => item.name)

t.test('a walk with limit=2 returns every product exactly once, in id order', async (t) => {
  const app = await build(t)
  const admin = await createUser(app, { role: 'admin' })
  const created: ProductBody[] = []
  for (let i = 1; i <= 7; i++) created.push(await createProduct(admin, `Product ${i}`))

  const { items, pages } = await walk(t, app, 'limit=2')
  t.equal(pages, 4)
  t.same(items.map((item) => item.id), created.map((item) => item.id))

  const exact = await walk(t, app, 'limit=7')
  t.equal(exact.pages, 1, 'a page that holds everything has no next cursor')
  const defaults = await app.inject({ method: 'GET', url: '/products' })
  t.equal(defaults.json<PageBody>().items.length, 7, 'default limit 20')
})

t.test('default limit is 20 and limit=100 is allowed', async (t) => {
  const app = await build(t)
  const admin = await createUser(app, { role: 'admin' })
  for (let i = 1; i <= 21; i++) await createProduct(admin, `Item ${i}`)
  const first = (await app.inject({ method: 'GET', url: '/products' })).json<PageBody>()
  t.equal(first.items.length, 20)
  t.type(first.next_cursor, 'string')
  const rest = (await app.inject({ method: 'GET', url: `/products?cursor=${first.next_cursor}` })).json<PageBody>()
  t.same(names(rest.items), ['Item 21'])
  t.equal(rest.next_cursor, null)
  const big = (await app.inject({ method: 'GET', url: '/products?limit=100' })).json<PageBody>()
  t.equal(big.items.length, 21)
  t.equal(big.next_cursor, null)
})

t.test('a walk sees every product that exists throughout it exactly once while others come and go', async (t) => {
  const app = await build(t)
  const admin = await createUser(app, { role: 'admin' })
  const initial: ProductBody[] = []
  for (let i = 1; i <= 10; i++) initial.push(await createProduct(admin, `Initial ${i}`))
  // Deleted mid-walk: one already seen, one not yet reached.
  const deletedSeen = initial[0] as ProductBody
  const deletedUnseen = initial[7] as ProductBody
  const added: ProductBody[] = []

  const { items } = await walk(t, app, 'limit=2', async (page) => {
    added.push(await createProduct(admin, `Added after page ${page}`))
    if (page === 1) {
      t.equal((await admin.inject({ method: 'DELETE', url: `/products/${deletedSeen.id}` })).statusCode, 204)
    }
    if (page === 2) {
      t.equal((await admin.inject({ method: 'DELETE', url: `/products/${deletedUnseen.id}` })).statusCode, 204)
    }
  })

  const ids = items.map((item) => item.id)
  t.same(ids, [...ids].sort((a, b) => a - b), 'ascending ids')
  t.equal(new Set(ids).size, ids.length, 'no product twice')
  const survivors = initial.filter((product) => product !== deletedSeen && product !== deletedUnseen)
  for (const product of survivors) t.ok(ids.includes(product.id), `${product.name} seen`)
  t.ok(ids.includes(deletedSeen.id), 'seen before its deletion')
  t.notOk(ids.includes(deletedUnseen.id), 'deleted before the walk reached it')
  // Products added behind the cursor come later in id order, so a walk picks them up too.
  for (const product of added) t.ok(ids.includes(product.id), `${product.name} seen`)
  t.same(ids, [...survivors, deletedSeen, ...added].map((product) => product.id).sort((a, b) => a - b))
})

t.test('?category_id= lists the products of that category only, paged', async (t) => {
  const app = await build(t)
  const admin = await createUser(app, { role: 'admin' })
  const tea = await createCategory(admin, 'Tea')
  const coffee = await createCategory(admin, 'Coffee')
  const empty = await createCategory(admin, 'Empty')
  await createProduct(admin, 'Sencha', tea)
  await createProduct(admin, 'Mocha beans', coffee)
  await createProduct(admin, 'Uncategorised thing')
  await createProduct(admin, 'Assam', tea)
  await createProduct(admin, 'Lapsang', tea)

  const teas = await walk(t, app, `category_id=${tea}&limit=2`)
  t.same(names(teas.items), ['Sencha', 'Assam', 'Lapsang'])
  t.ok(teas.items.every((item) => item.category_id === tea))
  t.equal(teas.pages, 2)
  t.same(names((await walk(t, app, `category_id=${coffee}`)).items), ['Mocha beans'])
  t.same((await app.inject({ method: 'GET', url: `/products?category_id=${empty}` })).json(), { items: [], next_cursor: null })
  t.same((await app.inject({ method: 'GET', url: '/products?category_id=9999' })).json(), { items: [], next_cursor: null },
    'an unknown category lists nothing')

  for (const value of ['0', 'abc', '01', '-1', '']) {
    const res = await app.inject({ method: 'GET', url: `/products?category_id=${value}` })
    t.equal(res.statusCode, 400, value)
    t.same(res.json(), invalid('querystring/category_id must match pattern "^[1-9][0-9]{0,14}$"'), value)
  }
})

t.test('?q= matches names case-insensitively, with % and _ (and \\) as literal characters', async (t) => {
  const app = await build(t)
  const admin = await createUser(app, { role: 'admin' })
  for (const name of [
    '100% Cotton Tee', '100 Cotton Tee', 'Cotton 1000', 'snake_case mug', 'snakeXcase mug', 'Back\\slash poster', 'Backslash poster'
  ]) await createProduct(admin, name)

  const search = async (q: string) => {
    const res = await app.inject({ method: 'GET', url: `/products?q=${encodeURIComponent(q)}` })
    t.equal(res.statusCode, 200, q)
    return names(res.json<PageBody>().items)
  }
  t.same(await search('%'), ['100% Cotton Tee'], '% is literal')
  t.same(await search('100%'), ['100% Cotton Tee'])
  t.same(await search('0% C'), ['100% Cotton Tee'])
  t.same(await search('0%C'), [], 'as a wildcard, % would have matched "100 Cotton Tee"')
  t.same(await search('_'), ['snake_case mug'], '_ is literal')
  t.same(await search('e_c'), ['snake_case mug'], '_ does not match any one character')
  t.same(await search('\\'), ['Back\\slash poster'], 'a backslash is literal')
  t.same(await search('k\\s'), ['Back\\slash poster'])
  t.same(await search('cotton'), ['100% Cotton Tee', '100 Cotton Tee', 'Cotton 1000'], 'case-insensitive')
  t.same(await search('COTTON TEE'), ['100% Cotton Tee', '100 Cotton Tee'])
  t.same(await search('MUG'), ['snake_case mug', 'snakeXcase mug'])
  t.same(await search('velvet'), [])

  const paged = await walk(t, app, `q=${encodeURIComponent('o')}&limit=2`)
  t.same(names(paged.items), ['100% Cotton Tee', '100 Cotton Tee', 'Cotton 1000', 'Back\\slash poster', 'Backslash poster'])

  for (const [url, expected] of [
    ['/products?q=', invalid('querystring/q must NOT have fewer than 1 characters')],
    [`/products?q=${'a'.repeat(201)}`, invalid('querystring/q must NOT have more than 200 characters')]
  ] as const) {
    const res = await app.inject({ method: 'GET', url })
    t.equal(res.statusCode, 400, url)
    t.same(res.json(), expected)
  }
})

t.test('?q= and ?category_id= combine', async (t) => {
  const app = await build(t)
  const admin = await createUser(app, { role: 'admin' })
  const tea = await createCategory(admin, 'Tea')
  const ware = await createCategory(admin, 'Teaware')
  await createProduct(admin, 'Green tea', tea)
  await createProduct(admin, 'Black tea', tea)
  await createProduct(admin, 'Green teapot', ware)
  const res = await app.inject({ method: 'GET', url: `/products?q=green&category_id=${tea}` })
  t.same(names(res.json<PageBody>().items), ['Green tea'])
})

t.test('GET /products rejects bad paging parameters', async (t) => {
  const app = await build(t)
  for (const [url, expected] of [
    ['/products?limit=0', invalid('querystring/limit must be >= 1')],
    ['/products?limit=101', invalid('querystring/limit must be <= 100')],
    ['/products?limit=2.5', invalid('querystring/limit must be integer')],
    ['/products?limit=ten', invalid('querystring/limit must be integer')],
    ['/products?cursor=bogus', error(400, 'INVALID_CURSOR', 'Bad Request', 'The cursor is not one this service issued')],
    ['/products?sort=name', invalid('querystring must NOT have additional properties')]
  ] as const) {
    const res = await app.inject({ method: 'GET', url })
    t.equal(res.statusCode, 400, url)
    t.same(res.json(), expected, url)
  }
})
