import { and, asc, eq, gt, ne, sql } from 'drizzle-orm'
import { type PgDb } from '../../db/index.js'
import { users } from '../../db/schema.pg.js'
import { columnsOf } from '../columns.js'
import { definedOnly, normaliseEmail, PUBLIC_USER_COLUMNS, type PublicUser, type UserRepository } from '../users.js'

const USER_ROWS_BY_ID = 'SELECT id, email, full_name, role, disabled, token_generation, created_at FROM users WHERE id = ANY($1::bigint[])'

const publicColumns = columnsOf(users, PUBLIC_USER_COLUMNS)

type UserRow = [id: string, email: string, fullName: string | null, role: PublicUser['role'], disabled: boolean, tokenGeneration: number, createdAt: string]
const userOf = (row: UserRow): PublicUser => ({ id: Number(row[0]), email: row[1], fullName: row[2], role: row[3], disabled: row[4], tokenGeneration: row[5], createdAt: row[6] })

export function createPostgresUserRepository (db: PgDb): UserRepository {
  // Named prepared statements: each pooled connection parses them once.
  const byId = db.select(publicColumns).from(users).where(eq(users.id, sql.placeholder('id'))).prepare('users_by_id')
  const pool = db.$client
  const credentialsByEmail = db.select({ ...publicColumns, passwordHash: users.passwordHash })
    .from(users).where(eq(users.email, sql.placeholder('email'))).prepare('users_credentials_by_email')

  // Every authenticated request reads its user's row here (plugins/auth.ts), so that a
  // sign-out, disable or delete ends the user's tokens at once on every instance. The
  // reads asked for while this loop turn handles its sockets go out together, as one
  // named statement (`id = ANY($1)`, rows as arrays), after all of them arrived: each
  // request still reads the row as committed after it arrived, never an earlier read's
  // answer. While two batches are in flight, new requests gather into the next one, so
  // one round trip serves many requests. The cap of 2 is a choice, not yet a measurement:
  // the one comparison made (10 in flight vs 2) ran during an e-mail backlog and is void.
  interface Waiter { resolve: (user: PublicUser | undefined) => void, reject: (error: unknown) => void }
  let pending = new Map<number, Waiter[]>()
  let scheduled = false
  let inFlight = 0
  const maxInFlight = Math.min(2, pool.options.max ?? 10)
  function findById (id: number): Promise<PublicUser | undefined> {
    return new Promise((resolve, reject) => {
      const waiters = pending.get(id)
      if (waiters) waiters.push({ resolve, reject })
      else pending.set(id, [{ resolve, reject }])
      if (!scheduled && inFlight < maxInFlight) {
        scheduled = true
        setImmediate(dispatch)
      }
    })
  }
  function dispatch () {
    scheduled = false
    if (pending.size === 0 || inFlight >= maxInFlight) return
    const batch = pending
    pending = new Map()
    inFlight++
    pool.query<UserRow>({ name: 'users_rows_by_id', text: USER_ROWS_BY_ID, values: [[...batch.keys()]], rowMode: 'array' }).then(({ rows }) => {
      for (const row of rows) {
        const user = userOf(row)
        for (const waiter of batch.get(user.id) ?? []) waiter.resolve(user)
        batch.delete(user.id)
      }
      for (const waiters of batch.values()) for (const waiter of waiters) waiter.resolve(undefined)
    }, (error: unknown) => {
      for (const waiters of batch.values()) for (const waiter of waiters) waiter.reject(error)
    }).finally(() => {
      inFlight--
      // Requests that arrived while every connection was busy: their batch goes now.
      if (pending.size > 0 && !scheduled) {
        scheduled = true
        setImmediate(dispatch)
      }
    })
  }

  const bumpGeneration = sql`${users.tokenGeneration} + 1`
  const first = <T>(rows: T[]): T | undefined => rows[0]

  return {
    findById,

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
