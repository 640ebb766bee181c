import { and, desc, eq, inArray, lt, sql } from 'drizzle-orm'
import { schema, type SqliteDb } from '../../db/index.js'
import { errors } from '../../errors.js'
import { enqueueMail } from './outbox.js'
import { columnsOf } from '../columns.js'
import { ORDER_COLUMNS, confirmationText, NEXT_STATUS, type CheckoutInput, type Order, type OrderRepository } from '../orders.js'

const { orders, orderItems, cartItems, products } = schema

// Every write is one synchronous IMMEDIATE transaction: it holds SQLite's write lock
// from its first statement, so checkouts from any number of processes run one at a time.
export function createSqliteOrderRepository (db: SqliteDb): OrderRepository {
  const orderColumns = columnsOf(orders, ORDER_COLUMNS)
  const orderById = db.select(orderColumns).from(orders).where(eq(orders.id, sql.placeholder('id'))).prepare()
  const linesOf = db.select({
    productId: orderItems.productId, name: orderItems.name, priceCents: orderItems.priceCents, quantity: orderItems.quantity
  }).from(orderItems).where(eq(orderItems.orderId, sql.placeholder('orderId'))).orderBy(orderItems.id).prepare()
  const byIdempotencyKey = db.select({ id: orders.id }).from(orders)
    .where(and(eq(orders.userId, sql.placeholder('userId')), eq(orders.idempotencyKey, sql.placeholder('key')))).prepare()
  const cartOf = db.select({
    productId: cartItems.productId, name: products.name, priceCents: products.priceCents, quantity: cartItems.quantity
  }).from(cartItems).innerJoin(products, eq(products.id, cartItems.productId))
    .where(eq(cartItems.userId, sql.placeholder('userId'))).orderBy(cartItems.createdAt, cartItems.productId).prepare()
  const takeStock = db.update(products).set({ stock: sql`${products.stock} - ${sql.placeholder('quantity')}` })
    .where(and(eq(products.id, sql.placeholder('productId')), sql`${products.stock} >= ${sql.placeholder('quantity')}`)).prepare()
  const returnStock = db.update(products).set({ stock: sql`${products.stock} + ${sql.placeholder('quantity')}` })
    .where(eq(products.id, sql.placeholder('productId'))).prepare()

  // The checkout's writes as raw prepared statements inside one better-sqlite3 transaction
  // made once: drizzle would build and prepare each of them again on every order.
  const sqlite = db.$client
  const insertOrder = sqlite.prepare<[number, number, string, string, string | null, string], Omit<Order, 'items'>>(
    `INSERT INTO orders (user_id, status, total_cents, currency, shipping_address, idempotency_key, created_at)
     VALUES (?, 'placed', ?, ?, ?, ?, ?)
     RETURNING id, user_id AS userId, status, total_cents AS totalCents, currency, shipping_address AS shippingAddress, created_at AS createdAt`)
  const insertLine = sqlite.prepare<[number, number, string, number, number]>(
    'INSERT INTO order_items (order_id, product_id, name, price_cents, quantity) VALUES (?, ?, ?, ?, ?)')
  const emptyCart = sqlite.prepare<[number]>('DELETE FROM cart_items WHERE user_id = ?')
  const checkoutTransaction = sqlite.transaction((input: CheckoutInput): { order: Order, created: boolean } => {
    if (input.idempotencyKey !== undefined) {
      const earlier = byIdempotencyKey.get({ userId: input.userId, key: input.idempotencyKey })
      const order = earlier && find(earlier.id)
      if (order) return { order, created: false }
    }
    const lines = cartOf.all({ userId: input.userId })
    if (lines.length === 0) throw new errors.CART_EMPTY()
    for (const line of lines) {
      // Throwing rolls the whole transaction back, stock taken so far included.
      if (takeStock.run({ productId: line.productId, quantity: line.quantity }).changes !== 1) {
        throw new errors.INSUFFICIENT_STOCK(String(line.productId))
      }
    }
    const totalCents = lines.reduce((sum, line) => sum + line.priceCents * line.quantity, 0)
    const row = insertOrder.get(input.userId, totalCents, input.currency, input.shippingAddress, input.idempotencyKey ?? null, new Date().toISOString())!
    for (const line of lines) insertLine.run(row.id, line.productId, line.name, line.priceCents, line.quantity)
    emptyCart.run(input.userId)
    const order: Order = { ...row, items: lines }
    enqueueMail(db, { to: input.email, subject: `Order #${order.id} confirmed`, text: confirmationText(order) })
    return { order, created: true }
  })

  function find (id: number): Order | undefined {
    const row = orderById.get({ id })
    return row && { ...row, items: linesOf.all({ orderId: id }) }
  }

  return {
    async find (id) {
      return find(id)
    },

    async checkout (input) {
      return checkoutTransaction.immediate(input)
    },

    async list (query) {
      const rows = db.select(orderColumns).from(orders).where(and(
        query.userId === undefined ? undefined : eq(orders.userId, query.userId),
        query.beforeId === undefined ? undefined : lt(orders.id, query.beforeId)
      )).orderBy(desc(orders.id)).limit(query.limit).all()
      if (rows.length === 0) return []
      const lines = db.select().from(orderItems).where(inArray(orderItems.orderId, rows.map((row) => row.id))).orderBy(orderItems.id).all()
      return rows.map((row) => ({
        ...row,
        items: lines.filter((line) => line.orderId === row.id)
          .map(({ productId, name, priceCents, quantity }) => ({ productId, name, priceCents, quantity }))
      }))
    },

    async cancel (id) {
      return db.transaction(() => {
        const cancelled = db.update(orders).set({ status: 'cancelled' })
          .where(and(eq(orders.id, id), eq(orders.status, 'placed'))).run()
        if (cancelled.changes !== 1) throw new errors.ORDER_NOT_CANCELLABLE()
        const order = find(id) as Order
        for (const line of order.items) returnStock.run({ productId: line.productId, quantity: line.quantity })
        return order
      }, { behavior: 'immediate' })
    },

    async moveTo (id, status) {
      return db.transaction(() => {
        const order = find(id)
        if (!order) return undefined
        if (NEXT_STATUS[order.status] !== status) throw new errors.INVALID_STATUS_TRANSITION(order.status, status)
        db.update(orders).set({ status }).where(eq(orders.id, id)).run()
        return { ...order, status }
      }, { behavior: 'immediate' })
    }
  }
}
