import { execFile } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import { promisify } from 'node:util'
import pg from 'pg'
import t from 'tap'
import { openStore } from '../../src/db/index.js'
import { tempDir } from '../helper.js'
import { postgresOrSkip } from '../postgres.js'

const root = path.resolve(import.meta.dirname, '../..')
const run = promisify(execFile)

async function query<T> (url: string, sql: string): Promise<T[]> {
  const client = new pg.Client({ connectionString: url })
  await client.connect()
  try {
    return (await client.query(sql)).rows as T[]
  } finally {
    await client.end()
  }
}

t.test('PostgreSQL: instances starting together on an empty database migrate it once', async (t) => {
  const url = await postgresOrSkip(t)
  if (!url) return
  const stores = await Promise.all(Array.from({ length: 4 }, () => openStore({ dataDir: tempDir(t), databaseUrl: url })))
  await Promise.all(stores.map((store) => store.close()))
  const applied = await query<{ hash: string }>(url, 'SELECT hash FROM drizzle.__drizzle_migrations')
  const journal = JSON.parse(fs.readFileSync(path.join(root, 'src/db/migrations-pg/meta/_journal.json'), 'utf8')) as { entries: unknown[] }
  t.equal(applied.length, journal.entries.length, 'each migration recorded once')
  const tables = await query<{ table_name: string }>(url, "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' ORDER BY table_name")
  t.same(tables.map((row) => row.table_name), ['cart_items', 'categories', 'clients', 'login_throttle', 'mail_outbox', 'order_items', 'orders', 'password_resets', 'products', 'refresh_tokens', 'users'])
})

t.test('npm run db:migrate migrates DATABASE_URL and exits; a bad URL is named, not echoed', async (t) => {
  const url = await postgresOrSkip(t)
  if (!url) return
  const env = { ...process.env, DATABASE_URL: url, DATA_DIR: tempDir(t) }
  const { stdout } = await run(process.execPath, ['--import=tsx', 'src/cli/migrate.ts'], { cwd: root, env })
  t.match(stdout, 'Migrations applied to PostgreSQL (DATABASE_URL)')
  t.equal((await query(url, 'SELECT 1 FROM users')).length, 0, 'the tables exist')
  const again = await run(process.execPath, ['--import=tsx', 'src/cli/migrate.ts'], { cwd: root, env })
  t.match(again.stdout, 'Migrations applied', 'a second run has nothing to do and succeeds')

  const failed = await run(process.execPath, ['--import=tsx', 'src/cli/migrate.ts'], { cwd: root, env: { ...env, DATABASE_URL: 'mysql://shop:s3cret-pw@db/shop' } })
    .then(() => undefined, (error: { code: number, stderr: string }) => error)
  t.equal(failed?.code, 1)
  t.match(failed?.stderr, 'Invalid configuration: DATABASE_URL')
  t.notMatch(failed?.stderr, 's3cret-pw')
})
