// The PostgreSQL checkout and cart writes are one statement each (shop_checkout and
// shop_cart_write, migration 0001): what the contract suite cannot see from outside —
// the e-mail composed in SQL is the text confirmationText gives, lines cross-ordered
// between concurrent checkouts never deadlock, a refused statement leaves nothing — on
// both stores where it applies.
import t from 'tap'
import { confirmationText } from '../../src/store/orders.js'
import { eachStore, shop } from './stores.js'

eachStore(t, 'the confirmation e-mail is confirmationText(order), character for character', async (t, store) => {
  const { carts, orders, outbox, customer, product } = await shop(store, 'EUR')
  const buyer = await customer('Flat 2, "Quotes" & 100% Straße\nSecond line')
  // Names that SQL could mangle (quotes, %, backslash, non-ASCII); prices around the cent padding.
  const a = await product(50, 5, 'Tea \'Earl\' Grey 100% \\ Ümlaut ✓')
  const b = await product(50, 100_000_007, 'Kettle, 1.5 l')
  const c = await product(50, 0, 'Free sample')
  await carts.add(buyer.userId, c, 3)
  await new Promise((resolve) => setTimeout(resolve, 5))
  await carts.add(buyer.userId, a, 7)
  await new Promise((resolve) => setTimeout(resolve, 5))
  await carts.add(buyer.userId, b, 2)
  const { order } = await orders.checkout(buyer)
  t.same(order.items.map((line) => line.productId), [c, a, b], 'lines in the cart\'s order')
  t.equal(order.totalCents, 7 * 5 + 2 * 100_000_007)
  const [mail] = await outbox.claimDue(10, Date.now() + 60_000)
  t.equal(mail?.subject, `Order #${order.id} confirmed`)
  t.equal(mail?.text, confirmationText(order))
  t.same(await orders.find(order.id), order)
})

eachStore(t, 'checkouts whose carts hold the same products in opposite orders all complete', async (t, store) => {
  const { carts, orders, customer, product, stockOf } = await shop(store, 'EUR')
  const ids = [await product(1000, 100), await product(1000, 200), await product(1000, 300)]
  const buyers = []
  for (let i = 0; i < 30; i++) {
    const buyer = await customer()
    for (const id of i % 2 ? [...ids].reverse() : ids) await carts.add(buyer.userId, id, 1)
    buyers.push(buyer)
  }
  // A deadlock would show as 40P01 for some of them.
  const outcomes = await Promise.all(buyers.map((buyer) => orders.checkout(buyer).then(() => 'ordered', (error: Error & { code?: string }) => error.code ?? error.message)))
  t.same(outcomes, buyers.map(() => 'ordered'))
  for (const id of ids) t.equal(await stockOf(id), 970)
})

eachStore(t, 'a refused cart write leaves the line as it was', async (t, store) => {
  const { carts, customer, product } = await shop(store, 'EUR')
  const { userId } = await customer()
  const id = await product(5, 100)
  await carts.add(userId, id, 4)
  const code = async (promise: Promise<unknown>) => promise.then(() => undefined, (error: { code?: string }) => error.code)
  t.equal(await code(carts.add(userId, id, 2)), 'INSUFFICIENT_STOCK')
  t.equal(await code(carts.set(userId, id, 6)), 'INSUFFICIENT_STOCK')
  t.equal(await code(carts.add(userId, 999_999_999, 1)), 'PRODUCT_NOT_FOUND')
  t.same((await carts.lines(userId)).map((line) => line.quantity), [4])
  await carts.set(userId, id, 1)
  t.same((await carts.lines(userId)).map((line) => line.quantity), [1])
})
