import { and, eq, gt, isNull, sql } from 'drizzle-orm'
import { schema, type Db } from '../../src/db/index.js'
import { enqueueMail } from '../../src/mail/outbox.js'
import { hashToken, newOpaqueToken } from './repository.js'

const { passwordResets, users } = schema
export const RESET_TOKEN_TTL_SECONDS = 3600

const nowSeconds = () => Math.floor(Date.now() / 1000)

export function createPasswordResetRepository (db: Db) {
  return {
    /** Stores a single-use token (its hash) and queues the e-mail carrying it, together. */
    issue (user: { id: number, email: string }, mail: (token: string) => { subject: string, text: string }): void {
      const token = newOpaqueToken()
      db.transaction(() => {
        db.insert(passwordResets).values({
          tokenHash: hashToken(token), userId: user.id, expiresAt: nowSeconds() + RESET_TOKEN_TTL_SECONDS
        }).run()
        enqueueMail(db, { to: user.email, ...mail(token) })
      }, { behavior: 'immediate' })
    },

    /**
     * Uses the token once and sets the new password hash, ending every session of
     * the user; undefined when the token is wrong, used or expired. The conditional
     * update lets exactly one of two concurrent confirmations win.
     */
    confirm (token: string, passwordHash: string): number | undefined {
      return db.transaction(() => {
        const used = db.update(passwordResets).set({ usedAt: nowSeconds() })
          .where(and(eq(passwordResets.tokenHash, hashToken(token)), isNull(passwordResets.usedAt), gt(passwordResets.expiresAt, nowSeconds())))
          .returning({ userId: passwordResets.userId }).get()
        if (!used) return undefined
        db.update(users).set({ passwordHash, tokenGeneration: sql`${users.tokenGeneration} + 1` }).where(eq(users.id, used.userId)).run()
        // Any other reset link of this user is void once one has been used.
        db.update(passwordResets).set({ usedAt: nowSeconds() })
          .where(and(eq(passwordResets.userId, used.userId), isNull(passwordResets.usedAt))).run()
        return used.userId
      }, { behavior: 'immediate' })
    }
  }
}
