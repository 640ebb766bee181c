import crypto from 'node:crypto'
import { and, eq, isNull, sql } from 'drizzle-orm'
import { schema, type Db } from '../../src/db/index.js'

const { refreshTokens } = schema

/** Refresh and reset tokens are opaque 256-bit random strings; only their SHA-256 is stored. */
export const newOpaqueToken = () => crypto.randomBytes(32).toString('base64url')
export const hashToken = (token: string) => crypto.createHash('sha256').update(token).digest('base64url')

const nowSeconds = () => Math.floor(Date.now() / 1000)

export type RotationResult =
  | { ok: true, userId: number, clientId: string, refreshToken: string }
  | { ok: false, reason: 'unknown' | 'expired' | 'revoked' | 'reused' }

export function createRefreshTokenRepository (db: Db) {
  const byHash = db.select().from(refreshTokens).where(eq(refreshTokens.tokenHash, sql.placeholder('hash'))).prepare()

  const revokeFamily = (familyId: string) => db.update(refreshTokens).set({ revokedAt: nowSeconds() })
    .where(and(eq(refreshTokens.familyId, familyId), isNull(refreshTokens.revokedAt))).run()

  /** Stores a new refresh token; returns the token itself, which is never stored. */
  function issue (input: { userId: number, clientId: string, generation: number, familyId?: string, ttlSeconds: number }): string {
    const token = newOpaqueToken()
    db.insert(refreshTokens).values({
      tokenHash: hashToken(token),
      userId: input.userId,
      familyId: input.familyId ?? crypto.randomUUID(),
      clientId: input.clientId,
      generation: input.generation,
      expiresAt: nowSeconds() + input.ttlSeconds
    }).run()
    return token
  }

  return {
    issue,

    /**
     * Marks the token used, once, and issues its successor in the same transaction.
     * Presenting a used token is theft (RFC 9700 §4.14.2): its whole family is
     * revoked. `generationOf` gives the user's session generation, undefined when
     * the user may not hold a session (deleted, disabled).
     */
    rotate (token: string, ttlSeconds: number, generationOf: (userId: number) => number | undefined): RotationResult {
      return db.transaction(() => {
        const row = byHash.get({ hash: hashToken(token) })
        if (!row) return { ok: false, reason: 'unknown' } as const
        if (row.revokedAt !== null) return { ok: false, reason: 'revoked' } as const
        if (row.usedAt !== null) {
          revokeFamily(row.familyId)
          return { ok: false, reason: 'reused' } as const
        }
        const generation = generationOf(row.userId)
        if (row.expiresAt <= nowSeconds() || generation !== row.generation) {
          return { ok: false, reason: 'expired' } as const
        }
        // Conditional: of two concurrent uses, exactly one wins; the loser revokes the family.
        const marked = db.update(refreshTokens).set({ usedAt: nowSeconds() })
          .where(and(eq(refreshTokens.id, row.id), isNull(refreshTokens.usedAt))).run()
        if (marked.changes !== 1) {
          revokeFamily(row.familyId)
          return { ok: false, reason: 'reused' } as const
        }
        const refreshToken = issue({ userId: row.userId, clientId: row.clientId, generation, familyId: row.familyId, ttlSeconds })
        return { ok: true, userId: row.userId, clientId: row.clientId, refreshToken } as const
      }, { behavior: 'immediate' })
    },

    /** RFC 7009: the token and its family stop working; unknown tokens are fine. */
    revoke (token: string): void {
      const row = byHash.get({ hash: hashToken(token) })
      if (row) revokeFamily(row.familyId)
    }
  }
}

export type RefreshTokenRepository = ReturnType<typeof createRefreshTokenRepository>
