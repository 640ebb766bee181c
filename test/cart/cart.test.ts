import t from 'tap'
import { build, createUser } from '../helper.js'
import { insertProduct } from '../commerce-fixtures.js'

t.test('an empty cart, then add, set, remove and clear', async (t) => {
  const app = await build(t)
  const user = await createUser(app)
  const mug = insertProduct(app, { name: 'Mug', priceCents: 1250, stock: 10 })
  const tea = insertProduct(app, { name: 'Tea', priceCents: 399, stock: 5 })

  const empty = await user.inject({ method: 'GET', url: '/cart' })
  t.equal(empty.statusCode, 200)
  t.same(empty.json(), { items: [], total_cents: 0, currency: 'USD' })

  let res = await user.inject({ method: 'POST', url: '/cart/items', payload: { product_id: mug.id, quantity: 2 } })
  t.equal(res.statusCode, 200)
  t.same(res.json(), {
    items: [{ product_id: mug.id, name: 'Mug', price_cents: 1250, quantity: 2, line_total_cents: 2500 }],
    total_cents: 2500,
    currency: 'USD'
  })

  res = await user.inject({ method: 'POST', url: '/cart/items', payload: { product_id: mug.id, quantity: 3 } })
  t.equal(res.json().items[0].quantity, 5, 'adding adds to the line')
  res = await user.inject({ method: 'POST', url: '/cart/items', payload: { product_id: tea.id, quantity: 1 } })
  t.same(res.json().total_cents, 5 * 1250 + 399)

  res = await user.inject({ method: 'PUT', url: `/cart/items/${mug.id}`, payload: { quantity: 1 } })
  t.equal(res.statusCode, 200)
  t.same(res.json().items.map((item: { quantity: number }) => item.quantity), [1, 1], 'PUT sets the line')

  res = await user.inject({ method: 'DELETE', url: `/cart/items/${tea.id}` })
  t.equal(res.statusCode, 200)
  t.same(res.json(), {
    items: [{ product_id: mug.id, name: 'Mug', price_cents: 1250, quantity: 1, line_total_cents: 1250 }],
    total_cents: 1250,
    currency: 'USD'
  })

  res = await user.inject({ method: 'DELETE', url: `/cart/items/${tea.id}` })
  t.equal(res.statusCode, 404)
  t.same(res.json(), { statusCode: 404, code: 'CART_ITEM_NOT_FOUND', error: 'Not Found', message: 'This product is not in your cart' })

  res = await user.inject({ method: 'DELETE', url: '/cart' })
  t.equal(res.statusCode, 204)
  t.equal(res.body, '')
  t.same((await user.inject({ method: 'GET', url: '/cart' })).json(), { items: [], total_cents: 0, currency: 'USD' })
})

t.test('the cart shows current prices and a configured currency', async (t) => {
  const app = await build(t, { CURRENCY: 'EUR' })
  const user = await createUser(app)
  const mug = insertProduct(app, { priceCents: 1000 })
  await user.inject({ method: 'POST', url: '/cart/items', payload: { product_id: mug.id, quantity: 2 } })
  app.sqlite.prepare('UPDATE products SET price_cents = 1500 WHERE id = ?').run(mug.id)
  const cart = (await user.inject({ method: 'GET', url: '/cart' })).json()
  t.equal(cart.total_cents, 3000)
  t.equal(cart.currency, 'EUR')
})

