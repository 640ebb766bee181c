// catalogue/product-listing.test.ts, run against PostgreSQL: the same routes, the same expectations.
import { runSuiteOnPostgres } from '../postgres.js'

await runSuiteOnPostgres(new URL('../catalogue/product-listing.test.ts', import.meta.url))
