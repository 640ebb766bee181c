import t from 'tap'
import { build, createUser, type TestUser } from '../helper.js'
import {
  addToCart, countRows, deleteProduct, errorBody, insertProduct, placeOrder, setPrice, setStock, snapshot, stockOf,
  SHIPPING, type OrderBody
} from '../commerce-fixtures.js'
import { formatMoney } from '../../src/store/orders.js'

const ISO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/
const checkout = (user: TestUser, headers: Record<string, string> = {}) =>
  user.inject({ method: 'POST', url: '/orders', payload: SHIPPING, headers })

t.test('formatMoney formats integer cents without floating point', async (t) => {
  t.equal(formatMoney(5997, 'USD'), '59.97 USD')
  t.equal(formatMoney(0, 'USD'), '0.00 USD')
  t.equal(formatMoney(5, 'EUR'), '0.05 EUR')
  t.equal(formatMoney(100, 'EUR'), '1.00 EUR')
  // 0.1 + 0.2 style trouble would show here: 3 × 0.10 and 1.15 × 100.
  t.equal(formatMoney(3 * 10, 'USD'), '0.30 USD')
  t.equal(formatMoney(115, 'USD'), '1.15 USD')
  t.equal(formatMoney(123_456_789_01, 'USD'), '123456789.01 USD')
})

t.test('checkout turns the cart into an order, takes stock, empties the cart and queues one e-mail', async (t) => {
  const app = await build(t)
  const user = await createUser(app)
  const mug = await insertProduct(app, { name: 'Mug', priceCents: 1250, stock: 10 })
  const tea = await insertProduct(app, { name: 'Tea', priceCents: 399, stock: 5 })
  const untouched = await insertProduct(app, { name: 'Other', stock: 7 })
  await addToCart(user, mug.id, 2)
  await addToCart(user, tea.id, 3)

  const res = await checkout(user)
  t.equal(res.statusCode, 201)
  const order = res.json<OrderBody>()
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
    shipping_address: SHIPPING.shipping_address,
    created_at: order.created_at
  })
  t.ok(Number.isInteger(order.id) && order.id > 0)
  t.match(order.created_at, ISO)
  t.ok(Math.abs(Date.parse(order.created_at) - Date.now()) < 60_000, 'created now')
  t.equal(await stockOf(app, mug.id), 8)
  t.equal(await stockOf(app, tea.id), 2)
  t.equal(await stockOf(app, untouched.id), 7)
  t.same((await user.inject({ method: 'GET', url: '/cart' })).json(), { items: [], total_cents: 0, currency: 'USD' }, 'the cart is empty')
  t.equal(await countRows(app, 'orders'), 1)
  t.equal(await countRows(app, 'order_items'), 2)

  t.same((await snapshot(app)).mailOutbox, [{
    id: 1,
    recipient: user.email,
    subject: `Order #${order.id} confirmed`,
    body: [
      `Thank you for your order #${order.id}.`,
      '',
      '2 × Mug at 12.50 USD = 25.00 USD',
      '3 × Tea at 3.99 USD = 11.97 USD',
      '',
      'Total: 36.97 USD',
      `Shipping to: ${SHIPPING.shipping_address}`
    ].join('\n')
  }])

  const again = await user.inject({ method: 'GET', url: `/orders/${order.id}` })
  t.equal(again.statusCode, 200)
  t.same(again.json(), order)
})

t.test('the e-mail total uses the configured currency and integer cents', async (t) => {
  const app = await build(t, { CURRENCY: 'EUR' })
  const user = await createUser(app)
  const item = await insertProduct(app, { name: 'Thing', priceCents: 1999 })
  const order = await placeOrder(user, [[item.id, 3]])
  t.equal(order.currency, 'EUR')
  t.equal(order.total_cents, 5997)
  const body = (await snapshot(app)).mailOutbox.map((row) => (row as { body: string }).body)
  t.equal(body.length, 1)
  t.match(body[0], '3 × Thing at 19.99 EUR = 59.97 EUR\n')
  t.match(body[0], '\nTotal: 59.97 EUR\n')
})

