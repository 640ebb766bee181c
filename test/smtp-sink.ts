import { SMTPServer } from 'smtp-server'
import { simpleParser, type ParsedMail } from 'mailparser'

/**
 * A real SMTP server on 127.0.0.1 that keeps every message it accepts. stop()
 * takes it down and start() brings it back on the same port, so a service
 * configured with `url` sees an outage and a return.
 */
export class SmtpSink {
  readonly messages: ParsedMail[] = []
  /** How many of the next messages to refuse with a temporary 451 while the server stays up. */
  reject = 0
  /** Messages refused through `reject`. */
  rejected = 0
  /** How long to hold each message before answering, to keep a send in flight. */
  delayMs = 0
  /** Messages whose transfer has begun, answered or not. */
  receiving = 0
  port = 0
  private server: SMTPServer | undefined

  async start (): Promise<this> {
    const server = new SMTPServer({
      authOptional: true,
      disabledCommands: ['STARTTLS'],
      logger: false,
      onData: (stream, _session, callback) => {
        this.receiving++
        simpleParser(stream).then(async (mail) => {
          if (this.delayMs > 0) await new Promise((resolve) => setTimeout(resolve, this.delayMs))
          if (this.reject > 0) {
            this.reject--
            this.rejected++
            callback(Object.assign(new Error('Try again later'), { responseCode: 451 }))
            return
          }
          this.messages.push(mail)
          callback()
        }, callback)
      }
    })
    // The first start picks a free port; later starts come back on the same one.
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen(this.port, '127.0.0.1', () => resolve())
    })
    const address = server.server.address()
    if (typeof address === 'object' && address) this.port = address.port
    this.server = server
    return this
  }

  async stop (): Promise<void> {
    const server = this.server
    this.server = undefined
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()))
  }

  get url (): string {
    return `smtp://127.0.0.1:${this.port}`
  }
}

/** Polls until predicate() is truthy and returns its value; fails after timeoutMs. */
export async function waitFor<T> (predicate: () => T | undefined | null | false, timeoutMs = 10_000, what = 'condition'): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const value = predicate()
    if (value) return value
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}
