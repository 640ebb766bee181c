import t from 'tap'
import { build, createUser, type TestUser } from '../helper.js'
import { countRows, insertProduct, stockOf } from '../commerce-fixtures.js'

const address = { shipping_address: '1 Main St, Springfield' }
const addToCart = (user: TestUser, productId: number, quantity: number) =>
  user.inject({ method: 'POST', url: '/cart/items', payload: { product_id: productId, quantity } })

t.test('checkout turns the cart into an order, takes stock, empties the cart and queues one e-mail', async (t) => {
  const app = await build(t, { SMTP_URL: 'smtp://127.0.0.1:1' })
  const user = await createUser(app)
  const mug = insertProduct(app, { name: 'Mug', priceCents: 1250, stock: 10 })
  const tea = insertProduct(app, { name: 'Tea', priceCents: 399, stock: 5 })
  await addToCart(user, mug.id, 2)
  await addToCart(user, tea.id, 3)

  const res = await user.inject({ method: 'POST', url: '/orders', payload: address })
  t.equal(res.statusCode, 201)
  const order = res.json()
  t.same(order, {
    id: order.id,
    user_id: user.id,
    status: 'placed',
    items: [
      { product_id: mug.id, name: 'Mug', price_cents: 1250, quantity: 2 },
      { product_id: tea.id, name: 'Tea', price_cents: 399, quantity: 3 }
    ],
    total_cents: 2 * 1250 + 3 * 399,
    currency: 'USD',
    shipping_address: address.shipping_address,
    created_at: order.created_at
  })
  t.match(order.created_at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/)
  t.equal(stockOf(app, mug.id), 8)
  t.equal(stockOf(app, tea.id), 2)
  t.same((await user.inject({ method: 'GET', url: '/cart' })).json().items, [], 'the cart is empty')

  const mail = app.sqlite.prepare('SELECT recipient, subject, body FROM mail_outbox').all() as Array<{ recipient: string, subject: string, body: string }>
  t.equal(mail.length, 1)
  t.equal(mail[0]?.recipient, user.email)
  t.equal(mail[0]?.subject, `Order #${order.id} confirmed`)
  t.match(mail[0]?.body, `2 × Mug`)
  t.match(mail[0]?.body, `3 × Tea`)
  t.match(mail[0]?.body, 'Total: 36.97 USD')

  const again = await user.inject({ method: 'GET', url: `/orders/${order.id}` })
  t.equal(again.statusCode, 200)
  t.same(again.json(), order)
})

t.test('an empty cart, a bad address, or missing stock change nothing', async (t) => {
  const app = await build(t)
  const user = await createUser(app)
  let res = await user.inject({ method: 'POST', url: '/orders', payload: address })
  t.equal(res.statusCode, 409)
  t.same(res.json(), { statusCode: 409, code: 'CART_EMPTY', error: 'Conflict', message: 'Your cart is empty' })

  const plenty = insertProduct(app, { stock: 10 })
  const scarce = insertProduct(app, { stock: 2 })
  await addToCart(user, plenty.id, 4)
  await addToCart(user, scarce.id, 2)
  // Someone else bought the scarce one meanwhile.
  app.sqlite.prepare('UPDATE products SET stock = 1 WHERE id = ?').run(scarce.id)
  const cartBefore = (await user.inject({ method: 'GET', url: '/cart' })).json()

  res = await user.inject({ method: 'POST', url: '/orders', payload: address })
  t.equal(res.statusCode, 409)
  t.same(res.json(), { statusCode: 409, code: 'INSUFFICIENT_STOCK', error: 'Conflict', message: `Not enough stock for product ${scarce.id}` })
  t.equal(stockOf(app, plenty.id), 10, 'stock taken for the first line was given back')
  t.equal(stockOf(app, scarce.id), 1)
  t.equal(countRows(app, 'orders'), 0)
  t.equal(countRows(app, 'order_items'), 0)
  t.equal(countRows(app, 'mail_outbox'), 0)
  t.same((await user.inject({ method: 'GET', url: '/cart' })).json(), cartBefore, 'the cart is as it was')

  for (const payload of [{}, { shipping_address: '' }, { shipping_address: 'x'.repeat(501) }, { shipping_address: 5 }, { ...address, extra: 1 }]) {
    const bad = await user.inject({ method: 'POST', url: '/orders', payload })
    t.equal(bad.statusCode, 400, JSON.stringify(payload).slice(0, 60))
  }
  t.equal(countRows(app, 'orders'), 0)
})

