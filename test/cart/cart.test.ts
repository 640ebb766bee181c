import t from 'tap'
import { build, createUser } from '../helper.js'
import { addToCart, deleteProduct, errorBody, insertProduct, setPrice, setStock, snapshot } from '../commerce-fixtures.js'

const EMPTY = { items: [], total_cents: 0, currency: 'USD' }

t.test('an empty cart, then add, set, remove and clear', async (t) => {
  const app = await build(t)
  const user = await createUser(app)
  const mug = await insertProduct(app, { name: 'Mug', priceCents: 1250, stock: 10 })
  const tea = await insertProduct(app, { name: 'Tea', priceCents: 399, stock: 5 })
  const mugLine = (quantity: number) => ({ product_id: mug.id, name: 'Mug', price_cents: 1250, quantity, line_total_cents: 1250 * quantity })
  const teaLine = (quantity: number) => ({ product_id: tea.id, name: 'Tea', price_cents: 399, quantity, line_total_cents: 399 * quantity })

  const empty = await user.inject({ method: 'GET', url: '/cart' })
  t.equal(empty.statusCode, 200)
  t.same(empty.json(), EMPTY)

  let res = await addToCart(user, mug.id, 2)
  t.equal(res.statusCode, 200)
  t.same(res.json(), { items: [mugLine(2)], total_cents: 2500, currency: 'USD' })

  res = await addToCart(user, mug.id, 3)
  t.equal(res.statusCode, 200)
  t.same(res.json(), { items: [mugLine(5)], total_cents: 6250, currency: 'USD' }, 'adding adds to the line')

  res = await addToCart(user, tea.id, 1)
  t.equal(res.statusCode, 200)
  t.same(res.json(), { items: [mugLine(5), teaLine(1)], total_cents: 6250 + 399, currency: 'USD' }, 'lines in the order they were added')

  res = await user.inject({ method: 'PUT', url: `/cart/items/${mug.id}`, payload: { quantity: 1 } })
  t.equal(res.statusCode, 200)
  t.same(res.json(), { items: [mugLine(1), teaLine(1)], total_cents: 1250 + 399, currency: 'USD' }, 'PUT sets the line')

  res = await user.inject({ method: 'PUT', url: `/cart/items/${tea.id}`, payload: { quantity: 5 } })
  t.equal(res.statusCode, 200)
  t.same(res.json(), { items: [mugLine(1), teaLine(5)], total_cents: 1250 + 5 * 399, currency: 'USD' }, 'PUT may set a line up to the whole stock')

  res = await user.inject({ method: 'GET', url: '/cart' })
  t.equal(res.statusCode, 200)
  t.same(res.json(), { items: [mugLine(1), teaLine(5)], total_cents: 1250 + 5 * 399, currency: 'USD' })

  res = await user.inject({ method: 'DELETE', url: `/cart/items/${tea.id}` })
  t.equal(res.statusCode, 200)
  t.same(res.json(), { items: [mugLine(1)], total_cents: 1250, currency: 'USD' })

  res = await user.inject({ method: 'DELETE', url: `/cart/items/${tea.id}` })
  t.equal(res.statusCode, 404)
  t.same(res.json(), errorBody(404, 'CART_ITEM_NOT_FOUND', 'This product is not in your cart'))

  res = await user.inject({ method: 'DELETE', url: '/cart' })
  t.equal(res.statusCode, 204)
  t.equal(res.body, '')
  t.same((await user.inject({ method: 'GET', url: '/cart' })).json(), EMPTY)

  res = await user.inject({ method: 'DELETE', url: '/cart' })
  t.equal(res.statusCode, 204, 'emptying an empty cart is fine too')
  t.equal(res.body, '')
})

t.test('PUT creates a line that is not in the cart yet', async (t) => {
  const app = await build(t)
  const user = await createUser(app)
  const mug = await insertProduct(app, { name: 'Mug', priceCents: 1250, stock: 10 })
  const res = await user.inject({ method: 'PUT', url: `/cart/items/${mug.id}`, payload: { quantity: 3 } })
  t.equal(res.statusCode, 200)
  t.same(res.json(), {
    items: [{ product_id: mug.id, name: 'Mug', price_cents: 1250, quantity: 3, line_total_cents: 3750 }],
    total_cents: 3750,
    currency: 'USD'
  })
})

