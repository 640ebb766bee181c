import { and, asc, desc, eq, gte, inArray, lt, sql } from 'drizzle-orm'
import { driverErrorCode, PG_UNIQUE_VIOLATION, type PgDb, type PgExecutor } from '../../src/db/index.js'
import { orders, orderItems, cartItems, products } from '../../src/db/schema.pg.js'
import { errors } from '../../src/errors.js'
import { enqueueMail } from '../../src/mail/outbox.postgres.js'
import { confirmationText, NEXT_STATUS, type Order, type OrderLine, type OrderRepository } from './repository.js'


const lineColumns = { productId: orderItems.productId, name: orderItems.name, priceCents: orderItems.priceCents, quantity: orderItems.quantity }
const orderColumns = {
  id: orders.id,
  userId: orders.userId,
  status: orders.status,
  totalCents: orders.totalCents,
  currency: orders.currency,
  shippingAddress: orders.shippingAddress,
  createdAt: orders.createdAt
}

// READ COMMITTED transactions whose races the database settles: stock is taken by
// conditional updates (a second instance waits on the row lock, then re-checks the
// condition against the committed stock), rows are locked in one order (product id)
// so checkouts never deadlock, and idempotency keys are a unique index.
export function createPostgresOrderRepository (db: PgDb): OrderRepository {
  async function find (executor: PgExecutor, id: number): Promise<Order | undefined> {
    const [row] = await executor.select(orderColumns).from(orders).where(eq(orders.id, id))
    return row && { ...row, items: await executor.select(lineColumns).from(orderItems).where(eq(orderItems.orderId, id)).orderBy(asc(orderItems.id)) }
  }

  async function earlierOrder (executor: PgExecutor, userId: number, key: string) {
    const [earlier] = await executor.select({ id: orders.id }).from(orders)
      .where(and(eq(orders.userId, userId), eq(orders.idempotencyKey, key)))
    return earlier && find(executor, earlier.id)
  }

  return {
    find: (id) => find(db, id),

    async checkout (input) {
      const key = input.idempotencyKey
      try {
        return await db.transaction(async (tx) => {
          if (key !== undefined) {
            const order = await earlierOrder(tx, input.userId, key)
            if (order) return { order, created: false }
          }
          // Deleting first takes exactly the lines this order is made of: a line added
          // meanwhile (another tab, another instance) stays in the cart.
          const taken = await tx.delete(cartItems).where(eq(cartItems.userId, input.userId))
            .returning({ productId: cartItems.productId, quantity: cartItems.quantity, createdAt: cartItems.createdAt })
          if (taken.length === 0) throw new errors.CartEmpty()
          const priced = new Map<number, { name: string, priceCents: number }>()
          for (const line of [...taken].sort((a, b) => a.productId - b.productId)) {
            // Throwing rolls the whole transaction back: stock taken so far and the cart.
            const [product] = await tx.update(products).set({ stock: sql`${products.stock} - ${line.quantity}::int` })
              .where(and(eq(products.id, line.productId), gte(products.stock, line.quantity)))
              .returning({ name: products.name, priceCents: products.priceCents })
            if (!product) throw new errors.InsufficientStock(String(line.productId))
            priced.set(line.productId, product)
          }
          const lines: OrderLine[] = taken
            .sort((a, b) => a.createdAt.localeCompare(b.createdAt) || a.productId - b.productId)
            .map((line) => ({ productId: line.productId, quantity: line.quantity, ...priced.get(line.productId)! }))
          const [row] = await tx.insert(orders).values({
            userId: input.userId,
            totalCents: lines.reduce((sum, line) => sum + line.priceCents * line.quantity, 0),
            currency: input.currency,
            shippingAddress: input.shippingAddress,
            idempotencyKey: key ?? null
          }).returning(orderColumns)
          if (!row) throw new Error('INSERT … RETURNING gave no row')
          await tx.insert(orderItems).values(lines.map((line) => ({ orderId: row.id, ...line })))
          const order: Order = { ...row, items: lines }
          await enqueueMail(tx, { to: input.email, subject: `Order #${order.id} confirmed`, text: confirmationText(order) })
          return { order, created: true }
        })
      } catch (error) {
        // The same key committed by a concurrent checkout (this instance or another) first:
        // this one rolled back, stock and cart included, and answers with that order. It
        // shows as the key's unique index refusing the insert or, when the other took the
        // cart first, as an empty cart.
        if (key !== undefined && (driverErrorCode(error) === PG_UNIQUE_VIOLATION || error instanceof errors.CartEmpty)) {
          const order = await earlierOrder(db, input.userId, key)
          if (order) return { order, created: false }
        }
        throw error
      }
    },

    async list (query) {
      const rows = await db.select(orderColumns).from(orders).where(and(
        query.userId === undefined ? undefined : eq(orders.userId, query.userId),
        query.beforeId === undefined ? undefined : lt(orders.id, query.beforeId)
      )).orderBy(desc(orders.id)).limit(query.limit)
      if (rows.length === 0) return []
      const lines = await db.select({ orderId: orderItems.orderId, ...lineColumns }).from(orderItems)
        .where(inArray(orderItems.orderId, rows.map((row) => row.id))).orderBy(asc(orderItems.id))
      return rows.map((row) => ({
        ...row,
        items: lines.filter((line) => line.orderId === row.id)
          .map(({ productId, name, priceCents, quantity }) => ({ productId, name, priceCents, quantity }))
      }))
    },

    cancel (id) {
      return db.transaction(async (tx) => {
        // Conditional: of two cancels at once, one returns the stock.
        const cancelled = await tx.update(orders).set({ status: 'cancelled' })
          .where(and(eq(orders.id, id), eq(orders.status, 'placed'))).returning({ id: orders.id })
        if (cancelled.length !== 1) throw new errors.OrderNotCancellable()
        const order = await find(tx, id) as Order
        for (const line of [...order.items].sort((a, b) => a.productId - b.productId)) {
          await tx.update(products).set({ stock: sql`${products.stock} + ${line.quantity}::int` }).where(eq(products.id, line.productId))
        }
        return order
      })
    },

    async moveTo (id, status) {
      const order = await find(db, id)
      if (!order) return undefined
      if (NEXT_STATUS[order.status] !== status) throw new errors.InvalidStatusTransition(order.status, status)
      // Conditional on the status just read: a concurrent move makes this one a conflict.
      const moved = await db.update(orders).set({ status }).where(and(eq(orders.id, id), eq(orders.status, order.status))).returning({ id: orders.id })
      if (moved.length !== 1) {
        const now = await find(db, id)
        if (!now) return undefined
        throw new errors.InvalidStatusTransition(now.status, status)
      }
      return { ...order, status }
    }
  }
}
