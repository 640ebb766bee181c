import { and, asc, eq, sql } from 'drizzle-orm'
import { schema, type SqliteDb } from '../../db/index.js'
import { errors } from '../../errors.js'
import { columnsOf } from '../columns.js'
import { CART_LINE_COLUMNS, CART_PRODUCT_COLUMNS, MAX_LINE_QUANTITY, type CartRepository } from '../cart.js'

const { cartItems, products } = schema

export function createSqliteCartRepository (db: SqliteDb): CartRepository {
  const linesOf = db.select({ ...columnsOf(cartItems, CART_LINE_COLUMNS), ...columnsOf(products, CART_PRODUCT_COLUMNS) }).from(cartItems).innerJoin(products, eq(products.id, cartItems.productId))
    .where(eq(cartItems.userId, sql.placeholder('userId')))
    .orderBy(asc(cartItems.createdAt), asc(cartItems.productId)).prepare()

  const stockOf = db.select({ stock: products.stock }).from(products)
    .where(eq(products.id, sql.placeholder('productId'))).prepare()
  const quantityOf = db.select({ quantity: cartItems.quantity }).from(cartItems)
    .where(and(eq(cartItems.userId, sql.placeholder('userId')), eq(cartItems.productId, sql.placeholder('productId')))).prepare()

  // Written on every add: prepared once (drizzle would build and prepare it per call).
  const upsertLine = db.$client.prepare<[number, number, number, string]>(
    `INSERT INTO cart_items (user_id, product_id, quantity, created_at) VALUES (?, ?, ?, ?)
     ON CONFLICT (user_id, product_id) DO UPDATE SET quantity = excluded.quantity`)

  /** Sets a line to `quantity` after checking the product exists and has that much stock now. */
  function setLine (userId: number, productId: number, quantity: number): void {
    const product = stockOf.get({ productId })
    if (!product) throw new errors.PRODUCT_NOT_FOUND()
    if (quantity > product.stock) throw new errors.INSUFFICIENT_STOCK(String(productId))
    upsertLine.run(userId, productId, quantity, new Date().toISOString())
  }
  const addTransaction = db.$client.transaction((userId: number, productId: number, quantity: number) => {
    const current = quantityOf.get({ userId, productId })?.quantity ?? 0
    const total = current + quantity
    if (total > MAX_LINE_QUANTITY) {
      throw new errors.VALIDATION_ERROR(`a cart line holds at most ${MAX_LINE_QUANTITY}; this one would hold ${total}`)
    }
    setLine(userId, productId, total)
  })
  const setTransaction = db.$client.transaction(setLine)

  return {
    async lines (userId) {
      return linesOf.all({ userId })
    },

    async add (userId, productId, quantity) {
      addTransaction.immediate(userId, productId, quantity)
    },

    async set (userId, productId, quantity) {
      setTransaction.immediate(userId, productId, quantity)
    },

    async remove (userId, productId) {
      return db.delete(cartItems).where(and(eq(cartItems.userId, userId), eq(cartItems.productId, productId))).run().changes === 1
    },

    async clear (userId) {
      db.delete(cartItems).where(eq(cartItems.userId, userId)).run()
    }
  }
}