t.test('an empty cart or a bad request: 409 or 400, and nothing changes', async (t) => {
  const app = await build(t)
  const user = await createUser(app)
  const before = (await snapshot(app))
  const res = await checkout(user)
  t.equal(res.statusCode, 409)
  t.same(res.json(), errorBody(409, 'CART_EMPTY', 'Your cart is empty'))
  t.same((await snapshot(app)), before)

  const mug = await insertProduct(app, { stock: 10 })
  await addToCart(user, mug.id, 1)
  const withCart = (await snapshot(app))
  const bad: Array<[unknown, string]> = [
    [{}, 'body must have required property \'shipping_address\''],
    [{ shipping_address: '' }, 'body/shipping_address must NOT have fewer than 1 characters'],
    [{ shipping_address: 'x'.repeat(501) }, 'body/shipping_address must NOT have more than 500 characters'],
    [{ shipping_address: 5 }, 'body/shipping_address must be string'],
    [{ ...SHIPPING, extra: 1 }, 'body must NOT have additional properties']
  ]
  for (const [payload, message] of bad) {
    const answer = await user.inject({ method: 'POST', url: '/orders', payload: payload as object })
    t.equal(answer.statusCode, 400, JSON.stringify(payload).slice(0, 60))
    t.same(answer.json(), errorBody(400, 'VALIDATION_ERROR', message))
  }
  for (const [key, message] of [
    ['', 'headers/idempotency-key must NOT have fewer than 1 characters'],
    ['k'.repeat(256), 'headers/idempotency-key must NOT have more than 255 characters']
  ]) {
    const answer = await checkout(user, { 'idempotency-key': key as string })
    t.equal(answer.statusCode, 400)
    t.same(answer.json(), errorBody(400, 'VALIDATION_ERROR', message as string))
  }
  t.same((await snapshot(app)), withCart, 'no order, stock, cart or mail change')

  const longest = await user.inject({ method: 'POST', url: '/orders', payload: { shipping_address: 'x'.repeat(500) }, headers: { 'idempotency-key': 'k'.repeat(255) } })
  t.equal(longest.statusCode, 201, '500 characters of address and a 255-character key are fine')
})

t.test('a checkout where one of two lines lacks stock changes nothing at all', async (t) => {
  const app = await build(t)
  const user = await createUser(app)
  const plenty = await insertProduct(app, { stock: 10 })
  const scarce = await insertProduct(app, { stock: 2 })
  // An earlier order and mail, so "unchanged" is about existing rows too.
  await placeOrder(user, [[plenty.id, 1]])
  t.equal((await addToCart(user, plenty.id, 4)).statusCode, 200)
  t.equal((await addToCart(user, scarce.id, 2)).statusCode, 200)
  // Someone else bought one of the scarce ones meanwhile; the plenty line is taken first, then given back.
  await setStock(app, scarce.id, 1)
  const before = (await snapshot(app))
  const cartBefore = (await user.inject({ method: 'GET', url: '/cart' })).json()

  const res = await checkout(user, { 'idempotency-key': 'will-fail' })
  t.equal(res.statusCode, 409)
  t.same(res.json(), errorBody(409, 'INSUFFICIENT_STOCK', `Not enough stock for product ${scarce.id}`))
  t.same((await snapshot(app)), before, 'cart, stock, orders, lines and outbox are all as they were')
  t.equal(await stockOf(app, plenty.id), 9, 'stock taken for the first line was given back')
  t.same((await user.inject({ method: 'GET', url: '/cart' })).json(), cartBefore)

  // The failed attempt did not burn its Idempotency-Key.
  await user.inject({ method: 'PUT', url: `/cart/items/${scarce.id}`, payload: { quantity: 1 } })
  const retry = await checkout(user, { 'idempotency-key': 'will-fail' })
  t.equal(retry.statusCode, 201)
  t.equal(await stockOf(app, plenty.id), 5)
  t.equal(await stockOf(app, scarce.id), 0)
})

