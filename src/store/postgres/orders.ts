import { and, asc, desc, eq, inArray, lt, sql } from 'drizzle-orm'
import { driverErrorCode, PG_UNIQUE_VIOLATION, type PgDb, type PgExecutor } from '../../db/index.js'
import { orders, orderItems, products } from '../../db/schema.pg.js'
import { errors } from '../../errors.js'
import { columnsOf } from '../columns.js'
import { ORDER_COLUMNS, ORDER_LINE_COLUMNS, NEXT_STATUS, type Order, type OrderRepository } from '../orders.js'

const lineColumns = columnsOf(orderItems, ORDER_LINE_COLUMNS)
const orderColumns = columnsOf(orders, ORDER_COLUMNS)

// SQLSTATEs raised by shop_checkout and shop_cart_write (src/db/migrations-pg/0001_checkout_functions.sql).
export const CHECKOUT_CART_EMPTY = 'SH001'
export const CHECKOUT_INSUFFICIENT_STOCK = 'SH002'
export const CART_NO_SUCH_PRODUCT = 'SH003'
export const CART_LINE_OVER_LIMIT = 'SH004'

// READ COMMITTED transactions whose races the database settles: stock is taken by
// conditional updates (a second instance waits on the row lock, then re-checks the
// condition against the committed stock), rows are locked in one order (product id)
// so checkouts never deadlock, and idempotency keys are a unique index.
export function createPostgresOrderRepository (db: PgDb): OrderRepository {
  const pool = db.$client
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
      const now = Date.now()
      try {
        // One statement, one round trip, its own transaction: shop_checkout (migration
        // 0001) looks the key up, takes the cart, takes stock in product-id order, writes
        // the order, its lines and the confirmation e-mail, or raises and undoes it all.
        const { rows } = await pool.query<[Order & { created: boolean }]>({
          name: 'shop_checkout',
          text: 'SELECT shop_checkout($1, $2, $3, $4, $5, $6, $7)',
          values: [input.userId, input.currency, input.shippingAddress, key ?? null, input.email, new Date(now).toISOString(), now],
          rowMode: 'array'
        })
        const { created, ...order } = rows[0]![0]
        return { order, created }
      } catch (error) {
        const code = driverErrorCode(error)
        if (code === CHECKOUT_CART_EMPTY) throw new errors.CART_EMPTY()
        if (code === CHECKOUT_INSUFFICIENT_STOCK) throw new errors.INSUFFICIENT_STOCK(String((error as { detail?: string }).detail))
        // The same key committed by a concurrent checkout (this instance or another) first:
        // the unique index refused this one's order, everything it did was undone, and it
        // answers with that order.
        if (key !== undefined && code === PG_UNIQUE_VIOLATION) {
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
        if (cancelled.length !== 1) throw new errors.ORDER_NOT_CANCELLABLE()
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
      if (NEXT_STATUS[order.status] !== status) throw new errors.INVALID_STATUS_TRANSITION(order.status, status)
      // Conditional on the status just read: a concurrent move makes this one a conflict.
      const moved = await db.update(orders).set({ status }).where(and(eq(orders.id, id), eq(orders.status, order.status))).returning({ id: orders.id })
      if (moved.length !== 1) {
        const now = await find(db, id)
        if (!now) return undefined
        throw new errors.INVALID_STATUS_TRANSITION(now.status, status)
      }
      return { ...order, status }
    }
  }
}
