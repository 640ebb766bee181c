// `npm run db:migrate`: applies pending migrations to DATABASE_URL (or the SQLite file
// under DATA_DIR) and exits, for operators who migrate before rolling out instances.
import { loadConfig } from '../config.js'
import { openStore } from '../db/index.js'
import { runCommand } from './run-command.js'

await runCommand(async () => {
  const config = loadConfig()
  const store = await openStore(config)
  await store.close()
  console.log(`Migrations applied to ${store.dialect === 'postgres' ? 'PostgreSQL (DATABASE_URL)' : `SQLite in ${config.dataDir}`}`)
})
