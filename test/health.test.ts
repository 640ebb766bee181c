import t from 'tap'
import { build, sqliteOf, dbOf } from './helper.js'
import { enqueueMail } from '../src/store/outbox.js'

t.test('GET /health/live answers while the process runs', async (t) => {
  const app = await build(t)
  const res = await app.inject({ method: 'GET', url: '/health/live' })
  t.equal(res.statusCode, 200)
  t.same(res.json(), { status: 'ok' })
})

t.test('GET /health/ready is 200 while the database answers and 503 once it is gone', async (t) => {
  // A mail server that is never there keeps the queued e-mail in the backlog.
  const app = await build(t, { SMTP_URL: 'smtp://127.0.0.1:1' })
  const ok = await app.inject({ method: 'GET', url: '/health/ready' })
  t.equal(ok.statusCode, 200)
  t.same(ok.json(), { status: 'ok', database: 'ok', outbox_backlog: 0 })

  enqueueMail(dbOf(app), { to: 'someone@example.test', subject: 'waiting', text: 'body' })
  const backlog = await app.inject({ method: 'GET', url: '/health/ready' })
  t.same(backlog.json(), { status: 'ok', database: 'ok', outbox_backlog: 1 }, 'an unsent e-mail shows as backlog')

  sqliteOf(app).close()
  const down = await app.inject({ method: 'GET', url: '/health/ready' })
  t.equal(down.statusCode, 503)
  t.same(down.json(), { status: 'unavailable', database: 'unavailable', outbox_backlog: null })
})
