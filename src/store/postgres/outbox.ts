import { and, asc, eq, inArray, isNull, lte, sql } from 'drizzle-orm'
import { type PgDb, type PgExecutor } from '../../db/index.js'
import { mailOutbox } from '../../db/schema.pg.js'
import type { MailMessage, OutboxRepository } from '../outbox.js'

/** Queues an e-mail; call it inside the transaction that commits what the mail is about. */
export async function enqueueMail (executor: PgExecutor, message: MailMessage): Promise<void> {
  await executor.insert(mailOutbox).values({ recipient: message.to, subject: message.subject, body: message.text, nextAttemptAt: Date.now() })
}

const MARK_SENT = `WITH asynchronous AS (SELECT set_config('synchronous_commit', 'off', true))
  UPDATE mail_outbox SET sent_at = $1, last_error = NULL FROM asynchronous WHERE id = $2`

export function createPostgresOutboxRepository (db: PgDb): OutboxRepository {
  return {
    async claimDue (limit, leaseUntil, now = Date.now()) {
      // SKIP LOCKED: a row another instance is claiming right now is passed over, not waited
      // for, so workers on every instance take disjoint rows and each e-mail goes out once.
      const due = db.select({ id: mailOutbox.id }).from(mailOutbox)
        .where(and(isNull(mailOutbox.sentAt), lte(mailOutbox.nextAttemptAt, now)))
        .orderBy(asc(mailOutbox.nextAttemptAt), asc(mailOutbox.id)).limit(limit)
        .for('update', { skipLocked: true })
      const rows = await db.update(mailOutbox).set({ nextAttemptAt: leaseUntil })
        .where(inArray(mailOutbox.id, due))
        .returning({ id: mailOutbox.id, to: mailOutbox.recipient, subject: mailOutbox.subject, text: mailOutbox.body, attempts: mailOutbox.attempts })
      return rows.sort((a, b) => a.id - b.id)
    },
    async release (ids) {
      if (ids.length === 0) return
      await db.update(mailOutbox).set({ nextAttemptAt: Date.now() }).where(and(inArray(mailOutbox.id, ids), isNull(mailOutbox.sentAt)))
    },
    // The worker marks one e-mail at a time, so waiting for each mark's WAL flush made
    // the outbox's rate the disk's flush rate (93 e-mails/s in the bench). The mark is
    // committed asynchronously instead (synchronous_commit off for this statement's own
    // transaction only): a PostgreSQL crash within ~0.6 s of it can forget it, and the
    // e-mail is then sent again — at least once, as when an instance dies between the
    // send and the mark. Nothing is ever lost; the order itself commits synchronously.
    async markSent (id) {
      await db.$client.query({ name: 'outbox_mark_sent', text: MARK_SENT, values: [Date.now(), id] })
    },
    async markFailed (id, error, retryAt) {
      await db.update(mailOutbox).set({ attempts: sql`${mailOutbox.attempts} + 1`, lastError: error.slice(0, 500), nextAttemptAt: retryAt })
        .where(eq(mailOutbox.id, id))
    },
    async backlog () {
      const [row] = await db.select({ count: sql<number>`count(*)::int` }).from(mailOutbox).where(isNull(mailOutbox.sentAt))
      return row?.count ?? 0
    }
  }
}
