import { asc, eq, gt, ne, sql } from 'drizzle-orm'
import { schema, type SqliteDb } from '../../db/index.js'
import { columnsOf } from '../columns.js'
import { definedOnly } from '../users.js'
import {
  CLIENT_COLUMNS, clientOf, hashClientSecret, newClientId, newClientSecret, storedScopes, type ClientRepository, type ServiceClient
} from '../clients.js'
import { parseScope, scopesOf } from '../../scopes.js'

const { clients } = schema

const publicColumns = columnsOf(clients, CLIENT_COLUMNS)

export function createSqliteClientRepository (db: SqliteDb): ClientRepository {
  // authenticate runs this on every request carrying a client's token: a raw prepared
  // statement, its row an array made into an object literal here (as users.findById).
  type ClientRow = [id: number, clientId: string, name: string, scopes: string, disabled: number, tokenGeneration: number, createdAt: string]
  const byIdStatement = db.$client.prepare<[string], ClientRow>(
    'SELECT id, client_id, name, scopes, disabled, token_generation, created_at FROM clients WHERE client_id = ?'
  ).raw(true)
  const findById = (clientId: string): ServiceClient | undefined => {
    const row = byIdStatement.get(clientId)
    return row && { id: row[0], clientId: row[1], name: row[2], scopes: scopesOf(parseScope(row[3])), disabled: row[4] === 1, tokenGeneration: row[5], createdAt: row[6] }
  }
  const withSecretHash = db.select({ ...publicColumns, secretHash: clients.secretHash })
    .from(clients).where(eq(clients.clientId, sql.placeholder('clientId'))).prepare()
  const bumpGeneration = sql`${clients.tokenGeneration} + 1`

  return {
    async findById (clientId) {
      return findById(clientId)
    },

    async findWithSecretHash (clientId) {
      const row = withSecretHash.get({ clientId })
      return row && clientOf(row)
    },

    // Writes outside a transaction read RETURNING with all(), never get(): get() resets the
    // statement after the first row, and the autocommit's failure (SQLITE_FULL) is lost.
    async create (input) {
      const secret = newClientSecret()
      const [row] = db.insert(clients).values({
        clientId: newClientId(),
        name: input.name,
        scopes: storedScopes(input.scopes),
        secretHash: hashClientSecret(secret)
      }).returning(publicColumns).all()
      return { client: clientOf(row!), secret }
    },

    async list (query) {
      return db.select(publicColumns).from(clients)
        .where(query.afterId === undefined ? undefined : gt(clients.id, query.afterId))
        .orderBy(asc(clients.id)).limit(query.limit).all().map(clientOf)
    },

    async update (clientId, changes) {
      const { scopes, ...defined } = definedOnly(changes)
      if (scopes === undefined && Object.keys(defined).length === 0) return findById(clientId)
      const [row] = db.update(clients).set({
        ...defined,
        ...(scopes === undefined ? {} : { scopes: storedScopes(scopes) }),
        // One statement decides and bumps, so no concurrent update slips between.
        ...(defined.disabled === undefined
          ? {}
          : { tokenGeneration: sql`CASE WHEN ${ne(clients.disabled, defined.disabled)} THEN ${bumpGeneration} ELSE ${clients.tokenGeneration} END` })
      }).where(eq(clients.clientId, clientId)).returning(publicColumns).all()
      return row && clientOf(row)
    },

    async rotateSecret (clientId) {
      const secret = newClientSecret()
      const [row] = db.update(clients).set({ secretHash: hashClientSecret(secret), tokenGeneration: bumpGeneration })
        .where(eq(clients.clientId, clientId)).returning({ id: clients.id }).all()
      return row ? secret : undefined
    },

    async delete (clientId) {
      return db.delete(clients).where(eq(clients.clientId, clientId)).run().changes === 1
    }
  }
}
