import fp from 'fastify-plugin'
import { openStore, type Store } from '../src/db/index.js'
import { createRepositories, type Repositories } from '../src/store/index.js'

declare module 'fastify' {
  interface FastifyInstance {
    /** Every repository, made once at start over the configured store. */
    repos: Repositories
    /** The connection the repositories were made from (SQLite or PostgreSQL); tests read it. */
    store: Store
  }
}

// Opens SQLite or PostgreSQL (DATABASE_URL), migrates it, and makes the repositories once.
export default fp(async function db (fastify) {
  const { config } = fastify
  const store = await openStore({ dataDir: config.dataDir, databaseUrl: config.databaseUrl, databasePoolSize: config.databasePoolSize })
  fastify.addHook('onClose', async () => store.close())
  fastify.decorate('store', { getter: () => store })
  fastify.decorate('repos', await createRepositories(store, { loginMaxFailures: config.loginMaxFailures }))
}, { name: 'db', dependencies: [] })