t.test('order lines keep the name and price of the moment of purchase', async (t) => {
  const app = await build(t)
  const admin = await createUser(app, { role: 'admin' })
  const user = await createUser(app)
  const mug = insertProduct(app, { name: 'Mug', priceCents: 1250 })
  await addToCart(user, mug.id, 2)
  const order = (await user.inject({ method: 'POST', url: '/orders', payload: address })).json()

  app.sqlite.prepare('UPDATE products SET price_cents = 9999, name = ? WHERE id = ?').run('Golden mug', mug.id)
  const later = (await user.inject({ method: 'GET', url: `/orders/${order.id}` })).json()
  t.same(later.items, [{ product_id: mug.id, name: 'Mug', price_cents: 1250, quantity: 2 }])
  t.equal(later.total_cents, 2500)

  const deleted = await admin.inject({ method: 'DELETE', url: `/products/${mug.id}` })
  t.equal(deleted.statusCode, 204)
  t.same((await user.inject({ method: 'GET', url: `/orders/${order.id}` })).json(), later, 'a deleted product leaves the order intact')
})

t.test('50 users check out concurrently for a stock of 10: exactly 10 orders', async (t) => {
  const app = await build(t)
  const mug = insertProduct(app, { stock: 10 })
  const users = await Promise.all(Array.from({ length: 50 }, () => createUser(app)))
  for (const user of users) t.equal((await addToCart(user, mug.id, 1)).statusCode, 200)

  const answers = await Promise.all(users.map((user) => user.inject({ method: 'POST', url: '/orders', payload: address })))
  const statuses = answers.map((res) => res.statusCode)
  t.equal(statuses.filter((s) => s === 201).length, 10)
  t.equal(statuses.filter((s) => s === 409).length, 40)
  t.ok(answers.filter((res) => res.statusCode === 409).every((res) => res.json().code === 'INSUFFICIENT_STOCK'))
  t.equal(stockOf(app, mug.id), 0)
  t.equal(countRows(app, 'orders'), 10)
  t.equal(countRows(app, 'mail_outbox'), 10)
})

t.test('Idempotency-Key: a replay returns the first order, even concurrently and with a changed cart', async (t) => {
  const app = await build(t)
  const user = await createUser(app)
  const other = await createUser(app)
  const mug = insertProduct(app, { stock: 100 })
  await addToCart(user, mug.id, 2)
  const headers = { 'idempotency-key': 'checkout-7f1c' }

  const answers = await Promise.all(Array.from({ length: 10 }, () =>
    user.inject({ method: 'POST', url: '/orders', payload: address, headers })))
  const created = answers.filter((res) => res.statusCode === 201)
  t.equal(created.length, 1, 'one 201')
  t.ok(answers.every((res) => res.statusCode === 201 || res.statusCode === 200), 'the rest replay with 200')
  t.ok(answers.every((res) => res.json().id === created[0]?.json().id), 'all the same order')
  t.equal(countRows(app, 'orders'), 1)
  t.equal(stockOf(app, mug.id), 98)

  await addToCart(user, mug.id, 5)
  const replay = await user.inject({ method: 'POST', url: '/orders', payload: { shipping_address: 'elsewhere' }, headers })
  t.equal(replay.statusCode, 200)
  t.same(replay.json(), created[0]?.json(), 'the same key with another cart is still the first order')
  t.equal(stockOf(app, mug.id), 98)
  t.equal((await user.inject({ method: 'GET', url: '/cart' })).json().items.length, 1, 'the new cart is untouched')

  await addToCart(other, mug.id, 1)
  const othersKey = await other.inject({ method: 'POST', url: '/orders', payload: address, headers })
  t.equal(othersKey.statusCode, 201, 'keys are per user')

  const tooLong = await user.inject({ method: 'POST', url: '/orders', payload: address, headers: { 'idempotency-key': 'k'.repeat(256) } })
  t.equal(tooLong.statusCode, 400)
})

t.test('listing: own orders newest first with cursors; admins see all and filter by user', async (t) => {
  const app = await build(t)
  const admin = await createUser(app, { role: 'admin' })
  const ann = await createUser(app)
  const bob = await createUser(app)
  const mug = insertProduct(app, { stock: 100 })
  const annOrders: number[] = []
  for (let i = 0; i < 5; i++) {
    await addToCart(ann, mug.id, 1)
    annOrders.push((await ann.inject({ method: 'POST', url: '/orders', payload: address })).json().id)
  }
  await addToCart(bob, mug.id, 1)
  const bobOrder = (await bob.inject({ method: 'POST', url: '/orders', payload: address })).json().id

  const seen: number[] = []
  let cursor: string | null = null
  do {
    const url: string = `/orders?limit=2${cursor ? `&cursor=${cursor}` : ''}`
    const page = (await ann.inject({ method: 'GET', url })).json()
    seen.push(...page.items.map((order: { id: number }) => order.id))
    cursor = page.next_cursor
  } while (cursor)
  t.same(seen, [...annOrders].reverse(), 'every own order once, newest first')

  const bobsView = (await bob.inject({ method: 'GET', url: `/orders?user_id=${ann.id}` })).json()
  t.same(bobsView.items.map((order: { id: number }) => order.id), [bobOrder], 'customers only ever see their own')

  const all = (await admin.inject({ method: 'GET', url: '/orders?limit=100' })).json()
  t.equal(all.items.length, 6)
  const filtered = (await admin.inject({ method: 'GET', url: `/orders?user_id=${bob.id}` })).json()
  t.same(filtered.items.map((order: { id: number }) => order.id), [bobOrder])

  for (const url of ['/orders?limit=0', '/orders?limit=101', '/orders?user_id=abc', '/orders?cursor=garbage']) {
    t.equal((await ann.inject({ method: 'GET', url })).statusCode, 400, url)
  }
})

