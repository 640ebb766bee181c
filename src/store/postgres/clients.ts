import { asc, eq, gt, ne, sql } from 'drizzle-orm'
import { type PgDb } from '../../db/index.js'
import { clients } from '../../db/schema.pg.js'
import { columnsOf } from '../columns.js'
import { definedOnly } from '../users.js'
import {
  CLIENT_COLUMNS, clientOf, hashClientSecret, newClientId, newClientSecret, storedScopes, type ClientRepository, type ServiceClient
} from '../clients.js'
import { parseScope, scopesOf } from '../../scopes.js'

const CLIENT_ROW_BY_ID = 'SELECT id, client_id, name, scopes, disabled, token_generation, created_at FROM clients WHERE client_id = $1'

const publicColumns = columnsOf(clients, CLIENT_COLUMNS)

// pg leaves bigint as text in a raw query (drizzle's mapping is skipped for speed).
type ClientRow = [id: string, clientId: string, name: string, scopes: string, disabled: boolean, tokenGeneration: number, createdAt: string]
const rowClient = (row: ClientRow): ServiceClient => ({
  id: Number(row[0]), clientId: row[1], name: row[2], scopes: scopesOf(parseScope(row[3])), disabled: row[4], tokenGeneration: row[5], createdAt: row[6]
})

export function createPostgresClientRepository (db: PgDb): ClientRepository {
  const pool = db.$client
  // authenticate runs this on every request carrying a client's token: a named prepared
  // statement (each pooled connection parses it once), its row an array.
  async function findById (clientId: string): Promise<ServiceClient | undefined> {
    const { rows } = await pool.query<ClientRow>({ name: 'clients_row_by_id', text: CLIENT_ROW_BY_ID, values: [clientId], rowMode: 'array' })
    return rows[0] && rowClient(rows[0])
  }
  const withSecretHash = db.select({ ...publicColumns, secretHash: clients.secretHash })
    .from(clients).where(eq(clients.clientId, sql.placeholder('clientId'))).prepare('clients_with_secret_hash')
  const bumpGeneration = sql`${clients.tokenGeneration} + 1`

  return {
    findById,

    async findWithSecretHash (clientId) {
      const [row] = await withSecretHash.execute({ clientId })
      return row && clientOf(row)
    },

    async create (input) {
      const secret = newClientSecret()
      const [row] = await db.insert(clients).values({
        clientId: newClientId(),
        name: input.name,
        scopes: storedScopes(input.scopes),
        secretHash: hashClientSecret(secret)
      }).returning(publicColumns)
      return { client: clientOf(row!), secret }
    },

    async list (query) {
      const rows = await db.select(publicColumns).from(clients)
        .where(query.afterId === undefined ? undefined : gt(clients.id, query.afterId))
        .orderBy(asc(clients.id)).limit(query.limit)
      return rows.map(clientOf)
    },

    async update (clientId, changes) {
      const { scopes, ...defined } = definedOnly(changes)
      if (scopes === undefined && Object.keys(defined).length === 0) return findById(clientId)
      const [row] = await db.update(clients).set({
        ...defined,
        ...(scopes === undefined ? {} : { scopes: storedScopes(scopes) }),
        // One statement decides and bumps, so no concurrent update slips between.
        ...(defined.disabled === undefined
          ? {}
          : { tokenGeneration: sql`CASE WHEN ${ne(clients.disabled, defined.disabled)} THEN ${bumpGeneration} ELSE ${clients.tokenGeneration} END` })
      }).where(eq(clients.clientId, clientId)).returning(publicColumns)
      return row && clientOf(row)
    },

    async rotateSecret (clientId) {
      const secret = newClientSecret()
      const [row] = await db.update(clients).set({ secretHash: hashClientSecret(secret), tokenGeneration: bumpGeneration })
        .where(eq(clients.clientId, clientId)).returning({ id: clients.id })
      return row ? secret : undefined
    },

    async delete (clientId) {
      return ((await db.delete(clients).where(eq(clients.clientId, clientId))).rowCount ?? 0) === 1
    }
  }
}
