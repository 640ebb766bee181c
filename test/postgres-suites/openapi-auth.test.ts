// security/openapi-auth.test.ts, run against PostgreSQL: the same routes, the same expectations.
import { runSuiteOnPostgres } from '../postgres.js'

await runSuiteOnPostgres(new URL('../security/openapi-auth.test.ts', import.meta.url))
