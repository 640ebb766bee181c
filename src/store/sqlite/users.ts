import { and, asc, eq, gt, ne, sql } from 'drizzle-orm'
import { schema, type SqliteDb } from '../../db/index.js'
import { columnsOf } from '../columns.js'
import { definedOnly, normaliseEmail, PUBLIC_USER_COLUMNS, type PublicUser, type UserRepository } from '../users.js'

const { users } = schema

const publicColumns = columnsOf(users, PUBLIC_USER_COLUMNS)

export function createSqliteUserRepository (db: SqliteDb): UserRepository {
  // authenticate runs this on every protected request: one raw prepared statement whose
  // row comes back as an array and becomes an object literal here. (Row objects that
  // better-sqlite3 builds column by column, or drizzle's generic mapping, cost more than
  // the query itself.)
  type UserRow = [id: number, email: string, fullName: string | null, role: PublicUser['role'], disabled: number, tokenGeneration: number, createdAt: string]
  const byIdStatement = db.$client.prepare<[number], UserRow>(
    'SELECT id, email, full_name, role, disabled, token_generation, created_at FROM users WHERE id = ?'
  ).raw(true)
  const findById = (id: number): PublicUser | undefined => {
    const row = byIdStatement.get(id)
    return row && { id: row[0], email: row[1], fullName: row[2], role: row[3], disabled: row[4] === 1, tokenGeneration: row[5], createdAt: row[6] }
  }
  const credentialsByEmail = db.select({ ...publicColumns, passwordHash: users.passwordHash })
    .from(users).where(eq(users.email, sql.placeholder('email'))).prepare()
  const bumpGeneration = sql`${users.tokenGeneration} + 1`

  return {
    async findById (id) {
      return findById(id)
    },

    async findWithCredentials (email) {
      return credentialsByEmail.get({ email: normaliseEmail(email) })
    },

    async passwordHashOf (id) {
      return db.select({ passwordHash: users.passwordHash }).from(users).where(eq(users.id, id)).get()?.passwordHash
    },

    // Writes outside a transaction read RETURNING with all(), never get(): get() hands back
    // the row after the first step and resets the statement, and the autocommit's failure
    // (SQLITE_FULL on a full disk) is then lost — a 201 for a row that was never stored.
    async create (input) {
      return db.insert(users).values({
        email: normaliseEmail(input.email),
        passwordHash: input.passwordHash,
        fullName: input.fullName ?? null,
        role: input.role ?? 'customer'
      }).onConflictDoNothing({ target: users.email }).returning(publicColumns).all()[0]
    },

    async list (query) {
      return db.select(publicColumns).from(users)
        .where(and(
          query.email === undefined ? undefined : eq(users.email, normaliseEmail(query.email)),
          query.afterId === undefined ? undefined : gt(users.id, query.afterId)
        ))
        .orderBy(asc(users.id)).limit(query.limit).all()
    },

    async update (id, changes) {
      const defined = definedOnly(changes)
      if (Object.keys(defined).length === 0) return findById(id)
      return db.update(users).set({
        ...defined,
        // One statement decides and bumps, so no concurrent update slips between.
        ...(defined.disabled === undefined
          ? {}
          : { tokenGeneration: sql`CASE WHEN ${ne(users.disabled, defined.disabled)} THEN ${bumpGeneration} ELSE ${users.tokenGeneration} END` })
      }).where(eq(users.id, id)).returning(publicColumns).all()[0]
    },

    async setPasswordHash (id, passwordHash, { endSessions }) {
      db.update(users).set({ passwordHash, ...(endSessions ? { tokenGeneration: bumpGeneration } : {}) })
        .where(eq(users.id, id)).run()
    },

    async endSessions (id) {
      db.update(users).set({ tokenGeneration: bumpGeneration }).where(eq(users.id, id)).run()
    },

    async delete (id) {
      return db.delete(users).where(eq(users.id, id)).run().changes === 1
    },

    async promoteToAdmin (email) {
      return db.update(users).set({ role: 'admin' })
        .where(eq(users.email, normaliseEmail(email))).returning(publicColumns).all()[0]
    }
  }
}
