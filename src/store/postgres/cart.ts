import { and, asc, eq, sql } from 'drizzle-orm'
import { driverErrorCode, PG_FOREIGN_KEY_VIOLATION, type PgDb } from '../../db/index.js'
import { cartItems, products } from '../../db/schema.pg.js'
import { errors } from '../../errors.js'
import { columnsOf } from '../columns.js'
import { CART_LINE_COLUMNS, CART_PRODUCT_COLUMNS, MAX_LINE_QUANTITY, type CartRepository } from '../cart.js'
import { CART_LINE_OVER_LIMIT, CART_NO_SUCH_PRODUCT, CHECKOUT_INSUFFICIENT_STOCK } from './orders.js'

export function createPostgresCartRepository (db: PgDb): CartRepository {
  const linesOf = db.select({ ...columnsOf(cartItems, CART_LINE_COLUMNS), ...columnsOf(products, CART_PRODUCT_COLUMNS) }).from(cartItems).innerJoin(products, eq(products.id, cartItems.productId))
    .where(eq(cartItems.userId, sql.placeholder('userId')))
    .orderBy(asc(cartItems.createdAt), asc(cartItems.productId)).prepare('cart_lines')

  /**
   * Writes the line and checks the result against the limit and today's stock in one
   * statement (shop_cart_write, migration 0001), so two instances adding at once both
   * count; a failed check raises inside it and so undoes the write.
   */
  const pool = db.$client
  async function writeLine (userId: number, productId: number, quantity: number, mode: 'add' | 'set') {
    try {
      await pool.query({
        name: 'shop_cart_write',
        text: 'SELECT shop_cart_write($1, $2, $3, $4, $5, $6)',
        values: [userId, productId, quantity, mode === 'add', MAX_LINE_QUANTITY, new Date().toISOString()],
        rowMode: 'array'
      })
    } catch (error) {
      switch (driverErrorCode(error)) {
        // No such product, or it was deleted between the look-up and the write.
        case CART_NO_SUCH_PRODUCT: case PG_FOREIGN_KEY_VIOLATION: throw new errors.PRODUCT_NOT_FOUND()
        case CART_LINE_OVER_LIMIT: throw new errors.VALIDATION_ERROR(`a cart line holds at most ${MAX_LINE_QUANTITY}; this one would hold ${String((error as { detail?: string }).detail)}`)
        case CHECKOUT_INSUFFICIENT_STOCK: throw new errors.INSUFFICIENT_STOCK(String(productId))
        default: throw error
      }
    }
  }

  return {
    async lines (userId) {
      return linesOf.execute({ userId })
    },

    add: (userId, productId, quantity) => writeLine(userId, productId, quantity, 'add'),

    set: (userId, productId, quantity) => writeLine(userId, productId, quantity, 'set'),

    async remove (userId, productId) {
      return ((await db.delete(cartItems).where(and(eq(cartItems.userId, userId), eq(cartItems.productId, productId)))).rowCount ?? 0) === 1
    },

    async clear (userId) {
      await db.delete(cartItems).where(eq(cartItems.userId, userId))
    }
  }
}
