import t from 'tap'
import { eachStore, repositoriesOf, shop } from './stores.js'

const rejection = async (promise: Promise<unknown>) => promise.then(() => undefined, (error: Error & { code?: string }) => error.code)

eachStore(t, 'cart: lines add up within 1000 and stock; missing products are 404', async (t, store) => {
  const { carts, customer, product } = await shop(store)
  const { userId } = await customer()
  const sencha = await product(10, 1299, 'Sencha')
  await carts.add(userId, sencha, 2)
  await carts.add(userId, sencha, 3)
  t.same(await carts.lines(userId), [{ productId: sencha, name: 'Sencha', priceCents: 1299, quantity: 5, stock: 10 }])
  t.equal(await rejection(carts.add(userId, sencha, 6)), 'INSUFFICIENT_STOCK')
  t.equal(await rejection(carts.add(userId, 999_999_999, 1)), 'PRODUCT_NOT_FOUND')
  t.equal((await carts.lines(userId))[0]?.quantity, 5, 'refused adds changed nothing')
  const plenty = await product(5000)
  await carts.set(userId, plenty, 1000)
  t.equal(await rejection(carts.add(userId, plenty, 1)), 'VALIDATION_ERROR', 'a line holds at most 1000')
  t.equal(await rejection(carts.set(userId, sencha, 11)), 'INSUFFICIENT_STOCK')
  await carts.set(userId, sencha, 1)
  t.same((await carts.lines(userId)).map((line) => [line.productId, line.quantity]), [[sencha, 1], [plenty, 1000]], 'oldest line first')
  t.equal(await carts.remove(userId, plenty), true)
  t.equal(await carts.remove(userId, plenty), false)
  await carts.clear(userId)
  t.same(await carts.lines(userId), [])
})

eachStore(t, 'cart: adds at once all count', async (t, store) => {
  const { carts, customer, product } = await shop(store)
  const { userId } = await customer()
  const id = await product(1000)
  await Promise.all(Array.from({ length: 20 }, () => carts.add(userId, id, 3)))
  t.equal((await carts.lines(userId))[0]?.quantity, 60)
})

eachStore(t, 'orders: checkout snapshots the cart, takes stock, empties the cart, queues one e-mail', async (t, store) => {
  const { carts, orders, outbox, customer, product, stockOf, catalogue } = await shop(store)
  const buyer = await customer()
  const a = await product(10, 1000, 'A')
  const b = await product(10, 250, 'B')
  await carts.add(buyer.userId, b, 2)
  // Lines are ordered by when they were added, ties by product id: a later millisecond for A.
  await new Promise((resolve) => setTimeout(resolve, 5))
  await carts.add(buyer.userId, a, 1)
  const { order, created } = await orders.checkout(buyer)
  t.equal(created, true)
  t.match(order, {
    id: Number,
    userId: buyer.userId,
    status: 'placed',
    totalCents: 1500,
    currency: 'USD',
    shippingAddress: '1 Road',
    createdAt: String,
    items: [{ productId: b, name: 'B', priceCents: 250, quantity: 2 }, { productId: a, name: 'A', priceCents: 1000, quantity: 1 }]
  })
  t.same(await orders.find(order.id), order, 'what find returns is what checkout returned')
  t.equal(await stockOf(a), 9)
  t.equal(await stockOf(b), 8)
  t.same(await carts.lines(buyer.userId), [])
  const [mail] = await outbox.claimDue(10, Date.now() + 60_000)
  t.match(mail, { to: buyer.email, subject: `Order #${order.id} confirmed` })
  t.match(mail?.text, '2 × B at 2.50 USD = 5.00 USD')
  await catalogue.updateProduct(a, { name: 'A renamed', priceCents: 1 })
  t.match((await orders.find(order.id))?.items[1], { name: 'A', priceCents: 1000 }, 'lines keep the name and price of the day')
  t.equal(await rejection(orders.checkout(buyer)), 'CART_EMPTY')
})

eachStore(t, 'orders: not enough stock for one line changes nothing', async (t, store) => {
  const { carts, orders, customer, product, stockOf } = await shop(store)
  const buyer = await customer()
  const plenty = await product(10)
  const scarce = await product(2)
  await carts.add(buyer.userId, plenty, 3)
  await carts.add(buyer.userId, scarce, 2)
  await repositoriesOf(store).catalogue.updateProduct(scarce, { stock: 1 })
  t.equal(await rejection(orders.checkout(buyer)), 'INSUFFICIENT_STOCK')
  t.equal(await stockOf(plenty), 10, 'stock taken for the first line was given back')
  t.equal((await carts.lines(buyer.userId)).length, 2, 'the cart is as it was')
  t.same(await orders.list({ userId: buyer.userId, limit: 10 }), [])
})