t.test('another user\'s order is 404 and cannot be cancelled', async (t) => {
  const app = await build(t)
  const ann = await createUser(app)
  const bob = await createUser(app)
  const admin = await createUser(app, { role: 'admin' })
  const mug = insertProduct(app, { stock: 10 })
  await addToCart(ann, mug.id, 3)
  const order = (await ann.inject({ method: 'POST', url: '/orders', payload: address })).json()

  const missing = await bob.inject({ method: 'GET', url: '/orders/9999' })
  const foreign = await bob.inject({ method: 'GET', url: `/orders/${order.id}` })
  t.equal(foreign.statusCode, 404)
  t.same(foreign.json(), missing.json(), 'no existence leak')
  t.same(foreign.json(), { statusCode: 404, code: 'ORDER_NOT_FOUND', error: 'Not Found', message: 'Order not found' })
  const cancel = await bob.inject({ method: 'POST', url: `/orders/${order.id}/cancel` })
  t.equal(cancel.statusCode, 404)
  t.equal((await ann.inject({ method: 'GET', url: `/orders/${order.id}` })).json().status, 'placed')
  t.equal(stockOf(app, mug.id), 7)
  t.equal((await admin.inject({ method: 'GET', url: `/orders/${order.id}` })).statusCode, 200, 'an admin sees any order')
})

t.test('cancel returns stock once; admins move orders placed → shipped → delivered only', async (t) => {
  const app = await build(t)
  const admin = await createUser(app, { role: 'admin' })
  const user = await createUser(app)
  const mug = insertProduct(app, { stock: 10 })

  await addToCart(user, mug.id, 4)
  const first = (await user.inject({ method: 'POST', url: '/orders', payload: address })).json()
  t.equal(stockOf(app, mug.id), 6)
  const cancelled = await user.inject({ method: 'POST', url: `/orders/${first.id}/cancel` })
  t.equal(cancelled.statusCode, 200)
  t.same(cancelled.json(), { ...first, status: 'cancelled' })
  t.equal(stockOf(app, mug.id), 10, 'stock returned')
  const twice = await user.inject({ method: 'POST', url: `/orders/${first.id}/cancel` })
  t.equal(twice.statusCode, 409)
  t.same(twice.json(), { statusCode: 409, code: 'ORDER_NOT_CANCELLABLE', error: 'Conflict', message: 'Only a placed order can be cancelled' })
  t.equal(stockOf(app, mug.id), 10, 'not returned twice')

  await addToCart(user, mug.id, 1)
  const second = (await user.inject({ method: 'POST', url: `/orders`, payload: address })).json()
  const patch = (status: string, as = admin) => as.inject({ method: 'PATCH', url: `/orders/${second.id}`, payload: { status } })

  t.equal((await patch('shipped', user)).statusCode, 403, 'customers cannot move orders')
  const skip = await patch('delivered')
  t.equal(skip.statusCode, 409)
  t.same(skip.json(), { statusCode: 409, code: 'INVALID_STATUS_TRANSITION', error: 'Conflict', message: 'An order cannot move from placed to delivered' })
  t.equal((await patch('shipped')).json().status, 'shipped')
  t.equal((await user.inject({ method: 'POST', url: `/orders/${second.id}/cancel` })).statusCode, 409, 'a shipped order cannot be cancelled')
  t.equal((await patch('shipped')).statusCode, 409)
  t.equal((await patch('delivered')).json().status, 'delivered')
  t.equal((await patch('cancelled')).statusCode, 400, 'cancelling goes through /cancel')
  t.equal((await patch('placed')).statusCode, 400)
  t.equal((await admin.inject({ method: 'PATCH', url: '/orders/9999', payload: { status: 'shipped' } })).statusCode, 404)
})