t.test('the cart shows current names and prices, in the configured currency', async (t) => {
  const app = await build(t, { CURRENCY: 'EUR' })
  const user = await createUser(app)
  const mug = await insertProduct(app, { name: 'Mug', priceCents: 1000 })
  await addToCart(user, mug.id, 2)
  await setPrice(app, mug.id, { priceCents: 1500, name: 'Big mug' })
  const res = await user.inject({ method: 'GET', url: '/cart' })
  t.equal(res.statusCode, 200)
  t.same(res.json(), {
    items: [{ product_id: mug.id, name: 'Big mug', price_cents: 1500, quantity: 2, line_total_cents: 3000 }],
    total_cents: 3000,
    currency: 'EUR'
  })
})

t.test('the cart does not reserve stock, and a deleted product leaves the cart', async (t) => {
  const app = await build(t)
  const ann = await createUser(app)
  const bob = await createUser(app)
  const mug = await insertProduct(app, { name: 'Mug', priceCents: 1000, stock: 3 })
  const tea = await insertProduct(app, { name: 'Tea', priceCents: 500, stock: 3 })
  t.equal((await addToCart(ann, mug.id, 3)).statusCode, 200)
  t.equal((await addToCart(bob, mug.id, 3)).statusCode, 200, 'Bob may hold the same three: nothing is reserved')
  t.equal((await addToCart(ann, tea.id, 1)).statusCode, 200)

  // Stock falling below a line does not hide the line; checkout is where it counts.
  await setStock(app, mug.id, 1)
  const res = await ann.inject({ method: 'GET', url: '/cart' })
  t.same(res.json().items.map((item: { quantity: number }) => item.quantity), [3, 1])

  await deleteProduct(app, mug.id)
  t.same((await ann.inject({ method: 'GET', url: '/cart' })).json(), {
    items: [{ product_id: tea.id, name: 'Tea', price_cents: 500, quantity: 1, line_total_cents: 500 }],
    total_cents: 500,
    currency: 'USD'
  })
  t.same((await bob.inject({ method: 'GET', url: '/cart' })).json(), EMPTY)
})

t.test('unknown products, stock and the line limit: refused, and nothing changes', async (t) => {
  const app = await build(t)
  const user = await createUser(app)
  const scarce = await insertProduct(app, { name: 'Scarce', priceCents: 100, stock: 3 })

  let before = (await snapshot(app))
  let res = await addToCart(user, 999, 1)
  t.equal(res.statusCode, 404)
  t.same(res.json(), errorBody(404, 'PRODUCT_NOT_FOUND', 'Product not found'))
  res = await user.inject({ method: 'PUT', url: '/cart/items/999', payload: { quantity: 1 } })
  t.equal(res.statusCode, 404)
  t.same(res.json(), errorBody(404, 'PRODUCT_NOT_FOUND', 'Product not found'))
  res = await user.inject({ method: 'DELETE', url: '/cart/items/999' })
  t.equal(res.statusCode, 404)
  t.same(res.json(), errorBody(404, 'CART_ITEM_NOT_FOUND', 'This product is not in your cart'))

  res = await addToCart(user, scarce.id, 4)
  t.equal(res.statusCode, 409)
  t.same(res.json(), errorBody(409, 'INSUFFICIENT_STOCK', `Not enough stock for product ${scarce.id}`))
  t.same((await snapshot(app)), before, 'nothing was written')

  t.equal((await addToCart(user, scarce.id, 3)).statusCode, 200)
  before = (await snapshot(app))
  res = await addToCart(user, scarce.id, 1)
  t.equal(res.statusCode, 409, 'the resulting line is checked against stock')
  t.same(res.json(), errorBody(409, 'INSUFFICIENT_STOCK', `Not enough stock for product ${scarce.id}`))
  res = await user.inject({ method: 'PUT', url: `/cart/items/${scarce.id}`, payload: { quantity: 4 } })
  t.equal(res.statusCode, 409)
  t.same(res.json(), errorBody(409, 'INSUFFICIENT_STOCK', `Not enough stock for product ${scarce.id}`))
  t.same((await snapshot(app)), before, 'refused changes change nothing')

  // A line holds at most 1000: adding past it is a 400, like a quantity over 1000 in one go.
  const plenty = await insertProduct(app, { stock: 5000 })
  t.equal((await addToCart(user, plenty.id, 999)).statusCode, 200)
  t.equal((await addToCart(user, plenty.id, 1)).statusCode, 200, 'exactly 1000 is allowed')
  before = (await snapshot(app))
  res = await addToCart(user, plenty.id, 1)
  t.equal(res.statusCode, 400)
  t.same(res.json(), errorBody(400, 'VALIDATION_ERROR', 'a cart line holds at most 1000; this one would hold 1001'))
  res = await user.inject({ method: 'PUT', url: `/cart/items/${plenty.id}`, payload: { quantity: 1001 } })
  t.equal(res.statusCode, 400)
  t.same(res.json(), errorBody(400, 'VALIDATION_ERROR', 'body/quantity must be <= 1000'))
  t.same((await snapshot(app)), before)
})

