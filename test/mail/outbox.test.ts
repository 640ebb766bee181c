import { Writable } from 'node:stream'
import t from 'tap'
import type Database from 'better-sqlite3'
import { buildApp } from '../../src/app.js'
import { openDatabase } from '../../src/db/index.js'
import { enqueueMail } from '../../src/store/outbox.js'
import { backoffMs, describeError } from '../../plugins/mail.js'
import { build, tempDir, testConfig, dbOf, sqliteOf } from '../helper.js'
import { SmtpSink, waitFor } from '../smtp-sink.js'

interface Row { id: number, recipient: string, attempts: number, nextAttemptAt: number, sentAt: number | null, lastError: string | null }

const rows = (sqlite: Database.Database) => sqlite.prepare(
  'SELECT id, recipient, attempts, next_attempt_at AS nextAttemptAt, sent_at AS sentAt, last_error AS lastError FROM mail_outbox ORDER BY id'
).all() as Row[]

/** The first row once it is sent. */
const sentRow = (sqlite: Database.Database) => {
  const row = rows(sqlite)[0]
  return row?.sentAt ? row : undefined
}

const toText = (mail: { to?: { text: string } | Array<{ text: string }> }) => Array.isArray(mail.to) ? mail.to.map((to) => to.text).join(', ') : mail.to?.text
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

t.test('a queued e-mail arrives at the SMTP server with its from, to, subject and text, and is marked sent', async (t) => {
  const sink = await new SmtpSink().start()
  t.teardown(() => sink.stop())
  const app = await build(t, { SMTP_URL: sink.url, MAIL_FROM: 'Shop <orders@shop.example>' })
  const before = Date.now()
  enqueueMail(dbOf(app), { to: 'ann@example.test', subject: 'Hello', text: 'First line\nSecond line' })
  app.mailOutbox.wake()

  const mail = await waitFor(() => sink.messages[0], 10_000, 'the e-mail')
  t.equal(mail.from?.text, '"Shop" <orders@shop.example>')
  t.equal(toText(mail), 'ann@example.test')
  t.equal(mail.subject, 'Hello')
  t.equal(mail.text, 'First line\nSecond line\n')
  const row = await waitFor(() => sentRow(sqliteOf(app)), 5000, 'sent_at')
  t.match(row, { recipient: 'ann@example.test', attempts: 0, lastError: null })
  t.ok(row.sentAt! >= before && row.sentAt! <= Date.now(), 'sent_at is the time it went out')
  await sleep(700)
  t.equal(sink.messages.length, 1, 'sent once, not again at the next poll')
})

t.test('while the mail server is down the e-mail waits, then goes out once it is back on the same port', async (t) => {
  const sink = await new SmtpSink().start()
  await sink.stop()
  t.teardown(() => sink.stop())
  const app = await build(t, { SMTP_URL: sink.url })
  enqueueMail(dbOf(app), { to: 'bob@example.test', subject: 'Patience', text: 'It will come' })
  app.mailOutbox.wake()

  await waitFor(() => (rows(sqliteOf(app))[0]?.attempts ?? 0) >= 2, 15_000, 'two failed attempts')
  const [row] = rows(sqliteOf(app))
  t.equal(row?.sentAt, null, 'not sent while the server is down')
  t.match(row?.lastError, /ECONNREFUSED/, 'the reason is kept')
  t.ok(row!.nextAttemptAt > Date.now(), 'the next attempt is in the future: backing off, not spinning')
  t.equal(sink.messages.length, 0)

  await sink.start()
  const mail = await waitFor(() => sink.messages[0], 20_000, 'delivery after the server is back')
  t.equal(mail.subject, 'Patience')
  t.equal(mail.text, 'It will come\n')
  const sent = await waitFor(() => sentRow(sqliteOf(app)), 5000, 'sent_at')
  t.equal(sent.lastError, null, 'the error is cleared once sent')
  t.ok(sent.attempts >= 2)
  t.equal(sink.messages.length, 1)
})

t.test('a server that refuses the message for now (451) gets it again later', async (t) => {
  const sink = await new SmtpSink().start()
  sink.reject = 1
  t.teardown(() => sink.stop())
  const app = await build(t, { SMTP_URL: sink.url })
  enqueueMail(dbOf(app), { to: 'erin@example.test', subject: 'Second time lucky', text: 'Body' })
  app.mailOutbox.wake()

  const mail = await waitFor(() => sink.messages[0], 10_000, 'delivery after the refusal')
  t.equal(mail.subject, 'Second time lucky')
  t.equal(sink.rejected, 1)
  const row = await waitFor(() => sentRow(sqliteOf(app)), 5000, 'sent_at')
  t.equal(row.attempts, 1, 'one failed attempt before it went out')
  t.equal(sink.messages.length, 1)
})

t.test('a queued e-mail survives a restart of the service', async (t) => {
  const sink = await new SmtpSink().start()
  await sink.stop()
  t.teardown(() => sink.stop())
  const dataDir = tempDir(t)
  const first = await buildApp(testConfig(dataDir, { SMTP_URL: sink.url }))
  let closed = false
  t.teardown(async () => { if (!closed) await first.close() })
  await first.ready()
  enqueueMail(dbOf(first), { to: 'carol@example.test', subject: 'Across restarts', text: 'Still here' })
  first.mailOutbox.wake()
  await waitFor(() => (rows(sqliteOf(first))[0]?.attempts ?? 0) >= 1, 10_000, 'a failed attempt before the restart')
  await first.close()
  closed = true

  await sink.start()
  const second = await build(t, { SMTP_URL: sink.url }, dataDir)
  const mail = await waitFor(() => sink.messages[0], 10_000, 'delivery by the restarted service')
  t.equal(mail.subject, 'Across restarts')
  t.equal(toText(mail), 'carol@example.test')
  await waitFor(() => rows(sqliteOf(second))[0]?.sentAt, 5000, 'sent_at')
  t.equal(sink.messages.length, 1)
})

