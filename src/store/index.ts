import type { Store } from '../db/index.js'
import type { UserRepository } from './users.js'
import type { LoginThrottle, PasswordResetRepository, RefreshTokenRepository } from './auth.js'
import type { CatalogueRepository } from './catalogue.js'
import type { CartRepository } from './cart.js'
import type { OrderRepository } from './orders.js'
import type { OutboxRepository } from './outbox.js'
import type { ClientRepository } from './clients.js'
import { createSqliteRepositories } from './sqlite/index.js'

/**
 * Every repository of the service, made once at start by plugins/db.ts and decorated as
 * `fastify.repos`. The interfaces and the dialect-neutral helpers live beside this file
 * (users.ts, auth.ts, …); the SQL lives in sqlite/ and postgres/.
 */
export interface Repositories {
  users: UserRepository
  refreshTokens: RefreshTokenRepository
  loginThrottle: LoginThrottle
  passwordResets: PasswordResetRepository
  catalogue: CatalogueRepository
  cart: CartRepository
  orders: OrderRepository
  outbox: OutboxRepository
  clients: ClientRepository
}

export interface RepositoryOptions {
  /** LOGIN_MAX_FAILURES: failed logins per e-mail before it is throttled. */
  loginMaxFailures: number
}

/** The dialect is chosen here, once; PostgreSQL's code loads only when it is the store. */
export async function createRepositories (store: Store, options: RepositoryOptions): Promise<Repositories> {
  if (store.dialect === 'sqlite') return createSqliteRepositories(store.db, options)
  const { createPostgresRepositories } = await import('./postgres/index.js')
  return createPostgresRepositories(store.db, options)
}
