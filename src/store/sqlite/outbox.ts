import { and, asc, eq, inArray, isNull, lte, sql } from 'drizzle-orm'
import { schema, type SqliteDb } from '../../db/index.js'
import type { MailMessage, OutboxRepository } from '../outbox.js'

const { mailOutbox } = schema

const insertStatements = new WeakMap<object, ReturnType<typeof prepareInsert>>()
const prepareInsert = (db: SqliteDb) => db.$client.prepare<[string, string, string, number, string]>(
  'INSERT INTO mail_outbox (recipient, subject, body, next_attempt_at, created_at) VALUES (?, ?, ?, ?, ?)')

/** Queues an e-mail; call it inside the transaction that commits what the mail is about. */
export function enqueueMail (db: SqliteDb, message: MailMessage): void {
  // Prepared once per database: checkout calls this for every order.
  let insert = insertStatements.get(db.$client)
  if (!insert) insertStatements.set(db.$client, insert = prepareInsert(db))
  insert.run(message.to, message.subject, message.text, Date.now(), new Date().toISOString())
}

export function createSqliteOutboxRepository (db: SqliteDb): OutboxRepository {
  const due = db.select({
    id: mailOutbox.id, to: mailOutbox.recipient, subject: mailOutbox.subject, text: mailOutbox.body, attempts: mailOutbox.attempts
  }).from(mailOutbox)
    .where(and(isNull(mailOutbox.sentAt), lte(mailOutbox.nextAttemptAt, sql.placeholder('now'))))
    .orderBy(asc(mailOutbox.nextAttemptAt), asc(mailOutbox.id)).limit(sql.placeholder('limit')).prepare()

  // The worker runs these once per e-mail: prepared once, in a transaction made once.
  const lease = db.$client.prepare<[number, number]>('UPDATE mail_outbox SET next_attempt_at = ? WHERE id = ?')
  const sent = db.$client.prepare<[number, number]>('UPDATE mail_outbox SET sent_at = ?, last_error = NULL WHERE id = ?')
  const claim = db.$client.transaction((limit: number, leaseUntil: number, now: number) => {
    const rows = due.all({ now, limit })
    for (const row of rows) lease.run(leaseUntil, row.id)
    return rows
  })

  return {
    async claimDue (limit, leaseUntil, now = Date.now()) {
      // The write lock is taken first (IMMEDIATE), so two processes cannot read the same due rows.
      return claim.immediate(limit, leaseUntil, now)
    },
    async release (ids) {
      if (ids.length === 0) return
      db.update(mailOutbox).set({ nextAttemptAt: Date.now() }).where(and(inArray(mailOutbox.id, ids), isNull(mailOutbox.sentAt))).run()
    },
    async markSent (id) {
      sent.run(Date.now(), id)
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
