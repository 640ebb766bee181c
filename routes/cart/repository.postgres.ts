import { and, asc, eq, sql } from 'drizzle-orm'
import { driverErrorCode, PG_FOREIGN_KEY_VIOLATION, type PgDb } from '../../src/db/index.js'
import { cartItems, products } from '../../src/db/schema.pg.js'
import { errors } from '../../src/errors.js'
import { MAX_LINE_QUANTITY, type CartRepository } from './repository.js'


export function createPostgresCartRepository (db: PgDb): CartRepository {
  const linesOf = db.select({
    productId: cartItems.productId,
    name: products.name,
    priceCents: products.priceCents,
    quantity: cartItems.quantity,
    stock: products.stock
  }).from(cartItems).innerJoin(products, eq(products.id, cartItems.productId))
    .where(eq(cartItems.userId, sql.placeholder('userId')))
    .orderBy(asc(cartItems.createdAt), asc(cartItems.productId)).prepare('cart_lines')

  /**
   * Writes the line in one statement (so two instances adding at once both count) and
   * checks the result against the limit and today's stock; a failed check rolls it back.
   */
  async function writeLine (userId: number, productId: number, quantity: number, mode: 'add' | 'set') {
    try {
      await db.transaction(async (tx) => {
        const [product] = await tx.select({ stock: products.stock }).from(products).where(eq(products.id, productId))
        if (!product) throw new errors.ProductNotFound()
        const [line] = await tx.insert(cartItems).values({ userId, productId, quantity })
          .onConflictDoUpdate({
            target: [cartItems.userId, cartItems.productId],
            set: { quantity: mode === 'add' ? sql`${cartItems.quantity} + ${quantity}::int` : quantity }
          }).returning({ quantity: cartItems.quantity })
        const total = line?.quantity ?? quantity
        if (total > MAX_LINE_QUANTITY) {
          throw new errors.ValidationFailed(`a cart line holds at most ${MAX_LINE_QUANTITY}; this one would hold ${total}`)
        }
        if (total > product.stock) throw new errors.InsufficientStock(String(productId))
      })
    } catch (error) {
      // The product was deleted between the look-up and the write.
      if (driverErrorCode(error) === PG_FOREIGN_KEY_VIOLATION) throw new errors.ProductNotFound()
      throw error
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