t.test('order lines keep the name and price of the moment of purchase, also when the product is deleted', async (t) => {
  const app = await build(t)
  const user = await createUser(app)
  const admin = await createUser(app, { role: 'admin' })
  const mug = await insertProduct(app, { name: 'Mug', priceCents: 1250 })
  const tea = await insertProduct(app, { name: 'Tea', priceCents: 300 })
  const order = await placeOrder(user, [[mug.id, 2], [tea.id, 1]])
  const expected = {
    ...order,
    items: [
      { product_id: mug.id, name: 'Mug', price_cents: 1250, quantity: 2 },
      { product_id: tea.id, name: 'Tea', price_cents: 300, quantity: 1 }
    ],
    total_cents: 2800
  }
  t.same(order, expected)

  await setPrice(app, mug.id, { priceCents: 9999, name: 'Golden mug' })
  let later = await user.inject({ method: 'GET', url: `/orders/${order.id}` })
  t.equal(later.statusCode, 200)
  t.same(later.json(), expected, 'the old name, price and total')
  // The cart, by contrast, shows today's price.
  await addToCart(user, mug.id, 1)
  t.equal((await user.inject({ method: 'GET', url: '/cart' })).json().total_cents, 9999)

  await deleteProduct(app, mug.id)
  later = await user.inject({ method: 'GET', url: `/orders/${order.id}` })
  t.equal(later.statusCode, 200)
  t.same(later.json(), expected, 'a deleted product leaves the order line intact')
  t.same((await user.inject({ method: 'GET', url: '/orders' })).json(), { items: [expected], next_cursor: null })
  t.same((await admin.inject({ method: 'GET', url: `/orders/${order.id}` })).json(), expected)
  t.equal(await countRows(app, 'order_items'), 2)

  // Cancelling gives stock back to what still exists and skips what is gone.
  const cancelled = await user.inject({ method: 'POST', url: `/orders/${order.id}/cancel` })
  t.equal(cancelled.statusCode, 200)
  t.same(cancelled.json(), { ...expected, status: 'cancelled' })
  t.equal(await stockOf(app, tea.id), 100)
  t.equal(await stockOf(app, mug.id), undefined)
})

t.test('50 users check out concurrently for a stock of 10: exactly 10 orders', async (t) => {
  const app = await build(t)
  const mug = await insertProduct(app, { name: 'Mug', priceCents: 1250, stock: 10 })
  const users = await Promise.all(Array.from({ length: 50 }, () => createUser(app)))
  for (const user of users) t.equal((await addToCart(user, mug.id, 1)).statusCode, 200)

  const answers = await Promise.all(users.map((user) => checkout(user)))
  const winners = users.filter((_, i) => answers[i]?.statusCode === 201)
  t.equal(winners.length, 10, 'exactly 10 answers are 201')
  answers.forEach((res, i) => {
    if (res.statusCode === 201) {
      const order = res.json<OrderBody>()
      t.same(order, {
        id: order.id,
        user_id: users[i]?.id,
        status: 'placed',
        items: [{ product_id: mug.id, name: 'Mug', price_cents: 1250, quantity: 1 }],
        total_cents: 1250,
        currency: 'USD',
        shipping_address: SHIPPING.shipping_address,
        created_at: order.created_at
      })
    }
  })
  const losers = answers.filter((res) => res.statusCode !== 201)
  t.equal(losers.length, 40)
  t.ok(losers.every((res) => res.statusCode === 409), 'the other 40 are 409')
  t.same(new Set(losers.map((res) => res.body)), new Set([JSON.stringify(errorBody(409, 'INSUFFICIENT_STOCK', `Not enough stock for product ${mug.id}`))]))

  t.equal(await stockOf(app, mug.id), 0)
  t.equal(await countRows(app, 'orders'), 10)
  t.equal(await countRows(app, 'order_items'), 10)
  t.equal(await countRows(app, 'mail_outbox'), 10)
  const rows = (await snapshot(app))
  t.same(new Set(rows.orders.map((row) => (row as { user_id: number }).user_id)), new Set(winners.map((user) => user.id)), 'one order per winner')
  t.same(new Set(rows.mailOutbox.map((row) => (row as { recipient: string }).recipient)), new Set(winners.map((user) => user.email)), 'one e-mail per winner')
  t.equal(rows.cartItems.length, 40, 'the 40 who lost still have their line')
})

