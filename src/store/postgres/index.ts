import type { PgDb } from '../../db/index.js'
import type { Repositories, RepositoryOptions } from '../index.js'
import { createPostgresUserRepository } from './users.js'
import { createPostgresAuthRepositories } from './auth.js'
import { createPostgresCatalogueRepository } from './catalogue.js'
import { createPostgresCartRepository } from './cart.js'
import { createPostgresOrderRepository } from './orders.js'
import { createPostgresOutboxRepository } from './outbox.js'
import { createPostgresClientRepository } from './clients.js'

/** The repositories over the PostgreSQL pool (DATABASE_URL). */
export function createPostgresRepositories (db: PgDb, options: RepositoryOptions): Repositories {
  const auth = createPostgresAuthRepositories(db)
  return {
    users: createPostgresUserRepository(db),
    refreshTokens: auth.refreshTokens,
    loginThrottle: auth.loginThrottle(options.loginMaxFailures),
    passwordResets: auth.passwordResets,
    catalogue: createPostgresCatalogueRepository(db),
    cart: createPostgresCartRepository(db),
    orders: createPostgresOrderRepository(db),
    outbox: createPostgresOutboxRepository(db),
    clients: createPostgresClientRepository(db)
  }
}
