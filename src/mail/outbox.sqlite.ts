import { and, asc, eq, inArray, isNull, lte, sql } from 'drizzle-orm'
import { schema, type SqliteDb } from '../db/index.js'
import type { MailMessage, OutboxRepository } from './outbox.js'

const { mailOutbox } = schema

/** Queues an e-mail; call it inside the transaction that commits what the mail is about. */
export function enqueueMail (db: SqliteDb, message: MailMessage): void {
  db.insert(mailOutbox).values({ recipient: message.to, subject: message.subject, body: message.text, nextAttemptAt: Date.now() }).run()
}

export function createSqliteOutboxRepository (db: SqliteDb): OutboxRepository {
  const due = db.select({
    id: mailOutbox.id, to: mailOutbox.recipient, subject: mailOutbox.subject, text: mailOutbox.body, attempts: mailOutbox.attempts
  }).from(mailOutbox)
    .where(and(isNull(mailOutbox.sentAt), lte(mailOutbox.nextAttemptAt, sql.placeholder('now'))))
    .orderBy(asc(mailOutbox.nextAttemptAt), asc(mailOutbox.id)).limit(sql.placeholder('limit')).prepare()

  return {
    async claimDue (limit, leaseUntil, now = Date.now()) {
      // The write lock is taken first (IMMEDIATE), so two processes cannot read the same due rows.
      return db.transaction(() => {
        const rows = due.all({ now, limit })
        if (rows.length > 0) {
          db.update(mailOutbox).set({ nextAttemptAt: leaseUntil }).where(inArray(mailOutbox.id, rows.map((row) => row.id))).run()
        }
        return rows
      }, { behavior: 'immediate' })
    },
    async release (ids) {
      if (ids.length === 0) return
      db.update(mailOutbox).set({ nextAttemptAt: Date.now() }).where(and(inArray(mailOutbox.id, ids), isNull(mailOutbox.sentAt))).run()
    },
    async markSent (id) {
      db.update(mailOutbox).set({ sentAt: Date.now(), lastError: null }).where(eq(mailOutbox.id, id)).run()
    },
    async markFailed (id, error, retryAt) {
      db.update(mailOutbox).set({ attempts: sql`${mailOutbox.attempts} + 1`, lastError: error.slice(0, 500), nextAttemptAt: retryAt })
        .where(eq(mailOutbox.id, id)).run()
    },
    async backlog () {
      return db.select({ count: sql<number>`count(*)` }).from(mailOutbox).where(isNull(mailOutbox.sentAt)).get()?.count ?? 0
    }
  }
}
