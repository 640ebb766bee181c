// users/list.test.ts, run against PostgreSQL: the same routes, the same expectations.
import { runSuiteOnPostgres } from '../postgres.js'

await runSuiteOnPostgres(new URL('../users/list.test.ts', import.meta.url))
