import type { SqliteDb } from '../../db/index.js'
import type { Repositories, RepositoryOptions } from '../index.js'
import { createSqliteUserRepository } from './users.js'
import { createSqliteAuthRepositories } from './auth.js'
import { createSqliteCatalogueRepository } from './catalogue.js'
import { createSqliteCartRepository } from './cart.js'
import { createSqliteOrderRepository } from './orders.js'
import { createSqliteOutboxRepository } from './outbox.js'
import { createSqliteClientRepository } from './clients.js'

/** The repositories over the embedded SQLite file. */
export function createSqliteRepositories (db: SqliteDb, options: RepositoryOptions): Repositories {
  const auth = createSqliteAuthRepositories(db)
  return {
    users: createSqliteUserRepository(db),
    refreshTokens: auth.refreshTokens,
    loginThrottle: auth.loginThrottle(options.loginMaxFailures),
    passwordResets: auth.passwordResets,
    catalogue: createSqliteCatalogueRepository(db),
    cart: createSqliteCartRepository(db),
    orders: createSqliteOrderRepository(db),
    outbox: createSqliteOutboxRepository(db),
    clients: createSqliteClientRepository(db)
  }
}
