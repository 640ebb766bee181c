import fp from 'fastify-plugin'
import type { Transporter } from 'nodemailer'
import type { QueuedMail } from '../src/store/outbox.js'

export interface MailWorkerOptions {
  /** How often an idle worker looks for due mail. */
  pollMs?: number
  /** First retry delay; doubles per attempt up to maxBackoffMs. */
  baseBackoffMs?: number
  maxBackoffMs?: number
  /** How long one send may take before it counts as failed. */
  sendTimeoutMs?: number
}

declare module 'fastify' {
  interface FastifyInstance {
    /** Call after committing a transaction that queued mail, so it goes out now rather than at the next poll. */
    mailOutbox: { wake: () => void }
  }
}

// Rows taken per claim: one, so its lease need only cover one send, and the mail of an
// instance that died mid-send is due again soon (SQLite and PostgreSQL alike).
const BATCH = 1

/** 1 s, 2 s, 4 s … capped at a minute, so mail goes out within a minute or two of the server's return. */
export function backoffMs (attempts: number, base: number, max: number): number {
  const delay = Math.min(max, base * 2 ** Math.min(attempts, 20))
  // Up to 10 % jitter, so instances do not retry in lock-step.
  return Math.round(delay * (0.9 + Math.random() * 0.1))
}

function safeDecode (text: string): string {
  try { return decodeURIComponent(text) } catch { return text }
}

/** What last_error keeps: the error's code and message, never the SMTP credentials. */
export function describeError (err: unknown, smtpUrl: string | undefined): string {
  const code = typeof err === 'object' && err !== null && 'code' in err && typeof err.code === 'string' ? `${err.code}: ` : ''
  let text = code + (err instanceof Error ? err.message : String(err))
  if (smtpUrl) {
    const { username, password } = new URL(smtpUrl)
    for (const secret of [password, safeDecode(password), username, safeDecode(username)]) {
      if (secret) text = text.split(secret).join('[redacted]')
    }
  }
  return text.slice(0, 500)
}

// The outbox worker: sends queued mail over SMTP_URL, or logs it without one.
export default fp<MailWorkerOptions>(async function mail (fastify, options) {
  const pollMs = options.pollMs ?? 500
  const baseBackoffMs = options.baseBackoffMs ?? 1000
  const maxBackoffMs = options.maxBackoffMs ?? 60_000
  const sendTimeoutMs = options.sendTimeoutMs ?? 20_000
  // Longer than any send may take, so no other instance takes a row mid-send.
  const leaseMs = BATCH * sendTimeoutMs + 10_000
  const { smtpUrl, mailFrom } = fastify.config
  const { outbox } = fastify.repos
  const log = fastify.log.child({ component: 'mail' })
  const transport: Transporter | undefined = smtpUrl
    // nodemailer loads only when there is an SMTP server to talk to.
    ? (await import('nodemailer')).default.createTransport({
        url: smtpUrl,
        // A dead or hanging mail server must not stall the worker.
        connectionTimeout: 5000,
        greetingTimeout: 5000,
        socketTimeout: 10_000
      })
    : undefined
  if (!transport) log.warn('SMTP_URL is not set: e-mails, password reset tokens included, are written to the log instead of sent')

  async function deliver (mail: QueuedMail) {
    if (!transport) {
      // Development without SMTP_URL: the log is the mailbox. This line carries the
      // whole body, and a password reset body holds a live reset token (docs/API.md: "without
      // SMTP_URL, e-mails are written to the log"); production sets SMTP_URL.
      log.info({ mailId: mail.id, to: mail.to, subject: mail.subject, text: mail.text, containsSecrets: true },
        'e-mail not sent (no SMTP_URL): logged instead, body may hold a reset token')
      return
    }
    // nodemailer 10 cancels a send on its abort signal; its typings do not list the option yet.
    const message = { from: mailFrom, to: mail.to, subject: mail.subject, text: mail.text, signal: AbortSignal.timeout(sendTimeoutMs) }
    await transport.sendMail(message)
  }

  let timer: NodeJS.Timeout | undefined
  let running: Promise<void> | undefined
  let stopped = false
  // A wake that arrives while a drain is finishing must not wait for the next poll.
  let wokenWhileRunning = false

  async function send (mail: QueuedMail) {
    try {
      await deliver(mail)
    } catch (err) {
      const error = describeError(err, smtpUrl)
      await outbox.markFailed(mail.id, error, Date.now() + backoffMs(mail.attempts, baseBackoffMs, maxBackoffMs))
      log.warn({ mailId: mail.id, attempts: mail.attempts + 1, error }, 'e-mail not sent; will retry')
      return
    }
    await outbox.markSent(mail.id)
  }

  async function drain () {
    const claim = () => outbox.claimDue(BATCH, Date.now() + leaseMs)
    for (let batch = await claim(); batch.length > 0 && !stopped; batch = await claim()) {
      for (const [index, mail] of batch.entries()) {
        if (stopped) {
          // What this worker will not send now, another instance (or the next start) may.
          await outbox.release(batch.slice(index).map((unsent) => unsent.id))
          return
        }
        await send(mail)
        // On SQLite, and when mail is only logged, nothing above waits on I/O: without this
        // a backlog of thousands would hold the event loop, and every request, until drained.
        await new Promise((resolve) => setImmediate(resolve))
      }
    }
  }

  function tick () {
    if (stopped || running) return
    running = drain()
      .catch((err: unknown) => log.error({ err }, 'mail worker failed'))
      .finally(() => {
        running = undefined
        if (stopped) return
        timer = setTimeout(tick, wokenWhileRunning ? 0 : pollMs)
        wokenWhileRunning = false
      })
  }

  fastify.decorate('mailOutbox', {
    wake () {
      if (stopped) return
      if (running) {
        wokenWhileRunning = true
        return
      }
      clearTimeout(timer)
      setImmediate(tick)
    }
  })
  fastify.addHook('onReady', async () => { tick() })
  fastify.addHook('onClose', async () => {
    stopped = true
    clearTimeout(timer)
    await running
    transport?.close()
  })
}, { name: 'mail', dependencies: ['db'] })
