import { schema, type Db } from '../db/index.js'

export interface MailMessage {
  to: string
  subject: string
  text: string
}

/**
 * Queues an e-mail. Call it inside the transaction that commits what the mail
 * is about: the mail then exists exactly when that does, and survives restarts.
 */
export function enqueueMail (db: Db, message: MailMessage): void {
  db.insert(schema.mailOutbox).values({
    recipient: message.to,
    subject: message.subject,
    body: message.text,
    nextAttemptAt: Date.now()
  }).run()
}