t.test('quantities, ids and bodies are typed strictly: 400 and nothing written', async (t) => {
  const app = await build(t)
  const user = await createUser(app)
  const mug = await insertProduct(app)
  t.equal((await addToCart(user, mug.id, 2)).statusCode, 200)
  const before = (await snapshot(app))

  const bad: Array<[unknown, string]> = [
    [0, 'body/quantity must be >= 1'],
    [-1, 'body/quantity must be >= 1'],
    [1.5, 'body/quantity must be integer'],
    ['2', 'body/quantity must be integer'],
    [1e9, 'body/quantity must be <= 1000'],
    [null, 'body/quantity must be integer'],
    [true, 'body/quantity must be integer']
  ]
  for (const [quantity, message] of bad) {
    const add = await user.inject({ method: 'POST', url: '/cart/items', payload: { product_id: mug.id, quantity } })
    t.equal(add.statusCode, 400, `POST quantity ${JSON.stringify(quantity)}`)
    t.same(add.json(), errorBody(400, 'VALIDATION_ERROR', message))
    const set = await user.inject({ method: 'PUT', url: `/cart/items/${mug.id}`, payload: { quantity } })
    t.equal(set.statusCode, 400, `PUT quantity ${JSON.stringify(quantity)}`)
    t.same(set.json(), errorBody(400, 'VALIDATION_ERROR', message))
  }

  const requests: Array<[string, string, unknown, string]> = [
    ['POST', '/cart/items', { product_id: mug.id, quantity: 1, price_cents: 1 }, 'body must NOT have additional properties'],
    ['PUT', `/cart/items/${mug.id}`, { quantity: 1, extra: 1 }, 'body must NOT have additional properties'],
    ['POST', '/cart/items', { product_id: String(mug.id), quantity: 1 }, 'body/product_id must be integer'],
    ['POST', '/cart/items', { product_id: 0, quantity: 1 }, 'body/product_id must be >= 1'],
    ['POST', '/cart/items', { quantity: 1 }, 'body must have required property \'product_id\''],
    ['POST', '/cart/items', { product_id: mug.id }, 'body must have required property \'quantity\''],
    ['PUT', `/cart/items/${mug.id}`, {}, 'body must have required property \'quantity\''],
    ['PUT', '/cart/items/abc', { quantity: 1 }, 'params/product_id must match pattern "^[1-9][0-9]{0,14}$"'],
    ['PUT', '/cart/items/0', { quantity: 1 }, 'params/product_id must match pattern "^[1-9][0-9]{0,14}$"'],
    ['DELETE', '/cart/items/-1', undefined, 'params/product_id must match pattern "^[1-9][0-9]{0,14}$"']
  ]
  for (const [method, url, payload, message] of requests) {
    const res = await user.inject({ method: method as 'POST', url, ...(payload === undefined ? {} : { payload: payload as object }) })
    t.equal(res.statusCode, 400, `${method} ${url} ${JSON.stringify(payload)}`)
    t.same(res.json(), errorBody(400, 'VALIDATION_ERROR', message))
  }
  t.same((await snapshot(app)), before, 'nothing changed')
})

