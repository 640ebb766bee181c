import type { Test } from 'tap'
import { openStore, type Store } from '../../src/db/index.js'
import type { Repositories, RepositoryOptions } from '../../src/store/index.js'
import { createSqliteRepositories } from '../../src/store/sqlite/index.js'
import { createPostgresRepositories } from '../../src/store/postgres/index.js'
import { tempDir } from '../helper.js'
import { postgresOrSkip } from '../postgres.js'

export type StoreName = 'sqlite' | 'postgres'

/** A fresh, migrated store of the given kind, closed when the test ends; undefined when skipped. */
export async function openTestStore (t: Test, name: StoreName): Promise<Store | undefined> {
  const databaseUrl = name === 'postgres' ? await postgresOrSkip(t) : undefined
  if (name === 'postgres' && !databaseUrl) return undefined
  const store = await openStore({ dataDir: tempDir(t), databaseUrl })
  t.teardown(() => store.close())
  return store
}

/**
 * The same contract, run once per store: every repository behaves alike on SQLite
 * and PostgreSQL. On PostgreSQL, concurrent calls really run at once (a pool of
 * connections); on SQLite they take turns at the write lock.
 */
export function eachStore (t: Test, name: string, body: (t: Test, store: Store) => Promise<void>): void {
  for (const storeName of ['sqlite', 'postgres'] as const) {
    t.test(`${storeName}: ${name}`, async (t) => {
      const store = await openTestStore(t, storeName)
      if (store) await body(t, store)
    })
  }
}

/** The repositories over a test's store, made at once (the app makes them once, in plugins/db.ts). */
export function repositoriesOf (store: Store, options: RepositoryOptions = { loginMaxFailures: 10 }): Repositories {
  return store.dialect === 'sqlite' ? createSqliteRepositories(store.db, options) : createPostgresRepositories(store.db, options)
}

/** A small shop over a test's store: customers, products, and the repositories checkout uses. */
export async function shop (store: Store, currency = 'USD') {
  const { users, catalogue, cart: carts, orders, outbox } = repositoriesOf(store)
  let n = 0
  return {
    carts,
    orders,
    outbox,
    catalogue,
    async customer (shippingAddress = '1 Road') {
      const user = (await users.create({ email: `shopper-${++n}@example.test`, passwordHash: 'hash' }))!
      return { userId: user.id, email: user.email, shippingAddress, currency }
    },
    async product (stock: number, priceCents = 250, name = `Product ${++n}`) {
      const created = await catalogue.createProduct({ name, priceCents, stock })
      if (!created.ok) throw new Error('product not created')
      return created.product.id
    },
    stockOf: async (id: number) => (await catalogue.findProduct(id))?.stock
  }
}
