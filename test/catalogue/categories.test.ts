import t from 'tap'
import { build, createUser, type App, sqliteOf } from '../helper.js'

const error = (statusCode: number, code: string, error: string, message: string) => ({ statusCode, code, error, message })
const invalid = (message: string) => error(400, 'VALIDATION_ERROR', 'Bad Request', message)
const NAME_PATTERN = 'body/name must match pattern "^(?=.*\\S)[^\\u0000-\\u001F\\u007F]+$"'

const categoryRows = (app: App) => sqliteOf(app).prepare('SELECT id, name FROM categories ORDER BY id').all()

t.test('GET /categories is public and empty at first', async (t) => {
  const app = await build(t)
  const res = await app.inject({ method: 'GET', url: '/categories' })
  t.equal(res.statusCode, 200)
  t.same(res.json(), { items: [], next_cursor: null })
})

t.test('POST /categories creates a category that the list then shows', async (t) => {
  const app = await build(t)
  const admin = await createUser(app, { role: 'admin' })
  const res = await admin.inject({ method: 'POST', url: '/categories', payload: { name: 'Books' } })
  t.equal(res.statusCode, 201)
  const created = res.json<{ id: number }>()
  t.same(created, { id: created.id, name: 'Books' })
  t.ok(Number.isInteger(created.id) && created.id > 0)

  const list = await app.inject({ method: 'GET', url: '/categories' })
  t.same(list.json(), { items: [{ id: created.id, name: 'Books' }], next_cursor: null })
})

t.test('POST /categories trims the name, and a 100-character name fits', async (t) => {
  const app = await build(t)
  const admin = await createUser(app, { role: 'admin' })
  const trimmed = await admin.inject({ method: 'POST', url: '/categories', payload: { name: '  Garden tools  ' } })
  t.equal(trimmed.statusCode, 201)
  t.same(trimmed.json(), { id: trimmed.json().id, name: 'Garden tools' })

  const long = 'x'.repeat(100)
  const longest = await admin.inject({ method: 'POST', url: '/categories', payload: { name: long } })
  t.equal(longest.statusCode, 201)
  t.same(longest.json(), { id: longest.json().id, name: long })
  t.same(categoryRows(app), [{ id: trimmed.json().id, name: 'Garden tools' }, { id: longest.json().id, name: long }])
})

t.test('POST /categories with a name taken in any case or with blanks around is 409 CATEGORY_EXISTS', async (t) => {
  const app = await build(t)
  const admin = await createUser(app, { role: 'admin' })
  const first = await admin.inject({ method: 'POST', url: '/categories', payload: { name: 'Books' } })
  t.equal(first.statusCode, 201)
  for (const name of ['Books', 'BOOKS', 'books', '  bOoKs ']) {
    const res = await admin.inject({ method: 'POST', url: '/categories', payload: { name } })
    t.equal(res.statusCode, 409, name)
    t.same(res.json(), error(409, 'CATEGORY_EXISTS', 'Conflict', 'A category with this name already exists'), name)
  }
  t.same(categoryRows(app), [{ id: first.json().id, name: 'Books' }], 'nothing was added')
})

t.test('two creations of one name at once: one 201, one 409', async (t) => {
  const app = await build(t)
  const admin = await createUser(app, { role: 'admin' })
  const results = await Promise.all(['Toys', 'toys'].map((name) =>
    admin.inject({ method: 'POST', url: '/categories', payload: { name } })))
  t.same(results.map((res) => res.statusCode).sort(), [201, 409])
  t.equal(categoryRows(app).length, 1)
})

