// users/me.test.ts, run against PostgreSQL: the same routes, the same expectations.
import { runSuiteOnPostgres } from '../postgres.js'

await runSuiteOnPostgres(new URL('../users/me.test.ts', import.meta.url))
