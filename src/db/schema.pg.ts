import { sql } from 'drizzle-orm'
import { pgTable, integer, bigint, text, boolean, index, uniqueIndex, primaryKey } from 'drizzle-orm/pg-core'

// The same tables as schema.ts (SQLite), column for column, so both stores give the
// API the same values: timestamps stay ISO-8601 text. Ids, Unix milliseconds and totals
// are 64-bit like SQLite's integers (the API accepts 15-digit ids; an int4 column would
// answer a large one with an out-of-range error instead of "not found"); JavaScript
// numbers hold them exactly.
const createdAt = () => text('created_at').notNull().$defaultFn(() => new Date().toISOString())
const int64 = (name: string) => bigint(name, { mode: 'number' })
const id = () => int64('id').primaryKey().generatedByDefaultAsIdentity()
const unixMs = int64

export const users = pgTable('users', {
  id: id(),
  email: text('email').notNull().unique(),
  fullName: text('full_name'),
  role: text('role', { enum: ['customer', 'admin'] }).notNull().default('customer'),
  disabled: boolean('disabled').notNull().default(false),
  passwordHash: text('password_hash').notNull(),
  tokenGeneration: integer('token_generation').notNull().default(0),
  createdAt: createdAt()
})

export const refreshTokens = pgTable('refresh_tokens', {
  id: id(),
  tokenHash: text('token_hash').notNull().unique(),
  userId: int64('user_id').notNull().references(() => users.id, { onDelete: 'cascade' }),
  familyId: text('family_id').notNull(),
  clientId: text('client_id').notNull(),
  generation: integer('generation').notNull(),
  // Unix seconds.
  expiresAt: int64('expires_at').notNull(),
  usedAt: int64('used_at'),
  revokedAt: int64('revoked_at'),
  scope: text('scope'),
  createdAt: createdAt()
}, (table) => [
  index('refresh_tokens_family_idx').on(table.familyId),
  index('refresh_tokens_user_idx').on(table.userId)
])

export const clients = pgTable('clients', {
  id: id(),
  clientId: text('client_id').notNull().unique(),
  name: text('name').notNull(),
  scopes: text('scopes').notNull(),
  secretHash: text('secret_hash').notNull(),
  disabled: boolean('disabled').notNull().default(false),
  tokenGeneration: integer('token_generation').notNull().default(0),
  createdAt: createdAt()
})

export const passwordResets = pgTable('password_resets', {
  id: id(),
  tokenHash: text('token_hash').notNull().unique(),
  userId: int64('user_id').notNull().references(() => users.id, { onDelete: 'cascade' }),
  expiresAt: int64('expires_at').notNull(),
  usedAt: int64('used_at'),
  createdAt: createdAt()
}, (table) => [index('password_resets_user_idx').on(table.userId)])

export const categories = pgTable('categories', {
  id: id(),
  name: text('name').notNull(),
  createdAt: createdAt()
}, (table) => [uniqueIndex('categories_name_lower_idx').on(sql`lower(${table.name})`)])

export const products = pgTable('products', {
  id: id(),
  name: text('name').notNull(),
  description: text('description').notNull().default(''),
  priceCents: integer('price_cents').notNull(),
  stock: integer('stock').notNull(),
  categoryId: int64('category_id').references(() => categories.id, { onDelete: 'restrict' }),
  createdAt: createdAt()
}, (table) => [index('products_category_idx').on(table.categoryId, table.id)])

export const cartItems = pgTable('cart_items', {
  userId: int64('user_id').notNull().references(() => users.id, { onDelete: 'cascade' }),
  productId: int64('product_id').notNull().references(() => products.id, { onDelete: 'cascade' }),
  quantity: integer('quantity').notNull(),
  createdAt: createdAt()
}, (table) => [primaryKey({ columns: [table.userId, table.productId] })])

export const orders = pgTable('orders', {
  id: id(),
  userId: int64('user_id').notNull().references(() => users.id, { onDelete: 'cascade' }),
  status: text('status', { enum: ['placed', 'shipped', 'delivered', 'cancelled'] }).notNull().default('placed'),
  totalCents: int64('total_cents').notNull(),
  currency: text('currency').notNull(),
  shippingAddress: text('shipping_address').notNull(),
  idempotencyKey: text('idempotency_key'),
  createdAt: createdAt()
}, (table) => [
  index('orders_user_idx').on(table.userId, table.id),
  uniqueIndex('orders_user_idempotency_idx').on(table.userId, table.idempotencyKey)
])

export const orderItems = pgTable('order_items', {
  id: id(),
  orderId: int64('order_id').notNull().references(() => orders.id, { onDelete: 'cascade' }),
  productId: int64('product_id').notNull(),
  name: text('name').notNull(),
  priceCents: integer('price_cents').notNull(),
  quantity: integer('quantity').notNull()
}, (table) => [index('order_items_order_idx').on(table.orderId)])

export const mailOutbox = pgTable('mail_outbox', {
  id: id(),
  recipient: text('recipient').notNull(),
  subject: text('subject').notNull(),
  body: text('body').notNull(),
  attempts: integer('attempts').notNull().default(0),
  nextAttemptAt: unixMs('next_attempt_at').notNull(),
  sentAt: unixMs('sent_at'),
  lastError: text('last_error'),
  createdAt: createdAt()
}, (table) => [index('mail_outbox_pending_idx').on(table.sentAt, table.nextAttemptAt)])

export const loginThrottle = pgTable('login_throttle', {
  email: text('email').primaryKey(),
  failures: integer('failures').notNull().default(0),
  lockedUntil: unixMs('locked_until'),
  updatedAt: unixMs('updated_at').notNull()
})
