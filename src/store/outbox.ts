export interface MailMessage {
  to: string
  subject: string
  text: string
}

export interface QueuedMail extends MailMessage {
  id: number
  attempts: number
}

// Mail is queued with the store's own enqueueMail, inside the transaction that
// commits what the mail is about: the mail then exists exactly when that does.
export { enqueueMail } from './sqlite/outbox.js'

/** The durable mail queue that every instance's worker drains. */
export interface OutboxRepository {
  /**
   * Takes up to `limit` unsent rows whose time has come, oldest first, for this
   * sender until `leaseUntil`: no other worker sees them meanwhile. Should the sender
   * die mid-send, the rows are due again when the lease runs out (at least once, never lost).
   */
  claimDue (limit: number, leaseUntil: number, now?: number): Promise<QueuedMail[]>
  /** Gives claimed rows back at once (a worker stopping mid-batch), rather than after the lease. */
  release (ids: number[]): Promise<void>
  markSent (id: number): Promise<void>
  markFailed (id: number, error: string, retryAt: number): Promise<void>
  /** Unsent rows, due or not. */
  backlog (): Promise<number>
}
