import type { App, TestUser } from './helper.js'
import { type Product } from '../src/store/catalogue.js'

// Products are made through the catalogue's repository, so the cart and order tests
// do not depend on the catalogue routes, and run on either store.

let counter = 0

export async function insertProduct (app: App, values: { name?: string, priceCents?: number, stock?: number } = {}): Promise<Product> {
  const created = await app.repos.catalogue.createProduct({
    name: values.name ?? `Product ${++counter}`,
    priceCents: values.priceCents ?? 1000,
    stock: values.stock ?? 100
  })
  if (!created.ok) throw new Error(created.reason)
  return created.product
}

export async function deleteProduct (app: App, productId: number): Promise<void> {
  await app.repos.catalogue.deleteProduct(productId)
}

export async function setPrice (app: App, productId: number, values: { priceCents: number, name?: string }): Promise<void> {
  await app.repos.catalogue.updateProduct(productId, values)
}

export async function setStock (app: App, productId: number, stock: number): Promise<void> {
  await app.repos.catalogue.updateProduct(productId, { stock })
}

export async function stockOf (app: App, productId: number): Promise<number | undefined> {
  return (await app.repos.catalogue.findProduct(productId))?.stock
}

/** Rows of a plain SQL query, on whichever store the app runs (PostgreSQL gives 64-bit integers as strings). */
export async function queryRows (app: App, sql: string): Promise<unknown[]> {
  const { store } = app
  return store.dialect === 'sqlite' ? store.db.$client.prepare(sql).all() : (await store.db.$client.query(sql)).rows
}

export type CommerceTable = 'orders' | 'order_items' | 'mail_outbox' | 'cart_items' | 'products'

export const countRows = async (app: App, table: CommerceTable) =>
  ((await queryRows(app, `SELECT CAST(count(*) AS INTEGER) AS n FROM ${table}`))[0] as { n: number }).n

/**
 * Every row of the tables a cart or checkout can touch, in a stable order: two
 * equal snapshots mean a request changed nothing there.
 */
export async function snapshot (app: App) {
  const all = (sql: string) => queryRows(app, sql)
  return {
    products: await all('SELECT id, name, price_cents, stock FROM products ORDER BY id'),
    cartItems: await all('SELECT user_id, product_id, quantity, created_at FROM cart_items ORDER BY user_id, product_id'),
    orders: await all('SELECT * FROM orders ORDER BY id'),
    orderItems: await all('SELECT * FROM order_items ORDER BY id'),
    mailOutbox: await all('SELECT id, recipient, subject, body FROM mail_outbox ORDER BY id')
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

/** The standard 4xx body of docs/API.md. */
export const errorBody = (statusCode: number, code: string, message: string) => ({
  statusCode,
  code,
  error: ({ 400: 'Bad Request', 401: 'Unauthorized', 403: 'Forbidden', 404: 'Not Found', 409: 'Conflict' } as Record<number, string>)[statusCode],
  message
})
