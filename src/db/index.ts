import fs from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import Database from 'better-sqlite3'
import type pg from 'pg'
import { drizzle, type BetterSQLite3Database } from 'drizzle-orm/better-sqlite3'
import { migrate } from 'drizzle-orm/better-sqlite3/migrator'
import type { NodePgDatabase } from 'drizzle-orm/node-postgres'
import * as schema from './schema.js'
import type * as PgSchema from './schema.pg.js'

export type SqliteDb = BetterSQLite3Database<typeof schema> & { $client: Database.Database }
export type PgDb = NodePgDatabase<typeof PgSchema> & { $client: pg.Pool }
/** The SQLite database as drizzle sees it. */
export type Db = SqliteDb
export { schema }

/**
 * Where the data lives: the connection src/store/index.ts makes the repositories from,
 * choosing their dialect once. Nothing but the store layer and the tests reads it.
 */
export type Store =
  | { dialect: 'sqlite', db: SqliteDb, close: () => Promise<void> }
  | { dialect: 'postgres', db: PgDb, close: () => Promise<void> }

// The build copies migrations beside the compiled module, so this works from src/ and dist/.
const sqliteMigrations = fileURLToPath(new URL('./migrations', import.meta.url))
const postgresMigrations = fileURLToPath(new URL('./migrations-pg', import.meta.url))

export interface OpenDatabase {
  db: Db
  sqlite: Database.Database
  close: () => void
}

/** Opens (creating if needed) the SQLite file under dataDir and applies pending migrations. */
export function openDatabase (dataDir: string): OpenDatabase {
  fs.mkdirSync(dataDir, { recursive: true, mode: 0o700 })
  const sqlite = new Database(path.join(dataDir, 'ecommerce.db'))
  sqlite.pragma('journal_mode = WAL')
  // NORMAL under WAL keeps every committed transaction through a process crash;
  // only a power loss can drop the last few, which FULL would cost fsyncs for.
  sqlite.pragma('synchronous = NORMAL')
  sqlite.pragma('foreign_keys = ON')
  sqlite.pragma('busy_timeout = 5000')
  const db = drizzle(sqlite, { schema })
  migrate(db, { migrationsFolder: sqliteMigrations })
  return { db, sqlite, close: () => sqlite.close() }
}

// Any constant both instances agree on: the key of the session lock that makes
// instances starting together apply migrations one after the other.
const MIGRATION_LOCK = 7_250_431_990

/**
 * Applies pending PostgreSQL migrations under an advisory lock: when several
 * instances start at once, the first migrates and the others then find nothing to do.
 */
export async function migratePostgres (pool: pg.Pool): Promise<void> {
  const { drizzle: drizzlePg } = await import('drizzle-orm/node-postgres')
  const { migrate: migratePg } = await import('drizzle-orm/node-postgres/migrator')
  const client = await pool.connect()
  try {
    await client.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK])
    try {
      await migratePg(drizzlePg({ client }), { migrationsFolder: postgresMigrations })
    } finally {
      await client.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK])
    }
  } finally {
    client.release()
  }
}

export interface StoreOptions {
  dataDir: string
  databaseUrl?: string
  databasePoolSize?: number
  /** false for `npm run db:migrate`-managed deployments that migrate before rolling out; default true. */
  migrate?: boolean
}

/** PostgreSQL when DATABASE_URL is set, the embedded SQLite file otherwise; migrated either way. */
export async function openStore (options: StoreOptions): Promise<Store> {
  if (!options.databaseUrl) {
    const { db, close } = openDatabase(options.dataDir)
    return { dialect: 'sqlite', db, close: async () => close() }
  }
  // The PostgreSQL driver loads only when used: SQLite's start stays lean.
  const { default: pg } = await import('pg')
  const { drizzle: drizzlePg } = await import('drizzle-orm/node-postgres')
  const pool = new pg.Pool({
    connectionString: options.databaseUrl,
    max: options.databasePoolSize ?? 10,
    // A database that does not answer should fail a request, not hang it.
    connectionTimeoutMillis: 5_000
  })
  // A connection the server drops (a restart, a failover) must not crash the process. The
  // pool's own listener covers idle connections only: one checked out, say between two
  // statements of a transaction, would emit 'error' to nobody. Each connection gets a
  // listener of its own for its whole life; the statement in progress fails with the error,
  // and the pool discards the broken connection when it is released.
  pool.on('error', () => {})
  pool.on('connect', (client) => { client.on('error', () => {}) })
  try {
    if (options.migrate !== false) await migratePostgres(pool)
  } catch (error) {
    await pool.end()
    throw error
  }
  const pgSchema = await import('./schema.pg.js')
  return { dialect: 'postgres', db: drizzlePg({ client: pool, schema: pgSchema }), close: () => pool.end() }
}

/** The error a database driver raised, under drizzle's wrapping: SQLite's or PostgreSQL's code. */
export function driverErrorCode (error: unknown): string | undefined {
  for (let current = error; current instanceof Error; current = current.cause) {
    const code = (current as Error & { code?: unknown }).code
    if (typeof code === 'string') return code
  }
  return undefined
}

// Connection trouble, whatever the driver calls it: the database restarting, failing
// over or out of reach. node-postgres raises these as plain Errors with only a message.
const PG_CONNECTION_MESSAGES = [
  'Connection terminated',
  'timeout exceeded when trying to connect',
  'is not queryable',
  'Connection ended unexpectedly'
]
const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN'])

/**
 * Why a database call failed when the fault is the database's, not the request's:
 * 'unavailable' (PostgreSQL down, restarting, out of connections; SQLite locked or its
 * file unreadable) or 'full' (no room left on the disk); undefined for anything else.
 */
export function databaseFault (error: unknown): 'unavailable' | 'full' | undefined {
  for (let current = error; current instanceof Error; current = current.cause) {
    const code = (current as Error & { code?: unknown }).code
    if (typeof code === 'string') {
      if (code === 'SQLITE_FULL') return 'full'
      // 08: connection exception; 57P01-03: admin/crash shutdown, cannot connect now;
      // 53300: too many connections.
      if (/^08|^57P0[123]$|^53300$/.test(code)) return 'unavailable'
      if (/^SQLITE_(BUSY|LOCKED|IOERR|CANTOPEN|READONLY)/.test(code)) return 'unavailable'
      if (NETWORK_CODES.has(code)) return 'unavailable'
    }
    if (PG_CONNECTION_MESSAGES.some((message) => current instanceof Error && current.message.includes(message))) return 'unavailable'
  }
  return undefined
}

/** PostgreSQL's SQLSTATEs the repositories answer rather than rethrow. */
export const PG_UNIQUE_VIOLATION = '23505'
export const PG_FOREIGN_KEY_VIOLATION = '23503'

/** A PostgreSQL transaction, or the pool itself: what a query inside a unit of work runs on. */
export type PgExecutor = PgDb | Parameters<Parameters<PgDb['transaction']>[0]>[0]
