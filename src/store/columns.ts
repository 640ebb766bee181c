/**
 * The named columns of a drizzle table, as a projection for select() and returning().
 * Both dialects' tables have the same column keys (a test compares schema.ts and
 * schema.pg.ts), so one list of keys per shape serves SQLite and PostgreSQL alike.
 */
export function columnsOf<Table extends object, Key extends keyof Table> (table: Table, keys: readonly Key[]): Pick<Table, Key> {
  return Object.fromEntries(keys.map((key) => [key, table[key]])) as Pick<Table, Key>
}
