// auth/introspection.test.ts, run against PostgreSQL: the same routes, the same expectations.
import { runSuiteOnPostgres } from '../postgres.js'

await runSuiteOnPostgres(new URL('../auth/introspection.test.ts', import.meta.url))
