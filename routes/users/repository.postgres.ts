import { and, asc, eq, gt, ne, sql } from 'drizzle-orm'
import { type PgDb } from '../../src/db/index.js'
import { users } from '../../src/db/schema.pg.js'
import { definedOnly, normaliseEmail, type UserRepository } from './repository.js'


const publicColumns = {
  id: users.id,
  email: users.email,
  fullName: users.fullName,
  role: users.role,
  disabled: users.disabled,
  tokenGeneration: users.tokenGeneration,
  createdAt: users.createdAt
}

export function createPostgresUserRepository (db: PgDb): UserRepository {
  // Named prepared statements: each pooled connection parses them once.
  const byId = db.select(publicColumns).from(users).where(eq(users.id, sql.placeholder('id'))).prepare('users_by_id')
  const credentialsByEmail = db.select({ ...publicColumns, passwordHash: users.passwordHash })
    .from(users).where(eq(users.email, sql.placeholder('email'))).prepare('users_credentials_by_email')
  const bumpGeneration = sql`${users.tokenGeneration} + 1`
  const first = <T>(rows: T[]): T | undefined => rows[0]

  return {
    async findById (id) {
      return first(await byId.execute({ id }))
    },

    async findWithCredentials (email) {
      return first(await credentialsByEmail.execute({ email: normaliseEmail(email) }))
    },

    async passwordHashOf (id) {
      return first(await db.select({ passwordHash: users.passwordHash }).from(users).where(eq(users.id, id)))?.passwordHash
    },

    async create (input) {
      return first(await db.insert(users).values({
        email: normaliseEmail(input.email),
        passwordHash: input.passwordHash,
        fullName: input.fullName ?? null,
        role: input.role ?? 'customer'
      }).onConflictDoNothing({ target: users.email }).returning(publicColumns))
    },

    async list (query) {
      return db.select(publicColumns).from(users)
        .where(and(
          query.email === undefined ? undefined : eq(users.email, normaliseEmail(query.email)),
          query.afterId === undefined ? undefined : gt(users.id, query.afterId)
        ))
        .orderBy(asc(users.id)).limit(query.limit)
    },

    async update (id, changes) {
      const defined = definedOnly(changes)
      if (Object.keys(defined).length === 0) return first(await byId.execute({ id }))
      return first(await db.update(users).set({
        ...defined,
        ...(defined.disabled === undefined
          ? {}
          : { tokenGeneration: sql`CASE WHEN ${ne(users.disabled, defined.disabled)} THEN ${bumpGeneration} ELSE ${users.tokenGeneration} END` })
      }).where(eq(users.id, id)).returning(publicColumns))
    },

    async setPasswordHash (id, passwordHash, { endSessions }) {
      await db.update(users).set({ passwordHash, ...(endSessions ? { tokenGeneration: bumpGeneration } : {}) })
        .where(eq(users.id, id))
    },

    async endSessions (id) {
      await db.update(users).set({ tokenGeneration: bumpGeneration }).where(eq(users.id, id))
    },

    async delete (id) {
      return ((await db.delete(users).where(eq(users.id, id))).rowCount ?? 0) === 1
    },

    async promoteToAdmin (email) {
      return first(await db.update(users).set({ role: 'admin' })
        .where(eq(users.email, normaliseEmail(email))).returning(publicColumns))
    }
  }
}
