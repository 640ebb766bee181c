import fp from 'fastify-plugin'
import type Database from 'better-sqlite3'
import { openStore, type Db, type Store } from '../src/db/index.js'

declare module 'fastify' {
  interface FastifyInstance {
    /** The data store, SQLite or PostgreSQL; repositories take it. */
    store: Store
    /** The SQLite store's drizzle database (tests and tools); throws on PostgreSQL. */
    db: Db
    /** The SQLite store's connection (tests and tools); throws on PostgreSQL. */
    sqlite: Database.Database
  }
}

export default fp(async function db (fastify) {
  const { config } = fastify
  const store = await openStore({ dataDir: config.dataDir, databaseUrl: config.databaseUrl, databasePoolSize: config.databasePoolSize })
  fastify.decorate('store', { getter: () => store })
  const sqliteOnly = <T>(pick: (store: Extract<Store, { dialect: 'sqlite' }>) => T) => () => {
    if (store.dialect !== 'sqlite') throw new Error('this is the PostgreSQL store: use fastify.store')
    return pick(store)
  }
  fastify.decorate('db', { getter: sqliteOnly((sqlite) => sqlite.db) })
  fastify.decorate('sqlite', { getter: sqliteOnly((sqlite) => sqlite.db.$client) })
  fastify.addHook('onClose', async () => store.close())
}, { name: 'db', dependencies: [] })
