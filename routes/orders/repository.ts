import { and, desc, eq, inArray, lt, sql } from 'drizzle-orm'
import { schema, type Db } from '../../src/db/index.js'
import { errors } from '../../src/errors.js'
import { enqueueMail } from '../../src/mail/outbox.js'

const { orders, orderItems, cartItems, products } = schema

export type OrderStatus = 'placed' | 'shipped' | 'delivered' | 'cancelled'

export interface OrderLine {
  productId: number
  name: string
  priceCents: number
  quantity: number
}

export interface Order {
  id: number
  userId: number
  status: OrderStatus
  totalCents: number
  currency: string
  shippingAddress: string
  createdAt: string
  items: OrderLine[]
}

// The only moves an admin may make; cancelling has its own route and returns stock.
const NEXT_STATUS: Partial<Record<OrderStatus, OrderStatus>> = { placed: 'shipped', shipped: 'delivered' }

/** "59.97 USD" from 5997: integer arithmetic, no float rounding. */
export const formatMoney = (cents: number, currency: string) =>
  `${Math.floor(cents / 100)}.${String(cents % 100).padStart(2, '0')} ${currency}`

function confirmationText (order: Order): string {
  return [
    `Thank you for your order #${order.id}.`,
    '',
    ...order.items.map((line) => `${line.quantity} × ${line.name} at ${formatMoney(line.priceCents, order.currency)}` +
      ` = ${formatMoney(line.priceCents * line.quantity, order.currency)}`),
    '',
    `Total: ${formatMoney(order.totalCents, order.currency)}`,
    `Shipping to: ${order.shippingAddress}`
  ].join('\n')
}

export function createOrderRepository (db: Db) {
  const orderById = db.select().from(orders).where(eq(orders.id, sql.placeholder('id'))).prepare()
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

  function find (id: number): Order | undefined {
    const row = orderById.get({ id })
    return row && { ...row, items: linesOf.all({ orderId: id }) }
  }

  return {
    find,

    /**
     * Checkout, all or nothing, in one synchronous transaction: the same
     * Idempotency-Key from the same user returns the first order; otherwise stock
     * is taken with conditional updates (no oversell under any concurrency),
     * the order and its lines are written at today's names and prices, the cart
     * is emptied and the confirmation e-mail queued.
     */
    checkout (input: { userId: number, email: string, shippingAddress: string, currency: string, idempotencyKey?: string }): { order: Order, created: boolean } {
      return db.transaction(() => {
        if (input.idempotencyKey !== undefined) {
          const earlier = byIdempotencyKey.get({ userId: input.userId, key: input.idempotencyKey })
          const order = earlier && find(earlier.id)
          if (order) return { order, created: false }
        }
        const lines = cartOf.all({ userId: input.userId })
        if (lines.length === 0) throw new errors.CartEmpty()
        for (const line of lines) {
          // Throwing rolls the whole transaction back, stock taken so far included.
          if (takeStock.run({ productId: line.productId, quantity: line.quantity }).changes !== 1) {
            throw new errors.InsufficientStock(String(line.productId))
          }
        }
        const row = db.insert(orders).values({
          userId: input.userId,
          totalCents: lines.reduce((sum, line) => sum + line.priceCents * line.quantity, 0),
          currency: input.currency,
          shippingAddress: input.shippingAddress,
          idempotencyKey: input.idempotencyKey ?? null
        }).returning().get()
        db.insert(orderItems).values(lines.map((line) => ({ orderId: row.id, ...line }))).run()
        db.delete(cartItems).where(eq(cartItems.userId, input.userId)).run()
        const order: Order = { ...row, items: lines }
        enqueueMail(db, { to: input.email, subject: `Order #${order.id} confirmed`, text: confirmationText(order) })
        return { order, created: true }
      }, { behavior: 'immediate' })
    },

    /** Newest first (ids grow with time, also within one second). */
    list (query: { userId?: number, beforeId?: number, limit: number }): Order[] {
      const rows = db.select().from(orders).where(and(
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

    /** Cancels a placed order and gives its stock back, in one transaction. */
    cancel (id: number): Order {
      return db.transaction(() => {
        const cancelled = db.update(orders).set({ status: 'cancelled' })
          .where(and(eq(orders.id, id), eq(orders.status, 'placed'))).run()
        if (cancelled.changes !== 1) throw new errors.OrderNotCancellable()
        const order = find(id) as Order
        for (const line of order.items) returnStock.run({ productId: line.productId, quantity: line.quantity })
        return order
      }, { behavior: 'immediate' })
    },

    /** placed → shipped → delivered, nothing else. */
    moveTo (id: number, status: OrderStatus): Order | undefined {
      return db.transaction(() => {
        const order = find(id)
        if (!order) return undefined
        if (NEXT_STATUS[order.status] !== status) throw new errors.InvalidStatusTransition(order.status, status)
        db.update(orders).set({ status }).where(eq(orders.id, id)).run()
        return { ...order, status }
      }, { behavior: 'immediate' })
    }
  }
}

export type OrderRepository = ReturnType<typeof createOrderRepository>