t.test('unknown products, stock and line limits', async (t) => {
  const app = await build(t)
  const user = await createUser(app)
  const scarce = insertProduct(app, { stock: 3 })

  let res = await user.inject({ method: 'POST', url: '/cart/items', payload: { product_id: 999, quantity: 1 } })
  t.equal(res.statusCode, 404)
  t.equal(res.json().code, 'PRODUCT_NOT_FOUND')

  res = await user.inject({ method: 'POST', url: '/cart/items', payload: { product_id: scarce.id, quantity: 4 } })
  t.equal(res.statusCode, 409)
  t.same(res.json(), { statusCode: 409, code: 'INSUFFICIENT_STOCK', error: 'Conflict', message: `Not enough stock for product ${scarce.id}` })

  await user.inject({ method: 'POST', url: '/cart/items', payload: { product_id: scarce.id, quantity: 3 } })
  res = await user.inject({ method: 'POST', url: '/cart/items', payload: { product_id: scarce.id, quantity: 1 } })
  t.equal(res.statusCode, 409, 'the resulting line is checked against stock')
  res = await user.inject({ method: 'PUT', url: `/cart/items/${scarce.id}`, payload: { quantity: 4 } })
  t.equal(res.statusCode, 409)
  t.equal((await user.inject({ method: 'GET', url: '/cart' })).json().items[0].quantity, 3, 'refused changes change nothing')

  const plenty = insertProduct(app, { stock: 5000 })
  await user.inject({ method: 'POST', url: '/cart/items', payload: { product_id: plenty.id, quantity: 1000 } })
  res = await user.inject({ method: 'POST', url: '/cart/items', payload: { product_id: plenty.id, quantity: 1 } })
  t.equal(res.statusCode, 400, 'a line holds at most 1000')
  t.equal(res.json().code, 'VALIDATION_ERROR')
})

t.test('quantities and bodies are typed strictly', async (t) => {
  const app = await build(t)
  const user = await createUser(app)
  const mug = insertProduct(app)
  const bad = [0, -1, 1.5, '2', 1e9, null, true]
  for (const quantity of bad) {
    const add = await user.inject({ method: 'POST', url: '/cart/items', payload: { product_id: mug.id, quantity } })
    t.equal(add.statusCode, 400, `POST quantity ${JSON.stringify(quantity)}`)
    t.equal(add.json().code, 'VALIDATION_ERROR')
    const set = await user.inject({ method: 'PUT', url: `/cart/items/${mug.id}`, payload: { quantity } })
    t.equal(set.statusCode, 400, `PUT quantity ${JSON.stringify(quantity)}`)
  }
  let res = await user.inject({ method: 'POST', url: '/cart/items', payload: { product_id: mug.id, quantity: 1, price_cents: 1 } })
  t.equal(res.statusCode, 400, 'unknown fields are rejected')
  res = await user.inject({ method: 'POST', url: '/cart/items', payload: { product_id: String(mug.id), quantity: 1 } })
  t.equal(res.statusCode, 400, 'a product id as a string is rejected')
  res = await user.inject({ method: 'PUT', url: '/cart/items/abc', payload: { quantity: 1 } })
  t.equal(res.statusCode, 400)
  res = await user.inject({ method: 'PUT', url: `/cart/items/${mug.id}`, payload: { quantity: 1, extra: 1 } })
  t.equal(res.statusCode, 400)
  t.same((await user.inject({ method: 'GET', url: '/cart' })).json().items, [], 'nothing was added')
})

t.test('carts are per user: another user\'s line cannot be seen or changed', async (t) => {
  const app = await build(t)
  const ann = await createUser(app)
  const bob = await createUser(app)
  const mug = insertProduct(app)
  await ann.inject({ method: 'POST', url: '/cart/items', payload: { product_id: mug.id, quantity: 2 } })
  const before = (await ann.inject({ method: 'GET', url: '/cart' })).json()

  t.same((await bob.inject({ method: 'GET', url: '/cart' })).json().items, [])
  const remove = await bob.inject({ method: 'DELETE', url: `/cart/items/${mug.id}` })
  t.equal(remove.statusCode, 404, 'Bob cannot remove Ann\'s line')
  const set = await bob.inject({ method: 'PUT', url: `/cart/items/${mug.id}`, payload: { quantity: 5 } })
  t.equal(set.statusCode, 200, 'PUT by Bob creates a line in Bob\'s own cart')
  t.equal(set.json().items[0].quantity, 5)
  await bob.inject({ method: 'DELETE', url: '/cart' })
  t.same((await ann.inject({ method: 'GET', url: '/cart' })).json(), before, 'Ann\'s cart is unchanged')
})
