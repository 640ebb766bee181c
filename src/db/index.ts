import fs from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import Database from 'better-sqlite3'
import { drizzle, type BetterSQLite3Database } from 'drizzle-orm/better-sqlite3'
import { migrate } from 'drizzle-orm/better-sqlite3/migrator'
import * as schema from './schema.js'

export type Db = BetterSQLite3Database<typeof schema> & { $client: Database.Database }
export { schema }

// The build copies migrations beside the compiled module, so this works from src/ and dist/.
const migrationsFolder = fileURLToPath(new URL('./migrations', import.meta.url))

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
  migrate(db, { migrationsFolder })
  return { db, sqlite, close: () => sqlite.close() }
}
