import { eq } from 'drizzle-orm'
import { schema } from '../src/db/index.js'
import type { App, TestUser } from './helper.js'

// Products go straight into the table, so the cart and order tests do not
// depend on the catalogue routes.

let counter = 0

/** Inserts a product straight into the catalogue table. */
export function insertProduct (app: App, values: { name?: string, priceCents?: number, stock?: number } = {}) {
  return app.db.insert(schema.products).values({
    name: values.name ?? `Product ${++counter}`,
    priceCents: values.priceCents ?? 1000,
    stock: values.stock ?? 100
  }).returning().get()
}

export function deleteProduct (app: App, productId: number): void {
  app.db.delete(schema.products).where(eq(schema.products.id, productId)).run()
}

export function setPrice (app: App, productId: number, values: { priceCents: number, name?: string }): void {
  app.db.update(schema.products).set(values).where(eq(schema.products.id, productId)).run()
}

export function setStock (app: App, productId: number, stock: number): void {
  app.db.update(schema.products).set({ stock }).where(eq(schema.products.id, productId)).run()
}

export function stockOf (app: App, productId: number): number | undefined {
  return app.db.select({ stock: schema.products.stock }).from(schema.products).where(eq(schema.products.id, productId)).get()?.stock
}

export type CommerceTable = 'orders' | 'order_items' | 'mail_outbox' | 'cart_items' | 'products'

export const countRows = (app: App, table: CommerceTable) =>
  app.sqlite.prepare(`SELECT count(*) FROM ${table}`).pluck().get() as number

/**
 * Every row of the tables a cart or checkout can touch, in a stable order: two
 * equal snapshots mean a request changed nothing there.
 */
export function snapshot (app: App) {
  const all = (sql: string) => app.sqlite.prepare(sql).all()
  return {
    products: all('SELECT id, name, price_cents, stock FROM products ORDER BY id'),
    cartItems: all('SELECT user_id, product_id, quantity, created_at FROM cart_items ORDER BY user_id, product_id'),
    orders: all('SELECT * FROM orders ORDER BY id'),
    orderItems: all('SELECT * FROM order_items ORDER BY id'),
    mailOutbox: all('SELECT id, recipient, subject, body FROM mail_outbox ORDER BY id')
  }
}

export const addToCart = (user: TestUser, productId: number, quantity: number) =>
  user.inject({ method: 'POST', url: '/cart/items', payload: { product_id: productId, quantity } })

export const SHIPPING = { shipping_address: '1 Main St, Springfield' }

/** Fills the user's cart with the given lines and checks out; fails the test on anything but 201. */
export async function placeOrder (user: TestUser, lines: Array<[productId: number, quantity: number]>, headers: Record<string, string> = {}) {
  for (const [productId, quantity] of lines) {
    const res = await addToCart(user, productId, quantity)
    if (res.statusCode !== 200) throw new Error(`add to cart: ${res.statusCode} ${res.body}`)
  }
  const res = await user.inject({ method: 'POST', url: '/orders', payload: SHIPPING, headers })
  if (res.statusCode !== 201) throw new Error(`checkout: ${res.statusCode} ${res.body}`)
  return res.json<OrderBody>()
}

export interface OrderBody {
  id: number
  user_id: number
  status: 'placed' | 'shipped' | 'delivered' | 'cancelled'
  items: Array<{ product_id: number, name: string, price_cents: number, quantity: number }>
  total_cents: number
  currency: string
  shipping_address: string
  created_at: string
}

/** The standard 4xx body of API.md. */
export const errorBody = (statusCode: number, code: string, message: string) => ({
  statusCode,
  code,
  error: ({ 400: 'Bad Request', 401: 'Unauthorized', 403: 'Forbidden', 404: 'Not Found', 409: 'Conflict' } as Record<number, string>)[statusCode],
  message
})