eachStore(t, 'orders: 40 checkouts at once for a stock of 10 give exactly 10 orders', async (t, store) => {
  const { carts, orders, outbox, customer, product, stockOf } = await shop(store)
  const id = await product(10)
  const buyers = []
  for (let i = 0; i < 40; i++) {
    const buyer = await customer()
    await carts.add(buyer.userId, id, 1)
    buyers.push(buyer)
  }
  const outcomes = await Promise.all(buyers.map((buyer) => orders.checkout(buyer).then(() => 'ordered', (error: { code?: string }) => error.code)))
  t.equal(outcomes.filter((outcome) => outcome === 'ordered').length, 10)
  t.equal(outcomes.filter((outcome) => outcome === 'INSUFFICIENT_STOCK').length, 30)
  t.equal(await stockOf(id), 0)
  t.equal((await orders.list({ limit: 100 })).length, 10)
  t.equal(await outbox.backlog(), 10, 'one e-mail per order')
})

eachStore(t, 'orders: the same Idempotency-Key at once makes one order', async (t, store) => {
  const { carts, orders, customer, product, stockOf } = await shop(store)
  const buyer = await customer()
  const id = await product(100)
  await carts.add(buyer.userId, id, 4)
  const results = await Promise.all(Array.from({ length: 10 }, () => orders.checkout({ ...buyer, idempotencyKey: 'key-1' })))
  t.equal(results.filter((result) => result.created).length, 1)
  t.equal(new Set(results.map((result) => result.order.id)).size, 1, 'every answer is the same order')
  t.same(results[0]?.order.items.map((line) => line.quantity), [4])
  t.equal(await stockOf(id), 96, 'stock taken once')
  const other = await customer()
  await carts.add(other.userId, id, 1)
  t.equal((await orders.checkout({ ...other, idempotencyKey: 'key-1' })).created, true, 'keys are per user')
})

eachStore(t, 'orders: cancel returns stock once; status moves forward only', async (t, store) => {
  const { carts, orders, customer, product, stockOf } = await shop(store)
  const buyer = await customer()
  const id = await product(5)
  await carts.add(buyer.userId, id, 3)
  const { order } = await orders.checkout(buyer)
  const cancels = await Promise.all([orders.cancel(order.id), orders.cancel(order.id), orders.cancel(order.id)].map((promise) => promise.then(() => 'ok', (error: { code?: string }) => error.code)))
  t.same(cancels.sort(), ['ORDER_NOT_CANCELLABLE', 'ORDER_NOT_CANCELLABLE', 'ok'])
  t.equal(await stockOf(id), 5)
  t.equal((await orders.find(order.id))?.status, 'cancelled')

  await carts.add(buyer.userId, id, 1)
  const { order: second } = await orders.checkout(buyer)
  t.equal(await rejection(orders.moveTo(second.id, 'delivered')), 'INVALID_STATUS_TRANSITION')
  t.match(await orders.moveTo(second.id, 'shipped'), { status: 'shipped' })
  t.equal(await rejection(orders.cancel(second.id)), 'ORDER_NOT_CANCELLABLE')
  t.match(await orders.moveTo(second.id, 'delivered'), { status: 'delivered' })
  t.equal(await orders.moveTo(999_999_999, 'shipped'), undefined)
})

eachStore(t, 'orders: listing is newest first, per user or all, in pages', async (t, store) => {
  const { carts, orders, customer, product } = await shop(store)
  const id = await product(100)
  const ann = await customer()
  const bob = await customer()
  const placed = []
  for (const buyer of [ann, bob, ann, ann]) {
    await carts.add(buyer.userId, id, 1)
    placed.push((await orders.checkout(buyer)).order.id)
  }
  t.same((await orders.list({ limit: 10 })).map((order) => order.id), [...placed].reverse())
  const annOrders = [placed[3], placed[2], placed[0]]
  t.same((await orders.list({ userId: ann.userId, limit: 10 })).map((order) => order.id), annOrders)
  t.same((await orders.list({ userId: ann.userId, beforeId: placed[3], limit: 1 })).map((order) => order.id), [placed[2]])
  t.ok((await orders.list({ limit: 10 })).every((order) => order.items.length === 1), 'each with its lines')
})

eachStore(t, 'outbox: concurrent claims take disjoint rows; failed rows wait; released rows return', async (t, store) => {
  const { carts, orders, outbox, customer, product } = await shop(store)
  const id = await product(100)
  for (let i = 0; i < 12; i++) {
    const buyer = await customer()
    await carts.add(buyer.userId, id, 1)
    await orders.checkout(buyer)
  }
  const lease = Date.now() + 60_000
  const claims = await Promise.all(Array.from({ length: 6 }, () => outbox.claimDue(3, lease)))
  const claimed = claims.flat().map((mail) => mail.id)
  t.equal(claimed.length, 12, 'every row claimed')
  t.equal(new Set(claimed).size, 12, 'by exactly one claimer each')
  t.same(await outbox.claimDue(10, lease), [], 'nothing is due while leased')

  const [first, second, third] = claimed
  await outbox.markSent(first!)
  await outbox.markFailed(second!, 'ECONNREFUSED: no mail server', Date.now() + 60_000)
  await outbox.release([third!])
  t.equal(await outbox.backlog(), 11)
  const again = await outbox.claimDue(10, lease)
  t.same(again.map((mail) => mail.id), [third], 'the released row is due again at once; the failed one waits for its retry')
  const later = await outbox.claimDue(20, lease, Date.now() + 61_000)
  t.ok(later.some((mail) => mail.id === second && mail.attempts === 1), 'the failed row comes back after its backoff, one attempt counted')
})
