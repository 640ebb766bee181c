// The PostgreSQL implementations of every repository, loaded by openStore only when
// DATABASE_URL selects PostgreSQL: SQLite's start does not pay for drizzle's pg-core.
export { createPostgresUserRepository } from '../../routes/users/repository.postgres.js'
export { createPostgresAuthRepositories } from '../../routes/auth/repository.postgres.js'
export { createPostgresCatalogueRepository } from '../../routes/catalogue/repository.postgres.js'
export { createPostgresCartRepository } from '../../routes/cart/repository.postgres.js'
export { createPostgresOrderRepository } from '../../routes/orders/repository.postgres.js'
export { createPostgresOutboxRepository } from '../mail/outbox.postgres.js'
