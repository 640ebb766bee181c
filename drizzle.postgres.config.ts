import { defineConfig } from 'drizzle-kit'

// The PostgreSQL store's migrations; drizzle.config.ts has SQLite's.
export default defineConfig({
  dialect: 'postgresql',
  schema: './src/db/schema.pg.ts',
  out: './src/db/migrations-pg'
})