t.test('carts are per user: another user\'s line cannot be seen, changed or removed', async (t) => {
  const app = await build(t)
  const ann = await createUser(app)
  const bob = await createUser(app)
  const mug = await insertProduct(app, { name: 'Mug', priceCents: 700, stock: 20 })
  await addToCart(ann, mug.id, 2)
  const annCart = (await ann.inject({ method: 'GET', url: '/cart' })).json()
  const annRows = (await snapshot(app)).cartItems

  t.same((await bob.inject({ method: 'GET', url: '/cart' })).json(), EMPTY, 'Bob does not see Ann\'s line')

  const remove = await bob.inject({ method: 'DELETE', url: `/cart/items/${mug.id}` })
  t.equal(remove.statusCode, 404, 'Bob cannot remove Ann\'s line')
  t.same(remove.json(), errorBody(404, 'CART_ITEM_NOT_FOUND', 'This product is not in your cart'))
  t.same((await snapshot(app)).cartItems, annRows)

  const set = await bob.inject({ method: 'PUT', url: `/cart/items/${mug.id}`, payload: { quantity: 5 } })
  t.equal(set.statusCode, 200, 'PUT by Bob creates a line in Bob\'s own cart')
  t.same(set.json(), {
    items: [{ product_id: mug.id, name: 'Mug', price_cents: 700, quantity: 5, line_total_cents: 3500 }],
    total_cents: 3500,
    currency: 'USD'
  })
  t.same((await ann.inject({ method: 'GET', url: '/cart' })).json(), annCart, 'Ann\'s cart is unchanged by Bob\'s PUT')

  t.equal((await bob.inject({ method: 'DELETE', url: `/cart/items/${mug.id}` })).statusCode, 200, 'Bob removes his own line')
  t.equal((await bob.inject({ method: 'DELETE', url: '/cart' })).statusCode, 204)
  t.same((await ann.inject({ method: 'GET', url: '/cart' })).json(), annCart, 'Ann\'s cart is unchanged')
  t.same((await snapshot(app)).cartItems, annRows, 'and so are her rows')
})

t.test('every cart route needs a token', async (t) => {
  const app = await build(t)
  const mug = await insertProduct(app)
  const calls = [
    { method: 'GET', url: '/cart' },
    { method: 'POST', url: '/cart/items', payload: { product_id: mug.id, quantity: 1 } },
    { method: 'PUT', url: `/cart/items/${mug.id}`, payload: { quantity: 1 } },
    { method: 'DELETE', url: `/cart/items/${mug.id}` },
    { method: 'DELETE', url: '/cart' }
  ] as const
  for (const call of calls) {
    const res = await app.inject(call)
    t.equal(res.statusCode, 401, `${call.method} ${call.url}`)
    t.same(res.json(), errorBody(401, 'UNAUTHORIZED', 'A valid access token is required'))
    t.equal(res.headers['www-authenticate'], 'Bearer')
  }
  t.equal((await snapshot(app)).cartItems.length, 0)
})

t.test('concurrent adds to one line lose no update and never pass stock', async (t) => {
  const app = await build(t)
  const user = await createUser(app)
  const mug = await insertProduct(app, { stock: 5 })
  const answers = await Promise.all(Array.from({ length: 20 }, () => addToCart(user, mug.id, 1)))
  t.equal(answers.filter((res) => res.statusCode === 200).length, 5)
  const refused = answers.filter((res) => res.statusCode !== 200)
  t.equal(refused.length, 15)
  t.ok(refused.every((res) => res.statusCode === 409 && res.json().code === 'INSUFFICIENT_STOCK'), 'the rest are 409 INSUFFICIENT_STOCK')
  t.same((await snapshot(app)).cartItems.map((row) => (row as { quantity: number }).quantity), [5])
})
