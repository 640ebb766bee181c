import { eq, sql } from 'drizzle-orm'
import { schema, type Db } from '../../src/db/index.js'
import { normaliseEmail } from '../users/repository.js'

const { loginThrottle } = schema
export const THROTTLE_MS = 15 * 60 * 1000

/**
 * Consecutive failed logins per submitted e-mail (known or not, so throttling
 * says nothing about which accounts exist). After `maxFailures` the e-mail is
 * refused for 15 minutes, correct password or not; a success clears the count.
 */
export function createLoginThrottle (db: Db, maxFailures: number) {
  const byEmail = db.select().from(loginThrottle).where(eq(loginThrottle.email, sql.placeholder('email'))).prepare()

  return {
    /** Milliseconds until the e-mail may try again; 0 when it may now. */
    retryAfterMs (email: string, now = Date.now()): number {
      const row = byEmail.get({ email: normaliseEmail(email) })
      return row?.lockedUntil && row.lockedUntil > now ? row.lockedUntil - now : 0
    },

    recordFailure (email: string, now = Date.now()): void {
      db.transaction(() => {
        const key = normaliseEmail(email)
        const row = byEmail.get({ email: key })
        // A lock that has run out starts a fresh count.
        const previous = row && !(row.lockedUntil && row.lockedUntil <= now) ? row.failures : 0
        const failures = previous + 1
        const lockedUntil = failures >= maxFailures ? now + THROTTLE_MS : null
        db.insert(loginThrottle).values({ email: key, failures, lockedUntil, updatedAt: now })
          .onConflictDoUpdate({ target: loginThrottle.email, set: { failures, lockedUntil, updatedAt: now } }).run()
      }, { behavior: 'immediate' })
    },

    recordSuccess (email: string): void {
      db.delete(loginThrottle).where(eq(loginThrottle.email, normaliseEmail(email))).run()
    }
  }
}