t.test('POST /categories rejects bad bodies with 400 and adds nothing', async (t) => {
  const app = await build(t)
  const admin = await createUser(app, { role: 'admin' })
  const cases: Array<[string, unknown, ReturnType<typeof invalid>]> = [
    ['empty name', { name: '' }, invalid('body/name must NOT have fewer than 1 characters')],
    ['blank name', { name: '   ' }, invalid(NAME_PATTERN)],
    ['newline in name', { name: 'Books\nand more' }, invalid(NAME_PATTERN)],
    ['tab in name', { name: 'Books\t' }, invalid(NAME_PATTERN)],
    ['101 characters', { name: 'x'.repeat(101) }, invalid('body/name must NOT have more than 100 characters')],
    ['number name', { name: 5 }, invalid('body/name must be string')],
    ['no name', {}, invalid('body must have required property \'name\'')],
    ['unknown field', { name: 'Books', slug: 'books' }, invalid('body must NOT have additional properties')]
  ]
  for (const [label, payload, expected] of cases) {
    const res = await admin.inject({ method: 'POST', url: '/categories', payload: payload as object })
    t.equal(res.statusCode, 400, label)
    t.same(res.json(), expected, label)
  }
  t.same(categoryRows(app), [])
})

t.test('GET /categories pages by id with limit and cursor', async (t) => {
  const app = await build(t)
  const admin = await createUser(app, { role: 'admin' })
  const ids: number[] = []
  for (const name of ['A', 'B', 'C', 'D', 'E']) {
    ids.push((await admin.inject({ method: 'POST', url: '/categories', payload: { name } })).json().id)
  }
  const seen: Array<{ id: number, name: string }> = []
  let cursor: string | null = null
  let pages = 0
  do {
    const url: string = `/categories?limit=2${cursor ? `&cursor=${cursor}` : ''}`
    const res = await app.inject({ method: 'GET', url })
    t.equal(res.statusCode, 200)
    const page = res.json<{ items: Array<{ id: number, name: string }>, next_cursor: string | null }>()
    t.ok(page.items.length <= 2)
    seen.push(...page.items)
    cursor = page.next_cursor
    pages++
  } while (cursor !== null && pages < 10)
  t.equal(pages, 3)
  t.same(seen, ['A', 'B', 'C', 'D', 'E'].map((name, i) => ({ id: ids[i], name })))

  const all = await app.inject({ method: 'GET', url: '/categories?limit=5' })
  t.same(all.json().next_cursor, null, 'an exact fit has no next page')

  for (const [url, expected] of [
    ['/categories?limit=0', invalid('querystring/limit must be >= 1')],
    ['/categories?limit=101', invalid('querystring/limit must be <= 100')],
    ['/categories?cursor=bogus', error(400, 'INVALID_CURSOR', 'Bad Request', 'The cursor is not one this service issued')],
    ['/categories?name=A', invalid('querystring must NOT have additional properties')]
  ] as const) {
    const res = await app.inject({ method: 'GET', url })
    t.equal(res.statusCode, 400, url)
    t.same(res.json(), expected, url)
  }
})

t.test('DELETE /categories/{id} deletes an unused category', async (t) => {
  const app = await build(t)
  const admin = await createUser(app, { role: 'admin' })
  const keep = (await admin.inject({ method: 'POST', url: '/categories', payload: { name: 'Keep' } })).json()
  const gone = (await admin.inject({ method: 'POST', url: '/categories', payload: { name: 'Gone' } })).json()
  const res = await admin.inject({ method: 'DELETE', url: `/categories/${gone.id}` })
  t.equal(res.statusCode, 204)
  t.equal(res.body, '')
  t.same(categoryRows(app), [keep])

  const again = await admin.inject({ method: 'DELETE', url: `/categories/${gone.id}` })
  t.equal(again.statusCode, 404)
  t.same(again.json(), error(404, 'CATEGORY_NOT_FOUND', 'Not Found', 'Category not found'))

  const reused = await admin.inject({ method: 'POST', url: '/categories', payload: { name: 'gone' } })
  t.equal(reused.statusCode, 201, 'the name is free again')
})

