import fp from 'fastify-plugin'
import nodemailer, { type Transporter } from 'nodemailer'
import { createOutboxRepository, type QueuedMail } from '../src/mail/outbox.js'

export interface MailWorkerOptions {
  /** How often an idle worker looks for due mail. */
  pollMs?: number
  /** First retry delay; doubles per attempt up to maxBackoffMs. */
  baseBackoffMs?: number
  maxBackoffMs?: number
}

declare module 'fastify' {
  interface FastifyInstance {
    mailOutbox: { wake: () => void }
  }
}

/** 1 s, 2 s, 4 s … capped at a minute, so mail goes out within a minute or two of the server's return. */
export function backoffMs (attempts: number, base: number, max: number): number {
  const delay = Math.min(max, base * 2 ** Math.min(attempts, 20))
  // Up to 10 % jitter, so instances do not retry in lock-step.
  return Math.round(delay * (0.9 + Math.random() * 0.1))
}

// The outbox worker: sends queued mail over SMTP_URL, or logs it without one.
export default fp<MailWorkerOptions>(async function mail (fastify, options) {
  const pollMs = options.pollMs ?? 500
  const baseBackoffMs = options.baseBackoffMs ?? 1000
  const maxBackoffMs = options.maxBackoffMs ?? 60_000
  const outbox = createOutboxRepository(fastify.db)
  const log = fastify.log.child({ component: 'mail' })
  const transport: Transporter | undefined = fastify.config.smtpUrl
    ? nodemailer.createTransport({
      url: fastify.config.smtpUrl,
      // A dead or hanging mail server must not stall the worker.
      connectionTimeout: 5000,
      greetingTimeout: 5000,
      socketTimeout: 10_000
    })
    : undefined

  async function deliver (mail: QueuedMail) {
    if (!transport) {
      // Development without SMTP_URL: the log is the mailbox (reset mails included, by design).
      log.info({ mailId: mail.id, to: mail.to, subject: mail.subject, text: mail.text }, 'e-mail (no SMTP_URL set)')
      return
    }
    await transport.sendMail({ from: fastify.config.mailFrom, to: mail.to, subject: mail.subject, text: mail.text })
  }

  let timer: NodeJS.Timeout | undefined
  let running: Promise<void> | undefined
  let stopped = false

  async function drain () {
    for (let batch = outbox.due(20); batch.length > 0 && !stopped; batch = outbox.due(20)) {
      for (const mail of batch) {
        if (stopped) return
        try {
          await deliver(mail)
          outbox.markSent(mail.id)
        } catch (err) {
          const message = (err as Error).message
          outbox.markFailed(mail.id, message, Date.now() + backoffMs(mail.attempts, baseBackoffMs, maxBackoffMs))
          log.warn({ mailId: mail.id, attempts: mail.attempts + 1, err: message }, 'e-mail not sent; will retry')
        }
      }
    }
  }

  function tick () {
    if (stopped || running) return
    running = drain()
      .catch((err: unknown) => log.error({ err }, 'mail worker failed'))
      .finally(() => {
        running = undefined
        if (!stopped) timer = setTimeout(tick, pollMs)
      })
  }

  fastify.decorate('mailOutbox', {
    wake () {
      if (running || stopped) return
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
