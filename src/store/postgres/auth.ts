import { and, eq, gt, isNull, lte, sql } from 'drizzle-orm'
import { type PgDb, type PgExecutor } from '../../db/index.js'
import { refreshTokens, loginThrottle, passwordResets, users } from '../../db/schema.pg.js'
import { enqueueMail } from './outbox.js'
import { normaliseEmail } from '../users.js'
import { columnsOf } from '../columns.js'
import {
  hashToken, newOpaqueToken, nextFailure, nowSeconds, RESET_TOKEN_TTL_SECONDS, THROTTLE_MS,
  refreshTokenRow, activeRefreshToken, ACTIVE_REFRESH_COLUMNS, type NewRefreshToken, type AuthRepositories, type RefreshTokenRepository, type RotationResult
} from '../auth.js'

// READ COMMITTED transactions; where two instances may race on one row, the row is
// locked (FOR UPDATE) or the write is conditional, so the database picks the winner.
export function createPostgresAuthRepositories (db: PgDb): AuthRepositories {
  const revokeFamily = (executor: PgExecutor, familyId: string) => executor.update(refreshTokens).set({ revokedAt: nowSeconds() })
    .where(and(eq(refreshTokens.familyId, familyId), isNull(refreshTokens.revokedAt)))

  async function issue (executor: PgExecutor, input: NewRefreshToken) {
    const { token, row } = refreshTokenRow(input)
    await executor.insert(refreshTokens).values(row)
    return token
  }

  const refreshTokenRepository: RefreshTokenRepository = {
    issue: (input) => issue(db, input),

    rotate (token, ttlSeconds) {
      return db.transaction(async (tx): Promise<RotationResult> => {
        // The row lock makes a second, concurrent use wait and then see this one's mark: reuse.
        const [row] = await tx.select().from(refreshTokens).where(eq(refreshTokens.tokenHash, hashToken(token))).for('update')
        if (!row) return { ok: false, reason: 'unknown' }
        if (row.revokedAt !== null) return { ok: false, reason: 'revoked' }
        if (row.usedAt !== null) {
          await revokeFamily(tx, row.familyId)
          return { ok: false, reason: 'reused' }
        }
        const [session] = await tx.select({ generation: users.tokenGeneration, disabled: users.disabled })
          .from(users).where(eq(users.id, row.userId))
        if (!session || session.disabled || row.expiresAt <= nowSeconds() || session.generation !== row.generation) {
          return { ok: false, reason: 'expired' }
        }
        await tx.update(refreshTokens).set({ usedAt: nowSeconds() }).where(eq(refreshTokens.id, row.id))
        const refreshToken = await issue(tx, { userId: row.userId, clientId: row.clientId, generation: row.generation, scope: row.scope, familyId: row.familyId, ttlSeconds })
        return { ok: true, userId: row.userId, clientId: row.clientId, scope: row.scope, refreshToken }
      })
    },

    // One statement, so the token and its user are read as of one snapshot.
    async inspect (token) {
      const [row] = await db.select(columnsOf(refreshTokens, ACTIVE_REFRESH_COLUMNS)).from(refreshTokens).innerJoin(users, eq(users.id, refreshTokens.userId)).where(and(
        eq(refreshTokens.tokenHash, hashToken(token)),
        isNull(refreshTokens.usedAt),
        isNull(refreshTokens.revokedAt),
        gt(refreshTokens.expiresAt, nowSeconds()),
        eq(users.disabled, false),
        eq(users.tokenGeneration, refreshTokens.generation)
      ))
      return row && activeRefreshToken(row)
    },

    async revoke (token) {
      const [row] = await db.select({ familyId: refreshTokens.familyId }).from(refreshTokens).where(eq(refreshTokens.tokenHash, hashToken(token)))
      if (row) await revokeFamily(db, row.familyId)
    }
  }

  return {
    refreshTokens: refreshTokenRepository,

    loginThrottle: (maxFailures) => ({
      async retryAfterMs (email, now = Date.now()) {
        const [row] = await db.select({ lockedUntil: loginThrottle.lockedUntil }).from(loginThrottle)
          .where(eq(loginThrottle.email, normaliseEmail(email)))
        return row?.lockedUntil && row.lockedUntil > now ? row.lockedUntil - now : 0
      },

      async recordFailure (email, now = Date.now()) {
        // One statement, so failures from several instances at once all count.
        const expired = sql`${loginThrottle.lockedUntil} IS NOT NULL AND ${loginThrottle.lockedUntil} <= ${now}::bigint`
        const failures = sql`CASE WHEN ${expired} THEN 1 ELSE ${loginThrottle.failures} + 1 END`
        await db.insert(loginThrottle).values({ email: normaliseEmail(email), ...nextFailure(undefined, maxFailures, now), updatedAt: now })
          .onConflictDoUpdate({
            target: loginThrottle.email,
            set: {
              failures,
              lockedUntil: sql`CASE WHEN ${failures} >= ${maxFailures}::int THEN ${now + THROTTLE_MS}::bigint ELSE NULL END`,
              updatedAt: now
            }
          })
      },

      async recordSuccess (email) {
        await db.delete(loginThrottle).where(eq(loginThrottle.email, normaliseEmail(email)))
      }
    }),

    passwordResets: {
      async request (user, mail) {
        const token = newOpaqueToken()
        const tokenHash = hashToken(token)
        const now = nowSeconds()
        await db.transaction(async (tx) => {
          await tx.delete(passwordResets).where(lte(passwordResets.expiresAt, now))
          if (!user) return
          await tx.insert(passwordResets).values({ tokenHash, userId: user.id, expiresAt: now + RESET_TOKEN_TTL_SECONDS })
          await enqueueMail(tx, { to: user.email, ...mail(token) })
        })
        return user !== undefined
      },

      confirm (token, passwordHash) {
        return db.transaction(async (tx) => {
          const now = nowSeconds()
          const [used] = await tx.update(passwordResets).set({ usedAt: now })
            .where(and(eq(passwordResets.tokenHash, hashToken(token)), isNull(passwordResets.usedAt), gt(passwordResets.expiresAt, now)))
            .returning({ userId: passwordResets.userId })
          if (!used) return undefined
          await tx.update(users).set({ passwordHash, tokenGeneration: sql`${users.tokenGeneration} + 1` }).where(eq(users.id, used.userId))
          await tx.update(passwordResets).set({ usedAt: now })
            .where(and(eq(passwordResets.userId, used.userId), isNull(passwordResets.usedAt)))
          return used.userId
        })
      }
    }
  }
}
