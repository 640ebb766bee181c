// auth/scoped-tokens.test.ts, run against PostgreSQL: the same routes, the same expectations.
import { runSuiteOnPostgres } from '../postgres.js'

await runSuiteOnPostgres(new URL('../auth/scoped-tokens.test.ts', import.meta.url))
