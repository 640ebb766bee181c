import { sql } from 'drizzle-orm'
import { sqliteTable, integer, text, index, uniqueIndex, primaryKey } from 'drizzle-orm/sqlite-core'

// Timestamps are ISO-8601 UTC strings: they sort as text and are what the API shows.
const createdAt = () => text('created_at').notNull().$defaultFn(() => new Date().toISOString())

export const users = sqliteTable('users', {
  id: integer('id').primaryKey({ autoIncrement: true }),
  // Stored normalised (trimmed, lower-case), so equality is case-insensitive.
  email: text('email').notNull().unique(),
  fullName: text('full_name'),
  role: text('role', { enum: ['customer', 'admin'] }).notNull().default('customer'),
  disabled: integer('disabled', { mode: 'boolean' }).notNull().default(false),
  passwordHash: text('password_hash').notNull(),
  // Carried in every token as `gen`; bumping it ends every session of the user
  // (sign-out everywhere, password change, disable) with no same-second edge.
  tokenGeneration: integer('token_generation').notNull().default(0),
  createdAt: createdAt()
})

export const refreshTokens = sqliteTable('refresh_tokens', {
  id: integer('id').primaryKey({ autoIncrement: true }),
  // SHA-256 of the opaque token: a database leak does not hand out sessions.
  tokenHash: text('token_hash').notNull().unique(),
  userId: integer('user_id').notNull().references(() => users.id, { onDelete: 'cascade' }),
  // One family per login; a reused member revokes the whole family.
  familyId: text('family_id').notNull(),
  clientId: text('client_id').notNull(),
  generation: integer('generation').notNull(),
  expiresAt: integer('expires_at').notNull(),
  usedAt: integer('used_at'),
  revokedAt: integer('revoked_at'),
  // The login's granted scopes, space-separated; null on rows from before contract v2,
  // which may hold everything their user's role may.
  scope: text('scope'),
  createdAt: createdAt()
}, (table) => [
  index('refresh_tokens_family_idx').on(table.familyId),
  index('refresh_tokens_user_idx').on(table.userId)
])

// Service clients (contract v2). Only the secret's SHA-256 is stored, so a database
// leak hands out no client. Scopes are space-separated, in SCOPE_NAMES order.
export const clients = sqliteTable('clients', {
  id: integer('id').primaryKey({ autoIncrement: true }),
  clientId: text('client_id').notNull().unique(),
  name: text('name').notNull(),
  scopes: text('scopes').notNull(),
  secretHash: text('secret_hash').notNull(),
  disabled: integer('disabled', { mode: 'boolean' }).notNull().default(false),
  // Carried in the client's tokens as `gen`: a secret rotation or a disable ends them.
  tokenGeneration: integer('token_generation').notNull().default(0),
  createdAt: createdAt()
})

export const passwordResets = sqliteTable('password_resets', {
  id: integer('id').primaryKey({ autoIncrement: true }),
  tokenHash: text('token_hash').notNull().unique(),
  userId: integer('user_id').notNull().references(() => users.id, { onDelete: 'cascade' }),
  expiresAt: integer('expires_at').notNull(),
  usedAt: integer('used_at'),
  createdAt: createdAt()
}, (table) => [index('password_resets_user_idx').on(table.userId)])

export const categories = sqliteTable('categories', {
  id: integer('id').primaryKey({ autoIncrement: true }),
  name: text('name').notNull(),
  createdAt: createdAt()
}, (table) => [uniqueIndex('categories_name_nocase_idx').on(sql`${table.name} COLLATE NOCASE`)])

export const products = sqliteTable('products', {
  id: integer('id').primaryKey({ autoIncrement: true }),
  name: text('name').notNull(),
  description: text('description').notNull().default(''),
  priceCents: integer('price_cents').notNull(),
  stock: integer('stock').notNull(),
  categoryId: integer('category_id').references(() => categories.id, { onDelete: 'restrict' }),
  createdAt: createdAt()
}, (table) => [index('products_category_idx').on(table.categoryId, table.id)])

export const cartItems = sqliteTable('cart_items', {
  userId: integer('user_id').notNull().references(() => users.id, { onDelete: 'cascade' }),
  productId: integer('product_id').notNull().references(() => products.id, { onDelete: 'cascade' }),
  quantity: integer('quantity').notNull(),
  createdAt: createdAt()
}, (table) => [primaryKey({ columns: [table.userId, table.productId] })])

export const orders = sqliteTable('orders', {
  id: integer('id').primaryKey({ autoIncrement: true }),
  userId: integer('user_id').notNull().references(() => users.id, { onDelete: 'cascade' }),
  status: text('status', { enum: ['placed', 'shipped', 'delivered', 'cancelled'] }).notNull().default('placed'),
  totalCents: integer('total_cents').notNull(),
  currency: text('currency').notNull(),
  shippingAddress: text('shipping_address').notNull(),
  idempotencyKey: text('idempotency_key'),
  createdAt: createdAt()
}, (table) => [
  index('orders_user_idx').on(table.userId, table.id),
  uniqueIndex('orders_user_idempotency_idx').on(table.userId, table.idempotencyKey)
])

// No foreign key to products: a deleted product leaves past order lines intact.
export const orderItems = sqliteTable('order_items', {
  id: integer('id').primaryKey({ autoIncrement: true }),
  orderId: integer('order_id').notNull().references(() => orders.id, { onDelete: 'cascade' }),
  productId: integer('product_id').notNull(),
  name: text('name').notNull(),
  priceCents: integer('price_cents').notNull(),
  quantity: integer('quantity').notNull()
}, (table) => [index('order_items_order_idx').on(table.orderId)])

// Durable mail queue, written in the same transaction as what the mail is about.
export const mailOutbox = sqliteTable('mail_outbox', {
  id: integer('id').primaryKey({ autoIncrement: true }),
  recipient: text('recipient').notNull(),
  subject: text('subject').notNull(),
  body: text('body').notNull(),
  attempts: integer('attempts').notNull().default(0),
  // Unix milliseconds; the worker picks rows whose time has come.
  nextAttemptAt: integer('next_attempt_at').notNull(),
  sentAt: integer('sent_at'),
  lastError: text('last_error'),
  createdAt: createdAt()
}, (table) => [index('mail_outbox_pending_idx').on(table.sentAt, table.nextAttemptAt)])

// Failed logins per submitted e-mail, known or not, so throttling reveals nothing
// about which accounts exist; in the database, so a restart does not reset it.
export const loginThrottle = sqliteTable('login_throttle', {
  email: text('email').primaryKey(),
  failures: integer('failures').notNull().default(0),
  // Unix milliseconds; while in the future, every login for this e-mail is refused.
  lockedUntil: integer('locked_until'),
  updatedAt: integer('updated_at').notNull()
})