t.test('Idempotency-Key: concurrent repeats give one order; a replay returns it even with a changed cart', async (t) => {
  const app = await build(t)
  const user = await createUser(app)
  const other = await createUser(app)
  const mug = await insertProduct(app, { stock: 100 })
  await addToCart(user, mug.id, 2)
  const headers = { 'idempotency-key': 'checkout-7f1c' }

  const answers = await Promise.all(Array.from({ length: 10 }, () => checkout(user, headers)))
  const created = answers.filter((res) => res.statusCode === 201)
  t.equal(created.length, 1, 'one 201')
  const first = created[0]?.json<OrderBody>()
  const replays = answers.filter((res) => res.statusCode !== 201)
  t.equal(replays.length, 9)
  // Checkouts of one user are serialised by the database, so a repeat never finds the
  // first still running: every one answers 200 with the very same order.
  t.same(replays.map((res) => [res.statusCode, res.json()]), replays.map(() => [200, first]), 'every repeat is a 200 with the same order')
  t.equal(await countRows(app, 'orders'), 1, 'exactly one order row')
  t.equal(await countRows(app, 'order_items'), 1)
  t.equal(await countRows(app, 'mail_outbox'), 1, 'one e-mail')
  t.equal(await stockOf(app, mug.id), 98)

  // A changed cart and a different address do not make the same key a new order.
  await addToCart(user, mug.id, 5)
  const before = (await snapshot(app))
  const replay = await user.inject({ method: 'POST', url: '/orders', payload: { shipping_address: 'elsewhere' }, headers })
  t.equal(replay.statusCode, 200)
  t.same(replay.json(), first, 'the same key with another cart is still the first order')
  t.same((await snapshot(app)), before, 'nothing new: stock, cart, orders and mail as they were')

  // Keys are per user.
  await addToCart(other, mug.id, 1)
  const othersKey = await checkout(other, headers)
  t.equal(othersKey.statusCode, 201, 'another user may use the same key')
  t.not(othersKey.json().id, first?.id)

  // A new key is a new order; no key at all is a new order every time.
  const fresh = await checkout(user, { 'idempotency-key': 'checkout-8a2d' })
  t.equal(fresh.statusCode, 201)
  t.equal(fresh.json().items[0].quantity, 5)
  await addToCart(user, mug.id, 1)
  t.equal((await checkout(user)).statusCode, 201)
  await addToCart(user, mug.id, 1)
  t.equal((await checkout(user)).statusCode, 201)
  t.equal(await countRows(app, 'orders'), 5)

  // A replay shows the order as it is now.
  await user.inject({ method: 'POST', url: `/orders/${first?.id}/cancel` })
  const afterCancel = await checkout(user, headers)
  t.equal(afterCancel.statusCode, 200)
  t.same(afterCancel.json(), { ...first, status: 'cancelled' })
  t.equal(await countRows(app, 'orders'), 5)
})

