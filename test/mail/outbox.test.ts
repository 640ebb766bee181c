import { Writable } from 'node:stream'
import t from 'tap'
import { buildApp } from '../../src/app.js'
import { enqueueMail } from '../../src/mail/outbox.js'
import { backoffMs } from '../../plugins/mail.js'
import { build, tempDir, testConfig } from '../helper.js'
import { SmtpSink, waitFor } from '../smtp-sink.js'

const pending = (app: Awaited<ReturnType<typeof build>>) =>
  app.sqlite.prepare('SELECT id, attempts, sent_at AS sentAt, last_error AS lastError FROM mail_outbox').all() as Array<{ id: number, attempts: number, sentAt: number | null, lastError: string | null }>

t.test('a queued e-mail arrives at the SMTP server and is marked sent', async (t) => {
  const sink = await new SmtpSink().start()
  t.teardown(() => sink.stop())
  const app = await build(t, { SMTP_URL: sink.url, MAIL_FROM: 'Shop <orders@shop.example>' })
  enqueueMail(app.db, { to: 'ann@example.test', subject: 'Hello', text: 'First line\nSecond line' })
  app.mailOutbox.wake()

  const mail = await waitFor(() => sink.messages[0], 10_000, 'the e-mail')
  t.equal(mail.from?.text, '"Shop" <orders@shop.example>')
  t.equal(mail.to && !Array.isArray(mail.to) ? mail.to.text : '', 'ann@example.test')
  t.equal(mail.subject, 'Hello')
  t.equal(mail.text?.trim(), 'First line\nSecond line')
  await waitFor(() => pending(app)[0]?.sentAt, 5000, 'sent_at')
  t.equal(sink.messages.length, 1, 'sent once')
})

t.test('while the mail server is down the e-mail waits, then goes out when it is back', async (t) => {
  const sink = await new SmtpSink().start()
  await sink.stop()
  t.teardown(() => sink.stop())
  const app = await build(t, { SMTP_URL: sink.url })
  enqueueMail(app.db, { to: 'bob@example.test', subject: 'Patience', text: 'It will come' })
  app.mailOutbox.wake()

  await waitFor(() => (pending(app)[0]?.attempts ?? 0) >= 2, 15_000, 'two failed attempts')
  const row = pending(app)[0]
  t.equal(row?.sentAt, null, 'not sent while the server is down')
  t.ok(row?.lastError, 'the error is kept')
  t.equal(sink.messages.length, 0)

  await sink.start()
  const mail = await waitFor(() => sink.messages[0], 20_000, 'delivery after the server is back')
  t.equal(mail.subject, 'Patience')
  await waitFor(() => pending(app)[0]?.sentAt, 5000, 'sent_at')
})

t.test('a queued e-mail survives a restart of the service', async (t) => {
  const sink = await new SmtpSink().start()
  await sink.stop()
  t.teardown(() => sink.stop())
  const dataDir = tempDir(t)
  const first = await buildApp(testConfig(dataDir, { SMTP_URL: sink.url }))
  await first.ready()
  enqueueMail(first.db, { to: 'carol@example.test', subject: 'Across restarts', text: 'Still here' })
  await first.close()

  await sink.start()
  await build(t, { SMTP_URL: sink.url }, dataDir)
  const mail = await waitFor(() => sink.messages[0], 10_000, 'delivery by the restarted service')
  t.equal(mail.subject, 'Across restarts')
})

t.test('without SMTP_URL the e-mail is written to the log and marked sent', async (t) => {
  let logged = ''
  const stream = new Writable({ write (chunk, _encoding, done) { logged += chunk; done() } })
  const app = await buildApp(testConfig(tempDir(t)), { logger: { level: 'info', stream } })
  t.teardown(() => app.close())
  await app.ready()
  enqueueMail(app.db, { to: 'dave@example.test', subject: 'Logged', text: 'Look in the log' })
  app.mailOutbox.wake()
  await waitFor(() => pending(app)[0]?.sentAt, 5000, 'sent_at')
  t.match(logged, /"to":"dave@example.test"/)
  t.match(logged, /"subject":"Logged"/)
  t.match(logged, /Look in the log/)
})

t.test('backoff doubles from the base and is capped at a minute', async (t) => {
  const delays = [0, 1, 2, 3, 6, 10, 30].map((attempts) => backoffMs(attempts, 1000, 60_000))
  t.ok(delays[0]! >= 900 && delays[0]! <= 1000)
  t.ok(delays[1]! >= 1800 && delays[1]! <= 2000)
  t.ok(delays[3]! >= 7200 && delays[3]! <= 8000)
  t.ok(delays.slice(4).every((delay) => delay >= 54_000 && delay <= 60_000), 'never more than 60 s')
})
