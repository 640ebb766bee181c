import t from 'tap'
import { is, Table } from 'drizzle-orm'
import { getTableConfig as sqliteConfig, sqliteTable, integer as sqliteInteger, text as sqliteText, type SQLiteTable } from 'drizzle-orm/sqlite-core'
import { getTableConfig as pgConfig, pgTable, bigint, text as pgText, type PgTable } from 'drizzle-orm/pg-core'
import * as sqlite from '../../src/db/schema.js'
import * as postgres from '../../src/db/schema.pg.js'

// schema.ts (SQLite) and schema.pg.ts (PostgreSQL) must describe the same tables: the
// repositories of both stores, and the shared row builders, take the same columns for
// granted. Types differ by dialect on purpose (integer vs bigint, 0/1 vs boolean), so
// each column is compared by the JavaScript kind it reads as.

interface Shape {
  columns: Record<string, { kind: string, notNull: boolean, primary: boolean, unique: boolean, hasDefault: boolean }>
  primaryKeys: string[][]
  indexes: Record<string, { unique: boolean, columns: string[] }>
  foreignKeys: string[]
}

const kindOf = (dataType: string) => (dataType === 'bigint' ? 'number' : dataType)

function shape (config: ReturnType<typeof sqliteConfig> | ReturnType<typeof pgConfig>): Shape {
  const columns: Shape['columns'] = {}
  for (const column of config.columns) {
    columns[column.name] = { kind: kindOf(column.dataType), notNull: column.notNull, primary: column.primary, unique: column.isUnique, hasDefault: column.hasDefault }
  }
  const indexes: Shape['indexes'] = {}
  let expressions = 0
  for (const index of config.indexes) {
    const on = index.config.columns.map((column) => ('name' in column && typeof column.name === 'string' ? column.name : 'expression'))
    // Expression indexes differ in SQL, and so in name, by design (name COLLATE NOCASE on
    // SQLite, lower(name) on PostgreSQL): they must exist alike, with the same uniqueness.
    const key = on.includes('expression') ? `expression index ${++expressions}` : index.config.name ?? '?'
    indexes[key] = { unique: Boolean(index.config.unique), columns: on }
  }
  const foreignKeys = config.foreignKeys.map((key) => {
    const reference = key.reference()
    const target = is(reference.foreignTable, Table) ? (reference.foreignTable as unknown as { [key: symbol]: string })[Symbol.for('drizzle:Name')] : '?'
    return `${reference.columns.map((c) => c.name).join(',')} → ${target}(${reference.foreignColumns.map((c) => c.name).join(',')}) on delete ${key.onDelete ?? 'no action'}`
  }).sort()
  const primaryKeys = config.primaryKeys.map((key) => key.columns.map((column) => column.name))
  return { columns, primaryKeys, indexes, foreignKeys }
}

function tablesOf (module: Record<string, unknown>, isTable: (value: unknown) => boolean) {
  return Object.fromEntries(Object.entries(module).filter(([, value]) => isTable(value)))
}

const sqliteTables = tablesOf(sqlite, (value) => is(value, Table)) as Record<string, SQLiteTable>
const pgTables = tablesOf(postgres, (value) => is(value, Table)) as Record<string, PgTable>

/** Every difference between two schemas, as readable lines; none when they agree. */
function differences (left: Record<string, SQLiteTable>, right: Record<string, PgTable>): string[] {
  const found: string[] = []
  const names = new Set([...Object.keys(left), ...Object.keys(right)])
  for (const name of names) {
    const a = left[name]
    const b = right[name]
    if (!a || !b) { found.push(`${name}: only in ${a ? 'schema.ts' : 'schema.pg.ts'}`); continue }
    const sa = shape(sqliteConfig(a))
    const sb = shape(pgConfig(b))
    if (sqliteConfig(a).name !== pgConfig(b).name) found.push(`${name}: table name ${sqliteConfig(a).name} vs ${pgConfig(b).name}`)
    for (const column of new Set([...Object.keys(sa.columns), ...Object.keys(sb.columns)])) {
      if (JSON.stringify(sa.columns[column]) !== JSON.stringify(sb.columns[column])) {
        found.push(`${name}.${column}: ${JSON.stringify(sa.columns[column])} vs ${JSON.stringify(sb.columns[column])}`)
      }
    }
    for (const part of ['primaryKeys', 'indexes', 'foreignKeys'] as const) {
      if (JSON.stringify(sa[part]) !== JSON.stringify(sb[part])) found.push(`${name} ${part}: ${JSON.stringify(sa[part])} vs ${JSON.stringify(sb[part])}`)
    }
  }
  return found
}

t.test('schema.ts and schema.pg.ts agree: tables, columns, nullability, keys and indexes', async (t) => {
  t.ok(Object.keys(sqliteTables).length >= 9, `${Object.keys(sqliteTables).length} tables compared`)
  t.same(differences(sqliteTables, pgTables), [])
})

t.test('the comparison sees a difference when there is one', async (t) => {
  const sqliteWidget = sqliteTable('widgets', { id: sqliteInteger('id').primaryKey(), name: sqliteText('name').notNull() })
  const pgWidget = pgTable('widgets', { id: bigint('id', { mode: 'number' }).primaryKey().generatedByDefaultAsIdentity(), name: pgText('name') })
  const pgShort = pgTable('widgets', { id: bigint('id', { mode: 'number' }).primaryKey().generatedByDefaultAsIdentity() })
  t.same(differences({ widgets: sqliteWidget }, { widgets: pgWidget }), [
    'widgets.name: {"kind":"string","notNull":true,"primary":false,"unique":false,"hasDefault":false} vs {"kind":"string","notNull":false,"primary":false,"unique":false,"hasDefault":false}'
  ], 'a nullable twin of a NOT NULL column')
  t.same(differences({ widgets: sqliteWidget }, { widgets: pgShort }), [
    'widgets.name: {"kind":"string","notNull":true,"primary":false,"unique":false,"hasDefault":false} vs undefined'
  ], 'a missing column')
  t.same(differences({ widgets: sqliteWidget }, {}), ['widgets: only in schema.ts'], 'a missing table')
})