t.test('listing: own orders newest first with cursors; admins see all and filter by user', async (t) => {
  const app = await build(t)
  const admin = await createUser(app, { role: 'admin' })
  const ann = await createUser(app)
  const bob = await createUser(app)
  const mug = await insertProduct(app, { stock: 100 })

  t.same((await ann.inject({ method: 'GET', url: '/orders' })).json(), { items: [], next_cursor: null })

  // Interleaved, and all within a second or so: the order comes from ids, not timestamps.
  const annOrders: OrderBody[] = []
  const bobOrders: OrderBody[] = []
  for (let i = 0; i < 5; i++) {
    annOrders.push(await placeOrder(ann, [[mug.id, 1]]))
    if (i % 2 === 0) bobOrders.push(await placeOrder(bob, [[mug.id, 1]]))
  }
  const newestFirst = (orders: OrderBody[]) => [...orders].sort((a, b) => b.id - a.id)

  async function walk (user: TestUser, query: string, limit: number, from: string | null = null) {
    const pages: Array<{ items: OrderBody[], next_cursor: string | null }> = []
    let cursor: string | null = from
    do {
      const url: string = `/orders?limit=${limit}${query}${cursor ? `&cursor=${cursor}` : ''}`
      const res = await user.inject({ method: 'GET', url })
      t.equal(res.statusCode, 200, url)
      const page = res.json<{ items: OrderBody[], next_cursor: string | null }>()
      pages.push(page)
      cursor = page.next_cursor
    } while (cursor)
    return pages
  }

  const annPages = await walk(ann, '', 2)
  t.same(annPages.map((page) => page.items.length), [2, 2, 1])
  t.same(annPages.flatMap((page) => page.items), newestFirst(annOrders), 'every own order once, newest first, whole bodies')
  t.equal(annPages.at(-1)?.next_cursor, null)

  const exact = await walk(ann, '', 5)
  t.same(exact.map((page) => page.items.length), [5], 'a full last page has no next cursor')

  const bobsView = (await bob.inject({ method: 'GET', url: `/orders?user_id=${ann.id}` })).json()
  t.same(bobsView, { items: newestFirst(bobOrders), next_cursor: null }, 'customers only ever see their own; user_id is ignored for them')

  const all = await walk(admin, '', 3)
  t.same(all.flatMap((page) => page.items), newestFirst([...annOrders, ...bobOrders]), 'admins see everyone\'s, newest first')
  const filtered = await walk(admin, `&user_id=${bob.id}`, 2)
  t.same(filtered.flatMap((page) => page.items), newestFirst(bobOrders))
  t.same((await admin.inject({ method: 'GET', url: '/orders?user_id=99999' })).json(), { items: [], next_cursor: null })

  // An order added mid-walk is newer than the cursor: the walk still sees each old one exactly once.
  const firstPage = (await ann.inject({ method: 'GET', url: '/orders?limit=2' })).json()
  await placeOrder(ann, [[mug.id, 1]])
  const rest = await walk(ann, '', 2, firstPage.next_cursor)
  t.same([...firstPage.items, ...rest.flatMap((page) => page.items)], newestFirst(annOrders))

  const bad: Array<[string, unknown]> = [
    ['/orders?limit=0', errorBody(400, 'VALIDATION_ERROR', 'querystring/limit must be >= 1')],
    ['/orders?limit=101', errorBody(400, 'VALIDATION_ERROR', 'querystring/limit must be <= 100')],
    ['/orders?user_id=abc', errorBody(400, 'VALIDATION_ERROR', 'querystring/user_id must match pattern "^[1-9][0-9]{0,14}$"')],
    ['/orders?cursor=garbage', errorBody(400, 'INVALID_CURSOR', 'The cursor is not one this service issued')],
    ['/orders?status=placed', errorBody(400, 'VALIDATION_ERROR', 'querystring must NOT have additional properties')]
  ]
  for (const [url, body] of bad) {
    const res = await ann.inject({ method: 'GET', url })
    t.equal(res.statusCode, 400, url)
    t.same(res.json(), body, url)
  }
})

t.test('another user\'s order is 404 like a missing one and cannot be cancelled', async (t) => {
  const app = await build(t)
  const ann = await createUser(app)
  const bob = await createUser(app)
  const admin = await createUser(app, { role: 'admin' })
  const mug = await insertProduct(app, { stock: 10 })
  const order = await placeOrder(ann, [[mug.id, 3]])
  const before = (await snapshot(app))
  const notFound = errorBody(404, 'ORDER_NOT_FOUND', 'Order not found')

  for (const [method, url] of [['GET', `/orders/${order.id}`], ['POST', `/orders/${order.id}/cancel`], ['GET', '/orders/9999'], ['POST', '/orders/9999/cancel']] as const) {
    const res = await bob.inject({ method, url })
    t.equal(res.statusCode, 404, `${method} ${url}`)
    t.same(res.json(), notFound, 'the same body whether it exists or not')
  }
  t.same((await bob.inject({ method: 'GET', url: '/orders' })).json(), { items: [], next_cursor: null })
  t.same((await snapshot(app)), before, 'nothing changed')

  const res = await admin.inject({ method: 'GET', url: `/orders/${order.id}` })
  t.equal(res.statusCode, 200, 'an admin sees any order')
  t.same(res.json(), order)

  const badId = await ann.inject({ method: 'GET', url: '/orders/abc' })
  t.equal(badId.statusCode, 400)
  t.same(badId.json(), errorBody(400, 'VALIDATION_ERROR', 'params/id must match pattern "^[1-9][0-9]{0,14}$"'))
})