t.test('closing the service waits for the e-mail being sent and records it', async (t) => {
  const sink = await new SmtpSink().start()
  sink.delayMs = 500
  t.teardown(() => sink.stop())
  const dataDir = tempDir(t)
  const app = await buildApp(testConfig(dataDir, { SMTP_URL: sink.url }))
  await app.ready()
  enqueueMail(dbOf(app), { to: 'frank@example.test', subject: 'In flight', text: 'Body' })
  app.mailOutbox.wake()
  await waitFor(() => sink.receiving > 0, 10_000, 'the send to begin')
  t.equal(sink.messages.length, 0, 'still in flight when the close begins')
  await app.close()

  t.equal(sink.messages.length, 1, 'the send finished before close returned')
  const check = openDatabase(dataDir)
  t.teardown(() => check.close())
  t.match(rows(check.sqlite), [{ recipient: 'frank@example.test', attempts: 0, lastError: null }])
  t.not(rows(check.sqlite)[0]?.sentAt, null, 'marked sent, so a restart does not send it again')
})

t.test('two instances on one database send each e-mail once', async (t) => {
  const sink = await new SmtpSink().start()
  t.teardown(() => sink.stop())
  const dataDir = tempDir(t)
  const one = await build(t, { SMTP_URL: sink.url }, dataDir)
  const two = await build(t, { SMTP_URL: sink.url }, dataDir)
  const recipients = Array.from({ length: 30 }, (_, i) => `r${i}@example.test`)
  dbOf(one).transaction(() => {
    for (const to of recipients) enqueueMail(dbOf(one), { to, subject: `For ${to}`, text: 'Once' })
  })
  one.mailOutbox.wake()
  two.mailOutbox.wake()

  await waitFor(() => rows(sqliteOf(one)).every((row) => row.sentAt !== null), 20_000, 'every row sent')
  await sleep(700)
  t.same(sink.messages.map(toText).sort(), [...recipients].sort(), 'each recipient got exactly one e-mail')
})

t.test('without SMTP_URL the e-mail is written to the log, marked as holding secrets, and marked sent', async (t) => {
  let logged = ''
  const stream = new Writable({ write (chunk, _encoding, done) { logged += chunk; done() } })
  const app = await buildApp(testConfig(tempDir(t)), { logger: { level: 'info', stream } })
  t.teardown(() => app.close())
  await app.ready()
  enqueueMail(dbOf(app), { to: 'dave@example.test', subject: 'Logged', text: 'Look in the log' })
  app.mailOutbox.wake()
  await waitFor(() => rows(sqliteOf(app))[0]?.sentAt, 5000, 'sent_at')

  const lines = logged.trim().split('\n').map((line) => JSON.parse(line) as Record<string, unknown>)
  t.match(lines.find((line) => /SMTP_URL is not set/.test(String(line.msg))), { level: 40, component: 'mail' }, 'a warning at start')
  const mail = lines.find((line) => line.subject === 'Logged')
  t.match(mail, {
    level: 30,
    component: 'mail',
    to: 'dave@example.test',
    subject: 'Logged',
    text: 'Look in the log',
    containsSecrets: true,
    msg: 'e-mail not sent (no SMTP_URL): logged instead, body may hold a reset token'
  })
  t.match(rows(sqliteOf(app)), [{ attempts: 0, lastError: null }])
})

t.test('backoff doubles from the base, with a little jitter, and is capped at a minute', async (t) => {
  // Per number of failed attempts so far: the [lowest, highest] delay over many draws.
  const attempts = [0, 1, 3, 5, 6, 10, 30, 1000]
  const range = attempts.map((n) => {
    const draws = Array.from({ length: 200 }, () => backoffMs(n, 1000, 60_000))
    return [Math.min(...draws), Math.max(...draws)]
  })
  t.ok(range.every(([low, high], i) => {
    const nominal = Math.min(60_000, 1000 * 2 ** attempts[i]!)
    return low! >= nominal * 0.9 && high! <= nominal
  }), `within 10 % below 1 s, 2 s, 8 s, 32 s, then 60 s: ${JSON.stringify(range)}`)
  t.ok(range.every(([low, high]) => high! > low!), 'jittered, so instances do not retry in step')
  t.ok(range.every(([, high]) => high! <= 60_000), 'never more than a minute, however many attempts')
})

t.test('last_error keeps the reason but never the SMTP credentials', async (t) => {
  const url = 'smtp://mailer%40shop.example:s3cr%2Ft@mail.example:587'
  const err = Object.assign(new Error('Invalid login for mailer@shop.example with s3cr/t (or s3cr%2Ft)'), { code: 'EAUTH' })
  t.equal(describeError(err, url), 'EAUTH: Invalid login for [redacted] with [redacted] (or [redacted])')
  t.equal(describeError(new Error('connect ECONNREFUSED'), undefined), 'connect ECONNREFUSED')
  t.equal(describeError('not an error', url), 'not an error')
  t.equal(describeError(new Error('x'.repeat(2000)), url).length, 500)
})
