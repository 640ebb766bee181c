import { eq } from 'drizzle-orm'
import { schema } from '../src/db/index.js'
import type { App } from './helper.js'

let counter = 0

/** Inserts a product straight into the catalogue table. */
export function insertProduct (app: App, values: { name?: string, priceCents?: number, stock?: number } = {}) {
  return app.db.insert(schema.products).values({
    name: values.name ?? `Product ${++counter}`,
    priceCents: values.priceCents ?? 1000,
    stock: values.stock ?? 100
  }).returning().get()
}

export function stockOf (app: App, productId: number): number | undefined {
  return app.db.select({ stock: schema.products.stock }).from(schema.products).where(eq(schema.products.id, productId)).get()?.stock
}

export const countRows = (app: App, table: 'orders' | 'order_items' | 'mail_outbox' | 'cart_items') =>
  app.sqlite.prepare(`SELECT count(*) FROM ${table}`).pluck().get() as number