t.test('cancel returns stock once; a second cancel is 409; admins may cancel anyone\'s', async (t) => {
  const app = await build(t)
  const admin = await createUser(app, { role: 'admin' })
  const user = await createUser(app)
  const mug = await insertProduct(app, { stock: 10 })
  const tea = await insertProduct(app, { stock: 10 })

  const first = await placeOrder(user, [[mug.id, 4], [tea.id, 1]])
  t.equal(await stockOf(app, mug.id), 6)
  const cancelled = await user.inject({ method: 'POST', url: `/orders/${first.id}/cancel` })
  t.equal(cancelled.statusCode, 200)
  t.same(cancelled.json(), { ...first, status: 'cancelled' })
  t.equal(await stockOf(app, mug.id), 10, 'stock returned')
  t.equal(await stockOf(app, tea.id), 10)
  t.same((await user.inject({ method: 'GET', url: `/orders/${first.id}` })).json(), { ...first, status: 'cancelled' })

  const before = (await snapshot(app))
  const twice = await user.inject({ method: 'POST', url: `/orders/${first.id}/cancel` })
  t.equal(twice.statusCode, 409)
  t.same(twice.json(), errorBody(409, 'ORDER_NOT_CANCELLABLE', 'Only a placed order can be cancelled'))
  t.same((await snapshot(app)), before, 'stock is not returned twice')

  const second = await placeOrder(user, [[mug.id, 2]])
  const byAdmin = await admin.inject({ method: 'POST', url: `/orders/${second.id}/cancel` })
  t.equal(byAdmin.statusCode, 200)
  t.same(byAdmin.json(), { ...second, status: 'cancelled' })
  t.equal(await stockOf(app, mug.id), 10)

  // Concurrent cancels of one order: one wins, the stock comes back once.
  const third = await placeOrder(user, [[mug.id, 3]])
  const answers = await Promise.all(Array.from({ length: 8 }, (_, i) =>
    (i % 2 === 0 ? user : admin).inject({ method: 'POST', url: `/orders/${third.id}/cancel` })))
  t.same(answers.map((res) => res.statusCode).sort(), [200, 409, 409, 409, 409, 409, 409, 409])
  t.equal(await stockOf(app, mug.id), 10)

  const missing = await admin.inject({ method: 'POST', url: '/orders/9999/cancel' })
  t.equal(missing.statusCode, 404)
  t.same(missing.json(), errorBody(404, 'ORDER_NOT_FOUND', 'Order not found'))
})