t.test('DELETE /categories/{id} of a missing or malformed id', async (t) => {
  const app = await build(t)
  const admin = await createUser(app, { role: 'admin' })
  const missing = await admin.inject({ method: 'DELETE', url: '/categories/999' })
  t.equal(missing.statusCode, 404)
  t.same(missing.json(), error(404, 'CATEGORY_NOT_FOUND', 'Not Found', 'Category not found'))
  for (const id of ['0', 'abc', '01', '-1', '1.5']) {
    const res = await admin.inject({ method: 'DELETE', url: `/categories/${id}` })
    t.equal(res.statusCode, 400, id)
    t.same(res.json(), invalid('params/id must match pattern "^[1-9][0-9]{0,14}$"'), id)
  }
})

t.test('DELETE /categories/{id} while a product uses it is 409 CATEGORY_NOT_EMPTY and changes nothing', async (t) => {
  const app = await build(t)
  const admin = await createUser(app, { role: 'admin' })
  const category = (await admin.inject({ method: 'POST', url: '/categories', payload: { name: 'Lamps' } })).json()
  const product = (await admin.inject({
    method: 'POST', url: '/products', payload: { name: 'Desk lamp', price_cents: 3900, stock: 3, category_id: category.id }
  })).json()
  const productsBefore = sqliteOf(app).prepare('SELECT * FROM products').all()

  const res = await admin.inject({ method: 'DELETE', url: `/categories/${category.id}` })
  t.equal(res.statusCode, 409)
  t.same(res.json(), error(409, 'CATEGORY_NOT_EMPTY', 'Conflict', 'Products still use this category'))
  t.same(categoryRows(app), [{ id: category.id, name: 'Lamps' }])
  t.same(sqliteOf(app).prepare('SELECT * FROM products').all(), productsBefore)
  t.same((await app.inject({ method: 'GET', url: `/products/${product.id}` })).json(), product)

  // Once the product moves out, the category can go.
  const moved = await admin.inject({ method: 'PATCH', url: `/products/${product.id}`, payload: { category_id: null } })
  t.equal(moved.statusCode, 200)
  const deleted = await admin.inject({ method: 'DELETE', url: `/categories/${category.id}` })
  t.equal(deleted.statusCode, 204)
  t.same(categoryRows(app), [])
})

t.test('admin-only category routes: 401 without a token, 403 for a customer, nothing changes', async (t) => {
  const app = await build(t)
  const admin = await createUser(app, { role: 'admin' })
  const customer = await createUser(app)
  const category = (await admin.inject({ method: 'POST', url: '/categories', payload: { name: 'Books' } })).json()
  const requests = [
    { method: 'POST' as const, url: '/categories', payload: { name: 'Music' } },
    { method: 'DELETE' as const, url: `/categories/${category.id}` }
  ]
  for (const request of requests) {
    const anonymous = await app.inject(request)
    t.equal(anonymous.statusCode, 401, `${request.method} anonymous`)
    t.equal(anonymous.headers['www-authenticate'], 'Bearer')
    t.same(anonymous.json(), error(401, 'UNAUTHORIZED', 'Unauthorized', 'A valid access token is required'))

    const badToken = await app.inject({ ...request, headers: { authorization: 'Bearer not-a-token' } })
    t.equal(badToken.statusCode, 401, `${request.method} bad token`)
    t.same(badToken.json(), error(401, 'INVALID_TOKEN', 'Unauthorized', 'The access token is invalid or expired'))

    const forbidden = await customer.inject(request)
    t.equal(forbidden.statusCode, 403, `${request.method} customer`)
    t.same(forbidden.json(), error(403, 'INSUFFICIENT_SCOPE', 'Forbidden', 'This token does not carry the scope this needs: catalogue:write'))
    t.equal(forbidden.headers['www-authenticate'], 'Bearer error="insufficient_scope", scope="catalogue:write"')
  }
  t.same(categoryRows(app), [{ id: category.id, name: 'Books' }])

  const asCustomer = await customer.inject({ method: 'GET', url: '/categories' })
  t.equal(asCustomer.statusCode, 200, 'the public list works with a token too')
  t.same(asCustomer.json(), { items: [category], next_cursor: null })
})
