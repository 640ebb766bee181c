import { and, asc, eq, isNull, lte, sql } from 'drizzle-orm'
import { schema, type Db } from '../db/index.js'

const { mailOutbox } = schema

export interface MailMessage {
  to: string
  subject: string
  text: string
}

export interface QueuedMail extends MailMessage {
  id: number
  attempts: number
}

/**
 * Queues an e-mail. Call it inside the transaction that commits what the mail
 * is about: the mail then exists exactly when that does, and survives restarts.
 */
export function enqueueMail (db: Db, message: MailMessage): void {
  db.insert(mailOutbox).values({
    recipient: message.to,
    subject: message.subject,
    body: message.text,
    nextAttemptAt: Date.now()
  }).run()
}

export function createOutboxRepository (db: Db) {
  const due = db.select({
    id: mailOutbox.id, to: mailOutbox.recipient, subject: mailOutbox.subject, text: mailOutbox.body, attempts: mailOutbox.attempts
  }).from(mailOutbox)
    .where(and(isNull(mailOutbox.sentAt), lte(mailOutbox.nextAttemptAt, sql.placeholder('now'))))
    .orderBy(asc(mailOutbox.nextAttemptAt), asc(mailOutbox.id)).limit(sql.placeholder('limit')).prepare()

  const claim = db.update(mailOutbox).set({ nextAttemptAt: sql`${sql.placeholder('leaseUntil')}` })
    .where(and(eq(mailOutbox.id, sql.placeholder('id')), isNull(mailOutbox.sentAt), lte(mailOutbox.nextAttemptAt, sql.placeholder('now'))))
    .prepare()

  return {
    /** Unsent rows whose time has come, oldest first. */
    due (limit: number, now = Date.now()): QueuedMail[] {
      return due.all({ now, limit })
    },
    /**
     * Takes a due row for one sender until `leaseUntil`. Several instances share
     * the database: of two workers that read the same row, only the one whose
     * conditional update lands sends it. Should the sender die mid-send, the row
     * is due again when the lease runs out (at least once, never lost).
     */
    claim (id: number, leaseUntil: number, now = Date.now()): boolean {
      return claim.run({ id, now, leaseUntil }).changes === 1
    },
    markSent (id: number): void {
      db.update(mailOutbox).set({ sentAt: Date.now(), lastError: null }).where(eq(mailOutbox.id, id)).run()
    },
    markFailed (id: number, error: string, retryAt: number): void {
      db.update(mailOutbox).set({ attempts: sql`${mailOutbox.attempts} + 1`, lastError: error.slice(0, 500), nextAttemptAt: retryAt })
        .where(eq(mailOutbox.id, id)).run()
    },
    backlog (): number {
      return db.select({ count: sql<number>`count(*)` }).from(mailOutbox).where(isNull(mailOutbox.sentAt)).get()?.count ?? 0
    }
  }
}