t.test('admins move orders placed → shipped → delivered only; every other move is 409', async (t) => {
  const app = await build(t)
  const admin = await createUser(app, { role: 'admin' })
  const user = await createUser(app)
  const mug = await insertProduct(app, { stock: 100 })
  const patch = (id: number, status: unknown, as = admin) => as.inject({ method: 'PATCH', url: `/orders/${id}`, payload: { status } })
  const invalid = (from: string, to: string) => errorBody(409, 'INVALID_STATUS_TRANSITION', `An order cannot move from ${from} to ${to}`)

  const order = await placeOrder(user, [[mug.id, 1]])
  let before = (await snapshot(app))
  const forbidden = await patch(order.id, 'shipped', user)
  t.equal(forbidden.statusCode, 403, 'customers cannot move orders, not even their own')
  t.same(forbidden.json(), errorBody(403, 'INSUFFICIENT_SCOPE', 'This token does not carry the scope this needs: orders:write'))
  t.equal(forbidden.headers['www-authenticate'], 'Bearer error="insufficient_scope", scope="orders:write"')
  for (const to of ['placed', 'delivered', 'cancelled']) {
    const res = await patch(order.id, to)
    t.equal(res.statusCode, 409, `placed → ${to}`)
    t.same(res.json(), invalid('placed', to))
  }
  t.same((await snapshot(app)), before, 'refused moves change nothing')

  const shipped = await patch(order.id, 'shipped')
  t.equal(shipped.statusCode, 200)
  t.same(shipped.json(), { ...order, status: 'shipped' })
  t.same((await user.inject({ method: 'GET', url: `/orders/${order.id}` })).json(), { ...order, status: 'shipped' })
  t.equal(await stockOf(app, mug.id), 99, 'shipping does not touch stock')

  before = (await snapshot(app))
  const cancelShipped = await user.inject({ method: 'POST', url: `/orders/${order.id}/cancel` })
  t.equal(cancelShipped.statusCode, 409, 'a shipped order cannot be cancelled')
  t.same(cancelShipped.json(), errorBody(409, 'ORDER_NOT_CANCELLABLE', 'Only a placed order can be cancelled'))
  for (const to of ['placed', 'shipped', 'cancelled']) {
    const res = await patch(order.id, to)
    t.equal(res.statusCode, 409, `shipped → ${to}`)
    t.same(res.json(), invalid('shipped', to))
  }
  t.same((await snapshot(app)), before)

  const delivered = await patch(order.id, 'delivered')
  t.equal(delivered.statusCode, 200)
  t.same(delivered.json(), { ...order, status: 'delivered' })
  before = (await snapshot(app))
  for (const to of ['placed', 'shipped', 'delivered', 'cancelled']) {
    const res = await patch(order.id, to)
    t.equal(res.statusCode, 409, `delivered → ${to}`)
    t.same(res.json(), invalid('delivered', to))
  }
  t.equal((await user.inject({ method: 'POST', url: `/orders/${order.id}/cancel` })).statusCode, 409, 'a delivered order cannot be cancelled')
  t.same((await snapshot(app)), before)

  const gone = await placeOrder(user, [[mug.id, 1]])
  await user.inject({ method: 'POST', url: `/orders/${gone.id}/cancel` })
  for (const to of ['placed', 'shipped', 'delivered']) {
    const res = await patch(gone.id, to)
    t.equal(res.statusCode, 409, `cancelled → ${to}`)
    t.same(res.json(), invalid('cancelled', to))
  }

  for (const [payload, message] of [
    [{ status: 'lost' }, 'body/status must be equal to one of the allowed values'],
    [{}, 'body must have required property \'status\''],
    [{ status: 'shipped', note: 'x' }, 'body must NOT have additional properties']
  ] as const) {
    const res = await admin.inject({ method: 'PATCH', url: `/orders/${gone.id}`, payload })
    t.equal(res.statusCode, 400, JSON.stringify(payload))
    t.same(res.json(), errorBody(400, 'VALIDATION_ERROR', message))
  }
  const missing = await patch(9999, 'shipped')
  t.equal(missing.statusCode, 404)
  t.same(missing.json(), errorBody(404, 'ORDER_NOT_FOUND', 'Order not found'))
})

t.test('every order route needs a token', async (t) => {
  const app = await build(t)
  const user = await createUser(app)
  const mug = await insertProduct(app)
  const order = await placeOrder(user, [[mug.id, 1]])
  await addToCart(user, mug.id, 1)
  const before = (await snapshot(app))
  const calls = [
    { method: 'POST', url: '/orders', payload: SHIPPING },
    { method: 'GET', url: '/orders' },
    { method: 'GET', url: `/orders/${order.id}` },
    { method: 'POST', url: `/orders/${order.id}/cancel` },
    { method: 'PATCH', url: `/orders/${order.id}`, payload: { status: 'shipped' } }
  ] as const
  for (const call of calls) {
    const res = await app.inject(call)
    t.equal(res.statusCode, 401, `${call.method} ${call.url}`)
    t.same(res.json(), errorBody(401, 'UNAUTHORIZED', 'A valid access token is required'))
  }
  t.same((await snapshot(app)), before)
})
