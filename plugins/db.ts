import fp from 'fastify-plugin'
import { openDatabase, type Db } from '../src/db/index.js'
import type Database from 'better-sqlite3'

declare module 'fastify' {
  interface FastifyInstance {
    db: Db
    sqlite: Database.Database
  }
}

export default fp(async function db (fastify) {
  const { db, sqlite, close } = openDatabase(fastify.config.dataDir)
  fastify.decorate('db', db)
  fastify.decorate('sqlite', sqlite)
  fastify.addHook('onClose', async () => close())
}, { name: 'db', dependencies: [] })
