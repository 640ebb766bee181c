import { and, eq, gt, isNull, lte } from 'drizzle-orm'
import { schema, type Db } from '../../src/db/index.js'
import { enqueueMail, type MailMessage } from '../../src/mail/outbox.js'
import { createUserRepository } from '../users/repository.js'
import { hashToken, newOpaqueToken } from './repository.js'

const { passwordResets } = schema
export const RESET_TOKEN_TTL_SECONDS = 3600

const nowSeconds = () => Math.floor(Date.now() / 1000)

export function createPasswordResetRepository (db: Db) {
  const users = createUserRepository(db)

  return {
    /**
     * One write transaction per request, known address or not, so that both answers
     * take about as long: it clears tokens whose hour is over and, for a user, stores a
     * new single-use token (only its hash) and queues the e-mail carrying it, together.
     * True when an e-mail was queued.
     */
    request (user: { id: number, email: string } | undefined, mail: (token: string) => Omit<MailMessage, 'to'>): boolean {
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

    /**
     * Uses the token once and sets the new password hash, ending every session of
     * the user; undefined when the token is wrong, used or expired. The conditional
     * update lets exactly one of two concurrent confirmations win.
     */
    confirm (token: string, passwordHash: string): number | undefined {
      return db.transaction(() => {
        const now = nowSeconds()
        const used = db.update(passwordResets).set({ usedAt: now })
          .where(and(eq(passwordResets.tokenHash, hashToken(token)), isNull(passwordResets.usedAt), gt(passwordResets.expiresAt, now)))
          .returning({ userId: passwordResets.userId }).get()
        if (!used) return undefined
        users.setPasswordHash(used.userId, passwordHash, { endSessions: true })
        // Any other reset link of this user is void once one has been used.
        db.update(passwordResets).set({ usedAt: now })
          .where(and(eq(passwordResets.userId, used.userId), isNull(passwordResets.usedAt))).run()
        return used.userId
      }, { behavior: 'immediate' })
    }
  }
}
