import { and, eq, gt, isNull, lte, sql } from 'drizzle-orm'
import { schema, type SqliteDb } from '../../db/index.js'
import { enqueueMail } from './outbox.js'
import { normaliseEmail } from '../users.js'
import { columnsOf } from '../columns.js'
import {
  hashToken, newOpaqueToken, nextFailure, nowSeconds, RESET_TOKEN_TTL_SECONDS,
  refreshTokenRow, activeRefreshToken, ACTIVE_REFRESH_COLUMNS, type NewRefreshToken, type AuthRepositories, type RefreshTokenRepository, type RotationResult
} from '../auth.js'

const { refreshTokens, loginThrottle, passwordResets, users } = schema

// better-sqlite3 transactions are synchronous: each runs start to end with the write
// lock held (IMMEDIATE), so no other connection, process or instance interleaves.
export function createSqliteAuthRepositories (db: SqliteDb): AuthRepositories {
  const tokenByHash = db.select().from(refreshTokens).where(eq(refreshTokens.tokenHash, sql.placeholder('hash'))).prepare()
  const sessionOf = db.select({ generation: users.tokenGeneration, disabled: users.disabled })
    .from(users).where(eq(users.id, sql.placeholder('id'))).prepare()
  const throttleByEmail = db.select().from(loginThrottle).where(eq(loginThrottle.email, sql.placeholder('email'))).prepare()
  // Prepared once: a login runs so rarely (argon2 bounds it to tens per second) that
  // V8 never optimises drizzle's query building; building these two per login cost the
  // event loop ~0.25 ms of its ~1.6 ms per login.
  const clearThrottle = db.delete(loginThrottle).where(eq(loginThrottle.email, sql.placeholder('email'))).prepare()
  const insertRefreshToken = db.insert(refreshTokens).values({
    tokenHash: sql.placeholder('tokenHash'),
    userId: sql.placeholder('userId'),
    familyId: sql.placeholder('familyId'),
    clientId: sql.placeholder('clientId'),
    generation: sql.placeholder('generation'),
    scope: sql.placeholder('scope'),
    expiresAt: sql.placeholder('expiresAt'),
    createdAt: sql.placeholder('createdAt')
  }).prepare()
  // One statement, so the token and its user are read as of one moment.
  const activeByHash = db.select(columnsOf(refreshTokens, ACTIVE_REFRESH_COLUMNS)).from(refreshTokens).innerJoin(users, eq(users.id, refreshTokens.userId)).where(and(
    eq(refreshTokens.tokenHash, sql.placeholder('hash')),
    isNull(refreshTokens.usedAt),
    isNull(refreshTokens.revokedAt),
    gt(refreshTokens.expiresAt, sql.placeholder('now')),
    eq(users.disabled, false),
    eq(users.tokenGeneration, refreshTokens.generation)
  )).prepare()

  const revokeFamily = (familyId: string) => db.update(refreshTokens).set({ revokedAt: nowSeconds() })
    .where(and(eq(refreshTokens.familyId, familyId), isNull(refreshTokens.revokedAt))).run()

  function issue (input: NewRefreshToken): string {
    const { token, row } = refreshTokenRow(input)
    insertRefreshToken.run(row)
    return token
  }

  const refreshTokenRepository: RefreshTokenRepository = {
    async issue (input) {
      return issue(input)
    },

    async rotate (token, ttlSeconds) {
      return db.transaction((): RotationResult => {
        const row = tokenByHash.get({ hash: hashToken(token) })
        if (!row) return { ok: false, reason: 'unknown' }
        if (row.revokedAt !== null) return { ok: false, reason: 'revoked' }
        if (row.usedAt !== null) {
          revokeFamily(row.familyId)
          return { ok: false, reason: 'reused' }
        }
        const session = sessionOf.get({ id: row.userId })
        if (!session || session.disabled || row.expiresAt <= nowSeconds() || session.generation !== row.generation) {
          return { ok: false, reason: 'expired' }
        }
        db.update(refreshTokens).set({ usedAt: nowSeconds() }).where(eq(refreshTokens.id, row.id)).run()
        const refreshToken = issue({ userId: row.userId, clientId: row.clientId, generation: row.generation, scope: row.scope, familyId: row.familyId, ttlSeconds })
        return { ok: true, userId: row.userId, clientId: row.clientId, scope: row.scope, refreshToken }
      }, { behavior: 'immediate' })
    },

    async inspect (token) {
      const row = activeByHash.get({ hash: hashToken(token), now: nowSeconds() })
      return row && activeRefreshToken(row)
    },

    async revoke (token) {
      const row = tokenByHash.get({ hash: hashToken(token) })
      if (row) revokeFamily(row.familyId)
    }
  }

  return {
    refreshTokens: refreshTokenRepository,

    loginThrottle: (maxFailures) => ({
      async retryAfterMs (email, now = Date.now()) {
        const row = throttleByEmail.get({ email: normaliseEmail(email) })
        return row?.lockedUntil && row.lockedUntil > now ? row.lockedUntil - now : 0
      },

      async recordFailure (email, now = Date.now()) {
        db.transaction(() => {
          const key = normaliseEmail(email)
          const next = nextFailure(throttleByEmail.get({ email: key }), maxFailures, now)
          db.insert(loginThrottle).values({ email: key, ...next, updatedAt: now })
            .onConflictDoUpdate({ target: loginThrottle.email, set: { ...next, updatedAt: now } }).run()
        }, { behavior: 'immediate' })
      },

      async recordSuccess (email) {
        clearThrottle.run({ email: normaliseEmail(email) })
      }
    }),

    passwordResets: {
      async request (user, mail) {
        const token = newOpaqueToken()
        const tokenHash = hashToken(token)
        const now = nowSeconds()
        db.transaction(() => {
          db.delete(passwordResets).where(lte(passwordResets.expiresAt, now)).run()
          if (!user) return
          db.insert(passwordResets).values({ tokenHash, userId: user.id, expiresAt: now + RESET_TOKEN_TTL_SECONDS }).run()
          enqueueMail(db, { to: user.email, ...mail(token) })
        }, { behavior: 'immediate' })
        return user !== undefined
      },

      async confirm (token, passwordHash) {
        return db.transaction(() => {
          const now = nowSeconds()
          const used = db.update(passwordResets).set({ usedAt: now })
            .where(and(eq(passwordResets.tokenHash, hashToken(token)), isNull(passwordResets.usedAt), gt(passwordResets.expiresAt, now)))
            .returning({ userId: passwordResets.userId }).all()[0]
          if (!used) return undefined
          db.update(users).set({ passwordHash, tokenGeneration: sql`${users.tokenGeneration} + 1` }).where(eq(users.id, used.userId)).run()
          // Any other reset link of this user is void once one has been used.
          db.update(passwordResets).set({ usedAt: now })
            .where(and(eq(passwordResets.userId, used.userId), isNull(passwordResets.usedAt))).run()
          return used.userId
        }, { behavior: 'immediate' })
      }
    }
  }
}
